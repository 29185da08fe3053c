import { type Socket, connect } from 'node:net';
import { MessageProtection } from '../../src/auth/gssapi-protection.js';
import { type GssContext, loadGssAddon } from '../../src/native/gssapi-addon.js';
import { bytesToIPv4, bytesToIPv6, encodeAddress } from '../../src/protocol/address.js';
import { ByteQueue } from '../../src/protocol/byte-queue.js';
import { GSS_MESSAGE_VERSION, GssMessageType, gssMessage } from '../../src/protocol/gssapi-message.js';

/**
 * The tests' own RFC 1961 client, written from the RFC beside the proxy's
 * server side, with the initiator calls of the GSS-API addon: method
 * GSSAPI, context establishment (type 1), protection-level negotiation
 * (type 2, wrapped, or bare as NEC's clients send it), then a CONNECT whose
 * request, reply and data travel as type 3 messages when a level asks for
 * it. The credentials cache is the one KRB5CCNAME names in this process's
 * environment (the caller sets it, with KRB5_CONFIG).
 */
export interface GssapiClientOptions {
  readonly proxy: { readonly host: string; readonly port: number };
  /** The service to ask a ticket for: "rcmd/socks.hasocks.test" (a principal) or "rcmd@socks.hasocks.test". */
  readonly service: string;
  /** The protection level to ask for: 0 clear, 1 integrity, 2 confidentiality, 3 selective. */
  readonly level: number;
  /** Send the protection-level message bare (NEC's clients). */
  readonly nec?: boolean;
  /** Instead of a fresh first token, send this one (a replay). */
  readonly firstToken?: Buffer;
  /** Leave out mutual authentication, which RFC 1961 has clients ask for. */
  readonly withoutMutual?: boolean;
  /** Keep a copy of every byte sent (`sent`), for a replay of the whole session elsewhere. */
  readonly record?: boolean;
}

/** The proxy refused: it sent 01 ff (or closed) at `stage`. */
export class GssapiRefused extends Error {
  constructor(readonly stage: string) {
    super(`the proxy refused GSSAPI at ${stage}`);
    this.name = 'GssapiRefused';
  }
}

export interface GssapiSession {
  /** The level the proxy granted. */
  readonly level: number;
  /** The first token sent: the AP-REQ, for a replay. */
  readonly firstToken: Buffer;
  /** The reply code of the request (0 succeeded), and the address it names (BIND: where the proxy listens). */
  readonly reply: number;
  readonly bound: { readonly host: string; readonly port: number };
  /** BIND: the second reply, once a peer has connected: its code and the peer's address. */
  nextReply(): Promise<{ code: number; host: string; port: number }>;
  /** Send plain bytes to the target (wrapped at levels 1 and 2); false when the socket's buffer is full (wait for drained()). */
  send(plain: Buffer): boolean;
  /** Until the socket's buffer has room again. */
  drained(): Promise<void>;
  /** Every plain byte from the target until the proxy closes; rejects on a message that fails. */
  receiveAll(): Promise<Buffer>;
  /** Plain bytes from the target until `n` have come. */
  receive(n: number): Promise<Buffer>;
  /** Send FIN. */
  end(): void;
  readonly socket: Socket;
  /** Plain bytes as the messages `send` would write, without writing them (to send them twice, or out of order). */
  seal(plain: Buffer): Buffer;
  /** Every byte written so far, when recording. */
  readonly sent: Buffer[];
}

/** A socket read as exact lengths. */
class Reader {
  private readonly queue = new ByteQueue();
  private wake: (() => void) | undefined;
  private ended = false;
  private error: Error | undefined;

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.queue.push(chunk);
      this.wake?.();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake?.();
    });
    socket.on('error', (err) => {
      this.error = err;
      this.wake?.();
    });
  }

  /** Exactly n bytes, or undefined if the stream ends first. */
  async exactly(n: number): Promise<Buffer | undefined> {
    while (this.queue.length < n) {
      if (this.error) throw this.error;
      if (this.ended) return undefined;
      await new Promise<void>((r) => (this.wake = r));
    }
    return this.queue.take(n);
  }

  /** One GSSAPI message: its type and token; undefined for 01 ff or the end of the stream. */
  async message(): Promise<{ type: number; token: Buffer } | undefined> {
    const head = await this.exactly(2);
    if (!head || head[0] !== GSS_MESSAGE_VERSION || head[1] === GssMessageType.ABORT) return undefined;
    const length = await this.exactly(2);
    if (!length) return undefined;
    const token = await this.exactly(length.readUInt16BE(0));
    return token && { type: head[1]!, token };
  }

  /** What is left unread. */
  rest(): Buffer[] {
    return this.queue.takeAll();
  }
}

function gss(): NonNullable<Extract<ReturnType<typeof loadGssAddon>, { addon: unknown }>['addon']> {
  const loaded = loadGssAddon();
  if ('why' in loaded) throw new Error(loaded.why);
  return loaded.addon;
}

