import { decisionLogs, describeDecision, type Decision } from '../../policy/rules.js';
import { formatEndpoint, isUnspecified } from '../../protocol/address.js';
import { ipToBytes16 } from '../../policy/address-match.js';
import { Reply } from '../../protocol/constants.js';
import { replyForSystemError } from '../../protocol/errors.js';
import type { SocksRequest } from '../../protocol/parser.js';
import { replyFor } from '../../protocol/replies.js';
import { parseUdpHeader, udpHeader } from '../../protocol/udp-header.js';
import { decideAssociation, decideClient, decideReply, decideSocks, refusedBeforeResolving } from '../authorize.js';
import { remember } from '../bounded-cache.js';
import { confirmedClientName, resolveDestination } from '../resolve.js';
import type { RequestContext } from '../request-context.js';
import { externalAddress, externalAway, refusedForAbsentExternals } from './external-address.js';
import { type UdpTransport, openUdpTransport } from './udp-transport.js';

/** Bounds on the per-association caches, so a client spraying destinations cannot grow them without limit. */
const CACHE_MAX = 1024;
/**
 * Datagrams held while their destination name resolves, per association,
 * and the names they wait for: the rest are dropped (and counted), so a
 * client cannot park payloads in memory behind a slow DNS zone.
 */
const WAITING_DATAGRAMS_MAX = 64;
const WAITING_NAMES_MAX = 16;

/**
 * SOCKS5 UDP ASSOCIATE, built for a shared address (Dante's redundancy guide):
 * the client-side socket is bound to the exact address the TCP control
 * connection arrived on (the VIP), the reply names that address, and
 * datagrams to the client leave from it. Outgoing datagrams use one socket
 * per family, bound to the `external` address. Everything ends with the
 * control connection or after the UDP idle timeout.
 *
 * This module decides; the transport (udp-transport.ts) moves datagrams, and
 * with the native relay forwards on its own every route decided here.
 */
