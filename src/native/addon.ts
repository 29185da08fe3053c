import { createRequire } from 'node:module';
import { getSystemErrorName } from 'node:util';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';

/** Socket options the addon applies before bind(). */
export interface NativeSocketOptions {
  /** Bind even if the address is not on this host yet (IP_FREEBIND, IP_BINDANY, SO_BINDANY). */
  freebind?: boolean;
  /** SO_REUSEPORT: several sockets, one per worker, on one address. */
  reuseport?: boolean;
  /** SO_REUSEADDR; default on for listeners. */
  reuseaddr?: boolean;
  /** IPV6_V6ONLY for IPv6 sockets; default on. */
  ipv6only?: boolean;
  /** listen() backlog for TCP listeners. */
  backlog?: number;
}

/** The C functions (native/src/hasocks_native.c). Each returns a non-blocking, close-on-exec fd. */
export interface NativeAddon {
  tcpListener(host: string, port: number, options?: NativeSocketOptions): number;
  udpSocket(host: string, port: number, options?: NativeSocketOptions): number;
  /** A TCP socket bound to host:port (port 0: any) and not yet connected. */
  tcpSocket(host: string, port: number, options?: NativeSocketOptions): number;
  /** "address|port" of a socket. */
  localAddress(fd: number): string;
  close(fd: number): void;
  /** A second, close-on-exec descriptor for the same socket. */
  dup(fd: number): number;
  /** Whether closing the socket resets its peer instead of ending its stream (SO_LINGER 0; native/src/socket_address.h says why). */
  socketResetOnClose(fd: number, reset: boolean): void;
  /** The socket's pending error (SO_ERROR), taken: an errno, or 0. */
  socketError(fd: number): number;
  /** Make the SO_REUSEPORT group of these listeners hand out new connections in turn (Linux, root); throws where it cannot. */
  reuseportRoundRobin(fds: number[]): void;
  /** Have the kernel SIGKILL this process when its parent ends (PR_SET_PDEATHSIG); returns the parent's pid now. Linux; throws elsewhere. */
  dieWithParent(): number;

  // The UDP ASSOCIATE fast path (native/src/udp_relay.c); src/session/commands/udp-transport.ts wraps it.
  /**
   * Own `clientFd` and relay its datagrams: those from clientAddress (and
   * clientPort, unless 0) whose route is learned go out in C; the rest, and
   * replies from senders not yet learned, go to `onSlow`.
   */
  udpRelayOpen(clientFd: number, clientAddress: string, clientPort: number, onSlow: UdpSlowPath): UdpRelayHandle;
  /** Own `fd`, the outgoing socket of its address family. */
  udpRelayOutgoing(relay: UdpRelayHandle, fd: number): void;
  /** Cache a decision: datagrams to (toClient false) or from (true) address:port pass or are dropped. */
  udpRelayLearn(relay: UdpRelayHandle, toClient: boolean, address: string, port: number, pass: boolean): void;
  /** Send from the outgoing socket of the address's family: bytes sent or -errno. */
  udpRelaySendOut(relay: UdpRelayHandle, payload: Buffer, address: string, port: number): number;
  /** Send header + payload to the client: bytes sent or -errno. */
  udpRelaySendToClient(relay: UdpRelayHandle, header: Buffer, payload: Buffer): number;
  /** [datagrams up, bytes up, datagrams down, bytes down, last activity in ms since the epoch]; read them before udpRelayClose. */
  udpRelayStats(relay: UdpRelayHandle): [number, number, number, number, number];
  /** Forget every learned route (the rules changed): their next datagrams take the slow path again. */
  udpRelayForget(relay: UdpRelayHandle): void;
  /** Stop and close every socket the relay owns. */
  udpRelayClose(relay: UdpRelayHandle): void;

