// RFC 1929 logins under attack: the users file's entries, a client that
// keeps sending while its password is checked, user names that try to
// forge log lines, and floods of logins that must not starve name lookups.
import { execa } from 'execa';
import { randomBytes, scryptSync } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseUsers } from '../src/auth/users.js';
import { RawClient, type TestServer, socks5Request, startEchoServer } from './helpers/net.js';
import { CLI, OPEN_RULES, startProxy, stopAllProxies } from './helpers/proxy.js';

let dir: string;
let echo: TestServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hasocks-logins-'));
  echo = await startEchoServer();
});
afterEach(stopAllProxies);
afterAll(async () => {
  await echo.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A valid entry with chosen scrypt parameters (p multiplies the time a check takes, not its memory). */
function entry(user: string, password: string, p = 1): string {
  const salt = randomBytes(16);
  const key = scryptSync(password, salt, 32, { N: 16384, r: 8, p, maxmem: 64 * 1024 * 1024 });
  return `${user}:scrypt$16384$8$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

function usersFile(name: string, lines: string[]): string {
  const file = join(dir, name);
  writeFileSync(file, `${lines.join('\n')}\n`);
  chmodSync(file, 0o600);
  return file;
}

/** Greeting for username/password, then the credentials; resolves with the RFC 1929 status (or 'closed'). */
async function login(port: number, user: Buffer | string, password: string): Promise<{ client: RawClient; status: number | 'closed' }> {
  const client = await RawClient.connect(port);
  const name = Buffer.isBuffer(user) ? user : Buffer.from(user);
  client.send(Buffer.concat([Buffer.from([5, 1, 2, 1, name.length]), name, Buffer.from([password.length]), Buffer.from(password)]));
  try {
    await client.read(2, 10000);
    return { client, status: (await client.read(2, 10000))[1]! };
  } catch {
    return { client, status: 'closed' };
  }
}

const good = (): string => entry('alice', 'right');

describe('the users file: every entry is checked when it loads', () => {
  const salt = randomBytes(16).toString('base64');
  const key = randomBytes(32).toString('base64');
  const bad: Array<[string, string, RegExp]> = [
    ['an empty key, which would match every password', `bob:scrypt$16384$8$1$${salt}$`, /the key must be 16-64 bytes/],
    ['a key too short', `bob:scrypt$16384$8$1$${salt}$AAAA`, /the key must be 16-64 bytes/],
    ['a key that is not base64', `bob:scrypt$16384$8$1$${salt}$not base64!`, /must be base64/],
    ['N not a power of two', `bob:scrypt$1000$8$1$${salt}$${key}`, /N=1000 must be a power of two/],
    ['N too large', `bob:scrypt$2097152$8$1$${salt}$${key}`, /N=2097152 must be a power of two from 2 to 1048576/],
    ['N and r over the memory scrypt allows (the daemon used to exit on such a login)', `bob:scrypt$65536$16$1$${salt}$${key}`, /need more than 64 MB/],
    ['r = 0', `bob:scrypt$16384$0$1$${salt}$${key}`, /r=0 must be from 1 to 32/],
    ['p too large', `bob:scrypt$16384$8$1000$${salt}$${key}`, /p=1000 must be from 1 to 16/],
    ['an empty salt', `bob:scrypt$16384$8$1$$${key}`, /the salt must be at least 8 bytes/],
    ['another hash', `bob:md5$abc`, /not "scrypt\$N\$r\$p\$salt\$key"/],
    ['no user name', `:scrypt$16384$8$1$${salt}$${key}`, /not "user:scrypt/],
    ['a user name with a space', `b ob:scrypt$16384$8$1$${salt}$${key}`, /cannot be a username/],
  ];

  test.each(bad)('%s', (_what, line, problem) => {
    const { users, problems } = parseUsers(`${good()}\n# a comment\n${line}\n`);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^line 3: /);
    expect(problems[0]).toMatch(problem);
    expect([...users.keys()]).toEqual(['alice']);
  });

  test('a user listed twice is a problem too', () => {
    expect(parseUsers(`${good()}\n${good()}\n`).problems).toEqual(['line 2: user "alice" is already on line 1; remove one of the two']);
  });

  test('check-config names the file, the line and the fix', async () => {
    const file = usersFile('empty-key', [good(), `bob:scrypt$16384$8$1$${salt}$`]);
    const config = join(dir, 'empty-key.json');
    writeFileSync(config, JSON.stringify({ internal: ['127.0.0.1:1'], socksmethod: ['username'], users: file, rules: OPEN_RULES }));
    const result = await execa(process.execPath, [CLI, 'check-config', config], { reject: false });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(`users file ${file}: line 2: user "bob": the key must be 16-64 bytes; set the password again with "hasocks passwd FILE bob"`);
  });

  test('hasocks passwd: refuses to edit a file with someone else\'s bad entry, replaces the user\'s own', async () => {
    const file = usersFile('passwd-bad', [good(), `bob:scrypt$16384$8$1$${salt}$`]);
    const before = readFileSync(file, 'utf8');
    const refused = await execa(process.execPath, [CLI, 'passwd', file, 'carol'], { input: 'pw\n', reject: false });
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/line 2: user "bob": the key must be 16-64 bytes/);
    expect(readFileSync(file, 'utf8')).toBe(before);
    const fixed = await execa(process.execPath, [CLI, 'passwd', file, 'bob'], { input: 'new-pw\n', reject: false });
    expect(fixed.exitCode).toBe(0);
    expect(parseUsers(readFileSync(file, 'utf8')).problems).toEqual([]);
  });

  test('a reload that brings a bad entry is rejected; the old users keep logging in', async () => {
    const file = usersFile('reloaded', [good()]);
    const proxy = await startProxy({ socksmethod: ['username'], users: file });
    expect((await login(proxy.port, 'alice', 'right')).status).toBe(0);
    writeFileSync(file, `${good()}\nbob:scrypt$16384$8$1$${salt}$\n`);
    proxy.signal('SIGHUP');
    await proxy.waitForLog(/reload rejected, the old config stays in force: .*line 2: user "bob": the key must be 16-64 bytes/);
    const bob = await login(proxy.port, 'bob', 'anything');
    expect(bob.status).toBe(1);
    expect((await login(proxy.port, 'alice', 'right')).status).toBe(0);
  });
});

