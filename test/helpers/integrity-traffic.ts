// Checksummed SOCKS5 traffic for fault tests: many sessions at once move
// random data both ways through the proxy, and both ends check every byte,
// so a fault's effect on each session is known exactly: intact, cut (and how
// each side saw the cut), corrupted, or truncated yet taken for whole. Used
// in this process by test/integrity.test.ts, and in a namespace of the
// cluster lab through integrity-traffic-run.ts.
import { type Cipher, createCipheriv, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type AddressInfo, type Socket, connect, createServer } from 'node:net';
import { formatEndpoint, unmapIPv4 } from '../../src/protocol/address.js';
import { socks5Request } from './net.js';

/**
 * Each session's framing, inside the SOCKS tunnel:
 *   client -> target: header (magic, id, key, up length, down length), then the up stream, then FIN;
 *   target -> client: the down stream, then once the client's FIN is in, a verdict on the up stream, then FIN.
 * Both streams are AES-128-CTR keystreams under the session's key, so the
 * receiver regenerates what it should get and compares every byte as it
 * arrives: a check as strong as a hash that also says where a stream went
 * wrong, without holding the stream.
 */
const MAGIC = 0x48534954;
export const HEADER_BYTES = 32;
export const VERDICT_BYTES = 8;
/** The verdict's status: the whole up stream came and matched. */
const VERDICT_WHOLE = 0;
/** A byte differed, or more came than announced. */
const VERDICT_MISMATCH = 1;
/** The client's FIN came before the announced length. */
const VERDICT_SHORT = 2;

const CHUNK = 64 * 1024;
const ZEROS = Buffer.alloc(CHUNK);
/** The most a session sends up with its SOCKS request, before the reply (the proxy's early data path). */
const EARLY_MAX = 16 * 1024;

export type Direction = 'up' | 'down' | 'both';

class Keystream {
  private readonly cipher: Cipher;

  constructor(key: Buffer, direction: 'up' | 'down') {
    const iv = Buffer.alloc(16);
    iv[0] = direction === 'up' ? 1 : 2;
    this.cipher = createCipheriv('aes-128-ctr', key, iv);
  }

  next(length: number): Buffer {
    return this.cipher.update(length <= ZEROS.length ? ZEROS.subarray(0, length) : Buffer.alloc(length));
  }
}

/** One direction's check: `matches` turns false at the first wrong byte, or at a byte beyond the announced length. */
class StreamCheck {
  received = 0;
  matches = true;
  private readonly expected: Keystream;

  constructor(
    readonly length: number,
    key: Buffer,
    direction: 'up' | 'down',
  ) {
    this.expected = new Keystream(key, direction);
  }

  take(chunk: Buffer): void {
    if (this.matches) this.matches = chunk.length <= this.length - this.received && chunk.equals(this.expected.next(chunk.length));
    this.received += chunk.length;
  }

  get whole(): boolean {
    return this.matches && this.received === this.length;
  }
}

/** Resolves when `socket` can take more, or has closed. */
function drainedOrClosed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/** Write `length` bytes of `stream` with backpressure; `sent` hears of every chunk handed to the socket. Stops early if the socket closes. */
async function send(socket: Socket, stream: Keystream, length: number, sent: (bytes: number) => void): Promise<void> {
  for (let left = length; left > 0 && !socket.destroyed; ) {
    const chunk = stream.next(Math.min(CHUNK, left));
    left -= chunk.length;
    sent(chunk.length);
    if (!socket.write(chunk)) await drainedOrClosed(socket);
  }
}

/** What the target saw of one session. */
export interface TargetView {
  readonly id: number;
  readonly upLength: number;
  readonly downLength: number;
  upReceived: number;
  upMatches: boolean;
  /** The client's FIN came through. */
  upEnded: boolean;
  /** Bytes of the down stream handed to the socket. */
  downSent: number;
  verdictSent: boolean;
  /** 'closed': FIN both ways and no error; 'reset': anything else. */
  end: 'open' | 'closed' | 'reset';
}

export interface IntegrityTarget {
  readonly host: string;
  readonly port: number;
  /** By session id. */
  readonly sessions: Map<number, TargetView>;
  /** Connections that ended before a whole header came: a session cut that early. */
  readonly headerless: () => number;
  close(): Promise<void>;
}

