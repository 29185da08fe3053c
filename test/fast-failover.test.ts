// The fast-failover profile (examples/corosync-fast-2-nodes.conf and
// -3-nodes.conf, with the properties of examples/pcs-promotable.sh) in the
// lab with fencing: crashes and network cuts of the active node, each
// measured by `hasocks drill` as a client sees it, and 3 minutes under
// stress without a false failover (docs/fast-failover.md; the 30-minute
// run is `npm run lab -- stress --minutes 30`).
import { type Crash, MARGIN, crashRun, cutRun, expectHealthy, labFor, switchoverRun } from './helpers/failover-scenarios.js';
import { serving } from './helpers/failover-lab.js';
import { brokenSessions, falseFailoverSigns, stressCluster } from './helpers/cluster-stress.js';
import { failoverSteps, formatSteps } from './helpers/pacemaker-log.js';

/** The targets for the fast profile: the median of the runs, and each one; 3 nodes, the median; a planned switchover, each. */
const TARGET = { medianMs: 1000, eachMs: 1500, threeNodeMedianMs: 1500, switchoverMs: 200 };
const RUNS = 10;

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const seconds = (values: readonly number[]): string => values.map((ms) => (ms / 1000).toFixed(2)).join(', ');

/**
 * `runs` crashes of the active node, printed; the survivor's steps for the
 * first (the material of docs/fast-failover.md's timeline). `onDc(run)`:
 * whether that run's active node is the DC (crashRun).
 */
async function crashes(cluster: Parameters<typeof crashRun>[0], label: string, runs: number, layout: Parameters<typeof crashRun>[3] = 'warm', onDc: (run: number) => boolean = () => true): Promise<Crash[]> {
  const done: Crash[] = [];
  for (let run = 0; run < runs; run++) {
    const crash = await crashRun(cluster, `${label} run ${run + 1}`, onDc(run), layout);
    console.log(`crash, ${label} run ${run + 1}: ${(crash.outageMs / 1000).toFixed(2)} s (${crash.note})\n${crash.report.text}`);
    if (run === 0) {
      const survivor = cluster.nodes.find((n) => n.name !== crash.crashed)!.name;
      console.log(`${label} run 1, ${survivor}'s steps in ms after the crash:\n${formatSteps(failoverSteps(cluster, survivor, crash.crashedAt - 1000, crash.crashedAt + 3000), crash.crashedAt)}`);
    }
    done.push(crash);
  }
  const outages = done.map((c) => c.outageMs);
  console.log(`${label}, ${runs} crashes: ${seconds(outages)} s; median ${(median(outages) / 1000).toFixed(2)} s; the controller re-asked in ${done.filter((c) => c.reasked).length}`);
  return done;
}

const outagesOf = (done: readonly Crash[]): number[] => done.map((c) => c.outageMs);

describe('2-node lab, warm standby, fast-failover profile, stonith on', () => {
  const lab = labFor(2, 'warm', 'fast');

  test(`crash of the active node, ${RUNS} runs: median and every run within the target`, async () => {
    const outages = outagesOf(await crashes(lab.cluster, 'fast, 2 nodes', RUNS));
    expect(median(outages)).toBeLessThan(TARGET.medianMs * MARGIN);
    expect(Math.max(...outages)).toBeLessThan(TARGET.eachMs * MARGIN);
  }, RUNS * 90000);

  test(`network cut of the active node, ${RUNS} runs: the other fences it and takes over, median and every run within the target`, async () => {
    const outages: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const report = await cutRun(lab.cluster, `fast ${run + 1}`, 6);
      console.log(`network cut, fast run ${run + 1}: ${(report.worstOutageMs / 1000).toFixed(2)} s\n${report.text}`);
      expect(report.outages.length).toBe(1);
      outages.push(report.worstOutageMs);
    }
    console.log(`fast, 2 nodes, ${RUNS} network cuts: ${seconds(outages)} s; median ${(median(outages) / 1000).toFixed(2)} s`);
    expect(median(outages)).toBeLessThan(TARGET.medianMs * MARGIN);
    expect(Math.max(...outages)).toBeLessThan(TARGET.eachMs * MARGIN);
  }, RUNS * 90000);
});

