import { lookup } from 'node:dns/promises';
import { type Socket, connect as netConnect, isIP } from 'node:net';
import { ipToBytes16 } from '../policy/address-match.js';
import { type Decision, decide, decisionLogs, describeDecision } from '../policy/rules.js';
import { formatEndpoint, unmapIPv4 } from '../protocol/address.js';
import { Reply } from '../protocol/constants.js';
import { replyForSystemError } from '../protocol/errors.js';
import type { SocksRequest } from '../protocol/parser.js';
import { replyFor } from '../protocol/replies.js';
import { relay } from '../relay/relay.js';
import type { Session } from './session.js';

/** The addresses a destination stands for: itself if it is an IP, else what the resolver says. */
export async function resolveDestination(host: string): Promise<string[]> {
  if (isIP(host)) return [unmapIPv4(host)];
  const answers = await lookup(host, { all: true, verbatim: true });
  return answers.map((a) => a.address);
}

/**
 * Check the socks rules for every address a name resolves to and keep the
 * first one that passes. Rules see the resolved IP, so a name that points
 * into a blocked network is blocked like the network itself.
 */
function firstPassing(session: Session, request: SocksRequest, addresses: readonly string[]): { address: string; decision: Decision } | { decision: Decision } {
  let firstBlock: Decision | undefined;
  for (const address of addresses) {
    const decision = decide(session.config.rules, 'socks', {
      clientIp: session.clientIp,
      targetIp: ipToBytes16(address),
      targetName: request.destination.type === 'domain' ? request.destination.host : undefined,
      port: request.destination.port,
      command: request.command,
      method: session.method ?? 'none',
      protocol: 'tcp',
    });
    if (decision.action === 'pass') return { address, decision };
    firstBlock ??= decision;
  }
  return { decision: firstBlock! };
}

/** SOCKS CONNECT: resolve, apply rules, dial from the external address, reply, relay. */
export async function handleConnect(session: Session, request: SocksRequest): Promise<void> {
  const { destination, version } = request;
  let addresses: string[];
  try {
    addresses = await resolveDestination(destination.host);
  } catch (err) {
    session.reject(version, Reply.HOST_UNREACHABLE, `cannot resolve ${destination.host}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    return;
  }
  if (addresses.length === 0) {
    session.reject(version, Reply.HOST_UNREACHABLE, `${destination.host} has no address`);
    return;
  }
  const chosen = firstPassing(session, request, addresses);
  session.decision = chosen.decision;
  if (!('address' in chosen)) {
    session.reject(version, Reply.NOT_ALLOWED, describeDecision(chosen.decision));
    return;
  }

  const { address } = chosen;
  const family = isIP(address);
  const localAddress = family === 4 ? session.config.external.ipv4 : session.config.external.ipv6;
  let target: Socket;
  try {
    target = netConnect({
      host: address,
      port: destination.port,
      family,
      localAddress,
      allowHalfOpen: true,
      noDelay: true,
      autoSelectFamily: false,
    });
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
    if (decisionLogs(chosen.decision, 'connect')) {
      session.logger.info(
        `${session.label}: ${describeDecision(chosen.decision)}: connect ${session.destinationText}` +
          `${destination.host !== address ? ` [${address}]` : ''} from ${formatEndpoint(boundAddress, boundPort)}`,
      );
    }
    session.socket.write(replyFor(version, Reply.SUCCEEDED, boundAddress, boundPort));
    const handle = relay(
      session.socket,
      target,
      session.takeEarlyData(),
      { idleTimeout: session.config.timeouts.io, finWait: session.config.timeouts.tcpFinWait },
      (result) => session.relayEnded(result),
    );
    session.attachRelay(handle);
  });
}
