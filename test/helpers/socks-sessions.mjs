#!/usr/bin/env node
// SOCKS5 clients for test/world-faults.test.ts, run inside the client
// namespace of a lab (the jest process has no route there), in a process of
// their own so that a thousand sockets do not count against a jest worker.
//
//   burst PROXY PORT COUNT DEAD_HOST DEAD_PORT LIVE_HOST LIVE_PORT
//     COUNT clients CONNECT to DEAD_HOST:DEAD_PORT at once. Prints {"requested":COUNT}
//     once every request is written; then, until the last of them has its
//     reply, CONNECTs one after another to LIVE_HOST:LIVE_PORT (an echo
//     server) and checks an echo through each. Last line:
//     {"codes":{"06":N,...},"ms":[...],"live":{"ok":N,"failed":[...],"ms":[...]}}
//     ms: from each request's write to its reply; live.ms: a whole echo session.
//   hold PROXY PORT HOST DPORT
//     One CONNECT session held open: prints {"code":"00"}, then for each line
//     on stdin writes it through the session and prints {"sent":LINE,"answer":"..."}
//     (or {"sent":LINE,"closed":true} if the session has ended). A line "!end TEXT" writes TEXT,
//     then a FIN, and prints {"sent":"TEXT","ended":true} without waiting. Exits when stdin closes.
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';

const [command, proxyHost, proxyPort, ...rest] = process.argv.slice(2);
const { encodeAddress } = await import(new URL('../../dist/src/protocol/address.js', import.meta.url).href);

/** A socket to the proxy with greeting and CONNECT written at once; `reply` resolves with the reply code ("closed" if none) and when it came. */
function request(host, port) {
  const socket = connect({ host: proxyHost, port: Number(proxyPort) });
  let sentAt = 0;
  const reply = new Promise((resolve) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      // Method reply (2) + a CONNECT reply with an IPv4 (10) or IPv6 (22) address.
      if (buffered.length < 2 + 5) return;
      const needed = 2 + (buffered[5] === 4 ? 22 : 10);
      if (buffered.length < needed) return;
      socket.off('data', onData);
      const rest = buffered.subarray(needed);
      if (rest.length > 0) socket.unshift(rest);
      resolve({ code: buffered[3].toString(16).padStart(2, '0'), ms: performance.now() - sentAt });
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ code: 'closed', ms: performance.now() - sentAt }));
  });
  const written = new Promise((resolve) =>
    socket.once('connect', () => {
      sentAt = performance.now();
      socket.write(Buffer.concat([Buffer.from([5, 1, 0, 5, 1, 0]), encodeAddress(host, port)]), resolve);
    }),
  );
  return { socket, reply, written };
}

/** One CONNECT through the proxy and one echo back; resolves with the session's time, rejects with why it failed. */
async function echoSession(host, port) {
  const started = performance.now();
  const { socket, reply } = request(host, Number(port));
  try {
    const { code } = await reply;
    if (code !== '00') throw new Error(`reply ${code}`);
    const back = new Promise((resolve) => {
      socket.once('data', (data) => resolve(data.toString()));
      socket.once('close', () => resolve('(closed)'));
    });
    socket.write('live?');
    const answer = await back;
    if (answer !== 'live?') throw new Error(`echo came back as ${answer}`);
    return performance.now() - started;
  } finally {
    socket.destroy();
  }
}

if (command === 'burst') {
  const [count, deadHost, deadPort, liveHost, livePort] = rest;
  const clients = Array.from({ length: Number(count) }, () => request(deadHost, Number(deadPort)));
  await Promise.all(clients.map((c) => c.written));
  console.log(JSON.stringify({ requested: clients.length }));
  let waiting = true;
  const replies = Promise.all(
    clients.map(async (c) => {
      const r = await c.reply;
      c.socket.destroy();
      return r;
    }),
  ).finally(() => (waiting = false));
  const live = { ok: 0, failed: [], ms: [] };
  while (waiting) {
    try {
      live.ms.push(Math.round(await echoSession(liveHost, livePort)));
      live.ok++;
    } catch (err) {
      live.failed.push(String(err.message ?? err));
    }
  }
  const codes = {};
  const ms = [];
  for (const r of await replies) {
    codes[r.code] = (codes[r.code] ?? 0) + 1;
    ms.push(Math.round(r.ms));
  }
  console.log(JSON.stringify({ codes, ms, live }));
} else if (command === 'hold') {
  const [host, port] = rest;
  const { socket, reply } = request(host, Number(port));
  const { code } = await reply;
  console.log(JSON.stringify({ code }));
  let ended = code !== '00';
  socket.on('close', () => (ended = true));
  for await (const line of createInterface({ input: process.stdin })) {
    if (ended) {
      console.log(JSON.stringify({ sent: line, closed: true }));
      continue;
    }
    if (line.startsWith('!end ')) {
      socket.end(line.slice('!end '.length));
      ended = true;
      console.log(JSON.stringify({ sent: line.slice('!end '.length), ended: true }));
      continue;
    }
    const answer = await new Promise((resolve) => {
      const onData = (data) => {
        socket.off('close', onClose);
        resolve({ sent: line, answer: data.toString() });
      };
      const onClose = () => {
        socket.off('data', onData);
        resolve({ sent: line, closed: true });
      };
      socket.once('data', onData);
      socket.once('close', onClose);
      socket.write(line);
    });
    console.log(JSON.stringify(answer));
  }
  socket.destroy();
} else {
  console.error(`usage: socks-sessions.mjs burst|hold PROXY PORT ...`);
  process.exit(2);
}
