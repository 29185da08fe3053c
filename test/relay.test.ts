// The relay's data paths against the real built proxy: the C relay
// (native addon present) splicing, the C relay with read() and send(), and
// Node streams (no addon).
// Megabytes of random data go both ways, each way checked by hash, with
// half-close in the middle and at the end, and the proxy's own byte counts.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type Socket, connect, createServer } from 'node:net';
import { type TestServer, listen } from './helpers/net.js';
import { downloadThrough } from './helpers/stream-end.js';
import { type RunningProxy, startProxy, stopAllProxies } from './helpers/proxy.js';

const MB = 1024 * 1024;
const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Reads everything until the client's FIN, then answers with `reply` and closes: the order half-close allows. */
let readThenReply: TestServer;
const received: Buffer[] = [];
const REPLY = randomBytes(6 * MB);
/** Echoes everything back as it comes, so both directions are busy at once. */
let echo: TestServer;
/** Resets the connection (RST) once it has received RESET_AFTER bytes. */
let resetter: TestServer;
const RESET_AFTER = 2 * MB;
/** Once the client speaks, sends a megabyte and then resets the connection (RST): a download that breaks off. */
let sendThenReset: TestServer;
/** Sends FIREHOSE_BYTES as fast as the kernel takes them, counting what it took, then closes. */
let firehose: TestServer;
const FIREHOSE_BYTES = 128 * MB;
let firehoseTaken = 0;

beforeAll(async () => {
  readThenReply = await listen(
    createServer({ allowHalfOpen: true }, (socket) => {
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('end', () => {
        received.push(Buffer.concat(chunks));
        socket.end(REPLY);
      });
    }),
  );
  echo = await listen(createServer({ allowHalfOpen: true }, (socket) => socket.pipe(socket)));
  resetter = await listen(
    createServer((socket) => {
      let got = 0;
      socket.on('data', (chunk: Buffer) => {
        got += chunk.length;
        if (got >= RESET_AFTER) socket.resetAndDestroy();
      });
    }),
  );
  sendThenReset = await listen(
    createServer((socket) => {
      socket.on('error', () => undefined);
      // Not before the client speaks: a reset that beat the proxy's own view of the connect would fail the CONNECT instead.
      socket.once('data', () => socket.write(randomBytes(MB), () => socket.resetAndDestroy()));
    }),
  );
  const block = randomBytes(MB);
  firehose = await listen(
    createServer((socket) => {
      firehoseTaken = 0;
      const more = (): void => {
        // One write at a time, each only once the kernel has taken the last: firehoseTaken is what left this process.
        if (firehoseTaken >= FIREHOSE_BYTES) {
          socket.end();
          return;
        }
        socket.write(block, () => {
          firehoseTaken += block.length;
          more();
        });
      };
      socket.on('error', () => undefined);
      more();
    }),
  );
});

afterAll(async () => {
  await stopAllProxies();
  await readThenReply.close();
  await echo.close();
  await resetter.close();
  await sendThenReset.close();
  await firehose.close();
});

async function socksConnect(proxy: RunningProxy, port: number): Promise<Socket> {
  const socket = connect({ port: proxy.port, host: '127.0.0.1', allowHalfOpen: true });
  await once(socket, 'connect');
  socket.write(Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, port >> 8, port & 255]));
  // Method reply (2) and CONNECT reply (10), read before anything else so they are not taken for data.
  const head = await readExactly(socket, 12);
  expect([...head.subarray(0, 4)]).toEqual([5, 0, 5, 0]);
  return socket;
}

function readExactly(socket: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let have = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      have = Buffer.concat([have, chunk]);
      if (have.length < n) return;
      socket.off('data', onData);
      socket.pause();
      if (have.length > n) socket.unshift(have.subarray(n));
      resolve(have.subarray(0, n));
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.resume(); // a socket paused by an earlier read does not flow again on its own
  });
}

