// "workers": N (Dante's -N) and "user" (Dante's user.unprivileged), on the
// real built proxy: connections spread over SO_REUSEPORT workers, a killed
// worker is replaced without a refused connection, signals reach every
// worker, and every process ends up unprivileged.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { control } from '../ocf/control-client.js';
import { createServer } from 'node:net';
import type { RuleFile } from '../src/config/types.js';
import { RawClient, type TestServer, freePort, listen, socks5Request, startEchoServer } from './helpers/net.js';
import { eventually } from './helpers/hostile.js';
import { childrenOf, isAlive, processesWith } from './helpers/processes.js';
import { OPEN_RULES, type RunningProxy, reloadWorkers, startProxy, stopAllProxies } from './helpers/proxy.js';
import { downloadThrough } from './helpers/stream-end.js';

let echo: TestServer;
/** Sends to every client until it goes: a download that only a fault ends. */
let endless: TestServer;
beforeAll(async () => {
  echo = await startEchoServer();
  const block = Buffer.alloc(64 * 1024, 'x');
  endless = await listen(
    createServer((socket) => {
      socket.on('error', () => undefined);
      const more = (): void => {
        while (!socket.destroyed && socket.write(block));
      };
      socket.on('drain', more);
      more();
    }),
  );
});
afterEach(stopAllProxies);
afterAll(async () => {
  await echo.close();
  await endless.close();
});

/** One full session: handshake, CONNECT, an echo round trip, close. Rejects on any failure. */
async function session(proxy: RunningProxy, timeoutMs = 8000): Promise<void> {
  const client = await RawClient.connect(proxy.port);
  try {
    client.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, '127.0.0.1', echo.port), Buffer.from('ping')]));
    const reply = await client.read(2 + 10 + 4, timeoutMs);
    if (reply[3] !== 0 || reply.subarray(12).toString() !== 'ping') throw new Error(`bad reply ${reply.toString('hex')}`);
  } finally {
    client.destroy();
  }
}

/** A CONNECT to the echo server held open: the client once admitted, undefined when the proxy closed it (over session.max). */
async function openSession(port: number, host = '127.0.0.1'): Promise<RawClient | undefined> {
  const client = await RawClient.connect(port, host);
  client.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, '127.0.0.1', echo.port)]));
  try {
    // A refused client is closed at once; an admitted one may take a while on a loaded machine.
    if ((await client.read(12, 10000))[3] === 0) return client;
  } catch {
    /* closed over the limit */
  }
  client.destroy();
  return undefined;
}

/** Real, effective, saved and filesystem uid of a process. */
function uids(pid: number): number[] {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Uid:'))!;
  return line.split(/\s+/).slice(1).map(Number);
}

test('connections go to the workers in turn (the round-robin program on the SO_REUSEPORT group)', async () => {
  const proxy = await startProxy({ workers: 3, rules: OPEN_RULES });
  await proxy.waitForLog(/ready with 3 workers/);
  expect(proxy.logs()).toMatch(/with 3 SO_REUSEPORT sockets; connections go to the workers in turn/);
  for (let i = 0; i < 30; i++) await session(proxy);
  // The kernel's hash alone split 30 connections evenly only by luck (64 over 2 workers landed 39/25 here).
  const perWorker = new Map<string, number>();
  for (const m of proxy.logs().matchAll(/\[worker (\d+) \d+\] session \d+ .*pass socks-rule/g)) perWorker.set(m[1]!, (perWorker.get(m[1]!) ?? 0) + 1);
  expect([...perWorker.entries()].sort()).toEqual([['1', 10], ['2', 10], ['3', 10]]);
  expect(childrenOf(proxy.pid)).toHaveLength(3);
  // The pid file names the supervisor, the process the OCF agent tracks.
  expect(Number(readFileSync(`${proxy.dir}/hasocks.pid`, 'utf8'))).toBe(proxy.pid);
});

