// Property tests (fast-check) for the handshake parser, the address codec and
// rule address matching. Each property is checked against an independent
// reference written here from the RFCs and /work/notes/spec.md, not against
// the code under test.
import { BlockList, isIPv4 } from 'node:net';
import fc from 'fast-check';
import { HandshakeParser, type SocksRequest } from '../../src/protocol/parser.js';
import { SocksError } from '../../src/protocol/errors.js';
import { Reply } from '../../src/protocol/constants.js';
import { bytesToIPv4, bytesToIPv6, encodeAddress, ipv4ToBytes, ipv6ToBytes } from '../../src/protocol/address.js';
import { parseUdpHeader, udpHeader } from '../../src/protocol/udp-header.js';
import { ipToBytes16, matchAddress, parseAddressMatch } from '../../src/policy/address-match.js';

// Enough runs to reach the corners (chunk boundaries inside every field),
// few enough that the whole file takes a few seconds.
const RUNS = 500;

// ---------------------------------------------------------------------------
// Driving the parser the way a session does
// ---------------------------------------------------------------------------

/** An event as plain data, so two runs compare with toEqual. */
type Recorded =
  | { kind: 'greeting'; methods: number[] }
  | { kind: 'credentials'; username: string; password: string }
  | { kind: 'request'; request: SocksRequest }
  | { kind: 'error'; message: string; reply: number | undefined; code: string };

interface Driven {
  events: Recorded[];
  /** Bytes the parser kept after the request (early data), concatenated. */
  rest: Buffer;
  /** push() or expect*() threw instead of reporting an error event. */
  thrown: unknown;
}

/**
 * How the session answers: which sub-negotiation follows the greeting, and
 * whether it answers at once (inside the event, as for "none") or later (as
 * after an asynchronous password check).
 */
interface Answer {
  readonly auth: boolean;
  readonly deferred: boolean;
}

function drive(chunks: readonly Buffer[], answer: Answer): Driven {
  const events: Recorded[] = [];
  const pending: Array<() => void> = [];
  const act = (f: () => void): void => {
    if (answer.deferred) pending.push(f);
    else f();
  };
  const parser: HandshakeParser = new HandshakeParser({
    greeting: (methods) => {
      events.push({ kind: 'greeting', methods: [...methods] });
      act(() => (answer.auth ? parser.expectCredentials() : parser.expectRequest()));
    },
    credentials: (username, password) => {
      events.push({ kind: 'credentials', username, password: password.toString('hex') });
      act(() => parser.expectRequest());
    },
    request: (request) => events.push({ kind: 'request', request }),
    error: (error: SocksError) => events.push({ kind: 'error', message: error.message, reply: error.reply, code: error.code }),
  });
  let thrown: unknown;
  try {
    for (const chunk of chunks) {
      parser.push(chunk);
      // A deferred answer comes after this chunk was taken in, before the next one.
      while (pending.length > 0) pending.shift()!();
    }
  } catch (err) {
    thrown = err;
  }
  return { events, rest: Buffer.concat(parser.takeBuffered()), thrown };
}

/** Cut `bytes` at the given positions (taken modulo its length + 1). */
function split(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    if (p > from) out.push(bytes.subarray(from, p));
    from = Math.max(from, p);
  }
  out.push(bytes.subarray(from));
  return out;
}

const cutsArb = fc.oneof(
  fc.array(fc.nat(), { maxLength: 12 }),
  // Every byte on its own.
  fc.constant(Array.from({ length: 600 }, (_, i) => i)),
);

// ---------------------------------------------------------------------------
// Valid handshakes
// ---------------------------------------------------------------------------

const NAME_CHARS = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_'];
const labelArb = fc.string({ unit: fc.constantFrom(...NAME_CHARS), minLength: 1, maxLength: 63 });
/** A host name the spec accepts: labels of 1-63 allowed bytes, at most one trailing dot, 1-255 bytes. */
const validNameArb = fc
  .tuple(fc.array(labelArb, { minLength: 1, maxLength: 5 }), fc.boolean())
  .map(([labels, dot]) => labels.join('.') + (dot ? '.' : ''))
  .filter((name) => name.length <= 255);

const byte = fc.integer({ min: 0, max: 255 });
const port = fc.integer({ min: 0, max: 65535 });

