import { isIPv4, isIPv6 } from 'node:net';
import { AddressType } from './constants.js';

/** A destination as the client named it: an IP literal or a name to resolve. */
export interface SocksAddress {
  readonly type: 'ipv4' | 'ipv6' | 'domain';
  readonly host: string;
  readonly port: number;
}

/** The first 12 bytes of an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
const MAPPED_PREFIX = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);

/** Is this 16-byte address IPv4-mapped (::ffff:a.b.c.d)? */
export function isMappedIPv4(bytes: Uint8Array): boolean {
  for (let i = 0; i < 12; i++) if (bytes[i] !== MAPPED_PREFIX[i]) return false;
  return true;
}

/**
 * "::ffff:10.1.2.3" is the IPv4 address 10.1.2.3 seen through an IPv6
 * socket, and so is every other spelling of it ("::ffff:a01:203",
 * "0:0:0:0:0:ffff:..."). Rules, logs and dials see the plain IPv4 address.
 * Anything else comes back as it is.
 */
export function unmapIPv4(address: string): string {
  if (!address.includes(':')) return address;
  if (address.startsWith('::ffff:') && isIPv4(address.slice(7))) return address.slice(7);
  if (!/ffff/i.test(address) || !isIPv6(address)) return address;
  const bytes = ipv6ToBytes(address);
  return isMappedIPv4(bytes) ? bytesToIPv4(bytes.subarray(12)) : address;
}

/** A 16-byte address from the wire: an IPv4-mapped one is the IPv4 address it stands for. */
export function ipFromBytes16(bytes: Buffer): { type: 'ipv4' | 'ipv6'; host: string } {
  return isMappedIPv4(bytes) ? { type: 'ipv4', host: bytesToIPv4(bytes.subarray(12)) } : { type: 'ipv6', host: bytesToIPv6(bytes) };
}

/** "host:port" or "[v6]:port" -> host and port, unchecked; undefined when it has neither form. */
export function splitHostPort(text: string): { host: string; port: number } | undefined {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  return match ? { host: match[1]!, port: Number(match[2]) } : undefined;
}

/** "host:port" with brackets around IPv6, as logs and configs write it. (Only IPv6 literals hold a colon.) */
export function formatEndpoint(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Write a valid dotted-quad IPv4 address as 4 bytes at out[offset]; per session, so no split() or regex. */
export function writeIPv4(address: string, out: Buffer, offset: number): void {
  let index = offset;
  let part = 0;
  for (let i = 0; i < address.length; i++) {
    const c = address.charCodeAt(i);
    if (c === 46 /* . */) {
      out[index++] = part;
      part = 0;
    } else part = part * 10 + (c - 48);
  }
  out[index] = part;
}

export function ipv4ToBytes(address: string): Buffer {
  const out = Buffer.allocUnsafe(4);
  writeIPv4(address, out, 0);
  return out;
}

export function bytesToIPv4(bytes: Buffer): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/** Expand any IPv6 text form to its 16 bytes (handles "::" and an IPv4 tail). */
export function ipv6ToBytes(address: string): Buffer {
  const out = Buffer.alloc(16);
  let text = address;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const v4 = text.slice(lastColon + 1).split('.').map(Number);
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    text = text.slice(0, lastColon + 1) + '0:0';
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const headGroups = head ? head.split(':') : [];
  const restGroups = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const groups: number[] = headGroups.map((g) => parseInt(g, 16));
  if (rest !== undefined) {
    for (let i = headGroups.length + restGroups.length; i < 8; i++) groups.push(0);
  }
  groups.push(...restGroups.map((g) => parseInt(g, 16)));
  if (tail.length) groups.splice(6, 2, ...tail);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

export function bytesToIPv6(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // Compress the longest run of zero groups, as RFC 5952 asks.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  const left = groups.slice(0, bestStart).join(':');
  const right = groups.slice(bestStart + bestLen).join(':');
  return `${left}::${right}`;
}

/**
 * Encode `prefix` + ATYP + address + port, as SOCKS5 requests, replies and
 * UDP headers carry them (each message's own first bytes go in `prefix`), in
 * one allocation. IP literals are sent as IPs (an IPv4-mapped IPv6 address
 * as plain IPv4, which is what the client connected to); anything else as a
 * name.
 */
export function encodeAddress(host: string, port: number, prefix: readonly number[] = []): Buffer {
  const ip = unmapIPv4(host);
  const at = prefix.length;
  let out: Buffer;
  if (isIPv4(ip)) {
    out = Buffer.allocUnsafe(at + 7);
    out[at] = AddressType.IPV4;
    writeIPv4(ip, out, at + 1);
  } else if (isIPv6(ip)) {
    out = Buffer.allocUnsafe(at + 19);
    out[at] = AddressType.IPV6;
    ipv6ToBytes(ip).copy(out, at + 1);
  } else {
    const name = Buffer.from(ip, 'utf8');
    if (name.length > 255) throw new RangeError(`domain name longer than 255 bytes: ${ip.slice(0, 40)}...`);
    out = Buffer.allocUnsafe(at + name.length + 4);
    out[at] = AddressType.DOMAIN;
    out[at + 1] = name.length;
    name.copy(out, at + 2);
  }
  for (let i = 0; i < at; i++) out[i] = prefix[i]!;
  out.writeUInt16BE(port, out.length - 2);
  return out;
}

/** The wildcard addresses: "any address" when bound, "none named" in a request. */
export const isUnspecified = (host: string): boolean => host === '0.0.0.0' || host === '::';

/**
 * Why an IP literal can never be a destination, or undefined. A connect()
 * or sendto() to the unspecified address reaches this host itself (Linux
 * takes it as the local host), so rules that block 127.0.0.0/8 and ::1
 * would not see it coming: 0.0.0.0/8 ("this network", RFC 1122) and ::
 * are refused before any rule.
 */
export function forbiddenDestination(ip: string): string | undefined {
  const address = unmapIPv4(ip);
  const unspecified = address.includes(':') ? ipv6ToBytes(address).every((byte) => byte === 0) : address.startsWith('0.');
  return unspecified ? `${address} is an unspecified address, which reaches this host itself` : undefined;
}
