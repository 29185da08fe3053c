// Destination names to addresses, for CONNECT, BIND and UDP datagrams.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { unmapIPv4 } from '../protocol/address.js';
import { remember } from './bounded-cache.js';

/**
 * How long a name's addresses are reused. A burst of sessions to one name
 * (a browser's, a crawler's) then resolves it once instead of once per
 * session, each a trip through libuv's thread pool that cost the domain
 * session rate about a fifth; a DNS change is still seen within seconds.
 * Failures are not kept.
 */
const NAME_CACHE_MS = 5000;
const NAME_CACHE_MAX = 1024;
const resolvedNames = new Map<string, { readonly addresses: string[]; readonly until: number }>();

/**
 * Call `then` with the addresses a destination stands for: at once (no
 * promise, no extra tick) for an IP or a name resolved in the last few
 * seconds, else when the resolver answers; `failed` if it cannot.
 */
export function resolveDestination(host: string, then: (addresses: readonly string[]) => void, failed: (err: NodeJS.ErrnoException) => void): void {
  if (isIP(host)) {
    then([unmapIPv4(host)]);
    return;
  }
  const known = resolvedNames.get(host);
  if (known !== undefined && known.until > Date.now()) {
    then(known.addresses);
    return;
  }
  lookup(host, { all: true, verbatim: true }).then(
    (answers) => then(remember(resolvedNames, host, { addresses: answers.map((a) => a.address), until: Date.now() + NAME_CACHE_MS }, NAME_CACHE_MAX).addresses),
    failed,
  );
}
