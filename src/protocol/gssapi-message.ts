// SOCKS5 GSSAPI messages (RFC 1961 §3): what both ends send after the
// method selection picks GSSAPI, until the session ends.
//
//   +------+------+------+.......................+
//   | ver  | mtyp | len  |       token           |
//   +------+------+------+.......................+
//   | 0x01 | 0x01 | 0x02 | up to 2^16 - 1 octets |
//
// A refusal is the two octets 01 ff, with no length or token.
import { ByteQueue } from './byte-queue.js';
import { SocksError } from './errors.js';

export const GSS_MESSAGE_VERSION = 0x01;

/** mtyp values. */
export const GssMessageType = {
  /** Context establishment: a token of gss_init_sec_context or gss_accept_sec_context. */
  AUTHENTICATION: 0x01,
  /** Protection-level negotiation: one octet, wrapped (or bare, for NEC's clients). */
  PROTECTION: 0x02,
  /** Encapsulation: a gss_wrap token carrying the request, the reply or relayed data. */
  ENCAPSULATION: 0x03,
  /** The refusal: 01 ff, nothing after it. */
  ABORT: 0xff,
} as const;
export type GssMessageTypeCode = (typeof GssMessageType)[keyof typeof GssMessageType];

/** Protection levels of the negotiation (RFC 1961 §4; 0 as Dante names "clear"). */
export const ProtectionLevel = {
  /** No per-message protection: after authentication the session runs as with method "none". */
  CLEAR: 0x00,
  INTEGRITY: 0x01,
  CONFIDENTIALITY: 0x02,
  /** "Selective", as the two ends' configurations allow: the server picks. */
  SELECTIVE: 0x03,
} as const;
export type ProtectionLevelCode = (typeof ProtectionLevel)[keyof typeof ProtectionLevel];

/** The largest token a message can carry. */
export const MAX_GSS_TOKEN = 0xffff;

/** The refusal message. */
export const GSS_ABORT = Buffer.from([GSS_MESSAGE_VERSION, GssMessageType.ABORT]);

/** A message's header, for a token of `length` bytes. Every token of this proxy is framed here, so none can exceed MAX_GSS_TOKEN. */
export function gssMessageHeader(type: Exclude<GssMessageTypeCode, 0xff>, length: number): Buffer {
  if (length > MAX_GSS_TOKEN) throw new RangeError(`a GSSAPI token of ${length} bytes does not fit in a message (at most ${MAX_GSS_TOKEN})`);
  return Buffer.from([GSS_MESSAGE_VERSION, type, length >> 8, length & 0xff]);
}

/** One message: header and token, in one buffer. */
export function gssMessage(type: Exclude<GssMessageTypeCode, 0xff>, token: Buffer): Buffer {
  return Buffer.concat([gssMessageHeader(type, token.length), token]);
}

/** What the reader reports. */
export interface GssMessageEvents {
  message(type: Exclude<GssMessageTypeCode, 0xff>, token: Buffer): void;
  /** The peer sent 01 ff. */
  abort(): void;
  error(error: SocksError): void;
}

const State = {
  HEADER: 'HEADER',
  LENGTH: 'LENGTH',
  TOKEN: 'TOKEN',
  /** A message was handed on and the reader waits for resume() (an establishment round in progress). */
  PAUSED: 'PAUSED',
  /** Aborted or failed: nothing more is read. */
  ENDED: 'ENDED',
} as const;
type ReaderState = (typeof State)[keyof typeof State];

/**
 * Incremental reader of GSSAPI messages over buffered bytes, in the manner
 * of the handshake parser (parser.ts): each state takes what it needs once
 * it is there or waits for more. It holds at most one message and what
 * arrived with it; `pauseAfterEach` stops after every message until
 * resume(), so a client cannot pile up messages while a round runs on the
 * thread pool.
 */
export class GssMessageReader {
  private state: ReaderState = State.HEADER;
  private readonly queue = new ByteQueue();
  private type: Exclude<GssMessageTypeCode, 0xff> = GssMessageType.AUTHENTICATION;
  private length = 0;
  private running = false;

  constructor(
    private readonly events: GssMessageEvents,
    private readonly pauseAfterEach = true,
  ) {}

  /** Bytes held and not yet a whole message. */
  get pending(): number {
    return this.queue.length;
  }

  push(chunk: Buffer): void {
    if (this.state === State.ENDED) return;
    this.queue.push(chunk);
    this.run();
  }

  /** Read on after a message (when pausing after each). */
  resume(): void {
    if (this.state !== State.PAUSED) return;
    this.state = State.HEADER;
    if (!this.running) this.run();
  }

  /** What is queued and not yet a message, leaving the reader empty (the next reader of the stream takes it). */
  takeBuffered(): Buffer[] {
    return this.queue.takeAll();
  }

  /** Stop for good: nothing more is reported. */
  end(): void {
    this.state = State.ENDED;
    this.queue.takeAll();
  }

  private run(): void {
    this.running = true;
    try {
      while (this.step()) {
        /* keep stepping while a state completes */
      }
    } catch (err) {
      this.end();
      this.events.error(err instanceof SocksError ? err : new SocksError(String(err), undefined, 'EBADGSS'));
    } finally {
      this.running = false;
    }
  }

  private step(): boolean {
    switch (this.state) {
      case State.HEADER:
        return this.readHeader();
      case State.LENGTH:
        return this.readLength();
      case State.TOKEN:
        return this.readToken();
      case State.PAUSED:
      case State.ENDED:
        return false;
    }
  }

  private readHeader(): boolean {
    if (this.queue.length < 2) return false;
    const header = this.queue.take(2);
    if (header[0] !== GSS_MESSAGE_VERSION) throw new SocksError(`GSSAPI message version ${header[0]} is not 1`, undefined, 'EBADGSS');
    const type = header[1]!;
    if (type === GssMessageType.ABORT) {
      this.end();
      this.events.abort();
      return false;
    }
    if (type !== GssMessageType.AUTHENTICATION && type !== GssMessageType.PROTECTION && type !== GssMessageType.ENCAPSULATION) {
      throw new SocksError(`unknown GSSAPI message type 0x${type.toString(16)}`, undefined, 'EBADGSS');
    }
    this.type = type;
    this.state = State.LENGTH;
    return true;
  }

  private readLength(): boolean {
    if (this.queue.length < 2) return false;
    this.length = this.queue.take(2).readUInt16BE(0);
    this.state = State.TOKEN;
    return true;
  }

  private readToken(): boolean {
    if (this.queue.length < this.length) return false;
    const token = this.queue.take(this.length);
    this.state = this.pauseAfterEach ? State.PAUSED : State.HEADER;
    this.events.message(this.type, token);
    return this.state === State.HEADER;
  }
}