/** The far end of the traffic: checks each up stream, sends each down stream, and says what it got. */
export async function startIntegrityTarget(host: string, port = 0): Promise<IntegrityTarget> {
  const sessions = new Map<number, TargetView>();
  const sockets = new Set<Socket>();
  let headerless = 0;
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    let failed = false;
    socket.on('error', () => (failed = true));
    let header = Buffer.alloc(0);
    let view: TargetView | undefined;
    let check: StreamCheck | undefined;
    let downDone = false;
    const finish = (): void => {
      if (!view || !check || !downDone || !view.upEnded || view.verdictSent || socket.destroyed) return;
      const verdict = Buffer.alloc(VERDICT_BYTES);
      verdict.writeUInt32BE(check.whole ? VERDICT_WHOLE : check.matches ? VERDICT_SHORT : VERDICT_MISMATCH, 0);
      verdict.writeUInt32BE(check.received, 4);
      view.verdictSent = true;
      socket.end(verdict);
    };
    socket.on('data', (chunk: Buffer) => {
      if (!view) {
        header = Buffer.concat([header, chunk]);
        if (header.length < HEADER_BYTES) return;
        if (header.readUInt32BE(0) !== MAGIC) {
          socket.destroy();
          return;
        }
        const key = header.subarray(8, 24);
        const created: TargetView = {
          id: header.readUInt32BE(4),
          upLength: header.readUInt32BE(24),
          downLength: header.readUInt32BE(28),
          upReceived: 0,
          upMatches: true,
          upEnded: false,
          downSent: 0,
          verdictSent: false,
          end: 'open',
        };
        view = created;
        sessions.set(created.id, created);
        check = new StreamCheck(created.upLength, key, 'up');
        void send(socket, new Keystream(key, 'down'), created.downLength, (bytes) => (created.downSent += bytes)).then(() => {
          downDone = true;
          finish();
        });
        chunk = header.subarray(HEADER_BYTES);
      }
      if (chunk.length === 0) return;
      check!.take(chunk);
      view.upReceived = check!.received;
      view.upMatches = check!.matches;
    });
    socket.on('end', () => {
      if (!view) return;
      view.upEnded = true;
      finish();
    });
    socket.on('close', () => {
      sockets.delete(socket);
      if (!view) headerless++;
      else view.end = !failed && view.upEnded && view.verdictSent ? 'closed' : 'reset';
    });
  });
  server.listen(port, host);
  await once(server, 'listening');
  return {
    host,
    port: (server.address() as AddressInfo).port,
    sessions,
    headerless: () => headerless,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** What the client saw of one session. */
export interface ClientView {
  readonly id: number;
  readonly direction: Direction;
  readonly upLength: number;
  readonly downLength: number;
  /** The header and the first up bytes went with the SOCKS request, before the reply. */
  readonly early: boolean;
  /** The client's address and port as the proxy logs them. */
  source: string;
  readonly startedAt: number;
  /** 0 while the session is open. */
  endedAt: number;
  /** Bytes from the proxy, SOCKS replies included. */
  received: number;
  /** A SOCKS answer other than "no authentication" and "succeeded". */
  socksFailure: string | undefined;
  upSent: number;
  downReceived: number;
  /** False at the first wrong byte, or a byte after the verdict. */
  downMatches: boolean;
  verdict: { status: number; received: number } | undefined;
  /** The proxy's FIN came. */
  finSeen: boolean;
  /** The socket's error (ECONNRESET, EPIPE), if one ended it. */
  error: string | undefined;
  /** Nothing moved either way for the stall time: the client gave up. */
  stalled: boolean;
}

export type Outcome = 'intact' | 'cut' | 'unanswered' | 'corrupted' | 'truncated-but-whole' | 'stalled' | 'socks-failure';

/**
 * What happened to a session, from both ends' views. A session is whole to
 * the client only when the whole down stream came, then the target's
 * verdict that the whole up stream came, then FIN; anything less is a cut,
 * unless a byte was wrong. The ends must agree: a client that takes a
 * session for whole while the target did not get or send all of it is a
 * truncation reported as whole.
 */
export function outcomeOf(client: ClientView, target: TargetView | undefined): Outcome {
  if (client.stalled) return 'stalled';
  if (client.socksFailure !== undefined) return 'socks-failure';
  if (!client.downMatches || target?.upMatches === false || client.verdict?.status === VERDICT_MISMATCH) return 'corrupted';
  const clientWhole = client.downReceived === client.downLength && client.verdict?.status === VERDICT_WHOLE && client.verdict.received === client.upLength && client.finSeen;
  const targetWhole = target !== undefined && target.upEnded && target.upReceived === target.upLength && target.downSent === target.downLength && target.verdictSent;
  if (clientWhole) return targetWhole ? 'intact' : 'truncated-but-whole';
  return client.received === 0 ? 'unanswered' : 'cut';
}

/** The proxy's log lines about one client session, found by the client's address and port. */
export interface ProxyRecord {
  /** The worker that served it ("workers" mode), by number and pid. */
  worker: number | undefined;
  pid: number | undefined;
  disconnect: { up: number; down: number; reason: string } | undefined;
  /** Why it ended, once a line said so: the disconnect's reason, or what ended it before a relay (a refusal, a timeout, a drain). */
  end: string | undefined;
}

/** Every client session the proxy's log mentions, by the client's "address:port". Debug lines and "pass" decisions say nothing of an end. */
export function proxySessions(log: string): Map<string, ProxyRecord> {
  const found = new Map<string, ProxyRecord>();
  const line = /^\S+ (\w+): (?:\[worker (\d+) (\d+)\] )?session \d+ (\S+): (.*)$/gm;
  for (const [, level, worker, pid, source, message] of log.matchAll(line)) {
    if (level === 'debug') continue;
    let record = found.get(source!);
    if (!record) {
      record = { worker: worker === undefined ? undefined : Number(worker), pid: pid === undefined ? undefined : Number(pid), disconnect: undefined, end: undefined };
      found.set(source!, record);
    }
    if (message!.startsWith('pass ')) continue;
    const disconnect = /^disconnect \S+: up (\d+) bytes, down (\d+) bytes, [\d.]+s, (.*)$/.exec(message!);
    if (disconnect) record.disconnect = { up: Number(disconnect[1]), down: Number(disconnect[2]), reason: disconnect[3]! };
    record.end = disconnect ? disconnect[3]! : message!;
  }
  return found;
}

/** What the proxy moves for a whole session, framing included: its disconnect line must say exactly this. */
export const wholeBytes = (client: ClientView): { up: number; down: number } => ({ up: HEADER_BYTES + client.upLength, down: client.downLength + VERDICT_BYTES });

/**
 * Whether the proxy's log tells the session's story as the ends saw it: an
 * intact session's disconnect line says "closed" with the whole byte
 * counts; a cut one ends with any other reason (a reset, an error, a drain,
 * "closed with N bytes sent but not acknowledged") and never "closed",
 * which would report a truncated session as whole. "closed" with the whole
 * counts for a cut session is told apart as 'lost beyond the proxy': every
 * byte handed to the kernel, and the tail lost in the network (a VIP that
 * left with it in flight), which the proxy's wait for acknowledgements
 * exists to report.
 */
export function proxyAgrees(client: ClientView, outcome: Outcome, record: ProxyRecord | undefined): 'agrees' | 'no end line' | 'whole but not closed' | 'closed but cut' | 'lost beyond the proxy' {
  if (record?.end === undefined) return 'no end line';
  const whole = wholeBytes(client);
  const end = record.disconnect;
  const passedAll = end?.reason === 'closed' && end.up === whole.up && end.down === whole.down;
  if (outcome === 'intact') return passedAll ? 'agrees' : 'whole but not closed';
  if (end?.reason !== 'closed') return 'agrees';
  return passedAll ? 'lost beyond the proxy' : 'closed but cut';
}

/** A small seeded generator, so a run's plan of sizes and directions can be repeated from its seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface TrafficOptions {
  readonly proxy: { readonly host: string; readonly port: number };
  readonly target: { readonly host: string; readonly port: number };
  /** Each direction's length is spread evenly on a log scale from 1 byte to this. */
  readonly maxBytes: number;
  /** Where session `id` connects from; distinct endpoints make every proxy log line name one session. */
  readonly source?: (id: number) => { localAddress?: string; localPort?: number };
  /** A session in which nothing moves either way for this long is given up as stalled. */
  readonly stallMs?: number;
  readonly seed?: number;
  /** Hears of each session as it starts and as it ends (integrity-traffic-run.ts reports them). */
  readonly onStart?: (session: ClientView) => void;
  readonly onEnd?: (session: ClientView) => void;
}

