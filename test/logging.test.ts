// Log outputs of the real proxy: file, syslog over UDP, syslog on a Unix
// socket (standing in for /dev/log, received by a real datagram socket), and
// the debug trace.
import { startSyslogd } from './helpers/syslogd.js';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawClient, type TestServer, socks5Request, startEchoServer } from './helpers/net.js';
import { type RunningProxy, startProxy, stopAllProxies } from './helpers/proxy.js';

let echo: TestServer;
let dir: string;
beforeAll(async () => {
  echo = await startEchoServer();
  dir = mkdtempSync(join(tmpdir(), 'hasocks-log-'));
});
afterEach(stopAllProxies);
afterAll(async () => {
  await echo.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One CONNECT session that sends `up` bytes and reads them back, then closes. */
async function session(proxy: RunningProxy, up: number): Promise<void> {
  const client = await RawClient.connect(proxy.port);
  client.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, '127.0.0.1', echo.port), Buffer.alloc(up, 0x61)]));
  await client.read(2 + 10 + up);
  client.socket.end();
  await client.closed;
}

test('file output: connect, disconnect with bytes each way, and errors', async () => {
  const file = join(dir, 'hasocks.log');
  const proxy = await startProxy({ logoutput: [file] });
  await session(proxy, 1234);
  const refused = await RawClient.connect(proxy.port);
  refused.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, '127.0.0.1', 1)]));
  await refused.waitForEnd();
  refused.destroy();
  await proxy.stop();
  const text = readFileSync(file, 'utf8');
  expect(text).toMatch(/pass client-rule #1: client 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+/);
  expect(text).toMatch(new RegExp(`pass socks-rule #1: connect 127\\.0\\.0\\.1:${echo.port} from 127\\.0\\.0\\.1:\\d+`));
  expect(text).toMatch(new RegExp(`disconnect 127\\.0\\.0\\.1:${echo.port}: up 1234 bytes, down 1234 bytes, \\d+\\.\\d+s, closed`));
  expect(text).toMatch(/127\.0\.0\.1:1: connection refused \(.*ECONNREFUSED/);
});

test('rules decide what is logged: log [] silences a rule', async () => {
  const file = join(dir, 'quiet.log');
  const proxy = await startProxy({
    logoutput: [file],
    rules: [
      { type: 'client', action: 'pass', log: [] },
      { type: 'socks', action: 'pass', log: ['disconnect'] },
    ],
  });
  await session(proxy, 10);
  await proxy.stop();
  const text = readFileSync(file, 'utf8');
  expect(text).not.toMatch(/client-rule/);
  expect(text).not.toMatch(/: connect /);
  expect(text).toMatch(/disconnect .* up 10 bytes, down 10 bytes/);
});

test('syslog over UDP to a loopback address, with facility and pid', async () => {
  const receiver = createSocket('udp4');
  receiver.bind(0, '127.0.0.1');
  await once(receiver, 'listening');
  const messages: string[] = [];
  receiver.on('message', (m) => messages.push(m.toString()));
  try {
    const proxy = await startProxy({ logoutput: [`syslog/local3@127.0.0.1:${receiver.address().port}`] }, { args: [] });
    await session(proxy, 5);
    const deadline = Date.now() + 5000;
    while (!messages.some((m) => m.includes('disconnect')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    // local3 = 19, info = 6: PRI 19*8+6 = 158.
    const ready = messages.find((m) => m.includes('ready with config'));
    expect(ready).toMatch(new RegExp(`^<158>[A-Z][a-z]{2} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d \\S+ hasocks\\[${proxy.pid}\\]: hasocks ${proxy.pid} ready`));
    expect(messages.some((m) => /disconnect .* up 5 bytes, down 5 bytes/.test(m))).toBe(true);
  } finally {
    receiver.close();
  }
});

test('syslog on a Unix datagram socket, the way /dev/log is used', async () => {
  const path = join(dir, 'log.sock');
  const syslogd = await startSyslogd(path);
  try {
    expect(existsSync(path)).toBe(true);
    const proxy = await startProxy({ logoutput: [`syslog/local0@${path}`, 'stderr'] });
    await session(proxy, 7);
    await syslogd.until(/disconnect/);
    // logger(1) writes <PRI>, a timestamp, then "hasocks[PID]: message"; local0.info = 134.
    expect(syslogd.records.join('\n')).toMatch(new RegExp(`<134>.*hasocks\\[${proxy.pid}\\]: .*disconnect .* up 7 bytes, down 7 bytes`));
  } finally {
    await syslogd.stop();
  }
});

test('debug 1 traces the handshake', async () => {
  const proxy = await startProxy({ debug: 1 });
  await session(proxy, 1);
  await proxy.waitForLog(/debug: session \d+ .*: offers methods \[0\], chose none/);
  await proxy.waitForLog(/debug: session \d+ .*: SOCKS5 connect 127\.0\.0\.1:\d+/);
});
