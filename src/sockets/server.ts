import { type Socket, isIP, isIPv6 } from 'node:net';
import type { ListenAddress, RuntimeConfig } from '../config/load.js';
import { type Logger, Occasional } from '../log/logger.js';
import type { NativeAddon } from '../native/addon.js';
import { dataPath } from './data-path.js';
import { formatEndpoint, isUnspecified, unmapIPv4 } from '../protocol/address.js';
import { type LocalEnd, Session } from '../session/session.js';
import { type ClientSocket, type ClientInC, ListenerInC, sessionsInC } from './c-sessions.js';
import { Registry } from './session-registry.js';
import { type SessionBudget, sessionBudget } from './session-budget.js';
import { type SocketFactory, socketsFor } from './socket-factory.js';
import { isLocalAddress, whenReady } from './local-addresses.js';
import { type Role, RoleGate } from './role-gate.js';

export const listenKey = (l: ListenAddress): string => `${l.host}|${l.port}`;

const LISTEN_BACKLOG = 1024;
/** The agent's probes come one at a time; this only bounds a local caller gone wrong. */
const PROBE_SESSIONS_MAX = 16;
/** Clients refused at session.max, and listener errors, are logged at most this often, with a count, so a flood cannot flood the log. */
const LOG_INTERVAL_MS = 10000;
const ADDRESS_POLL_MS = 500;

/**
 * "[::]:1080" alone is dual-stack, so IPv4 clients arrive as ::ffff:a.b.c.d
 * (and match their IPv4 rules). Listed next to an IPv4 listener on the same
 * port, it is IPv6-only so both can bind.
 */
function ipv6OnlyFor(listen: ListenAddress, config: RuntimeConfig): boolean {
  if (!isIPv6(listen.host)) return false;
  if (listen.host !== '::') return true;
  return config.internal.some((other) => !isIPv6(other.host) && other.port === listen.port);
}

/** A listening socket whose clients are accepted in C (c-sessions.ts). */
interface Listening {
  /** The address and port it is bound to (port 0 in a config becomes the real port). */
  readonly address: string;
  readonly port: number;
  close(): void;
}

/** Accept in C: the listener's socket is made by the addon (with freebind if configured) or inherited from the supervisor. */
function listenInC(
  addon: NativeAddon,
  listen: ListenAddress,
  inherited: number | undefined,
  freebind: boolean,
  ipv6Only: boolean,
  onClient: (client: ClientInC) => void,
  onError: (err: Error) => void,
): Listening {
  const fd = inherited ?? addon.tcpListener(listen.host, listen.port, { freebind, ipv6only: ipv6Only, backlog: LISTEN_BACKLOG });
  try {
    const [address, port] = addon.localAddress(fd).split('|') as [string, string];
    const listener = new ListenerInC(addon, fd, isUnspecified(listen.host), onClient, onError);
    return { address, port: Number(port), close: () => listener.close() };
  } catch (err) {
    if (inherited === undefined) addon.close(fd); // not the supervisor's to lose
    throw err;
  }
}

/** A listener that could not be opened, with the operator's likely fix. */
export class ListenError extends Error {
  constructor(
    readonly listen: ListenAddress,
    cause: NodeJS.ErrnoException,
  ) {
    const hint =
      cause.code === 'EADDRINUSE'
        ? 'another process already listens there (is another proxy running?)'
        : cause.code === 'EADDRNOTAVAIL'
          ? 'no interface has this address'
          : cause.code === 'EACCES'
            ? 'ports below 1024 need root or CAP_NET_BIND_SERVICE'
            : cause.message;
    super(`cannot listen on ${listen.text}: ${cause.code ?? 'error'}: ${hint}`);
    this.name = 'ListenError';
  }
}

/**
 * The SOCKS server: its listeners, the sessions they accepted, and the config
 * in force. Reload swaps the config for new sessions and adjusts listeners;
 * sessions already open keep the config they started with.
 */
export class SocksServer {
  private readonly listeners = new Map<string, Listening>();
  /** Client sessions: each holds a place of the budget. */
  private readonly sessions = new Registry<Session>();
  /** The OCF agent's probe sessions (socks.sock): never counted against session.max. */
  private readonly probes = new Registry<Session>();
  private readonly budget: SessionBudget = sessionBudget();
  private readonly refusedAtLimit = new Occasional(LOG_INTERVAL_MS);
  private accepting = true;
  /** The cluster role, and whether a client arriving now is served, held or turned away. */
  private readonly gate: RoleGate;

