// ocf:hasocks:socks on a real single-node Pacemaker/Corosync cluster that
// this test builds in namespaces: configured with the pcs script and the crm
// file from examples/ (which must give the same resources and constraints),
// checked with crm_mon, crm_resource --force-check and crm_verify, and with
// SOCKS traffic through the VIP from a client namespace.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Cluster, type ClusterNode, createCluster } from './helpers/cluster.js';
import { crmMon as labCrmMon, socksClient as labSocksClient, startTargets, waitFor as labWaitFor } from './helpers/cluster-client.js';
import { OPEN_RULES, REPO } from './helpers/proxy.js';

const VIP = '10.204.0.100';
/** The examples' optional second VIP, for the config's "external" address. */
const EXTERNAL_VIP = '10.204.0.101';
let cluster: Cluster;
let node: ClusterNode;
let targets: Awaited<ReturnType<typeof startTargets>>;
let configPath: string;

beforeAll(async () => {
  cluster = await createCluster(1);
  node = cluster.nodes[0]!;
  configPath = join(cluster.dir, 'hasocks.json');
  writeFileSync(configPath, JSON.stringify({ internal: [`${VIP}:1080`], freebind: true, rules: OPEN_RULES, logoutput: [join(cluster.dir, 'proxy.log')] }));
  targets = await startTargets(cluster);
}, 120000);

afterAll(async () => {
  await targets?.stop();
  await cluster?.remove();
}, 60000);

const crmMon = (): Promise<string> => labCrmMon(cluster);
const waitFor = (what: string, check: () => Promise<boolean>): Promise<void> => labWaitFor(cluster, what, check);
const socksClient = (args: string[]): Promise<Record<string, unknown>> => labSocksClient(cluster, args);

const servingThroughVip = async (): Promise<boolean> => /Promoted: \[ node1 \]/.test(await crmMon()) && /vip\s+\(ocf:heartbeat:IPaddr2\):\s+Started node1/.test(await crmMon());

async function expectTrafficThroughVip(): Promise<void> {
  const connect = await socksClient(['connect', VIP, '1080', cluster.clientAddress, '7000']);
  expect(connect.code).toBe('00');
  const udp = await socksClient(['udp', VIP, '1080', cluster.clientAddress, '7000']);
  expect(udp.relay).toMatchObject({ host: VIP });
  expect(udp.from).toEqual(udp.relay);
}

async function expectCleanVerify(): Promise<void> {
  const verify = await node.exec('crm_verify', ['-L', '-V'], { reject: false });
  expect(`${verify.stdout}${verify.stderr}`).toBe('');
  expect(verify.exitCode).toBe(0);
}

async function deleteResources(): Promise<void> {
  for (const id of ['vip', 'vip-external', 'socks-clone', 'socks', 'socks-group']) await node.exec('pcs', ['resource', 'delete', id], { reject: false });
  await waitFor('resources gone', async () => !/socks|vip/.test((await crmMon()).split('Full List of Resources:')[1] ?? ''));
}

/**
 * The resources and constraints as Pacemaker stores them, in a form two
 * tools can be compared by: one line per element, with its ancestors and its
 * attributes in order, without the ids each tool makes up its own way, and
 * the lines sorted. The CIB is attributes only, no text, but crm keeps a
 * file's comments in it, as XML comments.
 */
async function layout(): Promise<string[]> {
  const lines: string[] = [];
  for (const scope of ['resources', 'constraints']) {
    const xml = (await node.exec('cibadmin', ['--query', '--scope', scope])).stdout.replace(/<!--[\s\S]*?-->/g, '');
    const open: string[] = [];
    for (const [, closing, name, attributes, selfClosing] of xml.matchAll(/<(\/?)([\w-]+)([^>]*?)(\/?)>/g)) {
      if (closing) {
        open.pop();
        continue;
      }
      const kept = [...attributes!.matchAll(/([\w-]+)="([^"]*)"/g)].filter(([, key]) => key !== 'id').map(([, key, value]) => `${key}=${value}`);
      const element = `${name}(${kept.sort().join(' ')})`;
      lines.push([...open, element].join(' > '));
      if (!selfClosing) open.push(element);
    }
  }
  return lines.sort();
}
let pcsLayout: string[] = [];

