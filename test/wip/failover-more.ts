// WORK IN PROGRESS, NOT RUN by npm test (jest runs test/**/*.test.ts only).
// Issue 6 scenarios that do not pass yet; they use the helpers of
// test/failover.test.ts and go back there once they do. Status (stop 9):
// - crash of the active node, 5 runs: passes alone on a fresh lab (2.42-2.48 s
//   a run, six runs in a row once), but fails about half the time since the
//   fence device moved onto the lab network (tcp-to-unix.mjs in the switch
//   namespace): the survivor's fence agent runs (plug=<crashed node>), yet the
//   request never reaches the lab's fence server (power.log in the lab dir has
//   no line for it), so fencing waits out nc's 5 s and the drill ends first.
//   Next: capture `ss -tan` in the survivor and the switch namespace at that
//   moment, check the relay is alive, and try the fence agent by hand
//   (HASOCKS_KEEP_LAB=1 keeps logs). An earlier bug here is fixed: the agent
//   took Pacemaker's "nodename" (the node running it) as the target, and
//   fenced the survivor.
// - network cut: the cut node cannot reach the fence device, and the other
//   fences it (3.38 s measured once); failed on a cascade, re-check.
// - crash when the active node is not the DC: needs arrangeActive() to work
//   with the DC preference (pcs resource move now sticks, see agent scores).
// - 3 nodes: one run measured 6.74 s and no fencing was recorded; find out why.
// - cold start group: crashRun() read no serving node right after a restart.

// Helpers these need, taken out of test/failover.test.ts while unused there:
// const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
// const warmCrashes: number[] = [];
// const dcOf = async (cluster: Cluster): Promise<string | undefined> => /Current DC: (node\d)/.exec(await crmMon(cluster))?.[1];
/*
/** Put the active instance on the DC (or off it), so both DC cases are measured. * /
async function arrangeActive(cluster: Cluster, onDc: boolean): Promise<string> {
  const dc = (await dcOf(cluster))!;
  const active = (await serving(cluster))!;
  if ((active === dc) === onDc) return active;
  const target = onDc ? dc : cluster.nodes.find((n) => n.name !== dc)!.name;
  await moveActive(cluster, target);
  await waitFor(cluster, `the active instance on ${target}`, async () => (await serving(cluster)) === target && standbys(await crmMon(cluster)) === cluster.nodes.length - 1);
  return target;
}

/** Crash the active node during a drill; check fencing and health; power it back on. * /
async function crashRun(cluster: Cluster, label: string, onDc: boolean | undefined, layout: 'warm' | 'cold' = 'warm'): Promise<number> {
  await waitFor(cluster, 'one node serving', async () => (await serving(cluster)) !== undefined);
  const active = onDc === undefined ? (await serving(cluster))! : await arrangeActive(cluster, onDc);
  const dc = await dcOf(cluster);
  const report = await drillAround(cluster, `crash-${label}`, `${VIP}:1080`, 8, () => cluster.crash(active));
  const outage = record(`crash, ${label}`, report, active === dc ? 'the active node was the DC' : 'the DC survived');
  expect(report.outages.length).toBe(1);
  expect(cluster.fenced.at(-1)).toBe(active);
  await expectHealthy(cluster);
  await cluster.restart(active);
  if (layout === 'warm') await waitFor(cluster, `${active} back as a standby`, async () => standbys(await crmMon(cluster)) === cluster.nodes.length - 1);
  return outage;
}

  test('network cut of the active node: the other fences it and takes over', async () => {
    const active = (await serving(cluster))!;
    const report = await drillAround(cluster, 'cut', `${VIP}:1080`, 9, () => cluster.cut(active));
    record('network cut of the active node', report);
    // The cut node cannot reach the fence device, so it is the one fenced.
    await waitFor(cluster, `${active} fenced`, async () => cluster.fenced.at(-1) === active);
    expect(report.worstOutageMs).toBeLessThan(TARGET.crashEachMs * MARGIN);
    await expectHealthy(cluster);
    await cluster.restart(active);
    await waitFor(cluster, `${active} back as a standby`, async () => standbys(await crmMon(cluster)) === 1);
  }, 180000);

  test('crash of the active node when it is not the DC (moved there against the layout\'s preference)', async () => {
    const outage = await crashRun(cluster, 'warm, active node not the DC', false);
    expect(outage).toBeLessThan(TARGET.crashEachMs * MARGIN);
  }, 180000);
describe('3-node lab, warm standby, stonith on', () => {
  let lab: Awaited<ReturnType<typeof buildLab>>;
  beforeAll(async () => (lab = await buildLab(3, 'warm')), 240000);
  afterAll(async () => lab?.stop(), 60000);

  test('crash of the active node: one outage within the target, the VIPs on one node', async () => {
    expect(await crashRun(lab.cluster, '3 nodes', undefined)).toBeLessThan(TARGET.crashEachMs * MARGIN);
  }, 180000);
});

describe('2-node lab, cold start (examples/pcs-group.sh), stonith on', () => {
  let lab: Awaited<ReturnType<typeof buildLab>>;
  beforeAll(async () => (lab = await buildLab(2, 'cold')), 180000);
  afterAll(async () => lab?.stop(), 60000);

  test('warm standby beats the cold-start group on the same machine', async () => {
    const cold: number[] = [];
    for (let run = 0; run < 3; run++) cold.push(await crashRun(lab.cluster, `cold run ${run + 1}`, undefined, 'cold'));
    expect(warmCrashes.length).toBeGreaterThanOrEqual(5);
    expect(median(warmCrashes)).toBeLessThan(median(cold));
  }, 600000);
});
// On a lab of its own: after the scenarios above, the survivor of a crash
// has been seen to die while it fenced the other node (see test/wip/failover-more.ts).
describe('2-node lab, warm standby, crash of the active node', () => {
  let lab: Awaited<ReturnType<typeof buildLab>>;
  let cluster: Cluster;
  beforeAll(async () => {
    lab = await buildLab(2, 'warm');
    cluster = lab.cluster;
  }, 180000);
  afterAll(async () => lab?.stop(), 60000);

  test('crash of the active node, 5 runs: median and every run within the target', async () => {
    for (let run = 0; run < 5; run++) warmCrashes.push(await crashRun(cluster, `warm run ${run + 1}`, undefined));
    expect(median(warmCrashes)).toBeLessThan(TARGET.crashMedianMs * MARGIN);
    expect(Math.max(...warmCrashes)).toBeLessThan(TARGET.crashEachMs * MARGIN);
  }, 600000);
});
*/