  // The TCP relay's fast path (native/src/tcp_relay.c); src/relay/native-relay.ts wraps it.
  /** The callback every TCP relay of this process reports to; set once, before the first tcpRelayOpen. `splice` false: read() and send() instead. */
  tcpRelayInit(onEvent: (relay: TcpRelayId, event: TcpRelayEvent, value: number) => void, splice?: boolean): void;
  /**
   * Own both descriptors and relay between them until both sides have sent
   * FIN or either fails. clientBytes and targetBytes, already read from each
   * side, go to the other first.
   */
  tcpRelayOpen(clientFd: number, targetFd: number, clientBytes: Buffer | null, targetBytes: Buffer | null): TcpRelayId;
  /** [bytes up, bytes down, milliseconds since anything last moved]; a closed relay's figures are readable while its end event is heard, then its id is stale. */
  tcpRelayStats(relay: TcpRelayId): [number, number, number];
  /** Close both sockets now; no event follows. A relay already closed is left alone. */
  tcpRelayClose(relay: TcpRelayId): void;

  // Session sockets in C (native/src/tcp_conn.c); src/sockets/c-sessions.ts wraps them.
  /**
   * The callback every listener, client and dial of this process reports to (see TcpConnEvent).
   * The top `reservedDescriptors` of RLIMIT_NOFILE are never given to a client: a listener reports EMFILE instead.
   */
  tcpConnInit(onEvent: (event: TcpConnEvent, id: TcpConnId, ...args: Array<number | string | Buffer | undefined>) => void, reservedDescriptors: number): void;
  /** Own a listening socket and accept from it; `wildcard`: report each client's local address. */
  tcpConnListen(fd: number, wildcard: boolean): TcpConnId;
  /** Connect `fd` (-1: a new socket) to an IP: the dial's id, or -errno when connect() failed at once. */
  tcpConnDial(fd: number, address: string, port: number): TcpConnId | number;
  /** A client's reads, or a listener's accepts, on. */
  tcpConnResume(id: TcpConnId): void;
  tcpConnPause(id: TcpConnId): void;
  /** Send to a client, queueing what the kernel does not take now: 0, or an errno. */
  tcpConnWrite(id: TcpConnId, bytes: Buffer): number;
  /** FIN to a client once all written has gone; true if that closed it (the client had ended too), else a CLOSED event follows. */
  tcpConnEnd(id: TcpConnId): boolean;
  /** Close any of them now; no event follows. */
  tcpConnClose(id: TcpConnId): void;
  /** Give a client's descriptor to JavaScript, with what it has not sent yet. */
  tcpConnDetach(id: TcpConnId): [number, Buffer | null];
  /** Hand a client and its connected dial to the TCP relay; clientBytes go to the target first. */
  tcpConnRelay(client: TcpConnId, dial: TcpConnId, clientBytes: Buffer | null): TcpRelayId;

  // The node's count of client sessions, shared by the workers (native/src/session_count.c); src/sockets/session-budget.ts wraps it.
  /** Supervisor: a new shared count; its descriptor, to hand to the workers. */
  sessionCountCreate(): number;
  /** Worker: count in place `slot` of the shared count behind `fd`. */
  sessionCountAttach(fd: number, slot: number): void;
  /** Worker: true, and counted, if one more session keeps the node within `max`. */
  sessionCountTake(max: number): boolean;
  sessionCountGive(): void;
  /** Supervisor: worker `slot` is gone, and its sessions with it; returns how many places it held. */
  sessionCountClear(slot: number): number;
  sessionCountTotal(): number;

  // The numbers C and TypeScript must agree on, as C defines them (native/src/events.h, native/src/session_count.h); loadAddon checks them.
  /** The codes of tcpConnInit's events, by name. */
  readonly tcpConnEvents: TcpConnEvents;
  /** The codes of tcpRelayInit's events, by name. */
  readonly tcpRelayEvents: TcpRelayEvents;
  /** The most workers the shared session count has places for (sessionCountAttach's slot is below it). */
  readonly sessionCountSlots: number;
}

/** The names of each table of codes the addon exports: TypeScript handles exactly these events. */
export const ADDON_CODE_NAMES = {
  tcpConnEvents: ['ACCEPTED', 'DATA', 'END', 'ERROR', 'CONNECTED', 'CLOSED'],
  tcpRelayEvents: ['END_UP', 'END_DOWN', 'CLOSED', 'CLIENT_ERROR', 'TARGET_ERROR'],
} as const;

/** A listener, client or dial of tcp_conn.c. */
export type TcpConnId = number & { readonly __tcpConn: unique symbol };

