import { chmodSync, rmSync } from 'node:fs';
import { fileLimit, openFiles } from '../sockets/descriptors.js';
import { type Server, type Socket, createServer } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../log/logger.js';
import type { SocksServer } from '../sockets/server.js';
import { CONTROL_SOCKET, type ControlReply, type ControlRequest, type ControlStatus, PROBE_SOCKET, checkControlRequest, isDegraded } from './control-protocol.js';
import { listenOn } from '../sockets/socket-factory.js';
import { privateDirectoryProblem } from '../private-files.js';

export interface ControlHandlers {
  /** Reload from `configPath` (default: the current file), or from `configText`, the file's text as a worker's supervisor read it. */
  reload(configPath?: string, configText?: string): Promise<void>;
  shutdown(drainMs: number | undefined): void;
}

function statusOf(server: SocksServer): ControlStatus {
  return {
    pid: process.pid,
    role: server.currentRole,
    sessions: server.sessionCount,
    sessionMax: server.currentConfig.sessionMax,
    listeners: server.boundAddresses(),
    openFiles: openFiles(),
    fileLimit: fileLimit(),
  };
}

/** Answer one control request for a serving process (single process, or one worker over IPC). */
export async function answerControl(server: SocksServer, handlers: ControlHandlers, request: ControlRequest, configText?: string): Promise<ControlReply> {
  const drainMs = (seconds: number | undefined): number => (seconds === undefined ? server.currentConfig.timeouts.drain : seconds * 1000);
  switch (request.cmd) {
    case 'status':
      return { ok: true, status: statusOf(server) };
    case 'health': {
      const status = statusOf(server);
      if (status.role === 'standalone') return { ok: false, error: 'not in a cluster role' };
      if (status.listeners.length < server.currentConfig.internal.length) return { ok: false, error: 'not every listener is bound' };
      if (isDegraded(status, request.degradedPercent)) return { ok: false, error: 'degraded' };
      return { ok: true, health: status.role };
    }
    case 'promote':
      server.promote();
      return { ok: true };
    case 'demote':
      server.demote(drainMs(request.drain));
      return { ok: true };
    case 'reload':
      try {
        await handlers.reload(request.config, configText);
        return { ok: true };
      } catch (err) {
        return { ok: false, error: (err as Error).message };
      }
    case 'shutdown':
      handlers.shutdown(request.drain === undefined ? undefined : drainMs(request.drain));
      return { ok: true };
    default:
      return { ok: false, error: `unknown command ${JSON.stringify((request as { cmd?: unknown }).cmd)}` };
  }
}

async function listenUnix(server: Server, path: string): Promise<void> {
  rmSync(path, { force: true });
  await listenOn(server, { path }, 16);
  chmodSync(path, 0o600);
}

/**
 * The daemon's local sockets in the state directory, both root-only (0600):
 * - control.sock: one JSON line in, one JSON line out (status, promote,
 *   demote, reload, shutdown) - how the OCF agent drives this instance;
 * - socks.sock: SOCKS served by this instance itself, so the agent's deeper
 *   monitors check this node, never whichever node holds the VIP.
 * `answer` handles a request; `probe` takes each socks.sock connection.
 */
export async function openControlSockets(
  dir: string,
  logger: Logger,
  answer: (request: ControlRequest) => Promise<ControlReply>,
  probe: (socket: Socket) => void,
): Promise<() => void> {
  const unsafe = privateDirectoryProblem(dir);
  if (unsafe) throw new Error(`refusing the control directory: ${unsafe}`);
  const control = createServer((socket) => {
    socket.on('error', () => undefined);
    let buffer = '';
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const newline = buffer.indexOf('\n');
      if (newline < 0) {
        if (buffer.length > 4096) socket.destroy();
        return;
      }
      socket.removeAllListeners('data'); // one request per connection
      let request: ControlRequest | { invalid: string };
      try {
        request = checkControlRequest(JSON.parse(buffer.slice(0, newline)));
      } catch {
        request = { invalid: 'not JSON' };
      }
      const reply = 'invalid' in request ? Promise.resolve<ControlReply>({ ok: false, error: request.invalid }) : answer(request);
      void reply
        .catch((err: unknown): ControlReply => ({ ok: false, error: (err as Error).message }))
        .then((r) => socket.end(`${JSON.stringify(r)}\n`));
    });
  });
  const probes = createServer({ allowHalfOpen: true, pauseOnConnect: true }, probe);
  await listenUnix(control, join(dir, CONTROL_SOCKET));
  await listenUnix(probes, join(dir, PROBE_SOCKET));
  // An accept error is the agent's to see (its check fails and says why), not a reason to crash.
  control.on('error', (err) => logger.error(`${CONTROL_SOCKET}: ${err.message}`));
  probes.on('error', (err) => logger.error(`${PROBE_SOCKET}: ${err.message}`));
  logger.debug(`control sockets in ${dir}`);
  return () => {
    control.close();
    probes.close();
  };
}
