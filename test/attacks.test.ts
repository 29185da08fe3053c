// Attacks found by an attacker's review of the proxy (issue 15), each
// reproduced against the built proxy: every test here failed before its
// fix. Most are about one client denying service to the others, or to the
// OCF agent's monitor: lookups, logins, descriptors, logs.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, scryptSync } from 'node:crypto';
import { type Socket as UdpSocket, createSocket } from 'node:dgram';
import { once } from 'node:events';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { RuleFile } from '../src/config/types.js';
import { type Netns, createNetns } from './helpers/netns.js';
import { control } from '../ocf/control-client.js';
import { socksConnect } from '../src/client/socks-client.js';
import { type DnsZone, dnsServerIn, whoamiIn } from './helpers/netns-tools.js';
import { RawClient, openAssociation, socks5Request } from './helpers/net.js';
import { startSyslogd } from './helpers/syslogd.js';
import { CLI, REPO, type RunningProxy, startProxy, stopAllProxies } from './helpers/proxy.js';

const PASS_CLIENTS: RuleFile = { type: 'client', action: 'pass' };

afterEach(stopAllProxies);

/**
 * SOCKS5 CONNECTs by name from inside a namespace (the jest process has no
 * route into it), run by one Node process: each job connects from `source`
 * after `delayMs` and reports the REP byte as two hex digits, or "closed".
 * The process prints the results, in job order, as one JSON line.
 */
const CONNECT_JOBS = `
const net = require('node:net');
const [proxyPort, jobsText] = process.argv.slice(1);
const jobs = JSON.parse(jobsText);
const results = [];
const run = (job, i) => new Promise((resolve) => setTimeout(() => {
  const socket = net.connect({ host: '127.0.0.1', port: Number(proxyPort), localAddress: job.source });
  let got = Buffer.alloc(0);
  const done = (code) => { if (results[i] === undefined) { results[i] = code; socket.destroy(); resolve(); } };
  socket.on('error', () => done('closed'));
  socket.on('close', () => done('closed'));
  socket.on('data', (chunk) => { got = Buffer.concat([got, chunk]); if (got.length >= 4) done(got[3].toString(16).padStart(2, '0')); });
  const name = Buffer.from(job.host);
  const port = Buffer.alloc(2);
  port.writeUInt16BE(job.port);
  socket.on('connect', () => socket.write(Buffer.concat([Buffer.from([5, 1, 0, 5, 1, 0, 3, name.length]), name, port])));
}, job.delayMs || 0));
Promise.all(jobs.map(run)).then(() => console.log(JSON.stringify(results)));
`;

interface ConnectJob {
  host: string;
  port: number;
  source: string;
  delayMs?: number;
}

async function connectJobs(ns: Netns, jobs: ConnectJob[]): Promise<string[]> {
  const result = await ns.exec(process.execPath, ['-e', CONNECT_JOBS, '1080', JSON.stringify(jobs)], { timeout: 40000 });
  return JSON.parse(result.stdout) as string[];
}

/** Stop a proxy whose thread pool is stuck in lookups that nothing can cancel: SIGKILL, then clean up. */
async function kill(proxy: RunningProxy): Promise<void> {
  proxy.signal('SIGKILL');
  await proxy.stop();
}