/** A cluster property's value as Pacemaker stores it, or '' if unset. */
async function clusterProperty(name: string): Promise<string> {
  const result = await node.exec('crm_attribute', ['--type', 'crm_config', '--name', name, '--query', '--quiet'], { reject: false });
  return result.stdout.trim();
}

test('pcs: the promotable clone and its VIP come up from examples/pcs-promotable.sh, and traffic flows', async () => {
  const script = await node.exec('sh', [join(REPO, 'examples', 'pcs-promotable.sh')], {
    reject: false,
    env: { ...process.env, CONFIG: configPath, VIP, NIC: cluster.nic, PROBE_TARGET: `${cluster.clientAddress}:7000`, EXTERNAL_VIP } as Record<string, string>,
  });
  // pcs reports what it adds on stderr; anything like a warning or an error is a failure.
  expect(script.stderr).not.toMatch(/error|warning/i);
  expect(script.exitCode).toBe(0);
  expect(await clusterProperty('transition-delay')).toBe('20ms');
  expect(await clusterProperty('node-action-limit')).toBe('8');
  expect(await clusterProperty('load-threshold')).toBe('400%');
  await waitFor('socks promoted and the VIP started', servingThroughVip);
  await expectTrafficThroughVip();
  const describe = await node.exec('pcs', ['resource', 'describe', 'ocf:hasocks:socks']);
  expect(describe.stdout).toMatch(/^ocf:hasocks:socks - hasocks SOCKS proxy/);
  expect(describe.stderr).toBe('');
  pcsLayout = await layout();
}, 120000);

test('crm_resource --force-check at depths 0, 10 and 20 says promoted (8)', async () => {
  for (const depth of ['0', '10', '20']) {
    const check = await node.exec('crm_resource', ['--force-check=' + depth, '-r', 'socks'], { reject: false });
    expect(`${depth}: ${check.stdout.trim()}`).toBe(`${depth}: Operation force-check for socks (ocf:hasocks:socks) returned 8 (promoted)`);
  }
}, 60000);

test('a node whose deep check fails gets a lower promotion score, and its score comes back', async () => {
  const score = async (): Promise<string> =>
    (await node.exec('crm_attribute', ['--promotion', '-G', '-q'], { reject: false, env: { ...process.env, OCF_RESOURCE_INSTANCE: 'socks' } as Record<string, string> })).stdout.trim();
  // A healthy Promoted instance: 160 (above a standby's 100 plus the examples' preference for a non-DC node, 50).
  expect(await score()).toBe('160');
  // probe_target is reloadable: pointing it at a closed port changes no running instance.
  await node.exec('pcs', ['resource', 'update', 'socks', `probe_target=${cluster.clientAddress}:1`]);
  const failing = await node.exec('crm_resource', ['--force-check=20', '-r', 'socks'], { reject: false });
  expect(failing.stdout).toMatch(/returned 9 \(promoted, but failed\)|returned 9/);
  expect(await score()).toBe('10');
  // A depth-0 check (the recurring monitor's depth) cannot vouch for what the deep one found: the score stays.
  await node.exec('crm_resource', ['--force-check', '-r', 'socks'], { reject: false });
  expect(await score()).toBe('10');
  await node.exec('pcs', ['resource', 'update', 'socks', `probe_target=${cluster.clientAddress}:7000`]);
  await node.exec('crm_resource', ['--force-check=20', '-r', 'socks'], { reject: false });
  expect(await score()).toBe('160');
  await waitFor('still serving', servingThroughVip);
}, 60000);

