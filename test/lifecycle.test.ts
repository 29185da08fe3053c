// Timeouts, limits, reload and shutdown of the real proxy process.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { control } from '../ocf/control-client.js';
import { socksConnect, socksGreeting } from '../src/client/socks-client.js';
import type { RuleFile } from '../src/config/types.js';
import { RawClient, type TestServer, freePort, sessionEndLine, socks5Request, startEchoServer } from './helpers/net.js';
import { OPEN_RULES, type RunningProxy, startProxy, stopAllProxies } from './helpers/proxy.js';

let echo: TestServer;

beforeAll(async () => {
  echo = await startEchoServer();
});
afterEach(stopAllProxies);
afterAll(() => echo.close());

/** A CONNECT session through `proxy` to the echo server, checked with one round trip. */
async function openSession(proxy: RunningProxy): Promise<RawClient> {
  const client = await RawClient.connect(proxy.port);
  client.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, '127.0.0.1', echo.port)]));
  expect([...(await client.read(2))]).toEqual([5, 0]);
  const reply = await client.read(10);
  expect(reply[1]).toBe(0);
  await expectEcho(client, 'hello');
  return client;
}

async function expectEcho(client: RawClient, text: string): Promise<void> {
  client.send(Buffer.from(text));
  expect((await client.read(text.length)).toString()).toBe(text);
}

/** The reply code of a fresh CONNECT to the echo server. */
async function connectCode(proxy: RunningProxy): Promise<number> {
  const client = await RawClient.connect(proxy.port);
  client.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, '127.0.0.1', echo.port)]));
  await client.read(2);
  const code = (await client.read(4))[1]!;
  client.destroy();
  return code;
}

test('negotiate timeout drops a client that stalls mid-handshake', async () => {
  const proxy = await startProxy({ timeout: { negotiate: 1 } });
  const client = await RawClient.connect(proxy.port);
  const started = Date.now();
  client.send([0x05, 0x01]); // greeting cut short: the method byte never comes
  expect(await client.waitForEnd(4000)).toBe(true);
  expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  await proxy.waitForLog(/negotiate timeout/);
  client.destroy();
});

test('io timeout closes a session idle both ways', async () => {
  const proxy = await startProxy({ timeout: { io: 1 } });
  const client = await openSession(proxy);
  const started = Date.now();
  expect(await client.waitForEnd(4000)).toBe(true);
  expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  await proxy.waitForLog(/disconnect .* io timeout/);
});

test('session.max: a client over the limit is closed, open sessions carry on', async () => {
  const proxy = await startProxy({ session: { max: 2 } });
  const first = await openSession(proxy);
  const second = await openSession(proxy);
  const third = await RawClient.connect(proxy.port);
  third.send([5, 1, 0]);
  expect(await third.waitForEnd()).toBe(true);
  await expect(third.read(1, 200)).rejects.toThrow(/closed after 0/);
  await expectEcho(first, 'still here');
  await expectEcho(second, 'me too');
  await proxy.waitForLog(/session limit 2 reached/);
  // A slot freed is a slot usable again.
  const firstEnded = sessionEndLine(first);
  first.destroy();
  await proxy.waitForLog(firstEnded);
  const fourth = await openSession(proxy);
  fourth.destroy();
  second.destroy();
});

test('SIGHUP with a good file: new rules for new sessions, open sessions survive', async () => {
  const proxy = await startProxy();
  const open = await openSession(proxy);
  proxy.writeConfig({
    internal: [`127.0.0.1:${proxy.port}`],
    rules: [
      { type: 'client', action: 'pass', from: '0/0' },
      { type: 'socks', action: 'block', to: '127.0.0.0/8' },
    ],
  });
  proxy.signal('SIGHUP');
  await proxy.waitForLog(/reloaded config .* 1 open session\(s\) kept/);
  expect(await connectCode(proxy)).toBe(0x02);
  await expectEcho(open, 'survived the reload');
  open.destroy();
});

test('SIGHUP with a broken file: rejected with a log line, the old config keeps running', async () => {
  const proxy = await startProxy();
  const open = await openSession(proxy);
  proxy.writeConfig({ internal: [`127.0.0.1:${proxy.port}`], rules: [{ type: 'client', action: 'maybe' }] } as never);
  proxy.signal('SIGHUP');
  const line = await proxy.waitForLog(/reload rejected/);
  expect(line).toContain(proxy.configPath);
  expect(proxy.logs()).toMatch(/\/rules\/0\/action: must be one of "pass", "block"/);
  expect(await connectCode(proxy)).toBe(0x00);
  await expectEcho(open, 'old config still on');
  open.destroy();
});

