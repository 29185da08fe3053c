// Dante-style rules, one test per match key, default deny, the known bypass
// attempts, and per-rule session limits. Each runs the built proxy.
import { connect } from 'node:net';
import { once } from 'node:events';
import type { RuleFile } from '../src/config/types.js';
import { type Netns, createNetns } from './helpers/netns.js';
import { RawClient, type TestServer, sessionEndLine, socks5Request, startEchoServer } from './helpers/net.js';
import { REPO, type RunningProxy, startProxy, stopAllProxies } from './helpers/proxy.js';
import { join } from 'node:path';

let echo: TestServer;
beforeAll(async () => {
  echo = await startEchoServer();
});
afterEach(stopAllProxies);
afterAll(() => echo.close());

const PASS_CLIENTS: RuleFile = { type: 'client', action: 'pass' };

/** The reply code of one request (CONNECT by default) from `localAddress`, or 'closed' when the proxy hangs up first. */
async function code(proxy: RunningProxy, host: string, port: number, command = 1, localAddress = '127.0.0.1', proxyHost = '127.0.0.1'): Promise<number | 'closed'> {
  const socket = connect({ host: proxyHost, port: proxy.port, localAddress });
  await once(socket, 'connect');
  const client = RawClient.wrap(socket);
  client.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(command, host, port)]));
  try {
    await client.read(2, 2000);
    const reply = await client.read(4, 3000);
    return reply[1]!;
  } catch {
    return 'closed';
  } finally {
    client.destroy();
  }
}

test('no rules at all: default deny closes every client', async () => {
  const proxy = await startProxy({ rules: [] });
  expect(await code(proxy, '127.0.0.1', echo.port)).toBe('closed');
  await proxy.waitForLog(/block \(no rule matched\): client 127\.0\.0\.1/);
});

test('a client rule but no socks rule: the request is refused with 0x02', async () => {
  const proxy = await startProxy({ rules: [PASS_CLIENTS] });
  expect(await code(proxy, '127.0.0.1', echo.port)).toBe(0x02);
});

test('client rule `from`: a CIDR of client addresses', async () => {
  const proxy = await startProxy({ rules: [{ type: 'client', action: 'pass', from: '127.0.0.2/32' }, { type: 'socks', action: 'pass' }] });
  expect(await code(proxy, '127.0.0.1', echo.port, 1, '127.0.0.1')).toBe('closed');
  expect(await code(proxy, '127.0.0.1', echo.port, 1, '127.0.0.2')).toBe(0);
});

test('client rule `to` and `port`: the address and port the client connected to', async () => {
  const { freePort } = await import('./helpers/net.js');
  const port = await freePort();
  const other = await freePort();
  const proxy = await startProxy({
    internal: [`127.0.0.1:${port}`, `127.0.0.3:${port}`, `127.0.0.1:${other}`],
    rules: [{ type: 'client', action: 'pass', to: '127.0.0.3', port }, { type: 'socks', action: 'pass' }],
  });
  const via = async (host: string, listenPort: number): Promise<number | 'closed'> => code({ ...proxy, port: listenPort }, '127.0.0.1', echo.port, 1, '127.0.0.1', host);
  expect(await via('127.0.0.3', port)).toBe(0);
  expect(await via('127.0.0.1', port)).toBe('closed');
  expect(await via('127.0.0.1', other)).toBe('closed');
});

test('socks rule `to`: a CIDR of destinations', async () => {
  const proxy = await startProxy({ rules: [PASS_CLIENTS, { type: 'socks', action: 'pass', to: '127.0.0.1/32' }] });
  expect(await code(proxy, '127.0.0.1', echo.port)).toBe(0);
  expect(await code(proxy, '127.0.0.2', echo.port)).toBe(0x02);
});

