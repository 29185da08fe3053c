#!/usr/bin/env node
// `npm run bench:gssapi [-- --quick]`
//
// GSSAPI throughput: hasocks with socksmethod "gssapi", a real MIT KDC in a
// temporary directory (test/helpers/kdc.ts), and the tests' RFC 1961 client
// (test/helpers/gssapi-client-run.ts) echoing through it: the same bytes go
// up and come back down, so each direction carries them once. One stream at
// each protection level, clear as the reference. Client and proxy share the
// machine, so the figure is the pair's: the client wraps and unwraps as much
// as the proxy does. Medians of 3 runs (1 with --quick).
//
// The same client, scenarios and KDC go through Dante's server, sockd, built
// WITH GSSAPI from Debian's own source (test/helpers/dante-gssapi.sh; Debian's
// danted is built without it), one sockd per level, its socks-rule allowing
// that level only (gssapi.enctype). If Dante's source cannot be fetched
// (the script's exit 3), hasocks runs alone and the output says so.
//
// CPU per byte is each server's own: user + system time of its process tree
// (sockd's mother and the negotiate/request/io children it forks, and any
// child either has reaped), over the bytes it carried both ways.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, processTable, processTree, waitForPort } from './processes.mjs';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const quick = process.argv.includes('--quick');
const RUNS = quick ? 1 : 3;
const BYTES = (quick ? 64 : 256) << 20;
const LEVELS = [
  ['clear', 0],
  ['integrity', 1],
  ['confidentiality', 2],
];

execFileSync('npx', ['tsc', '-p', 'tsconfig.lab.json'], { cwd: REPO, stdio: 'inherit' });
const { SERVICE, startKdc } = await import(join(REPO, 'dist', 'test', 'helpers', 'kdc.js'));
const { danteGssapiBuild } = await import(join(REPO, 'dist', 'test', 'helpers', 'dante-gssapi.js'));
const { startEchoServer, freePort } = await import(join(REPO, 'dist', 'test', 'helpers', 'net.js'));
const RUNNER = join(REPO, 'dist', 'test', 'helpers', 'gssapi-client-run.js');

/**
 * SIGTERM to `child` by its pid, and until it has exited; then until each
 * process it had forked is gone too (sockd's mother does not wait for its
 * children): SIGKILL, by pid, to any still there after 5 s.
 */
async function stop(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const before = processTable();
  const descendants = processTree(child.pid, before)
    .filter((pid) => pid !== child.pid)
    .map((pid) => ({ pid, start: before.get(pid).start }));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  // The same process (pid and start time), not yet exited (a zombie has exited: init reaps it).
  const alive = () => {
    const now = processTable();
    return descendants.filter(({ pid, start }) => now.get(pid)?.start === start && now.get(pid).state !== 'Z');
  };
  const deadline = Date.now() + 5000;
  for (let left = alive(); left.length; left = alive()) {
    if (Date.now() > deadline) {
      for (const { pid } of left) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone meanwhile.
        }
      }
      break;
    }
    // They are not this process's children: no exit event to wait on.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const dir = mkdtempSync(join(tmpdir(), 'hasocks-bench-gssapi-'));
