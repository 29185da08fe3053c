#!/usr/bin/env node
// `npm run bench [-- --quick] [-- --only hasocks,dante] [-- --out bench.json]`
//
// hasocks against Dante (Debian's danted), microsocks and "direct" (no proxy:
// the ceiling), one server at a time, each freshly started on loopback, driven
// by test/bench/loadgen.c (built here with the system compiler). Figures are
// medians over the runs; each server's ratio to Dante is printed and written
// to JSON with the machine, the versions and the servers' CPU use.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canConnect, cpuSeconds, processTree } from './processes.mjs';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : undefined;
const out = args.includes('--out') ? args[args.indexOf('--out') + 1] : join(REPO, 'bench-results.json');
const RUNS = quick ? 1 : 3;
const SECONDS = quick ? 1 : 3;
const IDLE_COUNTS = quick ? [1000, 9000] : [1000, 5000, 9000];
const CORES = cpus().length;

// ---- set-up: packages, the load generator, a scratch directory ----
const PACKAGES = { 'dante-server': '/usr/sbin/danted', microsocks: '/usr/bin/microsocks', gcc: '/usr/bin/gcc' };
const missing = Object.entries(PACKAGES).filter(([, bin]) => spawnSync('test', ['-x', bin]).status !== 0).map(([p]) => p);
if (missing.length > 0) {
  if (process.getuid?.() !== 0) {
    console.error(`bench: missing Debian packages: ${missing.join(' ')}; install them as root`);
    process.exit(1);
  }
  console.log(`bench: installing Debian packages: ${missing.join(' ')}`);
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  console.log(`bench: installed: ${missing.join(' ')}`);
}
const dir = mkdtempSync(join(tmpdir(), 'hasocks-bench-'));
const LOADGEN = join(dir, 'loadgen');
execFileSync('gcc', ['-O2', '-pthread', '-o', LOADGEN, join(REPO, 'test', 'bench', 'loadgen.c')], { stdio: 'inherit' });
const children = new Set();
const cleanup = () => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
};
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

// ---- the servers ----
let nextPort = 21080;
const servers = {
  direct: { start: async () => ({ proxy: 'direct', pids: () => [], stop: async () => undefined }) },
  hasocks: {
    start: () => {
      const port = nextPort++;
      const config = join(dir, 'hasocks.json');
      writeFileSync(
        config,
        JSON.stringify({
          internal: [`127.0.0.1:${port}`],
          workers: CORES,
          logoutput: ['stderr'],
          rules: [
            { type: 'client', action: 'pass', from: '0.0.0.0/0', log: ['error'] },
            { type: 'socks', action: 'pass', from: '0.0.0.0/0', to: '0.0.0.0/0', log: ['error'] },
          ],
        }),
      );
      return launch(process.execPath, [join(REPO, 'dist', 'src', 'hasocks.cjs'), 'serve', '--config', config], port);
    },
  },
  dante: {
    start: () => {
      const port = nextPort++;
      const config = join(dir, 'danted.conf');
      writeFileSync(config, readFileSync(join(REPO, 'test', 'bench', 'danted.conf'), 'utf8').replaceAll('@PORT@', String(port)));
      return launch('/usr/sbin/danted', ['-f', config], port);
    },
  },
  microsocks: { start: () => launch('/usr/bin/microsocks', ['-i', '127.0.0.1', '-p', String(nextPort)], nextPort++) },
};

async function launch(command, argv, port) {
  const child = spawn(command, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const deadline = Date.now() + 15000;
  while (!(await canConnect(port))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${command} did not start: ${stderr}`);
    await sleep(50);
  }
  await sleep(300); // workers, dante's children
  return {
    proxy: `127.0.0.1:${port}`,
    pids: () => processTree(child.pid),
    stop: async () => {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
      clearTimeout(killer);
      children.delete(child);
    },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** PSS of the processes, in bytes (shared pages split fairly among their users). */
function pss(pids) {
  let kb = 0;
  for (const pid of pids) {
    try {
      kb += Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {
      /* gone */
    }
  }
  return kb * 1024;
}

function loadgen(argv) {
  const result = spawnSync(LOADGEN, argv, { encoding: 'utf8', timeout: 120000 });
  if (result.status !== 0) throw new Error(`loadgen ${argv.join(' ')}: ${result.stderr}${result.stdout}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1));
}

