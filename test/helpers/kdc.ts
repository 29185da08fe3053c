import { execa, type ResultPromise } from 'execa';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigFile, GssapiFile } from '../../src/config/types.js';
import { freePort } from './net.js';
import { type RunningProxy, startProxy } from './proxy.js';

/**
 * A real MIT Kerberos KDC (Debian krb5-kdc) in a temporary directory, for
 * the GSSAPI tests: a realm, users with passwords, service principals and
 * their keytab. Nothing in /etc is touched: every tool, and the proxy, is
 * pointed at the lab's files by KRB5_CONFIG, KRB5_KDC_PROFILE and
 * KRB5CCNAME (`env`).
 */
export interface Kdc {
  readonly realm: string;
  readonly dir: string;
  /** KRB5_CONFIG and KRB5_KDC_PROFILE for this realm; add KRB5CCNAME per client (ccache). */
  readonly env: Readonly<Record<string, string>>;
  /** Add a user principal with a password. */
  addUser(name: string, password: string): Promise<void>;
  /** Add service principals with random keys and write them to a new keytab (mode 0600); its path. */
  addServices(names: readonly string[], keytab: string): Promise<string>;
  /** kinit `user` into a fresh credentials cache; its KRB5CCNAME. */
  kinit(user: string, password: string): Promise<string>;
  stop(): Promise<void>;
}

export const REALM = 'HASOCKS.TEST';
/** The proxy's service principal in the GSSAPI tests and bench, and their user. */
export const SERVICE = 'rcmd/socks.hasocks.test';
export const ALICE = `alice@${REALM}`;

/**
 * hasocks offering GSSAPI as SERVICE from `keytab` (with `gssapi` over
 * these settings), passing ALICE only, with a replay cache of its own and
 * this realm's KRB5_CONFIG; `extra` replaces the rest of the config.
 */
export function startGssapiProxy(kdc: Kdc, keytab: string, gssapi: Partial<GssapiFile> = {}, extra: Partial<ConfigFile> = {}): Promise<RunningProxy> {
  return startProxy(
    {
      socksmethod: ['gssapi'],
      gssapi: { servicename: SERVICE, keytab, replayCache: `file2:${join(kdc.dir, `rcache-${Date.now()}-${Math.random()}`)}`, ...gssapi },
      rules: [
        { type: 'client', action: 'pass', from: '0/0' },
        { type: 'socks', action: 'pass', from: '0/0', to: '0/0', user: [ALICE], socksmethod: ['gssapi'] },
      ],
      ...extra,
    },
    { env: { ...process.env, KRB5_CONFIG: kdc.env.KRB5_CONFIG } as Record<string, string> },
  );
}

/** Start a KDC on 127.0.0.1 (or inside `netns`, at `address`), with its database created from nothing. */
export async function startKdc(options: { netns?: string; address?: string } = {}): Promise<Kdc> {
  const dir = mkdtempSync(join(tmpdir(), 'hasocks-kdc-'));
  const address = options.address ?? '127.0.0.1';
  const port = options.netns ? 88 : await freePort();
  const env = { KRB5_CONFIG: join(dir, 'krb5.conf'), KRB5_KDC_PROFILE: join(dir, 'kdc.conf') };
  writeFileSync(
    env.KRB5_CONFIG,
    [
      '[libdefaults]',
      `  default_realm = ${REALM}`,
      // Names are exactly as written: no DNS canonicalization or reverse lookup of the service's host.
      '  dns_canonicalize_hostname = false',
      '  rdns = false',
      '  dns_lookup_kdc = false',
      '  dns_lookup_realm = false',
      '  udp_preference_limit = 1',
      '[realms]',
      `  ${REALM} = {`,
      `    kdc = ${address}:${port}`,
      '  }',
      '',
    ].join('\n'),
  );
  writeFileSync(
    env.KRB5_KDC_PROFILE,
    [
      '[kdcdefaults]',
      `  kdc_listen = ${address}:${port}`,
      `  kdc_tcp_listen = ${address}:${port}`,
      '[realms]',
      `  ${REALM} = {`,
      `    database_name = ${join(dir, 'principal')}`,
      `    key_stash_file = ${join(dir, 'stash')}`,
      `    acl_file = ${join(dir, 'kadm5.acl')}`,
      '    max_life = 1h',
      '  }',
      '[logging]',
      `  kdc = FILE:${join(dir, 'kdc.log')}`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'kadm5.acl'), '');
  const run: Runner = (command, args, extra = {}) =>
    execa(options.netns ? 'ip' : command, options.netns ? ['netns', 'exec', options.netns, command, ...args] : args, { env: { ...process.env, ...env, ...extra.env }, input: extra.input, reject: extra.reject ?? true });
  let kdc: ResultPromise | undefined;
  const stop = async (): Promise<void> => {
    if (kdc) {
      kdc.kill('SIGTERM');
      await kdc.catch(() => undefined);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await run('kdb5_util', ['create', '-s', '-r', REALM, '-P', 'lab-master-key', '-W']);
    kdc = run('krb5kdc', ['-n', '-r', REALM, '-P', join(dir, 'kdc.pid')]);
    kdc.catch(() => undefined);
    await waitForKdc(run, join(dir, 'probe-ccache'));
  } catch (err) {
    await stop();
    throw err;
  }
  const kadmin = async (query: string): Promise<void> => {
    const result = await run('kadmin.local', ['-r', REALM, '-q', query]);
    // kadmin.local reports failures on stderr and still exits 0.
    if (/error|cannot|not found|exists/i.test(String(result.stderr))) throw new Error(`kadmin.local -q "${query}": ${String(result.stderr)}`);
  };
  return {
    realm: REALM,
    dir,
    env,
    addUser: (name, password) => kadmin(`addprinc -pw ${password} ${name}`),
    addServices: async (names, keytab) => {
      for (const name of names) await kadmin(`addprinc -randkey ${name}`);
      await kadmin(`ktadd -k ${keytab} ${names.join(' ')}`);
      chmodSync(keytab, 0o600);
      return keytab;
    },
    kinit: async (user, password) => {
      const ccache = `FILE:${join(dir, `ccache-${user.replace(/[^a-z0-9]/gi, '_')}-${Date.now()}`)}`;
      await run('kinit', [user], { env: { KRB5CCNAME: ccache }, input: `${password}\n` });
      return ccache;
    },
    stop,
  };
}

type Runner = (command: string, args: string[], extra?: { env?: Record<string, string>; input?: string; reject?: boolean }) => ResultPromise;

/** Until the KDC answers: a kinit for a principal that does not exist gets "not found" from it, not "cannot contact". */
async function waitForKdc(run: Runner, ccache: string): Promise<void> {
  const deadline = Date.now() + 15000;
  for (;;) {
    const probe = await run('kinit', ['nobody-probe'], { env: { KRB5CCNAME: `FILE:${ccache}` }, input: '\n', reject: false });
    if (/not found in Kerberos database/i.test(String(probe.stderr))) return;
    if (Date.now() > deadline) throw new Error(`the KDC did not answer: ${String(probe.stderr)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
