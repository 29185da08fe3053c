// Log outputs that fail under a running proxy: a full disk (a small tmpfs
// in a mount namespace of the proxy's own, so no real disk fills), a
// syslog daemon that goes away, the logger(1) that carries lines to it
// killed, a log file rotated into a directory the proxy may no longer
// write after its privilege drop, a UDP syslog the kernel will not send
// to, and a stderr pipe whose reader has gone. Each time the proxy keeps
// serving and says once through its other output that the output fails;
// where the fault can heal, the output works again by itself once it has.
import { type Syslogd, startSyslogd } from './helpers/syslogd.js';
import { chmodSync, chownSync, closeSync, constants, existsSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { execa } from 'execa';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawClient, type TestServer, sessionEndLine, socks5Request, startEchoServer } from './helpers/net.js';
import { type RunningProxy, startProxy, stopAllProxies } from './helpers/proxy.js';
import { eventually } from './helpers/hostile.js';
import { childrenOf } from './helpers/processes.js';

let echo: TestServer;
let dir: string;
beforeAll(async () => {
  echo = await startEchoServer();
  dir = mkdtempSync(join(tmpdir(), 'hasocks-log-faults-'));
  chmodSync(dir, 0o755);
});
afterEach(stopAllProxies);
afterAll(async () => {
  await echo.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * One CONNECT round trip through the proxy, checked byte for byte; returns
 * the pattern of the proxy's log line for its end.
 */
async function roundTrip(proxy: RunningProxy): Promise<RegExp> {
  const client = await RawClient.connect(proxy.port);
  const endLine = sessionEndLine(client);
  client.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, '127.0.0.1', echo.port), Buffer.from('ping')]));
  const reply = await client.read(2 + 10 + 4);
  expect([reply[1], reply[3], reply.subarray(12).toString()]).toEqual([0, 0, 'ping']);
  client.socket.end();
  await client.closed;
  await proxy.waitForLog(endLine);
  return endLine;
}

/** How many lines of the proxy's stdout and stderr match. */
const count = (proxy: RunningProxy, pattern: RegExp): number => proxy.logs().split('\n').filter((line) => pattern.test(line)).length;

/** Wait until a file holds a line matching `pattern` (file outputs write off the event loop); false if it never does. */
const fileShows = (path: string, pattern: RegExp): Promise<boolean> => eventually(() => existsSync(path) && pattern.test(readFileSync(path, 'utf8')), 5000);

/** Round trips (each logs lines for the outputs) until `done` holds; false if it does not within `timeoutMs`. */
const roundTripsUntil = (proxy: RunningProxy, done: () => boolean, timeoutMs = 5000): Promise<boolean> =>
  eventually(async () => done() || (await roundTrip(proxy), done()), timeoutMs);

