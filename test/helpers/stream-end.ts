import { execa } from 'execa';
import { onJsonLines } from './json-lines.js';

/** How a download ended, as the kernel told the client: a reset, or a FIN (EOF). */
export interface StreamEnd {
  readonly end: 'reset' | 'eof';
  /** Bytes of the stream, after the SOCKS replies. */
  readonly bytes: number;
}

export interface Download {
  /** The client's port, once connected (the proxy's log names the session by it). */
  readonly port: Promise<number>;
  /** Resolves once the first bytes of the stream have come. */
  readonly receiving: Promise<void>;
  readonly ended: Promise<StreamEnd>;
}

/**
 * A SOCKS5 CONNECT from 127.0.0.1 through the proxy on `proxyPort` to
 * 127.0.0.1:`targetPort`, which says "go" once connected and then reads
 * the stream until it ends. Whether it
 * ends in a reset or a FIN is the point, and Node cannot tell them apart:
 * libuv reports a reset that comes with the last data as the end of the
 * stream (a short read with POLLHUP is taken for EOF). python3 reads here
 * instead, until recv() returns nothing or fails.
 */
export function downloadThrough(proxyPort: number, targetPort: number): Download {
  const child = execa('python3', ['-u', '-c', [
    'import json, socket, struct',
    `s = socket.create_connection(("127.0.0.1", ${proxyPort}))`,
    'print(json.dumps({"port": s.getsockname()[1]}), flush=True)',
    `s.sendall(bytes([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1]) + struct.pack(">H", ${targetPort}))`,
    'head = b""',
    'while len(head) < 12:',
    '    d = s.recv(12 - len(head))',
    '    if not d: break',
    '    head += d',
    's.sendall(b"go")',
    'got, end = 0, "eof"',
    'while True:',
    '    try:',
    '        d = s.recv(1 << 16)',
    '    except ConnectionResetError:',
    '        end = "reset"',
    '        break',
    '    if not d: break',
    '    if got == 0: print(json.dumps({"receiving": True}), flush=True)',
    '    got += len(d)',
    'print(json.dumps({"end": end, "bytes": got}), flush=True)',
  ].join('\n')], { reject: false, timeout: 30000 });
  const events: Array<Record<string, unknown>> = [];
  const waiters = new Set<() => void>();
  onJsonLines(child.stdout!, (lines) => {
    events.push(...lines);
    for (const wake of [...waiters]) wake();
  });
  const event = <T>(key: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const found = events.find((e) => key in e);
        if (found) {
          waiters.delete(check);
          resolve((key === 'end' ? found : found[key]) as T);
        }
      };
      waiters.add(check);
      check();
      void child.then((result) => {
        check();
        if (waiters.has(check)) {
          waiters.delete(check);
          reject(new Error(`the download ended without "${key}": ${String(result.stderr)}`));
        }
      });
    });
  // A caller waits for some of these only: the others must not fail as unhandled.
  const quiet = <T>(promise: Promise<T>): Promise<T> => {
    promise.catch(() => undefined);
    return promise;
  };
  return { port: quiet(event<number>('port')), receiving: quiet(event<void>('receiving')), ended: quiet(event<StreamEnd>('end')) };
}
