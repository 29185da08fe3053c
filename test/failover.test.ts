// Failover on real Pacemaker/Corosync labs with fencing on, as production
// clusters run (test/helpers/cluster.ts): `hasocks drill` goes through the
// VIP from the client namespace while something fails, and its report gives
// the outage a client saw. Issue 6's targets, with margin for a noisy 2-core
// machine; the measured figures are printed for docs/cluster.md, Failover times.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster } from './helpers/cluster.js';
import { type DrillReport, crmMon, dcOf, drillAround, integrityTrafficIn, waitFor } from './helpers/cluster-client.js';
import { type ClientView, type Outcome, outcomeOf, proxyAgrees, proxySessions, tally } from './helpers/integrity-traffic.js';
import { OPEN_RULES } from './helpers/proxy.js';
import { EXTERNAL_VIP, VIP, serving, standbys } from './helpers/failover-lab.js';
import { type Crash, MARGIN, crashRun, cutRun, expectHealthy, labFor, moveActive, switchoverRun } from './helpers/failover-scenarios.js';

/** Targets from the issue (MARGIN: how much slower a loaded 2-core CI machine may be). */
const TARGET = { crashMedianMs: 2400, crashEachMs: 3400, sigkillMs: 2500, switchoverMs: 1000 };

const figures: string[] = [];
function record(scenario: string, report: DrillReport, note = ''): number {
  figures.push(`${scenario.padEnd(44)} ${(report.worstOutageMs / 1000).toFixed(2)} s ${note}`);
  console.log(`${scenario}${note ? ` (${note})` : ''}:\n${report.text}`);
  return report.worstOutageMs;
}

afterAll(() => console.log(`failover figures (worst outage per run):\n${figures.join('\n')}`));

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/**
 * A crash's outage, and whether the surviving DC's controller slept its one
 * second before scheduling the recovery (see controllerReasked). Without a
 * transition delay that was about half the crashes here, whichever node was
 * the DC; the examples set transition-delay=20ms, which has kept it away, so
 * the warm median is checked as measured. Warm against cold still compares
 * the medians without that second, so a stray re-ask on either side cannot
 * decide the comparison.
 */
const withoutReask = (crash: Crash): number => crash.outageMs - (crash.reasked ? 1000 : 0);
const warmCrashes: Crash[] = [];