describe('a full disk', () => {
  // A private mount namespace: the tmpfs exists only for the proxy, and goes with it. The
  // second case is the OCF agent's daemon.log on a full /run: stderr is a file there.
  test.each([
    ['a file output', (mount: string) => [join(mount, 'hasocks.log'), 'stderr'], 'exec "$@"', /log output .*hasocks\.log/],
    ['stderr on a file', () => ['stderr', 'stdout'], 'exec "$@" 2>>"$0/hasocks.log"', /log output stderr/],
  ])('%s: its lines are dropped, that is said once through the other output, and lines written after space returns arrive', async (_what, outputs, exec, output) => {
    const mount = mkdtempSync(join(dir, 'tmpfs-'));
    const wrapper = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o size=64k hasocks-test "$0" && ${exec}`, mount];
    const proxy = await startProxy({ logoutput: outputs(mount) }, { wrapper });
    // The test sees that tmpfs through the proxy's own root.
    const seen = (name: string): string => join(`/proc/${proxy.pid}/root`, mount, name);
    const log = seen('hasocks.log');
    expect(await fileShows(log, await roundTrip(proxy))).toBe(true);

    const filler = openSync(seen('filler'), 'w');
    try {
      const block = Buffer.alloc(4096);
      for (;;) writeSync(filler, block);
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      closeSync(filler);
    }
    const fails = new RegExp(`warn: ${output.source} fails: ENOSPC.*; its lines are dropped until it works again`);
    // The file's last page may still take a few lines before the disk is full for it too.
    expect(await roundTripsUntil(proxy, () => count(proxy, fails) > 0)).toBe(true);
    for (let i = 0; i < 5; i++) await roundTrip(proxy);
    expect(count(proxy, fails)).toBe(1);

    rmSync(seen('filler'));
    expect(await fileShows(log, await roundTrip(proxy))).toBe(true);
    await proxy.waitForLog(new RegExp(`warn: ${output.source} works again; \\d+ line\\(s\\) for it lost since `));
    // Every line whole: a line the disk cut in the middle is ended before the next one starts.
    for (const line of readFileSync(log, 'utf8').trimEnd().split('\n')) expect(line).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z \w+: /);
    expect(count(proxy, fails)).toBe(1);
  }, 60000);
});

describe('syslog on a Unix datagram socket, as /dev/log', () => {
  interface SyslogFault {
    /** The report of the fault. */
    fails: RegExp;
    /** Break the way to syslog; resolves once the proxy has reported it. */
    inject(proxy: RunningProxy, syslogd: Syslogd): Promise<void>;
    /** Mend it; resolves with the syslogd that is to receive lines from now on. */
    heal(syslogd: Syslogd, path: string): Promise<Syslogd>;
  }
  const syslogOutput = 'warn: log output syslog/local0@\\S+';

  const goneDaemon: SyslogFault = {
    fails: new RegExp(`${syslogOutput} fails: .*; its lines are dropped until it works again`),
    inject: async (proxy, syslogd) => {
      // Gone, leaving its socket file behind, as a killed syslogd does.
      await syslogd.stop();
      expect(await roundTripsUntil(proxy, () => count(proxy, goneDaemon.fails) > 0)).toBe(true);
    },
    heal: async (_syslogd, path) => {
      rmSync(path);
      return startSyslogd(path);
    },
  };

  const killedLogger: SyslogFault = {
    fails: new RegExp(`${syslogOutput} fails: logger exited with SIGKILL; its lines are dropped until it works again`),
    inject: async (proxy) => {
      // The proxy's own child, found through /proc and killed by its pid.
      const logger = childrenOf(proxy.pid).find((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'logger');
      expect(logger).toBeDefined();
      process.kill(logger!, 'SIGKILL');
      await proxy.waitForLog(killedLogger.fails);
    },
    // The proxy starts a new logger by itself.
    heal: async (syslogd) => syslogd,
  };

  test.each([
    ['the syslog daemon goes away and comes back', goneDaemon],
    ['logger(1), which carries the lines to the socket, is killed', killedLogger],
  ])('%s: the proxy serves on, says so once on stderr, and lines logged after the fault heals arrive', async (_what, fault) => {
    const path = join(dir, `log-${Date.now()}.sock`);
    let syslogd = await startSyslogd(path);
    const started = [syslogd];
    try {
      const proxy = await startProxy({ logoutput: [`syslog/local0@${path}`, 'stderr'] });
      const before = await roundTrip(proxy);
      await syslogd.until(before);
      expect(syslogd.records.some((r) => before.test(r))).toBe(true);

      await fault.inject(proxy, syslogd);
      for (let i = 0; i < 5; i++) await roundTrip(proxy);
      expect(count(proxy, fault.fails)).toBe(1);

      syslogd = await fault.heal(syslogd, path);
      started.push(syslogd);
      await proxy.waitForLog(new RegExp(`${syslogOutput} works again; \\d+ line\\(s\\) for it lost since `));
      const after = await roundTrip(proxy);
      await syslogd.until(after);
      expect(syslogd.records.some((r) => after.test(r))).toBe(true);
      expect(count(proxy, fault.fails)).toBe(1);
    } finally {
      for (const each of started) await each.stop();
    }
  }, 60000);
});

test('a stderr pipe whose reader goes away (as when journald restarts): said once on stdout, and the proxy serves on', async () => {
  const fifo = join(dir, 'stderr.fifo');
  await execa('mkfifo', [fifo]);
  // The reader, opened first so that the proxy's shell can open the writing end.
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  let closed = false;
  try {
    const proxy = await startProxy({ logoutput: ['stderr', 'stdout'] }, { wrapper: ['sh', '-c', 'exec "$@" 2>"$0"', fifo] });
    await roundTrip(proxy);
    closeSync(reader);
    closed = true;
    const fails = /warn: log output stderr fails: .*EPIPE.*; its lines are dropped until it works again/;
    expect(await roundTripsUntil(proxy, () => count(proxy, fails) > 0)).toBe(true);
    for (let i = 0; i < 5; i++) await roundTrip(proxy);
    expect(count(proxy, fails)).toBe(1);
  } finally {
    if (!closed) closeSync(reader);
  }
});

test('a log file made unwritable after the privilege drop: written on; rotated away where the user cannot write, said once, and reopened by itself once it can be', async () => {
  const logs = mkdtempSync(join(dir, 'logs-'));
  chmodSync(logs, 0o755);
  const file = join(logs, 'hasocks.log');
  const proxy = await startProxy({ user: 'nobody', logoutput: [file, 'stderr'] });
  const reloaded = /info: reloaded config /;
  const reload = async (): Promise<void> => {
    const done = count(proxy, reloaded) + 1;
    proxy.signal('SIGHUP');
    expect(await eventually(() => count(proxy, reloaded) >= done, 10000)).toBe(true);
  };

  // Root's file, no longer writable by anyone: the descriptor opened before the drop still writes it, and a reload leaves it be.
  chmodSync(file, 0o000);
  await reload();
  expect(await fileShows(file, await roundTrip(proxy))).toBe(true);

  // Rotated away, and the directory is root's: as nobody the proxy cannot make the file anew.
  renameSync(file, `${file}.1`);
  await reload();
  const stale = /warn: log output .*hasocks\.log cannot be opened again \(EACCES.*\); its lines go on to the file it had open, and the open is retried/;
  expect(count(proxy, stale)).toBe(1);
  await reload();
  expect(await fileShows(`${file}.1`, await roundTrip(proxy))).toBe(true);
  expect(count(proxy, stale)).toBe(1);

  // The directory becomes the user's: the proxy makes the file as lines come, with no SIGHUP.
  chownSync(logs, 65534, 65534);
  expect(await roundTripsUntil(proxy, () => existsSync(file))).toBe(true);
  expect(await fileShows(file, await roundTrip(proxy))).toBe(true);
  await proxy.waitForLog(/warn: log output .*hasocks\.log is open again/);
  expect(count(proxy, stale)).toBe(1);
}, 60000);

test('a UDP syslog destination the kernel will not send to: said once on stderr, and the proxy serves on', async () => {
  // Broadcast without SO_BROADCAST: every send fails (EACCES), as sends to a remote syslog fail while its network is unreachable.
  const proxy = await startProxy({ logoutput: ['syslog/local1@255.255.255.255:514', 'stderr'] });
  const fails = /warn: log output syslog\/local1@255\.255\.255\.255:514 fails: send EACCES.*; its lines are dropped until it works again/;
  expect(await roundTripsUntil(proxy, () => count(proxy, fails) > 0)).toBe(true);
  for (let i = 0; i < 5; i++) await roundTrip(proxy);
  expect(count(proxy, fails)).toBe(1);
});
