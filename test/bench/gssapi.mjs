#!/usr/bin/env node
// `npm run bench:gssapi [-- --quick]`
//
// GSSAPI throughput: hasocks with socksmethod "gssapi", a real MIT KDC in a
// temporary directory (test/helpers/kdc.ts), and the tests' RFC 1961 client
// (test/helpers/gssapi-client-run.ts) echoing through it: the same bytes go
// up and come back down, so each direction carries them once. One stream at
// each protection level, clear as the reference. Client and proxy share the
// machine, so the figure is the pair's: the client wraps and unwraps as much
// as the proxy does. Medians of 3 runs (1 with --quick). Dante is not
// measured: Debian's danted is built without GSSAPI.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const quick = process.argv.includes('--quick');
const RUNS = quick ? 1 : 3;
const BYTES = (quick ? 64 : 256) << 20;
const SERVICE = 'rcmd/socks.hasocks.test';

execFileSync('npx', ['tsc', '-p', 'tsconfig.lab.json'], { cwd: REPO, stdio: 'inherit' });
const { startKdc } = await import(join(REPO, 'dist', 'test', 'helpers', 'kdc.js'));
const { startEchoServer } = await import(join(REPO, 'dist', 'test', 'helpers', 'net.js'));
const RUNNER = join(REPO, 'dist', 'test', 'helpers', 'gssapi-client-run.js');

const dir = mkdtempSync(join(tmpdir(), 'hasocks-bench-gssapi-'));
const kdc = await startKdc();
const echo = await startEchoServer();
let proxy;
const cleanup = async () => {
  proxy?.kill('SIGTERM');
  await echo.close();
  await kdc.stop();
  rmSync(dir, { recursive: true, force: true });
};
try {
  await kdc.addUser('alice', 'alice-password');
  const keytab = await kdc.addServices([SERVICE], join(dir, 'socks.keytab'));
  const ccache = await kdc.kinit('alice', 'alice-password');
  const port = 22080;
  const config = join(dir, 'hasocks.json');
  writeFileSync(
    config,
    JSON.stringify({
      internal: [`127.0.0.1:${port}`],
      socksmethod: ['gssapi'],
      gssapi: { servicename: SERVICE, keytab, protection: ['clear', 'integrity', 'confidentiality'], replayCache: `file2:${join(dir, 'rcache2')}` },
      logoutput: ['stderr'],
      rules: [
        { type: 'client', action: 'pass', from: '0.0.0.0/0', log: ['error'] },
        { type: 'socks', action: 'pass', from: '0.0.0.0/0', to: '0.0.0.0/0', log: ['error'] },
      ],
    }),
  );
  proxy = spawn(process.execPath, [join(REPO, 'dist', 'src', 'hasocks.cjs'), 'serve', '--config', config], { env: { ...process.env, ...kdc.env }, stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise((resolve, reject) => {
    proxy.stderr.on('data', (chunk) => /listening on/.test(String(chunk)) && resolve());
    proxy.on('exit', (code) => reject(new Error(`hasocks exited with ${code}`)));
  });
  const env = { ...process.env, ...kdc.env, KRB5CCNAME: ccache };
  console.log(`GSSAPI throughput, one stream echoed: ${BYTES >> 20} MiB each way, median of ${RUNS}`);
  const results = {};
  // The proxy's own CPU time (user + system, in clock ticks of 1/100 s): its share of the pair's work.
  const proxyCpuSeconds = () => readFileSync(`/proc/${proxy.pid}/stat`, 'utf8').split(') ')[1].split(' ').slice(11, 13).reduce((sum, ticks) => sum + Number(ticks), 0) / 100;
  for (const [name, level] of [['clear', 0], ['integrity', 1], ['confidentiality', 2]]) {
    const rates = [];
    const cpuBefore = proxyCpuSeconds();
    for (let run = 0; run < RUNS; run++) {
      const scenario = { proxy: { host: '127.0.0.1', port }, service: SERVICE, level, target: { host: '127.0.0.1', port: echo.port }, echoBytes: BYTES };
      // Not execFileSync: the echo server runs in this process, and must go on serving meanwhile.
      const outcome = JSON.parse((await promisify(execFile)(process.execPath, [RUNNER, JSON.stringify(scenario)], { env, encoding: 'utf8' })).stdout);
      if (!outcome.echoed) throw new Error(`${name}: ${JSON.stringify(outcome)}`);
      rates.push(BYTES / (outcome.echoMs / 1000) / 1e6);
    }
    const median = rates.sort((a, b) => a - b)[Math.floor(rates.length / 2)];
    // Both directions' bytes over the proxy's CPU seconds: what one core of the proxy alone would carry.
    const perCore = (2 * RUNS * BYTES) / (proxyCpuSeconds() - cpuBefore) / 1e6;
    results[name] = { eachWay: Math.round(median), proxyPerCore: Math.round(perCore) };
    console.log(`  ${name.padEnd(16)} ${Math.round(median)} MB/s each way (runs: ${rates.map((r) => Math.round(r)).join(', ')}); the proxy's CPU: ${Math.round(perCore)} MB per core-second, both ways together`);
  }
  writeFileSync(join(REPO, 'bench-gssapi.json'), `${JSON.stringify({ date: new Date().toISOString(), bytes: BYTES, runs: RUNS, mbPerSecond: results }, null, 2)}\n`);
} finally {
  await cleanup();
}
