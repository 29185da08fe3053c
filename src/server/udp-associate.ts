import type { RemoteInfo, Socket as UdpSocket } from 'node:dgram';
import { decisionLogs, describeDecision, type Decision } from '../policy/rules.js';
import { formatEndpoint, unmapIPv4 } from '../protocol/address.js';
import { Reply } from '../protocol/constants.js';
import { replyForSystemError } from '../protocol/errors.js';
import type { SocksRequest } from '../protocol/parser.js';
import { replyFor } from '../protocol/replies.js';
import { parseUdpHeader, udpHeader } from '../protocol/udp-header.js';
import { decideAssociation, decideReply, decideSocks } from './authorize.js';
import { remember } from './bounded-cache.js';
import { resolveDestination } from './resolve.js';
import type { Session } from './session.js';
import type { SocketFactory } from './sockets.js';

/** Bounds on the per-association caches, so a client spraying destinations cannot grow them without limit. */
const CACHE_MAX = 1024;

/** Bind a UDP socket to host, on a port from `range` if given (tried from a random start), else any. */
export async function bindUdpInRange(sockets: SocketFactory, host: string, range: readonly [number, number] | undefined): Promise<UdpSocket> {
  if (!range) return sockets.bindUdp(host, 0);
  const count = range[1] - range[0] + 1;
  const start = Math.floor(Math.random() * count);
  let lastError: unknown;
  for (let i = 0; i < count; i++) {
    try {
      return await sockets.bindUdp(host, range[0] + ((start + i) % count));
    } catch (err) {
      lastError = err;
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') break;
    }
  }
  throw lastError;
}

/**
 * SOCKS5 UDP ASSOCIATE, built for a shared address (Dante's redundancy guide):
 * the client-side socket is bound to the exact address the TCP control
 * connection arrived on (the VIP), the reply names that address, and
 * datagrams to the client leave from it. Outgoing datagrams use one socket
 * per family, bound to the `external` address. Everything ends with the
 * control connection or after the UDP idle timeout.
 */
