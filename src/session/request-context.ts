import type { Socket } from 'node:net';
import type { RuntimeConfig } from '../config/load.js';
import type { Logger } from '../log/logger.js';
import type { TcpConnId } from '../native/addon.js';
import type { Decision, Rule } from '../policy/rules.js';
import type { MethodName, ReplyCode } from '../protocol/constants.js';
import type { SocksRequest } from '../protocol/parser.js';
import type { ClientSocket } from '../sockets/c-sessions.js';
import type { SocketFactory } from '../sockets/socket-factory.js';
import type { AuthorizedRequest } from './authorize.js';

/** Who asks, as the rules see a session: its client, how it logged in, where it connected. */
export interface Asker {
  /** The client's address in 16-byte form (rules match IPv4 as mapped IPv6). */
  readonly clientIp: Buffer;
  /** The client's forward-confirmed name, when a rule needed it. */
  readonly clientName: string | undefined;
  readonly method: MethodName | undefined;
  readonly username: string | undefined;
  /** The agent's probe socket: it passes its own way (authorize.ts). */
  readonly local: boolean;
  /** Where the client connected: in a cluster, the VIP. */
  readonly localAddress: string;
  readonly localPort: number;
  /** The rules in force now: a reload reaches a long association's next destination. */
  rulesInForce(): readonly Rule[];
}

/** Something that must end with the session: a relay, a BIND listener, a UDP association. */
export interface SessionResource {
  close(reason: string): void;
  /** Forget decisions kept for later datagrams: the rules changed. */
  rulesChanged?(): void;
}

/**
 * What a command handler (commands/) may use of its session, and nothing
 * more: who asks, the config, the client connection, and the few things a
 * handler does to the session. The session (session.ts) implements it.
 */
export interface RequestContext extends Asker {
  readonly config: RuntimeConfig;
  readonly logger: Logger;
  /** "session 12 10.0.0.1:5000", the start of each of the session's log lines. */
  readonly label: string;
  /** The destination as "host:port", for log lines. */
  readonly destinationText: string;
  readonly clientAddress: string;
  readonly startedAt: number;
  /** By when a CONNECT or BIND must have resolved and connected (ms since the epoch; Infinity without timeout.connect). */
  readonly requestDeadline: number;
  /** Where a handler's Node sockets come from (freebind where configured). */
  readonly sockets: SocketFactory;
  /** The client connection: in C (c-sessions.ts) or a Node socket. */
  readonly socket: ClientSocket;
  /** Whether the session has ended: a handler checks after waiting for something. */
  readonly isClosed: boolean;
  /** The decision of the rule that passed the request; it says what to log. */
  decision: Decision | undefined;

  /** Resolve a CONNECT or BIND destination and apply the socks rules and their limits; `proceed` gets the address to use, else the session replies and closes. */
  authorizeRequest(request: SocksRequest, proceed: (allowed: AuthorizedRequest) => void): void;
  /** Apply a passing rule's session limits: undefined when admitted, else why not. */
  takeLimit(decision: Decision): string | undefined;
  /** From here on the client is a Node socket, with nothing lost. */
  useNodeSocket(): Socket;
  /** Relay between the client and `peer` (Node sockets) until either ends. */
  startRelay(peer: Socket): void;
  /** Relay between the client in C and its connected dial, in the C relay. */
  startRelayInC(dial: TcpConnId): void;
  /** A BIND listener or UDP association that must close with the session. */
  own(resource: SessionResource): void;
  /** Send the request's reply (wrapped when GSSAPI protects the session); a failure goes through reject. */
  sendReply(reply: Buffer): void;
  /** Send a failure reply and close. */
  reject(version: 4 | 5, code: ReplyCode, why: string): void;
  /** Stop the session now. */
  terminate(reason: string): void;
}

/** A command's handler: it owns the session from the request on, and ends in a relay, a resource the session owns, or a reply that closes it. */
export type CommandHandler = (context: RequestContext, request: SocksRequest) => void;

/** A handler's unexpected failure after an await ends its session, logged; it must never end the process. */
export function internalError(context: RequestContext): (err: unknown) => void {
  return (err) => context.terminate(`internal error: ${err instanceof Error ? err.message : String(err)}`);
}