test('SIGKILL of the proxy is noticed by Pacemaker, and recovered after a cleanup', async () => {
  const pidFile = join(cluster.dir, 'node1', 'fs', 'run', 'resource-agents', 'hasocks-socks', 'hasocks.pid');
  const before = readFileSync(pidFile, 'utf8').trim();
  await node.exec('kill', ['-9', before]);
  // migration-threshold=1 (examples/pcs-promotable.sh): a failed Promoted instance hands over to a
  // standby elsewhere; on a single node there is none, so the node waits for failure-timeout or a cleanup.
  await waitFor('the failure recorded', async () => /socks.*(monitor|demote).*(not running|error)/s.test(await crmMon()));
  await node.exec('crm_resource', ['--cleanup', '-r', 'socks-clone'], { reject: false });
  await waitFor('a recovered instance', async () => {
    let now = '';
    try {
      now = readFileSync(pidFile, 'utf8').trim();
    } catch {
      return false;
    }
    return now !== before && (await servingThroughVip());
  });
  await expectTrafficThroughVip();
  await expectCleanVerify();
}, 120000);

test('crm: the same layout loaded from examples/crm-promotable.crm comes up and serves', async () => {
  await deleteResources();
  const crmFile = join(cluster.dir, 'crm-promotable.crm');
  const example = readFileSync(join(REPO, 'examples', 'crm-promotable.crm'), 'utf8');
  // What the pcs test gave pcs-promotable.sh, probe_target and the external VIP included, which the crm file leaves to the reader.
  const [required, optional] = example.split(/^(?=# If the config's "external" address)/m);
  expect(optional).toBeDefined();
  const ours = `${required}${optional!.replace(/^# {3}/gm, '')}`
    .replace('config="/etc/hasocks/hasocks.json"', `config="${configPath}" probe_target="${cluster.clientAddress}:7000"`)
    .replace('192.0.2.100', VIP)
    .replace('192.0.2.101', EXTERNAL_VIP)
    .replaceAll('nic=eth0', `nic=${cluster.nic}`);
  writeFileSync(crmFile, ours);
  // The pcs test above set these; the crm file must set them on its own.
  for (const name of ['transition-delay', 'node-action-limit', 'load-threshold']) await node.exec('crm_attribute', ['--type', 'crm_config', '--name', name, '--delete']);
  const load = await node.exec('crm', ['configure', 'load', 'update', crmFile], { reject: false });
  expect(load.stderr).toBe('');
  expect(load.exitCode).toBe(0);
  // The same resources, attributes, operations and constraints as the pcs script's.
  expect(pcsLayout.length).toBeGreaterThan(0);
  expect(await layout()).toEqual(pcsLayout);
  expect(await clusterProperty('transition-delay')).toBe('20ms');
  expect(await clusterProperty('node-action-limit')).toBe('8');
  expect(await clusterProperty('load-threshold')).toBe('400%');
  await waitFor('socks promoted and the VIP started', servingThroughVip);
  await expectTrafficThroughVip();
  const info = await node.exec('crm', ['ra', 'info', 'ocf:hasocks:socks'], { reject: false });
  expect(info.stdout).toMatch(/hasocks SOCKS proxy \(ocf:hasocks:socks\)/);
  expect(info.stdout).toMatch(/config\* \(string\): hasocks config file/);
  await expectCleanVerify();
}, 120000);

test('as a plain primitive in a group after its VIP (examples/pcs-group.sh), it serves too', async () => {
  await deleteResources();
  const plain = join(cluster.dir, 'plain.json');
  writeFileSync(plain, JSON.stringify({ internal: [`${VIP}:1080`], rules: OPEN_RULES }));
  const script = await node.exec('sh', [join(REPO, 'examples', 'pcs-group.sh')], {
    reject: false,
    env: { ...process.env, CONFIG: plain, VIP, NIC: cluster.nic } as Record<string, string>,
  });
  expect(script.stderr).not.toMatch(/error|warning/i);
  await waitFor('the group started', async () => /socks\s+\(ocf:hasocks:socks\):\s+Started node1/.test(await crmMon()));
  await expectTrafficThroughVip();
  const check = await node.exec('crm_resource', ['--force-check=10', '-r', 'socks'], { reject: false });
  expect(check.stdout.trim()).toBe('Operation force-check for socks (ocf:hasocks:socks) returned 0 (ok)');
  await expectCleanVerify();
}, 120000);
