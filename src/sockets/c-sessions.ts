import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import { type NativeAddon, type TcpConnEvent, type TcpConnId, errnoError } from '../native/addon.js';
import { dataPath } from './data-path.js';
import { reservedDescriptors } from './descriptors.js';

/**
 * Session sockets in C (native/src/tcp_conn.c): the listeners accept there,
 * a client's handshake bytes come here as 'data' events for the parser, and
 * a CONNECT dials there; then the C relay takes both sockets. No Node
 * socket is made for such a session. A Node socket costs about 100 µs of
 * CPU from creation to destruction, and a CONNECT session needs two: that
 * was most of hasocks's CPU per short session, about twice Dante's.
 *
 * What only Node streams do (BIND, UDP ASSOCIATE, a rule that logs data)
 * takes the client as a Node socket (ClientInC.toNodeSocket).
 */

/** The part of a client socket a session uses while it negotiates: a Node socket has it, and so has ClientInC. */
export interface ClientSocket {
  /** True for a client whose socket is in C; a Node socket has no such field. */
  readonly socketInC?: true;
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
  readonly destroyed: boolean;
  write(bytes: Buffer): boolean;
  end(): unknown;
  end(bytes: Buffer): unknown;
  destroy(): unknown;
  pause(): unknown;
  resume(): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'end' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  once(event: 'close', listener: () => void): unknown;
  off(event: 'data', listener: (chunk: Buffer) => void): unknown;
  off(event: 'end' | 'close', listener: () => void): unknown;
  off(event: 'error', listener: (err: Error) => void): unknown;
}

/** How long a listener stops accepting after running out of descriptors or memory. */
const ACCEPT_PAUSE_MS = 100;

/** Where each conn's events go, by id. */
const listeners = new Map<TcpConnId, ListenerInC>();
const clients = new Map<TcpConnId, ClientInC>();
const dials = new Map<TcpConnId, (error: Error | undefined, localAddress: string, localPort: number) => void>();

let addonInUse: NativeAddon | undefined;

/** The addon with tcp_conn.c's callback set (on first use). */
export function sessionsInC(): NativeAddon {
  if (addonInUse) return addonInUse;
  const { addon } = dataPath();
  addon.tcpConnInit(onEvent, reservedDescriptors());
  addonInUse = addon;
  return addon;
}

function onEvent(event: TcpConnEvent, id: TcpConnId, ...args: Array<number | string | Buffer | undefined>): void {
  const { ACCEPTED, DATA, END, ERROR, CONNECTED, CLOSED } = addonInUse!.tcpConnEvents;
  switch (event) {
    case ACCEPTED: {
      const [client, remoteAddress, remotePort, localAddress, localPort] = args as [TcpConnId, string, number, string | undefined, number];
      const listener = listeners.get(id);
      if (listener) listener.accepted(new ClientInC(addonInUse!, client, remoteAddress, remotePort, localAddress, localPort));
      else addonInUse!.tcpConnClose(client); // its listener was closed in this same turn
      break;
    }
    case DATA:
      clients.get(id)?.emit('data', args[0] as Buffer);
      break;
    case END:
      clients.get(id)?.peerEnded();
      break;
    case ERROR:
      clients.get(id)?.failed(args[0] as number);
      listeners.get(id)?.failed(args[0] as number);
      break;
    case CLOSED:
      clients.get(id)?.closedInC();
      break;
    case CONNECTED: {
      const done = dials.get(id);
      dials.delete(id);
      const [errno, address, port] = args as [number, string | undefined, number];
      done?.(errno === 0 ? undefined : errnoError(errno, 'connect'), address ?? '', port);
      break;
    }
  }
}

/** A connected dial, and the local end it was dialled from. */
export interface DialInC {
  readonly dial: TcpConnId;
  readonly localAddress: string;
  readonly localPort: number;
}

/** A listening socket whose clients are accepted in C. */
export class ListenerInC {
  private readonly id: TcpConnId;
  private closed = false;

  /** Own `fd` (a listening socket) and accept from it; `wildcard` listeners report each client's local address. */
  constructor(
    private readonly addon: NativeAddon,
    fd: number,
    wildcard: boolean,
    private readonly onClient: (client: ClientInC) => void,
    private readonly onError: (err: Error) => void,
  ) {
    this.id = addon.tcpConnListen(fd, wildcard);
    listeners.set(this.id, this);
  }

  accepted(client: ClientInC): void {
    this.onClient(client);
  }

