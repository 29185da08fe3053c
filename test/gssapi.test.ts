// GSSAPI authentication (RFC 1961) against a real MIT Kerberos KDC
// (helpers/kdc.ts) and the tests' own RFC 1961 client (helpers/gssapi-client.ts):
// the protection levels, NEC's bare protection message, 8 MB each way
// through each level, the refusals, the replay cache, and rules on the
// authenticated principal.
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import type { ConfigFile, GssapiFile } from '../src/config/types.js';
import { GSS_ABORT, GssMessageType, gssMessage } from '../src/protocol/gssapi-message.js';
import { compiledHelper } from './helpers/compiled.js';
import type { GssapiOutcome, GssapiScenario } from './helpers/gssapi-client-run.js';
import { ALICE, type Kdc, SERVICE, startGssapiProxy, startKdc } from './helpers/kdc.js';
import { RawClient, type TestServer, socks5Request, startEchoServer } from './helpers/net.js';
import { CLI, REPO, type RunningProxy, startProxy, stopAllProxies } from './helpers/proxy.js';

const OTHER_SERVICE = 'rcmd/other.hasocks.test';

let kdc: Kdc;
let keytab: string;
let otherKeytab: string;
let echo: TestServer;
let aliceCache: string;
let bobCache: string;

beforeAll(async () => {
  kdc = await startKdc();
  await kdc.addUser('alice', 'alice-password');
  await kdc.addUser('bob', 'bob-password');
  keytab = await kdc.addServices([SERVICE], join(kdc.dir, 'socks.keytab'));
  otherKeytab = await kdc.addServices([OTHER_SERVICE], join(kdc.dir, 'other.keytab'));
  aliceCache = await kdc.kinit('alice', 'alice-password');
  bobCache = await kdc.kinit('bob', 'bob-password');
  echo = await startEchoServer();
}, 60000);

afterAll(async () => {
  await echo?.close();
  await kdc?.stop();
});

afterEach(stopAllProxies);

/** A proxy that offers GSSAPI as SERVICE, and passes alice only. */
const gssapiProxy = (gssapi: Partial<GssapiFile> = {}, extra: Partial<ConfigFile> = {}): Promise<RunningProxy> => startGssapiProxy(kdc, keytab, gssapi, extra);

/**
 * The tests' RFC 1961 client (helpers/gssapi-client.ts) through `proxy` to
 * the echo server, as a process of its own with this realm's KRB5_CONFIG
 * and `ccache` (alice's unless named): its outcome.
 */
async function client(proxy: RunningProxy, scenario: Partial<GssapiScenario>, ccache = aliceCache): Promise<GssapiOutcome> {
  const full: GssapiScenario = { proxy: { host: '127.0.0.1', port: proxy.port }, service: SERVICE, level: 2, target: { host: '127.0.0.1', port: echo.port }, echoBytes: 0, ...scenario };
  const result = await execa(process.execPath, [compiledHelper('gssapi-client-run', 'gssapi-client'), JSON.stringify(full)], { env: { ...kdc.env, KRB5CCNAME: ccache }, reject: false });
  if (result.exitCode !== 0) throw new Error(`the GSSAPI client failed: ${String(result.stderr)}`);
  return JSON.parse(String(result.stdout)) as GssapiOutcome;
}

const EIGHT_MB = 8 << 20;

