// Structure-aware generators: valid handshakes (SOCKS5 with and without RFC
// 1929, CONNECT/BIND/UDP ASSOCIATE by IPv4/IPv6/name, SOCKS4, SOCKS4a),
// mutations of them (on the structure and on the bytes), random bytes, and
// the chunking and pacing with which each is written. Also the datagrams
// sent through a UDP association. Nothing here predicts outcomes: that is
// the oracle's job, on the final bytes, however they were made.

/** Names in the fuzz namespace's hosts file (run.mjs), literals and forms getaddrinfo reads as numbers. */
export const HOSTS = {
  'target.fuzz': ['127.0.0.1'],
  'blocked.fuzz': ['127.0.0.2'],
  'zero.fuzz': ['0.0.0.0'],
  'zero6.fuzz': ['::'],
  'mixed.fuzz': ['127.0.0.1', '0.0.0.0'],
  'mapped.fuzz': ['::ffff:127.0.0.1'],
  'mapped0.fuzz': ['::ffff:0.0.0.0'],
};
const NAMES = [
  'localhost', 'localhost.', 'LocalHost', 'target.fuzz', 'TARGET.fuzz', 'target.fuzz.', 'blocked.fuzz', 'zero.fuzz', 'zero6.fuzz', 'mixed.fuzz',
  'mapped.fuzz', 'mapped0.fuzz', '127.0.0.1', '127.0.0.2', '0.0.0.0', '0', '127.1', '2130706433', '0x7f.1', '0177.0.0.1', '127.0.0.1.', '0.0.0.0.',
  'nx.fuzz', 'no-such-host', 'a', '_', '-', 'a-b_c.d',
];
const NAME_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_';
const INTERESTING = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x7f, 0x80, 0xfe, 0xff, 0x2e, 0x3a, 0x20, 0x0a, 0x0d];
const BAD_NAME_BYTES = [0x00, 0x01, 0x07, 0x08, 0x09, 0x0a, 0x0d, 0x1b, 0x7f, 0x20, 0x3a, 0x2f, 0x25, 0x40, 0x5c, 0x22, 0x27, 0x80, 0xc3, 0xff, 0x2c, 0x3b, 0x2a];

const be16 = (n) => [(n >> 8) & 0xff, n & 0xff];

function label(rng, length) {
  let s = '';
  for (let i = 0; i < length; i++) s += NAME_CHARS[rng.int(NAME_CHARS.length)];
  return s;
}

/** A name the spec accepts, of about `total` bytes at most. */
function randomName(rng, total = rng.range(1, 40)) {
  const labels = [];
  let length = -1;
  while (length < total) {
    const l = label(rng, rng.range(1, Math.min(63, Math.max(1, total))));
    if (length + 1 + l.length > 255) break;
    labels.push(l);
    length += 1 + l.length;
    if (rng.chance(0.4)) break;
  }
  return labels.join('.');
}