test('SIGTERM drains: no new clients, open sessions finish, then exit 0', async () => {
  const proxy = await startProxy({ timeout: { drain: 10 } });
  const open = await openSession(proxy);
  proxy.signal('SIGTERM');
  await proxy.waitForLog(/draining 1 session/);
  const refused = connect({ host: '127.0.0.1', port: proxy.port });
  const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
  expect(err.code).toBe('ECONNREFUSED');
  await expectEcho(open, 'draining but alive');
  const started = Date.now();
  open.socket.end();
  expect(await proxy.stop()).toBe(0);
  expect(Date.now() - started).toBeLessThan(3000);
});

test('SIGTERM drain time over: remaining sessions are closed, exit 0', async () => {
  const proxy = await startProxy({ timeout: { drain: 1 } });
  const open = await openSession(proxy);
  const started = Date.now();
  proxy.signal('SIGTERM');
  expect(await open.waitForEnd(5000)).toBe(true);
  expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  const code = await proxy.stop();
  expect(proxy.logs()).toMatch(/shutdown: drain time over/);
  expect(code).toBe(0);
});

test('reload that adds a listener opens it; the old one keeps its sessions', async () => {
  const proxy = await startProxy();
  const open = await openSession(proxy);
  const { freePort } = await import('./helpers/net.js');
  const extra = await freePort();
  proxy.writeConfig({ internal: [`127.0.0.1:${proxy.port}`, `127.0.0.1:${extra}`], rules: OPEN_RULES });
  proxy.signal('SIGHUP');
  await proxy.waitForLog(new RegExp(`listening on 127.0.0.1:${extra}`));
  const viaExtra = await RawClient.connect(extra);
  viaExtra.send([5, 1, 0]);
  expect([...(await viaExtra.read(2))]).toEqual([5, 0]);
  viaExtra.destroy();
  await expectEcho(open, 'unchanged');
  open.destroy();
});

