// UDP ASSOCIATE and BIND through the built proxy, with the `socks` npm
// client and raw datagrams, checking every address the proxy reports.
import { type Socket as UdpSocket, createSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { SocksClient } from 'socks';
import { RawClient, socks5Request } from './helpers/net.js';
import { OPEN_RULES, type RunningProxy, startProxy, stopAllProxies } from './helpers/proxy.js';

let udpEcho: UdpSocket;
let udpEchoPort: number;
const ipv6Loopback = [...Array(15).fill(0), 1] as number[];

beforeAll(async () => {
  udpEcho = createSocket('udp4');
  udpEcho.on('message', (msg, rinfo) => udpEcho.send(Buffer.concat([Buffer.from('echo:'), msg]), rinfo.port, rinfo.address));
  udpEcho.bind(0, '127.0.0.1');
  await once(udpEcho, 'listening');
  udpEchoPort = udpEcho.address().port;
});
afterEach(stopAllProxies);
afterAll(() => udpEcho.close());

/** Open an association with a raw control connection; returns it and the relay endpoint. */
async function associate(proxy: RunningProxy, host = '0.0.0.0', port = 0): Promise<{ control: RawClient; relayHost: string; relayPort: number }> {
  const control = await RawClient.connect(proxy.port);
  control.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(3, host, port)]));
  expect([...(await control.read(2))]).toEqual([5, 0]);
  const reply = await control.read(10);
  expect([...reply.subarray(0, 4)]).toEqual([5, 0, 0, 1]);
  return { control, relayHost: [...reply.subarray(4, 8)].join('.'), relayPort: reply.readUInt16BE(8) };
}

function frame(host: string, port: number, data: string, fragment = 0): Buffer {
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(port);
  return Buffer.concat([Buffer.from([0, 0, fragment, 1, ...host.split('.').map(Number)]), portBytes, Buffer.from(data)]);
}

/** Send from a fresh socket bound to `source`, and return the first answer (or undefined after waitMs). */
async function exchange(relayPort: number, datagram: Buffer, source = '127.0.0.1', waitMs = 1500, socket?: UdpSocket): Promise<{ msg: Buffer; from: string; port: number } | undefined> {
  const own = socket ?? createSocket('udp4');
  if (!socket) {
    own.bind(0, source);
    await once(own, 'listening');
  }
  try {
    own.send(datagram, relayPort, '127.0.0.1');
    return await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), waitMs);
      own.once('message', (msg, rinfo) => {
        clearTimeout(timer);
        resolve({ msg, from: rinfo.address, port: rinfo.port });
      });
    });
  } finally {
    if (!socket) own.close();
  }
}