function readAll(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.resume();
  return new Promise((resolve, reject) => {
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
}

/** Write `data` in chunks of varied size, so reads and sends fall at every kind of boundary. */
async function writeVaried(socket: Socket, data: Buffer): Promise<void> {
  let offset = 0;
  let size = 1;
  while (offset < data.length) {
    const end = Math.min(data.length, offset + size);
    if (!socket.write(data.subarray(offset, end))) await once(socket, 'drain');
    offset = end;
    size = size >= 512 * 1024 ? 1 : size * 7 + 3;
  }
}

const sessionOf = (line: string): string => /session (\d+) /.exec(line)![1]!;

/** A CONNECT's client is in C from accept on, and the C relay moves its bytes from the first one, short sessions included. */
const path = 'the C relay';
describe.each<{ name: string; env: Record<string, string> }>([
  { name: 'splicing', env: {} },
  // The way the C relay takes when no pipe can be had.
  { name: 'with read() and send()', env: { HASOCKS_RELAY_SPLICE: '0' } },
])('the C relay, $name', ({ env }) => {
  let proxy: RunningProxy;
  beforeAll(async () => {
    proxy = await startProxy(
      { debug: 1, rules: [{ type: 'client', action: 'pass', from: '0/0' }, { type: 'socks', action: 'pass', to: '0/0', log: ['disconnect'] }] },
      { env },
    );
  });
  afterAll(() => proxy.stop());

  test('8 MB up, then FIN, then 6 MB down: every byte arrives, in order, and the proxy counts them', async () => {
    const upload = randomBytes(8 * MB);
    const before = received.length;
    const socket = await socksConnect(proxy, readThenReply.port);
    const download = readAll(socket);
    await writeVaried(socket, upload);
    socket.end();
    const back = await download;
    expect(received.length).toBe(before + 1);
    expect(received.at(-1)!.length).toBe(upload.length);
    expect(sha(received.at(-1)!)).toBe(sha(upload));
    expect(back.length).toBe(REPLY.length);
    expect(sha(back)).toBe(sha(REPLY));
    const line = await proxy.waitForLog(/disconnect 127\.0\.0\.1:\d+: up 8388608 bytes/);
    expect(line).toMatch(/up 8388608 bytes, down 6291456 bytes, [\d.]+s, closed$/);
    await proxy.waitForLog(new RegExp(`session ${sessionOf(line)} .*relay ended on ${path}`));
  }, 60000);

  test('4 MB through an echo both ways at once comes back intact', async () => {
    const data = randomBytes(4 * MB);
    const socket = await socksConnect(proxy, echo.port);
    const back = readAll(socket);
    await writeVaried(socket, data);
    socket.end();
    const echoed = await back;
    expect(echoed.length).toBe(data.length);
    expect(sha(echoed)).toBe(sha(data));
  }, 60000);

  test('a short exchange, sent with the request, is relayed and counted', async () => {
    const socket = connect({ port: proxy.port, host: '127.0.0.1', allowHalfOpen: true });
    await once(socket, 'connect');
    // Greeting, CONNECT and data in one write: the data reaches the relay as early data.
    socket.end(Buffer.concat([Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, echo.port >> 8, echo.port & 255]), Buffer.from('hello')]));
    const back = await readAll(socket);
    expect(back.subarray(12).toString()).toBe('hello');
    const line = await proxy.waitForLog(/disconnect .*: up 5 bytes, down 5 bytes, [\d.]+s, closed$/);
    await proxy.waitForLog(new RegExp(`session ${sessionOf(line)} .*relay ended on ${path}`));
  }, 20000);

  test('a client that stops reading holds the target back, and then gets every byte', async () => {
    const socket = await socksConnect(proxy, firehose.port);
    // The client reads nothing for a second: only the kernel's socket buffers and the relay's one queued read may fill.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const heldAt = firehoseTaken;
    expect(heldAt).toBeLessThan(FIREHOSE_BYTES / 3);
    const all = await readAll(socket);
    expect(all.length).toBe(FIREHOSE_BYTES);
    expect(heldAt).toBeGreaterThan(0);
  }, 60000);

  // A FIN would tell the client its stream is complete, and one that reads to EOF would take the part it got for the whole.
  test('a reset from the target in the middle of a download reaches the client as a reset, not as the end of its stream', async () => {
    expect((await downloadThrough(proxy.port, sendThenReset.port).ended).end).toBe('reset');
    await proxy.waitForLog(new RegExp(`disconnect 127\\.0\\.0\\.1:${sendThenReset.port}: .*target error`));
  }, 20000);

  test('a reset from the target in the middle of a bulk upload ends the session as a target error', async () => {
    const socket = await socksConnect(proxy, resetter.port);
    // The proxy closes the client's connection with a reset, or the client's own write meets the closed socket.
    const closed = new Promise<void>((resolve) => {
      socket.on('end', resolve);
      socket.on('error', () => resolve());
    });
    socket.resume();
    socket.write(randomBytes(2 * RESET_AFTER));
    await closed;
    socket.destroy();
    // The reset meets the relay on a read (ECONNRESET) or on a send (ECONNRESET, or EPIPE once the socket is gone).
    const line = await proxy.waitForLog(new RegExp(`disconnect 127\\.0\\.0\\.1:${resetter.port}: .*target error \\(((read|write) )?(ECONNRESET|EPIPE)\\)`));
    await proxy.waitForLog(new RegExp(`session ${sessionOf(line)} .*relay ended on ${path}`));
  }, 20000);
});

