import { bytesToIPv4, encodeAddress, ipFromBytes16 } from './address.js';
import { AddressType } from './constants.js';
import { escapeBytes, hostNameProblem } from './host-name.js';

/** A datagram from the client: where it goes and where its payload starts. */
export interface UdpRequestHeader {
  readonly fragment: number;
  readonly type: 'ipv4' | 'ipv6' | 'domain';
  readonly host: string;
  readonly port: number;
  readonly dataOffset: number;
}

/**
 * Parse the SOCKS5 UDP request header (RFC 1928 §7):
 * RSV(2) FRAG(1) ATYP(1) DST.ADDR DST.PORT(2) DATA. A datagram that is too
 * short, names an unknown address type or carries a name that is not a
 * plain host name (host-name.ts) gets `invalid`, with why: it is dropped,
 * as UDP has no error channel. An IPv4-mapped IPv6 destination is the IPv4
 * address.
 */
export function parseUdpHeader(datagram: Buffer): UdpRequestHeader | { readonly invalid: string } {
  if (datagram.length < 4) return { invalid: 'shorter than a header' };
  const fragment = datagram[2]!;
  const atyp = datagram[3]!;
  let offset = 4;
  let host: string;
  let type: UdpRequestHeader['type'];
  if (atyp === AddressType.IPV4) {
    if (datagram.length < offset + 6) return { invalid: 'shorter than a header' };
    host = bytesToIPv4(datagram.subarray(offset, offset + 4));
    type = 'ipv4';
    offset += 4;
  } else if (atyp === AddressType.IPV6) {
    if (datagram.length < offset + 18) return { invalid: 'shorter than a header' };
    ({ type, host } = ipFromBytes16(datagram.subarray(offset, offset + 16)));
    offset += 16;
  } else if (atyp === AddressType.DOMAIN) {
    const length = datagram[offset] ?? 0;
    if (datagram.length < offset + 1 + length + 2) return { invalid: 'shorter than a header' };
    const name = datagram.subarray(offset + 1, offset + 1 + length);
    const problem = hostNameProblem(name);
    if (problem) return { invalid: `invalid domain name "${escapeBytes(name)}": ${problem}` };
    host = name.toString('latin1');
    type = 'domain';
    offset += 1 + length;
  } else {
    return { invalid: `unknown address type 0x${atyp.toString(16)}` };
  }
  const port = datagram.readUInt16BE(offset);
  return { fragment, type, host, port, dataOffset: offset + 2 };
}

/** RSV RSV FRAG=0. */
const UDP_HEADER_PREFIX = [0, 0, 0];

/**
 * RSV RSV FRAG=0 ATYP ADDR PORT: the same header both ways. The proxy puts it
 * in front of each reply with the real sender's address; a client puts it in
 * front of each datagram with the destination.
 */
export function udpHeader(host: string, port: number): Buffer {
  return encodeAddress(host, port, UDP_HEADER_PREFIX);
}