test('socks rule `to`: a host name matches the name asked for, not the same IP given as a literal', async () => {
  const proxy = await startProxy({ rules: [PASS_CLIENTS, { type: 'socks', action: 'pass', to: 'localhost' }] });
  expect(await code(proxy, 'localhost', echo.port)).toBe(0);
  expect(await code(proxy, '127.0.0.1', echo.port)).toBe(0x02);
});

test('socks rule `port`: one port, a range, a list', async () => {
  for (const port of [echo.port, `${echo.port - 1}-${echo.port + 1}`, [1, `${echo.port}-${echo.port}`]]) {
    const proxy = await startProxy({ rules: [PASS_CLIENTS, { type: 'socks', action: 'pass', port }] });
    expect(await code(proxy, '127.0.0.1', echo.port)).toBe(0);
    expect(await code(proxy, '127.0.0.1', echo.port + 2)).toBe(0x02);
    await proxy.stop();
  }
});

test('socks rule `command`: connect only refuses BIND and UDP ASSOCIATE', async () => {
  const proxy = await startProxy({ rules: [PASS_CLIENTS, { type: 'socks', action: 'pass', command: ['connect'] }] });
  expect(await code(proxy, '127.0.0.1', echo.port, 1)).toBe(0);
  expect(await code(proxy, '0.0.0.0', 0, 2)).toBe(0x02);
  expect(await code(proxy, '0.0.0.0', 0, 3)).toBe(0x02);
});

test('socks rule `protocol`: tcp only refuses UDP ASSOCIATE', async () => {
  const proxy = await startProxy({ rules: [PASS_CLIENTS, { type: 'socks', action: 'pass', protocol: ['tcp'] }] });
  expect(await code(proxy, '127.0.0.1', echo.port, 1)).toBe(0);
  expect(await code(proxy, '0.0.0.0', 0, 3)).toBe(0x02);
});

