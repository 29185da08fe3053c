import type { Socket } from 'node:net';
import { decisionLogs, describeDecision } from '../policy/rules.js';
import { formatEndpoint } from '../protocol/address.js';
import { Reply } from '../protocol/constants.js';
import { replyForSystemError } from '../protocol/errors.js';
import type { SocksRequest } from '../protocol/parser.js';
import { replyFor } from '../protocol/replies.js';
import type { AuthorizedRequest } from './authorize.js';
import type { Session } from './session.js';

/** SOCKS CONNECT: resolve, apply rules, dial from the external address, reply, relay. */
export function handleConnect(session: Session, request: SocksRequest): void {
  session.authorizeRequest(request, (allowed) => dial(session, request, allowed));
}

function dial(session: Session, request: SocksRequest, { address, decision }: AuthorizedRequest): void {
  const { destination, version } = request;

  // An IP literal by now: a colon is the whole family test.
  const localAddress = address.includes(':') ? session.config.external.ipv6 : session.config.external.ipv4;
  let target: Socket;
  try {
    target = session.sockets.dial(address, destination.port, localAddress);
  } catch (err) {
    session.reject(version, replyForSystemError(err), (err as Error).message);
    return;
  }

  let settled = false;
  const connectTimeout = session.config.timeouts.connect;
  const timer =
    connectTimeout > 0
      ? setTimeout(() => {
          if (settled) return;
          settled = true;
          target.destroy();
          session.reject(version, Reply.TTL_EXPIRED, `connect timeout after ${connectTimeout / 1000}s`);
        }, connectTimeout)
      : undefined;

  // The client may give up while we dial; then the dial is pointless.
  const onClientGone = (): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    target.destroy();
    session.terminate('client closed during connect');
  };
  session.socket.once('close', onClientGone);

  target.once('error', (err) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    session.socket.off('close', onClientGone);
    session.reject(version, replyForSystemError(err), `${formatEndpoint(address, destination.port)}: ${err.message}`);
  });

  target.once('connect', () => {
    if (settled) {
      target.destroy();
      return;
    }
    settled = true;
    clearTimeout(timer);
    session.socket.off('close', onClientGone);
    const boundAddress = target.localAddress ?? '0.0.0.0';
    const boundPort = target.localPort ?? 0;
    if (decisionLogs(decision, 'connect')) {
      session.logger.info(
        `${session.label}: ${describeDecision(decision)}: connect ${session.destinationText}` +
          `${destination.host !== address ? ` [${address}]` : ''} from ${formatEndpoint(boundAddress, boundPort)}`,
      );
    }
    session.socket.write(replyFor(version, Reply.SUCCEEDED, boundAddress, boundPort));
    session.startRelay(target);
  });
}