/** Destinations: mostly the one the rules pass, and every class the spec names. */
function pickDestination(rng, ports, socks4) {
  const { T, R, B } = ports;
  const ip4 = (a, port = T) => ({ atyp: 1, addr: Buffer.from(a), port });
  const ip6 = (hexText, port = T) => ({ atyp: 4, addr: Buffer.from(hexText, 'hex'), port });
  const name = (text, port = T) => ({ atyp: 3, addr: Buffer.from(text, 'latin1'), port });
  const mapped = (a) => `00000000000000000000ffff${Buffer.from(a).toString('hex')}`;
  const table = [
    [30, () => ip4([127, 0, 0, 1])],
    [4, () => ip4([127, 0, 0, 1], R)],
    [3, () => ip4([127, 0, 0, 1], B)],
    [2, () => ip4([127, 0, 0, 1], rng.range(1, 65535))],
    [3, () => ip4([127, 0, 0, 2])],
    [4, () => ip4([0, 0, 0, 0])],
    [2, () => ip4([0, rng.range(1, 255), rng.int(256), rng.int(256)])],
    [2, () => ip4([rng.range(1, 223), rng.int(256), rng.int(256), rng.int(256)], rng.range(1, 65535))],
    [14, () => name(rng.pick(NAMES), rng.chance(0.1) ? R : T)],
    [3, () => name(randomName(rng))],
    [1, () => name(`${label(rng, 63)}.${label(rng, 3)}`)],
    [1, () => name(randomName(rng, 250))],
  ];
  if (!socks4) {
    table.push(
      [5, () => ip6(mapped([127, 0, 0, 1]))],
      [2, () => ip6(mapped([127, 0, 0, 2]))],
      [3, () => ip6(mapped([0, 0, 0, 0]))],
      [1, () => ip6(mapped([0, rng.range(1, 255), rng.int(256), 1]))],
      [3, () => ip6('00'.repeat(16))],
      [3, () => ip6(`${'00'.repeat(15)}01`)],
      [1, () => ip6(`${'00'.repeat(12)}7f000001`)],
      [1, () => ip6(`0064ff9b0000000000000000${'7f000001'}`)],
      [2, () => ({ atyp: 4, addr: rng.bytes(16), port: T })],
    );
  }
  return rng.weighted(table)();
}

function otherMethods(rng) {
  const out = [];
  const n = rng.weighted([[6, 0], [3, 1], [1, 3]]);
  for (let i = 0; i < n; i++) out.push(rng.pick([0x01, 0x03, 0x80, 0xfe, 0xff, rng.range(0x03, 0xff)]));
  return out;
}

