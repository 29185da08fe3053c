// Hostile clients against the real built proxy: slowloris handshakes,
// thousands of idle sessions, running out of descriptors, and a flood at
// session.max as the OCF agent's monitor sees it. Client counts beyond a
// jest worker's descriptor limit run in test/bench/loadgen.c, started with
// a limit of their own (prlimit).
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigFile } from '../src/config/types.js';
import { type RawClient, type TestServer, freePort, startEchoServer } from './helpers/net.js';
import { startProxy, stopAllProxies } from './helpers/proxy.js';
import { buildLoadgen, cpuSeconds, echoSession, eventually, quantile, runJson, socketCount, spawnWithLimit, startFlood, stopAllChildren, waitForQuiet } from './helpers/hostile.js';
import { OCF_CODE, daemonPid, runAgent } from './helpers/ocf-run.js';

/** Open rules that log only errors: the figures here are of sessions, not of log lines. */
const QUIET_RULES: NonNullable<ConfigFile['rules']> = [
  { type: 'client', action: 'pass', from: '0/0', log: ['error'] },
  { type: 'socks', action: 'pass', from: '0/0', to: '0/0', log: ['error'] },
];

let work: string;
let loadgen: string;
let echo: TestServer;
/** What a test opened in this process; afterEach closes whatever is left. */
const opened = new Set<{ destroy(): void }>();
/** Daemons the agent started: afterEach stops any a failed test left running. */
const agentInstances: Array<{ params: Record<string, string>; dir: string }> = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const track = <T extends { destroy(): void }>(thing: T): T => {
  opened.add(thing);
  return thing;
};

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hasocks-hostile-'));
  chmodSync(work, 0o755);
  loadgen = buildLoadgen(work);
  echo = await startEchoServer();
});