export async function handleUdpAssociate(session: RequestContext, request: SocksRequest): Promise<void> {
  const { destination, version } = request;
  const admission = decideAssociation(session);
  session.decision = admission;
  if (admission.action === 'block') {
    session.reject(version, Reply.NOT_ALLOWED, describeDecision(admission));
    return;
  }
  const refusal = session.takeLimit(admission);
  if (refusal) {
    session.reject(version, Reply.NOT_ALLOWED, `${describeDecision(admission)}: ${refusal}`);
    return;
  }

  // Whom to accept datagrams from: the client's IP, or the address DST.ADDR
  // names (RFC 1928: where the client will send from), and DST.PORT if not
  // zero. Another address than the client's must pass the client rules
  // itself, or this client could open the relay to anyone.
  const requested = destination.type === 'domain' || isUnspecified(destination.host) ? undefined : destination.host;
  const allowedAddress = requested ?? session.clientAddress;
  const allowedPort = destination.port !== 0 ? destination.port : undefined;
  if (!ipToBytes16(allowedAddress).equals(session.clientIp)) {
    const name = session.config.lookUpClientNames ? await confirmedClientName(allowedAddress) : undefined;
    const sender = decideClient(session, ipToBytes16(allowedAddress), name);
    if (sender.action === 'block') {
      session.reject(version, Reply.NOT_ALLOWED, `the sender it names, ${allowedAddress}, is refused: ${describeDecision(sender)}`);
      return;
    }
  }
  if (session.isClosed) return;
  if (refusedForAbsentExternals(session, version)) return;

  const resolved = new Map<string, string>();
  const decisions = new Map<string, Decision>();
  /** Per remote sender: may it answer, and the SOCKS header its datagrams get. */
  const replies = new Map<string, { decision: Decision; header: Buffer }>();
  let closed = false;
  let idleTimer: NodeJS.Timeout | undefined;

  const fromRemote = (payload: Buffer, sender: string, port: number): void => {
    const key = `${sender}|${port}`;
    let reply = replies.get(key);
    if (!reply) reply = remember(replies, key, { decision: decideReply(session, 'udpreply', sender, port, 'udp'), header: udpHeader(sender, port) }, CACHE_MAX);
    // Taught on every datagram that comes up here, not only the first: the C relay's cache is
    // direct-mapped, so a route it knew can be pushed out by another and must be taught again.
    transport.learn(true, sender, port, reply.decision.action !== 'block');
    if (reply.decision.action !== 'block') transport.sendToClient(reply.header, payload);
  };

  /** Datagrams dropped for their header, or for too many waiting on names; the first is logged, the rest counted in the disconnect line. */
  let invalid = 0;
  const dropInvalid = (why: string): void => {
    if (invalid++ === 0) session.logger.info(`${session.label}: udp: dropped a datagram from the client: ${why}; more are counted, not logged`);
  };
  /** Per name being resolved, the datagrams waiting for it. */
  const waiting = new Map<string, Array<{ port: number; payload: Buffer }>>();
  let waitingDatagrams = 0;

  const fromClient = (datagram: Buffer): void => {
    const header = parseUdpHeader(datagram);
    if ('invalid' in header) {
      dropInvalid(header.invalid);
      return;
    }
    // Fragmentation is optional in RFC 1928 and we do not reassemble: drop.
    if (header.fragment !== 0) {
      dropInvalid(`fragment ${header.fragment}: fragments are not reassembled`);
      return;
    }
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
    const refused = refusedBeforeResolving(session, 'udpassociate', header.host, header.port, 'udp');
    if (refused) {
      forwardRefused(refused, header.host, header.port);
      return;
    }
    const queue = waiting.get(header.host);
    if (queue) {
      if (waitingDatagrams >= WAITING_DATAGRAMS_MAX) dropInvalid('too many datagrams waiting for names to resolve');
      else {
        queue.push({ port: header.port, payload: Buffer.from(payload) });
        waitingDatagrams++;
      }
      return;
    }
    if (waiting.size >= WAITING_NAMES_MAX || waitingDatagrams >= WAITING_DATAGRAMS_MAX) {
      dropInvalid('too many names being resolved at once');
      return;
    }
    // The payload is copied: the C relay's receive buffer is reused for the next batch.
    waiting.set(header.host, [{ port: header.port, payload: Buffer.from(payload) }]);
    waitingDatagrams++;
    const timeout = session.config.timeouts.connect;
    const release = (): Array<{ port: number; payload: Buffer }> => {
      const held = waiting.get(header.host) ?? [];
      waiting.delete(header.host);
      waitingDatagrams -= held.length;
      return held;
    };
    resolveDestination(
      header.host,
      { deadline: timeout > 0 ? Date.now() + timeout : Infinity, client: session.local ? undefined : session.clientAddress },
      (addresses) => {
        const held = release();
        if (closed || addresses.length === 0) return;
        const first = remember(resolved, header.host, addresses[0]!, CACHE_MAX);
        for (const datagram of held) forward(first, header.host, datagram.port, datagram.payload);
      },
      () => void release(), // an unresolvable name drops its datagrams, as the network would
    );
  };

  const forwardRefused = (decision: Decision, name: string, port: number): void => {
    const key = `${name}||${port}`;
    if (decisions.has(key)) return;
    remember(decisions, key, decision, CACHE_MAX);
    if (decisionLogs(decision, 'error')) session.logger.info(`${session.label}: ${describeDecision(decision)}: udp to ${formatEndpoint(name, port)} dropped`);
  };

  /** Datagrams dropped because the external address they would leave from has left the node; the first is logged. */
  let droppedAway = 0;
  const droppedForAbsentExternal = (address: string, port: number): boolean => {
    const from = externalAddress(session, address.includes(':') ? 6 : 4);
    if (!externalAway(session, from)) return false;
    if (droppedAway++ === 0) session.logger.info(`${session.label}: udp to ${formatEndpoint(address, port)} dropped: external address ${from} is not on this node; more are counted, not logged`);
    return true;
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
    // Not taught while its external address is away, so each datagram comes up here and the first after it returns goes out.
    if (decision.action !== 'block' && droppedForAbsentExternal(address, port)) return;
    // A route to a name stays here: a rule may treat the name and its address differently.
    // An IP route is taught again each time it comes up (see fromRemote).
    if (name === undefined) transport.learn(false, address, port, decision.action !== 'block');
    if (decision.action !== 'block') transport.sendOut(payload, address, port);
  };

  let transport: UdpTransport;
  try {
    transport = await openUdpTransport(
      {
        host: session.localAddress,
        range: session.config.udpPortRange,
        client: { address: allowedAddress, port: allowedPort },
        external: session.config.external,
        freebind: session.config.freebind,
      },
      { fromClient, fromRemote, error: (message) => session.logger.info(`${session.label}: udp: ${message}`) },
    );
  } catch (err) {
    session.reject(version, replyForSystemError(err), `cannot bind the UDP relay on ${session.localAddress}: ${(err as Error).message}`);
    return;
  }
  if (session.isClosed) {
    transport.close(); // the client left while the relay was being bound
    return;
  }
  const relayPort = transport.port;

  const close = (reason: string): void => {
    if (closed) return;
    closed = true;
    clearTimeout(idleTimer);
    const traffic = transport.traffic();
    transport.close();
    if (decisionLogs(admission, 'disconnect')) {
      const seconds = ((Date.now() - session.startedAt) / 1000).toFixed(3);
      session.logger.info(
        `${session.label}: disconnect udpassociate ${formatEndpoint(session.localAddress, relayPort)}: up ${traffic.datagramsUp} datagrams/${traffic.bytesUp} bytes, down ${traffic.datagramsDown} datagrams/${traffic.bytesDown} bytes, ${invalid > 0 ? `${invalid} invalid dropped, ` : ''}${droppedAway > 0 ? `${droppedAway} dropped while their external address was away, ` : ''}${seconds}s, ${reason}`,
      );
    }
  };
  // After a reload, every destination and sender is decided again by the rules then in force.
  session.own({
    close,
    rulesChanged: () => {
      decisions.clear();
      replies.clear();
      transport.forget();
    },
  });

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
      const idle = Date.now() - transport.traffic().lastActivity;
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
  session.sendReply(replyFor(version, Reply.SUCCEEDED, session.localAddress, relayPort));
}