test('an IPv4 client on a dual-stack listener (::ffff:127.0.0.1) matches its IPv4 rule', async () => {
  const { freePort } = await import('./helpers/net.js');
  const port = await freePort('::');
  const proxy = await startProxy({
    internal: [`[::]:${port}`],
    rules: [{ type: 'client', action: 'pass', from: '127.0.0.0/8' }, { type: 'socks', action: 'pass', from: '127.0.0.0/8', to: '127.0.0.0/8' }],
  });
  expect(await code({ ...proxy, port }, '127.0.0.1', echo.port)).toBe(0);
  await proxy.waitForLog(/pass client-rule #1: client 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:/);
});

test('a name that resolves into a blocked network is blocked', async () => {
  const proxy = await startProxy({
    rules: [PASS_CLIENTS, { type: 'socks', action: 'block', to: '127.0.0.0/8' }, { type: 'socks', action: 'block', to: '::1/128' }, { type: 'socks', action: 'pass' }],
  });
  expect(await code(proxy, 'localhost', echo.port)).toBe(0x02);
  expect(await code(proxy, '127.0.0.1', echo.port)).toBe(0x02);
});

describe('names from a hosts file (inside a test namespace)', () => {
  let ns: Netns;
  let nsProxy: RunningProxy;
  const probe = async (host: string, source = '127.0.0.1'): Promise<string> =>
    (JSON.parse((await ns.exec(process.execPath, [join(REPO, 'test', 'helpers', 'socks-client.mjs'), 'probe', '127.0.0.1', '1080', host, '7000', source])).stdout) as { code: string }).code;

  beforeAll(async () => {
    ns = await createNetns({ 'www.example.test': '127.0.0.1', 'example.test': '127.0.0.1', 'elsewhere.test': '127.0.0.1', 'client2.clients.test': '127.0.0.2' });
  });
  afterEach(async () => {
    await nsProxy?.stop();
  });
  afterAll(async () => {
    await ns?.remove();
  });

  test('`from` a host name matches the addresses it resolves to', async () => {
    nsProxy = await startProxy({ internal: ['127.0.0.1:1080'], rules: [{ type: 'client', action: 'pass', from: 'client2.clients.test' }, { type: 'socks', action: 'pass' }] }, { netns: ns.name });
    expect(await probe('127.0.0.1', '127.0.0.2')).toBe('05');
    expect(await probe('127.0.0.1', '127.0.0.1')).toBe('closed');
  });

  test('`from` a .domain matches clients whose reverse lookup falls in it', async () => {
    nsProxy = await startProxy({ internal: ['127.0.0.1:1080'], rules: [{ type: 'client', action: 'pass', from: '.clients.test' }, { type: 'socks', action: 'pass' }] }, { netns: ns.name });
    expect(await probe('127.0.0.1', '127.0.0.2')).toBe('05');
    expect(await probe('127.0.0.1', '127.0.0.1')).toBe('closed');
  });

  test('`.domain` matches the domain and its subdomains, nothing else', async () => {
    nsProxy = await startProxy({ internal: ['127.0.0.1:1080'], rules: [PASS_CLIENTS, { type: 'socks', action: 'pass', to: '.example.test' }] }, { netns: ns.name });
    // Nothing listens on port 7000: a passed request gets 0x05, a blocked one 0x02.
    expect(await probe('www.example.test')).toBe('05');
    expect(await probe('example.test')).toBe('05');
    expect(await probe('elsewhere.test')).toBe('02');
    expect(await probe('127.0.0.1')).toBe('02');
  });
});

describe('per-rule session limits', () => {
  async function open(proxy: RunningProxy, localAddress = '127.0.0.1'): Promise<RawClient> {
    const socket = connect({ host: '127.0.0.1', port: proxy.port, localAddress });
    await once(socket, 'connect');
    const client = RawClient.wrap(socket);
    client.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, '127.0.0.1', echo.port)]));
    await client.read(2);
    const reply = await client.read(10);
    if (reply[1] !== 0) {
      client.destroy();
      throw new Error(`reply ${reply[1]}`);
    }
    return client;
  }

  test('session.max', async () => {
    const proxy = await startProxy({ rules: [PASS_CLIENTS, { type: 'socks', action: 'pass', session: { max: 2 } }] });
    const a = await open(proxy);
    const b = await open(proxy);
    await expect(open(proxy)).rejects.toThrow('reply 2');
    const aEnded = sessionEndLine(a);
    a.destroy();
    await proxy.waitForLog(aEnded);
    const c = await open(proxy);
    b.destroy();
    c.destroy();
    await proxy.waitForLog(/session\.max 2 reached/);
  });

  test('session.state.max per client address', async () => {
    const proxy = await startProxy({ rules: [PASS_CLIENTS, { type: 'socks', action: 'pass', session: { state: { key: 'from', max: 1 } } }] });
    const a = await open(proxy, '127.0.0.1');
    await expect(open(proxy, '127.0.0.1')).rejects.toThrow('reply 2');
    const b = await open(proxy, '127.0.0.2');
    a.destroy();
    b.destroy();
  });

  test('session.throttle', async () => {
    const proxy = await startProxy({ rules: [{ type: 'client', action: 'pass', session: { throttle: '2/60' } }, { type: 'socks', action: 'pass' }] });
    (await open(proxy)).destroy();
    (await open(proxy)).destroy();
    expect(await code(proxy, '127.0.0.1', echo.port)).toBe('closed');
    await proxy.waitForLog(/session\.throttle 2\/60 exceeded/);
  });
});

test('log: data logs each chunk', async () => {
  const proxy = await startProxy({ rules: [PASS_CLIENTS, { type: 'socks', action: 'pass', log: ['data'] }] });
  const client = await RawClient.connect(proxy.port);
  client.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, '127.0.0.1', echo.port), Buffer.from('AB')]));
  await client.read(14);
  client.destroy();
  await proxy.waitForLog(/data up 2 bytes: 4142/);
  await proxy.waitForLog(/data down 2 bytes: 4142/);
});