describe('UDP ASSOCIATE on the C relay', () => {
  const start = (partial: Parameters<typeof startProxy>[0] = {}): Promise<RunningProxy> => startProxy(partial);

  test('the socks npm client: relay address, sender address in the reply header, payload', async () => {
    const proxy = await start();
    // createConnection() only does CONNECT; associate goes through the event API.
    const associating = new SocksClient({
      proxy: { host: '127.0.0.1', port: proxy.port, type: 5 },
      command: 'associate',
      destination: { host: '0.0.0.0', port: 0 },
    });
    const established = once(associating, 'established') as Promise<[{ socket: Socket; remoteHost: { host: string; port: number } }]>;
    associating.connect();
    const [{ socket: control, remoteHost }] = await established;
    expect(remoteHost!.host).toBe('127.0.0.1');
    expect(remoteHost!.port).toBeGreaterThan(0);
    const udp = createSocket('udp4');
    udp.bind(0, '127.0.0.1');
    await once(udp, 'listening');
    udp.send(SocksClient.createUDPFrame({ remoteHost: { host: '127.0.0.1', port: udpEchoPort }, data: Buffer.from('ping') }), remoteHost!.port, remoteHost!.host);
    const [msg, rinfo] = (await once(udp, 'message')) as [Buffer, { address: string; port: number }];
    expect(rinfo).toMatchObject({ address: '127.0.0.1', port: remoteHost!.port });
    const parsed = SocksClient.parseUDPFrame(msg);
    expect(parsed.remoteHost).toEqual({ host: '127.0.0.1', port: udpEchoPort });
    expect(parsed.data.toString()).toBe('echo:ping');
    udp.close();
    control.destroy();
  });

  test('a domain-name destination is resolved by the proxy', async () => {
    const proxy = await start();
    const { control, relayPort } = await associate(proxy);
    const portBytes = Buffer.alloc(2);
    portBytes.writeUInt16BE(udpEchoPort);
    const datagram = Buffer.concat([Buffer.from([0, 0, 0, 3, 9]), Buffer.from('localhost'), portBytes, Buffer.from('named')]);
    const answer = await exchange(relayPort, datagram);
    expect(answer?.msg.subarray(10).toString()).toBe('echo:named');
    control.destroy();
  });

  test('datagrams with FRAG != 0 are dropped', async () => {
    const proxy = await start();
    const { control, relayPort } = await associate(proxy);
    expect(await exchange(relayPort, frame('127.0.0.1', udpEchoPort, 'fragment', 1))).toBeUndefined();
    expect((await exchange(relayPort, frame('127.0.0.1', udpEchoPort, 'whole')))?.msg.subarray(10).toString()).toBe('echo:whole');
    control.destroy();
  });

  test("only the client's IP may use the association", async () => {
    const proxy = await start();
    const { control, relayPort } = await associate(proxy);
    expect(await exchange(relayPort, frame('127.0.0.1', udpEchoPort, 'stranger'), '127.0.0.2')).toBeUndefined();
    expect(await exchange(relayPort, frame('127.0.0.1', udpEchoPort, 'owner'), '127.0.0.1')).toBeDefined();
    // The route is known now: a stranger is still kept out.
    expect(await exchange(relayPort, frame('127.0.0.1', udpEchoPort, 'stranger again'), '127.0.0.2', 500)).toBeUndefined();
    control.destroy();
  });

  test('a non-zero DST.PORT in the request narrows it to that source port', async () => {
    const proxy = await start();
    const mine = createSocket('udp4');
    mine.bind(0, '127.0.0.1');
    await once(mine, 'listening');
    const { control, relayPort } = await associate(proxy, '127.0.0.1', mine.address().port);
    expect(await exchange(relayPort, frame('127.0.0.1', udpEchoPort, 'other port'))).toBeUndefined();
    expect((await exchange(relayPort, frame('127.0.0.1', udpEchoPort, 'my port'), '127.0.0.1', 1500, mine))?.msg.subarray(10).toString()).toBe('echo:my port');
    mine.close();
    control.destroy();
  });

  test('udp.portrange picks the relay port from the range', async () => {
    const proxy = await start({ udp: { portrange: '41000-41009' } });
    const ports: number[] = [];
    const controls: RawClient[] = [];
    for (let i = 0; i < 3; i++) {
      const { control, relayPort } = await associate(proxy);
      ports.push(relayPort);
      controls.push(control);
    }
    for (const port of ports) expect(port).toBeGreaterThanOrEqual(41000);
    for (const port of ports) expect(port).toBeLessThanOrEqual(41009);
    expect(new Set(ports).size).toBe(3);
    for (const c of controls) c.destroy();
  });

  test('the association ends when the control connection closes, and its port is free again', async () => {
    const proxy = await start();
    const { control, relayPort } = await associate(proxy);
    control.destroy();
    await proxy.waitForLog(/disconnect udpassociate .* control connection closed/);
    const probe = createSocket('udp4');
    probe.bind(relayPort, '127.0.0.1');
    await once(probe, 'listening');
    probe.close();
  });

  test('the UDP idle timeout (timeout.io.udp) ends the association and closes the control connection', async () => {
    const proxy = await start({ timeout: { io: { tcp: 0, udp: 1 } } });
    const { control } = await associate(proxy);
    expect(await control.waitForEnd(4000)).toBe(true);
    await proxy.waitForLog(/disconnect udpassociate .* io timeout/);
  });

  test('rules: udpassociate decides each destination, udpreply each answer', async () => {
    const proxy = await start({
      rules: [
        { type: 'client', action: 'pass' },
        { type: 'socks', action: 'block', command: ['udpassociate'], port: 9 },
        { type: 'socks', action: 'pass', command: ['udpassociate'] },
        { type: 'socks', action: 'pass', command: ['udpreply'] },
      ],
    });
    const { control, relayPort } = await associate(proxy);
    expect(await exchange(relayPort, frame('127.0.0.1', 9, 'discard port'))).toBeUndefined();
    await proxy.waitForLog(/block socks-rule #1: udp to 127\.0\.0\.1:9 dropped/);
    expect(await exchange(relayPort, frame('127.0.0.1', udpEchoPort, 'allowed'))).toBeDefined();
    // Decided routes stay decided, datagram after datagram.
    expect(await exchange(relayPort, frame('127.0.0.1', 9, 'discard port again'), '127.0.0.1', 500)).toBeUndefined();
    expect(await exchange(relayPort, frame('127.0.0.1', udpEchoPort, 'allowed again'))).toBeDefined();
    control.destroy();

    const noReplies = await start({ rules: [{ type: 'client', action: 'pass' }, { type: 'socks', action: 'pass', command: ['udpassociate'] }] });
    const second = await associate(noReplies);
    expect(await exchange(second.relayPort, frame('127.0.0.1', udpEchoPort, 'no reply allowed'))).toBeUndefined();
    expect(await exchange(second.relayPort, frame('127.0.0.1', udpEchoPort, 'still no reply'), '127.0.0.1', 500)).toBeUndefined();
    second.control.destroy();
  });

  test('a stream on one route: every datagram arrives intact with the sender in its header, and the relay counts them all', async () => {
    const proxy = await start({ rules: [{ type: 'client', action: 'pass' }, { type: 'socks', action: 'pass', log: ['connect', 'disconnect'] }] });
    const { control, relayPort } = await associate(proxy);
    await proxy.waitForLog(new RegExp(`udpassociate relay 127\\.0\\.0\\.1:${relayPort} for`));
    const udp = createSocket('udp4');
    udp.bind(0, '127.0.0.1');
    await once(udp, 'listening');
    // 300 datagrams, 8 in flight: enough to run the native relay's batches, not so many that a socket buffer overflows.
    const count = 300;
    const payload = (i: number): string => `datagram ${i} ${'x'.repeat(i)}`;
    const answers: string[] = [];
    let next = 0;
    const sendNext = (): void => {
      if (next < count) udp.send(frame('127.0.0.1', udpEchoPort, payload(next++)), relayPort, '127.0.0.1');
    };
    const all = new Promise<void>((resolve, reject) => {
      const stalled = setTimeout(() => reject(new Error(`${answers.length} of ${count} answers arrived`)), 10_000);
      udp.on('message', (msg: Buffer) => {
        answers.push(`${msg.subarray(0, 10).toString('hex')} ${msg.subarray(10).toString()}`);
        sendNext();
        if (answers.length === count) {
          clearTimeout(stalled);
          resolve();
        }
      });
    });
    for (let i = 0; i < 8; i++) sendNext();
    await all;
    const header = frame('127.0.0.1', udpEchoPort, '').toString('hex');
    expect(answers.sort()).toEqual(Array.from({ length: count }, (_, i) => `${header} echo:${payload(i)}`).sort());
    udp.close();
    control.destroy();
    const bytes = Array.from({ length: count }, (_, i) => payload(i).length).reduce((a, b) => a + b, 0);
    await proxy.waitForLog(new RegExp(`up ${count} datagrams/${bytes} bytes, down ${count} datagrams/${bytes + 5 * count} bytes`));
  });

  test('IPv6 all the way: the relay on ::1, an ATYP 4 destination, replies with an IPv6 header', async () => {
    const echo6 = createSocket('udp6');
    echo6.on('message', (msg, rinfo) => echo6.send(Buffer.concat([Buffer.from('echo6:'), msg]), rinfo.port, rinfo.address));
    echo6.bind(0, '::1');
    await once(echo6, 'listening');
    const echoPort = echo6.address().port;
    const proxy = await startProxy({}, { host: '::1' });
    const control = await RawClient.connect(proxy.port, '::1');
    control.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(3, '::', 0)]));
    expect([...(await control.read(2))]).toEqual([5, 0]);
    const reply = await control.read(22);
    expect([...reply.subarray(0, 4)]).toEqual([5, 0, 0, 4]);
    expect(reply.subarray(4, 20).equals(Buffer.from(ipv6Loopback))).toBe(true);
    const relayPort = reply.readUInt16BE(20);
    const header = Buffer.from([0, 0, 0, 4, ...ipv6Loopback, echoPort >> 8, echoPort & 255]);
    const client = createSocket('udp6');
    client.bind(0, '::1');
    await once(client, 'listening');
    try {
      for (const text of ['first', 'second', 'third']) {
        client.send(Buffer.concat([header, Buffer.from(text)]), relayPort, '::1');
        const [msg, rinfo] = (await once(client, 'message')) as [Buffer, { address: string; port: number }];
        expect(rinfo).toMatchObject({ address: '::1', port: relayPort });
        expect(msg.subarray(0, 22).equals(header)).toBe(true);
        expect(msg.subarray(22).toString()).toBe(`echo6:${text}`);
      }
    } finally {
      client.close();
      echo6.close();
      control.destroy();
    }
  });

  test('replies follow the client to its new source port (a NAT rebinding), on a known route', async () => {
    const proxy = await start();
    const { control, relayPort } = await associate(proxy);
    expect((await exchange(relayPort, frame('127.0.0.1', udpEchoPort, 'from the first port')))?.msg.subarray(10).toString()).toBe('echo:from the first port');
    expect((await exchange(relayPort, frame('127.0.0.1', udpEchoPort, 'from a second port')))?.msg.subarray(10).toString()).toBe('echo:from a second port');
    control.destroy();
  });
});

