import type { Socket } from 'node:net';
import { handOverToNative } from './native-relay.js';
import type { RelayPath } from './relay-path.js';
import { streamRelay } from './stream-relay.js';

export interface RelayOptions {
  /** Close when no byte has moved either way for this long (ms); 0 disables. Dante: timeout.io. */
  readonly idleTimeout: number;
  /** After one side finishes sending, close when the other has not within this long (ms); 0 waits forever. Dante: timeout.tcp_fin_wait. */
  readonly finWait: number;
  /** Called with every chunk when a rule asks to log data; undefined lets a bulk session move to the C relay. */
  readonly onData?: ((direction: 'up' | 'down', chunk: Buffer) => void) | undefined;
}

export interface RelayResult {
  /** Bytes from client to target, early data included. */
  readonly bytesUp: number;
  /** Bytes from target to client. */
  readonly bytesDown: number;
  /** Why the session ended, in a word or two for the disconnect log line. */
  readonly reason: string;
  readonly error?: Error | undefined;
  /** Whether the C relay moved the session's bytes. */
  readonly native: boolean;
}

export interface RelayHandle {
  /** End the session now (drain timeout, shutdown). */
  close(reason: string): void;
}

/**
 * Move bytes both ways between an accepted client and its outgoing
 * connection until both have finished, either fails, or a timeout ends it.
 * Half-close is passed through (FIN in one direction keeps the other open),
 * as SOCKS clients such as `nc -N` rely on.
 *
 * A session starts on Node streams (stream-relay.ts) and moves to the native
 * addon's C relay (native-relay.ts) at its first bulk read, unless a rule
 * logs its data. Short sessions never pay for the move: in a profile of the
 * session benchmark (32-byte exchanges), handing every session over took
 * about a tenth of a worker's busy time (two dup()s, two closes, epoll
 * changes), for nothing a short exchange needs. Timeouts, half-close and
 * accounting are the same on both paths.
 */
export function relay(client: Socket, target: Socket, earlyData: readonly Buffer[], options: RelayOptions, onEnd: (result: RelayResult) => void): RelayHandle {
  let finished = false;
  let fins = 0;
  let idleTimer: NodeJS.Timeout | undefined;
  let finTimer: NodeJS.Timeout | undefined;
  let moving = false;
  /** What the stream path had moved when the session moved to the C relay. */
  let before = { up: 0, down: 0 };

  const events = {
    onFin: (): void => {
      fins++;
      if (fins === 1 && options.finWait > 0) finTimer = setTimeout(() => finish('tcp_fin_wait timeout'), options.finWait).unref();
    },
    onEnd: (reason: string, error?: Error): void => finish(reason, error),
  };

  /** Move to the C relay, unless the session is ending, a FIN has passed, or a write is still queued (the next bulk read tries again). */
  const moveToNative = (): void => {
    moving = false;
    if (finished || fins > 0 || path.native || client.writableLength > 0 || target.writableLength > 0) return;
    const streamed = path.bytes();
    const native = handOverToNative(client, target, events);
    if (!native) return;
    before = streamed;
    path = native;
  };
  const onBulkRead =
    options.onData === undefined
      ? (): void => {
          if (moving || path.native) return;
          moving = true;
          setImmediate(moveToNative); // not from inside the stream's own read callback
        }
      : undefined;
  let path: RelayPath = streamRelay(client, target, earlyData, options.onData, events, onBulkRead);

  function finish(reason: string, error?: Error): void {
    if (finished) return;
    finished = true;
    clearTimeout(idleTimer);
    clearTimeout(finTimer);
    const { up, down } = path.bytes();
    path.close(); // the C relay may have closed its sockets already; closing again does nothing
    onEnd({ bytesUp: before.up + up, bytesDown: before.down + down, reason, error, native: path.native });
  }

  if (options.idleTimeout > 0) {
    const checkIdle = (): void => {
      const idle = path.idleMs();
      if (idle >= options.idleTimeout) finish('io timeout');
      else idleTimer = setTimeout(checkIdle, options.idleTimeout - idle).unref();
    };
    idleTimer = setTimeout(checkIdle, options.idleTimeout).unref();
  }

  return { close: (reason) => finish(reason) };
}