test('SIGKILL of a worker under a steady stream of sessions: no new session is refused, a replacement appears', async () => {
  const proxy = await startProxy({ workers: 2, rules: OPEN_RULES });
  await proxy.waitForLog(/ready with 2 workers/);
  const victimLine = /\[worker (\d+) (\d+)\] hasocks \d+ ready/.exec(proxy.logs())!;
  const [number, victim] = [victimLine[1], Number(victimLine[2])];
  // Sessions the victim had already accepted die with it; that is unavoidable.
  // Every session that starts after the kill must be accepted and served,
  // because the supervisor keeps the dead worker's listener open for its replacement.
  const failures: Array<{ startedAt: number; error: string }> = [];
  let completed = 0;
  let killedAt = Infinity;
  let running = true;
  const loop = async (): Promise<void> => {
    while (running) {
      const startedAt = Date.now();
      await session(proxy).then(
        () => completed++,
        (err: Error) => failures.push({ startedAt, error: err.message }),
      );
    }
  };
  const loops = [loop(), loop(), loop(), loop()];
  try {
    // The kill comes into a steady stream, and the stream goes on until the replacement has served sessions too.
    expect(await eventually(() => completed >= 10, 10000)).toBe(true);
    killedAt = Date.now();
    process.kill(victim, 'SIGKILL');
    await proxy.waitForLog(new RegExp(`worker ${number} \\(pid ${victim}\\) exited with SIGKILL; \\d+ open session\\(s\\) ended with it; restarting`));
    const replacement = /restarted as pid (\d+)/.exec(await proxy.waitForLog(new RegExp(`worker ${number} restarted as pid \\d+`)))![1];
    await proxy.waitForLog(new RegExp(`\\[worker ${number} ${replacement}\\] session \\d+ .*pass socks-rule`));
    const afterRestart = completed;
    expect(await eventually(() => completed >= afterRestart + 10, 10000)).toBe(true);
  } finally {
    running = false;
    await Promise.all(loops);
  }
  expect(failures.filter((f) => f.startedAt > killedAt)).toEqual([]);
  expect(failures.length).toBeLessThanOrEqual(4);
  expect(completed).toBeGreaterThan(20);
  expect(childrenOf(proxy.pid)).toHaveLength(2);
  expect(childrenOf(proxy.pid)).not.toContain(victim);
});

test('SIGTERM while a crashed worker waits for its restart: no worker starts after the stop, and every process exits', async () => {
  const proxy = await startProxy({ workers: 2, rules: OPEN_RULES });
  try {
    await proxy.waitForLog(/ready with 2 workers/);
    const first = Number(/\[worker 1 (\d+)\] hasocks \d+ ready/.exec(proxy.logs())![1]);
    process.kill(first, 'SIGKILL');
    // The replacement dies at once too, so the supervisor waits a second before the next try, and the stop comes in that second.
    let second = 0;
    expect(await eventually(() => (second = childrenOf(proxy.pid).find((pid) => pid !== first && !proxy.logs().includes(`[worker 2 ${pid}]`)) ?? 0) > 0, 10000)).toBe(true);
    process.kill(second, 'SIGKILL');
    await proxy.waitForLog(new RegExp(`worker 1 \\(pid ${second}\\) exited with SIGKILL; .*restarting in 1s`));
    const stopped = proxy.stop();
    expect(await Promise.race([stopped, new Promise((resolve) => setTimeout(() => resolve('still running'), 8000))])).toBe(0);
    expect(processesWith(proxy.configPath)).toEqual([]);
  } finally {
    // A worker started after the stop holds the proxy's output open, so the stop above never ends without this.
    for (const pid of processesWith(proxy.configPath)) process.kill(pid, 'SIGKILL');
  }
});

