#!/usr/bin/env node
// npm run fuzz -- [--count N] [--seed N] [--methods mixed|username|both]
//                 [--concurrency N] [--warmup N] [--settle S] [--rss-ratio R] [--index K] [--quiet]
//
// A structure-aware fuzzer against the BUILT proxy (dist/src/hasocks.cjs): valid,
// mutated and random SOCKS4/4a/5 handshakes, written in random chunks, with
// every outcome predicted by an oracle written from the spec (oracle.mjs).
// One proxy runs with socksmethod ["none","username"] ("mixed"), one with
// ["username"]. It records crashes (the proxy's pid exits), hangs, wrong
// replies (with the input in hex; `--index K` with the same --seed and
// --methods replays one and prints it), dials and datagrams the rules or
// the spec forbid, log lines with raw control bytes,
// and each proxy's RSS and open descriptors: cold, after a warm-up (the
// baseline), at most, and after settling. Prints human lines, then one JSON
// line; exits 1 on any finding, or when RSS ends above R (1.10) times the
// baseline. test/fuzz/README.md says more.
//
// Everything runs inside a network namespace made here (as `ip netns` does
// for the tests): random host names in the handshakes are looked up by the
// proxy, and there only the namespace's own loopback and hosts file answer,
// so no lookup or dial can leave the machine. Needs root, like the netns tests.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Fuzz, startServers } from './drive.mjs';
import { HOSTS } from './generate.mjs';
import { Oracle } from './oracle.mjs';
import { bigMappings, countFds, fdKinds, makeUsersFile, proxyConfig, readRss, startProxy, stopProxy } from './proxies.mjs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Rng } from './rng.mjs';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(REPO, 'dist', 'src', 'hasocks.cjs');
const SELF = fileURLToPath(import.meta.url);

