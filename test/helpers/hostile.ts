// Hostile clients for test/hostile.test.ts: the load generator of
// test/bench/loadgen.c built for the test, child processes with a
// descriptor limit of their own (more clients than a jest worker may hold),
// a flood of clients from this process, and a look at a process in /proc.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { join } from 'node:path';
import { REPO } from './proxy.js';
import { RawClient, socks5Request } from './net.js';

/** Build loadgen.c into `dir`; returns the binary's path. */
export function buildLoadgen(dir: string): string {
  const binary = join(dir, 'loadgen');
  execFileSync('gcc', ['-O2', '-pthread', '-o', binary, join(REPO, 'test', 'bench', 'loadgen.c')], { stdio: ['ignore', 'ignore', 'pipe'] });
  return binary;
}

export interface LimitedChild {
  readonly pid: number;
  /** Every stdout line so far. */
  readonly lines: string[];
  /** Resolves with the exit code (null after a signal) once the process has exited. */
  readonly exited: Promise<number | null>;
  /** Wait until a stdout line matches; rejects if the process exits first or the time runs out. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string>;
  /** Write a line to its stdin. */
  send(line: string): void;
  /** Close its stdin (loadgen idle holds its sessions until then). */
  closeStdin(): void;
  /** SIGTERM, then SIGKILL after 5 s; resolves once it has exited. Safe to call twice. */
  stop(): Promise<void>;
  stderr(): string;
}

const children = new Set<LimitedChild>();

/**
 * Run `file` with a descriptor limit of `nofile` (soft and hard) set by
 * prlimit, which execs it, so the pid is the program's. Raising the hard
 * limit above the caller's needs CAP_SYS_RESOURCE (root has it); without
 * it prlimit fails and says so on stderr, which the errors here quote.
 */
