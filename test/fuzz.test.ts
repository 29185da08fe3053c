// A short run of the handshake fuzzer (test/fuzz/run.mjs, `npm run fuzz`)
// against the built proxy in both of its configs: 10^4 valid, mutated and
// random handshakes whose outcomes an oracle predicts from the spec. The run
// must be clean: no crash, no hang, no wrong reply, no dial or datagram the
// rules or the spec forbid, no raw control byte in a log line, no descriptor
// left open, and each proxy's RSS near its warmed-up baseline. Runs in a
// network namespace of its own (needs root, as the other netns tests do).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from './helpers/proxy.js';

interface Summary {
  fuzz: string;
  ok: boolean;
  handshakes: number;
  perProxy: Record<string, number>;
  crashes: number;
  hangs: number;
  wrong: number;
  wrongByClass: Record<string, number>;
  blockedDials: number;
  unexpectedDials: number;
  udp: { sent: number; missing: number; leaked: number };
  logs: Record<string, { rawControlBytes: number; notTimestamped: number }>;
  rss: Record<string, { ratio: number; startFds: number; endFds: number }>;
  exits: Record<string, number | string>;
}

function runFuzzer(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO, 'test', 'fuzz', 'run.mjs'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('close', (code) => resolve({ code, output }));
  });
}

/**
 * A run this short ends before the proxies' V8 heaps reach their working
 * size, so RSS still rises over the warmed-up baseline without any leak,
 * by about half (test/fuzz/README.md has the figures). The 10% bound is
 * the long run's (`npm run fuzz -- --count 1000000`), whose warm-up reaches
 * that size first; here RSS catches gross leaks only.
 */
const RSS_RATIO = 2;

test('10^4 fuzzed handshakes with and without the "none" method: no crash, hang, wrong reply, leak or RSS growth', async () => {
  // One proxy with socksmethod ["none","username"], one with ["username"], which alone makes every client authenticate.
  // 10^4 in all, split between them: 1000 to warm up (the baseline), 9000 measured.
  const args = ['--count', '9000', '--warmup', '1000', '--seed', '20240601', '--methods', 'both', '--settle', '10', '--rss-ratio', String(RSS_RATIO)];
  const { code, output } = await runFuzzer(args);
  const line = output.split('\n').find((l) => l.startsWith('{"fuzz":'));
  // The human lines name each finding with its input in hex; show them when anything is off.
  if (line === undefined || code !== 0) throw new Error(`fuzzer exited ${code}:\n${output.split('\n').filter((l) => !l.startsWith('{"fuzz":')).join('\n')}`);
  const summary = JSON.parse(line) as Summary;
  expect(summary.handshakes).toBeGreaterThanOrEqual(10000);
  expect(summary.crashes).toBe(0);
  expect(summary.perProxy.mixed).toBeGreaterThanOrEqual(5000);
  expect(summary.perProxy.username).toBeGreaterThanOrEqual(5000);
  expect(summary.udp.sent).toBeGreaterThan(0);
  expect({ crashes: summary.crashes, hangs: summary.hangs, wrong: summary.wrongByClass, blockedDials: summary.blockedDials, unexpectedDials: summary.unexpectedDials }).toEqual({
    crashes: 0,
    hangs: 0,
    wrong: {},
    blockedDials: 0,
    unexpectedDials: 0,
  });
  expect({ missing: summary.udp.missing, leaked: summary.udp.leaked }).toEqual({ missing: 0, leaked: 0 });
  for (const [name, logs] of Object.entries(summary.logs)) expect({ name, rawControlBytes: logs.rawControlBytes, notTimestamped: logs.notTimestamped }).toEqual({ name, rawControlBytes: 0, notTimestamped: 0 });
  for (const [name, rss] of Object.entries(summary.rss)) {
    expect({ name, grew: rss.ratio > RSS_RATIO }).toEqual({ name, grew: false });
    expect(rss.endFds).toBeLessThanOrEqual(rss.startFds + 2);
  }
  for (const [name, exit] of Object.entries(summary.exits)) expect({ name, exit }).toEqual({ name, exit: 0 });
  expect(summary.ok).toBe(true);
}, 120000);
