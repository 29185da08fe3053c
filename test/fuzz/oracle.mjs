// The fuzzer's oracle: from /work/notes/spec.md (the handshake behaviour the
// proxy must have) and the fuzz config's rules, what must the client see for
// a given byte string? Written from the spec, not from src/, so that it can
// disagree with the proxy.
//
// A prediction:
//   cls    what decided the outcome, e.g. "s5.domain.bad-char" (the report groups by it)
//   out    the bytes the client must receive, as hex with "." for any nibble
//   end    "close"  the proxy closes after `out`
//          "wait"   the handshake is incomplete: the proxy sends `out` and waits
//          "relay"  CONNECT granted: `out` then a relay to the echo target
//          "bind"   BIND granted: `out` is the first reply
//          "udp"    UDP ASSOCIATE granted: `out` names the relay
//   alts   other outcomes the spec also allows (it does not say when an
//          error in an incomplete request must be noticed, nor whether a
//          trailing dot is kept for the lookup)
//   early  bytes after the request (CONNECT: they must reach the target first)
import { isIP, isIPv4 } from 'node:net';

export const Method = { none: 0x00, username: 0x02 };

const hex2 = (n) => n.toString(16).padStart(2, '0');
export const hex = (bytes) => Buffer.from(bytes).toString('hex');

/** SOCKS5 failure reply: 05 REP 00 01 0.0.0.0:0 (src/protocol/replies.ts). */
export const fail5 = (code) => `05${hex2(code)}0001000000000000`;
/** SOCKS5 success with an IPv4 bound address on loopback; the port is the proxy's. */
export const ok5 = '050000017f000001....';
/** SOCKS4: 00 5B then 6 bytes the spec leaves open; 00 5A then the bound port and address. */
export const fail4 = '005b............';
export const ok4 = '005a............';

export const REP = { GENERAL: 1, NOT_ALLOWED: 2, HOST_UNREACHABLE: 4, REFUSED: 5, COMMAND: 7, ATYP: 8 };

/** Does `text` (hex) match `pattern` (hex with "." wildcards) exactly? */
export function matches(pattern, text) {
  if (pattern.length !== text.length) return false;
  for (let i = 0; i < pattern.length; i++) if (pattern[i] !== '.' && pattern[i] !== text[i]) return false;
  return true;
}

const NAME_BYTE = new Uint8Array(256);
for (const c of Buffer.from('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.', 'latin1')) NAME_BYTE[c] = 1;

/**
 * Why a host name is invalid by the spec, or null: letters, digits, "-",
 * "_", "."; no empty label; labels up to 63 bytes; one trailing dot allowed.
 */
export function nameProblem(name) {
  if (name.length === 0) return 'empty';
  for (const b of name) if (!NAME_BYTE[b]) return 'bad-char';
  // 253 bytes, or 254 with the trailing dot.
  if (name.length > 254 || (name.length === 254 && name[253] !== 0x2e)) return 'too-long';
  let text = name.toString('latin1');
  if (text.endsWith('.')) text = text.slice(0, -1);
  const labels = text.split('.');
  if (labels.some((l) => l === '')) return 'empty-label';
  if (labels.some((l) => l.length > 63)) return 'long-label';
  return null;
}

/** For a name still arriving: a problem its bytes so far already prove, or null. */
function partialNameProblem(prefix) {
  for (const b of prefix) if (!NAME_BYTE[b]) return 'bad-char';
  if (prefix.length > 254) return 'too-long';
  const text = prefix.toString('latin1');
  if (text.startsWith('.') || text.includes('..')) return 'empty-label';
  if (text.split('.').some((l) => l.length > 63)) return 'long-label';
  return null;
}

