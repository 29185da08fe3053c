// The rule-bypass matrix (SECURITY.md): every way found for a client to
// reach what the rules do not allow, against the built proxy.
import { type Socket as UdpSocket, createSocket } from 'node:dgram';
import { once } from 'node:events';
import { type Server, connect, createServer } from 'node:net';
import { join } from 'node:path';
import type { RuleFile } from '../src/config/types.js';
import { type Netns, createNetns } from './helpers/netns.js';
import { dnsServerIn } from './helpers/netns-tools.js';
import { RawClient, type TestServer, freePort, listen, openAssociation, socks5Request } from './helpers/net.js';
import { REPO, type RunningProxy, startProxy, stopAllProxies } from './helpers/proxy.js';


const PASS_CLIENTS: RuleFile = { type: 'client', action: 'pass' };
/** Loopback is off limits; everything else may be reached. */
const NO_LOOPBACK: RuleFile[] = [
  PASS_CLIENTS,
  { type: 'socks', action: 'block', to: '127.0.0.0/8' },
  { type: 'socks', action: 'block', to: '::1/128' },
  { type: 'socks', action: 'pass' },
];

/** A target on loopback that counts who reached it. */
let target: TestServer & { reached: number };
let udpTarget: UdpSocket;
let udpReached: number;

beforeAll(async () => {
  let reached = 0;
  const server: Server = createServer((socket) => {
    reached++;
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  const listening = await listen(server);
  target = Object.defineProperty(listening as TestServer & { reached: number }, 'reached', { get: () => reached });
  udpReached = 0;
  udpTarget = createSocket('udp4');
  udpTarget.on('message', (msg, from) => {
    udpReached++;
    udpTarget.send(msg, from.port, from.address);
  });
  udpTarget.bind(0, '127.0.0.1');
  await once(udpTarget, 'listening');
});
afterEach(stopAllProxies);
afterAll(async () => {
  await target.close();
  udpTarget.close();
});

/** A SOCKS5 request with a domain name given as raw bytes (so it can hold anything). */
function domainRequest(command: number, name: Buffer, port: number): Buffer {
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(port);
  return Buffer.concat([Buffer.from([5, command, 0, 3, name.length]), name, portBytes]);
}

/** A SOCKS5 request for a 16-byte address, as given (encodeAddress would unmap ::ffff:...). */
function ipv6Request(command: number, bytes: number[], port: number): Buffer {
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(port);
  return Buffer.concat([Buffer.from([5, command, 0, 4, ...bytes]), portBytes]);
}

const mapped = (v4: number[]): number[] => [...Array(10).fill(0), 0xff, 0xff, ...v4];

/** The REP byte of one SOCKS5 request after a no-auth greeting, or 'closed' when the proxy hangs up without one. */
async function rep(proxy: RunningProxy, request: Buffer, options: { localAddress?: string; host?: string; port?: number } = {}): Promise<number | 'closed'> {
  const socket = connect({ host: options.host ?? '127.0.0.1', port: options.port ?? proxy.port, localAddress: options.localAddress });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  const client = RawClient.wrap(socket);
  client.send(Buffer.concat([Buffer.from([5, 1, 0]), request]));
  try {
    await client.read(2, 3000);
    return (await client.read(4, 3000))[1]!;
  } catch {
    return 'closed';
  } finally {
    client.destroy();
  }
}

/** The CD byte of a SOCKS4/4a request. */
async function socks4(proxy: RunningProxy, ip: number[], port: number, hostname?: Buffer): Promise<number | 'closed'> {
  const client = await RawClient.connect(proxy.port);
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(port);
  client.send(Buffer.concat([Buffer.from([4, 1]), portBytes, Buffer.from(ip), Buffer.from('user\0'), hostname ? Buffer.concat([hostname, Buffer.from([0])]) : Buffer.alloc(0)]));
  try {
    return (await client.read(8, 3000))[1]!;
  } catch {
    return 'closed';
  } finally {
    client.destroy();
  }
}

describe('the rules hold', () => {
  const start = (rules: RuleFile[], extra: Parameters<typeof startProxy>[0] = {}): Promise<RunningProxy> => startProxy({ rules, ...extra });

  test('an unspecified destination never reaches this host, whatever the rules say about loopback', async () => {
    const proxy = await start(NO_LOOPBACK);
    const before = target.reached;
    expect(await rep(proxy, socks5Request(1, '0.0.0.0', target.port))).toBe(0x02);
    expect(await rep(proxy, socks5Request(1, '0.1.2.3', target.port))).toBe(0x02);
    expect(await rep(proxy, ipv6Request(1, Array(16).fill(0), target.port))).toBe(0x02);
    expect(await rep(proxy, ipv6Request(1, mapped([0, 0, 0, 0]), target.port))).toBe(0x02);
    expect(await socks4(proxy, [0, 0, 0, 0], target.port)).toBe(0x5b);
    expect(target.reached).toBe(before);
    await proxy.waitForLog(/0\.0\.0\.0 is an unspecified address/);
  });

  test('an IPv4-mapped IPv6 destination is its IPv4 address for the rules', async () => {
    const proxy = await start(NO_LOOPBACK);
    expect(await rep(proxy, ipv6Request(1, mapped([127, 0, 0, 1]), target.port))).toBe(0x02);
    const only = await start([PASS_CLIENTS, { type: 'socks', action: 'pass', to: '127.0.0.1/32' }]);
    expect(await rep(only, ipv6Request(1, mapped([127, 0, 0, 1]), target.port))).toBe(0x00);
    await only.waitForLog(/connect 127\.0\.0\.1:\d+ from/);
  });

  test('a name with NUL, whitespace or other bytes no host name has gets 0x04 and reaches neither rule nor resolver', async () => {
    const proxy = await start([PASS_CLIENTS, { type: 'socks', action: 'pass', to: '.example.test' }]);
    const before = target.reached;
    const names = [
      Buffer.from('127.0.0.1\0.example.test', 'latin1'),
      Buffer.from('127.0.0.1 .example.test', 'latin1'), // inet_aton takes "127.0.0.1" and stops at the space
      Buffer.from('127.0.0.1\t.example.test', 'latin1'),
      Buffer.from('a/b.example.test', 'latin1'),
      Buffer.from('a..example.test', 'latin1'),
      Buffer.from('.example.test', 'latin1'),
      Buffer.from(`${'a'.repeat(64)}.example.test`, 'latin1'),
      Buffer.from('é.example.test', 'utf8'),
      Buffer.from('a\r\nforged log line.example.test', 'latin1'),
    ];
    for (const name of names) expect([name.toString('latin1'), await rep(proxy, domainRequest(1, name, target.port))]).toEqual([name.toString('latin1'), 0x04]);
    expect(await socks4(proxy, [0, 0, 0, 1], target.port, Buffer.from('127.0.0.1 .example.test'))).toBe(0x5b);
    expect(target.reached).toBe(before);
    await proxy.waitForLog(/invalid domain name "127\.0\.0\.1\\x00\.example\.test"/);
    // The control bytes a client sends are escaped in the log, never a line of their own.
    await proxy.waitForLog(/invalid domain name "a\\x0d\\x0aforged log line\.example\.test"/);
    expect(proxy.logs()).not.toMatch(/^forged log line/m);
  });

  test('UDP: datagrams to unspecified addresses and to invalid names are dropped', async () => {
    const proxy = await start([
      PASS_CLIENTS,
      { type: 'socks', action: 'block', to: '127.0.0.0/8', command: ['udpassociate'] },
      { type: 'socks', action: 'pass', command: ['udpassociate', 'udpreply'] },
    ]);
    const { control, relayPort, client } = await openAssociation(proxy.port);
    const port = Buffer.alloc(2);
    port.writeUInt16BE(udpTarget.address().port);
    const name = Buffer.from('127.0.0.1\0.example.test', 'latin1');
    const before = udpReached;
    client.send(Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 0]), port, Buffer.from('to 0.0.0.0')]), relayPort, '127.0.0.1');
    client.send(Buffer.concat([Buffer.from([0, 0, 0, 3, name.length]), name, port, Buffer.from('to a NUL name')]), relayPort, '127.0.0.1');
    await proxy.waitForLog(/dropped a datagram from the client: invalid domain name "127\.0\.0\.1\\x00\.example\.test"/);
    await proxy.waitForLog(/udp to 0\.0\.0\.0:\d+ dropped/);
    expect(udpReached).toBe(before);
    client.close();
    control.destroy();
  });

  test('UDP: a datagram to an IPv4-mapped destination goes to the IPv4 address', async () => {
    const proxy = await start([PASS_CLIENTS, { type: 'socks', action: 'pass', to: '127.0.0.1/32', command: ['udpassociate'] }, { type: 'socks', action: 'pass', command: ['udpreply'] }]);
    const { control, relayPort, client } = await openAssociation(proxy.port);
    const port = Buffer.alloc(2);
    port.writeUInt16BE(udpTarget.address().port);
    client.send(Buffer.concat([Buffer.from([0, 0, 0, 4, ...mapped([127, 0, 0, 1])]), port, Buffer.from('mapped')]), relayPort, '127.0.0.1');
    const [answer] = (await once(client, 'message')) as [Buffer];
    // The reply names the sender as the plain IPv4 address.
    expect([...answer.subarray(0, 10)]).toEqual([0, 0, 0, 1, 127, 0, 0, 1, port[0], port[1]]);
    expect(answer.subarray(10).toString()).toBe('mapped');
    client.close();
    control.destroy();
  });

  test('BIND naming an IPv4-mapped peer listens for the IPv4 peer', async () => {
    const proxy = await start([PASS_CLIENTS, { type: 'socks', action: 'pass' }]);
    expect(await rep(proxy, ipv6Request(2, mapped([127, 0, 0, 2]), 0))).toBe(0x00);
  });

  test('UDP ASSOCIATE naming another sender: that sender must pass the client rules too', async () => {
    const proxy = await start([{ type: 'client', action: 'pass', from: '127.0.0.1/32' }, { type: 'socks', action: 'pass' }]);
    expect(await rep(proxy, socks5Request(3, '127.0.0.2', 0))).toBe(0x02);
    await proxy.waitForLog(/the sender it names, 127\.0\.0\.2, is refused/);
    expect(await rep(proxy, socks5Request(3, '127.0.0.1', 0))).toBe(0x00);
  });

  test('client rules: ::/0 matches IPv6 clients only, 0.0.0.0/0 IPv4 clients only', async () => {
    const port = await freePort('::');
    const v6only = await start([{ type: 'client', action: 'pass', from: '::/0' }, { type: 'socks', action: 'pass' }], { internal: [`[::]:${port}`] });
    expect(await rep(v6only, socks5Request(1, '127.0.0.1', target.port), { host: '127.0.0.1', port })).toBe('closed');
    expect(await rep(v6only, socks5Request(1, '127.0.0.1', target.port), { host: '::1', port })).toBe(0x00);
    await v6only.stop();
    const v4only = await start([{ type: 'client', action: 'pass', from: '0.0.0.0/0' }, { type: 'socks', action: 'pass' }], { internal: [`[::]:${port}`] });
    expect(await rep(v4only, socks5Request(1, '127.0.0.1', target.port), { host: '::1', port })).toBe('closed');
    expect(await rep(v4only, socks5Request(1, '127.0.0.1', target.port), { host: '127.0.0.1', port })).toBe(0x00);
  });

  test('a port range holds at both edges', async () => {
    const low = target.port;
    const proxy = await start([PASS_CLIENTS, { type: 'socks', action: 'pass', port: `${low}-${low + 2}` }]);
    expect(await rep(proxy, socks5Request(1, '127.0.0.1', low - 1))).toBe(0x02);
    expect(await rep(proxy, socks5Request(1, '127.0.0.1', low))).toBe(0x00);
    expect(await rep(proxy, socks5Request(1, '127.0.0.1', low + 2))).not.toBe(0x02);
    expect(await rep(proxy, socks5Request(1, '127.0.0.1', low + 3))).toBe(0x02);
    expect(await rep(proxy, socks5Request(1, '127.0.0.1', 65535))).toBe(0x02);
  });

  test('BIND: a peer other than the one announced is turned away', async () => {
    const proxy = await start([PASS_CLIENTS, { type: 'socks', action: 'pass' }]);
    const control = await RawClient.connect(proxy.port);
    control.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(2, '127.0.0.2', 0)]));
    await control.read(2);
    const first = await control.read(10);
    expect(first[1]).toBe(0);
    const bound = { host: [...first.subarray(4, 8)].join('.'), port: first.readUInt16BE(8) };
    const stranger = connect({ ...bound, localAddress: '127.0.0.1' });
    stranger.on('error', () => undefined);
    await once(stranger, 'close');
    await proxy.waitForLog(/bind: refused 127\.0\.0\.1:\d+, expected 127\.0\.0\.2/);
    const peer = connect({ ...bound, localAddress: '127.0.0.2' });
    peer.on('error', () => undefined);
    const second = await control.read(10);
    expect([second[1], [...second.subarray(4, 8)].join('.')]).toEqual([0, '127.0.0.2']);
    peer.destroy();
    control.destroy();
  });
});

