import { execa, type ResultPromise } from 'execa';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigFile } from '../../src/config/types.js';
import { CLI_PATH, PACKAGE_ROOT } from '../../src/paths.js';
import { freePort } from './net.js';

/** The repository, found the way the proxy finds its package root, so this also works compiled (npm run lab). */
export const REPO = PACKAGE_ROOT;
export const CLI = CLI_PATH;

/** Rules that let loopback clients do everything; tests that test rules bring their own. */
export const OPEN_RULES: NonNullable<ConfigFile['rules']> = [
  { type: 'client', action: 'pass', from: '0/0' },
  { type: 'socks', action: 'pass', from: '0/0', to: '0/0' },
];

export interface RunningProxy {
  /** The exit code once the proxy exits by itself (undefined: killed by a signal). */
  readonly exited: Promise<number | undefined>;
  readonly port: number;
  readonly pid: number;
  readonly configPath: string;
  readonly dir: string;
  logs(): string;
  /** Wait until a log line matches (checks lines already logged too). */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Rewrite the config file (for reload tests). */
  writeConfig(config: ConfigFile): void;
  signal(name: NodeJS.Signals): void;
  /** SIGTERM and wait; returns the exit code. Safe to call twice. */
  stop(): Promise<number | undefined>;
}

export interface StartOptions {
  /** Run inside this network namespace (the test created it). */
  netns?: string;
  /** Extra arguments after `serve`. */
  args?: string[];
  /** Listen address; default 127.0.0.1 with a free port. */
  host?: string;
  /** Extra environment for the proxy. */
  env?: Record<string, string>;
  /** A lower limit of open descriptors for the proxy (prlimit --nofile). */
  nofile?: number;
  /** A command that execs the proxy's command line, given after it (e.g. unshare into a mount namespace). */
  wrapper?: string[];
}

/**
 * Start `hasocks serve` from the built CLI with `config` (internal defaults
 * to a free loopback port) and wait for its ready line. Every proxy started
 * here is stopped by stopAllProxies() in afterEach/afterAll.
 */
const running = new Set<RunningProxy>();

export async function startProxy(partial: Partial<ConfigFile> = {}, options: StartOptions = {}): Promise<RunningProxy> {
  const host = options.host ?? '127.0.0.1';
  const port = partial.internal ? 0 : await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'hasocks-test-'));
  // Readable by all: a proxy that drops to "nobody" must still read its config.
  chmodSync(dir, 0o755);
  const configPath = join(dir, 'hasocks.json');
  const config: ConfigFile = {
    internal: [host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`],
    rules: OPEN_RULES,
    logoutput: ['stderr'],
    ...partial,
  };
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const pidFile = join(dir, 'hasocks.pid');
  // prlimit and ip netns exec both exec the command, and so must a wrapper, so the child's pid stays the proxy's.
  const command = [...(options.wrapper ?? []), ...(options.nofile ? ['prlimit', `--nofile=${options.nofile}`] : []), process.execPath, CLI, 'serve', '--config', configPath, '--pidfile', pidFile, ...(options.args ?? [])];
  const [file, ...argv] = options.netns ? ['ip', 'netns', 'exec', options.netns, ...command] : command;
  const child: ResultPromise = execa(file!, argv, { reject: false, all: true, stdin: 'ignore', env: options.env });
  let output = '';
  const listeners = new Set<() => void>();
  child.all!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    for (const l of listeners) l();
  });
  let exited = false;
  let terminated = false;
  const exit = child.then((result) => {
    exited = true;
    for (const l of listeners) l();
    return result.exitCode;
  });

  const waitForLog = (pattern: RegExp, timeoutMs = 10000): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const line = output.split('\n').find((l) => pattern.test(l));
        if (line !== undefined) {
          cleanup();
          resolve(line);
          return true;
        }
        if (exited) {
          cleanup();
          reject(new Error(`proxy exited before logging ${pattern}:\n${output}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no log line matching ${pattern} within ${timeoutMs} ms:\n${output}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        listeners.delete(listener);
      };
      const listener = (): void => void check();
      listeners.add(listener);
      check();
    });

  const proxy: RunningProxy = {
    exited: exit,
    port,
    pid: child.pid!,
    configPath,
    dir,
    logs: () => output,
    waitForLog,
    writeConfig: (next) => writeFileSync(configPath, JSON.stringify(next, null, 2)),
    signal: (name) => {
      if (name === 'SIGTERM') terminated = true;
      if (!exited) child.kill(name);
    },
    stop: async () => {
      // A second SIGTERM could land while Node tears down its signal
      // handlers and turn a clean exit into a death by signal.
      if (!exited && !terminated) child.kill('SIGTERM');
      terminated = true;
      const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
      const code = await exit;
      clearTimeout(timer);
      running.delete(proxy);
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
  running.add(proxy);
  // The pid file appears once every listener is open, whatever logoutput says.
  const deadline = Date.now() + 10000;
  while (!existsSync(pidFile)) {
    if (exited || Date.now() > deadline) {
      await proxy.stop();
      throw new Error(`proxy did not come up:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return proxy;
}

/**
 * Write `text` as the config file of a proxy with `workers` workers and
 * send SIGHUP; resolves once every worker has logged `outcome`. Each
 * worker's first such line counts, so a test waits this way once per outcome.
 */
export async function reloadWorkers(proxy: RunningProxy, text: string, workers: number, outcome: 'reloaded config' | 'reload rejected, the old config stays in force'): Promise<void> {
  writeFileSync(proxy.configPath, text);
  proxy.signal('SIGHUP');
  for (let n = 1; n <= workers; n++) await proxy.waitForLog(new RegExp(`\\[worker ${n} \\d+\\] ${outcome}`));
}

export async function stopAllProxies(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}
