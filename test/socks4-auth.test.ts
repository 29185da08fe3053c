// SOCKS4/4a and RFC 1929 username/password, with curl and raw sockets.
import { execa } from 'execa';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, connect } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawClient, type TestServer, listen, socks5Request, startEchoServer } from './helpers/net.js';
import { CLI, OPEN_RULES, startProxy, stopAllProxies } from './helpers/proxy.js';

const PASSWORD = 'correct horse battery';
let web: TestServer;
let echo: TestServer;
let dir: string;
let usersFile: string;

beforeAll(async () => {
  web = await listen(createHttpServer((_req, res) => res.end('hello socks4\n')));
  echo = await startEchoServer();
  dir = mkdtempSync(join(tmpdir(), 'hasocks-auth-'));
  usersFile = join(dir, 'users');
  await execa(process.execPath, [CLI, 'passwd', usersFile, 'alice'], { input: `${PASSWORD}\n` });
});
afterEach(stopAllProxies);
afterAll(async () => {
  await Promise.all([web.close(), echo.close()]);
  rmSync(dir, { recursive: true, force: true });
});

const curl = (args: string[]) => execa('curl', ['-sS', '--max-time', '10', ...args], { reject: false });

describe('SOCKS4 and SOCKS4a', () => {
  test('curl --socks4 and --socks4a (the proxy resolves the name, which Dante does not)', async () => {
    const proxy = await startProxy();
    const v4 = await curl(['--socks4', `127.0.0.1:${proxy.port}`, `http://127.0.0.1:${web.port}/`]);
    expect(v4.stdout).toBe('hello socks4');
    const v4a = await curl(['--socks4a', `127.0.0.1:${proxy.port}`, `http://localhost:${web.port}/`]);
    expect(v4a.stdout).toBe('hello socks4');
    expect(proxy.logs()).toMatch(/connect localhost:\d+ \[127\.0\.0\.1\]/);
  });

  test('SOCKS4 is refused (0x5B) when socksmethod requires a password', async () => {
    const proxy = await startProxy({ socksmethod: ['username'], users: usersFile });
    const client = await RawClient.connect(proxy.port);
    const request = Buffer.from([0x04, 0x01, 0, 0, 127, 0, 0, 1, 0]);
    request.writeUInt16BE(echo.port, 2);
    client.send(request);
    expect([...(await client.read(2))]).toEqual([0x00, 0x5b]);
    expect(await client.waitForEnd()).toBe(true);
    client.destroy();
  });

  test('SOCKS4 BIND: two replies, only the named peer is accepted, then relay', async () => {
    const proxy = await startProxy({ external: ['127.0.0.1'] });
    const client = await RawClient.connect(proxy.port);
    client.send([0x04, 0x02, 0, 0, 127, 0, 0, 1, 0]);
    const first = await client.read(8);
    expect([...first.subarray(0, 2)]).toEqual([0x00, 0x5a]);
    expect([...first.subarray(4)]).toEqual([127, 0, 0, 1]);
    const port = first.readUInt16BE(2);
    // A peer from another address is turned away.
    const stranger = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
    stranger.on('error', () => undefined);
    await once(stranger, 'close');
    const peer = connect({ host: '127.0.0.1', port });
    await once(peer, 'connect');
    const second = await client.read(8);
    expect([...second.subarray(0, 2)]).toEqual([0x00, 0x5a]);
    expect(second.readUInt16BE(2)).toBe(peer.localPort);
    peer.write('to the client');
    expect((await client.read(13)).toString()).toBe('to the client');
    client.send(Buffer.from('back'));
    const [back] = (await once(peer, 'data')) as [Buffer];
    expect(back.toString()).toBe('back');
    peer.destroy();
    client.destroy();
    expect(proxy.logs()).toMatch(/bind: refused 127\.0\.0\.2:\d+, expected 127\.0\.0\.1/);
  });
});

