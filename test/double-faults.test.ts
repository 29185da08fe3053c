// Double faults on the 2-node failover lab (test/helpers/failover-lab.ts):
// the cluster stack itself fails on the active node, the standby fails while
// it takes over, the network splits and heals. For each, `hasocks drill`
// gives the outage a client saw, and a checker samples every 50 ms
// throughout that at most one node holds each VIP and at most one instance
// is promoted (test/helpers/cluster-invariant.ts). Each scenario's target is
// argued from the lab's timers in docs/cluster.md, Double faults; the
// measured figures are printed for its table. Runs alone, after the failover
// suite, for the same reason (test/run.sh).
import type { Cluster, ClusterNode } from './helpers/cluster.js';
import { type DrillReport, crmMon, drillAround, waitFor } from './helpers/cluster-client.js';
import { watchInvariant } from './helpers/cluster-invariant.js';
import { EXTERNAL_VIP, VIP, holders, serving, standbys } from './helpers/failover-lab.js';
import { MARGIN, arrangeActive, expectHealthy, labFor } from './helpers/failover-scenarios.js';
import { onLogLine } from './helpers/pacemaker-log.js';
import { hostPid } from './helpers/processes.js';

/** Outage targets in ms (a controller's death: none); docs/cluster.md, Double faults, derives each from the timers. */
const TARGET = { corosyncKilledMs: 1000, promoteKilledMs: 2000, cutMs: 3400 };

const figures: string[] = [];
afterAll(() => console.log(`double-fault figures (worst outage, invariant samples):\n${figures.join('\n')}`));

/**
 * A drill around `event`, with the invariant checked throughout for both
 * VIPs; fails on any violation. The checker must also have seen the real
 * state at both ends (one holder of each VIP, one promoted instance), so a
 * checker that reads nothing cannot pass.
 */
async function drillChecked(cluster: Cluster, scenario: string, seconds: number, event: () => Promise<void>): Promise<DrillReport> {
  const invariant = watchInvariant(cluster, [VIP, EXTERNAL_VIP]);
  let report: DrillReport;
  try {
    report = await drillAround(cluster, scenario.replace(/\W+/g, '-'), `${VIP}:1080`, seconds, event);
  } catch (err) {
    await invariant.stop();
    throw err;
  }
  const checked = await invariant.stop();
  figures.push(`${scenario.padEnd(52)} ${(report.worstOutageMs / 1000).toFixed(2)} s (first failure to last recovery ${(disturbanceMs(report) / 1000).toFixed(2)} s), ${checked.samples} samples, ${checked.violations.length} violations`);
  console.log(`${scenario}:\n${report.text}\ninvariant: ${checked.samples} samples (longest gap ${checked.longestGapMs} ms), violations: ${JSON.stringify(checked.violations)}`);
  expect(checked.violations).toEqual([]);
  expect(checked.unanswered).toBe(0);
  for (const end of [checked.first, checked.last]) {
    for (const vip of [VIP, EXTERNAL_VIP]) expect(end.holders[vip]).toHaveLength(1);
    expect(end.promoted).toHaveLength(1);
  }
  // Every 50 ms: a drill of `seconds` gets at least most of its samples, and no long blind spot.
  expect(checked.samples).toBeGreaterThan((seconds * 1000) / 50 / 2);
  expect(checked.longestGapMs).toBeLessThan(500);
  return report;
}

/**
 * From the first failed probe to the last recovery: one fault's whole
 * disturbance, even when the drill splits it (a switchover resets a client at
 * its demote, a moment before the VIP leaves).
 */
function disturbanceMs(report: DrillReport): number {
  return report.outages.length === 0 ? 0 : report.outages.at(-1)!.end - report.outages[0]!.start;
}

/** SIGKILL one of Pacemaker's or Corosync's daemons on a node, by the pid the node itself gives for the name. */
async function killDaemon(node: ClusterNode, daemon: string): Promise<void> {
  const pids = (await node.exec('pidof', [daemon])).stdout.trim().split(/\s+/);
  expect(pids).toHaveLength(1);
  await node.exec('kill', ['-9', pids[0]!]);
}

const nodeNamed = (cluster: Cluster, name: string): ClusterNode => cluster.nodes.find((n) => n.name === name)!;

/** The layout's steady state: one node serves with both VIPs, the other is its standby. */
async function steady(cluster: Cluster): Promise<boolean> {
  const active = await serving(cluster);
  return active !== undefined && standbys(await crmMon(cluster)) === 1 && (await holders(cluster, VIP)).join() === active && (await holders(cluster, EXTERNAL_VIP)).join() === active;
}

