// Names to addresses for CONNECT, BIND and UDP datagrams, and client
// addresses to names for client rules. Every lookup has a deadline, and
// runs in its own share of libuv's thread pool (thread-pool.ts).
import { lookup, lookupService } from 'node:dns/promises';
import { isIP } from 'node:net';
import { ipToBytes16 } from '../policy/address-match.js';
import { unmapIPv4 } from '../protocol/address.js';
import { hostNameProblem } from '../protocol/host-name.js';
import { remember } from './bounded-cache.js';
import { forwardLookups, reverseLookups } from './thread-pool.js';

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
/** Lookups under way, so that sessions asking for one name at once share one lookup. */
const pendingNames = new Map<string, Promise<string[]>>();

/** `promise`, or a rejection with ETIMEDOUT once `deadline` (ms since the epoch) has passed. */
function beforeDeadline<T>(promise: Promise<T>, deadline: number, what: string): Promise<T> {
  if (deadline === Infinity) return promise;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(Object.assign(new Error(`${what} timed out`), { code: 'ETIMEDOUT' })),
      Math.max(0, deadline - Date.now()),
    );
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** A name's addresses from the resolver, shared by concurrent askers and remembered for a few seconds. */
function lookUp(host: string, deadline: number): Promise<string[]> {
  let pending = pendingNames.get(host);
  if (pending === undefined) {
    pending = forwardLookups
      .run(() => lookup(host, { all: true, verbatim: true }), deadline)
      .then((answers) => remember(resolvedNames, host, { addresses: answers.map((a) => unmapIPv4(a.address)), until: Date.now() + NAME_CACHE_MS }, NAME_CACHE_MAX).addresses)
      .finally(() => pendingNames.delete(host));
    pendingNames.set(host, pending);
  }
  return beforeDeadline(pending, deadline, `resolving ${host}`);
}

/**
 * Call `then` with the addresses a destination stands for: at once (no
 * promise, no extra tick) for an IP or a name resolved in the last few
 * seconds, else when the resolver answers; `failed` if it cannot, or not
 * before `deadline` (ms since the epoch; Infinity: the resolver's own
 * timeouts).
 */
export function resolveDestination(host: string, deadline: number, then: (addresses: readonly string[]) => void, failed: (err: NodeJS.ErrnoException) => void): void {
  if (isIP(host)) {
    then([unmapIPv4(host)]);
    return;
  }
  const known = resolvedNames.get(host);
  if (known !== undefined && known.until > Date.now()) {
    then(known.addresses);
    return;
  }
  lookUp(host, deadline).then(then, failed);
}

/** How long a reverse lookup of a client may take before rules see it as nameless. */
const CLIENT_NAME_LOOKUP_MS = 2000;
/** How long a client address's name (or the lack of one) is reused. */
const CLIENT_NAME_CACHE_MS = 10000;
const clientNames = new Map<string, { readonly name: string | undefined; readonly until: number }>();

/**
 * The client's name for client rules, by forward-confirmed reverse DNS:
 * the PTR name of `address`, but only if that name resolves back to
 * `address`. Whoever controls the reverse zone of their own address can
 * write any name there; only the owner of the name's zone can make it
 * resolve back. Undefined when there is no confirmed name by `timeoutMs`.
 */
export async function confirmedClientName(address: string, timeoutMs = CLIENT_NAME_LOOKUP_MS): Promise<string | undefined> {
  const known = clientNames.get(address);
  if (known !== undefined && known.until > Date.now()) return known.name;
  const deadline = Date.now() + timeoutMs;
  let name: string | undefined;
  try {
    const reverse = await beforeDeadline(reverseLookups.run(() => lookupService(address, 0), deadline), deadline, `reverse lookup of ${address}`);
    // getnameinfo answers with the address itself when there is no name; a PTR record may also hold anything at all.
    const candidate = reverse.hostname;
    if (candidate !== address && hostNameProblem(Buffer.from(candidate, 'latin1')) === undefined) {
      const wanted = ipToBytes16(unmapIPv4(address));
      const forward = await lookUp(candidate, deadline);
      if (forward.some((answer) => ipToBytes16(answer).equals(wanted))) name = candidate;
    }
  } catch {
    /* no name, or not in time: the client is nameless for the rules */
  }
  remember(clientNames, address, { name, until: Date.now() + CLIENT_NAME_CACHE_MS }, NAME_CACHE_MAX);
  return name;
}
