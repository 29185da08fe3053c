// A rule's `from` and `to` (src/policy/address-match.ts): how each form is
// read, and where exactly each one stops matching. test/unit/property.test.ts
// checks CIDRs against a reference on random addresses; here are the edges.
import { type AddressMatcher, ipToBytes16, matchAddress, parseAddressMatch } from '../../src/policy/address-match.js';

/** Does the rule address `rule` match the IP `ip` (as a session sees it: any text form)? */
const matchesIp = (rule: string, ip: string): boolean => matchAddress(parseAddressMatch(rule), ipToBytes16(ip), undefined);
/** Does the rule address `rule` match a request that named `name` and has no address yet? */
const matchesName = (rule: string, name: string): boolean => matchAddress(parseAddressMatch(rule), undefined, name);

describe('IPv4 CIDRs', () => {
  test.each([
    ['10.0.0.0/8', ['10.0.0.0', '10.255.255.255', '10.128.0.1'], ['9.255.255.255', '11.0.0.0']],
    ['192.168.1.128/25', ['192.168.1.128', '192.168.1.255'], ['192.168.1.127', '192.168.2.0']],
    ['172.16.0.0/12', ['172.16.0.0', '172.31.255.255'], ['172.15.255.255', '172.32.0.0']],
    ['203.0.113.6/31', ['203.0.113.6', '203.0.113.7'], ['203.0.113.5', '203.0.113.8']],
    ['203.0.113.7/32', ['203.0.113.7'], ['203.0.113.6', '203.0.113.8']],
    ['203.0.113.7', ['203.0.113.7'], ['203.0.113.6', '203.0.113.8']],
    ['0.0.0.0/0', ['0.0.0.0', '255.255.255.255', '127.0.0.1'], []],
  ])('%s matches its first and last address and nothing either side', (rule, inside, outside) => {
    for (const ip of inside) expect([ip, matchesIp(rule, ip)]).toEqual([ip, true]);
    for (const ip of outside) expect([ip, matchesIp(rule, ip)]).toEqual([ip, false]);
  });

  test('host bits after the prefix are dropped: 10.1.2.3/8 is 10.0.0.0/8', () => {
    const matcher = parseAddressMatch('10.1.2.3/8');
    expect(matcher).toMatchObject({ kind: 'cidr', network: ipToBytes16('10.0.0.0'), text: '10.1.2.3/8' });
    expect(matchesIp('10.1.2.3/8', '10.200.0.1')).toBe(true);
  });

  test('surrounding blanks are ignored', () => {
    expect(matchesIp(' 10.0.0.0/8\t', '10.1.1.1')).toBe(true);
  });
});