  /** Out of descriptors or memory: say so, and stop accepting for a moment, since the listener stays readable. */
  failed(errno: number): void {
    this.onError(errnoError(errno, 'accept'));
    this.addon.tcpConnPause(this.id);
    setTimeout(() => {
      if (!this.closed) this.addon.tcpConnResume(this.id);
    }, ACCEPT_PAUSE_MS).unref();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    listeners.delete(this.id);
    this.addon.tcpConnClose(this.id);
  }
}

/**
 * A client socket in C, with the events and methods of a Node socket a
 * session uses while negotiating (ClientSocket). Like a Node socket it
 * starts reading when a 'data' listener is added, unless paused, and it is
 * destroyed once both sides have ended.
 */
export class ClientInC extends EventEmitter implements ClientSocket {
  readonly socketInC = true;
  destroyed = false;
  private paused = false;
  private endedHere = false;

  constructor(
    private readonly addon: NativeAddon,
    readonly id: TcpConnId,
    readonly remoteAddress: string,
    readonly remotePort: number,
    /** Known only from a wildcard listener; the session takes the listener's address otherwise. */
    readonly localAddress: string | undefined,
    readonly localPort: number,
  ) {
    super();
    clients.set(id, this);
    this.on('newListener', (event: string) => {
      if (event === 'data' && !this.paused) this.resume();
    });
  }

  write(bytes: Buffer): boolean {
    if (this.destroyed) return false;
    const errno = this.addon.tcpConnWrite(this.id, bytes);
    if (errno !== 0) process.nextTick(() => this.failed(errno));
    return true;
  }

  end(bytes?: Buffer): this {
    if (this.destroyed || this.endedHere) return this;
    if (bytes) this.write(bytes);
    this.endedHere = true;
    // Closed at once when the client had ended too; otherwise C closes it once both are done (closedInC).
    if (this.addon.tcpConnEnd(this.id)) this.closedInC();
    return this;
  }

  pause(): this {
    this.paused = true;
    if (!this.destroyed) this.addon.tcpConnPause(this.id);
    return this;
  }

  resume(): this {
    this.paused = false;
    if (!this.destroyed) this.addon.tcpConnResume(this.id);
    return this;
  }

  destroy(): this {
    if (this.destroyed) return this;
    this.forget();
    this.addon.tcpConnClose(this.id);
    process.nextTick(() => this.emit('close'));
    return this;
  }

  /** The client sent FIN. */
  peerEnded(): void {
    this.emit('end');
  }

  /** Both sides have ended and everything written has gone: C closed the socket. */
  closedInC(): void {
    if (this.destroyed) return;
    this.forget();
    process.nextTick(() => this.emit('close'));
  }

  /** A read or write failed: 'error', then 'close'. */
  failed(errno: number): void {
    if (this.destroyed) return;
    this.emit('error', errnoError(errno, 'read'));
    this.destroy();
  }

  /**
   * Dial `address`:`port` (an IP) from `fd`, a socket bound to the external
   * address, or from a new socket (-1). `done` hears once, on a later tick,
   * with the dial and its local end on success; the returned function
   * cancels the dial.
   */
  dial(fd: number, address: string, port: number, done: (error: Error | undefined, connected?: DialInC) => void): () => void {
    let result = -1;
    let error: Error | undefined;
    try {
      result = this.addon.tcpConnDial(fd, address, port);
      if (result < 0) error = errnoError(-result, 'connect');
    } catch (err) {
      error = err as Error; // the addon could not watch the socket (out of memory)
    }
    if (error) {
      if (fd >= 0) this.addon.close(fd);
      process.nextTick(() => done(error));
      return () => undefined;
    }
    const dial = result as TcpConnId;
    dials.set(dial, (error, localAddress, localPort) => {
      if (error) this.addon.tcpConnClose(dial);
      done(error, error ? undefined : { dial, localAddress, localPort });
    });
    return () => {
      dials.delete(dial);
      this.addon.tcpConnClose(dial);
    };
  }

  /** The client's descriptor as a paused Node socket, with what this one had not sent yet written to it first. This object is done. */
  toNodeSocket(): Socket {
    const [fd, unsent] = this.addon.tcpConnDetach(this.id);
    this.forget();
    // pauseOnCreate (Node's own, for handles passed between processes) leaves the bytes in the kernel until the session reads.
    const socket = new Socket({ fd, readable: true, writable: true, allowHalfOpen: true, pauseOnCreate: true } as ConstructorParameters<typeof Socket>[0]);
    if (unsent) socket.write(unsent);
    return socket;
  }

  /** This object no longer stands for the client: its descriptor was closed or went elsewhere (Node, the C relay). */
  forget(): void {
    this.destroyed = true;
    clients.delete(this.id);
  }
}
