// Real SOCKS clients through the built proxy: curl, netcat-openbsd and the
// `socks` npm client, against servers this test starts on loopback.
import { execa } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { SocksClient } from 'socks';
import { ipv6ToBytes } from '../src/protocol/address.js';
import { type TestServer, listen, startEchoServer } from './helpers/net.js';
import { type RunningProxy, startProxy, stopAllProxies } from './helpers/proxy.js';

const BODY = randomBytes(6 * 1024 * 1024);
const BODY_SHA = createHash('sha256').update(BODY).digest('hex');

let web: TestServer;
let echo: TestServer;
let echo6: TestServer;
let proxy: RunningProxy;

beforeAll(async () => {
  web = await listen(
    createServer((req, res) => {
      if (req.url === '/big') {
        res.writeHead(200, { 'content-length': BODY.length });
        res.end(BODY);
      } else if (req.method === 'POST') {
        const hash = createHash('sha256');
        req.on('data', (chunk: Buffer) => hash.update(chunk));
        req.on('end', () => res.end(hash.digest('hex')));
      } else {
        res.end('hello through socks\n');
      }
    }),
  );
  echo = await startEchoServer();
  echo6 = await startEchoServer('::1');
  // debug: 1 logs which relay path each session ended on.
  proxy = await startProxy({ debug: 1 });
});

afterAll(async () => {
  await stopAllProxies();
  await Promise.all([web.close(), echo.close(), echo6.close()]);
});

describe('curl', () => {
  test('--socks5 fetches a multi-megabyte body byte for byte', async () => {
    const result = await execa('curl', ['-sS', '--fail', '--socks5', `127.0.0.1:${proxy.port}`, `http://127.0.0.1:${web.port}/big`], {
      encoding: 'buffer',
    });
    expect(result.stdout.length).toBe(BODY.length);
    expect(createHash('sha256').update(result.stdout).digest('hex')).toBe(BODY_SHA);
    // With the native addon built, the C relay moves the body.
    await proxy.waitForLog(/relay ended on the C relay/);
  });

  test('--socks5-hostname lets the proxy resolve the name', async () => {
    const result = await execa('curl', ['-sS', '--fail', '--socks5-hostname', `127.0.0.1:${proxy.port}`, `http://localhost:${web.port}/big`], {
      encoding: 'buffer',
    });
    expect(createHash('sha256').update(result.stdout).digest('hex')).toBe(BODY_SHA);
    expect(proxy.logs()).toMatch(/connect localhost:\d+ \[(127\.0\.0\.1|::1)\]/);
  });

  test('an upload of several megabytes arrives intact', async () => {
    const result = await execa(
      'curl',
      ['-sS', '--fail', '--socks5', `127.0.0.1:${proxy.port}`, '--data-binary', '@-', `http://127.0.0.1:${web.port}/upload`],
      { input: BODY },
    );
    expect(result.stdout).toBe(BODY_SHA);
  });
});

describe('netcat-openbsd', () => {
  test('nc -X 5 -x talks to an echo server', async () => {
    const result = await execa('nc', ['-N', '-X', '5', '-x', `127.0.0.1:${proxy.port}`, '127.0.0.1', String(echo.port)], {
      input: 'hello over nc\n',
      timeout: 10000,
    });
    expect(result.stdout).toBe('hello over nc');
    // A short exchange, yet on the C relay: the session's sockets were C's from accept on (c-sessions.ts).
    // On Node sockets a session this short would have stayed on Node streams.
    const line = await proxy.waitForLog(new RegExp(`SOCKS5 connect 127\\.0\\.0\\.1:${echo.port}$`));
    const session = /session (\d+) /.exec(line)![1]!;
    await proxy.waitForLog(new RegExp(`session ${session} .*relay ended on the C relay`));
  });
});

describe('the socks npm client', () => {
  const roundTrip = async (host: string, port: number): Promise<{ text: string; remoteHost: string | undefined }> => {
    const { socket, remoteHost } = await SocksClient.createConnection({
      proxy: { host: '127.0.0.1', port: proxy.port, type: 5 },
      command: 'connect',
      destination: { host, port },
    });
    socket.write(`to ${host}`);
    const text = await new Promise<string>((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString())));
    socket.destroy();
    return { text, remoteHost: remoteHost?.host };
  };

  test('IPv4', async () => {
    const { text, remoteHost } = await roundTrip('127.0.0.1', echo.port);
    expect(text).toBe('to 127.0.0.1');
    expect(remoteHost).toBe('127.0.0.1');
  });

  test('IPv6', async () => {
    const { text, remoteHost } = await roundTrip('::1', echo6.port);
    expect(text).toBe('to ::1');
    // The client prints the reported address in full form; compare the bytes.
    expect(ipv6ToBytes(remoteHost!)).toEqual(ipv6ToBytes('::1'));
  });

  test('domain name', async () => {
    expect((await roundTrip('localhost', echo.port)).text).toBe('to localhost');
  });
});