describe('IPv6 CIDRs', () => {
  test.each([
    ['2001:db8::/32', ['2001:db8::', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff'], ['2001:db7:ffff:ffff:ffff:ffff:ffff:ffff', '2001:db9::']],
    ['fe80::/10', ['fe80::1', 'febf:ffff::1'], ['fe7f::1', 'fec0::']],
    ['2001:DB8::1/128', ['2001:db8::1', '2001:0db8:0000:0000:0000:0000:0000:0001'], ['2001:db8::', '2001:db8::2']],
    ['::1', ['::1', '0:0:0:0:0:0:0:1'], ['::', '::2']],
  ])('%s matches its first and last address, in any spelling, and nothing either side', (rule, inside, outside) => {
    for (const ip of inside) expect([ip, matchesIp(rule, ip)]).toEqual([ip, true]);
    for (const ip of outside) expect([ip, matchesIp(rule, ip)]).toEqual([ip, false]);
  });
});

describe('IPv4 and IPv6 together', () => {
  test('::/0 is every IPv6 address and no IPv4 one; 0.0.0.0/0 is the reverse; 0/0 and any are both', () => {
    for (const ip of ['::', '::1', '2001:db8::1', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff']) {
      expect([ip, matchesIp('::/0', ip), matchesIp('0.0.0.0/0', ip)]).toEqual([ip, true, false]);
    }
    for (const ip of ['0.0.0.0', '127.0.0.1', '255.255.255.255', '::ffff:10.0.0.1']) {
      expect([ip, matchesIp('::/0', ip), matchesIp('0.0.0.0/0', ip)]).toEqual([ip, false, true]);
    }
    for (const rule of ['0/0', 'any']) {
      expect(parseAddressMatch(rule)).toEqual({ kind: 'any' });
      for (const ip of ['::1', '10.0.0.1']) expect(matchesIp(rule, ip)).toBe(true);
      // Unlike a CIDR, "any" matches before a name is resolved.
      expect(matchesName(rule, 'example.com')).toBe(true);
      expect(matchesName('0.0.0.0/0', 'example.com')).toBe(false);
    }
  });

  test('an IPv4 client seen through a dual-stack socket (::ffff:a.b.c.d, in any spelling) is that IPv4 client', () => {
    expect(ipToBytes16('::ffff:192.0.2.1')).toEqual(ipToBytes16('192.0.2.1'));
    expect(ipToBytes16('::ffff:c000:201')).toEqual(ipToBytes16('192.0.2.1'));
    expect(ipToBytes16('0:0:0:0:0:FFFF:192.0.2.1')).toEqual(ipToBytes16('192.0.2.1'));
    for (const seen of ['::ffff:192.0.2.1', '::ffff:c000:201']) {
      expect(matchesIp('192.0.2.0/24', seen)).toBe(true);
      expect(matchesIp('192.0.2.1', seen)).toBe(true);
      expect(matchesIp('192.0.3.0/24', seen)).toBe(false);
    }
  });

  test('an IPv6 CIDR inside ::ffff:0:0/96 is written for IPv4 clients and matches them', () => {
    expect(matchesIp('::ffff:0:0/96', '1.2.3.4')).toBe(true);
    expect(matchesIp('::ffff:0:0/96', '::1')).toBe(false);
    // ::ffff:10.0.0.0/104 is 10.0.0.0/8, boundaries included.
    for (const [ip, inside] of [['10.0.0.0', true], ['10.255.255.255', true], ['9.255.255.255', false], ['11.0.0.0', false]] as const) {
      expect([ip, matchesIp('::ffff:10.0.0.0/104', ip)]).toEqual([ip, inside]);
    }
    expect(matchesIp('::ffff:192.0.2.1', '192.0.2.1')).toBe(true);
  });

  test('an IPv6 CIDR that only contains ::ffff:0:0/96 does not match IPv4 clients, as ::/0 does not', () => {
    expect(matchesIp('::/80', '::1')).toBe(true);
    expect(matchesIp('::/80', '1.2.3.4')).toBe(false);
    expect(matchesIp('::/95', '1.2.3.4')).toBe(false);
  });

  test('the IPv4-compatible form ::a.b.c.d is an IPv6 address, not the IPv4 one', () => {
    expect(matchesIp('::192.0.2.1/128', '192.0.2.1')).toBe(false);
    expect(matchesIp('192.0.2.1', '::192.0.2.1')).toBe(false);
    expect(matchesIp('::192.0.2.1/128', '::c000:201')).toBe(true);
  });

  test('a CIDR never matches a request whose address is not known yet', () => {
    expect(matchesName('0.0.0.0/0', '10.0.0.1')).toBe(false);
    expect(matchesName('::/0', 'example.com')).toBe(false);
  });
});

describe('prefix lengths', () => {
  test.each(['10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/', '10.0.0.0/8.0', '10.0.0.0/+8', '10.0.0.0/0x8', '10.0.0.0/1e1', '10.0.0.0/ 8', '10.0.0.0/8/8', '::/129'])('%s is refused, naming the range', (rule) => {
    expect(() => parseAddressMatch(rule)).toThrow(/prefix length must be a whole number from 0 to (32|128)$/);
  });

  test('0 and the full width are allowed, and so are leading zeros', () => {
    expect(parseAddressMatch('10.0.0.0/0')).toMatchObject({ kind: 'cidr', prefix: 96 });
    expect(parseAddressMatch('10.0.0.0/32')).toMatchObject({ kind: 'cidr', prefix: 128 });
    expect(parseAddressMatch('10.0.0.0/08')).toMatchObject({ kind: 'cidr', prefix: 104 });
    expect(parseAddressMatch('::/128')).toMatchObject({ kind: 'cidr', prefix: 128 });
  });

  test('a prefix after a name is refused: a CIDR needs an IP', () => {
    expect(() => parseAddressMatch('example.com/24')).toThrow('"example.com/24" is not a CIDR: "example.com" is not an IP address');
  });
});

describe('.domain suffixes', () => {
  test('match the domain itself and every name under it, in any case, with or without the root dot', () => {
    for (const name of ['example.com', 'www.example.com', 'a.b.EXAMPLE.COM', 'www.example.com.', 'Example.Com.']) {
      expect([name, matchesName('.Example.com', name)]).toEqual([name, true]);
    }
  });

  test('match nothing that only ends in the same letters, or has the domain elsewhere', () => {
    for (const name of ['badexample.com', 'example.com.evil.net', 'example.co', 'com', 'xample.com']) {
      expect([name, matchesName('.example.com', name)]).toEqual([name, false]);
    }
  });

  test('match no request that gave an IP, whatever it resolves to', () => {
    expect(matchAddress(parseAddressMatch('.example.com'), ipToBytes16('93.184.216.34'), undefined)).toBe(false);
  });

  test.each(['.', '..example.com', '.example..com', '.exa mple.com', '.example.com/8', '.exam\u00e9ple.com'])('%j is refused as a suffix', (rule) => {
    expect(() => parseAddressMatch(rule)).toThrow(/is not a domain suffix like "\.example\.com"$/);
  });
});

describe('host names', () => {
  test('match the same name, in any case, with or without the root dot; not a name under it', () => {
    expect(parseAddressMatch('Mail.Example.COM.')).toEqual({ kind: 'host', name: 'mail.example.com' });
    for (const name of ['mail.example.com', 'MAIL.example.com.']) expect(matchesName('Mail.Example.COM.', name)).toBe(true);
    for (const name of ['www.mail.example.com', 'example.com', 'mail.example.co']) expect(matchesName('mail.example.com', name)).toBe(false);
  });

  test('match the addresses the name resolved to once they are filled in, and no other address', () => {
    const matcher: AddressMatcher = parseAddressMatch('gateway.example');
    expect(matchAddress(matcher, ipToBytes16('192.0.2.1'), undefined)).toBe(false);
    if (matcher.kind !== 'host') throw new Error('expected a host matcher');
    matcher.addresses = ['192.0.2.1', '2001:db8::1'].map(ipToBytes16);
    expect(matchAddress(matcher, ipToBytes16('::ffff:192.0.2.1'), undefined)).toBe(true);
    expect(matchAddress(matcher, ipToBytes16('2001:db8::1'), undefined)).toBe(true);
    expect(matchAddress(matcher, ipToBytes16('192.0.2.2'), undefined)).toBe(false);
    // The name still matches by itself, whatever address came with it.
    expect(matchAddress(matcher, ipToBytes16('198.51.100.1'), 'gateway.example')).toBe(true);
  });

  test.each(['a..b', 'a b', 'host,other', 'tab\there', 'caf\u00e9.example', ''])('%j is refused, listing the forms a rule address takes', (rule) => {
    expect(() => parseAddressMatch(rule)).toThrow(/is not an address, a CIDR like "10\.0\.0\.0\/8", a host name or a "\.domain"$/);
  });

  // A typo in an address must not become a name that resolves to nothing, or
  // (through inet_aton's short forms) to another address: a block rule that
  // blocks nothing.
  test.each(['192.168.1', '10.0.0.256', '1.2.3.4.5', '12345', '010.1.2.3.'])('%s, numbers but not an IP address, is refused', (rule) => {
    expect(() => parseAddressMatch(rule)).toThrow(`"${rule}" is made of numbers but is not an IP address`);
  });

  test('a name with numbers that is not made of numbers only is a name', () => {
    expect(parseAddressMatch('10-0-0-1.example')).toEqual({ kind: 'host', name: '10-0-0-1.example' });
    expect(parseAddressMatch('1.2.3.4.in-addr.arpa')).toEqual({ kind: 'host', name: '1.2.3.4.in-addr.arpa' });
    expect(parseAddressMatch('123host')).toEqual({ kind: 'host', name: '123host' });
  });
});