/**
 * Lanes of sessions, one after another in each lane, until the lane is
 * stopped. A session the proxy closed before answering (at session.max,
 * say) waits for another session to end before its lane tries again, as a
 * place may then be free.
 */
export class Traffic {
  readonly sessions: ClientView[] = [];
  readonly seed: number;
  private readonly random: () => number;
  private readonly open = new Set<ClientView>();
  private readonly active = new Set<number>();
  private wanted = 0;
  private nextId = 1;
  private readonly onEnd = new Set<() => void>();

  constructor(private readonly options: TrafficOptions) {
    this.seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
    this.random = mulberry32(this.seed);
  }

  /** Sessions in flight now. */
  get inFlight(): readonly ClientView[] {
    return [...this.open];
  }

  /** Lanes running now: those asked for, and those still finishing a session after being told to stop. */
  get lanes(): number {
    return this.active.size;
  }

  /** Run `lanes` lanes: more start at once; lanes beyond the number stop after their session. */
  setLanes(lanes: number): void {
    this.wanted = lanes;
    for (let lane = 0; lane < lanes; lane++) if (!this.active.has(lane)) void this.lane(lane);
  }

  /** Resolves once `check` holds, checked now and after each session's end; rejects after `timeoutMs`. */
  until(what: string, check: () => boolean, timeoutMs = 30000): Promise<void> {
    return new Promise((resolve, reject) => {
      const listener = (): void => {
        if (!check()) return;
        clearTimeout(timer);
        this.onEnd.delete(listener);
        resolve();
      };
      const timer = setTimeout(() => {
        this.onEnd.delete(listener);
        reject(new Error(`traffic: no ${what} within ${timeoutMs} ms (${this.sessions.length} sessions, ${this.open.size} in flight)`));
      }, timeoutMs);
      this.onEnd.add(listener);
      listener();
    });
  }

