// Names to addresses for CONNECT, BIND and UDP datagrams, and client
// addresses to names for client rules.
//
// hasocks resolves names itself rather than through getaddrinfo: from
// /etc/hosts, then from the DNS servers of /etc/resolv.conf with its search
// list, as the system resolver does (nsswitch sources other than files and
// dns are not consulted). A getaddrinfo call holds one of libuv's threads
// until the system resolver gives up, which for a DNS server that never
// answers takes its whole timeout (5 s twice, by default), and nothing can
// cancel it: a client asking for a few names in such a zone could hold
// every thread, and every other client's lookups would wait. Queries here
// go through c-ares on the event loop, hold no thread, and are simply given
// up at their deadline. Each client may have only a few lookups under way.
import { Resolver } from 'node:dns/promises';
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { ipToBytes16 } from '../policy/address-match.js';
import { unmapIPv4 } from '../protocol/address.js';
import { hostNameProblem } from '../protocol/host-name.js';
import { remember } from './bounded-cache.js';
import { clientKey } from '../auth/thread-pool.js';

/**
 * How long a name's addresses are reused. A burst of sessions to one name
 * (a browser's, a crawler's) then resolves it once instead of once per
 * session; a DNS change is still seen within seconds. Failures are not kept.
 */
const NAME_CACHE_MS = 5000;
const NAME_CACHE_MAX = 1024;
/** Lookups under way for one client (an IPv4 address or IPv6 /64), and for all; more are refused at once. */
const LOOKUPS_PER_CLIENT = 8;
const LOOKUPS_MAX = 512;
/** One DNS query's own limits: the first try waits this long, the second twice as long. */
const QUERY_TIMEOUT_MS = 2000;
const QUERY_TRIES = 2;

const resolvedNames = new Map<string, { readonly addresses: string[]; readonly until: number }>();
/** Lookups under way, so that sessions asking for one name at once share one lookup. */
const pendingNames = new Map<string, Promise<string[]>>();
const lookupsByClient = new Map<string, number>();
let lookups = 0;

const failure = (message: string, code: string): NodeJS.ErrnoException => Object.assign(new Error(message), { code });

/** `promise`, or a rejection with ETIMEDOUT once `deadline` (ms since the epoch) has passed. */
function beforeDeadline<T>(promise: Promise<T>, deadline: number, what: string): Promise<T> {
  if (deadline === Infinity) return promise;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(failure(`${what} timed out`, 'ETIMEDOUT')), Math.max(0, deadline - Date.now()));
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

/** A system file read again when it changes, checked at most once a second. */
function watchedFile<T>(path: string, parse: (text: string) => T, empty: T): () => T {
  let value = empty;
  let stamp = '';
  let checkedAt = 0;
  return () => {
    const now = Date.now();
    if (now - checkedAt < 1000) return value;
    checkedAt = now;
    try {
      const info = statSync(path);
      const next = `${info.mtimeMs}|${info.size}|${info.ino}`;
      if (next !== stamp) {
        value = parse(readFileSync(path, 'utf8'));
        stamp = next;
      }
    } catch {
      value = empty;
      stamp = '';
    }
    return value;
  };
}

interface HostsFile {
  readonly byName: ReadonlyMap<string, readonly string[]>;
  readonly byAddress: ReadonlyMap<string, string>;
}

/** /etc/hosts: "address name alias...", "#" comments. */
function parseHosts(text: string): HostsFile {
  const byName = new Map<string, string[]>();
  const byAddress = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [address, ...names] = line.replace(/#.*/, '').trim().split(/\s+/);
    if (!address || names.length === 0 || !isIP(address)) continue;
    const ip = unmapIPv4(address);
    if (!byAddress.has(ip)) byAddress.set(ip, names[0]!.toLowerCase());
    for (const name of names) {
      const key = name.toLowerCase();
      const list = byName.get(key) ?? [];
      if (!list.includes(ip)) list.push(ip);
      byName.set(key, list);
    }
  }
  return { byName, byAddress };
}

interface ResolvConf {
  readonly search: readonly string[];
  readonly ndots: number;
  /** A c-ares channel, which reads the servers from the file when it is made. */
  readonly dns: Resolver;
}

