// Integrity under faults (issue 17, part 1): 64 sessions at a time move
// checksummed data up, down or both ways through a proxy with two workers
// (test/helpers/integrity-traffic.ts), while the proxy reloads its config,
// rejects an invalid one, loses a worker to SIGKILL and meets session.max.
// No stream may be corrupted, or truncated and then taken for whole; a
// session a fault cuts is cut for the client and in the proxy's log alike,
// and every session a fault did not touch is intact. The counts are printed
// for docs/operations.md (Integrity under faults).
import { type ClientView, type IntegrityTarget, type Outcome, Traffic, outcomeOf, proxyAgrees, proxySessions, startIntegrityTarget, tally } from './helpers/integrity-traffic.js';
import { OPEN_RULES, type RunningProxy, reloadWorkers, startProxy, stopAllProxies } from './helpers/proxy.js';

const LANES = 64;
const SESSION_MAX = 80;
/** Clients beyond the lanes during the session.max fault: more than the places left. */
const EXTRA_LANES = 32;
/** After each fault, this many sessions that started once it was over must end (intact) before the next. */
const AFTER_EACH = 256;

let target: IntegrityTarget;
beforeAll(async () => {
  target = await startIntegrityTarget('127.0.0.1');
});
afterEach(stopAllProxies);
afterAll(() => target.close());

/** A loopback address of its own for every session, so each proxy log line names exactly one. */
const loopbackSource = (id: number): { localAddress: string } => ({ localAddress: `127.20.${(id >> 8) & 255}.${id & 255}` });

interface Fault {
  readonly name: string;
  /** When it was done to the proxy. */
  readonly at: number;
  /** Sessions in flight at that moment. */
  readonly open: readonly ClientView[];
  /** When the proxy had handled it (its log said so, or the extra clients were gone). */
  settled: number;
  /** When the sessions open at `at` had ended, and AFTER_EACH sessions started after `settled`. */
  over: number;
}