/**
 * What tcp_conn.c reports, by its code in tcpConnEvents, and its arguments after the id:
 * ACCEPTED (clientId, remoteAddress, remotePort, localAddress | undefined, localPort), from a listener;
 * DATA (bytes), END, from a client;
 * ERROR (errno), from a client or a listener;
 * CONNECTED (errno, localAddress, localPort), from a dial; errno 0 when connected;
 * CLOSED, from a client: both sides had ended and all written was sent.
 */
export type TcpConnEvent = number & { readonly __tcpConnEvent: unique symbol };
export type TcpConnEvents = Readonly<Record<(typeof ADDON_CODE_NAMES.tcpConnEvents)[number], TcpConnEvent>>;

/** A relay's number, from tcpRelayOpen. */
export type TcpRelayId = number & { readonly __tcpRelay: unique symbol };

/** What the C relay reports, by its code in tcpRelayEvents; native/src/events.h says what each means and what comes with it. */
export type TcpRelayEvent = number & { readonly __tcpRelayEvent: unique symbol };
export type TcpRelayEvents = Readonly<Record<(typeof ADDON_CODE_NAMES.tcpRelayEvents)[number], TcpRelayEvent>>;

/** A UDP relay's number, from udpRelayOpen; after udpRelayClose it names nothing, and the calls take it as a closed relay (udpRelayStats throws). */
export type UdpRelayHandle = number & { readonly __udpRelay: unique symbol };

/** A datagram the C relay could not forward on its own: from the client (whole, SOCKS header first) or from a remote sender. */
export type UdpSlowPath = (fromClient: boolean, datagram: Buffer, address: string, port: number) => void;

/** Where the build puts the addon; HASOCKS_NATIVE_ADDON overrides it (a prebuilt copy, or a test of the no-addon path). */
export const ADDON_PATH = process.env.HASOCKS_NATIVE_ADDON ?? join(PACKAGE_ROOT, 'native', 'build', 'Release', 'hasocks_native.node');

let cached: { addon?: NativeAddon; error?: Error } | undefined;

/** The addon, or the reason it cannot be loaded. Loaded once, on first use. */
export function loadAddon(): { addon?: NativeAddon; error?: Error } {
  if (!cached) {
    try {
      const addon: unknown = createRequire(import.meta.url)(ADDON_PATH);
      const mismatch = addonMismatch(addon);
      cached = mismatch
        ? { error: new Error(`the native addon ${ADDON_PATH} was built from other sources than this hasocks (${mismatch}); rebuild it with "npm run build:native"`) }
        : { addon: addon as NativeAddon };
    } catch (err) {
      cached = { error: new Error(`cannot load the native addon ${ADDON_PATH}: ${(err as Error).message.split('\n')[0]}`) };
    }
  }
  return cached;
}

/**
 * Why `addon` does not have the numbers this TypeScript expects of it (an
 * addon built before a code was added or renamed), or undefined if it has:
 * every name of ADDON_CODE_NAMES a number, no two of a table the same, and
 * sessionCountSlots.
 */
export function addonMismatch(addon: unknown): string | undefined {
  if (typeof addon !== 'object' || addon === null) return 'not an object';
  const exported = addon as Record<string, unknown>;
  for (const [table, names] of Object.entries(ADDON_CODE_NAMES)) {
    const codes = exported[table];
    if (typeof codes !== 'object' || codes === null) return `no ${table}`;
    const seen = new Map<unknown, string>();
    for (const name of names) {
      const code = (codes as Record<string, unknown>)[name];
      if (typeof code !== 'number') return `no ${table}.${name}`;
      const other = seen.get(code);
      if (other !== undefined) return `${table}.${other} and ${table}.${name} are both ${code}`;
      seen.set(code, name);
    }
  }
  if (typeof exported.sessionCountSlots !== 'number') return 'no sessionCountSlots';
  return undefined;
}

/** An errno from the addon as a Node-style error: code "ECONNREFUSED", message "connect ECONNREFUSED 10.0.0.1:80" when `what` names the call. */
export function errnoError(errno: number, what?: string): NodeJS.ErrnoException {
  const code = errno > 0 ? getSystemErrorName(-errno) : 'EIO';
  return Object.assign(new Error(what ? `${what} ${code}` : code), { code, errno: -errno });
}
