// SOCKS5 CONNECT against the real built proxy, with raw sockets so every
// byte of every reply is checked. Targets are servers this test starts on
// loopback; the reply codes that need a routing failure run inside a network
// namespace the test creates.
import { execa } from 'execa';
import { createServer, type Socket } from 'node:net';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Netns, createNetns } from './helpers/netns.js';
import { RawClient, type TestServer, listen, socks5Request, startEchoServer } from './helpers/net.js';
import { REPO, type RunningProxy, startProxy, stopAllProxies } from './helpers/proxy.js';

const GREETING = [0x05, 0x01, 0x00];
const CONNECT = 0x01;

let echo: TestServer;
let echo6: TestServer;
let proxy: RunningProxy;
const echoPeers: Array<{ address: string; port: number }> = [];

beforeAll(async () => {
  echo = await startEchoServer();
  echo.server.on('connection', (s: Socket) => echoPeers.push({ address: s.remoteAddress!, port: s.remotePort! }));
  echo6 = await startEchoServer('::1');
});

afterAll(async () => {
  await stopAllProxies();
  await echo.close();
  await echo6.close();
});

/** Greeting + request; returns the client after the method reply has been checked. */
async function request(host: string, port: number, command = CONNECT): Promise<RawClient> {
  const client = await RawClient.connect(proxy.port);
  client.send(GREETING);
  expect([...(await client.read(2))]).toEqual([0x05, 0x00]);
  client.send(socks5Request(command, host, port));
  return client;
}

/** Read a whole SOCKS5 reply; returns code, address and port. */
async function readReply(client: RawClient): Promise<{ code: number; atyp: number; address: string; port: number }> {
  const head = await client.read(4);
  expect(head[0]).toBe(0x05);
  expect(head[2]).toBe(0x00);
  const atyp = head[3]!;
  const length = atyp === 1 ? 4 : atyp === 4 ? 16 : (await client.read(1))[0]!;
  const raw = await client.read(length);
  const port = (await client.read(2)).readUInt16BE(0);
  const address =
    atyp === 1
      ? [...raw].join('.')
      : atyp === 4
        ? (raw.toString('hex').match(/.{4}/g) ?? []).map((g) => g.replace(/^0+(?=.)/, '')).join(':')
        : raw.toString();
  return { code: head[1]!, atyp, address, port };
}

async function expectFailure(client: RawClient, code: number): Promise<void> {
  const reply = await readReply(client);
  expect(reply.code).toBe(code);
  // After any failure reply the proxy closes the connection.
  expect(await client.waitForEnd()).toBe(true);
  client.destroy();
}