describe('logins from hostile clients', () => {
  test('a password followed by NUL bytes is not the password (scrypt\'s HMAC pads short keys with zeros)', async () => {
    const proxy = await startProxy({ socksmethod: ['username'], users: usersFile('nul', [good()]) }, {});
    expect((await login(proxy.port, 'alice', 'right\0')).status).toBe(1);
    expect((await login(proxy.port, 'alice', 'right\0\0\0')).status).toBe(1);
    expect((await login(proxy.port, 'alice', 'right')).status).toBe(0);
    const refused = await execa(process.execPath, [CLI, 'passwd', join(dir, 'nul-passwd'), 'bob'], { input: 'a\0b\n', reject: false });
    expect(refused.stderr).toContain('the password must not hold a NUL byte');
  });

  test('a user name with control bytes is logged escaped, never as a line of its own', async () => {
    const proxy = await startProxy({ socksmethod: ['username'], users: usersFile('escape', [good()]) }, {});
    const { status } = await login(proxy.port, Buffer.from('eve\n2026-01-01T00:00:00.000Z info: forged\r'), 'x');
    expect(status).toBe(1);
    await proxy.waitForLog(/authentication failed for user "eve\\x0a2026-01-01T00:00:00\.000Z info: forged\\x0d"/);
    expect(proxy.logs()).not.toMatch(/^2026-01-01T00:00:00\.000Z info: forged/m);
  });

  test('while a password is checked, nothing more is read from the client', async () => {
    // A check that takes most of a second (p = 4), and a client that sends 64 MB meanwhile.
    const proxy = await startProxy({ socksmethod: ['username'], users: usersFile('slow', [entry('slow', 'right', 4)]) }, {});
    const peak = (): number => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${proxy.pid}/status`, 'utf8'))![1]) * 1024;
    const before = peak();
    const client = await RawClient.connect(proxy.port);
    client.send(Buffer.concat([Buffer.from([5, 1, 2, 1, 4]), Buffer.from('slow'), Buffer.from([5]), Buffer.from('right')]));
    const flood = Buffer.alloc(1024 * 1024, 0x41);
    for (let i = 0; i < 64; i++) client.send(flood);
    expect([...(await client.read(4, 20000))]).toEqual([5, 2, 1, 0]);
    // The flood is then read as the request, which is not SOCKS: general failure.
    expect((await client.read(2, 10000))[1]).toBe(0x01);
    client.destroy();
    // scrypt itself takes 16 MB; 64 MB of buffered client bytes would show on top of that.
    expect(peak() - before).toBeLessThan(40 * 1024 * 1024);
  });

  test('a flood of slow logins does not hold up the name lookups of other clients', async () => {
    const proxy = await startProxy({ socksmethod: ['username', 'none'], users: usersFile('flood', [entry('slow', 'right', 4)]) }, {});
    const logins = await Promise.all(Array.from({ length: 16 }, () => RawClient.connect(proxy.port)));
    for (const client of logins) client.send(Buffer.concat([Buffer.from([5, 1, 2, 1, 4]), Buffer.from('slow'), Buffer.from([5]), Buffer.from('wrong')]));
    // Each greeting is answered once its packet (which holds the credentials too) was read: every check is under way then.
    for (const client of logins) expect([...(await client.read(2))]).toEqual([5, 2]);
    const started = Date.now();
    const client = await RawClient.connect(proxy.port);
    client.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, 'localhost', echo.port)]));
    expect([...(await client.read(2))]).toEqual([5, 0]);
    expect((await client.read(4, 20000))[1]).toBe(0);
    const elapsed = Date.now() - started;
    client.destroy();
    // Each check takes most of a second; 16 of them on libuv's default 4 threads held every lookup for about 3 s.
    expect(elapsed).toBeLessThan(1500);
    const statuses = await Promise.all(logins.map((c) => c.read(2, 30000).then((b) => b[1], () => 'closed')));
    expect(statuses.every((s) => s === 1)).toBe(true);
    for (const c of logins) c.destroy();
  });
});