test('on Node streams too, a reset from the target in the middle of a download reaches the client as a reset', async () => {
  const proxy = await startProxy({ rules: [{ type: 'client', action: 'pass', from: '0/0' }, { type: 'socks', action: 'pass', to: '0/0', log: ['data', 'disconnect'] }] });
  try {
    expect((await downloadThrough(proxy.port, sendThenReset.port).ended).end).toBe('reset');
    await proxy.waitForLog(new RegExp(`disconnect 127\\.0\\.0\\.1:${sendThenReset.port}: .*target error`));
  } finally {
    await proxy.stop();
  }
}, 20000);

test('a rule that logs data keeps its sessions on Node streams, with the addon built', async () => {
  const proxy = await startProxy({ debug: 1, rules: [{ type: 'client', action: 'pass', from: '0/0' }, { type: 'socks', action: 'pass', to: '0/0', log: ['data', 'disconnect'] }] });
  try {
    const socket = await socksConnect(proxy, echo.port);
    const back = readAll(socket);
    socket.end(Buffer.from('logged'));
    expect((await back).toString()).toBe('logged');
    await proxy.waitForLog(/data up 6 bytes: 6c6f67676564/);
    const line = await proxy.waitForLog(/disconnect .*: up 6 bytes, down 6 bytes/);
    await proxy.waitForLog(new RegExp(`session ${sessionOf(line)} .*relay ended on Node streams`));
  } finally {
    await proxy.stop();
  }
}, 20000);

/**
 * A BIND's client becomes a Node socket (data-path.ts): its relay starts on
 * Node streams and moves to the C relay at the first bulk read; a short
 * exchange stays on streams.
 */
describe('BIND: Node streams, then the C relay', () => {
  let proxy: RunningProxy;
  beforeAll(async () => {
    proxy = await startProxy({
      debug: 1,
      external: ['127.0.0.1'],
      rules: [{ type: 'client', action: 'pass', from: '0/0' }, { type: 'socks', action: 'pass', from: '0/0', to: '0/0', log: ['disconnect'] }],
    });
  });
  afterAll(() => proxy.stop());

  /** A BIND through the proxy, and the peer that connects to the port it opened. */
  async function bound(): Promise<{ client: Socket; peer: Socket }> {
    const client = connect({ port: proxy.port, host: '127.0.0.1', allowHalfOpen: true });
    await once(client, 'connect');
    client.write(Buffer.from([5, 1, 0, 5, 2, 0, 1, 127, 0, 0, 1, 0, 0]));
    const first = await readExactly(client, 2 + 10);
    expect(first[3]).toBe(0);
    const port = first.readUInt16BE(10);
    const peer = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    await once(peer, 'connect');
    const second = await readExactly(client, 10);
    expect(second[1]).toBe(0);
    return { client, peer };
  }

  test('8 MB from the peer and 8 MB back arrive intact, and the session ends on the C relay', async () => {
    const { client, peer } = await bound();
    const down = randomBytes(8 * MB);
    const up = randomBytes(8 * MB);
    const atClient = readAll(client);
    const atPeer = readAll(peer);
    await Promise.all([writeVaried(peer, down), writeVaried(client, up)]);
    peer.end();
    client.end();
    expect(sha(await atClient)).toBe(sha(down));
    expect(sha(await atPeer)).toBe(sha(up));
    const line = await proxy.waitForLog(/disconnect .*: up 8388608 bytes, down 8388608 bytes/);
    await proxy.waitForLog(new RegExp(`session ${sessionOf(line)} .*relay ended on the C relay`));
  }, 60000);

  test('a short exchange stays on Node streams', async () => {
    const { client, peer } = await bound();
    const atClient = readAll(client);
    const atPeer = readAll(peer);
    peer.end('ping');
    client.end('pong');
    expect((await atClient).toString()).toBe('ping');
    expect((await atPeer).toString()).toBe('pong');
    const line = await proxy.waitForLog(/disconnect .*: up 4 bytes, down 4 bytes/);
    await proxy.waitForLog(new RegExp(`session ${sessionOf(line)} .*relay ended on Node streams`));
  }, 20000);
});