async function idleMemory(server, count) {
  const before = pss(server.pids());
  const child = spawn(LOADGEN, ['idle', server.proxy, String(count)], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  const opened = await new Promise((resolve) => child.stdout.once('data', (d) => resolve(Number(/ready (\d+)/.exec(String(d))?.[1] ?? 0))));
  await sleep(1000);
  const after = pss(server.pids());
  child.stdin.end();
  await new Promise((resolve) => child.once('exit', resolve));
  children.delete(child);
  if (opened !== count) throw new Error(`only ${opened} of ${count} idle sessions opened`);
  return (after - before) / count;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** Run one measurement RUNS times on a fresh server each time; medians of every numeric field, plus CPU use. */
async function measure(name, what, run) {
  const samples = [];
  for (let i = 0; i < RUNS; i++) {
    const server = await servers[name].start();
    try {
      const cpu0 = cpuSeconds(server.pids());
      const t0 = Date.now();
      const result = await run(server);
      const wall = (Date.now() - t0) / 1000;
      samples.push({ ...result, cpuPercent: (100 * (cpuSeconds(server.pids()) - cpu0)) / wall });
    } finally {
      await server.stop();
    }
  }
  const merged = {};
  for (const key of Object.keys(samples[0])) merged[key] = typeof samples[0][key] === 'number' ? median(samples.map((s) => s[key])) : samples.some((s) => s[key]);
  process.stdout.write(`  ${name.padEnd(10)} ${what.padEnd(28)} ${JSON.stringify(merged)}\n`);
  return merged;
}

// ---- the figures ----
const FIGURES = [
  ...['down', 'up'].flatMap((dir) => [1, 64].map((streams) => ({ key: `${dir}${streams}`, label: `${dir === 'down' ? 'download' : 'upload'}, ${streams} stream${streams > 1 ? 's' : ''}`, run: (s) => loadgen(['throughput', s.proxy, dir, String(streams), String(SECONDS)]) }))),
  ...['ipv4', 'domain'].map((atyp) => ({ key: `sessions-${atyp}`, label: `sessions, ${atyp}`, run: (s) => loadgen(['sessions', s.proxy, '50', String(SECONDS), atyp]) })),
  ...IDLE_COUNTS.map((count) => ({ key: `idle${count}`, label: `memory per idle session, ${count}`, proxyOnly: true, run: async (s) => ({ bytesPerSession: await idleMemory(s, count) }) })),
  { key: 'udp', label: 'UDP datagrams', proxyOnly: true, udp: true, run: (s) => loadgen(['udp', s.proxy, String(SECONDS), '64']) },
];

const names = Object.keys(servers).filter((n) => !only || only.includes(n));
const results = {};
const started = Date.now();
console.log(`bench: ${quick ? 'quick, ' : ''}${RUNS} run(s) of ${SECONDS}s per figure; servers: ${names.join(', ')}`);
for (const name of names) {
  results[name] = {};
  for (const figure of FIGURES) {
    if (figure.proxyOnly && name === 'direct') continue;
    if (figure.udp && name === 'microsocks') continue; // microsocks has no UDP ASSOCIATE
    results[name][figure.key] = await measure(name, figure.label, figure.run);
  }
}

// ---- report ----
const version = (cmd, argv) => {
  const r = spawnSync(cmd, argv, { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.trim().split('\n')[0];
};
const machine = {
  cpu: cpus()[0]?.model,
  cores: CORES,
  kernel: version('uname', ['-r']),
  node: process.version,
  hasocks: JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version,
  dante: version('dpkg-query', ['-W', '-f=${Version}', 'dante-server']),
  microsocks: version('dpkg-query', ['-W', '-f=${Version}', 'microsocks']),
  fdLimit: version('sh', ['-c', 'ulimit -n']),
};
const rows = [
  ['download, 1 stream (GB/s)', 'down1', (r) => r.bytesPerSecond / 1e9],
  ['download, 64 streams (GB/s)', 'down64', (r) => r.bytesPerSecond / 1e9],
  ['upload, 1 stream (GB/s)', 'up1', (r) => r.bytesPerSecond / 1e9],
  ['upload, 64 streams (GB/s)', 'up64', (r) => r.bytesPerSecond / 1e9],
  ['fairness, 64 down (slowest/fastest)', 'down64', (r) => r.fairness],
  ['fairness, 64 up', 'up64', (r) => r.fairness],
  ['sessions/s, IPv4', 'sessions-ipv4', (r) => r.sessionsPerSecond],
  ['  p50 / p99 ms', 'sessions-ipv4', (r) => `${r.p50ms.toFixed(2)} / ${r.p99ms.toFixed(2)}`],
  ['sessions/s, domain', 'sessions-domain', (r) => r.sessionsPerSecond],
  ['  p50 / p99 ms', 'sessions-domain', (r) => `${r.p50ms.toFixed(2)} / ${r.p99ms.toFixed(2)}`],
  ...IDLE_COUNTS.map((c) => [`KB per idle session, ${c}`, `idle${c}`, (r) => r.bytesPerSession / 1024]),
  ['UDP datagrams/s', 'udp', (r) => r.datagramsPerSecond],
  ['  UDP lost', 'udp', (r) => r.lost],
];
const fmt = (v) => (typeof v === 'string' ? v : v === undefined ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(2));
console.log(`\nmachine: ${machine.cpu}, ${machine.cores} cores, Linux ${machine.kernel}, Node ${machine.node}; danted ${machine.dante}, microsocks ${machine.microsocks}`);
console.log(`${'figure'.padEnd(38)}${names.map((n) => n.padStart(22)).join('')}`);
for (const [label, key, get] of rows) {
  const cells = names.map((n) => {
    const r = results[n]?.[key];
    if (!r) return '-';
    const value = get(r);
    const dante = results.dante?.[key];
    const ratio = typeof value === 'number' && dante && n !== 'dante' && typeof get(dante) === 'number' && get(dante) > 0 ? ` (${(value / get(dante)).toFixed(2)}x)` : '';
    return `${fmt(value)}${ratio}`;
  });
  console.log(`${label.padEnd(38)}${cells.map((c) => c.padStart(22)).join('')}`);
}
const cpuRow = names.map((n) => {
  const r = results[n]?.down64;
  return r ? `${r.cpuPercent.toFixed(0)}%` : '-';
});
console.log(`${'server CPU, 64-stream download'.padEnd(38)}${cpuRow.map((c) => c.padStart(22)).join('')}`);
writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), quick, runs: RUNS, seconds: SECONDS, machine, results }, null, 2)}\n`);
console.log(`\nbench: wrote ${out} in ${((Date.now() - started) / 1000).toFixed(0)}s`);
