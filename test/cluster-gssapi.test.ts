// GSSAPI in the 2-node lab (test/helpers/failover-lab.ts): both nodes
// accept as one service principal from one shared keytab, so a client's
// ticket for the VIP's name is good on whichever node serves. A real MIT
// KDC runs in the lab's client namespace (helpers/kdc.ts); the client is
// the tests' RFC 1961 client (helpers/gssapi-client.ts) run there too.
import { execa } from 'execa';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crmMon, waitFor } from './helpers/cluster-client.js';
import { compiledHelper } from './helpers/compiled.js';
import { EXTERNAL_VIP, type Lab, VIP, buildLab, serving, standbys } from './helpers/failover-lab.js';
import type { GssapiOutcome, GssapiScenario } from './helpers/gssapi-client-run.js';
import { ALICE, type Kdc, REALM, SERVICE as SERVICE_NAME, startKdc } from './helpers/kdc.js';
import { OPEN_RULES } from './helpers/proxy.js';

// The realm written out: the nodes need no krb5.conf of their own to accept.
const SERVICE = `${SERVICE_NAME}@${REALM}`;

let lab: Lab;
let kdc: Kdc;
let ccache: string;

beforeAll(async () => {
  lab = await buildLab(2, 'warm');
  kdc = await startKdc({ netns: lab.cluster.client.name, address: lab.cluster.clientAddress });
  await kdc.addUser('alice', 'alice-password');
  const keytab = await kdc.addServices([SERVICE], join(lab.cluster.dir, 'socks.keytab'));
  ccache = await kdc.kinit('alice', 'alice-password');
  // GSSAPI switched on in the running cluster: a reload through the agent on both nodes.
  const config = join(lab.cluster.dir, 'hasocks-gssapi.json');
  writeFileSync(
    config,
    JSON.stringify({
      internal: [`${VIP}:1080`],
      external: [EXTERNAL_VIP],
      freebind: true,
      // "none" too, for the lab's own health checks; this test's client offers GSSAPI only.
      socksmethod: ['gssapi', 'none'],
      // The replay cache in each node's private /run.
      gssapi: { servicename: SERVICE, keytab, replayCache: 'file2:/run/hasocks-rcache2' },
      rules: [{ type: 'client', action: 'pass', from: '0/0' }, { type: 'socks', action: 'pass', from: '0/0', to: '0/0', user: [ALICE], socksmethod: ['gssapi'] }, ...OPEN_RULES.filter((r) => r.type === 'socks')],
      logoutput: [join(lab.cluster.dir, 'proxy.log')],
    }),
  );
  await lab.cluster.nodes[0]!.exec('pcs', ['resource', 'update', 'socks', `config=${config}`]);
  await waitFor(lab.cluster, 'the reload on both nodes', async () => readFileSync(join(lab.cluster.dir, 'proxy.log'), 'utf8').split(`reloaded config ${config}`).length - 1 >= 2);
}, 300000);

afterAll(async () => {
  await kdc?.stop();
  await lab?.stop();
}, 120000);

/** The RFC 1961 client in the client namespace, through the VIP to the lab's echo target. */
async function client(): Promise<GssapiOutcome> {
  const scenario: GssapiScenario = { proxy: { host: VIP, port: 1080 }, service: SERVICE, level: 2, target: { host: lab.cluster.clientAddress, port: 7007 }, echoBytes: 1 << 20 };
  const result = await execa('ip', ['netns', 'exec', lab.cluster.client.name, process.execPath, compiledHelper('gssapi-client-run', 'gssapi-client'), JSON.stringify(scenario)], {
    env: { ...process.env, ...kdc.env, KRB5CCNAME: ccache },
    reject: false,
  });
  if (result.exitCode !== 0) throw new Error(`the GSSAPI client failed: ${String(result.stderr)}`);
  return JSON.parse(String(result.stdout)) as GssapiOutcome;
}

/** How many service tickets the KDC has issued for the proxy's name. */
const ticketsIssued = (): number => readFileSync(join(kdc.dir, 'kdc.log'), 'utf8').split('\n').filter((line) => /TGS_REQ/.test(line) && line.includes(`for ${SERVICE}`) && /ISSUE/.test(line)).length;

test('a client authenticated with a ticket for the shared name goes on authenticating, with that same ticket, on the node that takes over after a crash', async () => {
  const before = (await serving(lab.cluster))!;
  expect(await client()).toMatchObject({ level: 2, reply: 0, echoed: true });
  expect(ticketsIssued()).toBe(1);

  await lab.cluster.crash(before);
  try {
    await waitFor(lab.cluster, `${before} fenced`, async () => lab.cluster.fenced.at(-1) === before);
    await waitFor(lab.cluster, 'the other node serving', async () => (await serving(lab.cluster)) !== undefined && (await serving(lab.cluster)) !== before);
    expect(await client()).toMatchObject({ level: 2, reply: 0, echoed: true });
    // The second node accepted the ticket the client already held: the KDC issued no other.
    expect(ticketsIssued()).toBe(1);
    expect(readFileSync(join(lab.cluster.dir, 'proxy.log'), 'utf8').match(new RegExp(`GSSAPI: authenticated "${ALICE}" to ${SERVICE.replace(/[.]/g, '\\.')}, protection confidentiality`, 'g'))).toHaveLength(2);
  } finally {
    await lab.cluster.restart(before);
  }
  await waitFor(lab.cluster, `${before} back as a standby`, async () => standbys(await crmMon(lab.cluster)) === 1);
}, 240000);