test('a worker that dies is logged with the number of sessions it took with it, which no disconnect line names', async () => {
  const proxy = await startProxy({ workers: 2, rules: OPEN_RULES });
  await proxy.waitForLog(/ready with 2 workers/);
  const victim = Number(/\[worker 1 (\d+)\] hasocks \d+ ready/.exec(proxy.logs())![1]);
  const held: RawClient[] = [];
  let onVictim = 0;
  try {
    // The round-robin gives the victim every other client: open sessions until it holds three.
    while (onVictim < 3) {
      const client = await RawClient.connect(proxy.port);
      held.push(client);
      client.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, '127.0.0.1', echo.port)]));
      expect((await client.read(12))[3]).toBe(0);
      const endpoint = `${client.socket.localAddress!}:${client.socket.localPort!}`.replace(/\./g, '\\.');
      if ((await proxy.waitForLog(new RegExp(`session \\d+ ${endpoint}: pass socks-rule`))).includes(`[worker 1 ${victim}]`)) onVictim++;
    }
    process.kill(victim, 'SIGKILL');
    await proxy.waitForLog(new RegExp(`worker 1 \\(pid ${victim}\\) exited with SIGKILL; 3 open session\\(s\\) ended with it; restarting`));
    expect(proxy.logs()).not.toMatch(new RegExp(`\\[worker 1 ${victim}\\] .*disconnect`));
  } finally {
    for (const client of held) client.destroy();
  }
});

test('a worker killed in the middle of a download resets its client: the stream never looks complete', async () => {
  const proxy = await startProxy({ workers: 2, rules: OPEN_RULES });
  await proxy.waitForLog(/ready with 2 workers/);
  const download = downloadThrough(proxy.port, endless.port);
  const port = await download.port;
  await download.receiving;
  const [, number, pid] = /\[worker (\d) (\d+)\]/.exec(await proxy.waitForLog(new RegExp(`session \\d+ 127\\.0\\.0\\.1:${port}: pass socks-rule`)))!;
  process.kill(Number(pid), 'SIGKILL');
  // The kernel closes what the worker held; a FIN from it would end the stream as if the target had.
  expect((await download.ended).end).toBe('reset');
  await proxy.waitForLog(new RegExp(`worker ${number} \\(pid ${pid}\\) exited with SIGKILL; 1 open session\\(s\\) ended with it`));
});

test('SIGHUP reaches every worker; SIGTERM stops them all and the supervisor exits 0', async () => {
  const proxy = await startProxy({ workers: 2, rules: OPEN_RULES });
  await proxy.waitForLog(/ready with 2 workers/);
  proxy.writeConfig({ internal: [`127.0.0.1:${proxy.port}`], workers: 2, rules: [{ type: 'client', action: 'pass' }, { type: 'socks', action: 'block' }] });
  proxy.signal('SIGHUP');
  await proxy.waitForLog(/\[worker 1 \d+\] reloaded config/);
  await proxy.waitForLog(/\[worker 2 \d+\] reloaded config/);
  await expect(session(proxy)).rejects.toThrow(/bad reply|closed/);
  const workers = childrenOf(proxy.pid);
  expect(await proxy.stop()).toBe(0);
  for (const pid of workers) expect(() => process.kill(pid, 0)).toThrow();
});

test('after a rejected reload, a worker that dies comes back on the config in force, not on the rejected file', async () => {
  const proxy = await startProxy({ workers: 2, rules: OPEN_RULES });
  await proxy.waitForLog(/ready with 2 workers/);
  await reloadWorkers(proxy, '{ "workers": 2, "internal": [', 2, 'reload rejected, the old config stays in force');
  const victim = Number(/\[worker 1 (\d+)\] hasocks \d+ ready/.exec(proxy.logs())![1]);
  process.kill(victim, 'SIGKILL');
  // A replacement that read the broken file would exit at once, again and again, while the kernel queued every other client to its listener.
  const replacement = /restarted as pid (\d+)/.exec(await proxy.waitForLog(/worker 1 restarted as pid \d+/))![1];
  for (let i = 0; i < 4; i++) await session(proxy);
  expect(proxy.logs()).toMatch(new RegExp(`\\[worker 1 ${replacement}\\] session \\d+ .*pass socks-rule`));
  expect(proxy.logs()).not.toMatch(/exited with code/);
});