/** IPv6 text -> 16 bytes (RFC 4291 §2.2). Only valid literals come here. */
export function ipv6Bytes(text) {
  let body = text.split('%')[0];
  const tail = [];
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(body);
  if (v4) {
    body = v4[1].endsWith('::') ? v4[1] : v4[1].slice(0, -1);
    const q = v4[2].split('.').map(Number);
    tail.push((q[0] << 8) | q[1], (q[2] << 8) | q[3]);
  }
  const parse = (part) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const gap = body.indexOf('::');
  let groups;
  if (gap >= 0) {
    const head = parse(body.slice(0, gap));
    const rest = [...parse(body.slice(gap + 2)), ...tail];
    groups = [...head, ...new Array(8 - head.length - rest.length).fill(0), ...rest];
  } else groups = [...parse(body), ...tail];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

const MAPPED = Buffer.from('00000000000000000000ffff', 'hex');

/**
 * An address as rules see it (spec: an IPv4-mapped IPv6 address is the IPv4
 * address): { v4: "a.b.c.d", mapped } or { v6: Buffer }.
 */
export function normalize(address) {
  if (typeof address === 'string') {
    if (isIPv4(address)) return { v4: address, mapped: false };
    return normalize(ipv6Bytes(address));
  }
  if (address.length === 4) return { v4: [...address].join('.'), mapped: false };
  if (address.subarray(0, 12).equals(MAPPED)) return { v4: [...address.subarray(12)].join('.'), mapped: true };
  return { v6: Buffer.from(address) };
}

/** 0.0.0.0/8, ::, ::ffff:0.0.0.0 (and the rest of ::ffff:0.0.0.0/104). */
export function isUnspecified(n) {
  if (n.v4 !== undefined) return n.v4.startsWith('0.');
  return n.v6.every((b) => b === 0);
}

export class Oracle {
  /**
   * ports: { T: echo target, R: closed (refused), U: UDP target }
   * user, pass: the one account in the users file (Buffers)
   * lookup(name): Promise<string[] | null>, the resolver the proxy also uses
   */
  constructor({ ports, user, pass, lookup }) {
    this.ports = ports;
    this.user = user;
    this.pass = pass;
    this.lookup = lookup;
  }

  /** The fuzz config's socks rules for CONNECT and BIND (see config in run.mjs): "ok", "refused" or null (blocked). */
  tcpRule(command, n, port) {
    if (n.v4 !== '127.0.0.1') return null;
    if (port === this.ports.T && (command === 'connect' || command === 'bind')) return 'ok';
    if (port === this.ports.R && command === 'connect') return 'refused';
    return null;
  }

  /**
   * Could some rule pass this request, whatever a name resolves to? Every
   * pass rule of the fuzz config limits `to` by CIDR, so only the command
   * and the port decide. If none could, a request to a name is refused
   * without resolving it.
   */
  couldPass(command, port) {
    if (command === 'connect') return port === this.ports.T || port === this.ports.R;
    return command === 'bind' && port === this.ports.T;
  }

  /** May the UDP sender a request names (an IP other than 0.0.0.0 and ::) use the relay? It must pass the client rules: 127.0.0.0/8. */
  senderPasses(dest) {
    if (!dest.ip) return true;
    const n = normalize(dest.ip);
    if (n.v4 === '0.0.0.0' || (n.v6 && n.v6.every((b) => b === 0))) return true;
    return n.v4 !== undefined && n.v4.startsWith('127.');
  }

  /** Addresses a destination stands for, or null when it does not resolve. */
  async addresses(dest) {
    if (dest.ip) return [normalize(dest.ip)];
    const text = dest.name.toString('latin1');
    if (isIP(text)) return [normalize(text)];
    const found = await this.lookup(text);
    return found && found.length > 0 ? found.map(normalize) : null;
  }

  /**
   * The outcome of a complete request. `reply(code)` builds the failure
   * reply of the request's version; success patterns depend on it too.
   */
  async decide(version, command, dest, port, out, early, tag) {
    const failure = (code, why) => ({ cls: `${tag}.${why}`, out: out + (version === 5 ? fail5(code) : fail4), end: 'close' });
    const granted = (end, why) => ({ cls: `${tag}.${why}`, out: out + (version === 5 ? ok5 : ok4), end, early, version });
    if (command === 'udpassociate') return this.senderPasses(dest) ? granted('udp', 'udp-ok') : failure(REP.NOT_ALLOWED, 'udp-sender-refused');
    if (dest.name && !isIP(dest.name.toString('latin1')) && !this.couldPass(command, port)) return failure(REP.NOT_ALLOWED, 'name-never-passes');
    const all = await this.addresses(dest);
    if (all === null) return failure(REP.HOST_UNREACHABLE, 'unresolvable');
    const viaName = dest.name ? 'name-' : '';
    if (command === 'connect') {
      const usable = all.filter((n) => !isUnspecified(n));
      if (usable.length === 0) return failure(REP.NOT_ALLOWED, `${viaName}unspecified${all[0].mapped ? '-mapped' : ''}`);
      for (const n of usable) {
        const rule = this.tcpRule('connect', n, port);
        if (rule === 'ok') return granted('relay', `${viaName}connect-ok${n.mapped ? '-mapped' : ''}`);
        if (rule === 'refused') return failure(REP.REFUSED, `${viaName}refused`);
      }
      return failure(REP.NOT_ALLOWED, `${viaName}blocked${usable.some((n) => n.mapped) ? '-mapped' : ''}`);
    }
    for (const n of all) if (this.tcpRule('bind', n, port) === 'ok') return granted('bind', `${viaName}bind-ok`);
    return failure(REP.NOT_ALLOWED, `${viaName}bind-blocked`);
  }

  /**
   * A name with a trailing dot: the spec allows the dot, but not whether the
   * lookup keeps it ("localhost." is not in a hosts file). Either outcome is
   * accepted when they differ.
   */
  async decideName(version, command, name, port, out, early, tag) {
    const main = await this.decide(version, command, { name }, port, out, early, tag);
    if (name.length > 1 && name[name.length - 1] === 0x2e && command !== 'udpassociate') {
      const bare = await this.decide(version, command, { name: name.subarray(0, -1) }, port, out, early, tag);
      if (bare.cls !== main.cls) return { ...main, alts: [bare] };
    }
    return main;
  }

  /** Predict the outcome of sending `input` (whole, in any chunking) to a proxy with socksmethod `methods`. */
  async predict(input, methods) {
    const at = { pos: 0 };
    const have = (n) => input.length - at.pos >= n;
    const take = (n) => {
      const b = input.subarray(at.pos, at.pos + n);
      at.pos += n;
      return b;
    };
    let out = '';
    const wait = (cls, alt) => ({ cls, out, end: 'wait', alts: alt ? [alt] : undefined });
    const close = (cls, reply = '') => ({ cls, out: out + reply, end: 'close' });

    if (!have(1)) return wait('idle');
    const version = take(1)[0];
    if (version !== 5 && version !== 4) return close('not-socks');

    if (version === 4) return this.predict4(input, methods);

    // --- SOCKS5 greeting ---
    if (!have(1)) return wait('s5.greeting.partial');
    const count = take(1)[0];
    if (!have(count)) return wait('s5.greeting.partial');
    const offered = take(count);
    const chosen = methods.find((m) => offered.includes(Method[m]));
    if (chosen === undefined) return close(count === 0 ? 's5.greeting.no-methods' : 's5.greeting.no-acceptable', '05ff');
    out += `05${hex2(Method[chosen])}`;
    let scrypt = false;

    // --- RFC 1929 ---
    if (chosen === 'username') {
      if (!have(1)) return wait('s5.auth.partial');
      if (input[at.pos] !== 1) {
        // "First byte not 1: close with no reply"; the proxy may wait for the rest of the header first.
        return have(2) ? close('s5.auth.bad-version') : wait('s5.auth.partial', close('s5.auth.bad-version'));
      }
      at.pos++;
      if (!have(1)) return wait('s5.auth.partial');
      const ulen = take(1)[0];
      if (!have(ulen + 1)) return wait('s5.auth.partial');
      const uname = take(ulen);
      const plen = take(1)[0];
      if (!have(plen)) return wait('s5.auth.partial');
      const pass = take(plen);
      if (!uname.equals(this.user) || !pass.equals(this.pass)) return { ...close('s5.auth.wrong', '0101'), scrypt: true };
      out += '0100';
    }

    // --- request: VER CMD RSV ATYP ---
    if (!have(1)) return wait('s5.request.partial');
    const head = input.subarray(at.pos, at.pos + 4);
    const headError =
      head[0] !== 5 ? ['s5.request.bad-version', REP.GENERAL] : head.length > 1 && ![1, 2, 3].includes(head[1]) ? ['s5.request.bad-command', REP.COMMAND] : head.length > 3 && ![1, 3, 4].includes(head[3]) ? ['s5.request.bad-atyp', REP.ATYP] : undefined;
    if (!have(4)) return wait('s5.request.partial', headError && close(headError[0], fail5(headError[1])));
    if (headError) return { ...close(headError[0], fail5(headError[1])), scrypt };
    at.pos += 4;
    const command = { 1: 'connect', 2: 'bind', 3: 'udpassociate' }[head[1]];
    const atyp = head[3];
    const tag = `s5.${command}`;

    let dest;
    if (atyp === 1 || atyp === 4) {
      const size = atyp === 1 ? 4 : 16;
      if (!have(size)) return wait('s5.request.partial');
      dest = { ip: Buffer.from(take(size)) };
    } else {
      if (!have(1)) return wait('s5.request.partial');
      const length = take(1)[0];
      if (length === 0) return close(`${tag}.domain.empty`, fail5(REP.HOST_UNREACHABLE));
      if (!have(length)) {
        const problem = partialNameProblem(input.subarray(at.pos));
        return wait('s5.request.partial', problem && close(`${tag}.domain.${problem}`, fail5(REP.HOST_UNREACHABLE)));
      }
      dest = { name: Buffer.from(take(length)) };
      const problem = nameProblem(dest.name);
      if (problem) {
        const rejected = close(`${tag}.domain.${problem}`, fail5(REP.HOST_UNREACHABLE));
        return have(2) ? rejected : wait('s5.request.partial', rejected);
      }
    }
    if (!have(2)) return wait('s5.request.partial');
    const port = take(2).readUInt16BE(0);
    const early = Buffer.from(input.subarray(at.pos));
    const tagged = dest.ip ? `${tag}.${dest.ip.length === 4 ? 'ipv4' : 'ipv6'}` : `${tag}.domain`;
    const outcome = dest.name ? await this.decideName(5, command, dest.name, port, out, early, tagged) : await this.decide(5, command, dest, port, out, early, tagged);
    return { ...outcome, scrypt };
  }

  async predict4(input, methods) {
    const fail = (cls) => ({ cls, out: fail4, end: 'close' });
    const wait = (cls, alt) => ({ cls, out: '', end: 'wait', alts: alt ? [alt] : undefined });
    if (input.length < 2) return wait('s4.partial');
    const badCommand = input[1] !== 1 && input[1] !== 2;
    if (input.length < 8) return wait('s4.partial', badCommand ? fail('s4.bad-command') : undefined);
    const port = input.readUInt16BE(2);
    const ip = input.subarray(4, 8);
    const socks4a = ip[0] === 0 && ip[1] === 0 && ip[2] === 0 && ip[3] !== 0;
    // "USERID or HOSTNAME over 255 bytes -> 00 5B": when the proxy notices a missing NUL is its choice.
    const field = (from) => {
      const nul = input.indexOf(0, from);
      return nul < 0 ? { end: -1, long: input.length - from > 255 } : { end: nul, long: nul - from > 255 };
    };
    const user = field(8);
    if (user.end < 0) return wait('s4.partial', badCommand ? fail('s4.bad-command') : user.long ? fail('s4.userid-long') : undefined);
    let name;
    let end = user.end + 1;
    if (socks4a) {
      const host = field(end);
      if (host.end < 0) {
        const problem = partialNameProblem(input.subarray(end));
        const early = badCommand ? fail('s4.bad-command') : user.long ? fail('s4.userid-long') : host.long ? fail('s4a.host-long') : problem ? fail(`s4a.host.${problem}`) : undefined;
        return wait('s4.partial', early);
      }
      name = Buffer.from(input.subarray(end, host.end));
      end = host.end + 1;
      if (badCommand) return fail('s4.bad-command');
      if (user.long) return fail('s4.userid-long');
      if (host.long) return fail('s4a.host-long');
      const problem = nameProblem(name);
      if (problem) return fail(`s4a.host.${problem}`);
    }
    if (badCommand) return fail('s4.bad-command');
    if (user.long) return fail('s4.userid-long');
    if (!methods.includes('none')) return fail('s4.no-none-method');
    const command = input[1] === 1 ? 'connect' : 'bind';
    const early = Buffer.from(input.subarray(end));
    const tag = `${socks4a ? 's4a' : 's4'}.${command}`;
    if (name) return this.decideName(4, command, name, port, '', early, tag);
    return this.decide(4, command, { ip: Buffer.from(ip) }, port, '', early, tag);
  }

  /**
   * A datagram from the client to the UDP relay: { forward: payload } when
   * the proxy must send `payload` to the UDP target, { drop } when it must
   * not send it anywhere, { unsure } when the spec leaves it open.
   */
  async predictDatagram(datagram) {
    const drop = (why) => ({ drop: why });
    if (datagram.length < 4) return drop('short');
    if (datagram[0] !== 0 || datagram[1] !== 0) return { unsure: 'rsv' };
    if (datagram[2] !== 0) return drop('frag');
    const atyp = datagram[3];
    let offset = 4;
    let dest;
    if (atyp === 1 || atyp === 4) {
      const size = atyp === 1 ? 4 : 16;
      if (datagram.length < offset + size + 2) return drop('short');
      dest = { ip: datagram.subarray(offset, offset + size) };
      offset += size;
    } else if (atyp === 3) {
      const length = datagram[offset];
      if (length === undefined || datagram.length < offset + 1 + length + 2) return drop('short');
      const name = datagram.subarray(offset + 1, offset + 1 + length);
      const problem = nameProblem(name);
      if (problem) return drop(`name-${problem}`);
      dest = { name };
      offset += 1 + length;
    } else return drop('atyp');
    const port = datagram.readUInt16BE(offset);
    const payload = datagram.subarray(offset + 2);
    let all = await this.addresses(dest);
    if (dest.name && all !== null && all.length > 1) return { unsure: 'several-addresses' };
    if (dest.name && dest.name[dest.name.length - 1] === 0x2e) {
      const bare = await this.addresses({ name: dest.name.subarray(0, -1) });
      if (JSON.stringify(bare) !== JSON.stringify(all)) return { unsure: 'trailing-dot' };
    }
    if (all === null) return drop('unresolvable');
    all = all.filter((n) => !isUnspecified(n));
    if (all.length === 0) return drop('unspecified');
    const n = all[0];
    if (n.v4 === '127.0.0.1' && port === this.ports.U) return { forward: Buffer.from(payload), why: `${dest.name ? 'name' : atyp === 4 ? 'ipv6' : 'ipv4'}${n.mapped ? '-mapped' : ''}` };
    return drop('blocked');
  }
}
