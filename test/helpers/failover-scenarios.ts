// What the failover suites (test/failover.test.ts, test/double-faults.test.ts)
// share: the lab per describe block, the health check after a scenario, a
// planned move, a crash and a cut, and how far a loaded machine may miss a
// target.
import { afterAll, beforeAll, expect } from '@jest/globals';
import type { Cluster } from './cluster.js';
import { type DrillReport, crmMon, dcOf, drillAround, socksClient, waitFor, waitForIdle } from './cluster-client.js';
import { controllerReasked, failoverSteps, formatSteps } from './pacemaker-log.js';
import { EXTERNAL_VIP, type Layout, type Timers, VIP, buildLab, hasStandbys, holders, serving, standbys } from './failover-lab.js';

/** How much slower than a target a loaded 2-core CI machine may be. */
export const MARGIN = 1.25;

/** The lab of the describe block this is called in: built before its tests, removed after them. */
export function labFor(size: number, layout: Exclude<Layout, 'bare'>, timers: Timers = 'lab', stonith = true): { cluster: Cluster } {
  const holder = {} as { cluster: Cluster; stop?: () => Promise<void> };
  beforeAll(async () => {
    const lab = await buildLab(size, layout, timers, stonith);
    holder.cluster = lab.cluster;
    holder.stop = lab.stop;
  }, 60000 + 60000 * size);
  afterAll(async () => holder.stop?.(), 60000);
  return holder;
}

/** After every scenario: one node serves and alone holds the VIPs, and CONNECT, UDP and BIND work and name the VIPs. */
export async function expectHealthy(cluster: Cluster): Promise<void> {
  await waitFor(cluster, 'one node serving', async () => (await serving(cluster)) !== undefined);
  // The two VIPs start in parallel: the service can be back while the external one is still arriving.
  await waitFor(cluster, 'both VIPs on the serving node alone', async () => {
    const node = await serving(cluster);
    return node !== undefined && (await holders(cluster, VIP)).join() === node && (await holders(cluster, EXTERNAL_VIP)).join() === node;
  }, 15000);
  const active = (await serving(cluster))!;
  expect(await holders(cluster, VIP)).toEqual([active]);
  expect(await holders(cluster, EXTERNAL_VIP)).toEqual([active]);
  const connect = await socksClient(cluster, ['connect', VIP, '1080', cluster.clientAddress, '7000']);
  expect(connect.code).toBe('00');
  expect(connect.answer).toMatch(new RegExp(`^you are ${EXTERNAL_VIP.replace(/\./g, '\\.')}:\\d+$`));
  const udp = await socksClient(cluster, ['udp', VIP, '1080', cluster.clientAddress, '7000']);
  expect(udp.relay).toMatchObject({ host: VIP });
  expect(udp.from).toEqual(udp.relay);
  expect(udp.answer).toMatch(new RegExp(`^you are ${EXTERNAL_VIP.replace(/\./g, '\\.')}:\\d+$`));
  const bind = await socksClient(cluster, ['bind', VIP, '1080']);
  expect(bind.code).toBe('00');
  expect(bind.bound).toMatchObject({ host: EXTERNAL_VIP });
}

/** pcs resource move, then clear the constraint it may leave, so later moves and failovers are free. */
export async function moveActive(cluster: Cluster, to: string): Promise<void> {
  await cluster.nodes[0]!.exec('pcs', ['resource', 'move', 'socks-clone', to, '--promoted']);
  await cluster.nodes[0]!.exec('pcs', ['resource', 'clear', 'socks-clone'], { reject: false });
}

/**
 * Move the active instance to the other node (pcs resource move) during a
 * drill of `seconds`, and print where the time went: the DC's steps
 * (docs/cluster.md, "Where a switchover's time goes"). The report, and the
 * node it moved to.
 */
export async function switchoverRun(cluster: Cluster, label: string, seconds: number): Promise<{ report: DrillReport; to: string }> {
  const from = (await serving(cluster))!;
  const to = cluster.nodes.find((n) => n.name !== from)!.name;
  let movedAt = 0;
  const report = await drillAround(cluster, label, `${VIP}:1080`, seconds, () => {
    movedAt = Date.now();
    return moveActive(cluster, to);
  });
  const dc = (await dcOf(cluster))!;
  console.log(`switchover ${from} -> ${to} (${label}): ${(report.worstOutageMs / 1000).toFixed(2)} s; ${dc}'s steps in ms after pcs resource move began:\n${formatSteps(failoverSteps(cluster, dc, movedAt, movedAt + 4000), movedAt)}`);
  return { report, to };
}