describe('username/password (RFC 1929)', () => {
  test('curl --proxy-user with the right password gets through, with a wrong one does not', async () => {
    const proxy = await startProxy({ socksmethod: ['username'], users: usersFile, debug: 2 });
    const ok = await curl(['--socks5', `127.0.0.1:${proxy.port}`, '--proxy-user', `alice:${PASSWORD}`, `http://127.0.0.1:${web.port}/`]);
    expect(ok.stdout).toBe('hello socks4');
    const wrong = await curl(['--socks5', `127.0.0.1:${proxy.port}`, '--proxy-user', 'alice:not-it', `http://127.0.0.1:${web.port}/`]);
    expect(wrong.exitCode).not.toBe(0);
    const noUser = await curl(['--socks5', `127.0.0.1:${proxy.port}`, '--proxy-user', `bob:${PASSWORD}`, `http://127.0.0.1:${web.port}/`]);
    expect(noUser.exitCode).not.toBe(0);
    await proxy.waitForLog(/authentication failed for user "bob"/);
    // Even at the highest debug level, no password reaches the log.
    expect(proxy.logs()).not.toContain(PASSWORD);
    expect(proxy.logs()).not.toContain('not-it');
  });

  test('a wrong password gets status 0x01 and the connection closes', async () => {
    const proxy = await startProxy({ socksmethod: ['username'], users: usersFile });
    const client = await RawClient.connect(proxy.port);
    client.send([0x05, 0x01, 0x02]);
    expect([...(await client.read(2))]).toEqual([0x05, 0x02]);
    client.send(Buffer.concat([Buffer.from([0x01, 5]), Buffer.from('alice'), Buffer.from([5]), Buffer.from('wrong')]));
    expect([...(await client.read(2))]).toEqual([0x01, 0x01]);
    expect(await client.waitForEnd()).toBe(true);
    client.destroy();
  });

  test('the right password, then a CONNECT in the same packet flow', async () => {
    const proxy = await startProxy({ socksmethod: ['username'], users: usersFile });
    const client = await RawClient.connect(proxy.port);
    client.send(
      Buffer.concat([
        Buffer.from([0x05, 0x01, 0x02, 0x01, 5]),
        Buffer.from('alice'),
        Buffer.from([PASSWORD.length]),
        Buffer.from(PASSWORD),
        socks5Request(1, '127.0.0.1', echo.port),
        Buffer.from('early'),
      ]),
    );
    expect([...(await client.read(4))]).toEqual([0x05, 0x02, 0x01, 0x00]);
    expect((await client.read(10))[1]).toBe(0);
    expect((await client.read(5)).toString()).toBe('early');
    client.destroy();
  });

  test('a client offering only "no authentication" gets 0xFF', async () => {
    const proxy = await startProxy({ socksmethod: ['username'], users: usersFile });
    const client = await RawClient.connect(proxy.port);
    client.send([0x05, 0x01, 0x00]);
    expect([...(await client.read(2))]).toEqual([0x05, 0xff]);
    expect(await client.waitForEnd()).toBe(true);
    client.destroy();
  });

  test('rules can match the user', async () => {
    await execa(process.execPath, [CLI, 'passwd', usersFile, 'mallory'], { input: 'mallory-pw\n' });
    const proxy = await startProxy({
      socksmethod: ['username'],
      users: usersFile,
      rules: [
        { type: 'client', action: 'pass' },
        { type: 'socks', action: 'pass', user: ['alice'], socksmethod: ['username'] },
      ],
    });
    const alice = await curl(['--socks5', `127.0.0.1:${proxy.port}`, '--proxy-user', `alice:${PASSWORD}`, `http://127.0.0.1:${web.port}/`]);
    expect(alice.stdout).toBe('hello socks4');
    const mallory = await curl(['--socks5', `127.0.0.1:${proxy.port}`, '--proxy-user', 'mallory:mallory-pw', `http://127.0.0.1:${web.port}/`]);
    expect(mallory.exitCode).toBe(97); // curl: proxy handshake error (reply 0x02)
  });

  test('a users file readable by others is refused with a clear message', async () => {
    const loose = join(dir, 'loose-users');
    await execa(process.execPath, [CLI, 'passwd', loose, 'alice'], { input: 'pw\n' });
    chmodSync(loose, 0o644);
    const configFile = join(dir, 'loose.json');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(configFile, JSON.stringify({ internal: ['127.0.0.1:1'], socksmethod: ['username'], users: loose, rules: OPEN_RULES }));
    const result = await execa(process.execPath, [CLI, 'check-config', configFile], { reject: false });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(`/users: users file ${loose} is accessible by others (mode 644); run "chmod 600 ${loose}"`);
  });
});

