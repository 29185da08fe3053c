import { getSystemErrorName } from 'node:util';
import { formatEndpoint } from '../../protocol/address.js';
import { dataPath } from '../../sockets/data-path.js';

/**
 * The sockets of one UDP association, and the datagrams between them.
 * udp-associate.ts decides what passes; a transport moves datagrams, filters
 * them by the client's address, remembers where the client listens, and
 * counts. The addon's C relay (native/src/udp_relay.c) owns the sockets
 * and forwards, in batches, every datagram whose route udp-associate.ts has
 * already decided (`learn`); only the first datagram of a route, and
 * datagrams to domain names, come up to JavaScript.
 */
export interface UdpTransport {
  /** The relay's port on the address the client connected to. */
  readonly port: number;
  /** Send from the outgoing socket of the address's family (bound to the external address). */
  sendOut(payload: Buffer, address: string, port: number): void;
  /** Send to the client, if it has sent a datagram yet (else there is nowhere to send). */
  sendToClient(header: Buffer, payload: Buffer): void;
  /** Datagrams to (toClient false) or from (true) this IP and port pass, or are dropped, from now on without asking. */
  learn(toClient: boolean, address: string, port: number, pass: boolean): void;
  /** Forget what `learn` taught: the rules changed. */
  forget(): void;
  traffic(): UdpTraffic;
  close(): void;
}

export interface UdpTraffic {
  datagramsUp: number;
  bytesUp: number;
  datagramsDown: number;
  bytesDown: number;
  /** When the client last sent, or was sent, a datagram (ms since the epoch). */
  lastActivity: number;
}

/** What the association does with datagrams the transport did not forward on its own. */
export interface UdpHandlers {
  /** A datagram from the client (its SOCKS header first). */
  fromClient(datagram: Buffer): void;
  /** A datagram from a remote sender, once the client has sent one. */
  fromRemote(payload: Buffer, address: string, port: number): void;
  /** A socket error: logged, the association goes on. */
  error(message: string): void;
}

export interface UdpTransportOptions {
  /** The address the control connection arrived on (the VIP): the relay binds it. */
  host: string;
  /** udp.portrange, if set. */
  range: readonly [number, number] | undefined;
  /** Who may send: the client's IP, and its port if the request named one. */
  client: { address: string; port: number | undefined };
  /** Where outgoing datagrams leave from, per family; the wildcard if unset. */
  external: { ipv4?: string | undefined; ipv6?: string | undefined };
  freebind: boolean;
}

/** Bind on a port from `range` if given (tried from a random start, skipping ports in use), else any. */
export async function bindInRange<T>(range: readonly [number, number] | undefined, bind: (port: number) => T | Promise<T>): Promise<T> {
  if (!range) return bind(0);
  const count = range[1] - range[0] + 1;
  const start = Math.floor(Math.random() * count);
  let lastError: unknown;
  for (let i = 0; i < count; i++) {
    try {
      return await bind(range[0] + ((start + i) % count));
    } catch (err) {
      lastError = err;
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') break;
    }
  }
  throw lastError;
}

const familyOf = (address: string): 4 | 6 => (address.includes(':') ? 6 : 4);

const outgoingAddress = (options: UdpTransportOptions, family: 4 | 6): string =>
  (family === 6 ? options.external.ipv6 : options.external.ipv4) ?? (family === 6 ? '::' : '0.0.0.0');

/** Open an association's sockets in the C relay. */
export async function openUdpTransport(options: UdpTransportOptions, handlers: UdpHandlers): Promise<UdpTransport> {
  const { addon } = dataPath();
  const fd = await bindInRange(options.range, (port) => addon.udpSocket(options.host, port, { freebind: options.freebind }));
  const port = Number(addon.localAddress(fd).split('|')[1]);
  const relay = addon.udpRelayOpen(fd, options.client.address, options.client.port ?? 0, (fromClient, datagram, address, senderPort) => {
    if (fromClient) handlers.fromClient(datagram);
    else handlers.fromRemote(datagram, address, senderPort);
  });
  const outgoing = new Set<4 | 6>();
  const failed = (sent: number, what: string): void => {
    // EAGAIN: the send buffer is full, and a datagram may be dropped then, as the network would.
    if (sent < 0 && getSystemErrorName(sent) !== 'EAGAIN') handlers.error(`send ${getSystemErrorName(sent)} ${what}`);
  };
  return {
    port,
    sendOut(payload, address, to) {
      const family = familyOf(address);
      if (!outgoing.has(family)) {
        const from = outgoingAddress(options, family);
        try {
          addon.udpRelayOutgoing(relay, addon.udpSocket(from, 0, { freebind: options.freebind }));
          outgoing.add(family); // only once bound: a failed bind is tried again by the next datagram
        } catch (err) {
          handlers.error(`cannot bind the outgoing socket on ${from}: ${(err as Error).message}`);
        }
      }
      failed(addon.udpRelaySendOut(relay, payload, address, to), formatEndpoint(address, to));
    },
    sendToClient(header, payload) {
      failed(addon.udpRelaySendToClient(relay, header, payload), 'to the client');
    },
    learn(toClient, address, to, pass) {
      addon.udpRelayLearn(relay, toClient, address, to, pass);
    },
    forget() {
      addon.udpRelayForget(relay);
    },
    traffic() {
      const [datagramsUp, bytesUp, datagramsDown, bytesDown, lastActivity] = addon.udpRelayStats(relay);
      return { datagramsUp, bytesUp, datagramsDown, bytesDown, lastActivity };
    },
    close() {
      addon.udpRelayClose(relay);
    },
  };
}