function parseArgs(argv) {
  const options = { count: 10000, seed: 1, methods: 'both', concurrency: 64, index: undefined, settle: 20, warmup: undefined, rssRatio: 1.1, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    const value = argv[i + 1];
    switch (key) {
      case 'count':
      case 'seed':
      case 'concurrency':
      case 'index':
      case 'settle':
      case 'warmup':
        options[key] = Number(value);
        if (!Number.isInteger(options[key]) || options[key] < 0) throw new Error(`--${key} needs a whole number, not "${value}"`);
        i++;
        break;
      case 'rss-ratio':
        options.rssRatio = Number(value);
        if (!(options.rssRatio >= 1)) throw new Error(`--rss-ratio needs a number of at least 1, not "${value}"`);
        i++;
        break;
      case 'methods':
        if (!['mixed', 'username', 'both'].includes(value)) throw new Error('--methods is mixed, username or both');
        options.methods = value;
        i++;
        break;
      case 'quiet':
        options.quiet = true;
        break;
      case 'inner':
        options.inner = true;
        break;
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
  }
  return options;
}

// ---------------------------------------------------------------------------
// Outside: make the namespace, run this script again inside it, clean up.
// ---------------------------------------------------------------------------

function outer(argv) {
  if (process.getuid?.() !== 0) {
    console.error('fuzz: needs root, to run the proxies in a network namespace of their own (ip netns)');
    process.exit(2);
  }
  const name = `hasocks-fuzz-${process.pid}`;
  const etc = `/etc/netns/${name}`;
  const run = (...args) => {
    const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr || r.error}`);
  };
  const cleanup = () => {
    spawnSync('ip', ['netns', 'del', name]);
    rmSync(etc, { recursive: true, force: true });
  };
  let child;
  try {
    run('ip', 'netns', 'add', name);
    mkdirSync(etc, { recursive: true });
    const hosts = ['127.0.0.1 localhost', '::1 localhost ip6-localhost'];
    for (const [host, addresses] of Object.entries(HOSTS)) for (const a of addresses) hosts.push(`${a} ${host}`);
    writeFileSync(join(etc, 'hosts'), `${hosts.join('\n')}\n`);
    // Nothing listens on the namespace's port 53: a name not in the hosts file fails at once.
    writeFileSync(join(etc, 'resolv.conf'), 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
    run('ip', 'netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
    // Ephemeral ports stay clear of the fixed ports below 2000; TIME_WAIT ports are reused, as 10^6 connections need.
    run('ip', 'netns', 'exec', name, 'sysctl', '-q', '-w', 'net.ipv4.ip_local_port_range=2000 65535', 'net.ipv4.tcp_tw_reuse=1');
  } catch (err) {
    cleanup();
    console.error(`fuzz: cannot set up the network namespace: ${err.message}`);
    process.exit(2);
  }
  const stop = (signal) => {
    if (child && child.exitCode === null) child.kill(signal);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  child = spawn('ip', ['netns', 'exec', name, process.execPath, SELF, ...argv, '--inner'], { stdio: 'inherit' });
  child.on('exit', (code, signal) => {
    cleanup();
    process.exit(code ?? (signal ? 1 : 0));
  });
}

// ---------------------------------------------------------------------------
// Inside: targets, proxies, the handshakes, the measurements, the summary.
// ---------------------------------------------------------------------------

const PORTS = { T: 1100, R: 1101, U: 1102, B: 1103 };
/** Warm-up handshakes have their own indices: `--index 1000000000+k` replays one. */
const WARMUP_BASE = 1e9;
const USER = 'fuzz';

/**
 * What the proxy's resolver answers here (src/session/resolve.ts): the
 * namespace's hosts file, in its order, and nothing from DNS (nobody
 * answers on its port 53). Numeric shorthands such as "2130706433" are
 * names like any other, not addresses: the proxy does not use getaddrinfo.
 */
function hostsLookup() {
  const table = new Map([['localhost', ['127.0.0.1', '::1']]]);
  for (const [host, addresses] of Object.entries(HOSTS)) table.set(host, addresses);
  return async (name) => table.get(name.toLowerCase().replace(/\.$/, '')) ?? null;
}

/** Sockets among a process's descriptors (fdKinds). */
const sockets = (kinds) => kinds?.socket ?? 0;

const mb = (kb) => (kb === undefined ? undefined : Math.round(kb / 102.4) / 10);

async function inner(options) {
  // The fuzzer dies with the namespace's owner.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(1);
  }, 1000).unref();

  const dir = mkdtempSync(join(tmpdir(), 'hasocks-fuzz-'));
  const rng = new Rng(options.seed, 0xffffffff);
  const password = `pw-${rng.bytes(8).toString('hex')}`;
  const usersFile = join(dir, 'users');
  const proxies = [];
  let servers;
  const results = {
    handshakes: 0,
    skipped: 0,
    wrong: 0,
    wrongByClass: {},
    wrongExamples: {},
    hangs: 0,
    hangByClass: {},
    hangExamples: [],
    crashes: [],
    byKind: {},
    outcomes: {},
    perTarget: {},
    failedPasswordChecks: 0,
    timeoutChecks: 0,
    bindPeers: 0,
    blockedDials: 0,
    blockedDialExamples: [],
    udp: { sent: 0, mustForward: 0, mustDrop: 0, unsure: 0, unsureArrived: 0, missing: 0, leaked: 0, leakByClass: {}, leakExamples: [], replies: 0 },
    inconclusive: 0,
    timing: {},
    phases: {},
    alternatives: {},
  };
  const say = (line) => {
    if (!options.quiet) console.log(line);
  };
  let exitCode = 1;
  try {
    const phase = { at: Date.now() };
    const mark = (name) => {
      const now = Date.now();
      results.phases[name] = Math.round((now - phase.at) / 100) / 10;
      phase.at = now;
    };
    makeUsersFile(CLI, usersFile, USER, password);
    servers = await startServers(PORTS, results);
    const variants = options.methods === 'both' ? ['mixed', 'username'] : [options.methods];
    let port = 1080;
    for (const name of variants) {
      const methods = name === 'mixed' ? ['none', 'username'] : ['username'];
      const proxy = await startProxy({ cli: CLI, dir, name, config: proxyConfig({ port: port++, methods, usersFile, ports: PORTS }) });
      proxies.push({ name, methods, proxy, inflight: new Set(), ctx: { methods, ports: PORTS, user: Buffer.from(USER), pass: Buffer.from(password) } });
      results.perTarget[name] = { handshakes: 0 };
    }

    const memory = Object.fromEntries(proxies.map((t) => [t.name, { coldKb: readRss(t.proxy.pid), startKb: undefined, maxKb: 0, endKb: undefined, startFds: undefined, endFds: undefined }]));
    const sample = () => {
      for (const t of proxies) {
        const rss = readRss(t.proxy.pid);
        if (rss !== undefined) memory[t.name].maxKb = Math.max(memory[t.name].maxKb, rss);
      }
    };
    const sampler = setInterval(sample, 500);
    for (const t of proxies) {
      void t.proxy.exit.then((how) => {
        if (t.proxy.stopping) return;
        results.crashes.push({
          proxy: t.name,
          pid: t.proxy.pid,
          exit: how,
          inFlight: [...t.inflight].slice(0, 200).map((r) => ({ index: r.index, input: r.hs.bytes.toString('hex') })),
          log: t.proxy.tail.slice(-20),
        });
      });
    }
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();

    mark('start');
    const oracle = new Oracle({ ports: PORTS, user: Buffer.from(USER), pass: Buffer.from(password), lookup: hostsLookup() });
    const fuzz = new Fuzz({ seed: options.seed, targets: proxies, oracle, ports: PORTS, user: USER, pass: password, results, servers });
    say(`fuzz: seed ${options.seed}, ${options.index !== undefined ? `handshake #${options.index} only` : `${options.count} handshakes`}, ${options.concurrency} at once, proxies: ${proxies.map((t) => `${t.name} (pid ${t.proxy.pid}, ${mb(memory[t.name].coldKb)} MB)`).join(', ')}`);

    const runMany = async (indices, total) => {
      let next = 0;
      let lastReport = Date.now();
      const began = Date.now();
      const worker = async () => {
        while (next < total) {
          await fuzz.runOne(indices(next++));
          if (Date.now() - lastReport > 10000) {
            lastReport = Date.now();
            const seconds = (Date.now() - began) / 1000;
            say(`fuzz: ${next}/${total} in ${seconds.toFixed(0)} s (${Math.round(next / seconds)}/s), ${results.wrong} wrong, ${results.hangs} hangs, ${results.crashes.length} crashes; RSS ${proxies.map((t) => `${t.name} ${mb(readRss(t.proxy.pid))} MB`).join(', ')}`);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, total)) }, worker));
    };

    // Warm-up, before the baseline is measured: memory that is taken once and
    // kept belongs to the baseline, not to a leak. An scrypt check (N=16384,
    // r=8) needs 16 MiB on a libuv thread, and glibc keeps it in that
    // thread's arena; a name lookup on the same thread then leaves small
    // blocks behind it, so a later check takes a second 16 MiB (the summary
    // lists these mappings; test/fuzz/README.md has the figures). So each
    // proxy runs failed checks (a successful one is cached after the first)
    // between bursts of lookups, one proxy at a time so that no check waits
    // past timeout.negotiate; then a mixed run at full load grows the V8
    // heap to its working size. The warm-up's findings count like any other.
    const greeting = Buffer.from([5, 1, 2]);
    const auth = (pass) => Buffer.from([1, USER.length, ...Buffer.from(USER), pass.length, ...pass]);
    const connectTo = (name) => Buffer.from([5, 1, 0, 3, name.length, ...Buffer.from(name), PORTS.T >> 8, PORTS.T & 0xff]);
    const connect = Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, PORTS.T >> 8, PORTS.T & 0xff]);
    // 5% of the run, up to 50000: enough for the proxies' RSS to level off (test/fuzz/README.md).
    const warmupCount = options.index !== undefined ? 0 : options.warmup ?? Math.max(2000, Math.min(50000, Math.round(options.count / 20)));
    const warmupStarted = Date.now();
    for (const t of proxies) await fuzz.runCrafted(t, 'warm-up: password', Buffer.concat([greeting, auth(Buffer.from(password)), connect]));
    if (warmupCount > 0) {
      for (const t of proxies) {
        const wrongPassword = () => fuzz.runCrafted(t, 'warm-up: wrong password', Buffer.concat([greeting, auth(Buffer.from('not-the-password')), connect]));
        for (let round = 0; round < 3; round++) {
          await Promise.all(Array.from({ length: 4 }, wrongPassword));
          const lookups = Array.from({ length: 32 }, (_, k) => Buffer.concat([greeting, auth(Buffer.from(password)), connectTo(`warm-up-${round}-${k}.nx`)]));
          await Promise.all(lookups.map((bytes) => fuzz.runCrafted(t, 'warm-up: lookup', bytes)));
        }
        await Promise.all(Array.from({ length: 4 }, wrongPassword));
      }
      results.warmupArenaSeconds = (Date.now() - warmupStarted) / 1000;
      mark('warm-up: passwords and lookups');
      await runMany((k) => WARMUP_BASE + k, warmupCount);
    }
    results.warmup = { handshakes: results.handshakes, seconds: (Date.now() - warmupStarted) / 1000 };
    mark('warm-up');
    // Refused clients linger 2 s; measure once the descriptor counts have stopped falling.
    if (options.index === undefined) {
      await new Promise((r) => setTimeout(r, 2500));
      const fds = () => proxies.map((t) => countFds(t.proxy.pid)).join(',');
      for (let last = fds(), until = Date.now() + 10000; Date.now() < until; ) {
        await new Promise((r) => setTimeout(r, 500));
        const now = fds();
        if (now === last) break;
        last = now;
      }
    }
    for (const t of proxies) {
      memory[t.name].startKb = readRss(t.proxy.pid);
      memory[t.name].startFds = countFds(t.proxy.pid);
      memory[t.name].startMappings = bigMappings(t.proxy.pid);
      memory[t.name].startFdKinds = fdKinds(t.proxy.pid);
    }
    if (warmupCount > 0) say(`fuzz: warm-up: ${results.handshakes} handshakes in ${results.warmup.seconds.toFixed(1)} s (${results.warmupArenaSeconds.toFixed(1)} s of them for the password checks and lookups); baseline RSS ${proxies.map((t) => `${t.name} ${mb(memory[t.name].startKb)} MB`).join(', ')}`);

    mark('baseline');
    const before = results.handshakes;
    const started = Date.now();
    if (options.index !== undefined) {
      fuzz.verbose = true;
      await fuzz.runOne(options.index);
    } else await runMany((k) => k, options.count);
    const seconds = (Date.now() - started) / 1000;

    // Settle: every client connection is closed; give the proxies time to
    // close their ends and their heaps time to shrink, then measure. The
    // proxy cannot be made to collect garbage from here; it is measured
    // idle, after load, which is when a leak shows.
    // A refused client's socket lingers 2 s (src/session/session.ts), so no verdict before that.
    mark('run');
    const settleFrom = Date.now();
    const settleUntil = settleFrom + options.settle * 1000;
    const settled = () =>
      Date.now() - settleFrom >= Math.min(3000, options.settle * 1000) &&
      proxies.every((t) => t.proxy.exited || (readRss(t.proxy.pid) <= memory[t.name].startKb * options.rssRatio && sockets(fdKinds(t.proxy.pid)) <= sockets(memory[t.name].startFdKinds) + 2));
    while (Date.now() < settleUntil && !settled()) await new Promise((r) => setTimeout(r, 250));
    clearInterval(sampler);
    sample();
    for (const t of proxies) {
      memory[t.name].endKb = readRss(t.proxy.pid);
      memory[t.name].endFds = countFds(t.proxy.pid);
      memory[t.name].endMappings = bigMappings(t.proxy.pid);
      memory[t.name].endFdKinds = fdKinds(t.proxy.pid);
    }
    const unmatched = servers.unmatched();

    // Stop the proxies cleanly: a clean exit after all this is part of the check.
    mark('settle');
    const exits = {};
    for (const t of proxies) {
      const alive = !t.proxy.exited;
      const how = await stopProxy(t.proxy);
      exits[t.name] = alive ? how : 'crashed earlier';
    }
    mark('stop');

    // ---- summary ----
    const logs = Object.fromEntries(proxies.map((t) => [t.name, { lines: t.proxy.logLines, rawControlBytes: t.proxy.controlLines, notTimestamped: t.proxy.brokenLines, byKind: t.proxy.controlByKind, examples: t.proxy.logExamples }]));
    const rss = Object.fromEntries(
      proxies.map((t) => {
        const m = memory[t.name];
        const ratio = (a, b) => (a && b ? Math.round((a / b) * 1000) / 1000 : undefined);
        return [t.name, { coldMB: mb(m.coldKb), startMB: mb(m.startKb), maxMB: mb(m.maxKb), endMB: mb(m.endKb), ratio: ratio(m.endKb, m.startKb), ratioToCold: ratio(m.endKb, m.coldKb), startFds: m.startFds, endFds: m.endFds, startFdKinds: m.startFdKinds, endFdKinds: m.endFdKinds, startMappings: m.startMappings, endMappings: m.endMappings }];
      }),
    );
    const rssGrew = Object.values(rss).filter((m) => m.ratio !== undefined && m.ratio > options.rssRatio).length;
    // Sockets are what a leak would hold; pipes and epoll sets are pools the C relay makes when it first needs them.
    const fdsGrew = Object.values(rss).filter((m) => m.endFdKinds !== undefined && m.startFdKinds !== undefined && sockets(m.endFdKinds) > sockets(m.startFdKinds) + 2).length;
    const logFindings = Object.values(logs).reduce((n, l) => n + l.rawControlBytes + l.notTimestamped, 0);
    const uncleanExits = Object.entries(exits).filter(([, how]) => how !== 'crashed earlier' && (how.code !== 0 || how.signal)).map(([n, how]) => `${n}: ${JSON.stringify(how)}`);
    const findings =
      results.crashes.length + results.hangs + results.wrong + results.blockedDials + unmatched.dials.length + results.udp.leaked + results.udp.missing + rssGrew + fdsGrew + logFindings + uncleanExits.length;
    const summary = {
      fuzz: 'hasocks',
      ok: findings === 0,
      seed: options.seed,
      handshakes: results.handshakes,
      perProxy: Object.fromEntries(Object.entries(results.perTarget).map(([n, s]) => [n, s.handshakes])),
      seconds: Math.round(seconds * 10) / 10,
      rate: Math.round((results.handshakes - before) / seconds),
      warmupHandshakes: results.warmup.handshakes,
      inconclusive: results.inconclusive,
      fuzzerLagMs: { p99: Math.round(lag.percentile(99) / 1e6), max: Math.round(lag.max / 1e6) },
      phaseSeconds: results.phases,
      msPerOutcome: Object.fromEntries(Object.entries(results.timing).map(([k, t]) => [k, Math.round(t.ms / t.n)])),
      crashes: results.crashes.length,
      hangs: results.hangs,
      wrong: results.wrong,
      wrongByClass: results.wrongByClass,
      hangByClass: results.hangByClass,
      blockedDials: results.blockedDials,
      unexpectedDials: unmatched.dials.length,
      grantsWithoutDial: unmatched.grants.length,
      udp: { sent: results.udp.sent, mustForward: results.udp.mustForward, mustDrop: results.udp.mustDrop, unsure: results.udp.unsure, missing: results.udp.missing, leaked: results.udp.leaked, leakByClass: results.udp.leakByClass, replies: results.udp.replies },
      logs: Object.fromEntries(Object.entries(logs).map(([n, l]) => [n, { lines: l.lines, rawControlBytes: l.rawControlBytes, notTimestamped: l.notTimestamped, byKind: l.byKind }])),
      rss,
      exits: Object.fromEntries(Object.entries(exits).map(([n, how]) => [n, typeof how === 'string' ? how : how.signal ?? how.code])),
      byKind: results.byKind,
      alternativesAccepted: results.alternatives,
      outcomes: results.outcomes,
      timeoutChecks: results.timeoutChecks,
      bindPeers: results.bindPeers,
      failedPasswordChecks: results.failedPasswordChecks,
    };

    say(`fuzz: ${results.handshakes} handshakes (${results.warmup.handshakes} of them warm-up), the main run in ${summary.seconds} s (${summary.rate}/s): ${Object.entries(summary.perProxy).map(([p, n]) => `${n} on ${p}`).join(', ')}; ${results.skipped} skipped after a crash; ${results.inconclusive} inconclusive (the fuzzer itself took longer than timeout.negotiate to write them)`);
    say(`fuzz: seconds per phase ${JSON.stringify(results.phases)}`);
    say(`fuzz: fuzzer event-loop delay p99 ${summary.fuzzerLagMs.p99} ms, max ${summary.fuzzerLagMs.max} ms; ms per handshake by outcome ${JSON.stringify(summary.msPerOutcome)}`);
    if (Object.keys(results.alternatives).length) say(`fuzz: outcomes the spec also allows, taken: ${JSON.stringify(results.alternatives)}`);
    say(`fuzz: kinds ${JSON.stringify(results.byKind)}, outcomes ${JSON.stringify(results.outcomes)}, ${results.timeoutChecks} negotiate-timeout checks, ${results.bindPeers} BIND peers, ${results.failedPasswordChecks} failed password checks`);
    say(`fuzz: crashes ${results.crashes.length}, hangs ${results.hangs}, wrong replies ${results.wrong}, dials to blocked targets ${results.blockedDials}, dials nobody was granted ${unmatched.dials.length}`);
    for (const c of results.crashes) say(`  CRASH ${c.proxy} (pid ${c.pid}) ${JSON.stringify(c.exit)}; in flight: ${c.inFlight.map((f) => `#${f.index} ${f.input}`).slice(0, 20).join(' | ')}\n  last log lines:\n    ${c.log.join('\n    ')}`);
    for (const [cls, n] of Object.entries(results.wrongByClass).sort((a, b) => b[1] - a[1])) {
      say(`  wrong: ${cls}: ${n}`);
      for (const e of results.wrongExamples[cls]) say(`    #${e.index} ${e.proxy} [${e.label}] input ${e.input} (chunks ${e.chunks}); expected ${e.expected.join(' | ')}; got ${e.got}${e.note ? `; ${e.note}` : ''}`);
    }
    for (const e of results.hangExamples) say(`  HANG #${e.index} ${e.proxy} [${e.label}] input ${e.input} (chunks ${e.chunks}); expected ${e.expected.join(' | ')}; got ${e.got}; ${e.note}`);
    for (const e of results.blockedDialExamples) say(`  DIAL to a blocked target: ${e}`);
    if (unmatched.dials.length) say(`  DIALS to the target that no granted reply named (source ports): ${unmatched.dials.slice(0, 20).join(' ')}`);
    say(`fuzz: UDP: ${results.udp.sent} datagrams, ${results.udp.mustForward} must arrive, ${results.udp.mustDrop} must be dropped, ${results.udp.unsure} left open by the spec; ${results.udp.missing} missing, ${results.udp.leaked} leaked ${JSON.stringify(results.udp.leakByClass)}, ${results.udp.replies} replies`);
    for (const e of results.udp.leakExamples) say(`  UDP LEAK (${e.cls}) at ${e.where}: payload ${e.payload} from datagram ${e.datagram} (#${e.index} ${e.proxy}, oracle ${JSON.stringify(e.oracle)})`);
    for (const [n, l] of Object.entries(logs)) {
      if (l.rawControlBytes || l.notTimestamped) say(`  LOG ${n}: ${l.rawControlBytes} lines with raw control bytes ${JSON.stringify(l.byKind)}, ${l.notTimestamped} lines not starting with a timestamp; e.g. ${l.examples.slice(0, 4).join(' ')}`);
    }
    for (const [n, m] of Object.entries(rss)) say(`fuzz: ${n}: RSS ${m.coldMB} MB cold, ${m.startMB} MB after warm-up (the baseline), ${m.maxMB} MB at most, ${m.endMB} MB after settling (x${m.ratio} of the baseline, x${m.ratioToCold} of cold); descriptors ${m.startFds} -> ${m.endFds}${m.endFds !== m.startFds ? ` (${JSON.stringify(m.startFdKinds)} -> ${JSON.stringify(m.endFdKinds)})` : ''}; large anonymous mappings (MB) ${m.startMappings.join(' ') || '-'} -> ${m.endMappings.join(' ') || '-'}; exit ${JSON.stringify(summary.exits[n])}`);
    for (const u of uncleanExits) say(`  UNCLEAN EXIT ${u}`);
    say(`fuzz: ${findings === 0 ? 'clean' : `${findings} findings`}`);
    console.log(JSON.stringify(summary));
    exitCode = findings === 0 ? 0 : 1;
  } finally {
    for (const t of proxies) if (!t.proxy.exited) await stopProxy(t.proxy);
    servers?.close();
    rmSync(dir, { recursive: true, force: true });
  }
  process.exit(exitCode);
}

let options;
try {
  options = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error(`fuzz: ${err.message}`);
  process.exit(2);
}
if (options.inner) {
  inner(options).catch((err) => {
    console.error(`fuzz: ${err.stack ?? err}`);
    process.exit(2);
  });
} else outer(process.argv.slice(2));