interface Handshake {
  readonly bytes: Buffer;
  readonly answer: Answer;
}

/** The address part of a SOCKS5 request: ATYP and DST.ADDR. */
const socks5AddressArb = fc.oneof(
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map((a) => Buffer.from([0x01, ...a])),
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from([0x04, ...a])),
  validNameArb.map((name) => Buffer.from([0x03, name.length, ...Buffer.from(name, 'latin1')])),
);

const socks5Arb: fc.Arbitrary<Handshake> = fc
  .record({
    auth: fc.boolean(),
    deferred: fc.boolean(),
    others: fc.array(byte.filter((m) => m !== 0x00 && m !== 0x02), { maxLength: 20 }),
    username: fc.uint8Array({ maxLength: 255 }),
    password: fc.uint8Array({ maxLength: 255 }),
    command: fc.constantFrom(1, 2, 3),
    address: socks5AddressArb,
    port,
  })
  .map(({ auth, deferred, others, username, password, command, address, port }) => {
    const methods = [...others, auth ? 0x02 : 0x00];
    const greeting = Buffer.from([0x05, methods.length, ...methods]);
    const credentials = auth ? Buffer.from([0x01, username.length, ...username, password.length, ...password]) : Buffer.alloc(0);
    const request = Buffer.concat([Buffer.from([0x05, command, 0x00]), address, Buffer.from([port >> 8, port & 0xff])]);
    return { bytes: Buffer.concat([greeting, credentials, request]), answer: { auth, deferred } };
  });

const userIdArb = fc.array(fc.integer({ min: 1, max: 255 }), { maxLength: 255 });

const socks4Arb: fc.Arbitrary<Handshake> = fc
  .record({
    command: fc.constantFrom(1, 2),
    port,
    // Not 0.0.0.x: that is SOCKS4a's marker.
    ip: fc.uint8Array({ minLength: 4, maxLength: 4 }).filter((a) => a[0] !== 0 || a[1] !== 0 || a[2] !== 0),
    userId: userIdArb,
  })
  .map(({ command, port, ip, userId }) => ({
    bytes: Buffer.from([0x04, command, port >> 8, port & 0xff, ...ip, ...userId, 0]),
    answer: { auth: false, deferred: false },
  }));

const socks4aArb: fc.Arbitrary<Handshake> = fc
  .record({ command: fc.constantFrom(1, 2), port, x: fc.integer({ min: 1, max: 255 }), userId: userIdArb, host: validNameArb })
  .map(({ command, port, x, userId, host }) => ({
    bytes: Buffer.from([0x04, command, port >> 8, port & 0xff, 0, 0, 0, x, ...userId, 0, ...Buffer.from(host, 'latin1'), 0]),
    answer: { auth: false, deferred: false },
  }));

const validArb = fc.oneof(socks5Arb, socks4Arb, socks4aArb);

