import { type OnReadOpts, Socket, type SocketConstructorOpts } from 'node:net';
import { loadAddon } from '../native/addon.js';

/**
 * The relay's fast path: both sockets read into one buffer per process and
 * every chunk is sent on from there, so bulk data costs no allocation and
 * no stream machinery.
 *
 * Why: with Node's default reads, each read allocates a fresh 64 KB buffer
 * and the chunk travels through Readable and Writable; a relay built on that
 * moved about half of Dante's throughput here, and a stream that found its
 * peer always writable could take 32 reads in a row and starve the rest
 * (fairness 0.05 at 64 streams). Here a read is up to READ_SIZE bytes, each
 * stream gets one read per event-loop turn, and a chunk is copied only when
 * the kernel cannot take it at once.
 *
 * How: Node reads into a caller's buffer only for sockets it opens itself
 * (the `onread` option), so each relayed socket is re-opened on a dup() of
 * its descriptor. A chunk goes out with a non-blocking send() straight from
 * the shared buffer (the native addon's trySend): either the kernel takes it
 * all and the buffer is free for the next read, or the rest is copied and
 * queued with Node's own write, and the reader pauses until that write is
 * done. Nothing ever stays queued pointing into the shared buffer, which is
 * why one buffer can serve every session, and an idle session holds none.
 */

/** The largest read; larger reads mean fewer callbacks per gigabyte (1 MB: 1.7 GB/s per stream here, 64 KB: 1.1). */
const READ_SIZE = 1 << 20;

let shared: Buffer | undefined;

/** Node keeps a socket's descriptor on its internal handle; that is the only way to reach it. */
function descriptorOf(socket: Socket): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle;
  return typeof handle?.fd === 'number' && handle.fd >= 0 ? handle.fd : undefined;
}

/** What the relay hears of each chunk on the fast path, before it is sent on. */
export interface ChunkObserver {
  up(chunk: Buffer): void;
  down(chunk: Buffer): void;
}

export interface SharedReadPair {
  readonly client: Socket;
  readonly target: Socket;
  /** Client bytes the old socket had already read: send them to the target first. */
  readonly clientBuffered: Buffer[];
  /** Target bytes the old socket had already read: send them to the client first. */
  readonly targetBuffered: Buffer[];
}

/**
 * Re-open both sockets on the fast path and wire each one's reads to the
 * other. Returns undefined, leaving the sockets untouched, when the fast path
 * is not available: no native addon, a socket without a descriptor, or a
 * write still queued on the old socket (it would be lost with it).
 */
export function openSharedReads(client: Socket, target: Socket, observe: ChunkObserver): SharedReadPair | undefined {
  const { addon } = loadAddon();
  if (!addon) return undefined;
  const clientFd = descriptorOf(client);
  const targetFd = descriptorOf(target);
  if (clientFd === undefined || targetFd === undefined || client.writableLength > 0 || target.writableLength > 0) return undefined;
  shared ??= Buffer.allocUnsafe(READ_SIZE);
  const buffer = shared;

  // Each socket's read callback sends to the other, which exists only once both are open.
  const opened: { client?: Socket; target?: Socket; clientFd: number; targetFd: number } = { clientFd: -1, targetFd: -1 };

  /** Send buffer[0, n) from `from` to `to`; returns false to pause `from` (Node's onread contract). */
  const forward = (from: Socket, to: Socket, toFd: number, n: number): boolean => {
    let rest = 0;
    if (to.writableLength === 0) {
      const sent = addon.trySend(toFd, buffer, n);
      if (sent === n) {
        // One read per stream per event-loop turn, so every stream gets its share.
        setImmediate(resumeUnlessDone, from);
        return false;
      }
      // On an error, Node's write below meets it again and reports it.
      rest = Math.max(sent, 0);
    }
    to.write(Buffer.from(buffer.subarray(rest, n)), () => resumeUnlessDone(from));
    return false;
  };

  const reopen = (old: Socket, fd: number, onRead: (n: number) => boolean): { socket: Socket; fd: number; buffered: Buffer[] } => {
    const copy = addon.dup(fd);
    // Listeners go first: read() also emits each chunk as 'data', and the
    // stream path's listener would send it on a second time.
    old.removeAllListeners();
    old.on('error', () => undefined);
    // What the old socket had read but nobody consumed yet goes first.
    const buffered: Buffer[] = [];
    for (let chunk = old.read() as Buffer | null; chunk !== null; chunk = old.read() as Buffer | null) buffered.push(chunk);
    // Closes only the old descriptor: the socket lives on in the copy.
    old.destroy();
    // Node's constructor takes `onread` (net.connect passes it through), though its types list it for connect() only.
    const options: SocketConstructorOpts & { onread: OnReadOpts } = { fd: copy, allowHalfOpen: true, readable: true, writable: true, onread: { buffer, callback: onRead } };
    const socket = new Socket(options);
    return { socket, fd: copy, buffered };
  };

  const c = reopen(client, clientFd, (n) => {
    observe.up(buffer.subarray(0, n));
    return forward(opened.client!, opened.target!, opened.targetFd, n);
  });
  const t = reopen(target, targetFd, (n) => {
    observe.down(buffer.subarray(0, n));
    return forward(opened.target!, opened.client!, opened.clientFd, n);
  });
  Object.assign(opened, { client: c.socket, clientFd: c.fd, target: t.socket, targetFd: t.fd });
  return { client: c.socket, target: t.socket, clientBuffered: c.buffered, targetBuffered: t.buffered };
}

function resumeUnlessDone(socket: Socket): void {
  if (!socket.destroyed && !socket.readableEnded) socket.resume();
}
