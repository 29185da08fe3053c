import type { Socket } from 'node:net';

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
}

export interface RelayHandle {
  /** End the session now (drain timeout, shutdown). */
  close(reason: string): void;
}

/**
 * Move bytes both ways between an accepted client and its outgoing
 * connection. Each direction applies its own backpressure: when the writer's
 * buffer is full the reader pauses until it drains, so one slow peer never
 * makes the proxy buffer without bound. Half-close is passed through (FIN in
 * one direction keeps the other open), as SOCKS clients such as
 * `nc -N` rely on.
 */
export function relay(
  client: Socket,
  target: Socket,
  earlyData: readonly Buffer[],
  options: RelayOptions,
  onEnd: (result: RelayResult) => void,
): RelayHandle {
  let bytesUp = 0;
  let bytesDown = 0;
  let lastActivity = Date.now();
  let finished = false;
  let endedSides = 0;
  let idleTimer: NodeJS.Timeout | undefined;
  let finTimer: NodeJS.Timeout | undefined;

  const finish = (reason: string, error?: Error): void => {
    if (finished) return;
    finished = true;
    clearTimeout(idleTimer);
    clearTimeout(finTimer);
    client.destroy();
    target.destroy();
    onEnd({ bytesUp, bytesDown, reason, error });
  };

  const pump = (from: Socket, to: Socket, direction: 'up' | 'down', count: (n: number) => void): void => {
    const onData = options.onData;
    from.on('data', (chunk: Buffer) => {
      count(chunk.length);
      onData?.(direction, chunk);
      lastActivity = Date.now();
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => from.resume());
    from.on('end', () => {
      to.end();
      endedSides++;
      if (endedSides === 1 && options.finWait > 0) {
        finTimer = setTimeout(() => finish('tcp_fin_wait timeout'), options.finWait);
        finTimer.unref();
      }
    });
  };

  for (const chunk of earlyData) {
    bytesUp += chunk.length;
    options.onData?.('up', chunk);
    target.write(chunk);
  }
  pump(client, target, 'up', (n) => (bytesUp += n));
  pump(target, client, 'down', (n) => (bytesDown += n));

  client.on('error', (err) => finish('client error', err));
  target.on('error', (err) => finish('target error', err));
  // A socket closes normally only after FIN both ways; then the other may
  // still be flushing, so wait for it. Closing before both FINs means a reset
  // or a destroy, and nothing more can flow either way.
  let closedSides = 0;
  const onClose = (): void => {
    closedSides++;
    if (endedSides < 2) finish('reset');
    else if (closedSides === 2) finish('closed');
  };
  client.on('close', onClose);
  target.on('close', onClose);

  if (options.idleTimeout > 0) {
    const checkIdle = (): void => {
      const idle = Date.now() - lastActivity;
      if (idle >= options.idleTimeout) finish('io timeout');
      else idleTimer = setTimeout(checkIdle, options.idleTimeout - idle).unref();
    };
    idleTimer = setTimeout(checkIdle, options.idleTimeout).unref();
  }

  client.resume();
  return { close: (reason) => finish(reason) };
}
