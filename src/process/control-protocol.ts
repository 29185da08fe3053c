// What the OCF agent and the daemon say to each other over the state
// directory's sockets. Kept free of imports with side effects: the agent
// loads it on every call.
import type { Role } from '../sockets/role-gate.js';

/** What `status` answers. The OCF agent's monitor reads it. */
export interface ControlStatus {
  pid: number;
  role: Role;
  sessions: number;
  sessionMax: number;
  listeners: string[];
  openFiles: number;
  fileLimit: number;
}

export type ControlRequest =
  | { cmd: 'status' }
  | { cmd: 'promote' }
  | { cmd: 'demote'; drain?: number }
  /** config: a new config file path to use from now on (the agent's reloadable "config" parameter). */
  | { cmd: 'reload'; config?: string }
  | { cmd: 'shutdown'; drain?: number }
  /**
   * A verdict for the agent's launcher (ocf/hasocks), which answers recurring
   * depth-0 monitors without starting Node: the role, but only when every
   * listener is bound and the instance is not degraded; otherwise an error,
   * and the full agent judges and reports.
   */
  | { cmd: 'health'; degradedPercent: number };

/**
 * A control request from its JSON, checked field by field: the reply says
 * what was wrong with anything else (null, a number, an unknown command, a
 * field of the wrong type), so no request can throw in the daemon.
 */
export function checkControlRequest(value: unknown): ControlRequest | { invalid: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { invalid: 'a request is a JSON object with "cmd"' };
  const request = value as Record<string, unknown>;
  const number = (key: string): boolean => request[key] === undefined || (typeof request[key] === 'number' && Number.isFinite(request[key]) && request[key] >= 0);
  switch (request.cmd) {
    case 'status':
    case 'promote':
      return { cmd: request.cmd };
    case 'demote':
    case 'shutdown':
      if (!number('drain')) return { invalid: '"drain" must be a number of seconds >= 0' };
      return { cmd: request.cmd, drain: request.drain as number | undefined };
    case 'reload':
      if (request.config !== undefined && (typeof request.config !== 'string' || request.config === '')) return { invalid: '"config" must be a file path' };
      return { cmd: 'reload', config: request.config as string | undefined };
    case 'health':
      if (request.degradedPercent === undefined || !number('degradedPercent')) return { invalid: '"degradedPercent" must be a number >= 0' };
      return { cmd: 'health', degradedPercent: request.degradedPercent as number };
    default:
      return { invalid: `unknown command ${JSON.stringify(request.cmd) ?? 'undefined'}` };
  }
}

export type ControlReply = { ok: true; status?: ControlStatus; health?: 'promoted' | 'unpromoted' } | { ok: false; error: string };

/** Sessions or open files at `percent` of their limits: the monitor's DEGRADED, for the agent and the daemon alike. */
export function isDegraded(status: Pick<ControlStatus, 'sessions' | 'sessionMax' | 'openFiles' | 'fileLimit'>, percent: number): boolean {
  const share = percent / 100;
  return status.sessions >= status.sessionMax * share || (status.fileLimit > 0 && status.openFiles >= status.fileLimit * share);
}

/** control.sock: one JSON request line in, one JSON reply line out. */
export const CONTROL_SOCKET = 'control.sock';
/** socks.sock: SOCKS served by this instance itself, for the agent's deep monitors. */
export const PROBE_SOCKET = 'socks.sock';
