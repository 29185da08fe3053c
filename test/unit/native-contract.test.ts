// The numbers C and TypeScript share (native/src/events.h, native/src/session_count.h):
// the built addon, loaded in this process, must export every code TypeScript
// handles, and only those, each its own; and an addon that does not is refused
// at load with the way to rebuild it.
import { execFileSync } from 'node:child_process';
import { type Socket, createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADDON_CODE_NAMES, ADDON_PATH, type NativeAddon, addonMismatch, loadAddon } from '../../src/native/addon.js';
import { PACKAGE_ROOT, SCHEMA_PATH } from '../../src/paths.js';

const tables = Object.keys(ADDON_CODE_NAMES) as Array<keyof typeof ADDON_CODE_NAMES>;

function builtAddon(): NativeAddon {
  const { addon, error } = loadAddon();
  expect(error).toBeUndefined();
  return addon!;
}

/** The addon's exports as a plain object, with `change` applied: an addon built from other sources. */
function doctored(change: (exported: Record<string, unknown>) => void): Record<string, unknown> {
  const addon = builtAddon() as unknown as Record<string, unknown>;
  const copy: Record<string, unknown> = {};
  for (const name of Object.getOwnPropertyNames(addon)) copy[name] = addon[name];
  for (const table of tables) copy[table] = { ...(addon[table] as object) };
  change(copy);
  return copy;
}

test.each(tables)('%s: C exports exactly the names TypeScript handles, each with its own integer, frozen', (table) => {
  const codes = builtAddon()[table] as Record<string, unknown>;
  expect(Object.keys(codes).sort()).toEqual([...ADDON_CODE_NAMES[table]].sort());
  const numbers = Object.values(codes);
  for (const code of numbers) expect(Number.isInteger(code)).toBe(true);
  expect(new Set(numbers).size).toBe(numbers.length);
  expect(Object.isFrozen(codes)).toBe(true);
});

test('the built addon passes the load-time check, and a missing, non-numeric or shared code fails it', () => {
  expect(addonMismatch(builtAddon())).toBeUndefined();
  expect(addonMismatch(doctored((e) => delete (e.tcpConnEvents as Record<string, unknown>).CONNECTED))).toBe('no tcpConnEvents.CONNECTED');
  expect(addonMismatch(doctored((e) => ((e.tcpRelayEvents as Record<string, unknown>).CLOSED = '2')))).toBe('no tcpRelayEvents.CLOSED');
  expect(addonMismatch(doctored((e) => delete e.tcpRelayEvents))).toBe('no tcpRelayEvents');
  const { END_UP, END_DOWN } = builtAddon().tcpRelayEvents;
  expect(addonMismatch(doctored((e) => ((e.tcpRelayEvents as Record<string, unknown>).END_DOWN = END_UP)))).toBe(
    `tcpRelayEvents.END_UP and tcpRelayEvents.END_DOWN are both ${END_UP}`,
  );
  expect(END_DOWN).not.toBe(END_UP);
  expect(addonMismatch(doctored((e) => delete e.sessionCountSlots))).toBe('no sessionCountSlots');
  expect(addonMismatch(undefined)).toBe('not an object');
});