function shuffle(rng, items) {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

// --- Handshake descriptions, serialized with the offsets of their fields ---

function socks5(rng, ctx, command) {
  const auth = !ctx.methods.includes('none') || rng.chance(0.25);
  const methods = shuffle(rng, [auth ? 0x02 : 0x00, ...(auth && ctx.methods.includes('none') ? [] : rng.chance(0.3) ? [0x02] : []), ...otherMethods(rng)]);
  // With "none" offered, a proxy that prefers "none" never asks for the password.
  if (auth) for (let i = 0; i < methods.length; i++) if (methods[i] === 0x00) methods[i] = 0x01;
  let dest;
  if (command === 'udpassociate') {
    dest = rng.weighted([
      [5, { atyp: 1, addr: Buffer.from([0, 0, 0, 0]), port: 0 }],
      [2, { atyp: 1, addr: Buffer.from([127, 0, 0, 1]), port: 0 }],
      [1, { atyp: 3, addr: Buffer.from('localhost'), port: 0 }],
    ]);
  } else if (command === 'bind') {
    dest = rng.chance(0.8) ? { atyp: 1, addr: Buffer.from([127, 0, 0, 1]), port: ctx.ports.T } : pickDestination(rng, ctx.ports, false);
  } else dest = pickDestination(rng, ctx.ports, false);
  return {
    version: 5,
    methods,
    auth: auth ? { version: 1, user: ctx.user, pass: ctx.pass } : undefined,
    request: { version: 5, command: { connect: 1, bind: 2, udpassociate: 3 }[command], rsv: 0, ...dest },
    early: command === 'connect' && rng.chance(0.3) ? rng.bytes(rng.range(1, 64)) : Buffer.alloc(0),
  };
}

function socks4(rng, ctx, command, socks4a) {
  const userId = Buffer.from(label(rng, rng.weighted([[6, rng.range(0, 12)], [2, rng.range(13, 80)], [1, rng.range(200, 255)]])), 'latin1');
  const base = { version: 4, command: command === 'bind' ? 2 : 1, userId, early: command === 'connect' && rng.chance(0.2) ? rng.bytes(rng.range(1, 32)) : Buffer.alloc(0) };
  if (socks4a) {
    const host = rng.chance(0.7) ? rng.pick(['localhost', 'target.fuzz', 'blocked.fuzz', 'zero.fuzz', 'mapped.fuzz', '127.0.0.1', '0.0.0.0', '0', 'nx.fuzz']) : randomName(rng);
    return { ...base, port: rng.chance(0.9) ? ctx.ports.T : ctx.ports.R, ip: Buffer.from([0, 0, 0, rng.range(1, 255)]), host: Buffer.from(host, 'latin1') };
  }
  const dest = command === 'bind' && rng.chance(0.8) ? { addr: Buffer.from([127, 0, 0, 1]), port: ctx.ports.T } : pickDestination(rng, ctx.ports, true);
  if (dest.atyp === 3) return { ...base, port: dest.port, ip: Buffer.from([0, 0, 0, rng.range(1, 255)]), host: dest.addr };
  // A plain SOCKS4 address never reads as the 4a marker 0.0.0.x (x != 0).
  const ip = dest.addr[0] === 0 && dest.addr[1] === 0 && dest.addr[2] === 0 ? Buffer.from([0, 0, 0, 0]) : dest.addr;
  return { ...base, port: dest.port, ip };
}

/**
 * Bytes of a handshake description, with where its parts and length fields
 * are, so byte-level mutations can aim at one part.
 */
export function serialize(h) {
  const parts = [];
  const lengthFields = [];
  let at = 0;
  const push = (name, bytes, lengths = []) => {
    for (const l of lengths) lengthFields.push(at + l);
    parts.push({ name, start: at, end: at + bytes.length });
    at += bytes.length;
    return bytes;
  };
  const chunks = [];
  if (h.version === 5) {
    const count = h.methodCount ?? h.methods.length;
    chunks.push(push('greeting', Buffer.from([h.greetingVersion ?? 5, count, ...h.methods]), [1]));
    if (h.auth) {
      const { user, pass } = h.auth;
      const b = Buffer.from([h.auth.version, h.auth.userLength ?? user.length, ...user, h.auth.passLength ?? pass.length, ...pass]);
      chunks.push(push('auth', b, [1, 2 + user.length]));
    }
    const r = h.request;
    const lengthByte = r.atyp === 3 || r.nameLength !== undefined ? [r.nameLength ?? r.addr.length] : [];
    const b = Buffer.from([r.version, r.command, r.rsv, r.atyp, ...lengthByte, ...r.addr, ...be16(r.port)]);
    chunks.push(push('request', b, lengthByte.length ? [4] : []));
  } else {
    const b = Buffer.from([4, h.command, ...be16(h.port), ...h.ip, ...h.userId, 0, ...(h.host ? [...h.host, 0] : [])]);
    chunks.push(push('request', b));
  }
  if (h.early.length) chunks.push(push('early', h.early));
  return { bytes: Buffer.concat(chunks), parts, lengthFields };
}

// --- Mutations ---

/** Structure-level: change one field of the description to a value the spec has a rule for. */
const STRUCTURE_MUTATIONS = [
  [10, 'unspecified-or-mapped', (rng, h) => {
    const pick = rng.pick([
      { atyp: 1, addr: [0, 0, 0, 0] },
      { atyp: 1, addr: [0, rng.int(256), rng.int(256), rng.int(256)] },
      { atyp: 4, addr: '00'.repeat(16) },
      { atyp: 4, addr: '00000000000000000000ffff00000000' },
      { atyp: 4, addr: '00000000000000000000ffff7f000001' },
      { atyp: 4, addr: '00000000000000000000ffff7f000002' },
      { atyp: 4, addr: '00000000000000000000ffff7f0000ff' },
      { atyp: 3, addr: rng.pick(['0', '0.0.0.0', 'zero.fuzz', 'zero6.fuzz', 'mapped0.fuzz', '::ffff:127.0.0.1', '::']) },
    ]);
    const addr = typeof pick.addr === 'string' ? Buffer.from(pick.addr, pick.atyp === 4 ? 'hex' : 'latin1') : Buffer.from(pick.addr);
    if (h.version === 5) Object.assign(h.request, { atyp: pick.atyp, addr });
    else if (pick.atyp === 1) h.ip = addr;
    else if (pick.atyp === 3) Object.assign(h, { ip: Buffer.from([0, 0, 0, 1]), host: addr });
  }],
  [12, 'bad-name-byte', (rng, h) => {
    const name = [...(h.version === 5 ? (h.request.atyp === 3 ? h.request.addr : Buffer.from(randomName(rng))) : h.host ?? Buffer.from(randomName(rng)))];
    const n = rng.range(1, 3);
    for (let i = 0; i < n; i++) name.splice(rng.int(name.length + 1), 0, rng.chance(0.7) ? rng.pick(BAD_NAME_BYTES) : rng.int(256));
    const bytes = Buffer.from(name.slice(0, 255));
    if (h.version === 5) Object.assign(h.request, { atyp: 3, addr: bytes });
    else Object.assign(h, { ip: Buffer.from([0, 0, 0, 1]), host: Buffer.from(bytes.filter((b) => b !== 0)) });
  }],
  [6, 'bad-name-shape', (rng, h) => {
    const a = label(rng, rng.range(1, 8));
    const bytes = Buffer.from(rng.pick(['.', '..', `.${a}`, `${a}..${a}`, `${a}..`, `${label(rng, 64)}.${a}`, `${a}.${label(rng, rng.range(64, 120))}`, `${label(rng, 63)}.${a}`, `${a}.`, '-', '_._']), 'latin1');
    if (h.version === 5) Object.assign(h.request, { atyp: 3, addr: bytes.subarray(0, 255) });
    else Object.assign(h, { ip: Buffer.from([0, 0, 0, 1]), host: bytes });
  }],
  [5, 'name-length', (rng, h) => {
    if (h.version !== 5) return;
    if (h.request.atyp !== 3) Object.assign(h.request, { atyp: 3, addr: Buffer.from(rng.pick(NAMES)) });
    const real = h.request.addr.length;
    h.request.nameLength = rng.pick([0, real - 1, real + 1, 255, rng.int(256)]) & 0xff;
  }],
  [4, 'long-name', (rng, h) => {
    const bytes = Buffer.from(randomName(rng, 255).padEnd(255, 'a').slice(0, 255), 'latin1');
    if (h.version === 5) Object.assign(h.request, { atyp: 3, addr: bytes });
    else Object.assign(h, { ip: Buffer.from([0, 0, 0, 1]), host: rng.chance(0.5) ? bytes : Buffer.concat([bytes, Buffer.alloc(rng.range(1, 200), 0x61)]) });
  }],
  [6, 'command-or-atyp', (rng, h) => {
    if (h.version === 4) h.command = rng.pick([0, 3, 4, 0x5a, 0xff, rng.int(256)]);
    else if (rng.chance(0.5)) h.request.command = rng.pick([0, 4, 5, 0x80, 0xff, rng.int(256)]);
    else h.request.atyp = rng.pick([0, 2, 5, 6, 0xff, rng.int(256)]);
  }],
  [4, 'request-version', (rng, h) => {
    if (h.version === 5) h.request.version = rng.pick([0, 4, 6, 0xff, rng.int(256)]);
    else h.version = 4;
  }],
  [3, 'rsv', (rng, h) => {
    if (h.version === 5) h.request.rsv = rng.range(1, 255);
  }],
  [5, 'methods', (rng, h, ctx) => {
    if (h.version !== 5) return;
    h.methods = rng.pick([[], [0x01], [0x80, 0xfe], [0xff], Array.from({ length: 255 }, (_, i) => (i + 3) & 0xff), [0x00, 0x02], [0x02, 0x00], rng.bytes(rng.range(1, 10)).toJSON().data]);
    if (h.methods.includes(0x02) && !h.auth) h.auth = { version: 1, user: ctx.user, pass: ctx.pass };
  }],
  [2, 'method-count', (rng, h) => {
    if (h.version === 5) h.methodCount = rng.pick([0, h.methods.length + 1, 255, Math.max(0, h.methods.length - 1)]);
  }],
  [3, 'auth-version', (rng, h) => {
    if (h.version === 5 && h.auth) h.auth.version = rng.pick([0, 2, 5, 0xff]);
  }],
  [4, 's4-long-field', (rng, h) => {
    if (h.version !== 4) return;
    const long = Buffer.from(label(rng, rng.range(250, 400)), 'latin1');
    if (rng.chance(0.5) || !h.host) h.userId = long;
    else h.host = long;
  }],
  [2, 's4-nul-in-userid', (rng, h) => {
    if (h.version !== 4) return;
    const u = [...h.userId];
    u.splice(rng.int(u.length + 1), 0, 0);
    h.userId = Buffer.from(u);
  }],
  [4, 'early-data', (rng, h) => {
    h.early = rng.bytes(rng.range(1, 200));
  }],
];

/** Byte-level mutations of the serialized handshake. */
function mutateBytes(rng, s) {
  let bytes = Buffer.from(s.bytes);
  // Aim mostly at the request: a changed password costs the proxy a full scrypt.
  const weights = { greeting: 20, auth: 2, request: 70, early: 8 };
  const part = rng.weighted(s.parts.map((p) => [weights[p.name] ?? 5, p]));
  const at = () => (part ? part.start + rng.int(Math.max(1, part.end - part.start)) : rng.int(Math.max(1, bytes.length)));
  const op = rng.weighted([[10, 'flip'], [8, 'set'], [12, 'truncate'], [8, 'length'], [5, 'insert'], [4, 'delete'], [3, 'duplicate'], [3, 'tail']]);
  switch (op) {
    case 'flip': {
      if (bytes.length === 0) break;
      const i = Math.min(at(), bytes.length - 1);
      bytes[i] ^= 1 << rng.int(8);
      break;
    }
    case 'set': {
      if (bytes.length === 0) break;
      bytes[Math.min(at(), bytes.length - 1)] = rng.chance(0.7) ? rng.pick(INTERESTING) : rng.int(256);
      break;
    }
    case 'truncate':
      bytes = bytes.subarray(0, rng.int(bytes.length));
      break;
    case 'length': {
      if (s.lengthFields.length === 0) break;
      const i = rng.pick(s.lengthFields);
      bytes[i] = rng.pick([bytes[i] + 1, bytes[i] - 1, 0, 255, bytes[i] + 2]) & 0xff;
      break;
    }
    case 'insert': {
      const i = at();
      bytes = Buffer.concat([bytes.subarray(0, i), rng.chance(0.5) ? Buffer.from([rng.pick(INTERESTING)]) : rng.bytes(rng.range(1, 8)), bytes.subarray(i)]);
      break;
    }
    case 'delete': {
      const i = at();
      bytes = Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + rng.range(1, 4))]);
      break;
    }
    case 'duplicate':
      if (part) bytes = Buffer.concat([bytes.subarray(0, part.end), bytes.subarray(part.start, part.end), bytes.subarray(part.end)]);
      break;
    case 'tail':
      bytes = Buffer.concat([bytes, rng.bytes(rng.range(1, 64))]);
      break;
  }
  return { bytes, op };
}

