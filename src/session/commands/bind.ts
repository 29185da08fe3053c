import { type Server, type Socket, createServer, isIP, isIPv6 } from 'node:net';
import { decisionLogs, describeDecision } from '../../policy/rules.js';
import { formatEndpoint, isUnspecified, unmapIPv4 } from '../../protocol/address.js';
import { Reply } from '../../protocol/constants.js';
import { replyForSystemError } from '../../protocol/errors.js';
import type { SocksRequest } from '../../protocol/parser.js';
import { replyFor } from '../../protocol/replies.js';
import { type AuthorizedRequest, decideReply } from '../authorize.js';
import { type RequestContext, internalError } from '../request-context.js';
import { externalAddress, refusedForAbsentExternal } from './external-address.js';


/**
 * Where a BIND listens: the `external` address of the family wanted, since
 * that is the address the far side must reach (in a cluster, the external
 * VIP, which stays the same after failover). Without one, the address the
 * client connected to, when the family matches.
 */
function bindAddress(session: RequestContext, family: number): string | undefined {
  const external = externalAddress(session, family);
  if (external) return external;
  return isIP(session.localAddress) === family ? session.localAddress : undefined;
}

/**
 * SOCKS BIND (SOCKS5 and SOCKS4): listen, first reply with the listening
 * address, wait for the expected peer, second reply with the peer's address,
 * then relay. Only the peer named in the request may connect, unless the
 * request names all zeros.
 */
export function handleBind(session: RequestContext, request: SocksRequest): void {
  session.authorizeRequest(request, (allowed) => void bindFor(session, request, allowed).catch(internalError(session)));
}

async function bindFor(session: RequestContext, request: SocksRequest, allowed: AuthorizedRequest): Promise<void> {
  const { version } = request;
  const expected = isUnspecified(allowed.address) ? undefined : allowed.address;
  const family = expected ? isIP(expected) : isIP(session.localAddress);
  const host = bindAddress(session, family);
  if (!host) {
    session.reject(version, Reply.ADDRESS_TYPE_NOT_SUPPORTED, `no external IPv${family} address to bind`);
    return;
  }
  if (host === externalAddress(session, family) && refusedForAbsentExternal(session, version, host)) return;

  const server: Server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
  let timer: NodeJS.Timeout | undefined;
  const stopListening = (): void => {
    clearTimeout(timer);
    server.close();
    session.socket.off('close', onClientGone);
  };
  const onClientGone = (): void => {
    stopListening();
    session.terminate('client closed while waiting for the BIND peer');
  };

  // With no peer named, Dante reads DST.PORT as the port the client wants
  // bound (socksify'd programs that bind a fixed port rely on it); when that
  // port is taken, any port will do.
  const wantedPort = expected === undefined ? request.destination.port : 0;
  const listen = (port: number): Promise<void> => session.sockets.listen(server, host, port, { ipv6Only: isIPv6(host), backlog: 8 });
  try {
    await listen(wantedPort).catch((err: NodeJS.ErrnoException) => {
      if (wantedPort === 0 || (err.code !== 'EADDRINUSE' && err.code !== 'EACCES')) throw err;
      return listen(0);
    });
  } catch (err) {
    session.reject(version, replyForSystemError(err), `cannot listen on ${host}: ${(err as Error).message}`);
    return;
  }
  const port = (server.address() as { port: number }).port;
  // Accept errors other than running out of descriptors (which libuv absorbs) end the BIND, never the process.
  server.on('error', (err) => {
    stopListening();
    session.reject(version, Reply.GENERAL_FAILURE, `BIND listener on ${formatEndpoint(host, port)}: ${err.message}`);
  });
  session.own({ close: stopListening });
  session.socket.once('close', onClientGone);
  session.logger.info(`${session.label}: ${describeDecision(allowed.decision)}: bind ${formatEndpoint(host, port)} for ${expected ?? 'any peer'}`);
  session.sendReply(replyFor(version, Reply.SUCCEEDED, host, port));

  const bindTimeout = session.config.timeouts.bind;
  if (bindTimeout > 0) {
    timer = setTimeout(() => {
      stopListening();
      session.reject(version, Reply.TTL_EXPIRED, `no peer connected within ${bindTimeout / 1000}s`);
    }, bindTimeout);
  }

  server.on('connection', (peer: Socket) => {
    peer.on('error', () => undefined);
    const peerAddress = unmapIPv4(peer.remoteAddress ?? '');
    const peerPort = peer.remotePort ?? 0;
    if (expected !== undefined && peerAddress !== expected) {
      session.logger.info(`${session.label}: bind: refused ${formatEndpoint(peerAddress, peerPort)}, expected ${expected}`);
      peer.destroy();
      return;
    }
    const reply = decideReply(session, 'bindreply', peerAddress, peerPort, 'tcp');
    const blocked = reply.action === 'block';
    if (decisionLogs(reply, 'connect') || (blocked && decisionLogs(reply, 'error'))) {
      session.logger.info(`${session.label}: ${describeDecision(reply)}: bindreply from ${formatEndpoint(peerAddress, peerPort)}`);
    }
    if (blocked) {
      peer.destroy();
      return;
    }
    stopListening();
    session.sendReply(replyFor(version, Reply.SUCCEEDED, peerAddress, peerPort));
    session.startRelay(peer);
    peer.resume();
  });
}