describe('HandshakeParser properties', () => {
  test('a valid handshake gives one request, and any chunking gives the same events and early data as one chunk', () => {
    fc.assert(
      fc.property(validArb, fc.uint8Array({ maxLength: 40 }), cutsArb, ({ bytes, answer }, early, cuts) => {
        const input = Buffer.concat([bytes, early]);
        const whole = drive([input], answer);
        expect(whole.thrown).toBeUndefined();
        expect(whole.events.filter((e) => e.kind === 'request')).toHaveLength(1);
        expect(whole.events.at(-1)?.kind).toBe('request');
        expect(whole.rest.toString('hex')).toBe(Buffer.from(early).toString('hex'));
        const chunked = drive(split(input, cuts), answer);
        expect(chunked.thrown).toBeUndefined();
        expect(chunked.events).toEqual(whole.events);
        expect(chunked.rest.toString('hex')).toBe(whole.rest.toString('hex'));
      }),
      { numRuns: RUNS },
    );
  });

  test('answering the greeting at once or later (after a password check) gives the same events', () => {
    fc.assert(
      fc.property(socks5Arb, cutsArb, ({ bytes, answer }, cuts) => {
        const now = drive(split(bytes, cuts), { ...answer, deferred: false });
        const later = drive(split(bytes, cuts), { ...answer, deferred: true });
        expect(later.events).toEqual(now.events);
      }),
      { numRuns: RUNS },
    );
  });

  test('a truncated valid handshake emits no request and no error', () => {
    fc.assert(
      fc.property(validArb, fc.nat(), cutsArb, ({ bytes, answer }, cut, cuts) => {
        const truncated = bytes.subarray(0, cut % bytes.length);
        const { events, thrown } = drive(split(truncated, cuts), answer);
        expect(thrown).toBeUndefined();
        expect(events.map((e) => e.kind)).not.toContain('request');
        expect(events.map((e) => e.kind)).not.toContain('error');
      }),
      { numRuns: RUNS },
    );
  });

  /** Valid handshakes with a few bytes changed, and plain random bytes that start like SOCKS. */
  const hostileArb = fc.oneof(
    fc
      .tuple(validArb, fc.array(fc.tuple(fc.nat(), byte), { minLength: 1, maxLength: 4 }), fc.nat())
      .map(([{ bytes, answer }, edits, cut]) => {
        const out = Buffer.from(bytes);
        for (const [at, value] of edits) out[at % out.length] = value;
        return { bytes: cut % 3 === 0 ? out.subarray(0, cut % (out.length + 1)) : out, answer };
      }),
    fc.tuple(fc.constantFrom(4, 5), fc.uint8Array({ maxLength: 600 }), fc.boolean(), fc.boolean()).map(([version, rest, auth, deferred]) => ({
      bytes: Buffer.from([version, ...rest]),
      answer: { auth, deferred },
    })),
    fc.tuple(fc.uint8Array({ maxLength: 100 }), fc.boolean()).map(([bytes, auth]) => ({ bytes: Buffer.from(bytes), answer: { auth, deferred: false } })),
    // SOCKS4/4a fields around the 255-byte limit.
    fc
      .tuple(fc.constantFrom(1, 2), fc.boolean(), fc.integer({ min: 200, max: 320 }), fc.integer({ min: 0, max: 320 }))
      .map(([command, socks4a, userLength, hostLength]) => ({
        bytes: Buffer.concat([
          Buffer.from([0x04, command, 0, 80, 0, 0, socks4a ? 0 : 1, 1]),
          Buffer.alloc(userLength, 0x75),
          Buffer.from([0]),
          socks4a ? Buffer.concat([Buffer.alloc(hostLength, 0x68), Buffer.from([0])]) : Buffer.alloc(0),
        ]),
        answer: { auth: false, deferred: false },
      })),
  );

  test('any bytes in any chunking: push() never throws, at most one error, and nothing after it', () => {
    fc.assert(
      fc.property(hostileArb, cutsArb, fc.uint8Array({ minLength: 1, maxLength: 20 }), ({ bytes, answer }, cuts, more) => {
        const chunks = [...split(bytes, cuts), Buffer.from(more)];
        const { events, thrown } = drive(chunks, answer);
        expect(thrown).toBeUndefined();
        const errors = events.filter((e) => e.kind === 'error');
        expect(errors.length).toBeLessThanOrEqual(1);
        if (errors.length === 1) expect(events.at(-1)?.kind).toBe('error');
        expect(events.filter((e) => e.kind === 'request').length).toBeLessThanOrEqual(1);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  test('any bytes: the events do not depend on how the bytes were chunked', () => {
    fc.assert(
      fc.property(hostileArb, cutsArb, ({ bytes, answer }, cuts) => {
        const whole = drive([bytes], answer);
        const chunked = drive(split(bytes, cuts), answer);
        expect(chunked.events).toEqual(whole.events);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  // --- Names (spec: letters, digits, "-", "_", "."; no empty label; labels up to 63; one trailing dot) ---

  const ALLOWED = new Set(Buffer.from(NAME_CHARS.join('') + '.', 'latin1'));
  const badByte = byte.filter((b) => !ALLOWED.has(b));
  /** A valid name with one or more disallowed bytes put in. */
  const badCharNameArb = fc
    .tuple(validNameArb, fc.array(fc.tuple(fc.nat(), badByte), { minLength: 1, maxLength: 3 }))
    .map(([name, inserts]) => {
      const bytes = [...Buffer.from(name, 'latin1')];
      for (const [at, b] of inserts) bytes.splice(at % (bytes.length + 1), 0, b);
      return Buffer.from(bytes.slice(0, 255));
    })
    .filter((name) => name.some((b) => !ALLOWED.has(b)));
  /** Names whose bytes are all allowed but whose labels are not: empty labels, a label over 63 bytes. */
  const badLabelNameArb = fc
    .oneof(
      fc.tuple(labelArb, labelArb).map(([a, b]) => `${a}..${b}`),
      labelArb.map((a) => `.${a}`),
      fc.constantFrom('.', '..', 'a..', '...'),
      fc.tuple(fc.string({ unit: fc.constantFrom(...NAME_CHARS), minLength: 64, maxLength: 200 }), fc.array(labelArb, { maxLength: 2 })).map(([long, rest]) => [long, ...rest].join('.')),
    )
    .filter((name) => name.length <= 255)
    .map((name) => Buffer.from(name, 'latin1'));

  const socks5Domain = (name: Buffer, auth: boolean): Buffer =>
    Buffer.concat([Buffer.from([0x05, 0x01, auth ? 0x02 : 0x00]), auth ? Buffer.from([0x01, 1, 0x61, 1, 0x62]) : Buffer.alloc(0), Buffer.from([0x05, 0x01, 0x00, 0x03, name.length]), name, Buffer.from([0x1f, 0x90])]);

  test('SOCKS5: a name with a byte outside [A-Za-z0-9._-] never becomes a request; the error carries reply 0x04', () => {
    fc.assert(
      fc.property(badCharNameArb, fc.boolean(), cutsArb, (name, auth, cuts) => {
        const { events } = drive(split(socks5Domain(name, auth), cuts), { auth, deferred: false });
        expect(events.filter((e) => e.kind === 'request')).toEqual([]);
        expect(events.at(-1)).toMatchObject({ kind: 'error', reply: Reply.HOST_UNREACHABLE });
      }),
      { numRuns: RUNS },
    );
  });

  test('SOCKS5: a name with an empty label or a label over 63 bytes never becomes a request; the error carries reply 0x04', () => {
    fc.assert(
      fc.property(badLabelNameArb, cutsArb, (name, cuts) => {
        const { events } = drive(split(socks5Domain(name, false), cuts), { auth: false, deferred: false });
        expect(events.filter((e) => e.kind === 'request')).toEqual([]);
        expect(events.at(-1)).toMatchObject({ kind: 'error', reply: Reply.HOST_UNREACHABLE });
      }),
      { numRuns: RUNS },
    );
  });

  test('SOCKS4a: an invalid host name never becomes a request; it is an error', () => {
    const nonNul = (name: Buffer): Buffer => Buffer.from(name.filter((b) => b !== 0));
    fc.assert(
      fc.property(fc.oneof(badCharNameArb.map(nonNul).filter((n) => n.some((b) => !ALLOWED.has(b))), badLabelNameArb), cutsArb, (name, cuts) => {
        const bytes = Buffer.concat([Buffer.from([0x04, 0x01, 0x00, 0x50, 0, 0, 0, 1, 0x75, 0]), name, Buffer.from([0])]);
        const { events } = drive(split(bytes, cuts), { auth: false, deferred: false });
        expect(events.filter((e) => e.kind === 'request')).toEqual([]);
        expect(events.at(-1)?.kind).toBe('error');
      }),
      { numRuns: RUNS },
    );
  });

  test('SOCKS4: a USERID over 255 bytes is an error however it is chunked', () => {
    fc.assert(
      fc.property(fc.integer({ min: 256, max: 1000 }), cutsArb, (length, cuts) => {
        const bytes = Buffer.concat([Buffer.from([0x04, 0x01, 0x00, 0x50, 127, 0, 0, 1]), Buffer.alloc(length, 0x41), Buffer.from([0])]);
        const { events } = drive(split(bytes, cuts), { auth: false, deferred: false });
        expect(events.map((e) => e.kind)).toEqual(['error']);
      }),
      { numRuns: RUNS / 5 },
    );
  });
});

// ---------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------

/** Reference IPv6 text -> 16 bytes, from RFC 4291 §2.2, independent of address.ts. */
function refIPv6Bytes(text: string): Buffer {
  let groups: number[];
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let body = text;
  const tail: number[] = [];
  if (v4) {
    body = v4[1]!.endsWith('::') ? v4[1]! : v4[1]!.slice(0, -1);
    const q = v4[2]!.split('.').map(Number);
    tail.push((q[0]! << 8) | q[1]!, (q[2]! << 8) | q[3]!);
  }
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const gap = body.indexOf('::');
  if (gap >= 0) {
    const head = parse(body.slice(0, gap));
    const rest = [...parse(body.slice(gap + 2)), ...tail];
    groups = [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  } else {
    groups = [...parse(body), ...tail];
  }
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/** RFC 5952 text of an IPv6 address, by the WHATWG URL serializer (Node's URL). */
const canonicalIPv6 = (text: string): string => new URL(`http://[${text}]/`).hostname.slice(1, -1);

const toBig = (bytes: Buffer): bigint => BigInt(`0x${bytes.toString('hex') || '0'}`);
const mappedPrefix = Buffer.from('00000000000000000000ffff', 'hex');
const isMapped = (bytes16: Buffer): boolean => bytes16.subarray(0, 12).equals(mappedPrefix);

/** The 16-byte form of any IP text: IPv4 as ::ffff:a.b.c.d. */
function ref16(ip: string): Buffer {
  return isIPv4(ip) ? Buffer.concat([mappedPrefix, Buffer.from(ip.split('.').map(Number))]) : refIPv6Bytes(ip);
}

describe('address codec round trips', () => {
  test('IPv4: text -> bytes -> text, and encodeAddress', () => {
    fc.assert(
      fc.property(fc.ipV4(), port, (ip, p) => {
        const bytes = ipv4ToBytes(ip);
        expect([...bytes]).toEqual(ip.split('.').map(Number));
        expect(bytesToIPv4(bytes)).toBe(ip);
        expect(encodeAddress(ip, p, [9]).toString('hex')).toBe(Buffer.concat([Buffer.from([9, 0x01]), bytes, Buffer.from([p >> 8, p & 0xff])]).toString('hex'));
      }),
      { numRuns: RUNS },
    );
  });

  test('IPv6: ipv6ToBytes matches the reference, bytesToIPv6 is RFC 5952 and reads back to the same bytes', () => {
    fc.assert(
      fc.property(fc.ipV6(), (ip) => {
        const bytes = ipv6ToBytes(ip);
        expect(bytes.toString('hex')).toBe(refIPv6Bytes(ip).toString('hex'));
        const text = bytesToIPv6(bytes);
        expect(text).toBe(canonicalIPv6(ip));
        expect(ipv6ToBytes(text).toString('hex')).toBe(bytes.toString('hex'));
        const list = new BlockList();
        list.addAddress(ip, 'ipv6');
        expect(list.check(text, 'ipv6')).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  test('any 16 bytes: bytesToIPv6 -> ipv6ToBytes is the identity', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.array(fc.constantFrom(0, 0, 0, 1, 0xff), { minLength: 16, maxLength: 16 })),
        (raw) => {
          const bytes = Buffer.from(raw);
          expect(ipv6ToBytes(bytesToIPv6(bytes)).toString('hex')).toBe(bytes.toString('hex'));
          expect(bytesToIPv6(bytes)).toBe(canonicalIPv6(bytesToIPv6(bytes)));
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('encodeAddress and the UDP header decode back to the same address (by 16-byte form) and port', () => {
    const hostArb = fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4().map((ip) => `::ffff:${ip}`), validNameArb);
    fc.assert(
      fc.property(hostArb, port, fc.uint8Array({ maxLength: 8 }), (host, p, data) => {
        const datagram = Buffer.concat([udpHeader(host, p), data]);
        const header = parseUdpHeader(datagram);
        if ('invalid' in header) throw new Error(`a valid header was refused: ${header.invalid}`);
        expect(header.port).toBe(p);
        expect(header.fragment).toBe(0);
        expect(datagram.subarray(header.dataOffset).toString('hex')).toBe(Buffer.from(data).toString('hex'));
        if (header.type === 'domain') expect(header.host).toBe(host);
        else expect(ref16(header.host).toString('hex')).toBe(ref16(host).toString('hex'));
        const encoded = encodeAddress(host, p);
        expect(encoded.readUInt16BE(encoded.length - 2)).toBe(p);
      }),
      { numRuns: RUNS },
    );
  });
});

// ---------------------------------------------------------------------------
// Rule address matching
// ---------------------------------------------------------------------------

interface Cidr {
  readonly text: string;
  readonly family: 4 | 6;
  readonly network: bigint;
  readonly bits: number;
}

/** The reference: prefix comparison on BigInts, with the spec's family rules. */
function refMatch(cidr: Cidr | 'any', address: string): boolean {
  if (cidr === 'any') return true;
  const a16 = ref16(address);
  const ipv4 = isMapped(a16);
  if (cidr.family === 4) {
    if (!ipv4) return false;
    const shift = BigInt(32 - cidr.bits);
    return toBig(a16.subarray(12)) >> shift === cidr.network >> shift;
  }
  const shift = BigInt(128 - cidr.bits);
  const inside = toBig(a16) >> shift === cidr.network >> shift;
  if (!ipv4) return inside;
  // An IPv4 address is matched by an IPv6 CIDR only if the CIDR lies within ::ffff:0:0/96.
  const withinMapped = cidr.bits >= 96 && cidr.network >> 32n === 0xffffn;
  return withinMapped && inside;
}

const cidrArb: fc.Arbitrary<Cidr | 'any'> = fc.oneof(
  fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([ip, bits]): Cidr => ({ text: `${ip}/${bits}`, family: 4, network: toBig(ref16(ip).subarray(12)), bits })),
  fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 })).map(([ip, bits]): Cidr => ({ text: `${ip}/${bits}`, family: 6, network: toBig(refIPv6Bytes(ip)), bits })),
  // Near and inside ::ffff:0:0/96, where the family rules matter.
  fc.tuple(fc.ipV4(), fc.integer({ min: 80, max: 128 })).map(([ip, bits]): Cidr => ({ text: `::ffff:${ip}/${bits}`, family: 6, network: toBig(ref16(ip)), bits })),
  fc.constantFrom<Cidr | 'any'>(
    { text: '0.0.0.0/0', family: 4, network: 0n, bits: 0 },
    { text: '::/0', family: 6, network: 0n, bits: 0 },
    { text: '::ffff:0:0/96', family: 6, network: 0xffffn << 32n, bits: 96 },
    { text: '::/96', family: 6, network: 0n, bits: 96 },
    { text: '::/80', family: 6, network: 0n, bits: 80 },
    'any',
  ),
);

const addressArb = fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4().map((ip) => `::ffff:${ip}`), fc.constantFrom('0.0.0.0', '::', '::1', '127.0.0.1', '::ffff:0.0.0.0'));

describe('rule address matching', () => {
  test('parseAddressMatch + matchAddress agree with a BigInt prefix reference (IPv4 CIDRs match only IPv4; IPv6 CIDRs match IPv4 only from inside ::ffff:0:0/96)', () => {
    fc.assert(
      fc.property(cidrArb, addressArb, fc.constantFrom('0/0', 'any'), (cidr, address, anyText) => {
        const matcher = parseAddressMatch(cidr === 'any' ? anyText : cidr.text);
        const ip = ipToBytes16(address);
        expect(ip.toString('hex')).toBe(ref16(address).toString('hex'));
        expect({ cidr: cidr === 'any' ? anyText : cidr.text, address, match: matchAddress(matcher, ip, undefined) }).toEqual({
          cidr: cidr === 'any' ? anyText : cidr.text,
          address,
          match: refMatch(cidr, address),
        });
      }),
      { numRuns: RUNS * 2 },
    );
  });

  test('an address always matches its own /32 or /128, and "0/0" and "any" match everything', () => {
    fc.assert(
      fc.property(addressArb, (address) => {
        const ip = ipToBytes16(address);
        const own = isIPv4(address) ? `${address}/32` : `${address}/128`;
        expect(matchAddress(parseAddressMatch(own), ip, undefined)).toBe(true);
        expect(matchAddress(parseAddressMatch('0/0'), ip, undefined)).toBe(true);
        expect(matchAddress(parseAddressMatch('any'), ip, undefined)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
});