describe('authentication and relay', () => {
  for (const [name, level] of [
    ['integrity', 1],
    ['confidentiality', 2],
  ] as const) {
    test(`level ${level} (${name}): CONNECT, and 8 MB each way through the echo server with matching checksums`, async () => {
      const proxy = await gssapiProxy();
      expect(await client(proxy, { level, echoBytes: EIGHT_MB })).toMatchObject({ level, reply: 0, echoed: true });
      await proxy.waitForLog(new RegExp(`GSSAPI: authenticated "${ALICE}" to ${SERVICE}, protection ${name}`));
      await proxy.waitForLog(/disconnect 127\.0\.0\.1:\d+: up 8388608 bytes, down 8388608 bytes/);
    }, 60000);
  }

  test.each([1, 2])('BIND at level %i: both replies wrapped, and a peer and the client talk both ways', async (level) => {
    const proxy = await gssapiProxy();
    expect(await client(proxy, { level, bind: true, target: { host: '0.0.0.0', port: 0 } })).toMatchObject({ level, reply: 0, bindReply: 0, bindRelayed: true });
  }, 30000);

  test('selective (3): the proxy grants the strongest level it allows', async () => {
    const proxy = await gssapiProxy();
    expect(await client(proxy, { level: 3, echoBytes: 4096 })).toMatchObject({ level: 2, reply: 0, echoed: true });
  }, 30000);

  test('NEC compatibility: a bare protection-level message is accepted when configured, and relays 8 MB each way', async () => {
    const proxy = await gssapiProxy({ necCompatibility: true });
    expect(await client(proxy, { level: 2, nec: true, echoBytes: EIGHT_MB })).toMatchObject({ level: 2, reply: 0, echoed: true });
  }, 60000);

  test('clear (0), where the config allows it: the data flows unwrapped after authentication', async () => {
    const proxy = await gssapiProxy({ protection: ['clear', 'integrity'] });
    expect(await client(proxy, { level: 0, echoBytes: EIGHT_MB })).toMatchObject({ level: 0, reply: 0, echoed: true });
    await proxy.waitForLog(/protection clear/);
  }, 60000);

  test('a client rule names another service and keytab for the clients it passes', async () => {
    const proxy = await gssapiProxy(
      {},
      {
        rules: [
          { type: 'client', action: 'pass', from: '0/0', gssapi: { servicename: OTHER_SERVICE, keytab: otherKeytab } },
          { type: 'socks', action: 'pass', from: '0/0', to: '0/0', user: [ALICE] },
        ],
      },
    );
    expect(await client(proxy, { service: OTHER_SERVICE, echoBytes: 4096 })).toMatchObject({ reply: 0, echoed: true });
    expect(await client(proxy, { service: SERVICE })).toEqual({ refused: 'context establishment' });
  }, 30000);
});

