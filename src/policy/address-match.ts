import { isIP } from 'node:net';
import { ipv6ToBytes, isMappedIPv4, writeIPv4 } from '../protocol/address.js';

/**
 * One `from` or `to` value of a rule, compiled once at config load.
 *
 * IPs are compared as 16-byte IPv6 addresses, with IPv4 in its mapped form
 * (::ffff:a.b.c.d), so an IPv4 client seen through a dual-stack socket matches
 * the IPv4 rule written for it. An IPv4 CIDR (0.0.0.0/0 too) matches only
 * IPv4 addresses; an IPv6 CIDR (::/0 too) only IPv6 ones, unless it is
 * written inside ::ffff:0:0/96.
 */
export type AddressMatcher =
  | { readonly kind: 'any' }
  | {
      readonly kind: 'cidr';
      readonly network: Buffer;
      readonly prefix: number;
      readonly text: string;
      /** An IPv6 network outside ::ffff:0:0/96: it never matches an IPv4 address, though ::/0 contains their mapped forms. */
      readonly ipv6Only: boolean;
    }
  | { readonly kind: 'host'; readonly name: string; addresses?: readonly Buffer[] }
  | { readonly kind: 'domain'; readonly suffix: string };

export const ANY_ADDRESS: AddressMatcher = { kind: 'any' };

/** 16 bytes for any IP literal; IPv4 becomes ::ffff:a.b.c.d. */
export function ipToBytes16(ip: string): Buffer {
  // Only IP literals come here, so no colon means IPv4 (a regex test cost a µs per call).
  if (!ip.includes(':')) {
    const out = Buffer.alloc(16);
    out[10] = 0xff;
    out[11] = 0xff;
    writeIPv4(ip, out, 12);
    return out;
  }
  return ipv6ToBytes(ip);
}

/** Parse a rule address. Throws an Error whose message says what was expected. */
export function parseAddressMatch(text: string): AddressMatcher {
  const value = text.trim();
  if (value === '0/0' || value === 'any') return ANY_ADDRESS;
  if (value.startsWith('.')) {
    if (!/^(\.[A-Za-z0-9_-]+)+$/.test(value)) throw new Error(`"${text}" is not a domain suffix like ".example.com"`);
    return { kind: 'domain', suffix: value.toLowerCase() };
  }
  const slash = value.indexOf('/');
  const ip = slash >= 0 ? value.slice(0, slash) : value;
  const family = isIP(ip);
  if (family === 0) {
    if (slash >= 0) throw new Error(`"${text}" is not a CIDR: "${ip}" is not an IP address`);
    // A mistyped address ("192.168.1") would otherwise be a host name that
    // never resolves, so a block rule written for it would block nothing.
    if (/^[0-9.]+$/.test(value)) throw new Error(`"${text}" is made of numbers but is not an IP address`);
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/.test(value)) {
      throw new Error(`"${text}" is not an address, a CIDR like "10.0.0.0/8", a host name or a ".domain"`);
    }
    return { kind: 'host', name: value.toLowerCase().replace(/\.$/, '') };
  }
  const width = family === 4 ? 32 : 128;
  const bits = slash >= 0 ? Number(value.slice(slash + 1)) : width;
  if (!Number.isInteger(bits) || bits < 0 || bits > width || (slash >= 0 && !/^\d+$/.test(value.slice(slash + 1)))) {
    throw new Error(`"${text}": prefix length must be a whole number from 0 to ${width}`);
  }
  const prefix = family === 4 ? 96 + bits : bits;
  const network = maskTo(ipToBytes16(ip), prefix);
  return { kind: 'cidr', network, prefix, text: value, ipv6Only: family === 6 && !(prefix >= 96 && isMappedIPv4(network)) };
}

function maskTo(bytes: Buffer, prefix: number): Buffer {
  const out = Buffer.from(bytes);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    out[i] = out[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

function inCidr(address: Buffer, network: Buffer, prefix: number): boolean {
  const whole = prefix >> 3;
  for (let i = 0; i < whole; i++) if (address[i] !== network[i]) return false;
  const rest = prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (address[whole]! & mask) === network[whole];
}

/**
 * Does `matcher` match an endpoint? `ip` is the address actually used (16-byte
 * form), `name` the host name the client asked for, if any. A CIDR rule is
 * checked against the resolved IP, so a name that resolves into a blocked
 * network is blocked; a name rule is checked against the name.
 */
export function matchAddress(matcher: AddressMatcher, ip: Buffer | undefined, name: string | undefined): boolean {
  switch (matcher.kind) {
    case 'any':
      return true;
    case 'cidr':
      return ip !== undefined && inCidr(ip, matcher.network, matcher.prefix) && !(matcher.ipv6Only && isMappedIPv4(ip));
    case 'host':
      if (ip !== undefined && matcher.addresses?.some((a) => a.equals(ip))) return true;
      return name !== undefined && name.toLowerCase().replace(/\.$/, '') === matcher.name;
    case 'domain': {
      if (name === undefined) return false;
      const lower = name.toLowerCase().replace(/\.$/, '');
      return lower.endsWith(matcher.suffix) || lower === matcher.suffix.slice(1);
    }
  }
}
