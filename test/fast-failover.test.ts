// The fast-failover profile (examples/corosync-fast-2-nodes.conf and
// -3-nodes.conf, with the properties of examples/pcs-promotable.sh) in the
// lab with fencing: crashes and network cuts of the active node, each
// measured by `hasocks drill` as a client sees it (docs/fast-failover.md).
import { type Crash, MARGIN, crashRun, cutRun, expectHealthy, labFor } from './helpers/failover-scenarios.js';
import { stressCluster } from './helpers/cluster-stress.js';

/** The targets for the fast profile: the median of the runs, and each one; 3 nodes, the median. */
const TARGET = { medianMs: 1000, eachMs: 1500, threeNodeMedianMs: 1500 };
const RUNS = 10;

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const seconds = (values: readonly number[]): string => values.map((ms) => (ms / 1000).toFixed(2)).join(', ');

async function crashes(cluster: Parameters<typeof crashRun>[0], label: string, runs: number): Promise<number[]> {
  const done: Crash[] = [];
  for (let run = 0; run < runs; run++) {
    const crash = await crashRun(cluster, `${label} run ${run + 1}`, true);
    console.log(`crash, ${label} run ${run + 1}: ${(crash.outageMs / 1000).toFixed(2)} s (${crash.note})\n${crash.report.text}`);
    done.push(crash);
  }
  const outages = done.map((c) => c.outageMs);
  console.log(`${label}, ${runs} crashes: ${seconds(outages)} s; median ${(median(outages) / 1000).toFixed(2)} s; the controller re-asked in ${done.filter((c) => c.reasked).length}`);
  return outages;
}

describe('2-node lab, warm standby, fast-failover profile, stonith on', () => {
  const lab = labFor(2, 'warm', 'fast');

  test(`crash of the active node, ${RUNS} runs: median and every run within the target`, async () => {
    const outages = await crashes(lab.cluster, 'fast, 2 nodes', RUNS);
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

describe('2-node lab, warm standby, fast-failover profile, under stress', () => {
  const lab = labFor(2, 'warm', 'fast');

  test('3 minutes with every CPU saturated, 32 sessions at a time through the VIP and 0.1 % loss on the cluster links: no membership change, no fencing, no recovery', async () => {
    const report = await stressCluster(lab.cluster, 180, { cpu: true, sessions: 32, lossPerMille: 1 });
    console.log(`fast profile under stress for ${report.seconds} s: ${JSON.stringify(report)}`);
    for (const node of lab.cluster.nodes) expect(report.corosync[node.name]).toMatchObject({ memberships: 0 });
    expect(report.fenced).toEqual([]);
    expect(report.actions).toEqual([]);
    expect(report.sessions?.intact).toBeGreaterThan(0);
    expect(report.sessions).toMatchObject({ cut: 0, corrupted: 0, 'truncated-but-whole': 0, stalled: 0 });
    await expectHealthy(lab.cluster);
  }, 10 * 60000);
});

describe('3-node lab, warm standby, fast-failover profile, stonith on', () => {
  const lab = labFor(3, 'warm', 'fast');

  test('crash of the active node, 5 runs: the median within the target', async () => {
    const outages = await crashes(lab.cluster, 'fast, 3 nodes', 5);
    expect(median(outages)).toBeLessThan(TARGET.threeNodeMedianMs * MARGIN);
  }, 5 * 90000);
});
