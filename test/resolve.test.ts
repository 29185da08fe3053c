// Name resolution: IPs and recently resolved names answer at once,
// everything else goes to the system resolver, whose answers are kept for
// a few seconds only (the real resolver with localhost, which /etc/hosts
// answers). Then a DNS server that is slow or silent, from a test resolver
// inside a namespace: deadlines, and shares of the thread pool.
import { jest } from '@jest/globals';
import { resolveDestination } from '../src/session/resolve.js';
import { type Netns, createNetns } from './helpers/netns.js';
import { type DnsZone, dnsServerIn, socksClientIn, whoamiIn } from './helpers/netns-tools.js';
import { startProxy, stopAllProxies } from './helpers/proxy.js';

afterEach(() => jest.restoreAllMocks());

/** Resolve `host`; `immediate` says whether the answer came before resolveDestination returned. */
async function resolve(host: string): Promise<{ addresses: readonly string[]; immediate: boolean }> {
  let returned = false;
  const answer = new Promise<{ addresses: readonly string[]; immediate: boolean }>((done, fail) =>
    resolveDestination(host, { deadline: Infinity, client: undefined }, (addresses) => done({ addresses, immediate: !returned }), fail),
  );
  returned = true;
  return answer;
}

test('an IP literal is its own address, at once, IPv4-mapped ones unmapped', async () => {
  expect(await resolve('192.0.2.7')).toEqual({ addresses: ['192.0.2.7'], immediate: true });
  expect(await resolve('::ffff:192.0.2.7')).toEqual({ addresses: ['192.0.2.7'], immediate: true });
  expect(await resolve('2001:db8::1')).toEqual({ addresses: ['2001:db8::1'], immediate: true });
});

test('a name goes to the resolver once, then answers at once until its few seconds are up', async () => {
  const first = await resolve('localhost');
  expect(first.immediate).toBe(false);
  expect(first.addresses.length).toBeGreaterThan(0);
  expect(first.addresses.every((a) => a === '127.0.0.1' || a === '::1')).toBe(true);

  expect(await resolve('localhost')).toEqual({ addresses: first.addresses, immediate: true });

  const now = Date.now();
  jest.spyOn(Date, 'now').mockReturnValue(now + 5001);
  expect(await resolve('localhost')).toEqual({ addresses: first.addresses, immediate: false });
});

