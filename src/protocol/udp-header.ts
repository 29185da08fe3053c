import { bytesToIPv4, bytesToIPv6, encodeAddress } from './address.js';
import { AddressType } from './constants.js';

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
 * RSV(2) FRAG(1) ATYP(1) DST.ADDR DST.PORT(2) DATA. Undefined when the
 * datagram is too short or names an unknown address type: such datagrams
 * are dropped, as UDP has no error channel.
 */
export function parseUdpHeader(datagram: Buffer): UdpRequestHeader | undefined {
  if (datagram.length < 4) return undefined;
  const fragment = datagram[2]!;
  const atyp = datagram[3]!;
  let offset = 4;
  let host: string;
  let type: UdpRequestHeader['type'];
  if (atyp === AddressType.IPV4) {
    if (datagram.length < offset + 6) return undefined;
    host = bytesToIPv4(datagram.subarray(offset, offset + 4));
    type = 'ipv4';
    offset += 4;
  } else if (atyp === AddressType.IPV6) {
    if (datagram.length < offset + 18) return undefined;
    host = bytesToIPv6(datagram.subarray(offset, offset + 16));
    type = 'ipv6';
    offset += 16;
  } else if (atyp === AddressType.DOMAIN) {
    const length = datagram[offset] ?? 0;
    if (length === 0 || datagram.length < offset + 1 + length + 2) return undefined;
    host = datagram.toString('utf8', offset + 1, offset + 1 + length);
    type = 'domain';
    offset += 1 + length;
  } else {
    return undefined;
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
