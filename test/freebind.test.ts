// The native addon at work: listeners, UDP relays and outgoing sockets on
// addresses that arrive (and leave, and come back) after the proxy started,
// as a warm standby's VIP does. All inside two namespaces this test creates.
import { type TwoHostLab, createTwoHostLab } from './helpers/lab.js';
import { CLI, OPEN_RULES, startProxy, stopAllProxies } from './helpers/proxy.js';
import { type TcpConnId, type TcpRelayId, loadAddon } from '../src/native/addon.js';
import { control } from '../ocf/control-client.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';

let lab: TwoHostLab;

beforeAll(async () => {
  lab = await createTwoHostLab({ server: ['10.202.1.1/24', 'fd00:202::1/64'], client: ['10.202.1.2/24', 'fd00:202::2/64'] });
  await lab.whoami(lab.client, '10.202.1.2', 7000);
  await lab.whoami(lab.client, 'fd00:202::2', 7000);
});
afterEach(stopAllProxies);
afterAll(() => lab?.remove());

const addAddress = (address: string, nodad = true) =>
  lab.server.exec('ip', ['addr', 'add', address, 'dev', lab.serverIf, ...(nodad && address.includes(':') ? ['nodad'] : [])]);
const delAddress = (address: string) => lab.server.exec('ip', ['addr', 'del', address, 'dev', lab.serverIf]);

/** Retry a client command until it answers (a fresh IPv6 address is unusable until DAD ends). */
async function eventually(args: string[], want: (r: Record<string, unknown>) => boolean, timeoutMs = 8000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  let last: Record<string, unknown> = {};
  while (Date.now() < deadline) {
    try {
      last = await lab.socksClient(args);
      if (want(last)) return last;
    } catch (err) {
      last = { error: String(err) };
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return last;
}

test('the addon loads (it is built by npm ci)', () => {
  const { addon, error } = loadAddon();
  expect(error).toBeUndefined();
  expect(typeof addon?.tcpListener).toBe('function');
});

test('the addon throws Node-style errors and binds absent addresses with freebind', () => {
  const { addon } = loadAddon();
  let thrown: NodeJS.ErrnoException & { address?: string; port?: number } = new Error('none');
  try {
    addon!.tcpListener('192.0.2.77', 1080, {});
  } catch (err) {
    thrown = err as typeof thrown;
  }
  expect(thrown).toMatchObject({ code: 'EADDRNOTAVAIL', syscall: 'bind', address: '192.0.2.77', port: 1080 });
  const fd = addon!.tcpListener('192.0.2.77', 0, { freebind: true });
  expect(addon!.localAddress(fd)).toMatch(/^192\.0\.2\.77\|\d+$/);
  addon!.close(fd);
});

test('reuseportRoundRobin: a socket outside a SO_REUSEPORT group is refused with the failing call named', () => {
  const { addon } = loadAddon();
  const plain = addon!.tcpListener('127.0.0.1', 0, {});
  try {
    expect(() => addon!.reuseportRoundRobin([plain])).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'bpf(BPF_MAP_UPDATE_ELEM)' }));
  } finally {
    addon!.close(plain);
  }
  expect(() => addon!.reuseportRoundRobin([])).toThrow(/expected \(fds: number\[\]\)/);
});

test('tcpRelayOpen: wrong arguments are a TypeError, and the descriptors stay the caller\'s', () => {
  const { addon } = loadAddon();
  const a = addon!.tcpSocket('127.0.0.1', 0, {});
  const b = addon!.tcpSocket('127.0.0.1', 0, {});
  try {
    const open = addon!.tcpRelayOpen as unknown as (...args: unknown[]) => unknown;
    expect(() => open(a, b, null)).toThrow(/expected \(clientFd, targetFd, clientBytes, targetBytes\)/);
    expect(() => open(a, b, null, null)).toThrow(/tcpRelayInit has not been called/);
    addon!.tcpRelayInit(() => undefined);
    expect(() => open(a, b, 'not a buffer', null)).toThrow(/clientBytes and targetBytes must be Buffers or null/);
    // Still open, so still the caller's to use and close.
    expect(addon!.localAddress(a)).toMatch(/^127\.0\.0\.1\|\d+$/);
    expect(addon!.localAddress(b)).toMatch(/^127\.0\.0\.1\|\d+$/);
  } finally {
    addon!.close(a);
    addon!.close(b);
  }
  // An id that names no relay: figures are an error, closing is harmless.
  const stale = 12345 as TcpRelayId;
  expect(() => addon!.tcpRelayStats(stale)).toThrow(/no such TCP relay/);
  expect(() => addon!.tcpRelayClose(stale)).not.toThrow();
});