describe('2-node lab, warm standby: double faults', () => {
  const lab = labFor(2, 'warm');
  beforeEach(async () => {
    await waitFor(lab.cluster, 'the steady state: one node serving with both VIPs, and its standby', () => steady(lab.cluster), 90000);
  }, 120000);

  // Pacemaker respawns the controller; the node stays in the membership and
  // nothing of the service's is touched, so a client should see nothing.
  for (const onDc of [false, true]) {
    test(`pacemaker-controld killed on the active node (${onDc ? 'it is the DC' : 'the DC is the other node'}): no outage, no move`, async () => {
      const active = await arrangeActive(lab.cluster, onDc);
      await waitFor(lab.cluster, 'the steady state', () => steady(lab.cluster), 60000);
      const report = await drillChecked(lab.cluster, `pacemaker-controld killed on the active node${onDc ? ', the DC' : ''}`, 10, () => killDaemon(nodeNamed(lab.cluster, active), 'pacemaker-controld'));
      expect(report.outages).toEqual([]);
      await expectHealthy(lab.cluster);
      expect(await serving(lab.cluster)).toBe(active);
      expect(lab.cluster.fenced).toEqual([]);
    }, 180000);
  }

  test('the standby\'s hasocks killed while it is being promoted (planned switchover): the old node serves again', async () => {
    const from = (await serving(lab.cluster))!;
    const to = lab.cluster.nodes.find((n) => n.name !== from)!;
    const pidInNode = Number((await to.exec('sh', ['-c', 'cat /run/resource-agents/hasocks-socks*/hasocks.pid'])).stdout.trim());
    const pid = hostPid(to.initPid, pidInNode);
    expect(pid).toBeDefined();
    // The moment the target's controller hands the promote to its executor.
    let killedOn: string | undefined;
    const trigger = onLogLine(lab.cluster, to.name, /Requesting local execution of promote operation for socks/, (line) => {
      process.kill(pid!, 'SIGKILL');
      killedOn = line;
    });
    try {
      // pcs resource move waits for the move and fails when it cannot happen, as here.
      const report = await drillChecked(lab.cluster, 'the standby\'s hasocks killed during its promote', 10, async () => {
        await lab.cluster.nodes[0]!.exec('pcs', ['resource', 'move', 'socks-clone', to.name, '--promoted'], { reject: false });
        await lab.cluster.nodes[0]!.exec('pcs', ['resource', 'clear', 'socks-clone'], { reject: false });
      });
      expect(killedOn).toBeDefined();
      expect(disturbanceMs(report)).toBeLessThan(TARGET.promoteKilledMs * MARGIN);
      await expectHealthy(lab.cluster);
      expect(await serving(lab.cluster)).toBe(from);
    } finally {
      trigger.stop();
      // migration-threshold=1 keeps the failed node out until its failure is cleaned up; the next scenarios need it.
      await lab.cluster.nodes[0]!.exec('crm_resource', ['--cleanup', '-r', 'socks-clone'], { reject: false });
    }
  }, 180000);

  test('corosync killed on the active node: it serves until the other fences it and takes over', async () => {
    const active = (await serving(lab.cluster))!;
    const report = await drillChecked(lab.cluster, 'corosync killed on the active node', 10, () => killDaemon(nodeNamed(lab.cluster, active), 'corosync'));
    try {
      await waitFor(lab.cluster, `${active} fenced`, async () => lab.cluster.fenced.at(-1) === active);
      expect(disturbanceMs(report)).toBeLessThan(TARGET.corosyncKilledMs * MARGIN);
      await expectHealthy(lab.cluster);
    } finally {
      await lab.cluster.restart(active);
    }
  }, 180000);

  test('network cut of the active node, fenced, then the cut heals and the node rejoins as the standby', async () => {
    const active = (await serving(lab.cluster))!;
    let healingAt = 0;
    let healedAt = 0;
    const report = await drillChecked(lab.cluster, 'network cut, fencing, healing', 30, async () => {
      await lab.cluster.cut(active);
      await waitFor(lab.cluster, `${active} fenced`, async () => lab.cluster.fenced.at(-1) === active);
      await waitFor(lab.cluster, 'the other node serving', async () => ![undefined, active].includes(await serving(lab.cluster)));
      // The fenced node is powered on with its link back: the cut has healed.
      healingAt = Date.now();
      await lab.cluster.restart(active);
      await waitFor(lab.cluster, `${active} back as the standby`, () => steady(lab.cluster));
      healedAt = Date.now();
    });
    // The drill still ran when the node was back, so its return is covered; it took nothing from the service.
    expect(healedAt).toBeGreaterThan(0);
    expect(healedAt).toBeLessThan(report.startedAt + report.durationMs);
    expect(report.outages.filter((o) => report.startedAt + o.start > healingAt)).toEqual([]);
    expect(disturbanceMs(report)).toBeLessThan(TARGET.cutMs * MARGIN);
    await expectHealthy(lab.cluster);
  }, 180000);
});