function validDescription(rng, ctx) {
  const none = ctx.methods.includes('none');
  const scenario = rng.weighted([
    [60, 's5-connect'],
    [6, 's5-bind'],
    [7, 's5-udp'],
    [10, 's4-connect'],
    [3, 's4-bind'],
    [8, 's4a-connect'],
    // A wrong password costs the proxy one scrypt (tens of ms of CPU): keep them rare.
    [0.15, 's5-wrong-password'],
    // Far more early data than the 64 KiB a handshake may buffer: all of it must still come back, in order.
    [0.3, 's5-connect-flood'],
  ]);
  switch (scenario) {
    case 's5-connect':
      return { scenario, h: socks5(rng, ctx, 'connect') };
    case 's5-connect-flood': {
      const h = socks5(rng, ctx, 'connect');
      Object.assign(h.request, { atyp: 1, addr: Buffer.from([127, 0, 0, 1]), port: ctx.ports.T });
      h.early = rng.bytes(rng.range(64 * 1024, 256 * 1024));
      return { scenario, h };
    }
    case 's5-bind':
      return { scenario, h: socks5(rng, ctx, 'bind') };
    case 's5-udp':
      return { scenario, h: socks5(rng, ctx, 'udpassociate') };
    case 's4-connect':
      return { scenario, h: socks4(rng, ctx, 'connect', false) };
    case 's4-bind':
      return { scenario, h: socks4(rng, ctx, 'bind', false) };
    case 's4a-connect':
      return { scenario, h: socks4(rng, ctx, 'connect', true) };
    default: {
      const h = socks5(rng, { ...ctx, methods: none ? ['username'] : ctx.methods }, 'connect');
      h.auth = { version: 1, user: ctx.user, pass: Buffer.concat([ctx.pass, Buffer.from('x')]) };
      return { scenario, h };
    }
  }
}