describe('2-node lab, warm standby (examples/pcs-promotable.sh), stonith on', () => {
  const lab = labFor(2, 'warm');
  // Every scenario starts from a cluster that serves, with a standby on the other node.
  beforeEach(async () => {
    await waitFor(lab.cluster, 'a serving cluster with its standby', async () => (await serving(lab.cluster)) !== undefined && standbys(await crmMon(lab.cluster)) === 1);
  }, 90000);

  test('the layout serves through the VIP, and BIND and UDP name the VIPs', async () => {
    await expectHealthy(lab.cluster);
  }, 60000);

  test('config reload through the agent (pcs resource update config=...): no failed probe', async () => {
    const next = join(lab.cluster.dir, 'hasocks-v2.json');
    writeFileSync(next, JSON.stringify({ internal: [`${VIP}:1080`], external: [EXTERNAL_VIP], freebind: true, rules: OPEN_RULES, logoutput: [join(lab.cluster.dir, 'proxy.log')], debug: 1 }));
    const report = await drillAround(lab.cluster, 'reload', `${VIP}:1080`, 5, async () => void (await lab.cluster.nodes[0]!.exec('pcs', ['resource', 'update', 'socks', `config=${next}`])));
    record('reload through the agent', report);
    expect(report.outages).toEqual([]);
    // Both nodes' instances write to the lab's proxy.log: both took the new file.
    await waitFor(lab.cluster, 'the reload applied everywhere', async () => readFileSync(join(lab.cluster.dir, 'proxy.log'), 'utf8').split(`reloaded config ${next}`).length - 1 >= 2);
    expect(await crmMon(lab.cluster)).not.toMatch(/Failed Resource Actions/);
    await expectHealthy(lab.cluster);
  }, 120000);

  test('planned switchover with pcs resource move', async () => {
    const { report, to } = await switchoverRun(lab.cluster, 'move', 7);
    expect(record('switchover, pcs resource move', report)).toBeLessThan(TARGET.switchoverMs * MARGIN);
    expect(await serving(lab.cluster)).toBe(to);
    await expectHealthy(lab.cluster);
  }, 120000);

  test('planned switchover under 64 checksummed sessions: those open at the switch are cut cleanly and counted, new ones intact', async () => {
    const from = (await serving(lab.cluster))!;
    const to = lab.cluster.nodes.find((n) => n.name !== from)!.name;
    // Both nodes' instances write this file; only what this scenario adds to it is read.
    const logFile = join(lab.cluster.dir, 'proxy.log');
    const logFrom = statSync(logFile).size;
    const proxyLog = (): string => readFileSync(logFile).subarray(logFrom).toString();
    // A session whose node has given up its VIP hears nothing more: its client notices by this silence.
    const stallMs = 3000;
    const afterSwitch = 256;
    // Up to 8 MiB each way, so that some sessions are still moving data when the VIP leaves.
    const traffic = await integrityTrafficIn(lab.cluster, { host: VIP, port: 1080 }, 7100, 8 << 20, stallMs);
    const all = (): ClientView[] => [...traffic.sessions.values()];
    let at = 0;
    let settled = 0;
    try {
      traffic.setLanes(64);
      await traffic.until('warm-up', () => all().filter((s) => s.endedAt > 0).length >= afterSwitch);
      const open = all().filter((s) => s.endedAt === 0).map((s) => s.id);
      at = Date.now();
      await moveActive(lab.cluster, to);
      await waitFor(lab.cluster, `${to} serving`, async () => (await serving(lab.cluster)) === to);
      settled = Date.now();
      await traffic.until(`the end of the sessions open at the switch, and ${afterSwitch} started after it`, () =>
        open.every((id) => traffic.sessions.get(id)!.endedAt > 0) && all().filter((s) => s.startedAt > settled && s.endedAt > 0).length >= afterSwitch,
      60000);
    } catch (err) {
      await traffic.stop().catch(() => undefined);
      throw err;
    }
    const targets = await traffic.stop();
    const sessions = all();
    const outcomes = new Map<ClientView, Outcome>(sessions.map((s) => [s, outcomeOf(s, targets.get(s.id))]));
    const touched = sessions.filter((s) => outcomes.get(s) !== 'intact');
    // The demoted node closes the sessions it still holds when its drain time is over: wait for each one's last line.
    await waitFor(lab.cluster, 'the proxy\'s last line for every cut session it had admitted', async () => {
      const log = proxySessions(proxyLog());
      return touched.every((s) => log.get(s.source)?.end !== undefined || !log.has(s.source));
    }, 30000);
    const log = proxySessions(proxyLog());
    const counts = tally([...outcomes.values()]);
    const admitted = touched.filter((s) => log.has(s.source));
    const verdicts = new Map(sessions.filter((s) => log.has(s.source)).map((s) => [s, proxyAgrees(s, outcomes.get(s)!, log.get(s.source))]));
    const lostBeyond = admitted.filter((s) => verdicts.get(s) === 'lost beyond the proxy');
    console.log(
      [
        `integrity across a planned switchover (${from} to ${to}): ${sessions.length} sessions, 64 at a time, ${Math.round(sessions.reduce((sum, s) => sum + s.upSent + s.downReceived, 0) / 2 ** 20)} MiB checked`,
        `  outcomes: ${JSON.stringify(counts)}`,
        `  not intact: ${touched.length}, all open during the switch; ${admitted.length} admitted by a proxy (its log: ${[...new Set(admitted.map((s) => log.get(s.source)!.end!.replace(/\d+ bytes/, 'N bytes')))].join('; ')}), ${touched.length - admitted.length} turned away before admission`,
        `  the clients saw the end early in ${touched.length - counts.stalled}, silence until their ${stallMs / 1000} s stall timeout in ${counts.stalled}`,
        `  logged "closed" by the old node, its tail lost with the VIP: ${lostBeyond.length} (must be 0); logged unacknowledged: ${admitted.filter((s) => /not acknowledged/.test(log.get(s.source)!.end!)).length}`,
      ].join('\n'),
    );

    expect(counts.corrupted).toBe(0);
    expect(counts['truncated-but-whole']).toBe(0);
    expect(counts['socks-failure']).toBe(0);
    // Cut (or refused, or fallen silent) only while the switch ran: open when it began, or started before the new node served.
    for (const session of touched) {
      expect(session.endedAt).toBeGreaterThanOrEqual(at);
      expect(session.startedAt).toBeLessThanOrEqual(settled);
    }
    const after = sessions.filter((s) => s.startedAt > settled);
    expect(after.length).toBeGreaterThanOrEqual(afterSwitch);
    expect(after.filter((s) => outcomes.get(s) !== 'intact')).toEqual([]);
    // The proxies' log tells each session's story as its ends saw it: every cut one it admitted ended other than "closed",
    // those whose tail the VIP took with it included (the relay waits for the acknowledgements before it says "closed").
    const disagreements = [...verdicts]
      .filter(([, verdict]) => verdict !== 'agrees')
      .map(([s, verdict]) => ({ ...s, outcome: outcomes.get(s), verdict, proxy: log.get(s.source) }));
    expect(disagreements).toEqual([]);
    expect(await serving(lab.cluster)).toBe(to);
    await expectHealthy(lab.cluster);
  }, 120000);

  test('planned switchover with pcs node standby', async () => {
    const from = (await serving(lab.cluster))!;
    try {
      const report = await drillAround(lab.cluster, 'standby', `${VIP}:1080`, 7, async () => void (await lab.cluster.nodes[0]!.exec('pcs', ['node', 'standby', from])));
      expect(record('switchover, pcs node standby', report)).toBeLessThan(TARGET.switchoverMs * MARGIN);
      await expectHealthy(lab.cluster);
      expect(await serving(lab.cluster)).not.toBe(from);
    } finally {
      // Even when the checks above fail, the next scenarios need both nodes back.
      await lab.cluster.nodes[0]!.exec('pcs', ['node', 'unstandby', from]);
      await waitFor(lab.cluster, `${from} back as a standby`, async () => standbys(await crmMon(lab.cluster)) === 1);
    }
  }, 120000);

  test('SIGKILL of the proxy on the active node, 1 s promoted monitor', async () => {
    const active = (await serving(lab.cluster))!;
    const node = lab.cluster.nodes.find((n) => n.name === active)!;
    const pid = (await node.exec('sh', ['-c', 'cat /run/resource-agents/hasocks-socks*/hasocks.pid'])).stdout.trim();
    const report = await drillAround(lab.cluster, 'sigkill', `${VIP}:1080`, 6, async () => void (await node.exec('kill', ['-9', pid])));
    expect(record('proxy SIGKILL, 1 s promoted monitor', report)).toBeLessThan(TARGET.sigkillMs * MARGIN);
    await expectHealthy(lab.cluster);
    await lab.cluster.nodes[0]!.exec('crm_resource', ['--cleanup', '-r', 'socks-clone'], { reject: false });
  }, 120000);
});