describe('refusals: 01 ff, and the log says why', () => {
  test('level 0 when the config does not allow it', async () => {
    const proxy = await gssapiProxy();
    expect(await client(proxy, { level: 0 })).toEqual({ refused: 'protection negotiation' });
    await proxy.waitForLog(/asked for protection level 0, which the config does not allow/);
  }, 30000);

  test('a bare (NEC) protection message when NEC compatibility is off', async () => {
    const proxy = await gssapiProxy();
    expect(await client(proxy, { nec: true })).toEqual({ refused: 'protection negotiation' });
    await proxy.waitForLog(/malformed protection-level message.*necCompatibility/);
  }, 30000);

  test('a ticket for another service', async () => {
    const proxy = await gssapiProxy();
    expect(await client(proxy, { service: OTHER_SERVICE })).toEqual({ refused: 'context establishment' });
    await proxy.waitForLog(/GSSAPI authentication to rcmd\/socks\.hasocks\.test refused: authentication failed/);
  }, 30000);

  test('a client without a ticket: a token that is not a Kerberos AP-REQ, and a request sent without authenticating', async () => {
    const proxy = await gssapiProxy();
    // An empty token would start SPNEGO if the proxy took any mechanism but Kerberos.
    for (const attempt of [gssMessage(GssMessageType.AUTHENTICATION, randomBytes(64)), gssMessage(GssMessageType.AUTHENTICATION, Buffer.alloc(0)), Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, 0, 80])]) {
      const socket = connect(proxy.port, '127.0.0.1');
      const received: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      const closed = new Promise((r) => socket.on('close', r));
      socket.write(Buffer.from([5, 1, 1]));
      socket.write(attempt);
      await closed;
      expect(Buffer.concat(received)).toEqual(Buffer.concat([Buffer.from([5, 1]), GSS_ABORT]));
    }
  }, 30000);

  test('hostile tokens: 300 random ones of every size up to 65535, and corrupted real ones, each refused with 01 ff; the proxy serves on', async () => {
    const proxy = await gssapiProxy();
    const real = (await client(proxy, {})).firstToken!;
    const tokens: Buffer[] = [];
    for (let i = 0; i < 200; i++) tokens.push(randomBytes(Math.floor(Math.random() ** 3 * 65536)));
    // A real AP-REQ with one byte changed, or cut short: past the outer DER, into Kerberos's own parsing.
    for (let i = 0; i < 100; i++) {
      const token = Buffer.from(real, 'hex');
      if (i % 2 === 0) token[Math.floor(Math.random() * token.length)] ^= 1 << Math.floor(Math.random() * 8);
      tokens.push(i % 2 === 0 ? token : token.subarray(0, Math.floor(Math.random() * token.length)));
    }
    for (const token of tokens) {
      const raw = await RawClient.connect(proxy.port);
      raw.send(Buffer.concat([Buffer.from([5, 1, 1]), gssMessage(GssMessageType.AUTHENTICATION, token)]));
      expect(await raw.read(4)).toEqual(Buffer.concat([Buffer.from([5, 1]), GSS_ABORT]));
      raw.destroy();
    }
    expect(await client(proxy, { echoBytes: 4096 })).toMatchObject({ reply: 0, echoed: true });
  }, 120000);

  test('a replayed AP-REQ', async () => {
    const proxy = await gssapiProxy();
    const first = await client(proxy, {});
    expect(first).toMatchObject({ reply: 0 });
    expect(await client(proxy, { firstToken: first.firstToken })).toEqual({ refused: 'context establishment' });
    await proxy.waitForLog(/refused: authentication failed.*[Rr]eplay/);
  }, 30000);

  test('a context without mutual authentication, which RFC 1961 has clients ask for', async () => {
    const proxy = await gssapiProxy();
    expect(await client(proxy, { withoutMutual: true })).toMatchObject({ refused: expect.any(String) });
    await proxy.waitForLog(/refused: the client's context lacks mutual authentication/);
    expect(proxy.logs()).not.toMatch(/GSSAPI: authenticated/);
  }, 30000);

  test('a whole session recorded on one node and replayed to another (its own replay cache): refused at the protection level', async () => {
    const [nodeA, nodeB] = [await gssapiProxy(), await gssapiProxy()];
    const recorded = await client(nodeA, { record: true });
    expect(recorded).toMatchObject({ reply: 0, recorded: expect.any(String) });
    await nodeA.waitForLog(/GSSAPI: authenticated "alice@HASOCKS\.TEST"/);
    const replayed = await client(nodeB, { replay: recorded.recorded });
    await nodeB.waitForLog(/refused: a malformed protection-level message/);
    expect(nodeB.logs()).not.toMatch(/GSSAPI: authenticated|connect 127\.0\.0\.1/);
    // Nothing of the session's data came back: the method selection, the proxy's own token and 01 ff at most.
    expect(replayed.repliedBytes).toBeLessThan(400);
  }, 30000);

  test.each([
    ['duplicated', 'duplicate', /a token that came before \(a replay\)/],
    ['reordered', 'reorder', /a token (after a gap|out of sequence|too old)/],
  ] as const)('a wrapped message %s on the wire within a session ends it, and only what came in order reaches the target', async (_name, tamper, reason) => {
    const proxy = await gssapiProxy();
    const outcome = await client(proxy, { level: 1, tamper });
    expect(outcome).toMatchObject({ reply: 0 });
    expect(['', 'FIRST;']).toContain(outcome.echoedBack!.replace(/<.*>$/, ''));
    await proxy.waitForLog(reason);
  }, 30000);

  test('user rules act on the principal: bob authenticates, and the rule that passes alice only does not pass him', async () => {
    const proxy = await gssapiProxy();
    expect(await client(proxy, {}, bobCache)).toMatchObject({ level: 2, reply: 2 });
    await proxy.waitForLog(/GSSAPI: authenticated "bob@HASOCKS\.TEST"/);
  }, 30000);
});

