// WORK IN PROGRESS, NOT RUN by npm test (jest only runs test/**/*.test.ts).
// Issue 6: the lab, fencing and the drill work (measured crash outages
// 2.9-3.9 s so far), but the checks after the drill do not finish yet; see
// the note. Rename to test/failover.test.ts when it passes.
//
// Failover on a real 2-node Pacemaker/Corosync lab with fencing enabled, as
// production clusters run: the drill goes through the VIP while the active
// node crashes, and the outage it measures is checked against the target.
import { execa, type ResultPromise } from 'execa';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Cluster, createCluster } from '../helpers/cluster.js';
import { CLI, OPEN_RULES, REPO } from '../helpers/proxy.js';

const VIP = '10.205.0.100';
/** The target for a crash is 2.4 s (median); tests allow for a noisy 2-core machine. */
const CRASH_TARGET_MS = 2400;
const MARGIN = 1.5;

let cluster: Cluster;
let whoami: ResultPromise;
let echo: ResultPromise;

beforeAll(async () => {
  cluster = await createCluster(2, { subnet: '10.205.0', stonith: true });
  const configPath = join(cluster.dir, 'hasocks.json');
  writeFileSync(configPath, JSON.stringify({ internal: [`${VIP}:1080`], freebind: true, rules: OPEN_RULES, logoutput: [join(cluster.dir, 'proxy.log')] }));
  const node1 = cluster.nodes[0]!;
  await node1.exec('pcs', ['stonith', 'create', 'lab-fence', 'fence_hasocks_lab', `socket=${cluster.fenceSocket}`, 'pcmk_host_list=node1 node2', 'pcmk_host_check=static-list']);
  await node1.exec('sh', [join(REPO, 'examples', 'pcs-promotable.sh')], { env: { ...process.env, CONFIG: configPath, VIP, NIC: cluster.nic } as Record<string, string> });
  whoami = execa('ip', ['netns', 'exec', cluster.client.name, process.execPath, join(REPO, 'test', 'helpers', 'whoami-servers.mjs'), cluster.clientAddress, '7000'], { reject: false });
  await new Promise((resolve) => whoami.stdout!.once('data', resolve));
  echo = execa('ip', ['netns', 'exec', cluster.client.name, process.execPath, join(REPO, 'test', 'helpers', 'whoami-servers.mjs'), cluster.clientAddress, '7007', 'echo'], { reject: false });
  await new Promise((resolve) => echo.stdout!.once('data', resolve));
  await waitFor('the clone promoted and the VIP started', async () => (await promotedNode()) !== undefined);
}, 180000);

afterAll(async () => {
  for (const child of [whoami, echo]) {
    child?.kill();
    await child?.catch(() => undefined);
  }
  await cluster?.remove();
}, 60000);

async function crmMon(): Promise<string> {
  // Ask any node still up; crm_mon exits non-zero while a fenced node is listed, so judge by its output.
  for (const node of cluster.nodes) {
    const mon = await node.exec('crm_mon', ['-1', '-r'], { reject: false, timeout: 5000 }).catch(() => undefined);
    if (mon && mon.stdout.includes('Cluster Summary')) return mon.stdout;
  }
  return '';
}

/** The node that is Promoted and holds the VIP, if one is. */
async function promotedNode(): Promise<string | undefined> {
  const mon = await crmMon();
  const promoted = /Promoted: \[ (node\d) \]/.exec(mon)?.[1];
  const vip = /vip\s+\(ocf:heartbeat:IPaddr2\):\s+Started (node\d)/.exec(mon)?.[1];
  return promoted && promoted === vip ? promoted : undefined;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${await crmMon()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function socksClient(args: string[]): Promise<Record<string, unknown>> {
  const result = await execa('ip', ['netns', 'exec', cluster.client.name, process.execPath, join(REPO, 'test', 'helpers', 'socks-client.mjs'), ...args]);
  return JSON.parse(String(result.stdout)) as Record<string, unknown>;
}

/** Which lab nodes have the VIP on an interface right now. */
async function vipHolders(): Promise<string[]> {
  const holders: string[] = [];
  for (const node of cluster.nodes) {
    const addr = await execa('ip', ['-n', node.netns, '-br', 'addr'], { reject: false });
    if (String(addr.stdout).includes(`${VIP}/`)) holders.push(node.name);
  }
  return holders;
}

test('crash of the active node: one outage within the target, then exactly one node serves the VIP', async () => {
  const active = (await promotedNode())!;
  const report = join(cluster.dir, 'crash.json');
  const drill = execa('ip', [
    'netns', 'exec', cluster.client.name, process.execPath, CLI, 'drill',
    '--proxy', `${VIP}:1080`, '--target', `${cluster.clientAddress}:7007`, '--udp-target', `${cluster.clientAddress}:7007`,
    '--rate', '20', '--timeout', '500', '--duration', '14', '--report', report,
  ]);
  await new Promise((r) => setTimeout(r, 3000));
  await cluster.crash(active);
  const result = await drill;
  console.log(`crash of ${active}:\n${String(result.stdout)}`);
  const json = JSON.parse(readFileSync(report, 'utf8')) as { worstOutageMs: number; outages: unknown[] };
  expect(json.outages.length).toBeGreaterThanOrEqual(1);
  expect(json.worstOutageMs).toBeLessThan(CRASH_TARGET_MS * MARGIN);

  // Fencing ran, and the survivor holds the VIP alone.
  expect(cluster.fenced).toContain(active);
  await waitFor('the survivor promoted', async () => (await promotedNode()) !== undefined && (await promotedNode()) !== active);
  expect(await vipHolders()).toEqual([(await promotedNode())!]);
  const connect = await socksClient(['connect', VIP, '1080', cluster.clientAddress, '7000']);
  expect(connect.code).toBe('00');
  const udp = await socksClient(['udp', VIP, '1080', cluster.clientAddress, '7000']);
  expect(udp.relay).toMatchObject({ host: VIP });
  expect(udp.from).toEqual(udp.relay);
}, 120000);
