import type { RuntimeConfig } from '../config/load.js';
import type { Logger } from '../log/logger.js';
import { isUnspecified } from '../protocol/address.js';
import type { CommandName } from '../protocol/constants.js';
import type { LocalEnd } from '../session/session.js';
import type { ClientSocket } from './c-sessions.js';
import { isLocalAddress, whenReady } from './local-addresses.js';

/**
 * standalone: a plain service, always serving. promoted/unpromoted: a
 * promotable clone; the unpromoted (warm standby) instance keeps its
 * listeners bound and serves nobody until it is promoted.
 */
export type Role = 'standalone' | 'promoted' | 'unpromoted';

const VIP_DEPARTURE_POLL_MS = 100;
/** How often a promoted instance looks for its external addresses, and for how long at most. */
const EXTERNAL_ARRIVAL_POLL_MS = 10;
const EXTERNAL_ARRIVAL_MAX_MS = 5000;

/** What the gate needs of the server it guards. */
export interface GatedServer {
  config(): RuntimeConfig;
  boundAddresses(): string[];
  openSessions(): number;
  /** End every open session (the drain time after a demote is over), or those of one command. */
  terminateSessions(reason: string, command?: CommandName): void;
  /** Serve a client the gate held, as arriving at `localEnd`; it keeps the place of session.max it took on arrival. */
  serve(socket: ClientSocket, localEnd: LocalEnd | undefined): void;
  /** A held client left unserved: give its place back. */
  release(): void;
}

/**
 * The cluster role of this instance, and what it means for a client that
 * arrives: served, held until a promotion, or turned away. The OCF agent
 * sets the role (promote, demote); the server asks the gate about each
 * client once it has taken a place of session.max.
 */
export class RoleGate {
  private current: Role = 'standalone';
  private demoteDrain: NodeJS.Timeout | undefined;
  /**
   * Clients that reached a standby that was never demoted. They can only
   * arrive once the VIP is on this node, and the VIP is colocated with the
   * Promoted instance, so a promotion is moments away: Pacemaker starts the
   * VIP and runs promote in parallel (no order constraint). Holding these
   * clients until promote, rather than resetting them, takes the promote
   * call off a failover's critical path. They wait at most timeout.negotiate
   * (without it, as long as the promotion takes; each holds a place of
   * session.max meanwhile).
   *
   * Each keeps the local end its listener knew: a client in C from a
   * listener on one address cannot tell it, and the rules ask where it arrived.
   */
  private readonly awaitingPromotion = new Map<ClientSocket, { timer: NodeJS.Timeout | undefined; localEnd: LocalEnd | undefined }>();
  /**
   * From a demote until the VIP has left this node, new clients are reset at
   * once, so they retry where the VIP goes. Once it has gone, a client that
   * arrives can only mean the VIP is back for a coming promote: it is held.
   */
  private demoted = false;
  private cancelDepartureWatch: (() => void) | undefined;
  /**
   * Promoted, but an `external` address is not on this node yet: Pacemaker
   * starts the external VIP alongside promote, and promote no longer waits
   * for anything (ocf/hasocks). A CONNECT dialled from an absent address
   * fails (network unreachable) where one moment later it would work, so
   * clients stay held until the addresses are here, for at most
   * EXTERNAL_ARRIVAL_MAX_MS.
   */
  private cancelExternalWatch: (() => void) | undefined;

  constructor(
    private readonly server: GatedServer,
    private readonly logger: Logger,
  ) {}

  get role(): Role {
    return this.current;
  }

  /** Start in a role (the OCF agent starts promotable clones unpromoted). */
  setRole(role: Role): void {
    this.current = role;
  }

  /** A demoted standby whose VIP has not left yet: new clients are reset, to retry where the VIP goes. */
  turnsAway(): boolean {
    return this.current === 'unpromoted' && this.demoted;
  }

  /** Whether a new client waits (for a promotion, or for the external addresses) instead of being served now. */
  mustHold(): boolean {
    return this.current === 'unpromoted' || this.cancelExternalWatch !== undefined;
  }

  /**
   * Hold a client that arrived at `localEnd` until promote(), for at most
   * `maxMs` (0: no limit, as timeout.negotiate 0 means). Whichever ends the
   * wait first gives its place back: a timeout, the client, or a release.
   */
  hold(socket: ClientSocket, localEnd: LocalEnd | undefined, maxMs: number): void {
    const leave = (): void => {
      if (this.awaitingPromotion.delete(socket)) this.server.release();
    };
    socket.on('error', () => socket.destroy());
    const timer =
      maxMs > 0
        ? setTimeout(() => {
            leave();
            socket.destroy();
          }, maxMs).unref()
        : undefined;
    this.awaitingPromotion.set(socket, { timer, localEnd });
    socket.once('close', () => {
      clearTimeout(timer);
      leave();
    });
  }

