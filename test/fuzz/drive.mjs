// One handshake against a live proxy, judged by the oracle; and the servers
// the proxies are allowed (or not) to reach.
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';
import { setImmediate as tick } from 'node:timers/promises';
import { chunking, generate } from './generate.mjs';
import { hex, matches } from './oracle.mjs';
import { Rng } from './rng.mjs';
import { NEGOTIATE_S } from './proxies.mjs';

const NEGOTIATE_MS = NEGOTIATE_S * 1000;
/** No reply and no close this long after the last byte written is a hang: twice the negotiate timeout and more. */
export const HANG_MS = NEGOTIATE_MS + 4000;
/** An incomplete handshake is watched this long for a reply or close it must not get. */
const OBSERVE_MS = 150;
/** The share of incomplete handshakes left to run into the negotiate timeout. */
const TIMEOUT_SAMPLE = 0.02;
const FOLLOW_UP_MS = 5000;
/** Loopback delivers a datagram in well under a millisecond; this much is for a loaded machine. */
const UDP_ARRIVAL_MS = 2000;

/** A client connection that records what the proxy sent and whether it closed. */
class Conn {
  constructor(socket) {
    this.socket = socket;
    this.chunks = [];
    this.length = 0;
    this.serverClosed = false;
    this.closedAt = undefined;
    this.mine = false;
    this.waiter = undefined;
    socket.on('data', (c) => {
      this.chunks.push(c);
      this.length += c.length;
      this.cachedHex = undefined;
      this.kick();
    });
    const closed = () => {
      if (!this.mine && !this.serverClosed) {
        this.serverClosed = true;
        this.closedAt = Date.now();
      }
      this.kick();
    };
    socket.on('end', closed);
    socket.on('error', (err) => (this.error = err.code));
    socket.on('close', closed);
  }

  get bytes() {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  hex() {
    return (this.cachedHex ??= this.bytes.toString('hex'));
  }

  kick() {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** True on the next event, false after `ms` without one. */
  next(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve(false);
      }, Math.max(0, ms));
      this.waiter = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  async until(ready, ms) {
    const deadline = Date.now() + ms;
    while (!ready()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await this.next(left);
    }
    return true;
  }

  write(bytes) {
    if (!this.socket.destroyed && !this.serverClosed) this.socket.write(bytes);
  }

  destroy() {
    this.mine = true;
    this.socket.destroy();
  }
}

function open(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const socket = connect({ port, host, allowHalfOpen: true, noDelay: true });
    const conn = new Conn(socket);
    // A listener whose accept queue stays full drops SYNs, and connect() would retry for minutes.
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ error: `no connection within ${HANG_MS} ms` });
    }, HANG_MS);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve({ conn });
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      resolve({ error: err.code ?? String(err) });
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Can `h` (received so far) still turn into candidate `c`? */
function viable(c, h) {
  if (h.length < c.out.length) return matches(c.out.slice(0, h.length), h);
  if (c.end === 'close' || c.end === 'wait') return h.length === c.out.length && matches(c.out, h);
  return matches(c.out, h.slice(0, c.out.length));
}

/**
 * Watch the connection until one candidate outcome holds, or none can.
 * Returns { ok: candidate } | { wrong: why } | { hang: true }.
 */
async function judge(conn, candidates, lastWrite) {
  let deadline = lastWrite + HANG_MS;
  let graced = false;
  for (;;) {
    const h = conn.hex();
    let waiting;
    for (const c of candidates) {
      if (c.end === 'close') {
        if (conn.serverClosed && matches(c.out, h)) return { ok: c };
      } else if (c.end === 'wait') {
        if (!conn.serverClosed && matches(c.out, h)) waiting = c;
      } else if (h.length >= c.out.length && matches(c.out, h.slice(0, c.out.length))) return { ok: c };
    }
    if (waiting) {
      if (!(await conn.next(OBSERVE_MS))) return { ok: waiting };
      continue;
    }
    if (conn.serverClosed) return { wrong: 'closed' };
    if (!candidates.some((c) => viable(c, h))) return { wrong: 'mismatch' };
    if (Date.now() >= deadline) {
      // One last look, for a close already on its way when the deadline came.
      if (graced) return { hang: true };
      graced = true;
      deadline += 500;
    }
    await conn.next(deadline - Date.now());
  }
}

