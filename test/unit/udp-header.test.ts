// The SOCKS5 UDP request header (RFC 1928 §7, src/protocol/udp-header.ts):
// RSV(2) FRAG(1) ATYP(1) DST.ADDR DST.PORT(2) DATA. Datagrams come from
// anyone who can reach the relay port, so every short or odd one must be
// refused with a reason, and every valid one read exactly.
import { parseUdpHeader, udpHeader } from '../../src/protocol/udp-header.js';

const IPV4 = 0x01;
const DOMAIN = 0x03;
const IPV6 = 0x04;

/** A datagram: RSV RSV `fragment` `atyp`, then `address`, `port` and `data`. */
function datagram(atyp: number, address: number[] | Buffer, port: number, data = Buffer.alloc(0), fragment = 0): Buffer {
  return Buffer.concat([Buffer.from([0, 0, fragment, atyp]), Buffer.from(address), Buffer.from([port >> 8, port & 0xff]), data]);
}

/** A domain as DST.ADDR: its length byte, then the name. */
const domain = (name: string | Buffer): Buffer => {
  const bytes = Buffer.from(name);
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
};

describe('parseUdpHeader', () => {
  test('IPv4: the address, the port and where the payload starts', () => {
    const packet = datagram(IPV4, [192, 0, 2, 1], 8080, Buffer.from('payload'));
    const header = parseUdpHeader(packet);
    expect(header).toEqual({ fragment: 0, type: 'ipv4', host: '192.0.2.1', port: 8080, dataOffset: 10 });
    expect(packet.subarray(10).toString()).toBe('payload');
  });

  test('IPv6, in RFC 5952 form; an IPv4-mapped one is the IPv4 address', () => {
    const v6 = Buffer.from('20010db8000000000000000000000001', 'hex');
    expect(parseUdpHeader(datagram(IPV6, v6, 53))).toEqual({ fragment: 0, type: 'ipv6', host: '2001:db8::1', port: 53, dataOffset: 22 });
    const mapped = Buffer.from('00000000000000000000ffffc0000201', 'hex');
    expect(parseUdpHeader(datagram(IPV6, mapped, 53))).toEqual({ fragment: 0, type: 'ipv4', host: '192.0.2.1', port: 53, dataOffset: 22 });
  });

  test('a domain: the name as sent, and the payload after its port', () => {
    expect(parseUdpHeader(datagram(DOMAIN, domain('dns.example.'), 53, Buffer.from([1, 2])))).toEqual({ fragment: 0, type: 'domain', host: 'dns.example.', port: 53, dataOffset: 4 + 1 + 12 + 2 });
  });

  test('ports 0 and 65535 are read as they are (big-endian)', () => {
    expect(parseUdpHeader(datagram(IPV4, [1, 2, 3, 4], 0))).toMatchObject({ port: 0 });
    expect(parseUdpHeader(datagram(IPV4, [1, 2, 3, 4], 65535))).toMatchObject({ port: 65535 });
    expect(parseUdpHeader(datagram(IPV4, [1, 2, 3, 4], 0x0102))).toMatchObject({ port: 258 });
  });

  test('a header with no payload is a header (an empty datagram to relay)', () => {
    expect(parseUdpHeader(datagram(IPV4, [1, 2, 3, 4], 9))).toMatchObject({ dataOffset: 10 });
    expect(parseUdpHeader(datagram(IPV6, Buffer.alloc(16, 0x20), 9))).toMatchObject({ dataOffset: 22 });
    expect(parseUdpHeader(datagram(DOMAIN, domain('a'), 9))).toMatchObject({ host: 'a', dataOffset: 8 });
  });

  test('FRAG is reported as sent, for the relay to drop fragments: 1, 127, the end-of-sequence bit, 0xff', () => {
    for (const fragment of [1, 0x7f, 0x81, 0xff]) {
      expect(parseUdpHeader(datagram(IPV4, [1, 2, 3, 4], 9, Buffer.alloc(3), fragment))).toEqual({ fragment, type: 'ipv4', host: '1.2.3.4', port: 9, dataOffset: 10 });
    }
  });

  test('every datagram cut short of its header, at any byte, is refused as shorter than a header', () => {
    const whole = [datagram(IPV4, [10, 0, 0, 1], 80), datagram(IPV6, Buffer.alloc(16, 1), 80), datagram(DOMAIN, domain('example.com'), 80)];
    for (const packet of whole) {
      expect(parseUdpHeader(packet)).not.toHaveProperty('invalid');
      for (let length = 0; length < packet.length; length++) {
        expect([length, parseUdpHeader(packet.subarray(0, length))]).toEqual([length, { invalid: 'shorter than a header' }]);
      }
    }
  });

  test('a domain whose length byte runs past the end is refused, whatever bytes follow', () => {
    const packet = Buffer.concat([Buffer.from([0, 0, 0, DOMAIN, 20]), Buffer.from('example.com'), Buffer.from([0, 80])]);
    expect(parseUdpHeader(packet)).toEqual({ invalid: 'shorter than a header' });
  });

  test.each([0x00, 0x02, 0x05, 0xff])('an unknown address type (%i) is refused and named in hex', (atyp) => {
    expect(parseUdpHeader(datagram(atyp, [1, 2, 3, 4], 80))).toEqual({ invalid: `unknown address type 0x${atyp.toString(16)}` });
  });

  test('a domain that is not a plain host name is refused, with its bytes escaped', () => {
    expect(parseUdpHeader(datagram(DOMAIN, domain(''), 80))).toEqual({ invalid: 'invalid domain name "": the name is empty' });
    expect(parseUdpHeader(datagram(DOMAIN, domain(Buffer.from('127.0.0.1\0.example.com', 'latin1')), 80))).toEqual({
      invalid: 'invalid domain name "127.0.0.1\\x00.example.com": byte 0x00 at offset 9 is not allowed in a host name',
    });
    expect(parseUdpHeader(datagram(DOMAIN, domain('a b'), 80))).toMatchObject({ invalid: expect.stringMatching(/^invalid domain name "a b": byte 0x20 at offset 1/) });
    expect(parseUdpHeader(datagram(DOMAIN, domain('a..b'), 80))).toMatchObject({ invalid: expect.stringMatching(/empty label/) });
  });

  test('a name of 253 bytes passes; 255 bytes, all the length byte allows, is refused', () => {
    const label = (n: number): string => 'a'.repeat(n);
    const name253 = [label(63), label(63), label(63), label(61)].join('.');
    expect(name253).toHaveLength(253);
    expect(parseUdpHeader(datagram(DOMAIN, domain(name253), 80))).toMatchObject({ type: 'domain', host: name253 });
    const name255 = [label(63), label(63), label(63), label(63)].join('.');
    expect(parseUdpHeader(datagram(DOMAIN, domain(name255), 80))).toMatchObject({ invalid: expect.stringMatching(/longer than/) });
  });
});

