// The proxy behind a shared address, as Dante's redundancy guide describes:
// two test hosts in namespaces this test creates, the server host carrying
// a primary address, a VIP the clients use and an external VIP for outgoing
// traffic. Real clients: our raw socks-client and Dante's socksify.
import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TwoHostLab, createTwoHostLab } from './helpers/lab.js';
import { OPEN_RULES, REPO, type RunningProxy, startProxy, stopAllProxies } from './helpers/proxy.js';

const PRIMARY = '10.201.1.1';
const VIP = '10.201.1.100';
const EXTERNAL_VIP = '10.201.1.101';
const CLIENT = '10.201.1.2';
/** A target that is not on the client's own network, so socksify routes it through the proxy. */
const REMOTE_TARGET = '10.201.2.2';

let lab: TwoHostLab;
let proxy: RunningProxy;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hasocks-vip-'));
  lab = await createTwoHostLab({
    server: [`${PRIMARY}/24`, `${VIP}/24`, `${EXTERNAL_VIP}/24`],
    client: [`${CLIENT}/24`],
    serverLoopback: [`${REMOTE_TARGET}/32`],
  });
  await lab.whoami(lab.client, CLIENT, 7000);
  await lab.whoami(lab.server, REMOTE_TARGET, 7001);
  proxy = await startProxy({ internal: [`${VIP}:1080`], external: [EXTERNAL_VIP], rules: OPEN_RULES }, { netns: lab.server.name });
});

afterAll(async () => {
  await stopAllProxies();
  await lab?.remove();
  rmSync(dir, { recursive: true, force: true });
});

test('CONNECT through the VIP leaves from the external VIP, and the reply says so', async () => {
  const result = await lab.socksClient(['connect', VIP, '1080', CLIENT, '7000']);
  expect(result.code).toBe('00');
  expect(result.bound).toMatchObject({ host: EXTERNAL_VIP });
  expect(result.answer).toMatch(new RegExp(`^you are ${EXTERNAL_VIP.replace(/\./g, '\\.')}:\\d+$`));
});

test('UDP ASSOCIATE through the VIP: the reply names the VIP, datagrams come back from the VIP', async () => {
  const result = await lab.socksClient(['udp', VIP, '1080', CLIENT, '7000']);
  expect(result.code).toBe('00');
  expect(result.relay).toMatchObject({ host: VIP });
  expect(result.from).toEqual(result.relay);
  expect(result.sender).toEqual({ host: CLIENT, port: 7000 });
  // The outgoing datagram left from the external VIP.
  expect(result.answer).toMatch(new RegExp(`^you are ${EXTERNAL_VIP.replace(/\./g, '\\.')}:\\d+$`));
});

test('BIND reports the external VIP', async () => {
  const result = await lab.socksClient(['bind', VIP, '1080']);
  expect(result.code).toBe('00');
  expect(result.bound).toMatchObject({ host: EXTERNAL_VIP });
  expect((result.bound as { port: number }).port).toBeGreaterThan(0);
});

test('a wildcard listener still answers UDP ASSOCIATE with the address the client used, never the primary', async () => {
  const wildcard = await startProxy({ internal: ['0.0.0.0:1081'], rules: OPEN_RULES }, { netns: lab.server.name });
  for (const address of [VIP, PRIMARY]) {
    const result = await lab.socksClient(['udp', address, '1081', CLIENT, '7000']);
    expect(result.relay).toMatchObject({ host: address });
    expect(result.from).toEqual(result.relay);
  }
  await wildcard.stop();
});

describe("Dante's socksify runs unmodified programs through hasocks", () => {
  const socksConf = (): string => {
    const path = join(dir, 'socks.conf');
    writeFileSync(
      path,
      [
        'route {',
        `  from: 0.0.0.0/0 to: 0.0.0.0/0 via: ${VIP} port = 1080`,
        '  proxyprotocol: socks_v5',
        '  command: connect bind udpassociate',
        '  method: none',
        '}',
        '',
      ].join('\n'),
    );
    return path;
  };

  test('a UDP exchange: socksify nc -u', async () => {
    const result = await lab.client.exec('sh', ['-c', `echo hello | SOCKS_CONF=${socksConf()} socksify nc -u -w 2 ${REMOTE_TARGET} 7001`], { reject: false });
    expect(result.stdout).toMatch(new RegExp(`^you are ${EXTERNAL_VIP.replace(/\./g, '\\.')}:\\d+`));
    await proxy.waitForLog(/udpassociate relay 10\.201\.1\.100:\d+/);
  });

  test('a TCP connect: socksify nc', async () => {
    const result = await lab.client.exec('sh', ['-c', `echo hello | SOCKS_CONF=${socksConf()} socksify nc -N -w 2 ${REMOTE_TARGET} 7001`], { reject: false });
    expect(result.stdout).toMatch(new RegExp(`^you are ${EXTERNAL_VIP.replace(/\./g, '\\.')}:\\d+`));
  });
});

describe('socksify BIND', () => {
  test('a program that binds and accepts: the port opens on the external VIP and a peer reaches the program', async () => {
    const binary = join(dir, 'accept-once');
    await execa('cc', ['-O1', '-o', binary, join(REPO, 'test', 'helpers', 'accept-once.c')]);
    const conf = join(dir, 'socks-bind.conf');
    writeFileSync(conf, ['route {', `  from: 0.0.0.0/0 to: 0.0.0.0/0 via: ${VIP} port = 1080`, '  proxyprotocol: socks_v5', '  command: connect bind udpassociate', '  method: none', '}', ''].join('\n'));
    const program = lab.spawn(lab.client, 'env', [`SOCKS_CONF=${conf}`, 'socksify', binary, '5555']);
    // Dante asks for the port the program bound; hasocks opens it on the external VIP.
    await proxy.waitForLog(/bind 10\.201\.1\.101:5555 for any peer/);
    await lab.server.exec('sh', ['-c', `echo from-peer | nc -N -w 2 ${EXTERNAL_VIP} 5555`]);
    const result = await program;
    expect(result.stdout).toBe('from-peer');
    expect(proxy.logs()).toMatch(/bindreply from 10\.201\.1\.\d+:\d+/);
  });
});