describe('names from a test resolver', () => {
  let ns: Netns;
  let dns: Awaited<ReturnType<typeof dnsServerIn>> | undefined;
  const probe = async (host: string, source = '127.0.0.1'): Promise<string> =>
    (JSON.parse((await ns.exec(process.execPath, [join(REPO, 'test', 'helpers', 'socks-client.mjs'), 'probe', '127.0.0.1', '1080', host, '7000', source])).stdout) as { code: string }).code;

  beforeAll(async () => {
    ns = await createNetns({ 'zero.test': '0.0.0.0' });
    dns = await dnsServerIn(ns, {
      PTR: { '2.0.0.127.in-addr.arpa': 'good.clients.test', '3.0.0.127.in-addr.arpa': 'spoofed.clients.test' },
      // The owner of 127.0.0.3's reverse zone claims a name whose owner never pointed it back.
      A: { 'good.clients.test': '127.0.0.2', 'spoofed.clients.test': '127.0.0.99' },
    });
  });
  afterEach(stopAllProxies);
  afterAll(async () => {
    dns?.child.kill('SIGTERM');
    await dns?.child;
    await ns?.remove();
  });

  test('a name that resolves to an unspecified address is refused', async () => {
    await startProxy({ internal: ['127.0.0.1:1080'], rules: NO_LOOPBACK }, { netns: ns.name });
    expect(await probe('zero.test')).toBe('02');
  });

  test('client names are forward-confirmed: a PTR record that does not resolve back does not pass', async () => {
    const proxy = await startProxy({ internal: ['127.0.0.1:1080'], rules: [{ type: 'client', action: 'pass', from: '.clients.test' }, { type: 'socks', action: 'pass' }] }, { netns: ns.name });
    expect(await probe('127.0.0.1', '127.0.0.2')).toBe('05');
    expect(await probe('127.0.0.1', '127.0.0.3')).toBe('closed');
    await proxy.waitForLog(/block \(no rule matched\): client 127\.0\.0\.3/);
    expect(dns!.queries()).toEqual(expect.arrayContaining(['PTR 3.0.0.127.in-addr.arpa', 'A spoofed.clients.test']));
  });
});
