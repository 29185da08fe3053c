import type { Socket } from 'node:net';
import type { TcpConnId } from '../native/addon.js';
import { handOverToNative, relayConns } from './native-relay.js';
import type { ClientFraming, RelayPath, RelayPathEvents } from './relay-path.js';
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
 * This is the relay for Node sockets: BIND, the agent's probes,
 * and rules that log data (sessions in C go to relayInC). It starts on Node
 * streams (stream-relay.ts) and moves to the addon's C relay
 * (native-relay.ts) at the first bulk read, unless a rule logs its data.
 * Short sessions never pay for the move, which costs two dup()s, two
 * closes and epoll changes. Timeouts, half-close and accounting are the
 * same on every path. A client that speaks in protected messages
 * (`framing`, GSSAPI) stays on Node streams: C cannot unwrap them.
 */
export function relay(client: Socket, target: Socket, earlyData: readonly Buffer[], options: RelayOptions, onEnd: (result: RelayResult) => void, framing?: ClientFraming): RelayHandle {
  if (framing) return supervise(options, onEnd, (events) => streamRelay(client, target, earlyData, options.onData, events, undefined, framing));
  return supervise(options, onEnd, (events, session) => {
    /** Move to the C relay, unless the session is ending, a FIN has passed, or a write is still queued (the next bulk read tries again). */
    let moving = false;
    let moved = false;
    const moveToNative = (): void => {
      moving = false;
      if (session.over() || client.writableLength > 0 || target.writableLength > 0) return;
      const native = handOverToNative(client, target, events);
      if (!native) return;
      moved = true;
      session.moveTo(native);
    };
    const onBulkRead =
      options.onData === undefined
        ? (): void => {
            if (moving || moved) return;
            moving = true;
            setImmediate(moveToNative); // not from inside the stream's own read callback
          }
        : undefined;
    return streamRelay(client, target, earlyData, options.onData, events, onBulkRead);
  });
}

/**
 * A session whose sockets are C's from the start (sockets/c-sessions.ts):
 * the C relay takes the client and its connected dial at once.
 */
export function relayInC(client: TcpConnId, dial: TcpConnId, earlyData: readonly Buffer[], options: RelayOptions, onEnd: (result: RelayResult) => void): RelayHandle {
  return supervise(options, onEnd, (events) => relayConns(client, dial, earlyData, events));
}

/** What a path's starter may ask of the relay that runs it. */
interface Supervision {
  /** Whether the session is ending or a FIN has passed: too late to move. */
  over(): boolean;
  /** Carry on on `next`; what the old path moved stays counted. */
  moveTo(next: RelayPath): void;
}

/** Timeouts, FIN wait, accounting and the end, the same for every path. */
function supervise(options: RelayOptions, onEnd: (result: RelayResult) => void, start: (events: RelayPathEvents, session: Supervision) => RelayPath): RelayHandle {
  let finished = false;
  let fins = 0;
  let idleTimer: NodeJS.Timeout | undefined;
  let finTimer: NodeJS.Timeout | undefined;
  /** What earlier paths had moved when the session moved on. */
  let before = { up: 0, down: 0 };

  const events: RelayPathEvents = {
    onFin: (): void => {
      fins++;
      if (fins === 1 && options.finWait > 0) finTimer = setTimeout(() => finish('tcp_fin_wait timeout'), options.finWait).unref();
    },
    onEnd: (reason: string, error?: Error): void => finish(reason, error),
  };
  const session: Supervision = {
    over: () => finished || fins > 0,
    moveTo: (next) => {
      const moved = path.bytes();
      before = { up: before.up + moved.up, down: before.down + moved.down };
      path = next;
    },
  };
  let path: RelayPath = start(events, session);

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