const port16 = (n) => n.toString(16).padStart(4, '0');

/**
 * The fuzzing context shared by all handshakes: the proxies, the oracle,
 * the targets, and the tallies of what went wrong.
 */
export class Fuzz {
  constructor({ seed, targets, oracle, ports, user, pass, results, servers }) {
    Object.assign(this, { seed, targets, oracle, ports, user, pass, results, servers });
  }

  wrong(record, cls, detail) {
    const r = this.results;
    r.wrong++;
    r.wrongByClass[cls] = (r.wrongByClass[cls] ?? 0) + 1;
    const examples = (r.wrongExamples[cls] ??= []);
    if (examples.length < 3) examples.push(this.describe(record, detail));
  }

  hang(record, detail) {
    const r = this.results;
    r.hangs++;
    r.hangByClass[record.pred.cls] = (r.hangByClass[record.pred.cls] ?? 0) + 1;
    if (r.hangExamples.length < 10) r.hangExamples.push(this.describe(record, detail));
  }

  describe(record, detail) {
    const { index, target, hs, pred, plan, conn } = record;
    return {
      index,
      proxy: target.name,
      label: hs.label,
      input: hs.bytes.toString('hex'),
      chunks: plan.map(([c, d]) => (d ? `${c.length}+${d}ms` : c.length)).join(' '),
      expected: [pred, ...(pred.alts ?? [])].map((c) => `${c.cls}: ${c.out || '(nothing)'} then ${c.end}`),
      got: `${conn ? conn.hex() || '(nothing)' : '-'}${conn?.serverClosed ? ' then closed' : ' (open)'}`,
      datagrams: hs.udp?.map(hex),
      ...detail,
    };
  }

  /** Run handshake number `index` (its bytes, chunking and follow-ups all come from (seed, index)). */
  async runOne(index) {
    const target = this.targets[index % this.targets.length];
    if (target.proxy.exited) {
      this.results.skipped++;
      return;
    }
    const rng = new Rng(this.seed, index);
    const hs = generate(rng, target.ctx);
    const plan = chunking(rng, hs.bytes);
    const sampleTimeout = rng.chance(TIMEOUT_SAMPLE);
    await this.run(target, index, hs, plan, sampleTimeout);
  }

  /** A handshake made by hand (the warm-up's), sent whole. */
  runCrafted(target, label, bytes) {
    return this.run(target, -1, { kind: 'crafted', label, bytes }, [[bytes, 0]], false);
  }

  async run(target, index, hs, plan, sampleTimeout) {
    const stats = this.results.perTarget[target.name];
    const pred = await this.oracle.predict(hs.bytes, target.methods);
    const record = { index, target, hs, pred, plan, conn: undefined };
    stats.handshakes++;
    this.results.handshakes++;
    this.results.byKind[hs.kind] = (this.results.byKind[hs.kind] ?? 0) + 1;
    if (pred.scrypt) this.results.failedPasswordChecks++;
    // From before the connect: the proxy's negotiate timer starts at its accept, which may come first.
    const started = Date.now();
    const opened = await open(target.proxy.port);
    if (opened.error) {
      if (!target.proxy.exited) this.wrong(record, 'connect-to-proxy-failed', { error: opened.error });
      return;
    }
    const conn = (record.conn = opened.conn);
    target.inflight.add(record);
    let outcome;
    try {
      for (const [chunk, delay] of plan) {
        if (conn.serverClosed) break;
        conn.write(chunk);
        if (delay > 0) await sleep(delay);
        else await tick();
      }
      const lastWrite = Date.now();
      const candidates = [pred, ...(pred.alts ?? [])];
      const verdict = await judge(conn, candidates, lastWrite);
      if (!verdict.ok) {
        // A client slower than timeout.negotiate is rightly closed: when this
        // one took most of that time just to write, the run was too loaded to judge it.
        if (lastWrite - started > NEGOTIATE_MS * 0.75 && conn.serverClosed) {
          this.results.inconclusive++;
          return;
        }
        const atTimeout = conn.serverClosed && conn.closedAt - started >= NEGOTIATE_MS * 0.9 && conn.closedAt - started < NEGOTIATE_MS + 1500;
        const note = atTimeout ? `closed ${conn.closedAt - started} ms after connecting, as timeout.negotiate would, ${lastWrite - started} ms after the first byte was due` : verdict.wrong;
        if (verdict.hang) return this.hang(record, { note: 'no expected reply and no close' });
        return this.wrong(record, atTimeout ? `${pred.cls}.timeout-before-reply` : pred.cls, { note });
      }
      outcome = verdict.ok;
      this.results.outcomes[outcome.end] = (this.results.outcomes[outcome.end] ?? 0) + 1;
      if (outcome !== pred) this.results.alternatives[`${pred.cls} -> ${outcome.cls}`] = (this.results.alternatives[`${pred.cls} -> ${outcome.cls}`] ?? 0) + 1;
      if (outcome.end === 'wait' && sampleTimeout) await this.negotiateTimeout(record, outcome, started, lastWrite);
      else if (outcome.end === 'relay') await this.relay(record, outcome);
      else if (outcome.end === 'bind') await this.bind(record, outcome);
      else if (outcome.end === 'udp') await this.udp(record, outcome);
    } finally {
      target.inflight.delete(record);
      conn.destroy();
      const key = outcome ? outcome.end : 'judged wrong';
      const t = (this.results.timing[key] ??= { n: 0, ms: 0 });
      t.n++;
      t.ms += Date.now() - started;
      if (this.verbose) console.log(`fuzz: ${JSON.stringify(this.describe(record), null, 2)}`);
    }
  }

