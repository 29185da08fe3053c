// An independent RFC 1961 client for hasocks's GSSAPI: Dante's own client
// library, libdsocksd, built WITH GSSAPI from Debian 12's dante source
// package (helpers/dante-gssapi.sh; Debian's binary dante-client is built
// without it). It socksifies an unmodified curl (Debian 12's curl cannot do
// GSSAPI SOCKS5 itself) through hasocks to an HTTP echo server on loopback,
// 3 MB each way, at protection levels integrity, confidentiality and clear
// and in NEC's mode, against a real MIT KDC (helpers/kdc.ts); and what the
// proxy does not allow (a level, NEC's bare message) is refused.
//
// Dante names the proxy's service host-based, "<gssapi.servicename>@<host>",
// where <host> is the reverse lookup (getnameinfo, NI_NAMEREQD) of the
// proxy's address in socks.conf's `via:`. curl runs in a mount namespace of
// its own whose /etc/hosts (bind-mounted there only; the real /etc is not
// touched) names 127.0.0.1 socks.hasocks.test, so Dante asks for
// rcmd@socks.hasocks.test: the principal rcmd/socks.hasocks.test the proxy
// serves, as a client that finds the proxy's VIP by its PTR record would.
import { execa } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GssapiFile } from '../src/config/types.js';
import { danteGssapiBuild } from './helpers/dante-gssapi.js';
import { ALICE, type Kdc, SERVICE, startGssapiProxy, startKdc } from './helpers/kdc.js';
import { type TestServer, listen } from './helpers/net.js';
import { type RunningProxy, stopAllProxies } from './helpers/proxy.js';

const PROXY_HOST_NAME = 'socks.hasocks.test';
/**
 * The HTTP target: a loopback address other than the proxy's, so neither the
 * direct route Dante adds for the proxy's own address nor the hosts file
 * that names it can touch curl's connection.
 */
const TARGET_HOST = '127.0.0.2';
/** Dozens of full-size wrapped tokens each way (at most 65535 bytes each), and a checksum to compare. */
const BODY = randomBytes(3 << 20);
const BODY_SHA256 = sha256(BODY);
/** What the HTTP server received, by request path: the SHA-256 of each POST body. */
const receivedSha256 = new Map<string, string>();

type Level = 'clear' | 'integrity' | 'confidentiality';

const dante = await danteGssapiBuild();
if ('skip' in dante) console.warn(`test/dante-gssapi.test.ts skipped: ${dante.skip}`);
const danteTest = 'skip' in dante ? test.skip : test;

let kdc: Kdc;
let keytab: string;
let aliceCache: string;
let dir: string;
let hostsFile: string;
let upload: string;
let http: TestServer;

beforeAll(async () => {
  if ('skip' in dante) return;
  dir = mkdtempSync(join(tmpdir(), 'hasocks-dante-gssapi-'));
  hostsFile = join(dir, 'hosts');
  writeFileSync(hostsFile, `127.0.0.1 ${PROXY_HOST_NAME}\n`);
  upload = join(dir, 'upload');
  writeFileSync(upload, BODY);
  kdc = await startKdc();
  await kdc.addUser('alice', 'alice-password');
  keytab = await kdc.addServices([SERVICE], join(kdc.dir, 'socks.keytab'));
  aliceCache = await kdc.kinit('alice', 'alice-password');
  // An echo: the POST body back as the response, its checksum noted by path.
  http = await listen(
    createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks);
        receivedSha256.set(request.url ?? '', sha256(body));
        response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
        response.end(body);
      });
    }),
    TARGET_HOST,
  );
}, 60000);