describe('hasocks passwd', () => {
  test('stores a salted scrypt hash in a 0600 file, and changes an entry in place', async () => {
    const file = join(dir, 'fresh-users');
    await execa(process.execPath, [CLI, 'passwd', file, 'carol'], { input: 'first\n' });
    await execa(process.execPath, [CLI, 'passwd', file, 'dave'], { input: 'second\n' });
    const before = readFileSync(file, 'utf8');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(before).toMatch(/^carol:scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+\ndave:scrypt\$/);
    expect(before).not.toContain('first');
    const changed = await execa(process.execPath, [CLI, 'passwd', file, 'carol'], { input: 'third\n' });
    expect(changed.stderr).toContain('changed user "carol"');
    const after = readFileSync(file, 'utf8').split('\n');
    expect(after[0]).not.toBe(before.split('\n')[0]);
    expect(after[1]).toBe(before.split('\n')[1]);
  });

  test('on a terminal it reads the password without echo', async () => {
    const file = join(dir, 'tty-users');
    // python's pty gives the command a real terminal and shows what it echoes.
    const script = [
      'import os, pty, sys, time',
      `pid, fd = pty.fork()`,
      `if pid == 0: os.execv(${JSON.stringify(process.execPath)}, [${JSON.stringify(process.execPath)}, ${JSON.stringify(CLI)}, "passwd", ${JSON.stringify(file)}, "erin"])`,
      'out = b""',
      'while b"password for erin" not in out: out += os.read(fd, 1024)',
      'os.write(fd, b"tty-secret\\r")',
      'while True:',
      '  try:',
      '    chunk = os.read(fd, 1024)',
      '  except OSError: break',
      '  if not chunk: break',
      '  out += chunk',
      'os.waitpid(pid, 0)',
      'sys.stdout.write(out.decode())',
    ].join('\n');
    const result = await execa('python3', ['-c', script], { timeout: 20000 });
    expect(result.stdout).toContain('password for erin:');
    expect(result.stdout).not.toContain('tty-secret');
    expect(readFileSync(file, 'utf8')).toMatch(/^erin:scrypt\$/);
  });
});

describe('timeouts', () => {
  test('tcp_fin_wait closes a half-closed session the other side never finishes', async () => {
    // A target that reads forever and never sends its FIN.
    const silent = await listen(createServer({ allowHalfOpen: true }, (s) => s.on('error', () => undefined).resume()));
    try {
      const proxy = await startProxy({ timeout: { tcp_fin_wait: 1 } });
      const client = await RawClient.connect(proxy.port);
      client.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, '127.0.0.1', silent.port)]));
      await client.read(12);
      const started = Date.now();
      client.socket.end();
      expect(await client.waitForEnd(4000)).toBe(true);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      await proxy.waitForLog(/tcp_fin_wait timeout/);
    } finally {
      await silent.close();
    }
  });

  test('bind timeout: no peer comes, the second reply is 0x06', async () => {
    const proxy = await startProxy({ timeout: { bind: 1 } });
    const client = await RawClient.connect(proxy.port);
    client.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(2, '0.0.0.0', 0)]));
    await client.read(2);
    expect((await client.read(10))[1]).toBe(0);
    const second = await client.read(10, 4000);
    expect(second[1]).toBe(0x06);
    expect(await client.waitForEnd()).toBe(true);
    client.destroy();
  });
});