/**
 * One handshake to send: { kind, label, bytes, udp?, peer? }. `ctx`:
 * { methods, ports, user, pass }.
 */
export function generate(rng, ctx) {
  const kind = rng.weighted([[40, 'valid'], [52, 'mutated'], [8, 'random']]);
  if (kind === 'random') {
    const length = rng.weighted([[4, rng.range(0, 3)], [10, rng.range(4, 16)], [6, rng.range(17, 80)], [1, rng.range(81, 600)]]);
    const bytes = rng.bytes(length);
    if (length > 0) bytes[0] = rng.weighted([[4, 5], [2, 4], [4, bytes[0]]]);
    if (length > 2 && rng.chance(0.3)) bytes.set([5, 1, rng.pick([0, 2])]);
    return { kind, label: 'random', bytes };
  }
  const { scenario, h } = validDescription(rng, ctx);
  if (kind === 'valid') {
    const { bytes } = serialize(h);
    const udp = scenario === 's5-udp' ? datagramPlan(rng, ctx) : undefined;
    return { kind, label: scenario, bytes, udp, peer: (scenario === 's5-bind' || scenario === 's4-bind') && rng.chance(0.5) };
  }
  const names = [];
  if (rng.chance(0.75)) {
    const n = rng.weighted([[8, 1], [2, 2]]);
    for (let i = 0; i < n; i++) {
      const [, name, apply] = rng.weighted(STRUCTURE_MUTATIONS.map((m) => [m[0], m]));
      apply(rng, h, ctx);
      names.push(name);
    }
  }
  let s = serialize(h);
  if (names.length === 0 || rng.chance(0.35)) {
    const { bytes, op } = mutateBytes(rng, s);
    s = { ...s, bytes };
    names.push(op);
  }
  return { kind, label: `${scenario}:${names.join('+')}`, bytes: s.bytes };
}