describe('2-node lab, warm standby, fast-failover profile, fencing off', () => {
  const lab = labFor(2, 'warm', 'fast', false);

  test('crash of the active node, 3 runs with it the DC and 3 with the DC surviving: within the target, and the controller never re-asks', async () => {
    // Without fencing nothing stands between detection and recovery but Pacemaker's own steps, the one-second re-ask among them.
    const done = await crashes(lab.cluster, 'fast, 2 nodes, fencing off', 6, 'warm', (run) => run % 2 === 0);
    const outages = outagesOf(done);
    expect(done.filter((c) => c.reasked).map((c) => c.note)).toEqual([]);
    expect(median(outages)).toBeLessThan(TARGET.medianMs * MARGIN);
    expect(Math.max(...outages)).toBeLessThan(TARGET.eachMs * MARGIN);
  }, 6 * 90000);
});

describe('2-node lab, warm standby, fast-failover profile, under stress', () => {
  const lab = labFor(2, 'warm', 'fast');

  test('3 minutes with every CPU saturated, 32 sessions at a time through the VIP, 0.1 % loss and 5 +- 5 ms of delay on the cluster links: no membership change, no fencing, no recovery', async () => {
    const report = await stressCluster(lab.cluster, 180, { cpu: true, sessions: 32, lossPerMille: 1, delay: { meanMs: 5, jitterMs: 5 } });
    console.log(`fast profile under stress for ${report.seconds} s: ${JSON.stringify(report)}`);
    // No new membership on any node, nothing fenced, nothing planned (the judgement `npm run lab -- stress` makes too).
    expect(Object.keys(report.corosync).sort()).toEqual(lab.cluster.nodes.map((n) => n.name).sort());
    expect(falseFailoverSigns(report)).toEqual([]);
    // The delay was given: every node's Corosync datagrams went through link-delay.c, none past it.
    for (const node of lab.cluster.nodes) expect(report.delay?.[node.name]).toMatchObject({ packets: expect.any(Number), overflow: 0, meanDelayMs: expect.any(Number) });
    for (const given of Object.values(report.delay ?? {})) expect(given.meanDelayMs).toBeGreaterThan(3);
    expect(report.sessions?.intact).toBeGreaterThan(0);
    expect(brokenSessions(report)).toBe(0);
    await expectHealthy(lab.cluster);
  }, 10 * 60000);
});

describe('3-node lab, warm standby, fast-failover profile, stonith on', () => {
  const lab = labFor(3, 'warm', 'fast');

  test('crash of the active node, 5 runs: the median within the target', async () => {
    const outages = outagesOf(await crashes(lab.cluster, 'fast, 3 nodes', 5));
    expect(median(outages)).toBeLessThan(TARGET.threeNodeMedianMs * MARGIN);
  }, 5 * 90000);
});

describe('2-node lab, the agent holds the VIPs (AGENT_VIP=yes), fast-failover profile, stonith on', () => {
  const lab = labFor(2, 'agent-vip', 'fast');

  test('planned switchover, 5 runs: each within the target, with no IPaddr2 stop and start in series', async () => {
    const outages: number[] = [];
    for (let run = 0; run < 5; run++) {
      await expectHealthy(lab.cluster);
      const { report, to } = await switchoverRun(lab.cluster, `agent-vip-move-${run + 1}`, 6);
      console.log(report.text);
      outages.push(report.worstOutageMs);
      expect(await serving(lab.cluster)).toBe(to);
    }
    console.log(`agent-held VIPs, 5 switchovers: ${seconds(outages)} s`);
    expect(Math.max(...outages)).toBeLessThan(TARGET.switchoverMs * MARGIN);
    await expectHealthy(lab.cluster);
  }, 5 * 60000);

  test(`crash of the active node, 5 runs: the median within the target`, async () => {
    const outages = outagesOf(await crashes(lab.cluster, 'agent-held VIPs, fast, 2 nodes', 5, 'agent-vip'));
    expect(median(outages)).toBeLessThan(TARGET.medianMs * MARGIN);
    expect(Math.max(...outages)).toBeLessThan(TARGET.eachMs * MARGIN);
  }, 5 * 90000);
});