describe('udpHeader', () => {
  test('RSV RSV FRAG=0, then ATYP, the address and the port, for each kind of address', () => {
    expect(udpHeader('192.0.2.1', 8080).toString('hex')).toBe('000000' + '01' + 'c0000201' + '1f90');
    expect(udpHeader('2001:db8::1', 53).toString('hex')).toBe('000000' + '04' + '20010db8000000000000000000000001' + '0035');
    expect(udpHeader('dns.example', 53).toString('hex')).toBe('000000' + '03' + '0b' + Buffer.from('dns.example').toString('hex') + '0035');
  });

  test('an IPv4-mapped IPv6 sender is written as the IPv4 address the client knows', () => {
    expect(udpHeader('::ffff:192.0.2.1', 9)).toEqual(udpHeader('192.0.2.1', 9));
  });

  test('a name over 255 bytes cannot be written', () => {
    expect(udpHeader('a'.repeat(255), 1)[4]).toBe(255);
    expect(() => udpHeader('a'.repeat(256), 1)).toThrow(RangeError);
  });

  test('what udpHeader writes, parseUdpHeader reads back, payload offset included', () => {
    for (const [host, port] of [['10.1.2.3', 1], ['::1', 65535], ['fe80::abcd:1', 443], ['host.example', 0]] as const) {
      const header = udpHeader(host, port);
      expect(parseUdpHeader(Buffer.concat([header, Buffer.from('x')]))).toMatchObject({ fragment: 0, host, port, dataOffset: header.length });
    }
  });
});