afterEach(async () => {
  for (const thing of opened) thing.destroy();
  opened.clear();
  await stopAllChildren();
  await stopAllProxies();
  for (const { params, dir } of agentInstances.splice(0)) {
    if (daemonPid(params.state_dir!, params.config!) !== undefined) await runAgent('stop', params);
    const pid = daemonPid(params.state_dir!, params.config!);
    if (pid !== undefined) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

afterAll(async () => {
  await echo.close();
  rmSync(work, { recursive: true, force: true });
});

describe('hostile clients', () => {
  test('slowloris: 1000 clients dripping a handshake are all cut at timeout.negotiate, and other clients are served meanwhile', async () => {
    const NEGOTIATE_S = 3;
    const CLIENTS = 1000;
    const proxy = await startProxy({ rules: QUIET_RULES, timeout: { negotiate: NEGOTIATE_S } }, { nofile: 4096 });
    const before = socketCount(proxy.pid);
    // One byte a second: a timer that restarted on every byte would never fire.
    const loris = spawnWithLimit(CLIENTS + 256, loadgen, ['slowloris', `127.0.0.1:${proxy.port}`, String(CLIENTS), '1000', String(NEGOTIATE_S * 3)]);
    await loris.waitForLine(new RegExp(`^ready ${CLIENTS}$`), 10000);
    // Every dripping client is the proxy's (accepted, a session) before the others come.
    expect(await eventually(() => socketCount(proxy.pid) >= before + CLIENTS, 2000)).toBe(true);

    // Normal clients, one after another, from now until the last dripping client is cut (that moment included).
    let cut = false;
    void loris.exited.then(() => (cut = true));
    const latencies: number[] = [];
    const failures: string[] = [];
    while (!cut) {
      try {
        const { client, ms } = await echoSession(proxy.port, echo.port, 5000);
        client.destroy();
        latencies.push(ms);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
    expect(await loris.exited).toBe(0);
    const lived = JSON.parse(loris.lines.at(-1)!) as { count: number; closed: number; resets: number; mostBytesSent: number; minMs: number; p50Ms: number; maxMs: number };
    latencies.sort((a, b) => a - b);
    console.log(
      `hostile: slowloris: ${lived.closed}/${lived.count} cut after ${lived.minMs}-${lived.maxMs} ms (median ${lived.p50Ms}, ${lived.resets} by RST, at most ${lived.mostBytesSent} bytes sent); ` +
        `${latencies.length} normal sessions meanwhile: p50 ${quantile(latencies, 0.5).toFixed(1)} ms, p99 ${quantile(latencies, 0.99).toFixed(1)} ms, max ${latencies.at(-1)?.toFixed(1)} ms, ${failures.length} failed`,
    );

    expect(failures).toEqual([]);
    // The window is the whole negotiate timeout: hundreds of sessions at a few ms each, even on a loaded machine.
    expect(latencies.length).toBeGreaterThanOrEqual(100);
    // A proxy whose new clients waited behind the stalled ones would keep them up to the negotiate
    // timeout; a third of it tells that apart from a loaded 2-core machine's scheduling.
    expect(latencies.at(-1)!).toBeLessThan((NEGOTIATE_S * 1000) / 3);
    expect(lived.closed).toBe(CLIENTS);
    // Each lifetime runs from the client's connect, before the proxy's accept, so it is at least the
    // timeout; the 50 ms are the proxy's event loop clock, read once per turn, so a timer set late in a
    // turn of many accepts counts from that turn's start.
    expect(lived.minMs).toBeGreaterThanOrEqual(NEGOTIATE_S * 1000 - 50);
    // The accepts of 1000 clients, and 1000 closes at once, on a loaded machine.
    expect(lived.maxMs).toBeLessThanOrEqual(NEGOTIATE_S * 1000 + 1500);
  }, 60000);

  test('9000 idle sessions: new sessions see a p99 at most twice the idle proxy’s', async () => {
    const HELD = 9000;
    // Two descriptors per session in the proxy and in the holder (its client and its own target's end).
    const NOFILE = 20000;
    const proxy = await startProxy({ rules: QUIET_RULES, session: { max: 2 * HELD } }, { nofile: NOFILE });
    const target = `127.0.0.1:${proxy.port}`;
    interface Latency {
      warmUpFailed: number;
      failed: number;
      rounds: Array<{ n: number; p50ms: number; p99ms: number; maxms: number }>;
    }
    /*
     * 10 rounds of 400 sequential sessions: each round's p99 is its 4th
     * slowest. First the proxy settles: opening or closing 9000 sessions
     * leaves it collecting garbage for a while, and the comparison is of a
     * proxy holding sessions, not of one opening or closing them.
     */
    const settled: string[] = [];
    const measure = async (): Promise<Latency> => {
      const waited = await waitForQuiet(proxy.pid, 15000);
      settled.push(waited === undefined ? 'still busy after 15 s' : `${waited} ms`);
      return runJson<Latency>(1024, loadgen, ['latency', target, '10', '400'], 60000);
    };
    /*
     * The figure compared is each phase's best round. Other processes on
     * the machine only ever add latency, and in bursts; the best of 10
     * rounds is the proxy's own tail. A cost that 9000 sessions add to new
     * sessions is in every round, the best included.
     */
    const best = (run: Latency): number => Math.min(...run.rounds.map((r) => r.p99ms));
    const rounds = (run: Latency): string => run.rounds.map((r) => r.p99ms.toFixed(2)).join(' ');
    const median = (run: Latency): number => quantile(run.rounds.map((r) => r.p50ms).sort((a, b) => a - b), 0.5);
    const baseSockets = socketCount(proxy.pid);
    // A fresh proxy runs its session code in V8's lower tiers for its first ~15k sessions (see
    // loadgen.c): without this the idle figure would be the slower one, hiding a loss under load.
    await runJson(1024, loadgen, ['sessions', target, '8', '1', 'ipv4'], 30000);

    /*
     * A burst of load from elsewhere (another jest worker on a 2-core
     * machine) can last longer than a whole phase and make even its best
     * round several times slower. So a failed comparison is measured again,
     * idle then loaded, up to 3 times: a cost that the held sessions add
     * fails every time.
     */
    let idle: Latency | undefined;
    let loaded: Latency | undefined;
    for (let attempt = 1; attempt <= 3; attempt++) {
      idle = await measure();
      const holdStarted = Date.now();
      const holder = spawnWithLimit(NOFILE, loadgen, ['idle', target, String(HELD)]);
      const ready = await holder.waitForLine(/^ready \d+$/, 60000);
      const holdSeconds = (Date.now() - holdStarted) / 1000;
      expect(ready).toBe(`ready ${HELD}`);
      const sockets = socketCount(proxy.pid);
      const rssMb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proxy.pid}/status`, 'utf8'))![1]) / 1024;
      loaded = await measure();
      holder.closeStdin();
      expect(await holder.exited).toBe(0);
      console.log(
        `hostile: attempt ${attempt}: ${HELD} idle sessions held in ${holdSeconds.toFixed(1)} s (proxy: ${sockets} sockets, ${rssMb.toFixed(0)} MB RSS); ` +
          `p99 per round idle [${rounds(idle)}] ms, loaded [${rounds(loaded)}] ms; best ${best(idle).toFixed(2)} -> ${best(loaded).toFixed(2)} ms; ` +
          `median p50 ${median(idle).toFixed(2)} -> ${median(loaded).toFixed(2)} ms; settled in ${settled.splice(0).join(', ')}`,
      );
      expect([idle.warmUpFailed, idle.failed, loaded.warmUpFailed, loaded.failed]).toEqual([0, 0, 0, 0]);
      expect(sockets).toBeGreaterThanOrEqual(baseSockets + 2 * HELD);
      // The proxy has let go of every held session before it counts as idle again.
      expect(await eventually(() => socketCount(proxy.pid) <= baseSockets, 30000)).toBe(true);
      if (best(loaded) <= 2 * best(idle)) break;
    }
    expect(best(loaded!)).toBeLessThanOrEqual(2 * best(idle!));
  }, 180000);

  test('out of descriptors: says so, does not spin, open sessions carry on, and it serves again by itself', async () => {
    // test/lifecycle.test.ts checks the log line, the CPU and the recovery with silent clients only;
    // here with sessions open through the exhaustion.
    const proxy = await startProxy({}, { nofile: 64 });
    const sessions: RawClient[] = [];
    for (let i = 0; i < 5; i++) sessions.push(track((await echoSession(proxy.port, echo.port)).client));
    // Node and the addon hold a few dozen descriptors of their own: 80 more clients run past 64.
    const silent: Socket[] = [];
    for (let i = 0; i < 80; i++) silent.push(track(connect(proxy.port, '127.0.0.1').on('error', () => undefined)));
    const logged = await proxy.waitForLog(/listener 127\.0\.0\.1:\d+: accept E[MN]FILE/, 3000).catch(() => undefined);
    // Give a poll that kept waking on the still-readable listener time to show.
    await sleep(200);
    const cpuBefore = cpuSeconds(proxy.pid);
    await sleep(2000);
    const cpu = cpuSeconds(proxy.pid) - cpuBefore;
    const echoed: string[] = [];
    for (const [i, session] of sessions.entries()) {
      session.send(Buffer.from(`still ${i}`));
      echoed.push((await session.read(7, 3000).catch(() => Buffer.from('nothing'))).toString());
    }
    const turnedAway = silent.filter((s) => s.destroyed).length;
    for (const socket of silent) socket.destroy();
    const recoveredStarted = Date.now();
    const served = await eventually(async () => {
      try {
        (await echoSession(proxy.port, echo.port, 1000)).client.destroy();
        return true;
      } catch {
        return false;
      }
    }, 10000);
    console.log(
      `hostile: out of descriptors: logged ${logged ? 'yes' : 'NO'}, ${cpu.toFixed(2)} CPU s over 2 s, ${turnedAway} of 80 extra clients closed by the proxy, ` +
        `open sessions ${echoed.every((e, i) => e === `still ${i}`) ? 'carried on' : 'FAILED'}, served again ${served ? `after ${Date.now() - recoveredStarted} ms` : 'NEVER'}`,
    );
    expect(echoed).toEqual(sessions.map((_s, i) => `still ${i}`));
    expect(served).toBe(true);
    // A busy loop on the listener burns most of a core; waiting costs next to nothing.
    expect(cpu).toBeLessThan(0.2);
    expect(logged).toMatch(/accept E[MN]FILE/);
  }, 60000);
});

describe('the OCF agent monitor during a flood at session.max', () => {
  const SESSION_MAX = 50;
  test.each<[string, Record<string, string>, number]>([
    ['plain instance', {}, OCF_CODE.DEGRADED],
    ['promoted clone', { CRM_meta_promotable: 'true' }, OCF_CODE.DEGRADED_PROMOTED],
  ])('%s: depths 0, 10 and 20 report degraded, never a failure', async (kind, extra, degraded) => {
    const dir = mkdtempSync(join(work, 'ocf-'));
    chmodSync(dir, 0o755);
    const port = await freePort();
    const configPath = join(dir, 'hasocks.json');
    const logPath = join(dir, 'proxy.log');
    writeFileSync(configPath, JSON.stringify({ internal: [`127.0.0.1:${port}`], session: { max: SESSION_MAX }, rules: QUIET_RULES, logoutput: [logPath] }));
    chmodSync(configPath, 0o644);
    const params = { config: configPath, state_dir: join(dir, 'state'), probe_target: `127.0.0.1:${echo.port}`, drain_timeout: '1', ...extra };
    agentInstances.push({ params, dir });
    const started = await runAgent('start', params);
    expect(started).toMatchObject({ code: OCF_CODE.SUCCESS });
    if (extra.CRM_meta_promotable) expect((await runAgent('promote', params)).code).toBe(OCF_CODE.SUCCESS);

    const held: RawClient[] = [];
    for (let i = 0; i < SESSION_MAX; i++) held.push(track((await echoSession(port, echo.port)).client));
    // How many sockets the daemon holds while it turns the flood away (for the log; no limit is specified).
    const pid = daemonPid(params.state_dir, configPath);
    expect(pid).toBeDefined();
    const flood = track(startFlood(port, 4));
    let peakSockets = 0;
    const sampler = setInterval(() => {
      try {
        peakSockets = Math.max(peakSockets, socketCount(pid!));
      } catch {
        /* the daemon is gone: the monitor says so */
      }
    }, 250);
    let floodResult: { attempts: number; served: number } | undefined;
    const results: Array<{ depth: string; code: number; reason: string | undefined }> = [];
    try {
      const limitHit = await eventually(() => existsSync(logPath) && readFileSync(logPath, 'utf8').includes(`session limit ${SESSION_MAX} reached`), 5000);
      expect(limitHit).toBe(true);
      for (const depth of ['0', '10', '20']) {
        const run = await runAgent('monitor', params, { OCF_CHECK_LEVEL: depth });
        results.push({ depth, code: run.code, reason: run.reason });
      }
    } finally {
      clearInterval(sampler);
      floodResult = await flood.stop();
    }
    // The held sessions were never disturbed.
    for (const client of held) {
      client.send(Buffer.from('held'));
      expect((await client.read(4, 3000)).toString()).toBe('held');
    }
    for (const client of held) client.destroy();
    console.log(
      `hostile: ${kind} at session.max ${SESSION_MAX}, ${floodResult.attempts} extra connection attempts (${floodResult.served} served, daemon at most ${peakSockets} sockets): ` +
        results.map((r) => `depth ${r.depth} -> ${r.code}${r.reason ? ` (${r.reason})` : ''}`).join(', '),
    );
    expect(floodResult.attempts).toBeGreaterThan(0);
    expect(floodResult.served).toBe(0);
    // Never 1, 7 or 9: at the limit the node is degraded (sessions >= 90% of session.max), not failed.
    expect(results).toEqual(['0', '10', '20'].map((depth) => ({ depth, code: degraded, reason: undefined })));
    expect((await runAgent('stop', params)).code).toBe(OCF_CODE.SUCCESS);
  }, 60000);
});
