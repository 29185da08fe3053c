// The soak: an instance started by the OCF agent (as Pacemaker starts it)
// carries mixed traffic for a set time, with the agent's recurring monitors
// and a reload every interval, while the daemon's RSS, descriptors, open
// sessions and log errors are sampled. It passes when memory and
// descriptors stay flat, no log line or client saw an unexpected error, and
// no monitor failed. `npm run soak` (test/soak/run.mjs) and test/soak.test.ts
// both call runSoak().
import { type Socket as UdpSocket, createSocket } from 'node:dgram';
import { once } from 'node:events';
import { execa } from 'execa';
import { chmodSync, closeSync, copyFileSync, existsSync, openSync, readSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { control } from '../../ocf/control-client.js';
import { CONTROL_SOCKET } from '../../src/process/control-protocol.js';
import { encodeAddress } from '../../src/protocol/address.js';
import type { ConfigFile } from '../../src/config/types.js';
import { type ClientView, type IntegrityTarget, type Outcome, Traffic, outcomeOf, startIntegrityTarget, tally } from '../helpers/integrity-traffic.js';
import { RawClient, freePort, openAssociation, socks5Request, startEchoServer } from '../helpers/net.js';
import { daemonPid, runAgent } from '../helpers/ocf-run.js';
import { processesWith } from '../helpers/processes.js';
import { CLI } from '../helpers/proxy.js';

export interface SoakOptions {
  readonly minutes: number;
  readonly sampleEveryMs: number;
  readonly reloadEveryMs: number;
  /** Where the JSON and SVG go. */
  readonly outDir: string;
  /**
   * Judge RSS and descriptors by their growth over the first sample instead
   * of by flatness: for runs too short to settle. RSS still climbs a few
   * percent in the first minutes as V8 sizes its heaps, and descriptors
   * follow the sessions open at each sample, so two windows of a few
   * samples each differ by more than 5 % in a healthy run.
   */
  readonly growthLimits?: { readonly rssKiB: number; readonly descriptors: number };
  /** Progress lines (one per sample); silent when absent. */
  readonly log?: (line: string) => void;
}

export interface Sample {
  /** Since the start of the traffic. */
  readonly atMs: number;
  /** Summed over the supervisor and its workers. */
  readonly rssKiB: number;
  /** The supervisor's own share: tells a growth in the workers, which carry the sessions, from one in the process that only watches them. */
  readonly supervisorRssKiB: number;
  readonly descriptors: number;
  readonly processes: number;
  /** The control socket's count. */
  readonly sessions: number;
  readonly unexpectedLogLines: number;
  readonly clientErrors: number;
}

export interface MonitorResult {
  readonly atMs: number;
  readonly depth: number;
  readonly code: number;
  readonly reason: string | undefined;
}

export interface FlatCheck {
  readonly metric: 'rssKiB' | 'descriptors';
  readonly referenceWindow: [number, number];
  readonly finalWindow: [number, number];
  readonly referenceMean: number;
  readonly finalMean: number;
  /** finalMean / referenceMean - 1. */
  readonly change: number;
  readonly flat: boolean;
}

export interface SoakResult {
  readonly minutes: number;
  readonly startedAt: string;
  readonly samples: Sample[];
  readonly flat: FlatCheck[];
  /** The highest RSS sample less the first. */
  readonly rssGrowthKiB: number;
  readonly monitors: { runs: Record<string, number>; failures: MonitorResult[] };
  readonly reloads: { agent: number; sighup: number; failures: string[] };
  readonly traffic: {
    connect: Record<Outcome, number>;
    auth: { accepted: number; refusedPassword: number; refusedRule: number };
    udp: { associations: number; datagrams: number };
    bind: number;
  };
  /** Log lines by class: those expected from the refused clients, and the rest. */
  readonly log: { refusals: Record<Refusal, number>; unexpected: string[] };
  readonly clientErrors: string[];
  readonly failures: string[];
  readonly passed: boolean;
}

const USER = 'soak';
const PASSWORD = 'soak-password';
const FLAT_TOLERANCE = 0.05;
/** The agent's monitors and the intervals Pacemaker would run them at (the metadata's, for each depth). */
const MONITORS = [
  { depth: 0, everyMs: 10000 },
  { depth: 10, everyMs: 30000 },
  { depth: 20, everyMs: 60000 },
];

/**
 * The log lines the refused clients cause, at info level: the soak counts
 * them and checks that they match the refusals its clients saw. Every warn
 * or error line is unexpected.
 */
const REFUSAL_LINES = {
  'wrong password': new RegExp(`authentication failed for user "${USER}"`),
  'blocked destination': /not allowed by rules \(block socks-rule #1\)/,
} as const;
type Refusal = keyof typeof REFUSAL_LINES;

function procStatusKiB(pid: number, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : 0;
}

/** RSS and descriptors of every process of the instance; a process that exits meanwhile counts for nothing. */
function resources(configPath: string): { rssKiB: number; descriptors: number; processes: number } {
  let rssKiB = 0;
  let descriptors = 0;
  let processes = 0;
  for (const pid of processesWith(configPath)) {
    try {
      rssKiB += procStatusKiB(pid, 'VmRSS');
      descriptors += readdirSync(`/proc/${pid}/fd`).length;
      processes++;
    } catch {
      // Gone between the scan and the read.
    }
  }
  return { rssKiB, descriptors, processes };
}

/** The mean of each window and whether the final one stays within the tolerance of the reference. */
export function flatness(samples: readonly Sample[], metric: FlatCheck['metric'], minutes: number): FlatCheck {
  const totalMs = minutes * 60000;
  // The issue's windows for a long run: minutes 5-10 against the last 10. A short run scales them: its second third against its last.
  const [referenceWindow, finalWindow]: [[number, number], [number, number]] =
    minutes >= 20
      ? [
          [5 * 60000, 10 * 60000],
          [totalMs - 10 * 60000, totalMs],
        ]
      : [
          [totalMs / 3, (2 * totalMs) / 3],
          [(2 * totalMs) / 3, totalMs],
        ];
  const mean = ([from, to]: [number, number]): number => {
    const inside = samples.filter((s) => s.atMs >= from && s.atMs <= to).map((s) => s[metric]);
    return inside.length === 0 ? NaN : inside.reduce((a, b) => a + b, 0) / inside.length;
  };
  const referenceMean = mean(referenceWindow);
  const finalMean = mean(finalWindow);
  const change = finalMean / referenceMean - 1;
  return { metric, referenceWindow, finalWindow, referenceMean, finalMean, change, flat: Math.abs(change) <= FLAT_TOLERANCE };
}

/** A small line chart of RSS, descriptors and sessions over time, each scaled to its own maximum (drawn like src/drill/report.ts). */
export function renderSoakSvg(result: Pick<SoakResult, 'samples' | 'minutes' | 'passed'>): string {
  const width = 800;
  const height = 260;
  const left = 50;
  const top = 40;
  const plotHeight = 170;
  const spanMs = result.minutes * 60000;
  const x = (ms: number): number => left + ((width - left - 20) * ms) / spanMs;
  const series = [
    { key: 'rssKiB', label: 'RSS', unit: 'MiB', scale: 1 / 1024, colour: '#1d4ed8' },
    { key: 'descriptors', label: 'descriptors', unit: '', scale: 1, colour: '#2a9d3a' },
    { key: 'sessions', label: 'sessions', unit: '', scale: 1, colour: '#d97706' },
  ] as const;
  const lines = series.map((s, index) => {
    const values = result.samples.map((sample) => sample[s.key] * s.scale);
    const max = Math.max(1, ...values);
    const points = result.samples.map((sample, i) => `${x(sample.atMs).toFixed(1)},${(top + plotHeight - (plotHeight * values[i]!) / max).toFixed(1)}`).join(' ');
    const last = values.at(-1) ?? 0;
    return `<polyline fill="none" stroke="${s.colour}" stroke-width="1.5" points="${points}"/>
  <text x="${left + 200 * index}" y="${top - 8}" font-size="12" fill="${s.colour}">${s.label}: max ${max.toFixed(s.unit ? 1 : 0)}${s.unit ? ` ${s.unit}` : ''}, last ${last.toFixed(s.unit ? 1 : 0)}</text>`;
  });
  const ticks = Array.from({ length: 11 }, (_, i) => (spanMs * i) / 10)
    .map((ms) => `<text x="${x(ms).toFixed(1)}" y="${top + plotHeight + 18}" font-size="11" text-anchor="middle">${(ms / 60000).toFixed(1)}m</text>`)
    .join('\n  ');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
  <text x="${left}" y="14" font-size="13">hasocks soak: ${result.minutes} min, ${result.passed ? 'passed' : 'FAILED'} (each line scaled to its own maximum)</text>
  <rect x="${left}" y="${top}" width="${width - left - 20}" height="${plotHeight}" fill="none" stroke="#999"/>
  ${lines.join('\n  ')}
  ${ticks}
</svg>
`;
}

/** A SOCKS5 client that authenticates (RFC 1929) and echoes a line through the proxy; resolves with the auth status byte. */
async function authenticatedEcho(proxyPort: number, echoPort: number, password: string): Promise<'accepted' | 'refused'> {
  const client = await RawClient.connect(proxyPort);
  try {
    client.send([5, 1, 2]);
    const method = await client.read(2);
    if (method[1] !== 2) throw new Error(`auth client: method choice ${method.toString('hex')}`);
    client.send(Buffer.concat([Buffer.from([1, USER.length]), Buffer.from(USER), Buffer.from([password.length]), Buffer.from(password)]));
    const status = await client.read(2);
    if (status[1] !== 0) return 'refused';
    client.send(socks5Request(1, '127.0.0.1', echoPort));
    const reply = await client.read(10);
    if (reply[1] !== 0) throw new Error(`auth client: CONNECT reply ${reply[1]}`);
    const line = Buffer.from(`hello ${Date.now()}\n`);
    client.send(line);
    if (!(await client.read(line.length)).equals(line)) throw new Error('auth client: echo differs');
    return 'accepted';
  } finally {
    client.destroy();
  }
}

/** An unauthenticated CONNECT that a rule blocks: the proxy must answer 0x02. */
async function blockedConnect(proxyPort: number, blockedPort: number): Promise<void> {
  const client = await RawClient.connect(proxyPort);
  try {
    client.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, '127.0.0.1', blockedPort)]));
    const reply = await client.read(12);
    if (reply[3] !== 2) throw new Error(`blocked client: reply ${reply[3]}, not 0x02`);
  } finally {
    client.destroy();
  }
}

/** A UDP association that sends `count` datagrams to the echo server and gets each back. */
async function udpRound(proxyPort: number, udpEchoPort: number, count: number): Promise<number> {
  const { control: tcp, relayPort, client } = await openAssociation(proxyPort);
  try {
    const header = Buffer.concat([Buffer.from([0, 0, 0]), encodeAddress('127.0.0.1', udpEchoPort)]);
    for (let i = 0; i < count; i++) {
      const payload = Buffer.from(`datagram ${i} ${Date.now()}`);
      const answer = once(client, 'message') as Promise<[Buffer]>;
      client.send(Buffer.concat([header, payload]), relayPort, '127.0.0.1');
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('udp: no echo within 5 s')), 5000).unref());
      const [message] = await Promise.race([answer, timeout]);
      if (!message.subarray(header.length).equals(payload)) throw new Error('udp: echo differs');
    }
    return count;
  } finally {
    client.close();
    tcp.destroy();
  }
}

/** BIND: the proxy listens for a peer, the peer connects, a line goes each way. */
async function bindRound(proxyPort: number): Promise<void> {
  const client = await RawClient.connect(proxyPort);
  try {
    client.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(2, '127.0.0.1', 0)]));
    await client.read(2);
    const first = await client.read(10);
    if (first[1] !== 0) throw new Error(`bind: first reply ${first[1]}`);
    const peer = await RawClient.connect(first.readUInt16BE(8));
    try {
      const second = await client.read(10);
      if (second[1] !== 0) throw new Error(`bind: second reply ${second[1]}`);
      client.send(Buffer.from('to peer\n'));
      if ((await peer.read(8)).toString() !== 'to peer\n') throw new Error('bind: line to the peer differs');
      peer.send(Buffer.from('to client\n'));
      if ((await client.read(10)).toString() !== 'to client\n') throw new Error('bind: line to the client differs');
    } finally {
      peer.destroy();
    }
  } finally {
    client.destroy();
  }
}

async function startUdpEcho(): Promise<{ port: number; socket: UdpSocket }> {
  const socket = createSocket('udp4');
  socket.on('message', (message, from) => socket.send(message, from.port, from.address));
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return { port: (socket.address() as AddressInfo).port, socket };
}

/** The lines appended to a file since the last call, read from where the last call stopped: a long run's log is never read whole. */
class LogTail {
  private offset = 0;
  private partial = '';

  constructor(private readonly path: string) {}

  fresh(): string[] {
    if (!existsSync(this.path)) return [];
    const fd = openSync(this.path, 'r');
    try {
      const chunks: string[] = [this.partial];
      const buffer = Buffer.alloc(1 << 20);
      for (let read; (read = readSync(fd, buffer, 0, buffer.length, this.offset)) > 0; ) {
        this.offset += read;
        chunks.push(buffer.toString('utf8', 0, read));
      }
      const lines = chunks.join('').split('\n');
      this.partial = lines.pop()!;
      return lines;
    } finally {
      closeSync(fd);
    }
  }
}

/** Run `task` again and again, `gapMs` apart, until stopped; each error is recorded, not thrown. */
function repeat(gapMs: number, task: () => Promise<void>, onError: (err: unknown) => void): { stop: () => Promise<void> } {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await task().catch(onError);
      if (!stopped) await new Promise((resolve) => setTimeout(resolve, gapMs));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const say = options.log ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), 'hasocks-soak-'));
  chmodSync(dir, 0o755);
  const stateDir = join(dir, 'state');
  const configPath = join(dir, 'hasocks.json');
  const logPath = join(dir, 'proxy.log');
  const usersPath = join(dir, 'users');
  const failures: string[] = [];
  const clientErrors: string[] = [];
  const clientError = (what: string) => (err: unknown) => clientErrors.push(`${what}: ${(err as Error).message}`);

  // One target per kind of CONNECT traffic: each Traffic numbers its sessions from 1, and a target knows sessions by number.
  const bulkTarget = await startIntegrityTarget('127.0.0.1');
  const shortTarget = await startIntegrityTarget('127.0.0.1');
  const echo = await startEchoServer();
  const udpEcho = await startUdpEcho();
  const blockedPort = await freePort();
  const proxyPort = await freePort();
  writeFileSync(usersPath, '');
  chmodSync(usersPath, 0o600);
  await execa(process.execPath, [CLI, 'passwd', usersPath, USER], { input: `${PASSWORD}\n` });

  // Two valid configs that the reloads alternate between: a change the daemon must take in, without touching listeners or workers.
  const config = (variant: number): ConfigFile => ({
    internal: [`127.0.0.1:${proxyPort}`],
    workers: 2,
    socksmethod: ['none', 'username'],
    users: usersPath,
    logoutput: [logPath],
    // Within the descriptor limit the agent's daemon gets, so the daemon has no reason to warn at start.
    session: { max: 1000 },
    timeout: { negotiate: 30 + variant },
    rules: [
      { type: 'client', action: 'pass', from: '0/0' },
      { type: 'socks', action: 'block', to: '127.0.0.1/32', port: blockedPort, comment: `variant ${variant}` },
      { type: 'socks', action: 'pass', from: '0/0', to: '0/0' },
    ],
  });
  const writeConfig = (variant: number): void => {
    writeFileSync(configPath, JSON.stringify(config(variant)));
    chmodSync(configPath, 0o644);
  };
  writeConfig(0);
  const params = { config: configPath, state_dir: stateDir, probe_target: `127.0.0.1:${echo.port}` };
  const instance = `hs-soak-${process.pid}`;
  const agent = (action: string, env: Record<string, string> = {}) => runAgent(action, params, env, instance);

  const started = await agent('start');
  if (started.code !== 0) throw new Error(`agent start: ${started.code} ${started.reason ?? started.stderr}`);
  const t0 = Date.now();
  const samples: Sample[] = [];
  const monitorRuns: Record<string, number> = {};
  const monitorFailures: MonitorResult[] = [];
  const reloads = { agent: 0, sighup: 0, failures: [] as string[] };
  const auth = { accepted: 0, refusedPassword: 0, refusedRule: 0 };
  const udp = { associations: 0, datagrams: 0 };
  let binds = 0;
  const outcomes: Outcome[] = [];
  const refusalLines: Record<Refusal, number> = { 'wrong password': 0, 'blocked destination': 0 };
  const unexpectedLog: string[] = [];
  const logReader = new LogTail(logPath);

  /** Classify the log lines written since the last call. */
  const readLog = (): void => {
    for (const line of logReader.fresh()) {
      const level = /^\S+ (\w+):/.exec(line)?.[1];
      if (level === 'warn' || level === 'error') unexpectedLog.push(line);
      for (const [refusal, pattern] of Object.entries(REFUSAL_LINES) as [Refusal, RegExp][]) if (pattern.test(line)) refusalLines[refusal]++;
    }
  };

  // Every session's outcome is taken as it ends, and its target view dropped, so a long run holds only what is in flight.
  // CONNECT traffic comes in rounds: a few lanes run a set number of sessions, then a pause. Unpaced,
  // short sessions would take both cores of a shared machine, and the client's record of every session would grow for the whole run.
  const trafficTo = (target: IntegrityTarget, maxBytes: number): Traffic =>
    new Traffic({
      proxy: { host: '127.0.0.1', port: proxyPort },
      target,
      maxBytes,
      stallMs: 20000,
      onEnd: (view: ClientView) => {
        outcomes.push(outcomeOf(view, target.sessions.get(view.id)));
        target.sessions.delete(view.id);
      },
    });
  const rounds = (target: IntegrityTarget, maxBytes: number, lanes: number, sessions: number, gapMs: number) =>
    repeat(
      gapMs,
      async () => {
        const traffic = trafficTo(target, maxBytes);
        traffic.setLanes(lanes);
        try {
          await traffic.until(`${sessions} sessions`, () => traffic.sessions.length >= sessions, 120000);
        } finally {
          await traffic.stop();
        }
      },
      clientError('CONNECT round'),
    );

  const tasks = [
    rounds(bulkTarget, 4 * 1024 * 1024, 2, 20, 100),
    rounds(shortTarget, 2048, 4, 40, 200),
    repeat(
      200,
      async () => {
        if ((await authenticatedEcho(proxyPort, echo.port, PASSWORD)) === 'accepted') auth.accepted++;
        else throw new Error('the right password was refused');
      },
      clientError('auth'),
    ),
    repeat(
      1000,
      async () => {
        if ((await authenticatedEcho(proxyPort, echo.port, 'not-the-password')) === 'refused') auth.refusedPassword++;
        else throw new Error('a wrong password was accepted');
      },
      clientError('wrong password'),
    ),
    repeat(
      1000,
      async () => {
        await blockedConnect(proxyPort, blockedPort);
        auth.refusedRule++;
      },
      clientError('blocked'),
    ),
    repeat(
      500,
      async () => {
        udp.datagrams += await udpRound(proxyPort, udpEcho.port, 20);
        udp.associations++;
      },
      clientError('udp'),
    ),
    repeat(
      500,
      async () => {
        await bindRound(proxyPort);
        binds++;
      },
      clientError('bind'),
    ),
  ];

  const monitorTimers = MONITORS.map(({ depth, everyMs }) =>
    repeat(
      everyMs,
      async () => {
        const run = await agent('monitor', { OCF_CHECK_LEVEL: String(depth) });
        monitorRuns[depth] = (monitorRuns[depth] ?? 0) + 1;
        if (run.code !== 0) monitorFailures.push({ atMs: Date.now() - t0, depth, code: run.code, reason: run.reason });
      },
      (err) => monitorFailures.push({ atMs: Date.now() - t0, depth, code: -1, reason: (err as Error).message }),
    ),
  );

  // Reloads alternate between the agent's reload action and a SIGHUP, each to the other config.
  let reloadCount = 0;
  const reloader = setInterval(() => {
    const variant = ++reloadCount % 2;
    writeConfig(variant);
    if (variant === 1) {
      void agent('reload').then((run) => {
        reloads.agent++;
        if (run.code !== 0) reloads.failures.push(`agent reload: ${run.code} ${run.reason ?? ''}`);
      });
    } else {
      const pid = daemonPid(stateDir, configPath);
      if (pid === undefined) reloads.failures.push('SIGHUP: no daemon');
      else {
        process.kill(pid, 'SIGHUP');
        reloads.sighup++;
      }
    }
  }, options.reloadEveryMs);

  const sample = async (): Promise<void> => {
    readLog();
    let sessions = -1;
    try {
      const reply = await control(join(stateDir, CONTROL_SOCKET), { cmd: 'status' });
      if (reply.ok && reply.status) sessions = reply.status.sessions;
    } catch (err) {
      failures.push(`status at ${Date.now() - t0} ms: ${(err as Error).message}`);
    }
    const supervisor = daemonPid(stateDir, configPath);
    let supervisorRssKiB = 0;
    try {
      if (supervisor !== undefined) supervisorRssKiB = procStatusKiB(supervisor, 'VmRSS');
    } catch {
      // Gone since the pid file was read: the monitors will say so.
    }
    const taken: Sample = { atMs: Date.now() - t0, ...resources(configPath), supervisorRssKiB, sessions, unexpectedLogLines: unexpectedLog.length, clientErrors: clientErrors.length };
    samples.push(taken);
    say(`soak: ${(taken.atMs / 60000).toFixed(2)} min: RSS ${(taken.rssKiB / 1024).toFixed(1)} MiB (supervisor ${(taken.supervisorRssKiB / 1024).toFixed(1)}), ${taken.descriptors} fds, ${taken.sessions} sessions, ${outcomes.length} CONNECTs, ${taken.unexpectedLogLines} unexpected log lines, ${taken.clientErrors} client errors, ${monitorFailures.length} monitor failures`);
  };

  try {
    await sample();
    const endAt = t0 + options.minutes * 60000;
    while (Date.now() < endAt) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(options.sampleEveryMs - ((Date.now() - t0) % options.sampleEveryMs), endAt - Date.now())));
      await sample();
    }
  } finally {
    clearInterval(reloader);
    await Promise.all([...tasks, ...monitorTimers].map((t) => t.stop()));
    const stopped = await agent('stop');
    if (stopped.code !== 0) failures.push(`agent stop: ${stopped.code} ${stopped.reason ?? ''}`);
    await bulkTarget.close();
    await shortTarget.close();
    await echo.close();
    udpEcho.socket.close();
  }
  readLog();

  const connect = tally(outcomes);
  const flat = [flatness(samples, 'rssKiB', options.minutes), flatness(samples, 'descriptors', options.minutes)];
  const rssGrowthKiB = Math.max(...samples.map((s) => s.rssKiB)) - samples[0]!.rssKiB;
  const limits = options.growthLimits;
  const descriptorGrowth = Math.max(...samples.map((s) => s.descriptors)) - samples[0]!.descriptors;
  if (limits && rssGrowthKiB > limits.rssKiB) failures.push(`RSS grew ${rssGrowthKiB} KiB, over the limit of ${limits.rssKiB}`);
  if (limits && descriptorGrowth > limits.descriptors) failures.push(`descriptors grew by ${descriptorGrowth}, over the limit of ${limits.descriptors}`);
  for (const check of limits ? [] : flat) if (!check.flat) failures.push(`${check.metric} not flat: mean ${check.finalMean.toFixed(0)} in the final window against ${check.referenceMean.toFixed(0)} (${(check.change * 100).toFixed(1)} %)`);
  const brokenConnects = outcomes.length - connect.intact;
  if (brokenConnects > 0) failures.push(`${brokenConnects} CONNECT sessions not intact: ${JSON.stringify(connect)}`);
  if (unexpectedLog.length > 0) failures.push(`${unexpectedLog.length} unexpected log lines, the first: ${unexpectedLog[0]}`);
  if (clientErrors.length > 0) failures.push(`${clientErrors.length} client errors, the first: ${clientErrors[0]}`);
  if (monitorFailures.length > 0) failures.push(`${monitorFailures.length} monitor failures, the first: ${JSON.stringify(monitorFailures[0])}`);
  if (reloads.failures.length > 0) failures.push(`${reloads.failures.length} reload failures, the first: ${reloads.failures[0]}`);
  if (refusalLines['wrong password'] !== auth.refusedPassword) failures.push(`the log names ${refusalLines['wrong password']} wrong passwords, the clients saw ${auth.refusedPassword}`);
  if (refusalLines['blocked destination'] !== auth.refusedRule) failures.push(`the log names ${refusalLines['blocked destination']} blocked CONNECTs, the clients saw ${auth.refusedRule}`);
  for (const [what, count] of [
    ['intact CONNECT sessions', connect.intact],
    ['authenticated sessions', auth.accepted],
    ['refused passwords', auth.refusedPassword],
    ['blocked CONNECTs', auth.refusedRule],
    ['UDP associations', udp.associations],
    ['BIND sessions', binds],
    ['reloads', reloads.agent + reloads.sighup],
  ] as const)
    if (count === 0) failures.push(`no ${what}: the soak did not exercise them`);

  const result: SoakResult = {
    minutes: options.minutes,
    startedAt: new Date(t0).toISOString(),
    samples,
    flat,
    rssGrowthKiB,
    monitors: { runs: monitorRuns, failures: monitorFailures },
    reloads,
    traffic: { connect, auth, udp, bind: binds },
    log: { refusals: refusalLines, unexpected: unexpectedLog.slice(0, 50) },
    clientErrors: clientErrors.slice(0, 50),
    failures,
    passed: failures.length === 0,
  };
  writeFileSync(join(options.outDir, 'soak.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(options.outDir, 'soak.svg'), renderSoakSvg(result));
  // A failed run keeps the proxy's whole log beside its figures, to read what happened.
  if (!result.passed) {
    copyFileSync(logPath, join(options.outDir, 'proxy.log'));
    if (existsSync(join(stateDir, 'daemon.log'))) copyFileSync(join(stateDir, 'daemon.log'), join(options.outDir, 'daemon.log'));
  }
  rmSync(dir, { recursive: true, force: true });
  return result;
}