describe('SOCKS5 CONNECT', () => {
  beforeAll(async () => {
    proxy = await startProxy(
      {
        rules: [
          { type: 'client', action: 'pass', from: '0/0' },
          { type: 'socks', action: 'block', to: '127.0.0.99/32', comment: 'used by the not-allowed test' },
          { type: 'socks', action: 'pass', to: '0/0' },
        ],
        timeout: { connect: 1, negotiate: 30 },
      },
    );
  });
  afterAll(() => proxy.stop());

  describe('CONNECT succeeds', () => {
    test('IPv4: the reply carries the real local address and port of the outgoing connection', async () => {
      const client = await request('127.0.0.1', echo.port);
      const reply = await readReply(client);
      expect(reply).toMatchObject({ code: 0, atyp: 1, address: '127.0.0.1' });
      expect(reply.port).not.toBe(0);
      client.send(Buffer.from('ping'));
      expect((await client.read(4)).toString()).toBe('ping');
      // The echo server saw the connection come from exactly that address and port.
      expect(echoPeers).toContainEqual({ address: '127.0.0.1', port: reply.port });
      client.destroy();
    });

    test('IPv6 destination, IPv6 reply', async () => {
      const client = await request('::1', echo6.port);
      const reply = await readReply(client);
      expect(reply).toMatchObject({ code: 0, atyp: 4, address: '0:0:0:0:0:0:0:1' });
      expect(reply.port).not.toBe(0);
      client.send(Buffer.from('v6'));
      expect((await client.read(2)).toString()).toBe('v6');
      client.destroy();
    });

    test('domain name: the proxy resolves it', async () => {
      const client = await request('localhost', echo.port);
      const reply = await readReply(client);
      expect(reply.code).toBe(0);
      expect(['127.0.0.1', '0:0:0:0:0:0:0:1']).toContain(reply.address);
      client.send(Buffer.from('named'));
      expect((await client.read(5)).toString()).toBe('named');
      client.destroy();
    });

    test('a handshake sent one byte at a time works', async () => {
      const client = await RawClient.connect(proxy.port);
      const bytes = [...GREETING, ...socks5Request(CONNECT, '127.0.0.1', echo.port)];
      for (const byte of bytes) {
        client.send([byte]);
        // Pacing, not a wait for anything: a pause after each byte so that each arrives in a read of its own.
        await new Promise((r) => setTimeout(r, 3));
      }
      expect([...(await client.read(2))]).toEqual([0x05, 0x00]);
      expect((await readReply(client)).code).toBe(0);
      client.send(Buffer.from('slow'));
      expect((await client.read(4)).toString()).toBe('slow');
      client.destroy();
    });

    test('greeting, request and early data in one packet: nothing lost or reordered', async () => {
      const client = await RawClient.connect(proxy.port);
      const early = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
      client.send(Buffer.concat([Buffer.from(GREETING), socks5Request(CONNECT, '127.0.0.1', echo.port), early]));
      expect([...(await client.read(2))]).toEqual([0x05, 0x00]);
      expect((await readReply(client)).code).toBe(0);
      expect((await client.read(early.length)).equals(early)).toBe(true);
      client.destroy();
    });

    test('half-close passes through: the client FIN reaches the target, the answer still comes back', async () => {
      const client = await request('127.0.0.1', echo.port);
      expect((await readReply(client)).code).toBe(0);
      client.socket.end(Buffer.from('last words'));
      expect((await client.read(10)).toString()).toBe('last words');
      expect(await client.waitForEnd()).toBe(true);
    });
  });

  describe('CONNECT failure replies', () => {
    test('0x01 general failure: a request whose version is not 5', async () => {
      const client = await RawClient.connect(proxy.port);
      client.send(GREETING);
      await client.read(2);
      const bad = socks5Request(CONNECT, '127.0.0.1', echo.port);
      bad[0] = 0x04;
      client.send(bad);
      await expectFailure(client, 0x01);
    });

    test('0x02 not allowed by rules', async () => {
      await expectFailure(await request('127.0.0.99', echo.port), 0x02);
    });

    test('0x05 connection refused', async () => {
      const closed = await listen(createServer());
      const port = closed.port;
      await closed.close();
      await expectFailure(await request('127.0.0.1', port), 0x05);
    });

    test('0x06 timeout: the target never answers the SYN', async () => {
      // A listener whose accept queue is full drops new SYNs: a silent target on loopback.
      const silent = execa('python3', ['-c', [
        'import socket,sys',
        's=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(0)',
        'c=socket.socket(); c.connect(s.getsockname())',
        'print(s.getsockname()[1], flush=True)',
        'sys.stdin.read()',
      ].join('\n')], { stdin: 'pipe' });
      try {
        const port = await new Promise<number>((resolve) => silent.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
        const started = Date.now();
        await expectFailure(await request('127.0.0.1', port), 0x06);
        expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      } finally {
        silent.stdin!.end();
        await silent.catch(() => undefined);
      }
    });

    test('0x07 command not supported: an unknown command', async () => {
      await expectFailure(await request('127.0.0.1', echo.port, 0x09), 0x07);
    });

    test('0x08 address type not supported', async () => {
      const client = await RawClient.connect(proxy.port);
      client.send(GREETING);
      await client.read(2);
      client.send([0x05, 0x01, 0x00, 0x05, 1, 2, 3, 4, 0, 80]);
      await expectFailure(client, 0x08);
    });

    test('no acceptable method: 0x05 0xFF, then close', async () => {
      const client = await RawClient.connect(proxy.port);
      client.send([0x05, 0x02, 0x02, 0x01]);
      expect([...(await client.read(2))]).toEqual([0x05, 0xff]);
      expect(await client.waitForEnd()).toBe(true);
      client.destroy();
    });

    test('a refused client that hangs up too is closed at once, not after the 2 s linger', async () => {
      const open = (): number => readdirSync(`/proc/${proxy.pid}/fd`).length;
      const before = open();
      const client = await RawClient.connect(proxy.port);
      client.send([0x05, 0x01, 0x02]);
      expect([...(await client.read(2))]).toEqual([0x05, 0xff]);
      expect(await client.waitForEnd()).toBe(true);
      client.socket.end();
      const started = Date.now();
      while (open() > before && Date.now() - started < 1500) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(open()).toBe(before);
      client.destroy();
    });

    test('garbage gets a clean close, and the next client is served', async () => {
      const garbage = await RawClient.connect(proxy.port);
      garbage.send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      expect(await garbage.waitForEnd()).toBe(true);
      garbage.destroy();
      const zeroMethods = await RawClient.connect(proxy.port);
      zeroMethods.send([0x05, 0x00]);
      expect([...(await zeroMethods.read(2))]).toEqual([0x05, 0xff]);
      zeroMethods.destroy();
      const client = await request('127.0.0.1', echo.port);
      expect((await readReply(client)).code).toBe(0);
      client.destroy();
    });
  });

  describe('reply codes that need a routing failure (inside a test network namespace)', () => {
    let ns: Netns;
    let nsProxy: RunningProxy;
    const client = join(REPO, 'test', 'helpers', 'socks-client.mjs');

    beforeAll(async () => {
      ns = await createNetns();
      // Inside the namespace only loopback exists: 203.0.113.0/24 has no route
      // (ENETUNREACH), and 198.51.100.0/24 is an "unreachable" route
      // (EHOSTUNREACH). Neither sends a packet anywhere.
      await ns.exec('ip', ['route', 'add', 'unreachable', '198.51.100.0/24']);
      nsProxy = await startProxy({ internal: ['127.0.0.1:1080'] }, { netns: ns.name });
    });

    afterAll(async () => {
      await nsProxy?.stop();
      await ns?.remove();
    });

    const probeCode = async (host: string): Promise<string> =>
      (JSON.parse((await ns.exec(process.execPath, [client, 'probe', '127.0.0.1', '1080', host, '80'])).stdout) as { code: string }).code;

    test('0x03 network unreachable', async () => {
      expect(await probeCode('203.0.113.7')).toBe('03');
    });

    test('0x04 host unreachable', async () => {
      expect(await probeCode('198.51.100.7')).toBe('04');
    });

    test('0x04 host unreachable: the name does not resolve', async () => {
      expect(await probeCode('no-such-host.hasocks.test')).toBe('04');
    });
  });
});
