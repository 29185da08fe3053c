// Destination resolution: IPs and recently resolved names answer at once,
// everything else goes to the system resolver, whose answers are kept for
// a few seconds only. Uses the real resolver with localhost, which
// /etc/hosts answers; a failing name would need a DNS query off this
// machine, so failures (never cached) are not tested here.
import { jest } from '@jest/globals';
import { resolveDestination } from '../src/server/resolve.js';

afterEach(() => jest.restoreAllMocks());

/** An answer given at once is an array; one from the resolver is a promise (of another realm under jest, so no instanceof). */
const immediate = (answer: unknown): boolean => Array.isArray(answer);

test('an IP literal is its own address, at once, IPv4-mapped ones unmapped', () => {
  expect(resolveDestination('192.0.2.7')).toEqual(['192.0.2.7']);
  expect(resolveDestination('::ffff:192.0.2.7')).toEqual(['192.0.2.7']);
  expect(resolveDestination('2001:db8::1')).toEqual(['2001:db8::1']);
});

test('a name goes to the resolver once, then answers at once until its few seconds are up', async () => {
  const first = resolveDestination('localhost');
  expect(immediate(first)).toBe(false);
  const addresses = await first;
  expect(addresses.length).toBeGreaterThan(0);
  expect(addresses.every((a) => a === '127.0.0.1' || a === '::1')).toBe(true);

  expect(resolveDestination('localhost')).toEqual(addresses);

  const now = Date.now();
  jest.spyOn(Date, 'now').mockReturnValue(now + 5001);
  const again = resolveDestination('localhost');
  expect(immediate(again)).toBe(false);
  expect(await again).toEqual(addresses);
});