  /** Stop every lane after its session; resolves once all have ended. */
  async stop(): Promise<void> {
    this.setLanes(0);
    await this.until('end of every lane', () => this.active.size === 0, (this.options.stallMs ?? 10000) * 2);
  }

  private ended(): void {
    for (const listener of [...this.onEnd]) listener();
  }

  private async lane(lane: number): Promise<void> {
    this.active.add(lane);
    while (lane < this.wanted) {
      const view = await this.session();
      if (view.received === 0 && !view.stalled && this.open.size > 0) {
        const sessionsSoFar = this.sessions.length - this.open.size;
        // Not a failure of the run if it never comes: the lane just tries again.
        await this.until('session end', () => this.sessions.length - this.open.size > sessionsSoFar || this.open.size === 0 || lane >= this.wanted, 60000).catch(() => undefined);
      }
    }
    this.active.delete(lane);
    this.ended();
  }

  private length(): number {
    return Math.max(1, Math.floor(Math.exp(this.random() * Math.log(this.options.maxBytes))));
  }

  private session(): Promise<ClientView> {
    const id = this.nextId++;
    const direction = (['up', 'down', 'both'] as const)[Math.floor(this.random() * 3)]!;
    const view: ClientView = {
      id,
      direction,
      upLength: direction === 'down' ? 0 : this.length(),
      downLength: direction === 'up' ? 0 : this.length(),
      early: this.random() < 0.5,
      source: '',
      startedAt: Date.now(),
      endedAt: 0,
      received: 0,
      socksFailure: undefined,
      upSent: 0,
      downReceived: 0,
      downMatches: true,
      verdict: undefined,
      finSeen: false,
      error: undefined,
      stalled: false,
    };
    this.sessions.push(view);
    this.open.add(view);
    this.options.onStart?.(view);
    return new Promise((resolve) => {
      runSession(view, this.options, () => {
        view.endedAt = Date.now();
        this.open.delete(view);
        this.options.onEnd?.(view);
        resolve(view);
        this.ended();
      });
    });
  }
}