export function spawnWithLimit(nofile: number, file: string, args: string[], env?: Record<string, string>): LimitedChild {
  const child: ChildProcess = spawn('prlimit', [`--nofile=${nofile}:${nofile}`, file, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: env ? { ...process.env, ...env } : process.env,
  });
  const lines: string[] = [];
  let partial = '';
  let errors = '';
  let exitCode: number | null | undefined;
  const wake = new Set<() => void>();
  child.stdout!.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    for (const w of wake) w();
  });
  child.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  child.stdin!.on('error', () => undefined);
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      if (partial) lines.push(partial);
      exitCode = code;
      for (const w of wake) w();
      resolve(code);
    }),
  );
  const limited: LimitedChild = {
    pid: child.pid!,
    lines,
    exited,
    waitForLine: (pattern, timeoutMs) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const line = lines.find((l) => pattern.test(l));
          if (line !== undefined) done(() => resolve(line));
          else if (exitCode !== undefined) done(() => reject(new Error(`${file} ${args.join(' ')} exited (${exitCode}) before printing ${pattern}: ${lines.join(' | ')} ${errors}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`${file} ${args.join(' ')}: no line matching ${pattern} within ${timeoutMs} ms: ${lines.join(' | ')} ${errors}`))), timeoutMs);
        const done = (then: () => void): void => {
          clearTimeout(timer);
          wake.delete(check);
          then();
        };
        wake.add(check);
        check();
      }),
    send: (line) => void child.stdin!.write(`${line}\n`),
    closeStdin: () => child.stdin!.end(),
    stop: async () => {
      if (exitCode === undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      children.delete(limited);
    },
    stderr: () => errors,
  };
  children.add(limited);
  return limited;
}

/** Stop every child spawnWithLimit started that is still running (afterEach). */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...children].map((c) => c.stop()));
}

/** Run loadgen (or any program) to the end; its last stdout line parsed as JSON. */
export async function runJson<T>(nofile: number, file: string, args: string[], timeoutMs: number): Promise<T> {
  const child = spawnWithLimit(nofile, file, args);
  const timer = setTimeout(() => void child.stop(), timeoutMs);
  const code = await child.exited;
  clearTimeout(timer);
  await child.stop();
  const last = child.lines.filter((l) => l.startsWith('{')).at(-1);
  if (code !== 0 || last === undefined) throw new Error(`${file} ${args.join(' ')} exited ${code}: ${child.lines.join(' | ')} ${child.stderr()}`);
  return JSON.parse(last) as T;
}

/** CPU seconds (user + system, all threads) a process has used. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Wait until a process has settled: at most `maxCpuSeconds` of CPU in a
 * window of `windowMs` (clock ticks are 10 ms). Returns how long that took,
 * or undefined if it was still busy after `timeoutMs`.
 */
export async function waitForQuiet(pid: number, timeoutMs: number, windowMs = 250, maxCpuSeconds = 0.01): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const before = cpuSeconds(pid);
    await new Promise((r) => setTimeout(r, windowMs));
    if (cpuSeconds(pid) - before <= maxCpuSeconds) return Date.now() - started;
  }
  return undefined;
}

/** How many sockets a process holds open. */
export function socketCount(pid: number): number {
  let count = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) count++;
    } catch {
      /* closed meanwhile */
    }
  }
  return count;
}

/** Poll `ready` every 20 ms until it holds; false if `timeoutMs` passes first. */
export async function eventually(ready: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ready()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The q-quantile (0..1) of an ascending array. */
export function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? NaN;
}

/**
 * A CONNECT session through the proxy to 127.0.0.1:targetPort (an echo
 * server), checked byte for byte: greeting, reply, one echo. Returns the
 * open client and the milliseconds from connect to the echo's return.
 */
export async function echoSession(proxyPort: number, targetPort: number, timeoutMs = 5000): Promise<{ client: RawClient; ms: number }> {
  const started = process.hrtime.bigint();
  const client = await RawClient.connect(proxyPort);
  try {
    client.send([5, 1, 0]);
    const method = await client.read(2, timeoutMs);
    if (method[0] !== 5 || method[1] !== 0) throw new Error(`method reply ${method.toString('hex')}`);
    client.send(socks5Request(1, '127.0.0.1', targetPort));
    const reply = await client.read(10, timeoutMs);
    if (reply[0] !== 5 || reply[1] !== 0) throw new Error(`CONNECT reply ${reply.toString('hex')}`);
    client.send(Buffer.from('hostile?'));
    const back = await client.read(8, timeoutMs);
    if (back.toString() !== 'hostile?') throw new Error(`echo came back as ${back.toString('hex')}`);
  } catch (err) {
    client.destroy();
    throw err;
  }
  return { client, ms: Number(process.hrtime.bigint() - started) / 1e6 };
}

export interface Flood {
  /** Stop the flood; resolves once every attempt in flight has ended. */
  stop(): Promise<{ attempts: number; served: number }>;
  /** Stop it without waiting (cleanup after a failed test). */
  destroy(): void;
}

/**
 * `parallel` clients that connect, greet (05 01 00) and go as soon as the
 * proxy closes them or answers, over and over until stopped. At the session
 * limit the proxy closes each without a reply; `served` counts the ones it
 * answered instead.
 */
export function startFlood(port: number, parallel: number): Flood {
  let stopping = false;
  let attempts = 0;
  let served = 0;
  const live = new Set<Socket>();
  const attempt = async (): Promise<void> => {
    const socket = connect({ port, host: '127.0.0.1' });
    live.add(socket);
    socket.on('error', () => undefined);
    socket.on('connect', () => socket.write(Buffer.from([5, 1, 0])));
    socket.on('data', (chunk: Buffer) => {
      if (chunk[0] === 5) served++;
      socket.destroy();
    });
    socket.on('end', () => socket.destroy());
    attempts++;
    // Not events.once: it rejects on 'error', and a client closed at the limit may see a reset.
    await new Promise((resolve) => socket.once('close', resolve));
    live.delete(socket);
  };
  const loops = Array.from({ length: parallel }, async () => {
    while (!stopping) await attempt();
  });
  const destroy = (): void => {
    stopping = true;
    for (const socket of live) socket.destroy();
  };
  return {
    stop: async () => {
      destroy();
      await Promise.all(loops);
      return { attempts, served };
    },
    destroy,
  };
}
