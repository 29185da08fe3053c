import type { Socket } from 'node:net';
import { type NativeAddon, type TcpConnId, type TcpRelayId, errnoError } from '../native/addon.js';
import { dataPath } from '../sockets/data-path.js';
import type { RelayPath, RelayPathEvents } from './relay-path.js';

/**
 * The relay's fast path: hand both sockets to the C relay in the native
 * addon (native/src/tcp_relay.c), which moves every byte from then on.
 *
 * Why C: in JavaScript each chunk costs a callback, and giving every stream
 * its turn costs a stop and a restart of the reading socket (two epoll_ctl
 * calls per chunk). With the load generator sharing the two cores, that
 * held hasocks to Dante's speed at 64 streams. The C relay polls both
 * sockets level-triggered on Node's own loop: one splice in and one out per
 * wake-up, the poll set touched only when a peer pushes back.
 *
 * How: Node gives up a socket only by closing it, so the relay gets a dup()
 * of each descriptor and the Node socket is then destroyed, which closes
 * only the original descriptor (no FIN, no reset). Bytes Node had already
 * read go to the C relay first.
 */
export function handOverToNative(client: Socket, target: Socket, events: RelayPathEvents): RelayPath | undefined {
  const { addon } = dataPath();
  const clientFd = descriptorOf(client);
  const targetFd = descriptorOf(target);
  // A write still queued in Node would be lost with its socket.
  if (clientFd === undefined || targetFd === undefined || client.writableLength > 0 || target.writableLength > 0) return undefined;
  let clientCopy: number;
  let targetCopy: number;
  try {
    clientCopy = addon.dup(clientFd);
  } catch {
    return undefined; // out of descriptors: the session stays on Node streams
  }
  try {
    targetCopy = addon.dup(targetFd);
  } catch {
    addon.close(clientCopy);
    return undefined;
  }
  const clientBytes = joined(release(client));
  const targetBytes = joined(release(target));
  listenOnce(addon);
  let relay: TcpRelayId;
  try {
    relay = addon.tcpRelayOpen(clientCopy, targetCopy, clientBytes, targetBytes);
  } catch (err) {
    // The Node sockets are gone already, so the session ends here; the proxy goes on.
    addon.close(clientCopy);
    addon.close(targetCopy);
    return endedAtOnce(events, err as Error);
  }
  return pathFor(addon, relay, events);
}

/**
 * A session whose sockets never were Node's (c-sessions.ts): its client
 * and its connected dial go to the C relay directly. earlyData, read after
 * the request, goes to the target first.
 */
export function relayConns(client: TcpConnId, dial: TcpConnId, earlyData: readonly Buffer[], events: RelayPathEvents): RelayPath {
  const { addon } = dataPath();
  listenOnce(addon);
  let relay: TcpRelayId;
  try {
    relay = addon.tcpConnRelay(client, dial, joined(earlyData));
  } catch (err) {
    return endedAtOnce(events, err as Error); // the conns are closed already
  }
  return pathFor(addon, relay, events);
}

/** The session ended as it moved (the relay could not start): say so on the next turn, as a relay would. */
function endedAtOnce(events: RelayPathEvents, err: Error): RelayPath {
  setImmediate(() => events.onEnd('relay error', err));
  return { native: true, bytes: () => ({ up: 0, down: 0 }), idleMs: () => 0, close: () => undefined };
}

function pathFor(addon: NativeAddon, relay: TcpRelayId, events: RelayPathEvents): RelayPath {
  open.set(relay, events);
  return {
    native: true,
    bytes: () => {
      const [up, down] = addon.tcpRelayStats(relay);
      return { up, down };
    },
    idleMs: () => addon.tcpRelayStats(relay)[2],
    close: () => {
      open.delete(relay);
      addon.tcpRelayClose(relay);
    },
  };
}

/** The open relays' listeners, by relay id: the C relay reports every relay's events to one callback. */
const open = new Map<TcpRelayId, RelayPathEvents>();
let listening = false;

function listenOnce(addon: NativeAddon): void {
  if (listening) return;
  const { END_UP, END_DOWN, CLOSED, CLIENT_ERROR } = addon.tcpRelayEvents;
  addon.tcpRelayInit((relay, event, value) => {
    const events = open.get(relay);
    if (!events) return;
    if (event === END_UP || event === END_DOWN) {
      events.onFin();
      return;
    }
    // The relay has closed itself; its figures stay readable while this event is heard.
    open.delete(relay);
    // "closed" only when the peers acknowledged every byte: one passed on but never acknowledged may never have arrived.
    if (event === CLOSED) events.onEnd(value === 0 ? 'closed' : `closed with ${value} bytes sent but not acknowledged`);
    else events.onEnd(event === CLIENT_ERROR ? 'client error' : 'target error', errnoError(value));
  }, dataPath().splice);
  listening = true;
}

/** Node keeps a socket's descriptor on its internal handle; that is the only way to reach it. */
export function descriptorOf(socket: Socket): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle;
  return typeof handle?.fd === 'number' && handle.fd >= 0 ? handle.fd : undefined;
}

/** Detach a Node socket from its descriptor: returns what it had read and nobody consumed, and closes only its own descriptor. */
function release(socket: Socket): Buffer[] {
  // Listeners go first: read() also emits each chunk as 'data', and the session's own listeners must not see the close.
  socket.removeAllListeners();
  socket.on('error', () => undefined);
  const buffered: Buffer[] = [];
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) buffered.push(chunk);
  socket.destroy();
  return buffered;
}

const joined = (chunks: readonly Buffer[]): Buffer | null => (chunks.length === 0 ? null : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