/** CPU seconds (user + system) a process has used. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

test('out of descriptors: the listener says so and waits, without spinning, then serves again', async () => {
  const proxy = await startProxy({}, { nofile: 64 });
  // Node holds a few dozen descriptors of its own; 80 silent clients run past the limit.
  const silent: Socket[] = [];
  for (let i = 0; i < 80; i++) silent.push(connect(proxy.port, '127.0.0.1').on('error', () => undefined));
  await proxy.waitForLog(/listener 127\.0\.0\.1:\d+: accept EMFILE/);
  // The listener stays readable while the backlog waits; a poll that kept waking would burn a core.
  const before = cpuSeconds(proxy.pid);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  expect(cpuSeconds(proxy.pid) - before).toBeLessThan(0.3);
  for (const socket of silent) socket.destroy();
  const client = await openSession(proxy);
  client.destroy();
}, 30000);

describe('limits that hold against a flood', () => {
  test('at session.max the agent\'s probes over socks.sock still get through, and status shows the limit', async () => {
    await withControlDir(async (dir) => {
      const proxy = await startProxy({ session: { max: 3 } }, { args: ['--control-dir', dir] });
      const held = [await openSession(proxy), await openSession(proxy), await openSession(proxy)];
      const over = await RawClient.connect(proxy.port);
      over.send([5, 1, 0]);
      expect(await over.waitForEnd()).toBe(true);
      await socksGreeting({ path: join(dir, 'socks.sock') }, 2000);
      await socksConnect({ path: join(dir, 'socks.sock') }, '127.0.0.1', echo.port, undefined, 2000);
      const status = await control(join(dir, 'control.sock'), { cmd: 'status' });
      expect(status).toMatchObject({ ok: true, status: { sessions: 3, sessionMax: 3 } });
      for (const client of held) client.destroy();
    });
  });

  test('clients held for a promotion count against session.max', async () => {
    await withControlDir(async (dir) => {
      const proxy = await startProxy({ session: { max: 2 }, timeout: { negotiate: 30 } }, { args: ['--control-dir', dir, '--role', 'unpromoted'] });
      const clients = [await RawClient.connect(proxy.port), await RawClient.connect(proxy.port), await RawClient.connect(proxy.port), await RawClient.connect(proxy.port)];
      // The two over the limit are closed at once, not held until timeout.negotiate.
      expect(await clients[2]!.waitForEnd(2000)).toBe(true);
      expect(await clients[3]!.waitForEnd(2000)).toBe(true);
      expect(clients[0]!.ended || clients[1]!.ended).toBe(false);
      expect(await control(join(dir, 'control.sock'), { cmd: 'promote' })).toEqual({ ok: true });
      for (const client of clients.slice(0, 2)) {
        client.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, '127.0.0.1', echo.port)]));
        expect([...(await client.read(2))]).toEqual([5, 0]);
        expect((await client.read(10))[1]).toBe(0);
      }
      for (const client of clients) client.destroy();
    });
  });

  test('a client held for a promotion is decided and served as arriving where it did: its listener\'s address and port', async () => {
    await withControlDir(async (dir) => {
      const port = await freePort();
      const listenerOnly: RuleFile = { type: 'client', action: 'pass', from: '0/0', to: '127.0.0.1/32', port, log: ['connect'] };
      await startProxy(
        { internal: [`127.0.0.1:${port}`], session: { max: 1 }, timeout: { negotiate: 30 }, rules: [listenerOnly, { type: 'socks', action: 'pass', from: '0/0', to: '0/0' }] },
        { args: ['--control-dir', dir, '--role', 'unpromoted'] },
      );
      const held = await RawClient.connect(port);
      // Refused at session.max: so the first client has been accepted, and is held.
      const over = await RawClient.connect(port);
      expect(await over.waitForEnd(2000)).toBe(true);
      expect(await control(join(dir, 'control.sock'), { cmd: 'promote' })).toEqual({ ok: true });
      // A rule about where clients arrive passes it, and its UDP relay is on that address.
      held.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(3, '0.0.0.0', 0)]));
      expect([...(await held.read(2))]).toEqual([5, 0]);
      const reply = await held.read(10);
      expect(reply[1]).toBe(0);
      expect([...reply.subarray(4, 8)]).toEqual([127, 0, 0, 1]);
      held.destroy();
      over.destroy();
    });
  });

  test('with timeout.negotiate 0 (none), a client held for a promotion waits for it', async () => {
    await withControlDir(async (dir) => {
      const proxy = await startProxy({ session: { max: 1 }, timeout: { negotiate: 0 } }, { args: ['--control-dir', dir, '--role', 'unpromoted'] });
      const held = await RawClient.connect(proxy.port);
      // Refused at session.max only while the first client still holds its place.
      const over = await RawClient.connect(proxy.port);
      expect(await over.waitForEnd(2000)).toBe(true);
      await proxy.waitForLog(/session limit 1 reached/);
      expect(await control(join(dir, 'control.sock'), { cmd: 'promote' })).toEqual({ ok: true });
      held.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, '127.0.0.1', echo.port)]));
      expect([...(await held.read(2))]).toEqual([5, 0]);
      expect((await held.read(10))[1]).toBe(0);
      await expectEcho(held, 'held');
      held.destroy();
      over.destroy();
    });
  });

  test('a malformed control request gets an error reply, and the daemon carries on', async () => {
    await withControlDir(async (dir) => {
      await startProxy({}, { args: ['--control-dir', dir] });
      const path = join(dir, 'control.sock');
      for (const line of ['null', '42', '"status"', '[]', '{}', '{"cmd":5}', '{"cmd":"health"}', '{"cmd":"health","degradedPercent":"x"}', '{"cmd":"reload","config":5}', '{"cmd":"demote","drain":-1}', '{"cmd":"nope"}', 'not json']) {
        const reply = await rawControl(path, line);
        expect([line, reply.ok]).toEqual([line, false]);
      }
      expect(await control(path, { cmd: 'status' })).toMatchObject({ ok: true, status: { role: 'standalone' } });
    });
  });
});

/** Run `body` with a fresh directory for the daemon's control sockets, removed afterwards whatever happens. */
async function withControlDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hasocks-ctl-'));
  try {
    await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One raw line on a control socket, and the parsed reply. */
async function rawControl(path: string, line: string): Promise<{ ok: boolean; error?: string }> {
  const socket = connect(path);
  await once(socket, 'connect');
  socket.write(`${line}\n`);
  let data = '';
  socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
  await once(socket, 'close');
  return JSON.parse(data) as { ok: boolean; error?: string };
}

test('a session.max that the descriptor limit cannot hold is warned about at start', async () => {
  const proxy = await startProxy({ session: { max: 100 } }, { nofile: 300 });
  await proxy.waitForLog(/warn: session\.max 100 may need 664 file descriptors but the limit is 300: .* lower session\.max to 39/);
});