/**
 * How to write `bytes`: a list of [chunk, delayMs before the next]. Whole,
 * byte by byte, or in random pieces; a few handshakes pause between pieces.
 */
const MAX_PIECES = 48;

export function chunking(rng, bytes) {
  const mode = rng.weighted([[30, 'whole'], [12, 'bytes'], [58, 'pieces']]);
  const pieces = [];
  if (mode === 'whole' || bytes.length <= 1) pieces.push(bytes);
  else if (mode === 'bytes' && bytes.length <= MAX_PIECES) for (let i = 0; i < bytes.length; i++) pieces.push(bytes.subarray(i, i + 1));
  else {
    // Long inputs go in at most about MAX_PIECES pieces: byte by byte, 600 bytes take
    // 600 turns of the fuzzer's event loop, longer than timeout.negotiate under load.
    const smallest = Math.ceil(bytes.length / MAX_PIECES);
    let i = 0;
    while (i < bytes.length) {
      const n = rng.range(smallest, Math.max(smallest, Math.ceil(bytes.length / rng.range(1, 4))));
      pieces.push(bytes.subarray(i, i + n));
      i += n;
    }
  }
  const paced = rng.chance(0.15);
  let budget = 120;
  return pieces.map((chunk) => {
    let delay = 0;
    if (paced && budget > 0 && rng.chance(0.4)) {
      delay = Math.min(budget, rng.range(1, 15));
      budget -= delay;
    }
    return [chunk, delay];
  });
}

