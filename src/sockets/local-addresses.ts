import { networkInterfaces } from 'node:os';
import type { Logger } from '../log/logger.js';
import { isUnspecified } from '../protocol/address.js';
import { dataPath } from './data-path.js';

/** Is `address` on one of this host's (this namespace's) interfaces right now? */
export function isLocalAddress(address: string): boolean {
  if (isUnspecified(address)) return true;
  return Object.values(networkInterfaces()).some((list) => list?.some((i) => i.address === address));
}

/**
 * Check `ready` every `everyMs` until it holds, then call `then`; returns the
 * cancel. The proxy learns that an address arrived or left by looking: a
 * listener's VIP arriving, a demoted VIP leaving, an external VIP arriving.
 */
export function whenReady(ready: () => boolean, everyMs: number, then: () => void): () => void {
  const timer = setInterval(() => {
    if (!ready()) return;
    clearInterval(timer);
    then();
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * The external address can leave this node while the proxy runs: its VIP
 * moved away. A dial from it then fails in ways that hide why. Without
 * freebind, bind() fails (EADDRNOTAVAIL). With freebind, an IPv4 connect()
 * fails at once as if the target's network were down (ENETUNREACH), and an
 * IPv6 one sends SYNs from the absent address whose answers never come
 * back, so the client waits out timeout.connect. So a dial from an external
 * address first asks here whether the address is on this node.
 *
 * The question goes to the kernel, as a bind() without freebind, rather
 * than to the interface list: the kernel also counts addresses that a
 * local route covers, and does not count an IPv6 address still in
 * duplicate address detection. An address found here is taken as here for
 * EXTERNAL_RECHECK_MS, and asked about again when a dial from it fails; an
 * absent one is looked for again at every dial, so the first CONNECT after
 * it returns is served.
 */
export const EXTERNAL_RECHECK_MS = 100;
/** What a dial from an absent address fails with: bind() without freebind, an IPv4 connect() with it. */
export const SOURCE_ABSENT_ERRORS: ReadonlySet<string> = new Set(['EADDRNOTAVAIL', 'ENETUNREACH']);
const externalPresence = new Map<string, { readonly present: boolean; readonly checkedAt: number }>();

/** Whether `address` is on this node, as known at most `maxAgeMs` ago; logs when that changes (and an absence seen first). */
export function externalAddressPresent(address: string, logger: Logger, maxAgeMs: number): boolean {
  const now = Date.now();
  const known = externalPresence.get(address);
  if (known?.present && now - known.checkedAt < maxAgeMs) return true;
  let present = true;
  try {
    const { addon } = dataPath();
    addon.close(addon.tcpSocket(address, 0, { freebind: false }));
  } catch (err) {
    // Only "not here" counts: another failure (no descriptor left) is the dial's to meet and report.
    present = (err as NodeJS.ErrnoException).code !== 'EADDRNOTAVAIL';
  }
  if (present !== (known?.present ?? true)) {
    if (present) logger.info(`external address ${address} is on this node again: requests from it resume`);
    else logger.warn(`external address ${address} is not on this node: until it returns, requests that need it get REP 01 (general failure) at once and UDP datagrams that need it are dropped`);
  }
  externalPresence.set(address, { present, checkedAt: now });
  return present;
}