  /** An incomplete handshake left alone: the proxy closes it after timeout.negotiate, sending nothing more. */
  async negotiateTimeout(record, outcome, started, lastWrite) {
    const { conn } = record;
    this.results.timeoutChecks++;
    const closed = await conn.until(() => conn.serverClosed, lastWrite + HANG_MS - Date.now());
    if (!closed) return this.hang(record, { note: `not closed ${HANG_MS} ms after the last byte (timeout.negotiate ${NEGOTIATE_MS} ms)` });
    const after = conn.closedAt - started;
    const h = conn.hex();
    if (matches(outcome.out, h)) {
      if (after < NEGOTIATE_MS * 0.9) this.wrong(record, 'negotiate-timeout.early', { note: `closed after ${after} ms, timeout.negotiate is ${NEGOTIATE_MS} ms` });
      return;
    }
    // The proxy noticed an error in the incomplete request after all (late, under load): an outcome the spec allows.
    const late = (record.pred.alts ?? []).find((c) => c.end === 'close' && matches(c.out, h));
    if (late) this.results.alternatives[`${record.pred.cls} -> ${late.cls}`] = (this.results.alternatives[`${record.pred.cls} -> ${late.cls}`] ?? 0) + 1;
    else this.wrong(record, 'negotiate-timeout.sent-bytes', { note: `closed after ${after} ms with bytes` });
  }

  /** CONNECT granted: the reply names the dial's local port; early data then a probe come back from the echo target, in order. */
  async relay(record, outcome) {
    const { conn, index, pred } = record;
    const replyEnd = outcome.out.length / 2;
    const bound = outcome.version === 5 ? conn.bytes.readUInt16BE(replyEnd - 2) : conn.bytes.readUInt16BE(replyEnd - 6);
    this.servers.granted(bound);
    const probe = Buffer.from(`probe-${index}`);
    conn.write(probe);
    const want = Buffer.concat([outcome.early, probe]);
    await conn.until(() => conn.length >= replyEnd + want.length || conn.serverClosed, FOLLOW_UP_MS);
    const got = conn.bytes.subarray(replyEnd);
    if (!got.equals(want)) this.wrong(record, `${pred.cls}.relay`, { note: `echo ${hex(got)} != ${hex(want)}` });
  }