describe('reloads', () => {
  test('a reload naming a keytab without the key is rejected and the old identity serves on; a reload to another service takes effect', async () => {
    const proxy = await gssapiProxy();
    const base = JSON.parse(readFileSync(proxy.configPath, 'utf8')) as ConfigFile;
    proxy.writeConfig({ ...base, gssapi: { ...base.gssapi!, keytab: otherKeytab } });
    proxy.signal('SIGHUP');
    await proxy.waitForLog(/reload rejected, the old config stays in force: .*\/gssapi: cannot use keytab .*other\.keytab for rcmd\/socks\.hasocks\.test/);
    expect(await client(proxy, { echoBytes: 4096 })).toMatchObject({ reply: 0, echoed: true });
    proxy.writeConfig({ ...base, gssapi: { ...base.gssapi!, servicename: OTHER_SERVICE, keytab: otherKeytab } });
    proxy.signal('SIGHUP');
    await proxy.waitForLog(/reloaded config/);
    expect(await client(proxy, { service: OTHER_SERVICE, echoBytes: 4096 })).toMatchObject({ reply: 0, echoed: true });
    expect(await client(proxy, { service: SERVICE })).toEqual({ refused: 'context establishment' });
  }, 30000);
});

describe('after the privilege drop ("user": "nobody")', () => {
  test('the keytab (readable by the group), KRB5_CONFIG and the replay cache stay usable: a client authenticates, and a replay is still refused', async () => {
    // Everything the unprivileged proxy reads or writes, where nobody can: a directory of its own.
    const dir = mkdtempSync(join(tmpdir(), 'hasocks-gssapi-user-'));
    try {
      chmodSync(dir, 0o755);
      const sharedKeytab = join(dir, 'socks.keytab');
      copyFileSync(keytab, sharedKeytab);
      await execa('chown', ['root:nogroup', sharedKeytab]);
      chmodSync(sharedKeytab, 0o640);
      const krb5Config = join(dir, 'krb5.conf');
      copyFileSync(kdc.env.KRB5_CONFIG, krb5Config);
      chmodSync(krb5Config, 0o644);
      // MIT's default replay cache, one file per user id, in a directory of this test's.
      const rcacheDir = join(dir, 'rcache');
      mkdirSync(rcacheDir, { mode: 0o1777 });
      chmodSync(rcacheDir, 0o1777);
      const proxy = await startProxy(
        {
          user: 'nobody',
          socksmethod: ['gssapi'],
          gssapi: { servicename: SERVICE, keytab: sharedKeytab },
          rules: [
            { type: 'client', action: 'pass', from: '0/0' },
            { type: 'socks', action: 'pass', from: '0/0', to: '0/0', user: [ALICE] },
          ],
        },
        { env: { ...process.env, KRB5_CONFIG: krb5Config, KRB5RCACHEDIR: rcacheDir } as Record<string, string> },
      );
      const first = await client(proxy, { echoBytes: 1 << 20 });
      expect(first).toMatchObject({ level: 2, reply: 0, echoed: true });
      expect(await client(proxy, { firstToken: first.firstToken })).toEqual({ refused: 'context establishment' });
      await proxy.waitForLog(/refused: authentication failed.*[Rr]eplay/);
      // The replay cache the unprivileged proxy wrote, as nobody.
      expect(readdirSync(rcacheDir).map((name) => statSync(join(rcacheDir, name)).uid)).toContain(65534);
    } finally {
      await stopAllProxies();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30000);
});

describe('check-config', () => {
  test('a keytab that others may read, one that is missing, and one without the service principal are refused, each with its fix', async () => {
    const open = join(kdc.dir, 'open.keytab');
    copyFileSync(keytab, open);
    chmodSync(open, 0o644);
    const cases: Array<[Partial<NonNullable<ConfigFile['gssapi']>>, RegExp]> = [
      [{ keytab: open }, /\/gssapi: keytab .*open\.keytab is accessible by others \(mode 644\); run "chmod o-rwx/],
      [{ keytab: join(kdc.dir, 'missing.keytab') }, /\/gssapi: keytab .*missing\.keytab does not exist/],
      [{ keytab: otherKeytab }, /\/gssapi: cannot use keytab .*other\.keytab for rcmd\/socks\.hasocks\.test/],
      [{ servicename: 'rcmd' }, /\/gssapi\/servicename: "rcmd" names no host/],
      [{ necCompatibility: true, protection: ['clear', 'integrity'] }, /\/gssapi: "necCompatibility" with "clear" in "protection" lets anyone who captured/],
      [{ replayCache: 'none:' }, /\/gssapi\/replayCache: "none:" turns replay detection off/],
    ];
    for (const [gssapi, message] of cases) {
      const file = join(kdc.dir, 'check.json');
      writeFileSync(file, JSON.stringify({ internal: ['127.0.0.1:1080'], socksmethod: ['gssapi'], gssapi: { servicename: SERVICE, keytab, ...gssapi } }));
      const result = await execa(process.execPath, [CLI, 'check-config', file], { reject: false, env: { ...process.env, KRB5_CONFIG: kdc.env.KRB5_CONFIG } });
      expect(result.exitCode).not.toBe(0);
      expect(String(result.stderr)).toMatch(message);
    }
  }, 30000);
});

describe('a build without libkrb5', () => {
  // The addons built as on a machine without MIT's development files:
  // binding.gyp then compiles native/src/gssapi_missing.c for the GSS-API
  // addon (with_gssapi=0 is what it finds there without krb5-config).
  let build: string;
  beforeAll(async () => {
    build = mkdtempSync(join(tmpdir(), 'hasocks-nokrb5-'));
    cpSync(join(REPO, 'native', 'binding.gyp'), join(build, 'binding.gyp'));
    cpSync(join(REPO, 'native', 'src'), join(build, 'src'), { recursive: true });
    // The node-gyp that npm bundles, as `npm run build:native` runs it.
    const nodeGyp = join(dirname(realpathSync((await execa('sh', ['-c', 'command -v npm'])).stdout)), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    await execa(process.execPath, [nodeGyp, 'rebuild', '--loglevel=warn', '--', '-Dwith_gssapi=0'], { cwd: build, env: { ...process.env, npm_config_nodedir: '/usr' } });
  }, 120000);
  afterAll(() => rmSync(build, { recursive: true, force: true }));

  test('it serves, and a config with "gssapi" fails check-config saying what to install', async () => {
    const env = { ...process.env, HASOCKS_NATIVE_ADDON: join(build, 'build', 'Release', 'hasocks_native.node'), HASOCKS_GSSAPI_ADDON: join(build, 'build', 'Release', 'hasocks_gssapi.node') } as Record<string, string>;
    const proxy = await startProxy({}, { env });
    const client = await RawClient.connect(proxy.port);
    client.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, '127.0.0.1', echo.port)]));
    expect(await client.read(2)).toEqual(Buffer.from([5, 0]));
    expect((await client.read(10)).subarray(0, 2)).toEqual(Buffer.from([5, 0]));
    client.send(Buffer.from('ping'));
    expect((await client.read(4)).toString()).toBe('ping');
    client.destroy();
    const file = join(kdc.dir, 'nokrb5.json');
    writeFileSync(file, JSON.stringify({ internal: ['127.0.0.1:1080'], socksmethod: ['gssapi'], gssapi: { servicename: SERVICE, keytab } }));
    const result = await execa(process.execPath, [CLI, 'check-config', file], { reject: false, env });
    expect(result.exitCode).toBe(1);
    expect(String(result.stderr)).toMatch(/\/gssapi: hasocks was built without GSS-API: install MIT Kerberos's development files \(apt-get install libkrb5-dev\), then run "npm run build:native"/);
  }, 30000);
});
