import type { Socket } from 'node:net';
import { openSharedReads } from './shared-reads.js';

export interface RelayOptions {
  /** Close when no byte has moved either way for this long (ms); 0 disables. Dante: timeout.io. */
  readonly idleTimeout: number;
  /** After one side finishes sending, close when the other has not within this long (ms); 0 waits forever. Dante: timeout.tcp_fin_wait. */
  readonly finWait: number;
  /** Called with every chunk when a rule asks to log data; undefined keeps the hot path lean. */
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
  /** Whether the session moved to the shared-buffer fast path. */
  readonly fastPath: boolean;
}

export interface RelayHandle {
  /** End the session now (drain timeout, shutdown). */
  close(reason: string): void;
}

/**
 * A read this large means the kernel had at least this much waiting: the
 * session moves bulk data, so it switches to the fast path. Node's default
 * reads are 64 KB.
 */
const BULK_CHUNK = 64 * 1024;

/**
 * Move bytes both ways between an accepted client and its outgoing
 * connection. Each direction applies its own backpressure: when the writer's
 * buffer is full the reader pauses until it drains, so one slow peer never
 * makes the proxy buffer without bound. Half-close is passed through (FIN in
 * one direction keeps the other open), as SOCKS clients such as
 * `nc -N` rely on.
 *
 * A session starts on Node's streams and moves to the shared-buffer fast
 * path (shared-reads.ts) at its first bulk read, when the native addon is
 * there. Short sessions never pay for the switch (two socket re-opens cost
 * about a sixth of the session rate); bulk ones get the fast path's
 * throughput and fairness. Timeouts, half-close and accounting are the same
 * on both paths.
 */
export function relay(
  originalClient: Socket,
  originalTarget: Socket,
  earlyData: readonly Buffer[],
  options: RelayOptions,
  onEnd: (result: RelayResult) => void,
): RelayHandle {
  let client = originalClient;
  let target = originalTarget;
  let bytesUp = 0;
  let bytesDown = 0;
  let lastActivity = Date.now();
  let finished = false;
  let endedSides = 0;
  let idleTimer: NodeJS.Timeout | undefined;
  let finTimer: NodeJS.Timeout | undefined;
  let switchScheduled = false;
  const onData = options.onData;
  const sawUp = (chunk: Buffer): void => {
    bytesUp += chunk.length;
    lastActivity = Date.now();
    onData?.('up', chunk);
  };
  const sawDown = (chunk: Buffer): void => {
    bytesDown += chunk.length;
    lastActivity = Date.now();
    onData?.('down', chunk);
  };

  const finish = (reason: string, error?: Error): void => {
    if (finished) return;
    finished = true;
    clearTimeout(idleTimer);
    clearTimeout(finTimer);
    client.destroy();
    target.destroy();
    onEnd({ bytesUp, bytesDown, reason, error, fastPath: client !== originalClient });
  };

  /** Node's stream path: backpressure by pause() until 'drain'; a bulk read asks for the fast path. */
  const streamPump = (from: Socket, to: Socket, saw: (chunk: Buffer) => void): void => {
    from.on('data', (chunk: Buffer) => {
      saw(chunk);
      if (!to.write(chunk)) from.pause();
      if (chunk.length >= BULK_CHUNK && !switchScheduled) {
        switchScheduled = true;
        // Not from inside the old socket's own read callback.
        setImmediate(switchToFastPath);
      }
    });
    to.on('drain', () => from.resume());
  };

  /** Re-open both sockets on the fast path, unless the session is ending or a write is still queued. */
  const switchToFastPath = (): void => {
    if (finished || endedSides > 0) return;
    if (client.writableLength > 0 || target.writableLength > 0) {
      switchScheduled = false; // the next bulk read tries again
      return;
    }
    const fast = openSharedReads(client, target, { up: sawUp, down: sawDown });
    if (!fast) return;
    client = fast.client;
    target = fast.target;
    for (const chunk of fast.clientBuffered) {
      sawUp(chunk);
      target.write(chunk);
    }
    for (const chunk of fast.targetBuffered) {
      sawDown(chunk);
      client.write(chunk);
    }
    watchEnds();
  };

  const passOnEnd = (from: Socket, to: Socket): void => {
    from.on('end', () => {
      to.end();
      endedSides++;
      if (endedSides === 1 && options.finWait > 0) {
        finTimer = setTimeout(() => finish('tcp_fin_wait timeout'), options.finWait);
        finTimer.unref();
      }
    });
  };

  // A socket closes normally only after FIN both ways; then the other may
  // still be flushing, so wait for it. Closing before both FINs means a reset
  // or a destroy, and nothing more can flow either way.
  let closedSides = 0;
  const onClose = (): void => {
    closedSides++;
    if (endedSides < 2) finish('reset');
    else if (closedSides === 2) finish('closed');
  };

  /** Half-close, errors and close of the current pair of sockets. */
  const watchEnds = (): void => {
    passOnEnd(client, target);
    passOnEnd(target, client);
    client.on('error', (err) => finish('client error', err));
    target.on('error', (err) => finish('target error', err));
    client.on('close', onClose);
    target.on('close', onClose);
    client.resume();
    target.resume();
  };

  for (const chunk of earlyData) {
    sawUp(chunk);
    target.write(chunk);
  }
  streamPump(client, target, sawUp);
  streamPump(target, client, sawDown);
  watchEnds();

  if (options.idleTimeout > 0) {
    const checkIdle = (): void => {
      const idle = Date.now() - lastActivity;
      if (idle >= options.idleTimeout) finish('io timeout');
      else idleTimer = setTimeout(checkIdle, options.idleTimeout - idle).unref();
    };
    idleTimer = setTimeout(checkIdle, options.idleTimeout).unref();
  }

  return { close: (reason) => finish(reason) };
}