/** /etc/resolv.conf's search list and ndots, and a resolver for its servers. */
function parseResolvConf(text: string): ResolvConf {
  let search: string[] = [];
  let ndots = 1;
  for (const line of text.split('\n')) {
    const [keyword, ...values] = line.replace(/[#;].*/, '').trim().split(/\s+/);
    if (keyword === 'search' || keyword === 'domain') search = values.filter((d) => hostNameProblem(Buffer.from(d, 'latin1')) === undefined);
    if (keyword === 'options') {
      for (const option of values) if (option.startsWith('ndots:')) ndots = Math.min(15, Number(option.slice(6)) || 0);
    }
  }
  const dns = new Resolver({ timeout: QUERY_TIMEOUT_MS, tries: QUERY_TRIES });
  // The servers c-ares read, set again as if chosen: Node treats a lone
  // 127.0.0.1 it was not given as a fallback, and after a query to it is
  // refused it remakes the channel at each new query, failing every query
  // in flight (EDESTRUCTION). A local DNS server that restarts would then
  // fail the first lookups after it is back, and concurrent ones while it
  // is down. resolv.conf changes are seen here anyway (watchedFile).
  dns.setServers(dns.getServers());
  return { search, ndots, dns };
}

const hostsFile = watchedFile('/etc/hosts', parseHosts, { byName: new Map(), byAddress: new Map() });
let resolvConf = (): ResolvConf => {
  // Made on first use: the agent loads this module with the config and mostly never resolves a name.
  resolvConf = watchedFile('/etc/resolv.conf', parseResolvConf, parseResolvConf(''));
  return resolvConf();
};

const NOT_FOUND = new Set(['ENOTFOUND', 'ENODATA', 'ENONAME']);

/** Resolvers with queries under way, and how many: a new resolver replaces the old when resolv.conf changes. */
const busyResolvers = new Map<Resolver, number>();

/** Ask the current resolver, counted so that cancelLookups can end the query. */
async function withResolver<T>(ask: (dns: Resolver) => Promise<T>): Promise<T> {
  const { dns } = resolvConf();
  busyResolvers.set(dns, (busyResolvers.get(dns) ?? 0) + 1);
  try {
    return await ask(dns);
  } finally {
    const left = (busyResolvers.get(dns) ?? 1) - 1;
    if (left > 0) busyResolvers.set(dns, left);
    else busyResolvers.delete(dns);
  }
}

/**
 * End every DNS query under way (each fails with ECANCELLED), for a
 * shutdown. A query to a DNS server that does not answer runs to its own
 * limits after the session that asked has given up, and until then it
 * keeps the process alive: a stop would wait for it after "stopped".
 */
export function cancelLookups(): void {
  for (const dns of busyResolvers.keys()) dns.cancel();
}

/** The names to ask DNS for, in order, as res_search does: the search list first for short names. */
function candidates(name: string): string[] {
  if (name.endsWith('.')) return [name.slice(0, -1)];
  const { search, ndots } = resolvConf();
  const dots = name.split('.').length - 1;
  const searched = search.map((domain) => `${name}.${domain}`);
  return dots >= ndots ? [name, ...searched] : [...searched, name];
}

/** A and AAAA for one name: IPv4 first. Rejects when neither has an answer. */
async function query(name: string): Promise<string[]> {
  const [v4, v6] = await withResolver((dns) => Promise.allSettled([dns.resolve4(name), dns.resolve6(name)]));
  const addresses = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value.map(unmapIPv4) : [])];
  if (addresses.length > 0) return addresses;
  // A name that exists in one family only answers the other with "no data": only both missing is "not found".
  const errors = [v4, v6].map((r) => (r.status === 'rejected' ? (r.reason as NodeJS.ErrnoException) : failure(`${name} has no address`, 'ENODATA')));
  throw errors.find((e) => !NOT_FOUND.has(e.code ?? '')) ?? errors[0]!;
}

/** A name's addresses: /etc/hosts, else DNS through the search list. */
async function findAddresses(name: string): Promise<string[]> {
  const key = name.toLowerCase().replace(/\.$/, '');
  const fromHosts = hostsFile().byName.get(key);
  if (fromHosts) return [...fromHosts];
  let firstError: NodeJS.ErrnoException | undefined;
  for (const candidate of candidates(name)) {
    try {
      return await query(candidate);
    } catch (err) {
      const error = err as NodeJS.ErrnoException;
      if (!firstError || (NOT_FOUND.has(firstError.code ?? '') && !NOT_FOUND.has(error.code ?? ''))) firstError = error;
    }
  }
  throw firstError ?? failure(`${name} not found`, 'ENOTFOUND');
}

/** Count a lookup for `client` (undefined: the agent's probe or the config, never refused) while `work` runs. */
function counted<T>(client: string | undefined, work: () => Promise<T>): Promise<T> {
  if (client === undefined) return work();
  const key = clientKey(client);
  const mine = lookupsByClient.get(key) ?? 0;
  if (mine >= LOOKUPS_PER_CLIENT || lookups >= LOOKUPS_MAX) {
    return Promise.reject(failure(`too many name lookups under way${mine >= LOOKUPS_PER_CLIENT ? ' for this client' : ''}`, 'EBUSY'));
  }
  lookupsByClient.set(key, mine + 1);
  lookups++;
  return work().finally(() => {
    lookups--;
    const left = (lookupsByClient.get(key) ?? 1) - 1;
    if (left > 0) lookupsByClient.set(key, left);
    else lookupsByClient.delete(key);
  });
}