afterAll(async () => {
  await stopAllProxies();
  await http?.close();
  await kdc?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

afterEach(stopAllProxies);

/** hasocks offering GSSAPI as SERVICE (with `settings` over the defaults), passing alice only. */
const gssapiProxy = (settings: Partial<GssapiFile> = {}): Promise<RunningProxy> => startGssapiProxy(kdc, keytab, settings);

/** Dante's socks.conf: every destination through the proxy, with GSSAPI at `level` only (and NEC's way, if `nec`). */
function socksConf(proxy: RunningProxy, level: Level, nec: boolean): string {
  const path = join(dir, `socks-${proxy.port}.conf`);
  writeFileSync(
    path,
    [
      // Dante's errors and warnings on curl's stderr, for the failure messages.
      'logoutput: stderr',
      'route {',
      `  from: 0.0.0.0/0 to: 0.0.0.0/0 via: 127.0.0.1 port = ${proxy.port}`,
      '  proxyprotocol: socks_v5',
      '  command: connect',
      '  method: gssapi',
      '  gssapi.servicename: rcmd',
      `  gssapi.enctype: ${level}`,
      ...(nec ? ['  clientcompatibility: necgssapi'] : []),
      '}',
      '',
    ].join('\n'),
  );
  return path;
}

interface CurlOutcome {
  exitCode: number | undefined;
  /** curl's --write-out: the HTTP status, the bytes it sent and the bytes it received. */
  written: string;
  stderr: string;
  /** SHA-256 of the response body curl saved, or undefined when it saved none. */
  bodySha256: string | undefined;
  /** SHA-256 of the request body the HTTP server received, or undefined when none came. */
  receivedSha256: string | undefined;
}

/**
 * curl socksified by Dante's socksify and our libdsocksd, in a mount
 * namespace of its own with the hosts file above, with alice's ticket and
 * this realm's krb5.conf: POST the body to the HTTP echo server.
 */
async function socksifiedCurl(proxy: RunningProxy, level: Level, nec: boolean): Promise<CurlOutcome> {
  if ('skip' in dante) throw new Error('no libdsocksd build');
  const output = join(dir, `body-${proxy.port}`);
  const path = `/echo/${proxy.port}`;
  const result = await execa(
    'unshare',
    [
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount --bind "$0" /etc/hosts && exec "$@"',
      hostsFile,
      join(dante.dir, 'socksify'),
      'curl',
      '--silent',
      '--show-error',
      '--max-time',
      '60',
      '--data-binary',
      `@${upload}`,
      '--header',
      'Content-Type: application/octet-stream',
      // No "Expect: 100-continue" round trip before the body.
      '--header',
      'Expect:',
      '--output',
      output,
      '--write-out',
      '%{http_code} %{size_upload} %{size_download}',
      `http://${TARGET_HOST}:${http.port}${path}`,
    ],
    {
      reject: false,
      stdin: 'ignore',
      timeout: 90000,
      // Nothing from the test's own environment: no proxy variables for curl, no other Kerberos settings.
      extendEnv: false,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        SOCKS_CONF: socksConf(proxy, level, nec),
        // socksify preloads libdsocksd.so.0 by name: from here, not Debian's GSSAPI-less one in /usr/lib.
        SOCKS_LIBDIR: dante.dir,
        // Otherwise Dante adds direct routes for every local network, loopback included, and curl would bypass the proxy.
        SOCKS_AUTOADD_LANROUTES: 'no',
        KRB5_CONFIG: kdc.env.KRB5_CONFIG,
        KRB5CCNAME: aliceCache,
      },
    },
  );
  let bodySha256: string | undefined;
  try {
    bodySha256 = sha256(readFileSync(output));
  } catch {
    bodySha256 = undefined;
  }
  rmSync(output, { force: true });
  return { exitCode: result.exitCode, written: String(result.stdout), stderr: String(result.stderr), bodySha256, receivedSha256: receivedSha256.get(path) };
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The proxy's log: alice authenticated at `level`, and the session to the HTTP server carried the whole body each way. */
async function expectRelayed(proxy: RunningProxy, level: Level): Promise<void> {
  await proxy.waitForLog(new RegExp(`GSSAPI: authenticated "${ALICE}" to ${SERVICE}, protection ${level}$`));
  const disconnect = await proxy.waitForLog(new RegExp(`disconnect ${TARGET_HOST.replace(/\./g, '\\.')}:${http.port}: up \\d+ bytes, down \\d+ bytes`));
  const [, up, down] = /up (\d+) bytes, down (\d+) bytes/.exec(disconnect)!;
  // HTTP's headers come on top of the body.
  expect(Number(up)).toBeGreaterThan(BODY.length);
  expect(Number(down)).toBeGreaterThan(BODY.length);
}

interface Case {
  title: string;
  level: Level;
  proxy?: Partial<GssapiFile>;
  nec?: boolean;
}

const RELAY_CASES: Case[] = [
  { title: 'protection integrity', level: 'integrity' },
  { title: 'protection confidentiality', level: 'confidentiality' },
  { title: 'protection clear, where the proxy allows it', level: 'clear', proxy: { protection: ['clear', 'integrity', 'confidentiality'] } },
  // Dante's "clientcompatibility: necgssapi" sends the level bare and reads the answer bare.
  { title: "NEC's bare protection message (Dante's necgssapi), where the proxy accepts it", level: 'confidentiality', proxy: { necCompatibility: true }, nec: true },
];

describe("Dante's libdsocksd (built with GSSAPI) socksifies curl through hasocks", () => {
  for (const { title, level, proxy: settings, nec = false } of RELAY_CASES) {
    danteTest(`${title}: 3 MB up and back, the checksums match`, async () => {
      const proxy = await gssapiProxy(settings);
      const outcome = await socksifiedCurl(proxy, level, nec);
      if (outcome.exitCode !== 0) console.error(`the socksified curl failed; its stderr, Dante's messages included:\n${outcome.stderr}`);
      expect({ exitCode: outcome.exitCode, written: outcome.written }).toEqual({ exitCode: 0, written: `200 ${BODY.length} ${BODY.length}` });
      expect(outcome.receivedSha256).toBe(BODY_SHA256);
      expect(outcome.bodySha256).toBe(BODY_SHA256);
      // Dante's side of it (its info lines): the way it asked, and the level it then used.
      expect(outcome.stderr).toMatch(new RegExp(`running in ${nec ? 'nec non-standard' : 'rfc1961 standard'} GSSAPI mode\\.  Offering server protection "${level}"`));
      expect(outcome.stderr).toMatch(new RegExp(`using gssapi ${level} protection`));
      await expectRelayed(proxy, level);
    }, 120000);
  }

  danteTest('a level the proxy does not allow: Dante asks for integrity, the proxy allows confidentiality only, and refuses', async () => {
    const proxy = await gssapiProxy({ protection: ['confidentiality'] });
    const outcome = await socksifiedCurl(proxy, 'integrity', false);
    expect(outcome.exitCode).not.toBe(0);
    expect(outcome.receivedSha256).toBeUndefined();
    expect(outcome.bodySha256).toBeUndefined();
    // Dante's own account: the GSSAPI method (1) failed.
    expect(outcome.stderr).toMatch(/failed to establish v5 connection using method 1/);
    await proxy.waitForLog(/GSSAPI authentication to rcmd\/socks\.hasocks\.test refused: the client asked for protection level 1, which the config does not allow/);
    expect(proxy.logs()).not.toMatch(/GSSAPI: authenticated/);
  }, 120000);

  danteTest("NEC's bare protection message where the proxy does not accept it: refused, and the log names the setting", async () => {
    const proxy = await gssapiProxy();
    const outcome = await socksifiedCurl(proxy, 'confidentiality', true);
    expect(outcome.exitCode).not.toBe(0);
    expect(outcome.receivedSha256).toBeUndefined();
    expect(outcome.stderr).toMatch(/failed to establish v5 connection using method 1/);
    await proxy.waitForLog(/refused: a malformed protection-level message.*"necCompatibility": true/);
  }, 120000);
});

if ('skip' in dante) {
  // The reason, where jest lists the skipped tests.
  test.skip(`all of the above: ${dante.skip}`, () => undefined);
}