let kdc;
let echo;
let proxy;
let sockd;
const cleanup = async () => {
  await stop(sockd);
  await stop(proxy);
  await echo?.close();
  await kdc?.stop();
  rmSync(dir, { recursive: true, force: true });
};
try {
  const dante = await danteGssapiBuild();
  kdc = await startKdc();
  echo = await startEchoServer();
  await kdc.addUser('alice', 'alice-password');
  const keytab = await kdc.addServices([SERVICE], join(dir, 'socks.keytab'));
  const ccache = await kdc.kinit('alice', 'alice-password');
  const port = await freePort();
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

  /** Dante's server for one level: its config (socks-rule allowing that level only), its log, started and listening. */
  const startSockd = async (name) => {
    const sockdPort = await freePort();
    const conf = join(dir, `sockd-${name}.conf`);
    const log = join(dir, `sockd-${name}.log`);
    // Dante 1.4 takes the GSSAPI settings in rules only. A name with a "/" it imports as a Kerberos principal, not host-based: the one the client asks for.
    const gssapiLines = [`  gssapi.servicename: ${SERVICE}`, `  gssapi.keytab: ${keytab}`, `  gssapi.enctype: ${name}`, '  log: error'];
    writeFileSync(
      conf,
      [
        `logoutput: ${log}`,
        `internal: 127.0.0.1 port = ${sockdPort}`,
        'external: 127.0.0.1',
        'clientmethod: none',
        'socksmethod: gssapi',
        'user.privileged: root',
        'user.unprivileged: root',
        // The GSSAPI negotiation comes before the request a socks-rule matches: it takes its settings from the client-rule.
        'client pass {',
        '  from: 127.0.0.0/8 to: 0.0.0.0/0',
        ...gssapiLines,
        '}',
        'socks pass {',
        '  from: 127.0.0.0/8 to: 0.0.0.0/0',
        '  command: connect',
        '  socksmethod: gssapi',
        ...gssapiLines,
        '}',
        '',
      ].join('\n'),
    );
    const child = spawn(dante.sockd, ['-f', conf, '-N', '1', '-p', join(dir, `sockd-${name}.pid`)], {
      env: { ...process.env, ...kdc.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    try {
      await waitForPort(sockdPort, child, 'sockd');
    } catch (err) {
      await stop(child);
      let logged = '';
      try {
        logged = readFileSync(log, 'utf8');
      } catch {
        // No log yet.
      }
      throw new Error(`${err.message}\n${stderr}${logged}`.slice(0, 4000));
    }
    return { child, port: sockdPort, log };
  };

  const env = { ...process.env, ...kdc.env, KRB5CCNAME: ccache };
  /** RUNS echoes of BYTES through the proxy at `port`: median MB/s each way, each run's, and the server's MB per CPU-second, both ways together. */
  const measure = async (label, serverPid, serverPort, level) => {
    const rates = [];
    // The server's process tree, and the helpers sockd's processes have reaped.
    const cpuOfTree = () => cpuSeconds(processTree(serverPid), { reaped: true });
    const cpuBefore = cpuOfTree();
    for (let run = 0; run < RUNS; run++) {
      const scenario = { proxy: { host: '127.0.0.1', port: serverPort }, service: SERVICE, level, target: { host: '127.0.0.1', port: echo.port }, echoBytes: BYTES };
      // Not execFileSync: the echo server runs in this process, and must go on serving meanwhile.
      const outcome = JSON.parse((await promisify(execFile)(process.execPath, [RUNNER, JSON.stringify(scenario)], { env, encoding: 'utf8', maxBuffer: 1 << 20 })).stdout);
      if (!outcome.echoed) throw new Error(`${label}: ${JSON.stringify(outcome)}`);
      if (outcome.level !== level) throw new Error(`${label}: asked for level ${level}, granted ${outcome.level}`);
      rates.push(BYTES / (outcome.echoMs / 1000) / 1e6);
    }
    const cpu = cpuOfTree() - cpuBefore;
    const median = [...rates].sort((a, b) => a - b)[Math.floor(rates.length / 2)];
    return {
      eachWay: Math.round(median),
      runs: rates.map((r) => Math.round(r)),
      cpuSeconds: Number(cpu.toFixed(2)),
      // Both directions' bytes over the server's CPU seconds: what one core of the server alone would carry.
      perCore: cpu > 0 ? Math.round((2 * RUNS * BYTES) / cpu / 1e6) : null,
    };
  };

  console.log(`GSSAPI throughput, one stream echoed: ${BYTES >> 20} MiB each way, median of ${RUNS}; client and server share the machine`);
  console.log(dante.sockd ? `Dante: sockd ${dante.version} built with GSSAPI (test/helpers/dante-gssapi.sh), one sockd per level` : `Dante not measured, hasocks alone: ${dante.skip}`);
  const results = {};
  for (const [name, level] of LEVELS) {
    const hasocks = await measure(`hasocks ${name}`, proxy.pid, port, level);
    let danteResult;
    if (dante.sockd) {
      const server = await startSockd(name);
      sockd = server.child;
      try {
        danteResult = await measure(`Dante ${name}`, sockd.pid, server.port, level);
      } catch (err) {
        let logged = '';
        try {
          logged = readFileSync(server.log, 'utf8').slice(-3000);
        } catch {
          // No log.
        }
        throw new Error(`${err.message}\nsockd's log:\n${logged}`);
      } finally {
        await stop(sockd);
        sockd = undefined;
      }
    }
    const ratio = danteResult ? Number((hasocks.eachWay / danteResult.eachWay).toFixed(2)) : undefined;
    results[name] = { hasocks, ...(danteResult ? { dante: danteResult, ratio } : {}) };
    const line = (who, r) => `${who.padEnd(8)} ${String(r.eachWay).padStart(5)} MB/s each way (runs: ${r.runs.join(', ')}); its CPU: ${r.perCore ?? '-'} MB per core-second, both ways together`;
    console.log(`  ${name}`);
    console.log(`    ${line('hasocks', hasocks)}`);
    if (danteResult) {
      console.log(`    ${line('Dante', danteResult)}`);
      console.log(`    hasocks/Dante: ${ratio.toFixed(2)} (throughput), ${hasocks.perCore && danteResult.perCore ? (hasocks.perCore / danteResult.perCore).toFixed(2) : '-'} (bytes per CPU-second)`);
    }
  }
  writeFileSync(
    join(REPO, 'bench-gssapi.json'),
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        bytes: BYTES,
        runs: RUNS,
        dante: dante.sockd ? { version: dante.version, sockd: dante.sockd } : { skipped: dante.skip },
        // Per level: each server's median MB/s each way, each run's, CPU seconds of its process tree, MB per CPU-second (both ways); ratio = hasocks / Dante, throughput.
        mbPerSecond: results,
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await cleanup();
}
