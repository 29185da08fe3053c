import { execa } from 'execa';

/** A stand-in syslogd on a Unix datagram socket: every record it gets, one per entry, as Python's repr of the text. */
export interface Syslogd {
  readonly records: string[];
  /** Resolves once a record matches, or after `timeoutMs` (the caller asserts). */
  until(pattern: RegExp, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Node cannot bind a Unix datagram socket, the way /dev/log is used; python3
 * stands in. It listens before this resolves, and its records are collected
 * from the start, so that none arriving early is lost.
 */
export async function startSyslogd(path: string): Promise<Syslogd> {
  const child = execa('python3', ['-u', '-c', [
    'import socket,sys',
    's=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    `s.bind(${JSON.stringify(path)})`,
    'print("bound", flush=True)',
    // repr keeps a record on one line whatever bytes it holds.
    'while True: print(repr(s.recv(65536).decode(errors="replace")), flush=True)',
  ].join('\n')]);
  const records: string[] = [];
  await new Promise((resolve) => child.stdout!.once('data', resolve));
  child.stdout!.on('data', (d: Buffer) => records.push(...d.toString().split('\n').filter(Boolean)));
  return {
    records,
    until: async (pattern, timeoutMs = 5000) => {
      const deadline = Date.now() + timeoutMs;
      while (!records.some((r) => pattern.test(r)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    },
    stop: async () => {
      child.kill();
      await child.catch(() => undefined);
    },
  };
}