/** Poll the test resolver's log until `seen` holds (the attacker's lookups are under way), for at most 10 s. */
async function untilAsked(seen: () => boolean): Promise<void> {
  const deadline = Date.now() + 10000;
  while (!seen()) {
    if (Date.now() > deadline) throw new Error('the attacker\'s lookups never reached the test resolver');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Resident memory of a process, in MB. */
function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(/(\d+)/.exec(line)![1]) / 1024;
}

describe('name lookups under attack', () => {
  let ns: Netns;
  let dns: Awaited<ReturnType<typeof dnsServerIn>> | undefined;
  let whoami: ReturnType<typeof whoamiIn> | undefined;

  beforeAll(async () => {
    // glibc's own defaults: a silent server costs a lookup 5 s twice over.
    ns = await createNetns({}, 'timeout:5 attempts:2');
    whoami = whoamiIn(ns, '127.0.0.1', 7000);
    await whoami.ready;
  });
  afterEach(async () => {
    dns?.child.kill('SIGTERM');
    await dns?.child;
    dns = undefined;
  });
  afterAll(async () => {
    whoami?.child.kill('SIGTERM');
    await whoami?.child;
    await ns?.remove();
  });

  const serveZone = async (zone: DnsZone): Promise<void> => {
    dns = await dnsServerIn(ns, zone);
  };

  test('a client asking for names in a silent zone holds up neither other clients\' lookups nor the agent\'s probe', async () => {
    const slow = Array.from({ length: 16 }, (_, i) => `s${i}.slow.test`);
    await serveZone({ A: { 'good.test': '127.0.0.1' }, silent: slow });
    // The attacker, 127.0.0.3, is a client like any other (one that no rule passes gets 0x02 without a lookup at all).
    const controlDir = mkdtempSync(join(tmpdir(), 'hasocks-review-'));
    const proxy = await startProxy(
      { internal: ['127.0.0.1:1080'], timeout: { connect: 3 }, rules: [PASS_CLIENTS, { type: 'socks', action: 'pass' }] },
      { netns: ns.name, args: ['--control-dir', controlDir] },
    );
    try {
      const attack = connectJobs(ns, slow.map((host) => ({ host, port: 7000, source: '127.0.0.3' })));
      // Once the attacker's lookups are under way (at most 8 of its own; they hold no thread):
      await untilAsked(() => new Set(dns!.queries().filter((q) => q.includes('slow.test')).map((q) => q.split(' ')[1])).size >= 8);
      // A client that may connect, and the agent's depth-20 monitor (a CONNECT over socks.sock to probe_target, a name here).
      const [[client], monitor] = await Promise.all([
        connectJobs(ns, [{ host: 'good.test', port: 7000, source: '127.0.0.2' }]),
        socksConnect({ path: join(controlDir, 'socks.sock') }, 'good.test', 7000, undefined, 10000).then(() => 'ok', (err: Error) => err.message),
      ]);
      await attack;
      // good.test answers at once. Through getaddrinfo, its lookup waited behind calls that held every thread for 10 s.
      expect({ client, monitor }).toEqual({ client: '00', monitor: 'ok' });
    } finally {
      await kill(proxy);
      rmSync(controlDir, { recursive: true, force: true });
    }
  });

  test('a client no socks rule passes gets 0x02 without its names being resolved', async () => {
    await serveZone({ A: { 'exists.internal.test': '127.0.0.9' } });
    const proxy = await startProxy(
      { internal: ['127.0.0.1:1080'], rules: [PASS_CLIENTS, { type: 'socks', action: 'pass', from: '127.0.0.2/32' }] },
      { netns: ns.name },
    );
    try {
      const [existing, missing] = await connectJobs(ns, [
        { host: 'exists.internal.test', port: 7000, source: '127.0.0.3' },
        { host: 'missing.internal.test', port: 7000, source: '127.0.0.3', delayMs: 200 },
      ]);
      // Resolving first would answer 02 for a name that exists and 04 for one that does not: an oracle for the internal zone.
      expect({ existing, missing }).toEqual({ existing: '02', missing: '02' });
      // No rule could pass 127.0.0.3 whatever the name resolves to, so there was nothing to look up.
      expect(dns!.queries().filter((q) => q.includes('internal.test'))).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  test('client addresses whose reverse zone is silent leave other clients their names', async () => {
    const attackers = Array.from({ length: 8 }, (_, i) => `127.0.0.${10 + i}`);
    await serveZone({
      PTR: { '2.0.0.127.in-addr.arpa': 'good.clients.test' },
      A: { 'good.clients.test': '127.0.0.2' },
      silent: attackers.map((a) => `${a.split('.').reverse().join('.')}.in-addr.arpa`),
    });
    const proxy = await startProxy(
      { internal: ['127.0.0.1:1080'], rules: [{ type: 'client', action: 'pass', from: '.clients.test' }, { type: 'socks', action: 'pass' }] },
      { netns: ns.name },
    );
    try {
      const attack = connectJobs(ns, attackers.map((source) => ({ host: '127.0.0.1', port: 7000, source })));
      // Once the attackers' reverse lookups are under way:
      await untilAsked(() => new Set(dns!.queries().filter((q) => q.startsWith('PTR ') && q !== 'PTR 2.0.0.127.in-addr.arpa')).size >= 4);
      const [legit] = await connectJobs(ns, [{ host: '127.0.0.1', port: 7000, source: '127.0.0.2' }]);
      await attack;
      // good.clients.test is forward-confirmed in milliseconds; on a shared pool of 4 threads its PTR lookup waited behind the attackers' past its 2 s deadline.
      expect(legit).toBe('00');
    } finally {
      await kill(proxy);
    }
  });

  test('datagrams waiting for their name to resolve are bounded per association', async () => {
    await serveZone({ silent: ['blackhole.test'] });
    const proxy = await startProxy(
      { internal: ['127.0.0.1:1080'], rules: [PASS_CLIENTS, { type: 'socks', action: 'pass' }] },
      { netns: ns.name },
    );
    try {
      const before = rssMb(proxy.pid);
      const sent = await ns.exec(process.execPath, ['-e', UDP_FLOOD, '1080', 'blackhole.test', '3000', '60000'], { timeout: 40000 });
      expect(JSON.parse(sent.stdout)).toEqual({ sent: 3000 });
      const grown = rssMb(proxy.pid) - before;
      // 3000 datagrams of 60 kB to one name that takes 10 s to fail: only a few may wait for it, the rest are dropped.
      expect(grown).toBeLessThan(64);
    } finally {
      await kill(proxy);
    }
  });
});

/** Inside a namespace: one UDP ASSOCIATE, then COUNT datagrams of SIZE bytes to NAME:53, paced so the relay's socket buffer keeps up. */
const UDP_FLOOD = `
const net = require('node:net');
const dgram = require('node:dgram');
const [proxyPort, name, countText, sizeText] = process.argv.slice(1);
const control = net.connect(Number(proxyPort), '127.0.0.1');
control.write(Buffer.from([5, 1, 0, 5, 3, 0, 1, 0, 0, 0, 0, 0, 0]));
let got = Buffer.alloc(0);
control.on('data', (chunk) => {
  got = Buffer.concat([got, chunk]);
  if (got.length < 12) return;
  control.removeAllListeners('data');
  const relayPort = got.readUInt16BE(10);
  const udp = dgram.createSocket('udp4');
  udp.bind(0, '127.0.0.1', async () => {
    const n = Buffer.from(name);
    const datagram = Buffer.concat([Buffer.from([0, 0, 0, 3, n.length]), n, Buffer.from([0, 53]), Buffer.alloc(Number(sizeText), 0x61)]);
    const count = Number(countText);
    for (let i = 0; i < count; i++) {
      await new Promise((resolve) => udp.send(datagram, relayPort, '127.0.0.1', resolve));
      if (i % 2 === 1) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    console.log(JSON.stringify({ sent: count }));
    udp.close();
    control.destroy();
  });
});
`;

describe('logins under attack', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hasocks-review-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('a flood of wrong passwords from one client does not keep other users from logging in', async () => {
    const salt = randomBytes(16);
    const key = scryptSync('right', salt, 32, { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
    const users = join(dir, 'users');
    writeFileSync(users, `alice:scrypt$16384$8$1$${salt.toString('base64')}$${key.toString('base64')}\n`);
    chmodSync(users, 0o600);
    const proxy = await startProxy({ socksmethod: ['username'], users, timeout: { negotiate: 3 } });

    /** A username/password login from `source`; the RFC 1929 status byte, or 'closed'. */
    const login = async (source: string, user: string, password: string): Promise<{ client: RawClient; status: Promise<number | 'closed'> }> => {
      const socket = connect({ host: '127.0.0.1', port: proxy.port, localAddress: source });
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      const client = RawClient.wrap(socket);
      client.send(Buffer.concat([Buffer.from([5, 1, 2, 1, user.length]), Buffer.from(user), Buffer.from([password.length]), Buffer.from(password)]));
      const status = client.read(4, 10000).then((bytes) => bytes[3]!, () => 'closed' as const);
      return { client, status };
    };

    // One client, 127.0.0.3, with no account at all: each guess costs the proxy a full scrypt (the decoy hash, made by the first).
    const first = await login('127.0.0.3', 'mallory', 'guess');
    expect(await first.status).toBe(1);
    first.client.destroy();
    const flood = await Promise.all(Array.from({ length: 100 }, () => login('127.0.0.3', 'mallory', 'guess')));
    const alice = await login('127.0.0.2', 'alice', 'right');
    try {
      // In one queue, alice's check waited behind all 100 guesses and was dropped at her negotiate deadline; clients now take turns.
      expect(await alice.status).toBe(0);
    } finally {
      for (const { client } of [...flood, alice]) client.destroy();
      await kill(proxy);
    }
  }, 40000);
});

describe('log files', () => {
  test('a log file in a directory another user may write is never opened through a link planted there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hasocks-review-'));
    chmodSync(dir, 0o755);
    try {
      // The victim: a file of root's that nobody else may touch.
      const victim = join(dir, 'victim');
      writeFileSync(victim, 'untouched\n', { mode: 0o600 });
      // A log directory the unprivileged user may write (so that logs still open after a reload under "user"): it plants a link.
      const logs = join(dir, 'logs');
      mkdirSync(logs, { mode: 0o755 });
      chownSync(logs, 65534, 65534);
      await execa('su', ['nobody', '-s', '/bin/sh', '-c', `ln -s ${victim} ${join(logs, 'hasocks.log')}`]);
      // The file is opened without following a link there: start fails, saying why, and the victim is untouched.
      await expect(startProxy({ logoutput: [join(logs, 'hasocks.log'), 'stderr'] })).rejects.toThrow(/cannot open log output .*hasocks\.log: ELOOP/);
      expect(readFileSync(victim, 'utf8')).toBe('untouched\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('shutdown', () => {
  test('a login still waiting for its check when the daemon stops does not spoil its exit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hasocks-review-'));
    try {
      const users = join(dir, 'users');
      writeFileSync(users, `alice:scrypt$16384$8$1$${randomBytes(16).toString('base64')}$${randomBytes(32).toString('base64')}\n`);
      chmodSync(users, 0o600);
      const proxy = await startProxy({ socksmethod: ['username'], users, timeout: { negotiate: 1, drain: 0 } });
      const clients = await Promise.all(Array.from({ length: 30 }, () => RawClient.connect(proxy.port)));
      for (const client of clients) client.send(Buffer.from([5, 1, 2, 1, 1, 0x6d, 1, 0x70]));
      await proxy.waitForLog(/authentication failed|checking the password/);
      // Checks still queued when the logger has ended are dropped at their deadline; logging that drop crashed the exit ("write after end").
      const code = await proxy.stop();
      for (const client of clients) client.destroy();
      expect({ code, writeAfterEnd: /write after end/.test(proxy.logs()) }).toEqual({ code: 0, writeAfterEnd: false });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30000);
});

describe('descriptors', () => {
  test('idle clients cannot take the descriptors the agent\'s control socket needs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hasocks-review-'));
    chmodSync(dir, 0o700);
    const idle: RawClient[] = [];
    try {
      // 128 descriptors and the default session.max of 10000 (start warns): the top descriptors are kept for the agent.
      const proxy = await startProxy({}, { nofile: 128, args: ['--control-dir', dir] });
      expect(await control(join(dir, 'control.sock'), { cmd: 'status' })).toMatchObject({ ok: true });
      for (let i = 0; i < 160; i++) idle.push(await RawClient.connect(proxy.port));
      await proxy.waitForLog(/accept EMFILE/);
      // The monitor asks for status, then greets over socks.sock: both must still answer.
      const status = await control(join(dir, 'control.sock'), { cmd: 'status' }).catch((err: Error) => ({ ok: false, error: err.message }));
      expect(status).toMatchObject({ ok: true });
    } finally {
      for (const client of idle) client.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('syslog', () => {
  test('a line a client fills is cut, never split into a record the client writes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hasocks-review-'));
    const path = join(dir, 'log.sock');
    const syslogd = await startSyslogd(path);
    const records = syslogd.records;
    try {
      const proxy = await startProxy({ logoutput: [`syslog/local0@${path}`, 'stderr'] });

      const client = await RawClient.connect(proxy.port);
      // logger(1) reads at most 1024 bytes of a line (its default --size) and starts a new record with the rest, reading a
      // leading "<N>" as that record's priority. Control bytes are logged as \xHH, four characters each, so a 255-byte name
      // fills a line past 1024 characters; the line's text before the name is known to the client.
      const before = `session 1 127.0.0.1:${client.socket.localPort}: protocol error: invalid domain name "`;
      const controls = Math.floor((1024 - before.length) / 4);
      const filler = 1024 - before.length - 4 * controls;
      const forged = '<10>FORGED';
      const name = Buffer.concat([Buffer.alloc(controls, 1), Buffer.alloc(filler, 0x61), Buffer.from(forged)]);
      expect(name.length).toBeLessThanOrEqual(255);
      client.send(Buffer.concat([Buffer.from([5, 1, 0, 5, 1, 0, 3, name.length]), name, Buffer.from([0, 80])]));
      await proxy.waitForLog(/invalid domain name/);
      await syslogd.until(/invalid domain name/);
      client.destroy();
      expect(records.some((r) => r.includes('invalid domain name'))).toBe(true);
      // What the client sent may appear only inside the proxy's own line, never as a record of its own (before: "<10>... hasocks[PID]: FORGED...").
      for (const record of records) expect(record).toMatch(/hasocks\[\d+\]: /);
      expect(records.filter((r) => r.includes('FORGED'))).toEqual([]);
    } finally {
      await syslogd.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('rule session limits', () => {
  /** The REP byte of a UDP ASSOCIATE; the control connection stays open, holding its association. */
  const associate = async (proxy: RunningProxy, held: RawClient[]): Promise<number | 'closed'> => {
    const client = await RawClient.connect(proxy.port);
    held.push(client);
    client.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(3, '0.0.0.0', 0)]));
    try {
      await client.read(2);
      return (await client.read(10))[1]!;
    } catch {
      return 'closed';
    }
  };

  test.each([
    ['session.max', { max: 1 }],
    ['session.state.max', { state: { key: 'from' as const, max: 1 } }],
    ['session.throttle', { throttle: '1/60' }],
  ])('%s of the socks rule that passes UDP ASSOCIATE bounds the associations', async (_what, session) => {
    const proxy = await startProxy({ rules: [PASS_CLIENTS, { type: 'socks', action: 'pass', command: ['udpassociate', 'udpreply'], session }] }, {});
    const held: RawClient[] = [];
    try {
      const replies = [await associate(proxy, held), await associate(proxy, held), await associate(proxy, held)];
      // As CONNECT and BIND do, UDP ASSOCIATE takes the passing rule's limits.
      expect(replies).toEqual([0x00, 0x02, 0x02]);
    } finally {
      for (const client of held) client.destroy();
    }
  });
});

describe('rules that could never match', () => {
  test.each([
    ['socksmethod', { socksmethod: ['none'] }],
    ['user', { user: ['mallory'] }],
    ['command', { command: ['connect'] }],
  ] as Array<[string, Partial<RuleFile>]>)('a client rule with %s is refused when the config loads', async (field, extra) => {
    // Client rules are decided on arrival, before any method, user or command is known, so such a rule never matches.
    const rules = [{ type: 'client', action: 'block', from: '127.0.0.1/32', ...extra } as RuleFile, PASS_CLIENTS, { type: 'socks', action: 'pass' } as RuleFile];
    const dir = mkdtempSync(join(tmpdir(), 'hasocks-review-'));
    const file = join(dir, 'hasocks.json');
    writeFileSync(file, JSON.stringify({ internal: ['127.0.0.1:1080'], rules }));
    const check = await execa(process.execPath, [CLI, 'check-config', file], { reject: false });
    rmSync(dir, { recursive: true, force: true });
    // Loaded, it would silently block nobody: the config is refused, naming the field and the fix.
    expect(check.exitCode).toBe(1);
    expect(String(check.stderr)).toContain(`/rules/0/${field}: a client rule is decided when a connection arrives`);
    expect(String(check.stderr)).toContain('put it in a socks rule');
  });
});

describe('reload', () => {
  let targets: UdpSocket[] = [];
  const reached: number[] = [0, 0];
  beforeAll(async () => {
    targets = [createSocket('udp4'), createSocket('udp4')];
    targets.forEach((socket, i) => {
      socket.on('message', (msg, from) => {
        reached[i]!++;
        socket.send(msg, from.port, from.address);
      });
      socket.bind(0, '127.0.0.1');
    });
    await Promise.all(targets.map((socket) => once(socket, 'listening')));
  });
  afterAll(() => targets.forEach((socket) => socket.close()));

  const datagram = (port: number, text: string): Buffer => Buffer.concat([Buffer.from([0, 0, 0, 1, 127, 0, 0, 1, port >> 8, port & 0xff]), Buffer.from(text)]);

  test('a UDP association decides its next destinations by the rules in force', async () => {
    const open: RuleFile[] = [PASS_CLIENTS, { type: 'socks', action: 'pass' }];
    const proxy = await startProxy({ rules: open }, {});
    const { control, relayPort, client } = await openAssociation(proxy.port);
    try {
      client.send(datagram(targets[0]!.address().port, 'before'), relayPort, '127.0.0.1');
      await once(client, 'message');

      // The operator closes UDP to loopback.
      proxy.writeConfig({ internal: [`127.0.0.1:${proxy.port}`], logoutput: ['stderr'], rules: [PASS_CLIENTS, { type: 'socks', action: 'block', to: '127.0.0.0/8', command: ['udpassociate'] }, { type: 'socks', action: 'pass' }] });
      proxy.signal('SIGHUP');
      await proxy.waitForLog(/reloaded config/);

      const before = reached[1]!;
      client.send(datagram(targets[1]!.address().port, 'after'), relayPort, '127.0.0.1');
      const answered = await Promise.race([once(client, 'message').then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 1500))]);
      // A destination first named after the reload is a new decision, and the rules in force say no.
      expect({ answered, reached: reached[1]! - before }).toEqual({ answered: false, reached: 0 });
    } finally {
      client.close();
      control.destroy();
    }
  });
});

describe('the OCF agent and a state directory that is not root\'s own', () => {
  test('stop signals nothing an identity file there names', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hasocks-review-'));
    chmodSync(dir, 0o755);
    // A process of root's that the agent has nothing to do with, in a process group of its own.
    const victim: ChildProcess = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
    await once(victim, 'spawn');
    const pid = victim.pid!;
    try {
      // What the user "nobody" can do with a state directory it owns (start refuses such a directory, and now every other action ignores it).
      const state = join(dir, 'state');
      mkdirSync(state, { mode: 0o700 });
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
      writeFileSync(join(state, 'identity'), `${pid} ${start}\n`);
      chownSync(join(state, 'identity'), 65534, 65534);
      chownSync(state, 65534, 65534);
      const config = join(dir, 'hasocks.json');
      writeFileSync(config, JSON.stringify({ internal: ['127.0.0.1:1'] }));
      await execa(join(REPO, 'ocf', 'hasocks'), ['stop'], {
        env: { OCF_ROOT: '/usr/lib/ocf', OCF_RESOURCE_INSTANCE: 'hs-review', HA_LOGFACILITY: 'none', OCF_RESKEY_config: config, OCF_RESKEY_state_dir: state, OCF_RESKEY_CRM_meta_timeout: '20000' },
        reject: false,
        timeout: 30000,
      });
      const alive = (() => {
        try {
          const now = readFileSync(`/proc/${pid}/stat`, 'utf8');
          return now.slice(now.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
        } catch {
          return false;
        }
      })();
      expect(alive).toBe(true);
    } finally {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