/** A name's addresses, shared by concurrent askers and remembered for a few seconds. */
function lookUp(host: string, deadline: number, client: string | undefined): Promise<string[]> {
  // What a client counts is its own wait, which ends at its deadline; the query itself ends within its own limits.
  return counted(client, () => {
    let pending = pendingNames.get(host);
    if (pending === undefined) {
      pending = findAddresses(host)
        .then((addresses) => remember(resolvedNames, host, { addresses, until: Date.now() + NAME_CACHE_MS }, NAME_CACHE_MAX).addresses)
        .finally(() => pendingNames.delete(host));
      pendingNames.set(host, pending);
    }
    return beforeDeadline(pending, deadline, `resolving ${host}`);
  });
}

/** Who asks, and by when it must have an answer. */
export interface LookupOptions {
  /** ms since the epoch; Infinity: the DNS query's own limits. */
  readonly deadline: number;
  /** The client's address, whose lookups under way are limited; undefined for the agent's probes and the config. */
  readonly client: string | undefined;
}

/**
 * Call `then` with the addresses a destination stands for: at once (no
 * promise, no extra tick) for an IP or a name resolved in the last few
 * seconds, else when the answer comes; `failed` if there is none, or none
 * in time, or the client has too many lookups under way.
 */
export function resolveDestination(host: string, options: LookupOptions, then: (addresses: readonly string[]) => void, failed: (err: NodeJS.ErrnoException) => void): void {
  if (isIP(host)) {
    then([unmapIPv4(host)]);
    return;
  }
  const known = resolvedNames.get(host);
  if (known !== undefined && known.until > Date.now()) {
    then(known.addresses);
    return;
  }
  lookUp(host, options.deadline, options.client).then(then, failed);
}

/** A name's addresses, for names in the config (rules' `from` hosts). */
export function resolveName(host: string): Promise<string[]> {
  return lookUp(host, Infinity, undefined);
}

/** How long a reverse lookup of a client may take before rules see it as nameless. */
const CLIENT_NAME_LOOKUP_MS = 2000;
/** How long a client address's name (or the lack of one) is reused. */
const CLIENT_NAME_CACHE_MS = 10000;
const clientNames = new Map<string, { readonly name: string | undefined; readonly until: number }>();

/** The first name an address has: /etc/hosts, else its PTR record; undefined when it has none. */
async function nameOf(address: string): Promise<string | undefined> {
  const fromHosts = hostsFile().byAddress.get(address);
  if (fromHosts) return fromHosts;
  try {
    return (await withResolver((dns) => dns.reverse(address)))[0];
  } catch (err) {
    if (NOT_FOUND.has((err as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw err;
  }
}

/**
 * The client's name for client rules, by forward-confirmed reverse DNS:
 * the PTR name of `address`, but only if that name resolves back to
 * `address`. Whoever controls the reverse zone of their own address can
 * write any name there; only the owner of the name's zone can make it
 * resolve back. Undefined when there is no confirmed name by `timeoutMs`.
 * A definite answer is remembered for a few seconds; a lookup that ran
 * out of time is not, so a slow zone leaves nobody nameless for long.
 */
export async function confirmedClientName(address: string, timeoutMs = CLIENT_NAME_LOOKUP_MS): Promise<string | undefined> {
  const known = clientNames.get(address);
  if (known !== undefined && known.until > Date.now()) return known.name;
  const deadline = Date.now() + timeoutMs;
  let name: string | undefined;
  try {
    const candidate = await counted(address, () => beforeDeadline(nameOf(address), deadline, `reverse lookup of ${address}`));
    // A PTR record may hold anything at all; only a plain host name can be one.
    if (candidate !== undefined && hostNameProblem(Buffer.from(candidate, 'latin1')) === undefined) {
      const wanted = ipToBytes16(unmapIPv4(address));
      const forward = await lookUp(candidate, deadline, address);
      if (forward.some((answer) => ipToBytes16(answer).equals(wanted))) name = candidate;
    }
  } catch (err) {
    // Out of time (ours, or the query's own) or too busy: no answer, not "no name".
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code === 'ETIMEDOUT' || code === 'ETIMEOUT' || code === 'EBUSY') return undefined;
  }
  remember(clientNames, address, { name, until: Date.now() + CLIENT_NAME_CACHE_MS }, NAME_CACHE_MAX);
  return name;
}