  private sockets: SocketFactory;
  /** Listener addresses not on this node yet, and the cancel of each one's watch. */
  private readonly addressWatch = new Map<string, () => void>();

  constructor(
    private config: RuntimeConfig,
    readonly logger: Logger,
    /** Set in worker processes: listeners come from the supervisor as inherited fds. */
    private readonly inheritedListeners?: ReadonlyMap<string, number>,
  ) {
    this.sockets = socketsFor(dataPath().addon, config.freebind);
    this.gate = new RoleGate(
      {
        config: () => this.config,
        boundAddresses: () => this.boundAddresses(),
        openSessions: () => this.sessions.size,
        terminateSessions: (reason, command) => {
          for (const session of this.sessions.snapshot()) if (command === undefined || session.command === command) session.terminate(reason);
        },
        serve: (socket, localEnd) => this.startSession(socket, false, localEnd),
        release: () => this.budget.give(),
      },
      this.logger,
    );
  }

  get currentConfig(): RuntimeConfig {
    return this.config;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** The addresses actually bound (port 0 in a config becomes the real port). */
  boundAddresses(): string[] {
    return [...this.listeners.values()].map((listener) => formatEndpoint(listener.address, listener.port));
  }

  async start(): Promise<void> {
    for (const listen of this.config.internal) this.openListener(listen, this.config);
  }

  private openListener(listen: ListenAddress, config: RuntimeConfig): void {
    // A listener on one address knows every client's local end without asking the kernel (getsockname).
    let localEnd: LocalEnd | undefined;
    const onClient = (client: ClientSocket): void => this.accept(client, localEnd);
    // Out of descriptors comes back every moment while it lasts (c-sessions.ts pauses the listener each time).
    const errors = new Occasional(LOG_INTERVAL_MS);
    const onError = (err: Error): void =>
      errors.note((count, seconds) => this.logger.error(`listener ${listen.text}: ${err.message}${seconds === undefined ? '' : ` (${count} time(s) in the last ${seconds}s)`}`));
    const inherited = this.inheritedListeners?.get(listenKey(listen));
    let listener: Listening;
    try {
      listener = listenInC(sessionsInC(), listen, inherited, config.freebind, ipv6OnlyFor(listen, config), onClient, onError);
    } catch (err) {
      throw new ListenError(listen, err as NodeJS.ErrnoException);
    }
    if (isIP(listen.host) && !isUnspecified(listen.host)) localEnd = { address: unmapIPv4(listen.host), port: listener.port };
    this.listeners.set(listenKey(listen), listener);
    this.logger.info(`listening on ${formatEndpoint(listen.host, listener.port)}`);
    if (!isLocalAddress(listen.host)) this.watchForAddress(listen.host);
  }

  /**
   * A freebind listener on an address this node does not have yet (a warm
   * standby's VIP) is already bound; say so, and say when the address arrives.
   */
  private watchForAddress(host: string): void {
    if (this.addressWatch.has(host)) return;
    this.logger.info(`waiting for address ${host} to arrive on this node; the listener is bound and will serve as soon as it does`);
    const cancel = whenReady(() => isLocalAddress(host), ADDRESS_POLL_MS, () => {
      this.addressWatch.delete(host);
      this.logger.info(`address ${host} is now present; serving on it`);
    });
    this.addressWatch.set(host, cancel);
  }

  get currentRole(): Role {
    return this.gate.role;
  }

  /** Serve clients from now on (the OCF agent's promote). */
  promote(): void {
    this.gate.promote();
  }

  /** Become a warm standby (the OCF agent's demote); open sessions may finish within `drainMs`. */
  demote(drainMs: number): void {
    this.gate.demote(drainMs);
  }

  /** Start in a role (the OCF agent starts promotable clones unpromoted). */
  setRole(role: Role): void {
    this.gate.setRole(role);
  }

  /**
   * A client from the local probe socket (the OCF agent's deep monitor). It
   * skips client rules, as it comes from this node's root-owned socket, and
   * is served in every role: the check is of this instance, not of the VIP.
   */
  acceptLocal(socket: Socket): void {
    this.startSession(socket, true);
    socket.resume(); // probe connections arrive paused, so they can be handed between processes
  }

  /**
   * A client from a listener. It takes a place of session.max at once,
   * also while it is held for a promotion, and gives it back when its
   * session (or its wait) ends.
   */
  private accept(socket: ClientSocket, localEnd: LocalEnd | undefined): void {
    if (!this.accepting || this.gate.turnsAway()) {
      socket.destroy();
      return;
    }
    if (!this.budget.take(this.config.sessionMax)) {
      this.refuseAtLimit(socket);
      return;
    }
    if (this.gate.mustHold()) this.gate.hold(socket, localEnd, this.config.timeouts.negotiate);
    else this.startSession(socket, false, localEnd);
  }

  /** Close a client over session.max at once (holding it would hold a descriptor), and say so now and then. */
  private refuseAtLimit(socket: ClientSocket): void {
    this.refusedAtLimit.note((count, seconds) =>
      this.logger.warn(
        `session limit ${this.config.sessionMax} reached: closed ${count} new client(s)${seconds === undefined ? '' : ` in the last ${seconds}s`}, the latest ${formatEndpoint(unmapIPv4(socket.remoteAddress ?? '?'), socket.remotePort ?? 0)}`,
      ),
    );
    socket.on('error', () => undefined);
    socket.destroy();
  }

  /** A client that holds a place of the budget, or (local) an agent's probe, which never does. */
  private startSession(socket: ClientSocket, local: boolean, localEnd?: LocalEnd): void {
    const registry = local ? this.probes : this.sessions;
    if (local && this.probes.size >= PROBE_SESSIONS_MAX) {
      socket.destroy();
      return;
    }
    const session = new Session(socket, this.config, this.logger, this.sockets, (s) => {
      registry.delete(s);
      if (!local) this.budget.give();
    }, local, localEnd, () => this.config.rules);
    registry.add(session);
    session.begin();
  }

  /**
   * Put a new, already validated config in force. Listeners that are no
   * longer configured close (their open sessions continue); new ones open.
   * If a new listener cannot be opened, the reload fails and nothing changes.
   */
  async reload(next: RuntimeConfig): Promise<void> {
    const sockets = socketsFor(dataPath().addon, next.freebind);
    const wanted = new Map(next.internal.map((l) => [listenKey(l), l]));
    if (this.inheritedListeners && ([...wanted.keys()].some((k) => !this.listeners.has(k)) || wanted.size !== this.listeners.size)) {
      throw new Error('"internal" changed, but with "workers" the listeners belong to the supervisor: restart hasocks to change them');
    }
    const opened: string[] = [];
    try {
      for (const [key, listen] of wanted) {
        if (!this.listeners.has(key)) {
          this.openListener(listen, next);
          opened.push(key);
        }
      }
    } catch (err) {
      for (const key of opened) this.closeListener(key);
      throw err;
    }
    for (const key of [...this.listeners.keys()]) if (!wanted.has(key)) this.closeListener(key);
    this.config = next;
    for (const session of this.sessions.snapshot()) session.rulesChanged();
    this.sockets = sockets;
  }

  private closeListener(key: string): void {
    const listener = this.listeners.get(key);
    if (!listener) return;
    this.listeners.delete(key);
    listener.close();
    this.logger.info(`stopped listening on ${key.replace('|', ' port ')}`);
    // The arrival of an address no listener uses any more is not news.
    const host = key.slice(0, key.lastIndexOf('|'));
    if (![...this.listeners.keys()].some((other) => other.startsWith(`${host}|`))) {
      this.addressWatch.get(host)?.();
      this.addressWatch.delete(host);
    }
  }

  /**
   * Stop accepting, give open sessions up to `drainMs` to finish, then close
   * the rest. Resolves when no session remains.
   */
  async shutdown(drainMs: number): Promise<void> {
    this.accepting = false;
    this.gate.close();
    for (const key of [...this.listeners.keys()]) this.closeListener(key);
    if (this.sessions.size > 0) {
      this.logger.info(`draining ${this.sessions.size} session(s) for up to ${drainMs / 1000}s`);
      const deadline = Date.now() + drainMs;
      while (this.sessions.size > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(100, Math.max(1, deadline - Date.now()))));
      }
      for (const session of this.sessions.snapshot()) session.terminate('shutdown: drain time over');
    }
    for (const probe of this.probes.snapshot()) probe.terminate('shutdown');
  }
}
