// What the OCF agent and the daemon say to each other over the state
// directory's sockets. Kept free of imports with side effects: the agent
// loads it on every call.
import type { Role } from './server.js';

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
  | { cmd: 'shutdown'; drain?: number };

export type ControlReply = { ok: true; status?: ControlStatus } | { ok: false; error: string };

/** control.sock: one JSON request line in, one JSON reply line out. */
export const CONTROL_SOCKET = 'control.sock';
/** socks.sock: SOCKS served by this instance itself, for the agent's deep monitors. */
export const PROBE_SOCKET = 'socks.sock';