  /** BIND granted: sometimes a peer connects; the second reply names it and bytes flow both ways. */
  async bind(record, outcome) {
    const { conn, hs, pred } = record;
    const replyEnd = outcome.out.length / 2;
    const listening = outcome.version === 5 ? conn.bytes.readUInt16BE(replyEnd - 2) : conn.bytes.readUInt16BE(replyEnd - 6);
    if (!hs.peer || outcome.early.length > 0) return;
    this.results.bindPeers++;
    const opened = await open(listening);
    if (opened.error) return this.wrong(record, `${pred.cls}.peer-connect`, { note: `peer could not connect to ${listening}: ${opened.error}` });
    const peer = opened.conn;
    try {
      const second = outcome.version === 5 ? `050000017f000001${port16(peer.socket.localPort)}` : `005a${port16(peer.socket.localPort)}7f000001`;
      const secondEnd = replyEnd + second.length / 2;
      await conn.until(() => conn.length >= secondEnd || conn.serverClosed, FOLLOW_UP_MS);
      const got = conn.hex().slice(replyEnd * 2);
      if (!matches(second, got)) return this.wrong(record, `${pred.cls}.second-reply`, { note: `second reply ${got} != ${second}` });
      conn.write(Buffer.from('to-peer'));
      peer.write(Buffer.from('to-client'));
      // Each side's wait wakes on its own socket's events.
      const flowed = (await conn.until(() => conn.length >= secondEnd + 9, FOLLOW_UP_MS)) && (await peer.until(() => peer.length >= 7, FOLLOW_UP_MS));
      if (!flowed || peer.bytes.toString() !== 'to-peer' || conn.bytes.subarray(secondEnd).toString() !== 'to-client') {
        this.wrong(record, `${pred.cls}.bind-relay`, { note: `peer got ${hex(peer.bytes)}, client got ${hex(conn.bytes.subarray(secondEnd))}` });
      }
    } finally {
      peer.destroy();
    }
  }

  /** UDP ASSOCIATE granted: send the planned datagrams; exactly the allowed ones must reach the UDP target. */
  async udp(record, outcome) {
    const { conn, hs, pred } = record;
    if (!hs.udp) return;
    const relayPort = conn.bytes.readUInt16BE(outcome.out.length / 2 - 2);
    const socket = createSocket('udp4');
    const replyPrefix = `000000017f000001${port16(this.ports.U)}`;
    socket.on('message', (msg) => {
      this.results.udp.replies++;
      if (!msg.toString('hex').startsWith(replyPrefix)) this.wrong(record, 'udp.reply-header', { note: `reply ${hex(msg)}` });
    });
    await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const waits = [];
    try {
      for (const datagram of hs.udp) {
        const verdict = await this.oracle.predictDatagram(datagram);
        this.results.udp.sent++;
        if (verdict.forward) {
          this.results.udp.mustForward++;
          waits.push({ datagram, payload: verdict.forward, why: verdict.why, arrived: this.servers.expectUdp(verdict.forward, record, datagram) });
        } else {
          if (verdict.unsure) this.results.udp.unsure++;
          else this.results.udp.mustDrop++;
          this.servers.noteUdp(datagram, record, verdict);
        }
        socket.send(datagram, relayPort, '127.0.0.1');
        await tick();
      }
      const deadline = sleep(UDP_ARRIVAL_MS).then(() => false);
      for (const w of waits) {
        if (!(await Promise.race([w.arrived, deadline]))) {
          this.results.udp.missing++;
          this.servers.forgetUdp(w.payload);
          this.wrong(record, `udp.missing.${w.why}`, { note: `datagram ${hex(w.datagram)} was not forwarded to the UDP target` });
        }
      }
    } finally {
      socket.close();
    }
    void pred;
  }
}

/**
 * The servers: the echo target (127.0.0.1:T) the rules pass, traps the
 * rules block (127.0.0.2:T, [::1]:T, 127.0.0.1:B; UDP the same on U), and
 * the UDP target (127.0.0.1:U), which echoes. Every dial and datagram that
 * reaches them is accounted for.
 */