test('a worker that dies comes back on the config the others took, even if the file has changed since', async () => {
  const controlDir = mkdtempSync(join(tmpdir(), 'hasocks-ctl-'));
  try {
    const proxy = await startProxy({ workers: 2, rules: OPEN_RULES }, { args: ['--control-dir', controlDir] });
    await proxy.waitForLog(/ready with 2 workers/);
    // Through the agent's path: a reload to another file, whose rules block every request.
    const blocking = join(proxy.dir, 'blocking.json');
    const blockingConfig = { internal: [`127.0.0.1:${proxy.port}`], workers: 2, rules: [{ type: 'client' as const, action: 'pass' as const }, { type: 'socks' as const, action: 'block' as const }] };
    writeFileSync(blocking, JSON.stringify(blockingConfig));
    expect(await control(join(controlDir, 'control.sock'), { cmd: 'reload', config: blocking })).toEqual({ ok: true });
    // Then the file changes with no reload: what runs is still what the workers took.
    writeFileSync(blocking, JSON.stringify({ ...blockingConfig, rules: OPEN_RULES }));
    const victim = Number(/\[worker 1 (\d+)\] hasocks \d+ ready/.exec(proxy.logs())![1]);
    process.kill(victim, 'SIGKILL');
    const replacement = /restarted as pid (\d+)/.exec(await proxy.waitForLog(/worker 1 restarted as pid \d+/))![1];
    for (let i = 0; i < 4; i++) await expect(session(proxy)).rejects.toThrow(/bad reply|closed/);
    expect(proxy.logs()).toMatch(new RegExp(`\\[worker 1 ${replacement}\\] session \\d+ .*block socks-rule`));
    expect(proxy.logs()).not.toMatch(new RegExp(`\\[worker 1 ${replacement}\\] session \\d+ .*pass socks-rule`));
  } finally {
    rmSync(controlDir, { recursive: true, force: true });
  }
});

test('"user": every process runs as the unprivileged user after start (single process and workers)', async () => {
  const nobody = 65534;
  const single = await startProxy({ user: 'nobody', rules: OPEN_RULES });
  await session(single);
  expect(uids(single.pid)).toEqual([nobody, nobody, nobody, nobody]);
  await single.stop();

  const pool = await startProxy({ user: 'nobody', workers: 2, rules: OPEN_RULES });
  await pool.waitForLog(/ready with 2 workers/);
  await session(pool);
  const all = [pool.pid, ...childrenOf(pool.pid)];
  expect(all).toHaveLength(3);
  for (const pid of all) expect(uids(pid)).toEqual([nobody, nobody, nobody, nobody]);
});

test('a shutdown request reaches every worker with its drain time (0: the agent stopping a demoted instance)', async () => {
  const controlDir = mkdtempSync(join(tmpdir(), 'hasocks-ctl-'));
  try {
    const proxy = await startProxy({ workers: 2, rules: OPEN_RULES, timeout: { drain: 60 } }, { args: ['--control-dir', controlDir] });
    await proxy.waitForLog(/ready with 2 workers/);
    const open = await RawClient.connect(proxy.port);
    open.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, '127.0.0.1', echo.port)]));
    expect((await open.read(12))[3]).toBe(0);
    const started = Date.now();
    expect(await control(join(controlDir, 'control.sock'), { cmd: 'shutdown', drain: 0 })).toEqual({ ok: true });
    // Not timeout.drain (60 s): the open session is closed at once and every process exits.
    expect(await open.waitForEnd(5000)).toBe(true);
    // The shutdown request alone ends every process: a SIGTERM from stop() meeting the exit could turn it into a death by signal.
    expect(await proxy.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(10000);
    open.destroy();
  } finally {
    rmSync(controlDir, { recursive: true, force: true });
  }
});

