import type { Socket } from 'node:net';
import { decisionLogs, describeDecision } from '../../policy/rules.js';
import { formatEndpoint } from '../../protocol/address.js';
import { Reply } from '../../protocol/constants.js';
import { replyForSystemError } from '../../protocol/errors.js';
import type { SocksRequest } from '../../protocol/parser.js';
import { replyFor } from '../../protocol/replies.js';
import type { NativeAddon } from '../../native/addon.js';
import type { AuthorizedRequest } from '../authorize.js';
import { ClientInC, sessionsInC } from '../../sockets/c-sessions.js';
import { servedInC } from '../../sockets/data-path.js';
import { SOURCE_ABSENT_ERRORS } from '../../sockets/local-addresses.js';
import { externalAddress, refusedForAbsentExternal } from './external-address.js';
import type { RequestContext } from '../request-context.js';

/** SOCKS CONNECT: resolve, apply rules, dial from the external address, reply, relay. */
export function handleConnect(session: RequestContext, request: SocksRequest): void {
  session.authorizeRequest(request, (allowed) => dial(session, request, allowed));
}

/** A dial under way: it ends once, in `done`, unless cancelled first. */
type Dialer = (done: (error: Error | undefined, connected?: Connected) => void) => () => void;

/** A connected target: the local end it was dialled from, and how to relay to it. */
interface Connected {
  readonly address: string;
  readonly port: number;
  relay(): void;
}

/** Dial with a Node socket from the session's socket factory (freebind where configured). */
function nodeDialer(session: RequestContext, address: string, port: number, localAddress: string | undefined): Dialer {
  return (done) => {
    let target: Socket;
    try {
      target = session.sockets.dial(address, port, localAddress);
    } catch (err) {
      process.nextTick(() => done(err as Error));
      return () => undefined;
    }
    target.once('error', (err) => done(err));
    target.once('connect', () => done(undefined, { address: target.localAddress ?? '0.0.0.0', port: target.localPort ?? 0, relay: () => session.startRelay(target) }));
    return () => target.destroy();
  };
}

/** Dial in C (c-sessions.ts), from a socket bound to the external address if there is one; the C relay takes over at once. */
function nativeDialer(session: RequestContext, client: ClientInC, addon: NativeAddon, address: string, port: number, localAddress: string | undefined): Dialer {
  return (done) => {
    let fd = -1;
    try {
      if (localAddress !== undefined) fd = addon.tcpSocket(localAddress, 0, { freebind: session.config.freebind });
    } catch (err) {
      process.nextTick(() => done(err as Error));
      return () => undefined;
    }
    return client.dial(fd, address, port, (error, connected) =>
      done(error, connected && { address: connected.localAddress, port: connected.localPort, relay: () => session.startRelayInC(connected.dial) }),
    );
  };
}

function dial(session: RequestContext, request: SocksRequest, { address, decision }: AuthorizedRequest): void {
  const { destination, version } = request;

  // An IP literal by now: a colon is the whole family test.
  const localAddress = externalAddress(session, address.includes(':') ? 6 : 4);
  if (refusedForAbsentExternal(session, version, localAddress)) return;
  // A client in C dials in C (data-path.ts decides); an agent's probe is a Node socket from the start.
  let dialer: Dialer;
  const client = session.socket;
  if (servedInC('connect', client, decision)) {
    dialer = nativeDialer(session, client, sessionsInC(), address, destination.port, localAddress);
  } else {
    session.useNodeSocket();
    dialer = nodeDialer(session, address, destination.port, localAddress);
  }

  let settled = false;
  const connectTimeout = session.config.timeouts.connect;
  // The client may give up while we dial; then the dial is pointless.
  const onClientGone = (): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    cancel();
    session.terminate('client closed during connect');
  };
  const cancel = dialer((error, connected) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    session.socket.off('close', onClientGone);
    if (error || !connected) {
      // The errors of a dial from an address that has left since it was last seen: then that is the reason.
      if (SOURCE_ABSENT_ERRORS.has((error as NodeJS.ErrnoException | undefined)?.code ?? '') && refusedForAbsentExternal(session, version, localAddress, 0)) return;
      session.reject(version, replyForSystemError(error), `${formatEndpoint(address, destination.port)}: ${error?.message}`);
      return;
    }
    if (decisionLogs(decision, 'connect')) {
      session.logger.info(
        `${session.label}: ${describeDecision(decision)}: connect ${session.destinationText}` +
          `${destination.host !== address ? ` [${address}]` : ''} from ${formatEndpoint(connected.address, connected.port)}`,
      );
    }
    session.sendReply(replyFor(version, Reply.SUCCEEDED, connected.address, connected.port));
    connected.relay();
  });
  // timeout.connect counts from the request: resolving the name took part of it.
  const timer =
    connectTimeout > 0
      ? setTimeout(() => {
          if (settled) return;
          settled = true;
          cancel();
          session.reject(version, Reply.TTL_EXPIRED, `connect timeout after ${connectTimeout / 1000}s`);
        }, Math.max(0, session.requestDeadline - Date.now()))
      : undefined;
  session.socket.once('close', onClientGone);
}
