import type { Socket } from 'node:net';
import { errnoError } from '../native/addon.js';
import { dataPath } from '../sockets/data-path.js';
import { descriptorOf } from './native-relay.js';
import type { ClientFraming, RelayPath, RelayPathEvents } from './relay-path.js';

/**
 * A read this large means the kernel had at least this much waiting: the
 * session moves bulk data. Node's reads are 64 KB.
 */
const BULK_CHUNK = 64 * 1024;

/** Whether closing the socket resets its peer: until its direction's FIN goes on (native/src/socket_address.h says why). */
function resetOnClose(socket: Socket, reset: boolean): void {
  const fd = descriptorOf(socket);
  if (fd !== undefined) dataPath().addon.socketResetOnClose(fd, reset);
}

/** The socket's pending error, which libuv leaves unread when a reset comes with the last data: it reports the end of the stream instead. */
function pendingError(socket: Socket): number {
  const fd = descriptorOf(socket);
  return fd === undefined ? 0 : dataPath().addon.socketError(fd);
}

/**
 * The relay on Node streams, for sessions on Node sockets (BIND, the agent's
 * probes, a rule that logs data): where each of them starts, and where it
 * stays when a rule logs the data (every chunk then passes through
 * JavaScript) or it never reads in bulk. `onBulkRead` hears of every bulk read.
 *
 * With `framing` the client speaks in protected messages: what it sends is
 * opened before the target gets it, and what the target sends is sealed;
 * the byte counts are the plain bytes.
 *
 * Each direction applies its own backpressure: when the writer's buffer is
 * full the reader pauses until it drains, so one slow peer never makes the
 * proxy buffer without bound. A cut session resets its peers, as the C
 * relay's do.
 */
export function streamRelay(
  client: Socket,
  target: Socket,
  earlyData: readonly Buffer[],
  onData: ((direction: 'up' | 'down', chunk: Buffer) => void) | undefined,
  events: RelayPathEvents,
  onBulkRead?: () => void,
  framing?: ClientFraming,
): RelayPath {
  let up = 0;
  let down = 0;
  let lastActivity = Date.now();

  const pump = (from: Socket, to: Socket, direction: 'up' | 'down'): void => {
    const forward = (chunk: Buffer): boolean => {
      if (direction === 'up') up += chunk.length;
      else down += chunk.length;
      onData?.(direction, chunk);
      if (!framing || direction === 'up') return to.write(chunk);
      let sealed;
      try {
        sealed = framing.seal(chunk);
      } catch (err) {
        events.onEnd('target error', err as Error);
        return false;
      }
      // Corked, the pieces leave in one writev.
      to.cork();
      let room = true;
      for (const piece of sealed) room = to.write(piece);
      to.uncork();
      return room;
    };
    from.on('data', (chunk: Buffer) => {
      lastActivity = Date.now();
      let flowing = true;
      if (framing && direction === 'up') {
        let opened;
        try {
          opened = framing.open(chunk);
        } catch (err) {
          events.onEnd('client error', err as Error);
          return;
        }
        for (const plain of opened.plain) flowing = forward(plain) && flowing;
        if (opened.ended) events.onEnd('client ended the protection');
      } else {
        flowing = forward(chunk);
      }
      if (!flowing) from.pause();
      if (chunk.length >= BULK_CHUNK) onBulkRead?.();
    });
    to.on('drain', () => from.resume());
    // Half-close: a FIN one way keeps the other open.
    const passFin = (): void => {
      const error = pendingError(from);
      if (error !== 0) {
        events.onEnd(direction === 'up' ? 'client error' : 'target error', errnoError(error));
        return;
      }
      lastActivity = Date.now();
      resetOnClose(to, false);
      to.end();
      endedSides++;
      events.onFin();
    };
    // A paused socket still emits 'end' once its buffer is empty, so a
    // client that sent its data and FIN with the request has ended already.
    if (from.readableEnded) passFin();
    else from.on('end', passFin);
  };

  // A socket closes normally only after FIN both ways; then the other may
  // still be flushing, so wait for it. Closing before both FINs means a reset
  // or a destroy, and nothing more can flow either way.
  let endedSides = 0;
  let closedSides = 0;
  const onClose = (): void => {
    closedSides++;
    if (endedSides < 2) events.onEnd('reset');
    else if (closedSides === 2) events.onEnd('closed');
  };

  resetOnClose(client, true);
  resetOnClose(target, true);
  for (const chunk of earlyData) {
    up += chunk.length;
    onData?.('up', chunk);
    target.write(chunk);
  }
  pump(client, target, 'up');
  pump(target, client, 'down');
  client.on('error', (err) => events.onEnd('client error', err));
  target.on('error', (err) => events.onEnd('target error', err));
  client.on('close', onClose);
  target.on('close', onClose);
  client.resume();
  target.resume();

  return {
    native: false,
    bytes: () => ({ up, down }),
    idleMs: () => Date.now() - lastActivity,
    close: () => {
      client.destroy();
      target.destroy();
    },
  };
}
