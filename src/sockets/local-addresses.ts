import { networkInterfaces } from 'node:os';
import { isUnspecified } from '../protocol/address.js';

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
