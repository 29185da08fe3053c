// Talking to this node's daemon over its local Unix sockets: the control
// socket (JSON lines) and the probe socket, which speaks SOCKS5.
import { connect } from 'node:net';

/** One JSON request on control.sock; resolves with the reply, rejects on timeout or error. */
export function control<T>(path: string, request: object, timeoutMs = 2000): Promise<T> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer on ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(data) as T);
      } catch {
        reject(new Error(`unreadable answer on ${path}: ${data.slice(0, 80)}`));
      }
    });
  });
}

/** Read exactly what the steps need from a socket, with one overall deadline. */
function converse(path: string, steps: (send: (b: Buffer) => void, read: (n: number) => Promise<Buffer>) => Promise<void>, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let buffered = Buffer.alloc(0);
    let wake: (() => void) | undefined;
    let failed: Error | undefined;
    const timer = setTimeout(() => fail(new Error(`SOCKS probe on ${path} timed out after ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error): void => {
      failed ??= err;
      wake?.();
    };
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      wake?.();
    });
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('the proxy closed the probe connection')));
    const read = async (n: number): Promise<Buffer> => {
      while (buffered.length < n) {
        if (failed) throw failed;
        await new Promise<void>((r) => (wake = r));
      }
      const out = buffered.subarray(0, n);
      buffered = buffered.subarray(n);
      return out;
    };
    socket.on('connect', () => {
      steps((b) => socket.write(b), read).then(
        () => {
          clearTimeout(timer);
          socket.destroy();
          resolve();
        },
        (err: Error) => {
          clearTimeout(timer);
          socket.destroy();
          reject(err);
        },
      );
    });
  });
}

const METHODS = (withPassword: boolean) => Buffer.from(withPassword ? [5, 2, 0, 2] : [5, 1, 0]);

/** Depth 10: a SOCKS5 greeting answered with an acceptable method. */
export function socksGreeting(path: string, timeoutMs: number): Promise<void> {
  return converse(
    path,
    async (send, read) => {
      send(Buffer.from([5, 2, 0, 2]));
      const reply = await read(2);
      if (reply[0] !== 5 || reply[1] === 0xff) throw new Error(`unexpected greeting reply ${reply.toString('hex')}`);
    },
    timeoutMs,
  );
}

/** Depth 20: an (authenticated) CONNECT through this instance to host:port. */
export function socksConnect(path: string, host: string, port: number, user: string | undefined, password: string | undefined, timeoutMs: number): Promise<void> {
  return converse(
    path,
    async (send, read) => {
      send(METHODS(user !== undefined));
      const method = await read(2);
      if (method[1] === 2) {
        if (user === undefined) throw new Error('the proxy wants a username; set probe_user and probe_password');
        const u = Buffer.from(user);
        const p = Buffer.from(password ?? '');
        send(Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]));
        const status = await read(2);
        if (status[1] !== 0) throw new Error(`the proxy refused probe_user "${user}"`);
      } else if (method[1] !== 0) {
        throw new Error(`no acceptable method (reply ${method.toString('hex')})`);
      }
      const name = Buffer.from(host);
      const portBytes = Buffer.alloc(2);
      portBytes.writeUInt16BE(port);
      send(Buffer.concat([Buffer.from([5, 1, 0, 3, name.length]), name, portBytes]));
      const reply = await read(4);
      if (reply[1] !== 0) throw new Error(`CONNECT to ${host}:${port} through the proxy failed with reply 0x${reply[1]!.toString(16).padStart(2, '0')}`);
    },
    timeoutMs,
  );
}