/** One session, from connect to close; `done` is called once, after the socket has closed. */
function runSession(view: ClientView, options: TrafficOptions, done: () => void): void {
  const key = randomBytes(16);
  const up = new Keystream(key, 'up');
  const down = new StreamCheck(view.downLength, key, 'down');
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32BE(MAGIC, 0);
  header.writeUInt32BE(view.id, 4);
  key.copy(header, 8);
  header.writeUInt32BE(view.upLength, 24);
  header.writeUInt32BE(view.downLength, 28);
  const request = Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, options.target.host, options.target.port)]);
  const earlyLength = view.early ? Math.min(EARLY_MAX, view.upLength) : 0;

  const socket = connect({ host: options.proxy.host, port: options.proxy.port, allowHalfOpen: true, ...options.source?.(view.id) });
  socket.setTimeout(options.stallMs ?? 10000, () => {
    view.stalled = true;
    socket.destroy();
  });
  socket.on('error', (err: NodeJS.ErrnoException) => (view.error ??= err.code ?? err.message));
  socket.on('end', () => {
    view.finSeen = true;
    // The target ends only after the client has: a FIN before the client's own is a cut, and nothing more will come.
    if (!socket.writableEnded) socket.destroy();
  });
  socket.on('close', done);
  socket.on('connect', () => {
    view.source = formatEndpoint(unmapIPv4(socket.localAddress!), socket.localPort!);
    const first = view.early ? [request, header, up.next(earlyLength)] : [request];
    view.upSent = earlyLength;
    socket.write(Buffer.concat(first));
  });

  const upload = async (): Promise<void> => {
    if (!view.early) socket.write(header);
    await send(socket, up, view.upLength - earlyLength, (bytes) => (view.upSent += bytes));
    if (!socket.destroyed) socket.end();
  };

  // What comes back: the method choice, the CONNECT reply, the down stream, the verdict; nothing after.
  let stage: 'method' | 'reply' | 'down' | 'verdict' | 'after' = 'method';
  let pending = Buffer.alloc(0);
  const fail = (why: string): void => {
    view.socksFailure = why;
    socket.destroy();
  };
  socket.on('data', (chunk: Buffer) => {
    view.received += chunk.length;
    if (stage === 'method' || stage === 'reply') {
      pending = Buffer.concat([pending, chunk]);
      if (stage === 'method') {
        if (pending.length < 2) return;
        if (pending[0] !== 5 || pending[1] !== 0) return fail(`method choice ${pending.subarray(0, 2).toString('hex')}`);
        pending = pending.subarray(2);
        stage = 'reply';
      }
      if (pending.length < 5) return;
      const replyLength = pending[3] === 1 ? 10 : pending[3] === 4 ? 22 : 7 + pending[4]!;
      if (pending.length < replyLength) return;
      if (pending[0] !== 5 || pending[1] !== 0) return fail(`CONNECT reply ${pending.subarray(0, 2).toString('hex')}`);
      chunk = pending.subarray(replyLength);
      pending = Buffer.alloc(0);
      stage = 'down';
      void upload();
    }
    if (stage === 'down') {
      const part = chunk.subarray(0, view.downLength - down.received);
      down.take(part);
      view.downReceived = down.received;
      view.downMatches = down.matches;
      chunk = chunk.subarray(part.length);
      if (down.received === view.downLength) stage = 'verdict';
    }
    if (stage === 'verdict') {
      pending = Buffer.concat([pending, chunk]);
      if (pending.length < VERDICT_BYTES) return;
      view.verdict = { status: pending.readUInt32BE(0), received: pending.readUInt32BE(4) };
      chunk = pending.subarray(VERDICT_BYTES);
      stage = 'after';
    }
    if (stage === 'after' && chunk.length > 0) view.downMatches = false;
  });
}

/** How many sessions had each outcome, every outcome listed. */
export function tally(outcomes: readonly Outcome[]): Record<Outcome, number> {
  const counts: Record<Outcome, number> = { intact: 0, cut: 0, unanswered: 0, corrupted: 0, 'truncated-but-whole': 0, stalled: 0, 'socks-failure': 0 };
  for (const outcome of outcomes) counts[outcome]++;
  return counts;
}