export async function handleUdpAssociate(session: Session, request: SocksRequest): Promise<void> {
  const { destination, version } = request;
  const admission = decideAssociation(session);
  session.decision = admission;
  if (admission.action === 'block') {
    session.reject(version, Reply.NOT_ALLOWED, describeDecision(admission));
    return;
  }

  // Whom to accept datagrams from: the client's IP, narrowed by a non-zero DST.ADDR/DST.PORT.
  const requested = unmapIPv4(destination.host);
  const allowedAddress = destination.type !== 'domain' && requested !== '0.0.0.0' && requested !== '::' ? requested : session.clientAddress;
  const allowedPort = destination.port !== 0 ? destination.port : undefined;

  let clientSide: UdpSocket;
  try {
    clientSide = await bindUdpInRange(session.sockets, session.localAddress, session.config.udpPortRange);
  } catch (err) {
    session.reject(version, replyForSystemError(err), `cannot bind the UDP relay on ${session.localAddress}: ${(err as Error).message}`);
    return;
  }
  const relayPort = clientSide.address().port;

  /** Per family: the outgoing socket being bound, and the socket itself once bound (a datagram then waits on no promise). */
  const outgoing = new Map<4 | 6, { ready: Promise<UdpSocket>; socket?: UdpSocket }>();
  const resolved = new Map<string, string>();
  const decisions = new Map<string, Decision>();
  /** Per remote sender: may it answer, and the SOCKS header its datagrams get. */
  const replies = new Map<string, { decision: Decision; header: Buffer }>();
  let clientPort = allowedPort;
  let lastActivity = Date.now();
  let datagramsUp = 0;
  let datagramsDown = 0;
  let bytesUp = 0;
  let bytesDown = 0;
  let closed = false;
  let idleTimer: NodeJS.Timeout | undefined;

  const close = (reason: string): void => {
    if (closed) return;
    closed = true;
    clearTimeout(idleTimer);
    clientSide.close();
    for (const out of outgoing.values()) void out.ready.then((s) => s.close(), () => undefined);
    if (decisionLogs(admission, 'disconnect')) {
      const seconds = ((Date.now() - session.startedAt) / 1000).toFixed(3);
      session.logger.info(
        `${session.label}: disconnect udpassociate ${formatEndpoint(session.localAddress, relayPort)}: up ${datagramsUp} datagrams/${bytesUp} bytes, down ${datagramsDown} datagrams/${bytesDown} bytes, ${seconds}s, ${reason}`,
      );
    }
  };
  session.hold({ close });

  /** One outgoing socket per family, bound to the external address, made on first use. */
  const outgoingFor = (family: 4 | 6): { ready: Promise<UdpSocket>; socket?: UdpSocket } => {
    let out = outgoing.get(family);
    if (!out) {
      const external = family === 6 ? session.config.external.ipv6 : session.config.external.ipv4;
      const entry: { ready: Promise<UdpSocket>; socket?: UdpSocket } = {
        ready: session.sockets.bindUdp(external ?? (family === 6 ? '::' : '0.0.0.0'), 0).then((s) => {
          if (closed) s.close();
          entry.socket = s;
          s.on('message', fromRemote);
          s.on('error', (err) => session.logger.info(`${session.label}: udp: ${err.message}`));
          return s;
        }),
      };
      out = entry;
      outgoing.set(family, out);
    }
    return out;
  };

  const fromRemote = (message: Buffer, remote: RemoteInfo): void => {
    if (clientPort === undefined) return; // the client has not said where it listens yet
    const key = `${remote.address}|${remote.port}`;
    let reply = replies.get(key);
    if (!reply) {
      const sender = unmapIPv4(remote.address);
      reply = remember(replies, key, { decision: decideReply(session, 'udpreply', sender, remote.port, 'udp'), header: udpHeader(sender, remote.port) }, CACHE_MAX);
    }
    if (reply.decision.action === 'block') return;
    lastActivity = Date.now();
    datagramsDown++;
    bytesDown += message.length;
    clientSide.send([reply.header, message], clientPort, allowedAddress);
  };

  const fromClient = (datagram: Buffer, remote: RemoteInfo): void => {
    if (unmapIPv4(remote.address) !== allowedAddress) return;
    if (allowedPort !== undefined && remote.port !== allowedPort) return;
    const header = parseUdpHeader(datagram);
    // Fragmentation is optional in RFC 1928 and we do not reassemble: drop.
    if (!header || header.fragment !== 0) return;
    clientPort = remote.port;
    lastActivity = Date.now();
    const payload = datagram.subarray(header.dataOffset);
    if (header.type !== 'domain') {
      forward(header.host, undefined, header.port, payload);
      return;
    }
    // A name keeps, for this association, the first address it resolved to.
    const address = resolved.get(header.host);
    if (address !== undefined) {
      forward(address, header.host, header.port, payload);
      return;
    }
    resolveDestination(
      header.host,
      (addresses) => {
        if (closed || addresses.length === 0) return;
        forward(remember(resolved, header.host, addresses[0]!, CACHE_MAX), header.host, header.port, payload);
      },
      () => undefined, // an unresolvable name drops the datagram, as the network would
    );
  };

  const forward = (address: string, name: string | undefined, port: number, payload: Buffer): void => {
    const key = `${name ?? ''}|${address}|${port}`;
    let decision = decisions.get(key);
    if (!decision) {
      decision = remember(decisions, key, decideSocks(session, 'udpassociate', { address, name, port }, 'udp'), CACHE_MAX);
      if (decision.action === 'block' && decisionLogs(decision, 'error')) {
        session.logger.info(`${session.label}: ${describeDecision(decision)}: udp to ${formatEndpoint(name ?? address, port)} dropped`);
      }
    }
    if (decision.action === 'block') return;
    datagramsUp++;
    bytesUp += payload.length;
    const out = outgoingFor(address.includes(':') ? 6 : 4);
    if (out.socket) {
      out.socket.send(payload, port, address);
      return;
    }
    out.ready.then(
      (socket) => {
        if (!closed) socket.send(payload, port, address);
      },
      (err: Error) => session.logger.info(`${session.label}: udp: cannot bind the outgoing socket: ${err.message}`),
    );
  };

  clientSide.on('message', fromClient);
  clientSide.on('error', (err) => session.logger.info(`${session.label}: udp relay: ${err.message}`));

  // The association lives as long as its TCP control connection.
  session.socket.on('close', () => {
    close('control connection closed');
    session.terminate('udpassociate ended');
  });
  session.socket.on('end', () => session.socket.end());
  session.socket.resume();

  const idleTimeout = session.config.timeouts.ioUdp;
  if (idleTimeout > 0) {
    const checkIdle = (): void => {
      const idle = Date.now() - lastActivity;
      if (idle >= idleTimeout) {
        close('io timeout');
        session.terminate('udpassociate idle');
      } else idleTimer = setTimeout(checkIdle, idleTimeout - idle).unref();
    };
    idleTimer = setTimeout(checkIdle, idleTimeout).unref();
  }

  if (decisionLogs(admission, 'connect')) {
    session.logger.info(
      `${session.label}: ${describeDecision(admission)}: udpassociate relay ${formatEndpoint(session.localAddress, relayPort)} for ${formatEndpoint(allowedAddress, allowedPort ?? 0)}`,
    );
  }
  session.socket.write(replyFor(version, Reply.SUCCEEDED, session.localAddress, relayPort));
}