test('session.max holds for the node, whatever the number of workers; a killed worker gives its places back', async () => {
  const controlDir = mkdtempSync(join(tmpdir(), 'hasocks-ctl-'));
  try {
    const proxy = await startProxy({ workers: 2, rules: OPEN_RULES, session: { max: 4 } }, { args: ['--control-dir', controlDir] });
    await proxy.waitForLog(/ready with 2 workers/);
    const open = (): Promise<RawClient | undefined> => openSession(proxy.port);
    const held: RawClient[] = [];
    for (let i = 0; i < 8; i++) {
      const client = await open();
      if (client) held.push(client);
    }
    // The round-robin hands the 8 clients to both workers in turn: each alone would have taken 4.
    expect(held).toHaveLength(4);
    const status = await control(join(controlDir, 'control.sock'), { cmd: 'status' });
    expect(status).toMatchObject({ ok: true, status: { sessions: 4, sessionMax: 4 } });
    held.pop()!.destroy();
    await proxy.waitForLog(/disconnect/);
    const again = await open();
    expect(again).toBeDefined();
    held.push(again!);
    // A worker that dies takes its sessions, and so their places, with it.
    const [worker] = childrenOf(proxy.pid);
    process.kill(worker!, 'SIGKILL');
    await proxy.waitForLog(/restarted as pid/);
    const survivors = (await Promise.all(held.map((c) => c.waitForEnd(3000)))).filter((ended) => !ended).length;
    const fresh: RawClient[] = [];
    for (let i = 0; i < 8; i++) {
      const client = await open();
      if (client) fresh.push(client);
    }
    expect(survivors + fresh.length).toBe(4);
    for (const client of [...held, ...fresh]) client.destroy();
  } finally {
    rmSync(controlDir, { recursive: true, force: true });
  }
});

describe.each<[string, string | undefined]>([
  ['as root', undefined],
  // The kernel forgets a parent-death signal when credentials change: the worker asks again after the drop.
  ['after the drop to "user"', 'nobody'],
])('a worker whose event loop cannot run dies with its supervisor (%s)', (_name, user) => {
  test('SIGKILL of the supervisor kills a stopped worker too, so no listener is left taking clients', async () => {
    const proxy = await startProxy({ workers: 2, rules: OPEN_RULES, ...(user ? { user } : {}) });
    await proxy.waitForLog(/ready with 2 workers/);
    await session(proxy);
    const workers = childrenOf(proxy.pid);
    expect(workers).toHaveLength(2);
    // A stopped worker stands for one whose event loop is blocked: it cannot see its IPC channel close.
    process.kill(workers[0]!, 'SIGSTOP');
    try {
      process.kill(proxy.pid, 'SIGKILL');
      // Orphans are reaped by init (or this test's subreaper) at once; without the kernel's signal the stopped one would stay.
      expect(await eventually(() => workers.every((pid) => !isAlive(pid)), 5000)).toBe(true);
      // Nothing holds the port any more: a new client is refused, not queued to a stopped worker.
      // A killed multi-threaded process is a zombie before its last thread has closed its files: the port goes soon after.
      const refused = async (): Promise<boolean> =>
        RawClient.connect(proxy.port).then(
          (client) => (client.destroy(), false),
          (err: Error) => /ECONNREFUSED/.test(err.message),
        );
      expect(await eventually(refused, 5000)).toBe(true);
    } finally {
      for (const pid of workers) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});

test('with two internal addresses, each worker knows which inherited listener is which, and session.max holds across both', async () => {
  const listeners = [
    { host: '127.0.0.1', port: await freePort() },
    { host: '127.0.0.2', port: await freePort('127.0.0.2') },
  ];
  const rules: RuleFile[] = [{ type: 'client', action: 'pass', log: ['connect'] }, { type: 'socks', action: 'pass' }];
  const proxy = await startProxy({ internal: listeners.map((l) => `${l.host}:${l.port}`), workers: 2, rules, session: { max: 2 } });
  await proxy.waitForLog(/ready with 2 workers/);
  const open = ({ host, port }: { host: string; port: number }): Promise<RawClient | undefined> => openSession(port, host);
  const held: RawClient[] = [];
  for (const listener of listeners) {
    const client = await open(listener);
    expect(client).toBeDefined();
    held.push(client!);
    // The session knows the listener it came through, which the worker learned from its environment.
    const line = `client ${client!.socket.localAddress}:${client!.socket.localPort} -> ${listener.host}:${listener.port}`;
    await proxy.waitForLog(new RegExp(line.replace(/\./g, '\\.')));
  }
  // Both places are taken, whichever worker and listener took them.
  for (const listener of listeners) expect(await open(listener)).toBeUndefined();
  for (const client of held) client.destroy();
});