/** crashRun, with its outage recorded among the figures. */
async function crashRecorded(cluster: Cluster, label: string, onDc: boolean | undefined, layout: 'warm' | 'cold' = 'warm'): Promise<Crash> {
  const crash = await crashRun(cluster, label, onDc, layout);
  record(`crash, ${label}`, crash.report, crash.note);
  return crash;
}

describe('2-node lab, warm standby: crash and network cut', () => {
  const lab = labFor(2, 'warm');

  test('crash of the active node, 5 runs: median and every run within the target', async () => {
    // The layout's steady state: after any node failover the survivor is both DC and Promoted.
    // (At first start either node may be promoted; the next test measures the other case.)
    for (let run = 0; run < 5; run++) warmCrashes.push(await crashRecorded(lab.cluster, `warm run ${run + 1}`, true));
    figures.push(`crash, warm: median ${median(warmCrashes.map((c) => c.outageMs))} ms, without the re-ask second ${median(warmCrashes.map(withoutReask))} ms`);
    // The layout's transition delay keeps the controller's re-ask second away, so the median is taken as measured.
    expect(median(warmCrashes.map((c) => c.outageMs))).toBeLessThan(TARGET.crashMedianMs * MARGIN);
    expect(Math.max(...warmCrashes.map((c) => c.outageMs))).toBeLessThan(TARGET.crashEachMs * MARGIN);
  }, 600000);

  test('crash of the active node when it is not the DC (the layout\'s preference at first start)', async () => {
    expect((await crashRecorded(lab.cluster, 'warm, active node not the DC', false)).outageMs).toBeLessThan(TARGET.crashEachMs * MARGIN);
  }, 180000);

  test('network cut of the active node: the other fences it and takes over', async () => {
    const report = await cutRun(lab.cluster, 'lab', 9);
    record('network cut of the active node', report);
    expect(report.worstOutageMs).toBeLessThan(TARGET.crashEachMs * MARGIN);
  }, 180000);
});

describe('3-node lab, warm standby', () => {
  const lab = labFor(3, 'warm');

  // With a third node Corosync's token is token + token_coefficient (650 ms
  // by default) and consensus 1.2 times that: detection takes 3.6 s instead
  // of 2.2. The issue's targets are for 2 nodes; here the bound is the
  // 2-node one plus those 1430 ms. The active node is the DC, as the layout
  // prefers after any failover.
  test('crash of the active node: one outage within the target, the VIPs on one node', async () => {
    expect((await crashRecorded(lab.cluster, '3 nodes', true)).outageMs).toBeLessThan((TARGET.crashEachMs + 1430) * MARGIN);
    // Of the two survivors, the layout promotes the one that is not the DC, so the next crash of the active node skips an election.
    expect(await serving(lab.cluster)).not.toBe(await dcOf(lab.cluster));
  }, 240000);
});

describe('2-node lab, cold start (examples/pcs-group.sh)', () => {
  const lab = labFor(2, 'cold');

  test('warm standby beats the cold-start group on the same machine', async () => {
    const cold: Crash[] = [];
    for (let run = 0; run < 3; run++) cold.push(await crashRecorded(lab.cluster, `cold run ${run + 1}`, undefined, 'cold'));
    // The warm figures come from the 2-node crash test above, in this same run.
    // Both layouts meet the controller's coin-flip second alike, so it is left out of both.
    expect(warmCrashes.length).toBeGreaterThanOrEqual(5);
    expect(median(warmCrashes.map(withoutReask))).toBeLessThan(median(cold.map(withoutReask)));
  }, 600000);
});