export async function startServers(ports, results) {
  const { T, U, B } = ports;
  const closers = [];
  const listen = (host, port, onConn) =>
    new Promise((resolve, reject) => {
      const server = createServer({ allowHalfOpen: false }, onConn);
      server.once('error', reject);
      server.listen({ host, port, backlog: 4096, ipv6Only: host.includes(':') }, () => resolve(server));
      closers.push(() => server.close());
    });
  const sockets = new Set();
  // The echo target. A dial is matched by its source port to a granted reply's BND.PORT.
  const unmatchedDials = new Map();
  const unmatchedGrants = new Map();
  await listen('127.0.0.1', T, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.pipe(s);
    const port = s.remotePort;
    if (unmatchedGrants.has(port)) unmatchedGrants.delete(port);
    else unmatchedDials.set(port, Date.now());
  });
  const trap = (what) => (s) => {
    results.blockedDials++;
    if (results.blockedDialExamples.length < 10) results.blockedDialExamples.push(`${what} from ${s.remoteAddress}:${s.remotePort}`);
    s.on('error', () => undefined);
    s.destroy();
  };
  await listen('127.0.0.2', T, trap(`127.0.0.2:${T}`));
  await listen('::1', T, trap(`[::1]:${T}`));
  await listen('127.0.0.1', B, trap(`127.0.0.1:${B}`));

  // UDP: payloads that must arrive (several sessions may wait on the same
  // bytes, an empty payload for one), and the recent datagrams, to name the
  // one behind anything that arrives unexpected.
  const expected = new Map();
  const recent = [];
  const udp = (type, host, port, onMessage) =>
    new Promise((resolve) => {
      const socket = createSocket({ type, ipv6Only: type === 'udp6' });
      socket.on('message', (msg, from) => onMessage(msg, from, socket));
      socket.bind(port, host, () => resolve(socket));
      closers.push(() => socket.close());
    });
  const origin = (msg) => {
    for (let i = recent.length - 1; i >= 0; i--) {
      const d = recent[i].datagram;
      if (d.length >= msg.length && d.subarray(d.length - msg.length).equals(msg)) return recent[i];
    }
    return undefined;
  };
  const unexpected = (where, msg) => {
    const from = origin(msg);
    if (from?.verdict.unsure) {
      results.udp.unsureArrived++;
      return;
    }
    results.udp.leaked++;
    const cls = from ? `udp.leak.${from.verdict.drop ?? 'forward-elsewhere'}` : 'udp.leak.unknown';
    results.udp.leakByClass[cls] = (results.udp.leakByClass[cls] ?? 0) + 1;
    if (results.udp.leakExamples.filter((e) => e.cls === cls).length < 3) {
      results.udp.leakExamples.push({ cls, where, payload: msg.toString('hex'), datagram: from ? hex(from.datagram) : '(unknown)', oracle: from?.verdict, index: from?.record.index, proxy: from?.record.target.name });
    }
  };
  await udp('udp4', '127.0.0.1', U, (msg, from, socket) => {
    const key = msg.toString('hex');
    const waiting = expected.get(key);
    if (waiting) {
      waiting.shift()();
      if (waiting.length === 0) expected.delete(key);
    } else unexpected(`127.0.0.1:${U}`, msg);
    socket.send(msg, from.port, from.address);
  });
  for (const [type, host, port] of [['udp4', '127.0.0.2', U], ['udp6', '::1', U], ['udp4', '127.0.0.1', B]]) {
    await udp(type, host, port, (msg) => unexpected(`${host}:${port}`, msg));
  }
  const note = (datagram, record, verdict) => {
    recent.push({ datagram, record, verdict });
    if (recent.length > 20000) recent.splice(0, 10000);
  };

  return {
    granted(port) {
      if (unmatchedDials.has(port)) unmatchedDials.delete(port);
      else unmatchedGrants.set(port, Date.now());
    },
    expectUdp(payload, record, datagram) {
      note(datagram, record, { forward: true });
      const key = payload.toString('hex');
      return new Promise((resolve) => {
        const list = expected.get(key);
        if (list) list.push(() => resolve(true));
        else expected.set(key, [() => resolve(true)]);
      });
    },
    noteUdp: note,
    forgetUdp(payload) {
      const key = payload.toString('hex');
      const list = expected.get(key);
      list?.shift();
      if (list?.length === 0) expected.delete(key);
    },
    /** Dials the oracle did not grant, and grants that named a port no dial came from; after the run has settled. */
    unmatched() {
      return { dials: [...unmatchedDials.keys()], grants: [...unmatchedGrants.keys()] };
    },
    openTargetSockets: () => sockets.size,
    close() {
      for (const s of sockets) s.destroy();
      for (const c of closers) c();
    },
  };
}
