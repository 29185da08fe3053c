import type { Decision } from '../policy/rules.js';
import { decisionLogs } from '../policy/rules.js';
import type { CommandName, MethodName } from '../protocol/constants.js';
import { type NativeAddon, loadAddon } from '../native/addon.js';
import { PACKAGE_ROOT } from '../paths.js';
import type { ClientInC, ClientSocket } from './c-sessions.js';

/**
 * Where a session's bytes run: the one place that decides it.
 *
 * hasocks needs its native addon (native/). Clients are accepted and held
 * in C (tcp_conn.c), a CONNECT dials in C, and the C relay (tcp_relay.c)
 * moves its bytes; UDP datagrams go through the C relay (udp_relay.c).
 * Node sockets remain only where C cannot serve:
 *
 * - BIND and UDP ASSOCIATE: the client becomes a Node socket (the control
 *   connection of the association, the BIND listener's peer);
 * - a CONNECT whose passing rule logs `data`, which needs each chunk in
 *   JavaScript;
 * - the agent's probes on socks.sock, a Unix socket;
 * - every session that authenticates with GSSAPI, from its method
 *   selection on (negotiatesInC): its messages are wrapped, and C cannot
 *   unwrap them. With per-message protection it stays on Node streams.
 *
 * Those relay on Node streams and move to the C relay at their first bulk
 * read (relay.ts), unless a rule logs their data. Why one path and not a
 * Node fallback: docs/architecture.md, "Which data path runs when".
 */
export interface DataPath {
  readonly addon: NativeAddon;
  /** The C relay moves bytes with splice() through pipes; false: read() and send(), as it also does when no pipe can be had. */
  readonly splice: boolean;
}

/** HASOCKS_RELAY_SPLICE=0 makes the C relay read() and send() everywhere: for tests and comparisons. */
const SPLICE_ENV = 'HASOCKS_RELAY_SPLICE';

/** The addon is missing or does not load: the proxy cannot serve, and says how to fix it. */
export class AddonMissingError extends Error {
  constructor(cause: Error) {
    // An addon built from other sources already says to rebuild it; a missing one needs the whole advice.
    const advice = cause.message.includes('npm run build:native')
      ? ''
      : `: install python3, make and a C compiler (apt-get install python3 make gcc), then run "npm run build:native" in ${PACKAGE_ROOT}`;
    super(`${cause.message}. hasocks serves through its native addon${advice}`);
    this.name = 'AddonMissingError';
  }
}

let chosen: DataPath | undefined;

/** The data path of this process, chosen once; throws AddonMissingError when the addon cannot be loaded. */
export function dataPath(): DataPath {
  if (chosen) return chosen;
  const { addon, error } = loadAddon();
  if (!addon) throw new AddonMissingError(error ?? new Error('the native addon did not load'));
  chosen = { addon, splice: process.env[SPLICE_ENV] !== '0' };
  return chosen;
}

/** One line for the start-up log. */
export function describeDataPath(path: DataPath): string {
  const relay = path.splice ? 'splice() through pipes' : `read() and send() (${SPLICE_ENV}=0)`;
  return (
    `data path: sessions in C (tcp_conn.c), CONNECT relayed in C with ${relay}, UDP datagrams in C (udp_relay.c); ` +
    'Node sockets for BIND, UDP control connections, rules that log data, and probes'
  );
}

/**
 * Whether a request is served with its client in C to the end: a CONNECT
 * whose client is in C (the agent's probes come as Node sockets), unless
 * the rule that passed it logs data. Before the rule is known, `decision`
 * is undefined and only the command counts.
 */
export function servedInC(command: CommandName, client: ClientSocket, decision?: Decision): client is ClientInC {
  return command === 'connect' && client.socketInC === true && (decision === undefined || !decisionLogs(decision, 'data'));
}

/**
 * Whether a client that chose `method` stays in C while it authenticates:
 * every method but GSSAPI, whose messages JavaScript unwraps (the session
 * hands its client to Node at the method selection).
 */
export const negotiatesInC = (method: MethodName): boolean => method !== 'gssapi';