describe('BIND', () => {
  test('the socks npm client: first reply names the listening address, second the peer', async () => {
    const proxy = await startProxy({ external: ['127.0.0.1'], rules: OPEN_RULES });
    const client = new SocksClient({
      proxy: { host: '127.0.0.1', port: proxy.port, type: 5 },
      command: 'bind',
      destination: { host: '127.0.0.1', port: 0 },
    });
    type Event = { socket: Socket; remoteHost: { host: string; port: number } };
    const bound = (once(client, 'bound') as Promise<[Event]>).then(([info]) => info.remoteHost);
    const established = (once(client, 'established') as Promise<[Event]>).then(([info]) => info);
    client.connect();
    const listening = await bound;
    expect(listening.host).toBe('127.0.0.1');
    expect(listening.port).toBeGreaterThan(0);
    const peer = connect({ host: listening.host, port: listening.port });
    await once(peer, 'connect');
    const { socket, remoteHost } = await established;
    expect(remoteHost).toEqual({ host: '127.0.0.1', port: peer.localPort });
    peer.write('hello client');
    const [data] = (await once(socket, 'data')) as [Buffer];
    expect(data.toString()).toBe('hello client');
    peer.destroy();
    socket.destroy();
  });

  test('a bindreply rule can refuse the peer', async () => {
    const proxy = await startProxy({
      rules: [
        { type: 'client', action: 'pass' },
        { type: 'socks', action: 'block', command: ['bindreply'], from: '127.0.0.2' },
        { type: 'socks', action: 'pass' },
      ],
    });
    const client = await RawClient.connect(proxy.port);
    client.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(2, '0.0.0.0', 0)]));
    await client.read(2);
    const first = await client.read(10);
    const port = first.readUInt16BE(8);
    const refused = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
    refused.on('error', () => undefined);
    await once(refused, 'close');
    await proxy.waitForLog(/block socks-rule #1: bindreply from 127\.0\.0\.2/);
    const welcome = connect({ host: '127.0.0.1', port });
    await once(welcome, 'connect');
    expect((await client.read(10))[1]).toBe(0);
    welcome.destroy();
    client.destroy();
  });
});