  /** Serve clients from now on (once the external addresses are here). */
  promote(): void {
    clearTimeout(this.demoteDrain);
    this.demoteDrain = undefined;
    if (this.current !== 'promoted') this.logger.info(`promoted: serving ${this.server.boundAddresses().join(', ')}`);
    this.current = 'promoted';
    this.demoted = false;
    this.cancelDepartureWatch?.();
    this.cancelExternalWatch?.();
    this.cancelExternalWatch = undefined;
    const absent = this.absentExternalAddresses();
    if (absent.length === 0) {
      this.serveAwaiting();
      return;
    }
    this.logger.info(`promoted: holding clients until the external address(es) ${absent.join(', ')} arrive`);
    const deadline = Date.now() + EXTERNAL_ARRIVAL_MAX_MS;
    this.cancelExternalWatch = whenReady(
      () => this.absentExternalAddresses().length === 0 || Date.now() >= deadline,
      EXTERNAL_ARRIVAL_POLL_MS,
      () => {
        this.cancelExternalWatch = undefined;
        const missing = this.absentExternalAddresses();
        if (missing.length > 0) this.logger.warn(`promoted: external address(es) ${missing.join(', ')} still absent after ${EXTERNAL_ARRIVAL_MAX_MS / 1000}s; serving anyway`);
        this.serveAwaiting();
      },
    );
  }

  /**
   * Become a warm standby: keep the listeners bound, turn new clients away,
   * end the UDP associations, and let other open sessions finish for up to
   * `drainMs` before closing them.
   */
  demote(drainMs: number): void {
    this.demoted = true;
    this.cancelExternalWatch?.();
    this.cancelExternalWatch = undefined;
    this.releaseAwaiting();
    this.cancelDepartureWatch?.();
    // A wildcard listener has no VIP to see leave: it stays in the reset state until promoted.
    const hosts = this.server.config().internal.map((l) => l.host);
    if (!hosts.some(isUnspecified)) {
      this.cancelDepartureWatch = whenReady(() => !hosts.some((host) => isLocalAddress(host)), VIP_DEPARTURE_POLL_MS, () => {
        this.demoted = false;
        this.logger.info(`demoted: ${hosts.join(', ')} left this node; clients that arrive are held for the next promotion`);
      });
    }
    if (this.current === 'unpromoted') return;
    this.current = 'unpromoted';
    // A UDP association cannot drain. It lasts as long as its client wants, and once the VIP
    // has moved its datagrams reach a node that has no such association and vanish, with
    // nothing to tell the client (a TCP client learns at its next packet, which the new node
    // resets). So it ends now, while the VIP is still here to carry the close of its control
    // connection (RFC 1928 ends an association with it): the client can associate again where
    // the VIP goes. Once the VIP has gone, this node cannot send from it any more.
    this.server.terminateSessions('demoted: UDP association ended, to be made again where the VIP goes', 'udpassociate');
    const open = this.server.openSessions();
    this.logger.info(`demoted: no new sessions; ${open} open session(s) may finish within ${drainMs / 1000}s`);
    if (open === 0) return;
    this.demoteDrain = setTimeout(() => this.server.terminateSessions('demoted: drain time over'), drainMs);
    this.demoteDrain.unref();
  }

  /** Shutting down: stop every watch and timer, and let held clients go. */
  close(): void {
    clearTimeout(this.demoteDrain);
    this.cancelDepartureWatch?.();
    this.cancelExternalWatch?.();
    this.releaseAwaiting();
  }

  /** With freebind, the external addresses sockets are bound to but this node does not hold (yet). */
  private absentExternalAddresses(): string[] {
    const config = this.server.config();
    if (!config.freebind) return [];
    return [config.external.ipv4, config.external.ipv6].filter((a): a is string => a !== undefined && !isLocalAddress(a));
  }

  /** Serve the held clients; each keeps the place it took on arrival. */
  private serveAwaiting(): void {
    for (const [socket, { timer, localEnd }] of this.awaitingPromotion) {
      clearTimeout(timer);
      if (!socket.destroyed) this.server.serve(socket, localEnd);
      else this.server.release();
    }
    if (this.awaitingPromotion.size > 0) this.logger.info(`promoted: serving ${this.awaitingPromotion.size} client(s) that arrived before the promotion`);
    this.awaitingPromotion.clear();
  }

  private releaseAwaiting(): void {
    for (const [socket, { timer }] of this.awaitingPromotion) {
      clearTimeout(timer);
      socket.destroy();
      this.server.release();
    }
    this.awaitingPromotion.clear();
  }
}
