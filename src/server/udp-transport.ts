import type { RemoteInfo, Socket as UdpSocket } from 'node:dgram';
import { getSystemErrorName } from 'node:util';
import { type NativeAddon, loadAddon } from '../native/addon.js';
import { formatEndpoint, unmapIPv4 } from '../protocol/address.js';
import type { SocketFactory } from './sockets.js';

/**
 * The sockets of one UDP association, and the datagrams between them.
 * udp-associate.ts decides what passes; a transport moves datagrams, filters
 * them by the client's address, remembers where the client listens, and
 * counts. Two implementations:
 *
 * - native: the addon's C relay (native/src/udp_relay.c) owns the sockets and
 *   forwards, in batches, every datagram whose route udp-associate.ts has
 *   already decided (`learn`); only the first datagram of a route, and
 *   datagrams to domain names, come up to JavaScript.
 * - node: Node's dgram sockets, every datagram through JavaScript, when the
 *   addon is not built. About 0.8x Dante's datagram rate here; the C relay
 *   is several times Dante's (docs/performance.md).
 */
export interface UdpTransport {
  readonly kind: 'native' | 'node';
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
  sockets: SocketFactory;
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

/** The transport for this process: the C relay when the addon is built, else Node's dgram. */
export async function openUdpTransport(options: UdpTransportOptions, handlers: UdpHandlers): Promise<UdpTransport> {
  const { addon } = loadAddon();
  return addon ? nativeTransport(addon, options, handlers) : nodeTransport(options, handlers);
}

async function nativeTransport(addon: NativeAddon, options: UdpTransportOptions, handlers: UdpHandlers): Promise<UdpTransport> {
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
    kind: 'native',
    port,
    sendOut(payload, address, to) {
      const family = familyOf(address);
      if (!outgoing.has(family)) {
        outgoing.add(family);
        const from = outgoingAddress(options, family);
        try {
          addon.udpRelayOutgoing(relay, addon.udpSocket(from, 0, { freebind: options.freebind }));
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

async function nodeTransport(options: UdpTransportOptions, handlers: UdpHandlers): Promise<UdpTransport> {
  const clientSide = await bindInRange(options.range, (port) => options.sockets.bindUdp(options.host, port));
  const traffic: UdpTraffic = { datagramsUp: 0, bytesUp: 0, datagramsDown: 0, bytesDown: 0, lastActivity: Date.now() };
  /** Where the client listens: the source port of its latest datagram, unless the request named one. */
  let clientPort = options.client.port;
  let closed = false;
  /** Per family: the outgoing socket being bound, and the socket itself once bound (a datagram then waits on no promise). */
  const outgoing = new Map<4 | 6, { ready: Promise<UdpSocket>; socket?: UdpSocket }>();

  clientSide.on('message', (datagram: Buffer, remote: RemoteInfo) => {
    if (unmapIPv4(remote.address) !== options.client.address) return;
    if (options.client.port !== undefined && remote.port !== options.client.port) return;
    clientPort = remote.port;
    traffic.lastActivity = Date.now();
    handlers.fromClient(datagram);
  });
  clientSide.on('error', (err) => handlers.error(err.message));

  const fromRemote = (payload: Buffer, remote: RemoteInfo): void => {
    if (clientPort !== undefined) handlers.fromRemote(payload, unmapIPv4(remote.address), remote.port);
  };
  const outgoingFor = (family: 4 | 6): { ready: Promise<UdpSocket>; socket?: UdpSocket } => {
    let out = outgoing.get(family);
    if (!out) {
      const entry: { ready: Promise<UdpSocket>; socket?: UdpSocket } = {
        ready: options.sockets.bindUdp(outgoingAddress(options, family), 0).then((socket) => {
          if (closed) socket.close();
          entry.socket = socket;
          socket.on('message', fromRemote);
          socket.on('error', (err) => handlers.error(err.message));
          return socket;
        }),
      };
      out = entry;
      outgoing.set(family, out);
    }
    return out;
  };

  return {
    kind: 'node',
    port: clientSide.address().port,
    sendOut(payload, address, port) {
      traffic.datagramsUp++;
      traffic.bytesUp += payload.length;
      const out = outgoingFor(familyOf(address));
      if (out.socket) {
        out.socket.send(payload, port, address);
        return;
      }
      out.ready.then(
        (socket) => {
          if (!closed) socket.send(payload, port, address);
        },
        (err: Error) => handlers.error(`cannot bind the outgoing socket: ${err.message}`),
      );
    },
    sendToClient(header, payload) {
      if (clientPort === undefined || closed) return;
      traffic.datagramsDown++;
      traffic.bytesDown += payload.length;
      traffic.lastActivity = Date.now();
      clientSide.send([header, payload], clientPort, options.client.address);
    },
    learn() {
      // Every datagram passes through JavaScript here; udp-associate.ts caches its decisions itself.
    },
    forget() {},
    traffic: () => ({ ...traffic }),
    close() {
      if (closed) return;
      closed = true;
      clientSide.close();
      for (const out of outgoing.values()) void out.ready.then((socket) => socket.close(), () => undefined);
    },
  };
}