/** Authenticate to the proxy and send a request for `target` (CONNECT, or BIND with `command` 2). */
export async function gssapiConnect(options: GssapiClientOptions, target: { host: string; port: number }, command = 1): Promise<GssapiSession> {
  const addon = gss();
  const socket = connect(options.proxy.port, options.proxy.host);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const reader = new Reader(socket);
  const sent: Buffer[] = [];
  if (options.record) {
    const write = socket.write.bind(socket) as (bytes: Buffer) => boolean;
    socket.write = ((bytes: Buffer) => {
      sent.push(Buffer.from(bytes));
      return write(bytes);
    }) as typeof socket.write;
  }
  try {
    socket.write(Buffer.from([5, 1, 1]));
    const selection = await reader.exactly(2);
    if (!selection || selection[1] !== 1) throw new GssapiRefused('method selection');

    const context = addon.createContext();
    const kind = options.service.includes('/') ? addon.nameKind.principal : addon.nameKind.hostBased;
    const flags = (options.withoutMutual ? 0 : addon.flags.mutual) | addon.flags.replay | addon.flags.sequence | addon.flags.integrity | addon.flags.confidentiality;
    let round = await addon.initiate(context, options.service, kind, flags, null);
    const firstToken = options.firstToken ?? round.token;
    socket.write(gssMessage(GssMessageType.AUTHENTICATION, firstToken));
    while (!round.complete) {
      const message = await reader.message();
      if (!message || message.type !== GssMessageType.AUTHENTICATION) throw new GssapiRefused('context establishment');
      round = await addon.initiate(context, options.service, kind, flags, message.token);
      if (round.token.length > 0) socket.write(gssMessage(GssMessageType.AUTHENTICATION, round.token));
    }

    const asked = Buffer.from([options.level]);
    socket.write(gssMessage(GssMessageType.PROTECTION, options.nec ? asked : addon.wrap(context, false, asked)));
    const answer = await reader.message();
    if (!answer || answer.type !== GssMessageType.PROTECTION) throw new GssapiRefused('protection negotiation');
    const level = (options.nec ? answer.token : addon.unwrap(context, answer.token).data)[0]!;
    return await request(socket, reader, context, level, firstToken, target, sent, command);
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

async function request(socket: Socket, reader: Reader, context: GssContext, level: number, firstToken: Buffer, target: { host: string; port: number }, sent: Buffer[], command: number): Promise<GssapiSession> {
  const protection = level === 1 || level === 2 ? new MessageProtection(context, level) : undefined;
  const plain = new ByteQueue();
  let closed = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const onRaw = (raw: Buffer): void => {
    if (!protection) plain.push(raw);
    else {
      try {
        for (const data of protection.open(raw).plain) plain.push(data);
      } catch (err) {
        failure = err as Error;
      }
    }
    wake?.();
  };
  // From here on the socket is read as a stream of plain bytes.
  socket.removeAllListeners('data');
  socket.removeAllListeners('end');
  for (const raw of reader.rest()) onRaw(raw);
  socket.on('data', onRaw);
  socket.on('end', () => {
    closed = true;
    wake?.();
  });
  socket.on('close', () => {
    closed = true;
    wake?.();
  });
  const receive = async (n: number): Promise<Buffer> => {
    while (plain.length < n) {
      if (failure) throw failure;
      if (closed) throw new Error(`the proxy closed after ${plain.length} of ${n} bytes`);
      await new Promise<void>((r) => (wake = r));
    }
    return plain.take(n);
  };
  const sealed = (data: Buffer): Buffer => (protection ? Buffer.concat(protection.seal(data)) : data);
  const send = (data: Buffer): boolean => socket.write(sealed(data));

  /** One SOCKS5 reply (IPv4 or IPv6 addresses; this proxy names no domain). */
  const readReply = async (): Promise<{ code: number; host: string; port: number }> => {
    const head = await receive(4);
    const address = await receive(head[3] === 4 ? 16 : 4);
    const port = (await receive(2)).readUInt16BE(0);
    return { code: head[1]!, host: head[3] === 4 ? bytesToIPv6(address) : bytesToIPv4(address), port };
  };
  send(Buffer.concat([Buffer.from([5, command, 0]), encodeAddress(target.host, target.port)]));
  const first = await readReply();
  return {
    level,
    firstToken,
    reply: first.code,
    bound: { host: first.host, port: first.port },
    nextReply: readReply,
    socket,
    send,
    drained: () => new Promise((resolve) => socket.once('drain', () => resolve())),
    receive,
    receiveAll: async () => {
      while (!closed) {
        if (failure) throw failure;
        await new Promise<void>((r) => (wake = r));
      }
      if (failure) throw failure;
      return Buffer.concat(plain.takeAll());
    },
    end: () => void socket.end(),
    seal: sealed,
    sent,
  };
}
