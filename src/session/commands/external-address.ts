import { Reply } from '../../protocol/constants.js';
import { EXTERNAL_RECHECK_MS, externalAddressPresent } from '../../sockets/local-addresses.js';
import type { RequestContext } from '../request-context.js';

/** The `external` address of an IP family, if the config has one. */
export function externalAddress(session: RequestContext, family: number): string | undefined {
  return family === 6 ? session.config.external.ipv6 : session.config.external.ipv4;
}

/** Whether `address`, an external address, is configured and has left this node (its VIP moved); `maxAgeMs` 0 asks the kernel again now. */
export function externalAway(session: RequestContext, address: string | undefined, maxAgeMs = EXTERNAL_RECHECK_MS): address is string {
  return address !== undefined && !externalAddressPresent(address, session.logger, maxAgeMs);
}

/**
 * Refuse the request with REP 01 if `address`, an external address, has
 * left this node (externalAway); true if it did. A dial from it would fail
 * in ways that hide why, and a BIND listener on it is one no peer can
 * reach. REP 01 because the fault is the proxy's: a client with another
 * proxy to try can go there, where REP 03 or 04 would blame a destination
 * that may be fine.
 */
export function refusedForAbsentExternal(session: RequestContext, version: 4 | 5, address: string | undefined, maxAgeMs = EXTERNAL_RECHECK_MS): boolean {
  if (!externalAway(session, address, maxAgeMs)) return false;
  session.reject(version, Reply.GENERAL_FAILURE, `external address ${address} is not on this node`);
  return true;
}

/**
 * UDP ASSOCIATE's form of the check: the family of its datagrams is not
 * known yet, so it is refused (REP 01, as above) only when no configured
 * external address is here. With one family's address here, that family's
 * datagrams can still leave, and udp-associate.ts drops the other's.
 */
export function refusedForAbsentExternals(session: RequestContext, version: 4 | 5): boolean {
  const configured = [externalAddress(session, 4), externalAddress(session, 6)].filter((address): address is string => address !== undefined);
  if (configured.length === 0 || !configured.every((address) => externalAway(session, address))) return false;
  session.reject(version, Reply.GENERAL_FAILURE, `external address${configured.length > 1 ? 'es' : ''} ${configured.join(' and ')} ${configured.length > 1 ? 'are' : 'is'} not on this node`);
  return true;
}
