import { encodeAddress, ipv4ToBytes, unmapIPv4 } from './address.js';
import { Reply, type ReplyCode, SOCKS5, Socks4Reply, USERPASS_VERSION } from './constants.js';
import { isIPv4 } from 'node:net';

const METHOD_SELECTIONS = new Map<number, Buffer>();

/** Method selection (RFC 1928 §3): VER METHOD. The same few buffers are reused: a socket write never changes them. */
export function methodSelection(method: number): Buffer {
  let reply = METHOD_SELECTIONS.get(method);
  if (reply === undefined) METHOD_SELECTIONS.set(method, (reply = Buffer.from([SOCKS5, method])));
  return reply;
}

/** RFC 1929 status: 0x00 success, anything else failure (the connection then closes). */
export function authStatus(ok: boolean): Buffer {
  return Buffer.from([USERPASS_VERSION, ok ? 0x00 : 0x01]);
}

/**
 * SOCKS5 reply: VER REP RSV ATYP BND.ADDR BND.PORT. Failure replies carry
 * 0.0.0.0:0, as the RFC allows; success replies must carry the real address.
 */
export function socks5Reply(code: ReplyCode, host = '0.0.0.0', port = 0): Buffer {
  return encodeAddress(host, port, [SOCKS5, code, 0x00]);
}

/**
 * SOCKS4 reply: VN=0 CD DSTPORT DSTIP. SOCKS4 has only "granted" and
 * "rejected", so every SOCKS5 failure code collapses to 0x5B. SOCKS4 cannot
 * carry an IPv6 address; such an endpoint is reported as 0.0.0.0.
 */
export function socks4Reply(code: ReplyCode, host = '0.0.0.0', port = 0): Buffer {
  const out = Buffer.alloc(8);
  out[1] = code === Reply.SUCCEEDED ? Socks4Reply.GRANTED : Socks4Reply.REJECTED;
  out.writeUInt16BE(port, 2);
  const ip = unmapIPv4(host);
  if (isIPv4(ip)) ipv4ToBytes(ip).copy(out, 4);
  return out;
}

export function replyFor(version: 4 | 5, code: ReplyCode, host?: string, port?: number): Buffer {
  return version === 5 ? socks5Reply(code, host, port) : socks4Reply(code, host, port);
}
