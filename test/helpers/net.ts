import { createServer, type AddressInfo, type Server, type Socket, connect } from 'node:net';
import { type Socket as UdpSocket, createSocket } from 'node:dgram';
import { once } from 'node:events';
import { encodeAddress, formatEndpoint, unmapIPv4 } from '../../src/protocol/address.js';

/** A port that was free a moment ago on 127.0.0.1 (the kernel picks it). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface TestServer {
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

/** Track sockets so close() does not wait for clients that never hang up. */
export async function listen(server: Server, host = '127.0.0.1'): Promise<TestServer> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, host);
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** TCP echo server: writes back what it reads and half-closes when the client does. */
export function startEchoServer(host = '127.0.0.1'): Promise<TestServer> {
  return listen(
    createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => undefined);
      socket.pipe(socket);
    }),
    host,
  );
}

/**
 * A raw TCP client for speaking SOCKS byte by byte: reads exactly n bytes,
 * and tells when the server has closed.
 */
export class RawClient {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private waiter: (() => void) | undefined;
  ended = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      this.waiter?.();
    });
    socket.on('end', () => {
      this.ended = true;
      this.waiter?.();
    });
    socket.on('error', () => {
      this.ended = true;
      this.waiter?.();
    });
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
  }

  /** Wrap a socket the caller connected itself (for a chosen source address). */
  static wrap(socket: Socket): RawClient {
    return new RawClient(socket);
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    const socket = connect({ port, host, allowHalfOpen: true });
    await once(socket, 'connect');
    return new RawClient(socket);
  }

  send(bytes: Buffer | number[]): void {
    this.socket.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes));
  }

  /** Exactly n bytes, or an error if the server closes or nothing comes within the time limit. */
  async read(n: number, timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.buffered < n) {
      if (this.ended) throw new Error(`server closed after ${this.buffered} of ${n} bytes: ${Buffer.concat(this.chunks).toString('hex')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out with ${this.buffered} of ${n} bytes`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const all = Buffer.concat(this.chunks);
    this.chunks.length = 0;
    if (all.length > n) this.chunks.push(all.subarray(n));
    this.buffered = all.length - n;
    return all.subarray(0, n);
  }

  /** Resolves true once the server has closed its side (FIN or reset) within the time limit. */
  async waitForEnd(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return this.ended;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/**
 * The proxy's log line for the end of `client`'s session. The proxy writes it
 * in the same step that frees the session's slots (session.max, a rule's
 * limits), so once it is logged a new session may take them. Take it before
 * destroying the client: a destroyed socket has no local port any more.
 */
export function sessionEndLine(client: RawClient): RegExp {
  const { localAddress, localPort } = client.socket;
  const endpoint = formatEndpoint(unmapIPv4(localAddress!), localPort!);
  return new RegExp(`${endpoint.replace(/[.[\]]/g, '\\$&')}: disconnect `);
}

/** SOCKS5 request bytes for CONNECT/BIND/UDP to an IPv4, IPv6 or domain destination. */
export function socks5Request(command: number, host: string, port: number): Buffer {
  return Buffer.concat([Buffer.from([0x05, command, 0x00]), encodeAddress(host, port)]);
}

/**
 * A UDP association through the proxy on `port` (SOCKS5, no authentication,
 * any sender port): its control connection, the relay's port, and a UDP
 * socket on 127.0.0.1 to send from. The caller closes both.
 */
export async function openAssociation(port: number): Promise<{ control: RawClient; relayPort: number; client: UdpSocket }> {
  const control = await RawClient.connect(port);
  control.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(3, '0.0.0.0', 0)]));
  await control.read(2);
  const reply = await control.read(10);
  if (reply[1] !== 0) throw new Error(`UDP ASSOCIATE refused with 0x${reply[1]!.toString(16)}`);
  const client = createSocket('udp4');
  client.bind(0, '127.0.0.1');
  await once(client, 'listening');
  return { control, relayPort: reply.readUInt16BE(8), client };
}