test('64 checksummed sessions through a reload, an invalid config, a worker SIGKILL and session.max: nothing corrupted, every cut counted on both sides', async () => {
  const config = { workers: 2, rules: OPEN_RULES, session: { max: SESSION_MAX } };
  const proxy: RunningProxy = await startProxy(config);
  await proxy.waitForLog(/ready with 2 workers/);
  const victim = Number(/\[worker 1 (\d+)\] hasocks \d+ ready/.exec(proxy.logs())![1]);
  const traffic = new Traffic({ proxy: { host: '127.0.0.1', port: proxy.port }, target, maxBytes: 2 << 20, source: loopbackSource, stallMs: 10000 });
  const faults: Fault[] = [];
  const fault = async (name: string, apply: () => Promise<void>): Promise<Fault> => {
    const done: Fault = { name, at: Date.now(), open: traffic.inFlight, settled: 0, over: 0 };
    await apply();
    done.settled = Date.now();
    await traffic.until(`end of the sessions open at the ${name}, and ${AFTER_EACH} started after it`, () =>
      done.open.every((s) => s.endedAt > 0) && traffic.sessions.filter((s) => s.startedAt > done.settled && s.endedAt > 0).length >= AFTER_EACH,
    );
    done.over = Date.now();
    faults.push(done);
    return done;
  };

  /** The faults, one after another; each returns once its sessions have settled. */
  const runFaults = async (): Promise<{ kill: Fault; limit: Fault; reportedCut: number }> => {
    await traffic.until('warm-up', () => traffic.sessions.filter((s) => s.endedAt > 0).length >= AFTER_EACH);
    const changed = { internal: [`127.0.0.1:${proxy.port}`], logoutput: ['stderr'], ...config, timeout: { negotiate: 25 } };
    await fault('reload', () => reloadWorkers(proxy, JSON.stringify(changed), 2, 'reloaded config'));
    // The broken file stays on disk for the rest of the run, as an operator's typo would until fixed.
    await fault('invalid config', () => reloadWorkers(proxy, '{ "workers": 2, "internal": [', 2, 'reload rejected, the old config stays in force'));
    let reportedCut = -1;
    const kill = await fault('worker SIGKILL', async () => {
      process.kill(victim, 'SIGKILL');
      const exit = await proxy.waitForLog(new RegExp(`worker 1 \\(pid ${victim}\\) exited with SIGKILL`));
      reportedCut = Number(/(\d+) open session\(s\)/.exec(exit)?.[1] ?? -1);
      await proxy.waitForLog(/worker 1 restarted as pid \d+/);
    });
    const limit = await fault('session.max', async () => {
      const before = traffic.sessions.length;
      traffic.setLanes(LANES + EXTRA_LANES);
      await traffic.until('clients refused at session.max', () => traffic.sessions.slice(before).filter((s) => s.endedAt > 0 && s.received === 0).length >= EXTRA_LANES / 2);
      traffic.setLanes(LANES);
      await traffic.until('the extra lanes to stop', () => traffic.lanes === LANES);
    });
    return { kill, limit, reportedCut };
  };

  traffic.setLanes(LANES);
  let run: Awaited<ReturnType<typeof runFaults>>;
  try {
    run = await runFaults();
  } finally {
    await traffic.stop();
  }
  const { kill, limit, reportedCut } = run;

  // Every session the proxy admitted on a worker that lived has its disconnect line; wait for the last few.
  const admitted = proxySessions(proxy.logs());
  for (const session of traffic.sessions) {
    const record = admitted.get(session.source);
    if (record && record.pid !== victim && !record.end) await proxy.waitForLog(new RegExp(`${session.source.replace(/\./g, '\\.')}: disconnect `));
  }
  const log = proxySessions(proxy.logs());
  const outcomes = new Map<ClientView, Outcome>(traffic.sessions.map((s) => [s, outcomeOf(s, target.sessions.get(s.id))]));
  const during = (f: Fault) => (s: ClientView): boolean => s.endedAt >= f.at && s.endedAt <= f.over;
  const ofFault = (f: Fault): ClientView[] => traffic.sessions.filter(during(f));
  const notIntact = (sessions: readonly ClientView[]): ClientView[] => sessions.filter((s) => outcomes.get(s) !== 'intact');

  const byKill = notIntact(ofFault(kill));
  const refused = notIntact(ofFault(limit));
  // A place the victim still held for a session its client had already had in full: the last bytes had gone, the worker died before it logged the end.
  const victimUnlogged = traffic.sessions.filter((s) => log.get(s.source)?.pid === victim && !log.get(s.source)!.end && outcomes.get(s) === 'intact');
  const counts = tally([...outcomes.values()]);
  console.log(
    [
      `integrity under faults: ${traffic.sessions.length} sessions (seed ${traffic.seed}), ${LANES} at a time, ${Math.round(traffic.sessions.reduce((sum, s) => sum + s.upSent + s.downReceived, 0) / 2 ** 20)} MiB checked`,
      `  outcomes: ${JSON.stringify(counts)}`,
      ...faults.map((f) => `  ${f.name}: ${ofFault(f).length} sessions ended around it, ${notIntact(ofFault(f)).length} not intact, ${f.open.length} open when it came`),
      `  cut by the worker kill: ${byKill.length} (${byKill.filter((s) => s.received === 0).length} before any reply); the supervisor's log: ${reportedCut}, of which ${victimUnlogged.length} had reached their client in full`,
      `  refused at session.max: ${refused.length} (no byte in any)`,
    ].join('\n'),
  );

  expect(counts.corrupted).toBe(0);
  expect(counts['truncated-but-whole']).toBe(0);
  expect(counts.stalled).toBe(0);
  expect(counts['socks-failure']).toBe(0);
  // Only the kill cuts sessions, and only the victim's; only session.max refuses.
  const touched = new Set([...byKill, ...refused]);
  expect(notIntact(traffic.sessions).filter((s) => !touched.has(s)).map((s) => ({ ...s, outcome: outcomes.get(s) }))).toEqual([]);
  expect(byKill.length).toBeGreaterThan(0);
  for (const session of byKill) {
    expect(session.startedAt).toBeLessThanOrEqual(kill.at);
    expect([victim, undefined]).toContain(log.get(session.source)?.pid);
  }
  // The supervisor's count of the sessions that died with the worker is the clients' count.
  expect(reportedCut).toBe(byKill.length + victimUnlogged.length);
  // Refused means never admitted: no byte from the proxy, no session in its log, nothing at the target.
  expect(refused.length).toBeGreaterThan(0);
  for (const session of refused) {
    expect(outcomes.get(session)).toBe('unanswered');
    expect(log.get(session.source)).toBeUndefined();
    expect(target.sessions.get(session.id)).toBeUndefined();
  }
  expect(proxy.logs()).toMatch(new RegExp(`session limit ${SESSION_MAX} reached`));
  // Every session after each fault, until the next, is intact; so is every session the surviving worker served.
  faults.forEach((f, i) => {
    const next = faults[i + 1]?.at ?? Infinity;
    const after = traffic.sessions.filter((s) => s.startedAt > f.settled && s.endedAt <= next);
    expect(after.length).toBeGreaterThanOrEqual(AFTER_EACH);
    expect(notIntact(after)).toEqual([]);
  });
  const survivors = traffic.sessions.filter((s) => log.get(s.source) && log.get(s.source)!.pid !== victim);
  expect(notIntact(survivors)).toEqual([]);
  // The replacement, started after the invalid config was pushed, served its share.
  expect(survivors.filter((s) => log.get(s.source)!.worker === 1).length).toBeGreaterThan(0);
  // The proxy's disconnect line tells each session's story as its ends saw it.
  const disagreements = traffic.sessions
    .filter((s) => log.get(s.source) && !(log.get(s.source)!.pid === victim && !log.get(s.source)!.end))
    .map((s) => ({ source: s.source, outcome: outcomes.get(s)!, verdict: proxyAgrees(s, outcomes.get(s)!, log.get(s.source)) }))
    .filter((d) => d.verdict !== 'agrees');
  expect(disagreements).toEqual([]);
}, 90000);