/** Put the active instance on the DC (or off it), so both DC cases are measured. */
export async function arrangeActive(cluster: Cluster, onDc: boolean): Promise<string> {
  const dc = (await dcOf(cluster))!;
  const active = (await serving(cluster))!;
  if ((active === dc) === onDc) return active;
  const target = onDc ? dc : cluster.nodes.find((n) => n.name !== dc)!.name;
  await moveActive(cluster, target);
  await waitFor(cluster, `the active instance on ${target}`, async () => (await serving(cluster)) === target && standbys(await crmMon(cluster)) === cluster.nodes.length - 1);
  // From a settled cluster: the cleared constraint's transition would otherwise run during the drill.
  await waitForIdle(cluster);
  return target;
}

/**
 * Run a scenario's checks on the survivors, then power `node` back on, even
 * when a check fails: the scenarios after a failed one then start from a
 * whole cluster and are judged on their own.
 */
async function restartAfter<T>(cluster: Cluster, node: string, checks: () => Promise<T>): Promise<T> {
  let result: T;
  try {
    result = await checks();
  } catch (err) {
    await cluster.restart(node).catch((restartErr: unknown) => console.log(`${node} did not come back after the failed check: ${String(restartErr)}`));
    throw err;
  }
  await cluster.restart(node);
  return result;
}

/** One crash: the outage a client saw, and whether the surviving DC's controller slept its one second first (controllerReasked). */
export interface Crash {
  /** The node crashed, and when. */
  readonly crashed: string;
  readonly crashedAt: number;
  readonly outageMs: number;
  readonly reasked: boolean;
  readonly report: DrillReport;
  /** Which node was the DC, and the re-ask if it came. */
  readonly note: string;
}

/** Crash the active node during a drill; check fencing (when the cluster fences) and health; power it back on. `onDc`: put the active instance on the DC first (or off it). */
export async function crashRun(cluster: Cluster, label: string, onDc: boolean | undefined, layout: Exclude<Layout, 'bare'> = 'warm'): Promise<Crash> {
  await waitFor(cluster, 'one node serving', async () => (await serving(cluster)) !== undefined);
  const active = onDc === undefined ? (await serving(cluster))! : await arrangeActive(cluster, onDc);
  const dc = await dcOf(cluster);
  let crashedAt = 0;
  const report = await drillAround(cluster, `crash-${label}`, `${VIP}:1080`, 8, () => {
    crashedAt = Date.now();
    return cluster.crash(active);
  });
  if (cluster.stonith && cluster.fenced.at(-1) !== active) {
    // Nobody fenced the crashed node in time: show what the survivors were doing (this found the bridge-MAC stall).
    for (const node of cluster.nodes.filter((n) => n.name !== active)) {
      const ps = await node.exec('ps', ['-eo', 'pid,ppid,etime,stat,args'], { reject: false });
      const ss = await node.exec('ss', ['-tanp'], { reject: false });
      console.log(`fencing did not happen; ${node.name}'s processes:\n${ps.stdout}\nand sockets:\n${ss.stdout}`);
    }
  }
  const { reasked, note } = await restartAfter(cluster, active, async () => {
    if (report.outages.length !== 1) console.log(`crash, ${label}: ${report.outages.length} outages, not one:\n${report.text}`);
    expect(report.outages.length).toBe(1);
    // Without fencing, the survivors write the lost node off at once and recover.
    if (cluster.stonith) expect(cluster.fenced.at(-1)).toBe(active);
    await expectHealthy(cluster);
    const asked = controllerReasked(cluster, (await dcOf(cluster))!, crashedAt);
    return { reasked: asked, note: `${active === dc ? 'the active node was the DC' : 'the DC survived'}${asked ? '; the controller re-asked (+1 s)' : ''}` };
  });
  if (hasStandbys(layout)) await waitFor(cluster, `${active} back as a standby`, async () => standbys(await crmMon(cluster)) === cluster.nodes.length - 1);
  return { crashed: active, crashedAt, outageMs: report.worstOutageMs, reasked, report, note };
}

/** Cut the active node's link during a drill of `seconds`; wait until the other fences it (the cut node cannot reach the fence device); check health; power it back on. */
export async function cutRun(cluster: Cluster, label: string, seconds: number): Promise<DrillReport> {
  const active = (await serving(cluster))!;
  const report = await drillAround(cluster, `cut-${label}`, `${VIP}:1080`, seconds, () => cluster.cut(active));
  await restartAfter(cluster, active, async () => {
    await waitFor(cluster, `${active} fenced`, async () => cluster.fenced.at(-1) === active);
    await expectHealthy(cluster);
  });
  await waitFor(cluster, `${active} back as a standby`, async () => standbys(await crmMon(cluster)) === cluster.nodes.length - 1);
  return report;
}