describe('a slow, silent or absent DNS server, from a test resolver in a namespace', () => {
  let ns: Netns;
  let dns: Awaited<ReturnType<typeof dnsServerIn>> | undefined;
  /** What the test resolver answers: names that are slow to answer, or never are, included. */
  const ZONE: DnsZone = {
    A: { 'fast.test': '127.0.0.1', 'host.clients.test': '127.0.0.2', 'late.test': '127.0.0.1', 'slow.test': '127.0.0.1', 'again.test': '127.0.0.1' },
    PTR: { '2.0.0.127.in-addr.arpa': 'host.clients.test' },
    // late.test answers after timeout.connect (1 s in these tests), slow.test well within it.
    delayMs: { 'late.test': 1800, 'slow.test': 400 },
    silent: ['silent.test', ...Array.from({ length: 30 }, (_, i) => `${i + 5}.0.0.127.in-addr.arpa`)],
  };
  /** The CONNECT reply code from `source`, and how long it took from the request (measured by the client). */
  const probe = async (host: string, port: number, source = '127.0.0.1'): Promise<{ code: string; ms: number }> =>
    (await socksClientIn(ns, ['probe', '127.0.0.1', '1080', host, String(port), source])) as { code: string; ms: number };
  const stopDns = async (): Promise<void> => {
    dns?.child.kill('SIGTERM');
    await dns?.child;
    dns = undefined;
  };

  beforeAll(async () => {
    // The system resolver would wait 5 s twice for a silent server: only the proxy's own deadline ends it sooner.
    ns = await createNetns({}, 'timeout:5 attempts:2');
    dns = await dnsServerIn(ns, ZONE);
  });
  afterEach(stopAllProxies);
  afterAll(async () => {
    await stopDns();
    await ns?.remove();
  });

  test('a name the DNS server never answers gets 0x04 within timeout.connect; CONNECT by address is unaffected; a stop does not wait for the query', async () => {
    const proxy = await startProxy({ internal: ['127.0.0.1:1080'], timeout: { connect: 1 } }, { netns: ns.name });
    const [slow, byAddress] = await Promise.all([probe('silent.test', 7000), probe('127.0.0.1', 7000)]);
    // The query itself goes on to its own limits (two tries, of 2 s and 4 s): a stop now ends it.
    const stopping = Date.now();
    const exitCode = await proxy.stop();
    const stopMs = Date.now() - stopping;
    console.log(`DNS server silent: 0x${slow.code} after ${slow.ms} ms (timeout.connect 1 s); by address meanwhile: 0x${byAddress.code} after ${byAddress.ms} ms; a stop then took ${stopMs} ms`);
    expect(slow.code).toBe('04');
    expect(slow.ms).toBeGreaterThanOrEqual(995);
    expect(slow.ms).toBeLessThan(1500);
    expect(byAddress.code).toBe('05'); // nothing listens there: refused, at once
    expect(byAddress.ms).toBeLessThan(1000);
    expect(exitCode).toBe(0);
    expect(stopMs).toBeLessThan(2000);
  });

  test('a DNS server that answers after timeout.connect: 0x04 at timeout.connect; one that answers within it is waited for', async () => {
    await startProxy({ internal: ['127.0.0.1:1080'], timeout: { connect: 1 } }, { netns: ns.name });
    const target = whoamiIn(ns, '127.0.0.1', 7100);
    try {
      await target.ready;
      const [late, slow, byAddress] = await Promise.all([probe('late.test', 7100), probe('slow.test', 7100), probe('127.0.0.1', 7100)]);
      console.log(
        `DNS answers after 1.8 s: 0x${late.code} after ${late.ms} ms; after 0.4 s: 0x${slow.code} after ${slow.ms} ms (timeout.connect 1 s); ` +
          `by address meanwhile: 0x${byAddress.code} after ${byAddress.ms} ms`,
      );
      expect(late.code).toBe('04');
      expect(late.ms).toBeGreaterThanOrEqual(995);
      expect(late.ms).toBeLessThan(1500);
      expect(slow.code).toBe('00');
      expect(slow.ms).toBeGreaterThanOrEqual(400);
      expect(slow.ms).toBeLessThan(1000);
      expect(byAddress.code).toBe('00');
      expect(byAddress.ms).toBeLessThan(1000);
    } finally {
      target.child.kill('SIGTERM');
      await target.child;
    }
  });

  test('a DNS server that is down (nothing listens: port unreachable) fails a name at once with 0x04; by address is unaffected; names resolve again when it is back', async () => {
    await startProxy({ internal: ['127.0.0.1:1080'], timeout: { connect: 3 } }, { netns: ns.name });
    try {
      await stopDns();
      const [down, byAddress] = await Promise.all([probe('again.test', 7000), probe('127.0.0.1', 7000)]);
      dns = await dnsServerIn(ns, ZONE);
      const back = await probe('again.test', 7000);
      console.log(`DNS server down: 0x${down.code} after ${down.ms} ms (timeout.connect 3 s); by address meanwhile: 0x${byAddress.code} after ${byAddress.ms} ms; once it is back: 0x${back.code}`);
      expect(down.code).toBe('04');
      // Not a wait for timeout.connect: the ICMP port unreachable ends the query.
      expect(down.ms).toBeLessThan(1000);
      expect(byAddress.code).toBe('05');
      expect(byAddress.ms).toBeLessThan(1000);
      // Failures are not remembered: the name resolves (to 127.0.0.1:7000, where nothing listens) once the server answers.
      expect(back.code).toBe('05');
    } finally {
      dns ??= await dnsServerIn(ns, ZONE);
    }
  });

  test('a reverse zone that never answers does not hold up other clients\' name lookups', async () => {
    // Client rules by name: every client's address is looked up in reverse first.
    await startProxy(
      { internal: ['127.0.0.1:1080'], rules: [{ type: 'client', action: 'pass', from: '.clients.test' }, { type: 'client', action: 'pass', from: '127.0.0.0/8' }, { type: 'socks', action: 'pass' }] },
      { netns: ns.name },
    );
    // 20 clients from addresses whose PTR queries go unanswered: each waits out its 2 s and is served nameless.
    const flood = Array.from({ length: 20 }, (_, i) => probe('127.0.0.1', 7000, `127.0.0.${i + 5}`));
    const named = await probe('fast.test', 7000, '127.0.0.2');
    expect(named.code).toBe('05');
    // Its own reverse lookup queues behind the flood's and gives up at 2 s too; its name lookup
    // then runs at once. With one pool for both, it waited for the flood's 10 s lookups to end.
    expect(named.ms).toBeLessThan(3500);
    for (const result of await Promise.all(flood)) expect(result.code).toBe('05');
  });
});