test('tcpConn*: wrong arguments and stale ids are errors, and a refused dial reports ECONNREFUSED', async () => {
  const { addon } = loadAddon();
  const conn = addon!;
  const listener = conn.tcpListener('127.0.0.1', 0, {});
  const events: unknown[][] = [];
  let owned = false;
  try {
    expect(() => conn.tcpConnListen(listener, false)).toThrow(/tcpConnInit has not been called/);
    expect(() => (conn.tcpConnInit as unknown as (...args: unknown[]) => unknown)('not a function', 0)).toThrow(/expected \(onEvent, reservedDescriptors\)/);
    expect(() => (conn.tcpConnInit as unknown as (...args: unknown[]) => unknown)(() => undefined)).toThrow(/expected \(onEvent, reservedDescriptors\)/);
    conn.tcpConnInit((...args) => events.push(args), 0);
    expect(() => (conn.tcpConnListen as unknown as (...args: unknown[]) => unknown)(listener)).toThrow(/expected \(fd, wildcard\)/);
    const id = conn.tcpConnListen(listener, false);
    owned = true;
    // A listener is not a client, and has no dial.
    expect(() => conn.tcpConnWrite(id, Buffer.from('x'))).toThrow(/no such client socket/);
    expect(() => conn.tcpConnRelay(id, id, null)).toThrow(/no such client socket/);
    expect(() => conn.tcpConnDial(-1, 'localhost', 80)).toThrow(/address must be an IP address/);
    // C never parses less of a string than JavaScript checked: a cut or a NUL would make it another address.
    expect(() => conn.tcpConnDial(-1, '0000:0000:0000:0000:0000:ffff:127.100.100.1009', 9)).toThrow(/expected \(fd, address, port\)/);
    expect(() => conn.tcpConnDial(-1, '127.0.0.1\0.example.org', 9)).toThrow(/expected \(fd, address, port\)/);
    expect(() => conn.tcpSocket('127.0.0.1\0.example.org', 0)).toThrow(/host must be an IP address/);
    expect(() => conn.tcpConnDial(-1, '127.0.0.1', 0)).toThrow(/expected \(fd, address, port\)/);
    // A port nobody listens on: the dial is under way, then refused.
    const port = Number(conn.localAddress(listener).split('|')[1]);
    conn.tcpConnClose(id); // closes the listener's descriptor too
    const dial = conn.tcpConnDial(-1, '127.0.0.1', port);
    expect(dial).toBeGreaterThanOrEqual(0);
    expect(() => conn.tcpConnResume(dial as TcpConnId)).toThrow(/a dial has nothing to read/);
    for (let i = 0; i < 100 && events.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(events).toEqual([[conn.tcpConnEvents.CONNECTED, dial, constants.errno.ECONNREFUSED, undefined, 0]]);
    conn.tcpConnClose(dial as TcpConnId);
    // Numbers that name nothing (any more): errors, except closing, which is harmless.
    expect(() => conn.tcpConnWrite(id, Buffer.from('x'))).toThrow(/no such client socket/);
    expect(() => conn.tcpConnPause(dial as TcpConnId)).toThrow(/no such socket/);
    expect(() => conn.tcpConnDetach(12345 as TcpConnId)).toThrow(/no such client socket/);
    expect(() => conn.tcpConnClose(id)).not.toThrow();
  } finally {
    if (!owned) conn.close(listener);
  }
});

describe.each([
  ['IPv4', '10.202.1.100', '10.202.1.101', '10.202.1.2', '/24', true],
  ['IPv6 with nodad', 'fd00:202::100', 'fd00:202::101', 'fd00:202::2', '/64', true],
  ['IPv6 with DAD', 'fd00:202::200', 'fd00:202::201', 'fd00:202::2', '/64', false],
])('%s', (_name, vip, externalVip, target, prefix, nodad) => {
  const bracket = (a: string) => (a.includes(':') ? `[${a}]` : a);

  test('without freebind, the listener cannot bind the absent VIP: EADDRNOTAVAIL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hasocks-fb-'));
    try {
      writeFileSync(join(dir, 'c.json'), JSON.stringify({ internal: [`${bracket(vip)}:1080`], rules: OPEN_RULES }));
      const result = await lab.server.exec(process.execPath, [CLI, 'serve', '--config', join(dir, 'c.json')], { reject: false });
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain(`cannot listen on ${bracket(vip)}:1080: EADDRNOTAVAIL`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('freebind: listen before the VIP exists, serve when it arrives, again after it leaves and returns', async () => {
    await addAddress(`${externalVip}${prefix}`, nodad);
    const proxy = await startProxy({ internal: [`${bracket(vip)}:1080`], external: [externalVip], freebind: true, rules: OPEN_RULES }, { netns: lab.server.name });
    try {
      await proxy.waitForLog(new RegExp(`waiting for address ${vip.replace(/\./g, '\\.')} to arrive`));
      await addAddress(`${vip}${prefix}`, nodad);
      await proxy.waitForLog(new RegExp(`address ${vip.replace(/\./g, '\\.')} is now present`));

      // CONNECT through the VIP; the target sees the external VIP as the source.
      const first = await eventually(['connect', vip, '1080', target, '7000'], (r) => r.code === '00');
      expect(first.answer).toMatch(new RegExp(`^you are (::ffff:)?${externalVip.replace(/\./g, '\\.')}:\\d+$`));
      expect(first.bound).toMatchObject({ port: expect.any(Number) });

      // UDP ASSOCIATE: the reply names the VIP and datagrams come back from it.
      const udp = await eventually(['udp', vip, '1080', target, '7000'], (r) => r.code === '00');
      expect((udp.relay as { host: string }).host).toBe(vip);
      expect((udp.from as { host: string }).host).toBe(vip);
      expect(udp.answer).toMatch(new RegExp(`^you are (::ffff:)?${externalVip.replace(/\./g, '\\.')}:\\d+$`));

      // The address leaves and comes back: the same listener serves again.
      await delAddress(`${vip}${prefix}`);
      await addAddress(`${vip}${prefix}`, nodad);
      const again = await eventually(['connect', vip, '1080', target, '7000'], (r) => r.code === '00');
      expect(again.code).toBe('00');
      expect(proxy.logs().match(/listening on/g)).toHaveLength(1);
    } finally {
      await delAddress(`${vip}${prefix}`).catch(() => undefined);
      await delAddress(`${externalVip}${prefix}`).catch(() => undefined);
    }
  });
});

test('a warm standby holds a client that arrives before promote; a demote ends UDP associations at once and resets clients until the VIP has left', async () => {
  const vip = '10.202.1.120';
  const controlDir = mkdtempSync(join(tmpdir(), 'hasocks-ctl-'));
  // Open sessions may drain for a minute: what ends the UDP association below at once is the demote itself.
  const ask = (cmd: 'promote' | 'demote') => control(join(controlDir, 'control.sock'), cmd === 'demote' ? { cmd, drain: 60 } : { cmd });
  const connect = () => lab.socksClient(['connect', vip, '1080', '10.202.1.2', '7000']);
  /** A client that has no answer after 700 ms is being held. */
  const settlesWithin = (p: Promise<unknown>, ms: number) => Promise.race([p.then(() => true), new Promise((r) => setTimeout(() => r(false), ms))]);
  try {
    await addAddress(`${vip}/24`);
    const proxy = await startProxy({ internal: [`${vip}:1080`], freebind: true, rules: OPEN_RULES }, { netns: lab.server.name, args: ['--control-dir', controlDir, '--role', 'unpromoted'] });

    // The VIP is here before promote (Pacemaker starts both at once): the client waits, then is served.
    const early = connect();
    expect(await settlesWithin(early, 700)).toBe(false);
    expect(await ask('promote')).toEqual({ ok: true });
    expect(await early).toMatchObject({ code: '00', answer: expect.stringMatching(/^you are 10\.202\.1\.1:\d+$/) });
    const association = lab.socksClient(['udp-held', vip, '1080']);
    await proxy.waitForLog(/udpassociate relay 10\.202\.1\.120:/);

    // Demoted with the VIP still here: the UDP association ends at once, while the VIP can still carry
    // its close (its datagrams would soon reach the VIP's next node, which has no such association).
    expect(await ask('demote')).toEqual({ ok: true });
    expect(await association).toEqual({ code: '00', ended: true });
    expect(proxy.logs()).toMatch(/demoted: UDP association ended, to be made again where the VIP goes/);
    // A new client is reset at once, so it retries where the VIP goes.
    expect(await connect()).toEqual({ code: 'closed' });

    // The VIP leaves and comes back ahead of the next promote: held again, not reset.
    await delAddress(`${vip}/24`);
    await proxy.waitForLog(/demoted: 10\.202\.1\.120 left this node/);
    await addAddress(`${vip}/24`);
    const again = connect();
    expect(await settlesWithin(again, 700)).toBe(false);
    await ask('promote');
    expect(await again).toMatchObject({ code: '00' });
  } finally {
    await delAddress(`${vip}/24`).catch(() => undefined);
    rmSync(controlDir, { recursive: true, force: true });
  }
});

test('promoted before its external VIP has arrived, it holds clients until it has, then CONNECTs from it', async () => {
  const vip = '10.202.1.121';
  const external = '10.202.1.122';
  const controlDir = mkdtempSync(join(tmpdir(), 'hasocks-ctl-'));
  const settlesWithin = (p: Promise<unknown>, ms: number) => Promise.race([p.then(() => true), new Promise((r) => setTimeout(() => r(false), ms))]);
  try {
    await addAddress(`${vip}/24`);
    const proxy = await startProxy({ internal: [`${vip}:1080`], external: [external], freebind: true, rules: OPEN_RULES }, { netns: lab.server.name, args: ['--control-dir', controlDir, '--role', 'unpromoted'] });
    const client = lab.socksClient(['connect', vip, '1080', '10.202.1.2', '7000']);
    expect(await control(join(controlDir, 'control.sock'), { cmd: 'promote' })).toEqual({ ok: true });
    // Promoted, but dialling from the absent external address would fail (network unreachable): still held.
    expect(await settlesWithin(client, 700)).toBe(false);
    await proxy.waitForLog(new RegExp(`holding clients until the external address\\(es\\) ${external.replace(/\./g, '\\.')} arrive`));
    await addAddress(`${external}/24`);
    expect(await client).toMatchObject({ code: '00', answer: expect.stringMatching(/^you are 10\.202\.1\.122:\d+$/) });
  } finally {
    await delAddress(`${external}/24`).catch(() => undefined);
    await delAddress(`${vip}/24`).catch(() => undefined);
    rmSync(controlDir, { recursive: true, force: true });
  }
});

test('a listener a reload removed stops watching for its address', async () => {
  const [gone, kept] = ['10.202.1.130', '10.202.1.131'];
  const port = 1080;
  try {
    const proxy = await startProxy({ internal: [`${gone}:${port}`], freebind: true, rules: OPEN_RULES }, { netns: lab.server.name });
    await proxy.waitForLog(/waiting for address 10\.202\.1\.130 to arrive/);
    proxy.writeConfig({ internal: [`${kept}:${port}`], freebind: true, rules: OPEN_RULES });
    proxy.signal('SIGHUP');
    await proxy.waitForLog(/stopped listening on 10\.202\.1\.130 port 1080/);
    await proxy.waitForLog(/waiting for address 10\.202\.1\.131 to arrive/);
    await addAddress(`${gone}/24`);
    await addAddress(`${kept}/24`);
    await proxy.waitForLog(/address 10\.202\.1\.131 is now present/);
    // Asserting an absence: one more poll (500 ms) for the removed listener's watch, had it survived, to report.
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(proxy.logs()).not.toMatch(/address 10\.202\.1\.130 is now present/);
  } finally {
    await delAddress(`${gone}/24`).catch(() => undefined);
    await delAddress(`${kept}/24`).catch(() => undefined);
  }
});
