import type { StdioOptions } from 'node:child_process';
import type { ListenAddress } from '../config/load.js';
import type { NativeAddon } from '../native/addon.js';
import type { ControlReply, ControlRequest } from './control-protocol.js';
import type { Role } from '../sockets/role-gate.js';
import { SESSION_COUNT_ENV } from '../sockets/session-budget.js';

/**
 * What a serving process and the supervisor of `workers` share: how a
 * process is started, what a worker finds in its environment, and the
 * messages between them over IPC. daemon.ts starts the supervisor
 * (supervisor.ts), which forks workers that run daemon.ts again; both sides
 * import this module and not each other.
 */

/** What `hasocks serve` is started with; the supervisor passes it on to its workers. */
export interface DaemonOptions {
  /** Config file; undefined runs the embedded default. */
  readonly configPath?: string | undefined;
  /** Written once listening, removed on exit; the OCF agent reads it. */
  readonly pidFile?: string | undefined;
  /** Where control.sock and socks.sock go (the OCF agent's state directory). */
  readonly controlDir?: string | undefined;
  /** The role to start in; the OCF agent starts promotable clones unpromoted. */
  readonly role?: Role | undefined;
}

/** Set in a worker's environment: its number. */
export const WORKER_ENV = 'HASOCKS_WORKER';
/** Set in a worker's environment: "host|port=fd,..." for the listeners it inherited. */
const LISTEN_FDS_ENV = 'HASOCKS_LISTEN_FDS';
/** Set in a worker's environment: the supervisor's pid, to tell whether it is still the parent. */
const SUPERVISOR_PID_ENV = 'HASOCKS_SUPERVISOR_PID';
/** A worker's descriptors 0 to 3: no stdin, the supervisor's stdout and stderr, the IPC channel. What it inherits comes next. */
const WORKER_STDIO = ['ignore', 'inherit', 'inherit', 'ipc'] as const;
const FIRST_INHERITED_FD = WORKER_STDIO.length;

/**
 * How worker `index` (from 0) is forked: its descriptors, and the
 * environment that tells it which is which. Made in one place because they
 * must agree: the listeners of `internal` (`listenerFds`, in config order)
 * from FIRST_INHERITED_FD on, then the session count.
 */
export function workerSpawn(
  index: number,
  internal: readonly ListenAddress[],
  listenerFds: readonly number[],
  sessionCountFd: number,
): { env: Record<string, string>; stdio: StdioOptions } {
  return {
    env: {
      [WORKER_ENV]: String(index + 1),
      [LISTEN_FDS_ENV]: internal.map((l, i) => `${l.host}|${l.port}=${FIRST_INHERITED_FD + i}`).join(','),
      [SESSION_COUNT_ENV]: `${FIRST_INHERITED_FD + listenerFds.length}:${index}`,
      [SUPERVISOR_PID_ENV]: String(process.pid),
    },
    stdio: [...WORKER_STDIO, ...listenerFds, sessionCountFd],
  };
}

/**
 * In a worker: have the kernel kill this process when the supervisor ends.
 * A worker also stops when its IPC channel closes, but only once its event
 * loop gets to it; a busy or stopped worker would keep its listener in the
 * SO_REUSEPORT group, and the kernel would go on queueing new clients to a
 * proxy the agent believes stopped. The kernel forgets the request when the
 * process's credentials change, so the daemon asks again after dropping
 * privileges. A supervisor already gone by then means exit now.
 */
export function dieWithSupervisor(addon: NativeAddon): void {
  if (addon.dieWithParent() !== Number(process.env[SUPERVISOR_PID_ENV])) process.exit(1);
}

/** In a worker: the listeners the supervisor handed over, by "host|port". */
export function inheritedListeners(): Map<string, number> {
  const map = new Map<string, number>();
  for (const item of (process.env[LISTEN_FDS_ENV] ?? '').split(',').filter(Boolean)) {
    const [key, fd] = item.split('=') as [string, string];
    map.set(key, Number(fd));
  }
  return map;
}

/** Supervisor -> worker: the config text to start on, a control request to answer, or a probe connection (with the socket as handle). */
export interface WorkerMessage {
  id?: number;
  control?: ControlRequest;
  /**
   * The config file's text as the supervisor read it: first of all to a new
   * worker, which starts on it, and with each reload request. Workers never
   * read the config file themselves (supervisor.ts says why).
   */
  configText?: string | undefined;
  probe?: true;
}

/** Worker -> supervisor: ready (with its pid), or the reply to control request `id`. */
export interface WorkerReply {
  ready?: number;
  id?: number;
  reply?: ControlReply;
}
