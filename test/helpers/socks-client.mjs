#!/usr/bin/env node
// A small raw SOCKS5 client for tests that run inside network namespaces,
// where the jest process itself cannot open sockets. Prints one JSON line.
//   probe   PROXY PORT HOST DPORT [SRC] -> {"code":"03","ms":12} (the CONNECT reply code, or "closed", and the
//                                          milliseconds from the request to it), from SRC if given
//   connect PROXY PORT HOST DPORT       -> {"code","bound","answer"}: sends "who am i", prints the answer
//   udp     PROXY PORT HOST DPORT [MS]  -> {"relay","from","sender","answer"}: one datagram through UDP ASSOCIATE;
//                                          with MS, {"code":"00","answer":null} if no answer comes within MS
//                                          milliseconds; {"code","ms"} if the association is refused
//   bind    PROXY PORT                  -> {"bound"}: the first BIND reply
//   udp-held PROXY PORT                 -> {"code","ended":true}: a UDP association held open until the proxy
//                                          ends it (closes its control connection)
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';

const [command, proxyHost, proxyPort, host, port, extra] = process.argv.slice(2);
const source = command === 'probe' ? extra : undefined;
const quietMs = command === 'udp' && extra !== undefined ? Number(extra) : undefined;
setTimeout(() => {
  console.log(JSON.stringify({ error: 'timeout' }));
  process.exit(1);
}, 15000).unref();

// The codec's own encoder and decoders, from the build the tests run against.
const { encodeAddress, bytesToIPv4, bytesToIPv6 } = await import(new URL('../../dist/src/protocol/address.js', import.meta.url).href);

function decodeAddress(buf, offset) {
  const atyp = buf[offset];
  if (atyp === 1) return { host: bytesToIPv4(buf.subarray(offset + 1, offset + 5)), port: buf.readUInt16BE(offset + 5), end: offset + 7 };
  if (atyp === 4) return { host: bytesToIPv6(buf.subarray(offset + 1, offset + 17)), port: buf.readUInt16BE(offset + 17), end: offset + 19 };
  const len = buf[offset + 1];
  return { host: buf.toString('utf8', offset + 2, offset + 2 + len), port: buf.readUInt16BE(offset + 2 + len), end: offset + 4 + len };
}

/** Open a control connection, do the greeting and one request; resolves with the socket and the parsed reply. */
function request(cmd, h, p) {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = connect({ host: proxyHost, port: Number(proxyPort), ...(source ? { localAddress: source } : {}) });
    // A reset before any reply is how a demoted standby turns clients away: report it as "closed".
    socket.on('error', (err) => (err.code === 'ECONNRESET' ? resolve({ socket, code: 'closed' }) : reject(err)));
    let buf = Buffer.alloc(0);
    socket.write(Buffer.concat([Buffer.from([5, 1, 0, 5, cmd, 0]), encodeAddress(h, p)]));
    const onData = (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 2 + 5) return;
      const reply = buf.subarray(2);
      const needed = reply[3] === 1 ? 10 : reply[3] === 4 ? 22 : 7 + reply[4];
      if (reply.length < needed) return;
      socket.off('data', onData);
      const bound = decodeAddress(reply, 3);
      resolve({ socket, code: reply[1].toString(16).padStart(2, '0'), ms: performance.now() - started, bound: { host: bound.host, port: bound.port }, rest: reply.subarray(bound.end) });
    };
    socket.on('data', onData);
    socket.on('close', () => resolve({ socket, code: 'closed', ms: performance.now() - started }));
  });
}

if (command === 'probe') {
  const r = await request(1, host, port);
  console.log(JSON.stringify({ code: r.code, ms: Math.round(r.ms) }));
  r.socket.destroy();
} else if (command === 'connect') {
  const r = await request(1, host, port);
  if (r.code !== '00') {
    console.log(JSON.stringify({ code: r.code }));
    process.exit(0);
  }
  r.socket.write('who am i');
  const answer = await new Promise((resolve) => r.socket.once('data', (d) => resolve(d.toString())));
  console.log(JSON.stringify({ code: r.code, bound: r.bound, answer }));
  r.socket.destroy();
} else if (command === 'bind') {
  const r = await request(2, '0.0.0.0', 0);
  console.log(JSON.stringify({ code: r.code, bound: r.bound }));
  r.socket.destroy();
} else if (command === 'udp') {
  const r = await request(3, '0.0.0.0', 0);
  if (r.code !== '00') {
    console.log(JSON.stringify({ code: r.code, ms: Math.round(r.ms) }));
    process.exit(0);
  }
  const udp = createSocket(isIPv6(r.bound.host) ? 'udp6' : 'udp4');
  if (quietMs !== undefined) {
    setTimeout(() => {
      console.log(JSON.stringify({ code: r.code, relay: r.bound, answer: null }));
      process.exit(0);
    }, quietMs).unref();
  }
  udp.on('message', (msg, rinfo) => {
    const sender = decodeAddress(msg, 3);
    console.log(JSON.stringify({ code: r.code, relay: r.bound, from: { host: rinfo.address, port: rinfo.port }, sender: { host: sender.host, port: sender.port }, answer: msg.subarray(sender.end).toString() }));
    udp.close();
    r.socket.destroy();
  });
  udp.send(Buffer.concat([Buffer.from([0, 0, 0]), encodeAddress(host, port), Buffer.from('who am i')]), r.bound.port, r.bound.host);
} else if (command === 'udp-held') {
  const r = await request(3, '0.0.0.0', 0);
  if (r.code !== '00') {
    console.log(JSON.stringify({ code: r.code }));
    process.exit(0);
  }
  r.socket.on('error', () => undefined);
  r.socket.on('close', () => {
    console.log(JSON.stringify({ code: r.code, ended: true }));
    process.exit(0);
  });
} else {
  console.error('usage: socks-client.mjs probe|connect|udp|udp-held|bind PROXY PORT [HOST PORT]');
  process.exit(2);
}