test('an addon older than the sources is refused at load, naming what it lacks and how to rebuild', () => {
  // HASOCKS_NATIVE_ADDON is read once per process, so the built proxy's loader runs in a child, on a copy of the addon without tcpRelayEvents.
  const dir = mkdtempSync(join(tmpdir(), 'hasocks-stale-addon-'));
  try {
    const stale = join(dir, 'stale-addon.cjs');
    writeFileSync(
      stale,
      `const real = require(${JSON.stringify(ADDON_PATH)});\n` +
        'for (const name of Object.getOwnPropertyNames(real)) if (name !== "tcpRelayEvents") exports[name] = real[name];\n',
    );
    const loader = `import(${JSON.stringify(join(PACKAGE_ROOT, 'dist', 'src', 'native', 'addon.js'))}).then((m) => { const r = m.loadAddon(); console.log(JSON.stringify({ loaded: r.addon !== undefined, error: r.error?.message })); })`;
    const output = execFileSync(process.execPath, ['-e', loader], { env: { ...process.env, HASOCKS_NATIVE_ADDON: stale }, encoding: 'utf8' });
    const result = JSON.parse(output) as { loaded: boolean; error?: string };
    expect(result.loaded).toBe(false);
    expect(result.error).toContain(stale);
    expect(result.error).toContain('(no tcpRelayEvents)');
    expect(result.error).toContain('npm run build:native');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the config schema allows no more workers than the shared session count has places for, and C holds to that number', () => {
  const addon = builtAddon();
  const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as { properties: { workers: { maximum: number } } };
  expect(schema.properties.workers.maximum).toBeLessThanOrEqual(addon.sessionCountSlots);
  // Each worker counts in place (worker index); the last place is usable and the one past it is refused.
  const fd = addon.sessionCountCreate();
  try {
    expect(() => addon.sessionCountAttach(fd, addon.sessionCountSlots)).toThrow(/slot below sessionCountSlots/);
    expect(() => addon.sessionCountAttach(fd, addon.sessionCountSlots - 1)).not.toThrow();
    expect(addon.sessionCountTake(1)).toBe(true);
    expect(addon.sessionCountTotal()).toBe(1);
    addon.sessionCountGive();
  } finally {
    addon.close(fd);
  }
});

describe('udpRelay*: a relay is a number, and a closed one\'s number names nothing', () => {
  const header = (port: number): Buffer => Buffer.from([0, 0, 0, 1, 127, 0, 0, 1, port >> 8, port & 0xff]);
  const bound = async (): Promise<Socket> => {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    return socket;
  };
  let client: Socket;
  let target: Socket;
  beforeAll(async () => {
    client = await bound();
    target = await bound();
  });
  afterAll(() => {
    client.close();
    target.close();
  });

  test('datagrams take the slow path until their route is learned, then C forwards them both ways; after close the calls do nothing', async () => {
    const addon = builtAddon();
    const slow: Array<[boolean, string, string, number]> = [];
    let heard: (() => void) | undefined;
    const nextSlow = async (): Promise<[boolean, string, string, number]> => {
      while (slow.length === 0) await new Promise<void>((resolve) => (heard = resolve));
      return slow.shift()!;
    };
    const relayFd = addon.udpSocket('127.0.0.1', 0);
    const relayPort = Number(addon.localAddress(relayFd).split('|')[1]);
    const relay = addon.udpRelayOpen(relayFd, '127.0.0.1', 0, (fromClient, datagram, address, port) => {
      slow.push([fromClient, datagram.toString('latin1'), address, port]);
      heard?.();
    });
    const targetPort = target.address().port;
    const clientPort = client.address().port;
    try {
      // Not learned yet: the whole datagram, header and all, comes up with the client's address.
      client.send(Buffer.concat([header(targetPort), Buffer.from('first')]), relayPort, '127.0.0.1');
      expect(await nextSlow()).toEqual([true, header(targetPort).toString('latin1') + 'first', '127.0.0.1', clientPort]);

      addon.udpRelayOutgoing(relay, addon.udpSocket('127.0.0.1', 0));
      addon.udpRelayLearn(relay, false, '127.0.0.1', targetPort, true);
      const atTarget = once(target, 'message');
      client.send(Buffer.concat([header(targetPort), Buffer.from('second')]), relayPort, '127.0.0.1');
      const [payload, from] = (await atTarget) as [Buffer, { port: number }];
      expect(payload.toString()).toBe('second');

      // The reply's sender is not learned yet: up to JavaScript; once learned, C adds the SOCKS header naming it.
      target.send('reply', from.port, '127.0.0.1');
      expect(await nextSlow()).toEqual([false, 'reply', '127.0.0.1', targetPort]);
      addon.udpRelayLearn(relay, true, '127.0.0.1', targetPort, true);
      const atClient = once(client, 'message');
      target.send('reply2', from.port, '127.0.0.1');
      const [reply] = (await atClient) as [Buffer];
      expect(reply).toEqual(Buffer.concat([header(targetPort), Buffer.from('reply2')]));
      expect(addon.udpRelayStats(relay).slice(0, 4)).toEqual([1, 'second'.length, 1, 'reply2'.length]);
      expect(slow).toEqual([]);
    } finally {
      addon.udpRelayClose(relay);
    }

    expect(addon.udpRelaySendOut(relay, Buffer.from('x'), '127.0.0.1', targetPort)).toBe(-constants.errno.ENOTCONN);
    expect(addon.udpRelaySendToClient(relay, header(targetPort), Buffer.from('x'))).toBe(-constants.errno.ENOTCONN);
    expect(() => addon.udpRelayLearn(relay, false, '127.0.0.1', targetPort, true)).not.toThrow();
    expect(() => addon.udpRelayForget(relay)).not.toThrow();
    expect(() => addon.udpRelayClose(relay)).not.toThrow();
    expect(() => addon.udpRelayStats(relay)).toThrow(/no such UDP relay/);
    // An outgoing socket handed to a closed relay is closed, as the relay would have closed it.
    const late = addon.udpSocket('127.0.0.1', 0);
    addon.udpRelayOutgoing(relay, late);
    expect(() => addon.localAddress(late)).toThrow(expect.objectContaining({ errno: -constants.errno.EBADF, syscall: 'getsockname' }));
    // Anything but a number is not taken for a closed relay: a TypeError.
    expect(() => (addon.udpRelayStats as unknown as (relay: unknown) => unknown)('not a relay')).toThrow(/expected a UDP relay id/);
  });
});
