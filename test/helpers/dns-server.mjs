#!/usr/bin/env node
// A test resolver: a small authoritative DNS server over UDP that answers
// from a zone given as JSON, for tests that run the proxy in a namespace of
// their own (whose resolv.conf names 127.0.0.1, see test/helpers/netns.ts).
// It can answer slowly, or not at all, and prints one JSON line per query.
//   dns-server.mjs ADDRESS PORT ZONE_JSON
// ZONE_JSON: {"A": {"name": "10.0.0.1"}, "AAAA": {...}, "PTR": {"1.0.0.10.in-addr.arpa": "name"},
//             "delayMs": {"name": 3000}, "silent": ["name"]}
// A name in "silent" gets no answer; every name missing from the zone gets NXDOMAIN.
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';

const [address, port, zoneText] = process.argv.slice(2);
const zone = JSON.parse(zoneText ?? '{}');
const TYPES = { 1: 'A', 12: 'PTR', 28: 'AAAA' };

/** The question's name (lower case, no trailing dot) and where the question ends. */
function readQuestion(query) {
  const labels = [];
  let offset = 12;
  for (;;) {
    const length = query[offset];
    if (length === undefined || length > 63) throw new Error('bad name');
    offset++;
    if (length === 0) break;
    labels.push(query.toString('latin1', offset, offset + length));
    offset += length;
  }
  return { name: labels.join('.').toLowerCase(), type: query.readUInt16BE(offset), end: offset + 4 };
}

function encodeName(name) {
  const parts = name.split('.').filter(Boolean).map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label, 'latin1')]));
  return Buffer.concat([...parts, Buffer.from([0])]);
}

function ipv6Bytes(text) {
  const [head, tail = ''] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = text.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function rdataFor(type, value) {
  if (type === 'A') return Buffer.from(value.split('.').map(Number));
  if (type === 'AAAA') return ipv6Bytes(value);
  return encodeName(value);
}

function answer(query) {
  const { name, type, end } = readQuestion(query);
  const typeName = TYPES[type];
  const value = typeName ? zone[typeName]?.[name] : undefined;
  const known = ['A', 'AAAA', 'PTR'].some((t) => zone[t]?.[name] !== undefined);
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2); // ID
  header.writeUInt16BE(0x8400 | (query.readUInt16BE(2) & 0x0100) | (known ? 0 : 3), 2); // QR AA, RD copied, NXDOMAIN if unknown
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(value === undefined ? 0 : 1, 6);
  const question = query.subarray(12, end);
  if (value === undefined) return { name, typeName, reply: Buffer.concat([header, question]) };
  const rdata = rdataFor(typeName, value);
  const rr = Buffer.alloc(12);
  rr.writeUInt16BE(0xc00c, 0); // the question's name
  rr.writeUInt16BE(type, 2);
  rr.writeUInt16BE(1, 4); // IN
  rr.writeUInt32BE(1, 6); // TTL 1 s
  rr.writeUInt16BE(rdata.length, 10);
  return { name, typeName, reply: Buffer.concat([header, question, rr, rdata]) };
}

const socket = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
socket.on('message', (query, from) => {
  let result;
  try {
    result = answer(query);
  } catch {
    return;
  }
  const silent = (zone.silent ?? []).includes(result.name);
  console.log(JSON.stringify({ name: result.name, type: result.typeName ?? 'other', silent }));
  if (silent) return;
  const send = () => socket.send(result.reply, from.port, from.address);
  const delay = zone.delayMs?.[result.name];
  if (delay) setTimeout(send, delay);
  else send();
});
socket.bind(Number(port), address, () => console.log(JSON.stringify({ ready: true })));
process.on('SIGTERM', () => process.exit(0));
