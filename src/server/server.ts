import { type Server, type Socket, createServer } from 'node:net';
import { isIPv6 } from 'node:net';
import type { ListenAddress, RuntimeConfig } from '../config/load.js';
import { type Logger, reconfigureLogger } from '../log/logger.js';
import { formatEndpoint } from '../protocol/address.js';
import { Session } from './session.js';

const listenKey = (l: ListenAddress): string => `${l.host}|${l.port}`;

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
  private readonly listeners = new Map<string, Server>();
  private readonly sessions = new Set<Session>();
  private accepting = true;

  constructor(
    private config: RuntimeConfig,
    readonly logger: Logger,
  ) {}

  get currentConfig(): RuntimeConfig {
    return this.config;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** The addresses actually bound (port 0 in a config becomes the real port). */
  boundAddresses(): string[] {
    return [...this.listeners.values()].map((server) => {
      const address = server.address();
      return typeof address === 'object' && address ? formatEndpoint(address.address, address.port) : String(address);
    });
  }

  async start(): Promise<void> {
    for (const listen of this.config.internal) await this.openListener(listen, this.config);
  }

  private async openListener(listen: ListenAddress, config: RuntimeConfig): Promise<void> {
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new ListenError(listen, err)));
      server.listen({ host: listen.host, port: listen.port, ipv6Only: ipv6OnlyFor(listen, config), backlog: 1024 }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.logger.error(`listener ${listen.text}: ${err.message}`));
        resolve();
      });
    });
    this.listeners.set(listenKey(listen), server);
    this.logger.info(`listening on ${formatEndpoint(listen.host, (server.address() as { port: number }).port)}`);
  }

  private accept(socket: Socket): void {
    if (!this.accepting) {
      socket.destroy();
      return;
    }
    const config = this.config;
    if (this.sessions.size >= config.sessionMax) {
      this.logger.warn(`session limit ${config.sessionMax} reached; closing new client ${formatEndpoint(socket.remoteAddress ?? '?', socket.remotePort ?? 0)}`);
      socket.on('error', () => undefined);
      socket.end();
      setTimeout(() => socket.destroy(), 2000).unref();
      return;
    }
    const session = new Session(socket, config, this.logger, (s) => this.sessions.delete(s));
    this.sessions.add(session);
    session.begin();
  }

  /**
   * Put a new, already validated config in force. Listeners that are no
   * longer configured close (their open sessions continue); new ones open.
   * If a new listener cannot be opened, the reload fails and nothing changes.
   */
  async reload(next: RuntimeConfig): Promise<void> {
    const wanted = new Map(next.internal.map((l) => [listenKey(l), l]));
    const opened: string[] = [];
    try {
      for (const [key, listen] of wanted) {
        if (!this.listeners.has(key)) {
          await this.openListener(listen, next);
          opened.push(key);
        }
      }
    } catch (err) {
      for (const key of opened) this.closeListener(key);
      throw err;
    }
    for (const key of [...this.listeners.keys()]) if (!wanted.has(key)) this.closeListener(key);
    reconfigureLogger(this.logger, next.logoutput, next.debug);
    this.config = next;
  }

  private closeListener(key: string): void {
    const server = this.listeners.get(key);
    if (!server) return;
    this.listeners.delete(key);
    server.close();
    this.logger.info(`stopped listening on ${key.replace('|', ' port ')}`);
  }

  /**
   * Stop accepting, give open sessions up to `drainMs` to finish, then close
   * the rest. Resolves when no session remains.
   */
  async shutdown(drainMs: number): Promise<void> {
    this.accepting = false;
    for (const key of [...this.listeners.keys()]) this.closeListener(key);
    if (this.sessions.size > 0) {
      this.logger.info(`draining ${this.sessions.size} session(s) for up to ${drainMs / 1000}s`);
      const deadline = Date.now() + drainMs;
      while (this.sessions.size > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(100, Math.max(1, deadline - Date.now()))));
      }
      for (const session of [...this.sessions]) session.terminate('shutdown: drain time over');
    }
  }
}
