// A minimal SOCKS5 client for health checks: the OCF agent's deep monitors
// (over the daemon's local socks.sock) and the failover drill (over TCP to a
// VIP). Every call has one overall deadline and rejects with what went wrong.
import { type NetConnectOpts, type Socket, connect } from 'node:net';
import { bytesToIPv4, bytesToIPv6, encodeAddress } from '../protocol/address.js';

/** Where the proxy is: a Unix socket path, or host and port. */
export type ProxyEndpoint = { path: string } | { host: string; port: number };

export interface Credentials {
  readonly user: string;
  readonly password: string;
}

/** Read exactly what the steps need from a socket, with one overall deadline. */
type Steps<T> = (send: (b: Buffer) => void, read: (n: number) => Promise<Buffer>) => Promise<T>;

/**
 * Run `steps` over a fresh connection within one deadline. The connection is
 * closed afterwards, unless `keep` is set (a UDP association lives as long as
 * its control connection); then it is handed back with the result.
 */
function converse<T>(proxy: ProxyEndpoint, steps: Steps<T>, timeoutMs: number): Promise<T>;
function converse<T>(proxy: ProxyEndpoint, steps: Steps<T>, timeoutMs: number, keep: true): Promise<{ result: T; socket: Socket }>;
function converse<T>(proxy: ProxyEndpoint, steps: Steps<T>, timeoutMs: number, keep = false): Promise<T | { result: T; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect(proxy as NetConnectOpts);
    let buffered = Buffer.alloc(0);
    let wake: (() => void) | undefined;
    let failed: Error | undefined;
    const timer = setTimeout(() => fail(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs);
    let talking = false;
    const fail = (err: Error): void => {
      failed ??= err;
      wake?.();
      // Before the conversation starts (refused, unreachable, timed out) nobody waits on a read: settle here.
      if (!talking) {
        clearTimeout(timer);
        socket.destroy();
        reject(failed);
      }
    };
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      wake?.();
    });
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('the proxy closed the connection')));
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
      talking = true;
      steps((b) => socket.write(b), read).then(
        (result) => {
          clearTimeout(timer);
          if (!keep) {
            socket.destroy();
            resolve(result);
            return;
          }
          socket.removeAllListeners('data');
          socket.removeAllListeners('close');
          resolve({ result, socket });
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

/** Greeting and, when the proxy asks for it, RFC 1929 authentication. */
async function negotiate(send: (b: Buffer) => void, read: (n: number) => Promise<Buffer>, credentials: Credentials | undefined): Promise<void> {
  send(METHODS(credentials !== undefined));
  const method = await read(2);
  if (method[1] === 2) {
    if (credentials === undefined) throw new Error('the proxy wants a username and password');
    const u = Buffer.from(credentials.user);
    const p = Buffer.from(credentials.password);
    send(Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]));
    const status = await read(2);
    if (status[1] !== 0) throw new Error(`the proxy refused user "${credentials.user}"`);
  } else if (method[1] !== 0) {
    throw new Error(`no acceptable method (reply ${method.toString('hex')})`);
  }
}

/** Read a reply's BND.ADDR and BND.PORT after its first four bytes. */
async function readBound(reply: Buffer, read: (n: number) => Promise<Buffer>): Promise<{ host: string; port: number }> {
  const atyp = reply[3];
  const length = atyp === 1 ? 4 : atyp === 4 ? 16 : (await read(1))[0]!;
  const raw = await read(length);
  const port = (await read(2)).readUInt16BE(0);
  const host = atyp === 1 ? bytesToIPv4(raw) : atyp === 4 ? bytesToIPv6(raw) : raw.toString();
  return { host, port };
}

/** A SOCKS5 greeting answered with an acceptable method (the agent's depth 10). */
export function socksGreeting(proxy: ProxyEndpoint, timeoutMs: number): Promise<void> {
  return converse(
    proxy,
    async (send, read) => {
      send(Buffer.from([5, 2, 0, 2]));
      const reply = await read(2);
      if (reply[0] !== 5 || reply[1] === 0xff) throw new Error(`unexpected greeting reply ${reply.toString('hex')}`);
    },
    timeoutMs,
  );
}

/**
 * An (authenticated) CONNECT to host:port; with `echo`, also send it and
 * expect the same bytes back (the drill's round trip through an echo server).
 */
export function socksConnect(
  proxy: ProxyEndpoint,
  host: string,
  port: number,
  credentials: Credentials | undefined,
  timeoutMs: number,
  echo?: Buffer,
): Promise<void> {
  return converse(
    proxy,
    async (send, read) => {
      await negotiate(send, read, credentials);
      send(encodeAddress(host, port, [5, 1, 0]));
      const reply = await read(4);
      if (reply[1] !== 0) throw new Error(`CONNECT to ${host}:${port} through the proxy failed with reply 0x${reply[1]!.toString(16).padStart(2, '0')}`);
      if (echo) {
        await readBound(reply, read);
        send(echo);
        const back = await read(echo.length);
        if (!back.equals(echo)) throw new Error('the echo came back different');
      }
    },
    timeoutMs,
  );
}

export interface UdpAssociation {
  /** The control connection; the association ends when it closes. */
  readonly control: Socket;
  /** Where to send datagrams: the relay address the proxy reported. */
  readonly relay: { host: string; port: number };
}

/** UDP ASSOCIATE from any source: the control connection stays open for the caller. */
export async function socksUdpAssociate(proxy: ProxyEndpoint, credentials: Credentials | undefined, timeoutMs: number): Promise<UdpAssociation> {
  const { result: relay, socket } = await converse(
    proxy,
    async (send, read) => {
      await negotiate(send, read, credentials);
      send(encodeAddress('0.0.0.0', 0, [5, 3, 0]));
      const reply = await read(4);
      if (reply[1] !== 0) throw new Error(`UDP ASSOCIATE failed with reply 0x${reply[1]!.toString(16).padStart(2, '0')}`);
      return readBound(reply, read);
    },
    timeoutMs,
    true,
  );
  return { control: socket, relay };
}
