// Destination resolution: IPs and recently resolved names answer at once,
// everything else goes to the system resolver, whose answers are kept for
// a few seconds only. Uses the real resolver with localhost, which
// /etc/hosts answers; a failing name would need a DNS query off this
// machine, so failures (never cached) are not tested here.
import { jest } from '@jest/globals';
import { resolveDestination } from '../src/server/resolve.js';

afterEach(() => jest.restoreAllMocks());

/** Resolve `host`; `immediate` says whether the answer came before resolveDestination returned. */
async function resolve(host: string): Promise<{ addresses: readonly string[]; immediate: boolean }> {
  let returned = false;
  const answer = new Promise<{ addresses: readonly string[]; immediate: boolean }>((done, fail) =>
    resolveDestination(host, (addresses) => done({ addresses, immediate: !returned }), fail),
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