// --- UDP ---

function udpHeader(atyp, addr, port, frag = 0) {
  const lengthByte = atyp === 3 ? [addr.length] : [];
  return Buffer.from([0, 0, frag, atyp, ...lengthByte, ...addr, ...be16(port)]);
}

/** Datagrams for one association: valid, blocked, unspecified, malformed, mutated, random. */
export function datagramPlan(rng, ctx) {
  const { U, B } = ctx.ports;
  const count = rng.range(1, 10);
  const out = [];
  for (let i = 0; i < count; i++) {
    const payload = Buffer.concat([Buffer.from('fz'), rng.bytes(8), rng.bytes(rng.range(0, 32))]);
    const v4 = (a, port = U) => udpHeader(1, Buffer.from(a), port);
    const v6 = (h, port = U) => udpHeader(4, Buffer.from(h, 'hex'), port);
    const name = (n, port = U) => udpHeader(3, Buffer.from(n, 'latin1'), port);
    // Each kind gives a header (the payload follows) or, for mutated and random ones, a whole datagram.
    const header = (bytes) => Buffer.concat([bytes, payload]);
    const make = rng.weighted([
      [30, () => header(v4([127, 0, 0, 1]))],
      [5, () => header(v6('00000000000000000000ffff7f000001'))],
      [6, () => header(name(rng.pick(['target.fuzz', 'TARGET.FUZZ', '127.0.0.1', 'mapped.fuzz'])))],
      [6, () => header(rng.pick([v4([127, 0, 0, 2]), v4([127, 0, 0, 1], B), v6(`${'00'.repeat(15)}01`), name('blocked.fuzz'), v4([127, 0, 0, 1], rng.range(1, 65535))]))],
      [6, () => header(rng.pick([v4([0, 0, 0, 0]), v4([0, 1, 2, 3]), v6('00'.repeat(16)), v6('00000000000000000000ffff00000000'), name('zero.fuzz'), name('zero6.fuzz'), name('0.0.0.0'), name('0'), name('mapped0.fuzz')]))],
      [5, () => header(udpHeader(1, Buffer.from([127, 0, 0, 1]), U, rng.range(1, 255)))],
      [4, () => header(Buffer.from([0, 0, 0, rng.pick([0, 2, 5, 0xff])]))],
      [4, () => v4([127, 0, 0, 1]).subarray(0, rng.range(0, 9))],
      [5, () => {
        const n = [...Buffer.from('target.fuzz')];
        n.splice(rng.int(n.length + 1), 0, rng.pick(BAD_NAME_BYTES));
        return header(rng.pick([name(Buffer.from(n).toString('latin1')), name('a..b'), name('.target.fuzz'), udpHeader(3, Buffer.alloc(0), U), name(`${label(rng, 64)}.fuzz`)]));
      }],
      [8, () => {
        const d = header(v4([127, 0, 0, 1]));
        d[rng.int(10)] ^= 1 << rng.int(8);
        return d;
      }],
      [4, () => rng.bytes(rng.range(0, 40))],
    ]);
    out.push(make());
  }
  return out;
}
