import { execa, type ResultPromise } from 'execa';
import { type Netns, createNetns } from './netns.js';
import { socksClientIn, whoamiIn } from './netns-tools.js';

/**
 * Two test hosts joined by a veth pair, both inside namespaces this test
 * creates: "server" (where the proxy runs) and "client". Nothing is added to
 * the machine's own interfaces. The first address of each list is the
 * interface's primary address; the rest are secondaries (VIPs).
 */
export interface TwoHostLab {
  readonly server: Netns;
  readonly client: Netns;
  /** The veth interface names on each side. */
  readonly serverIf: string;
  readonly clientIf: string;
  /** Start a background process inside a host; stopped by remove(). */
  spawn(host: Netns, command: string, args: string[]): ResultPromise;
  /** Run test/helpers/socks-client.mjs inside the client host and parse its JSON line. */
  socksClient(args: string[]): Promise<Record<string, unknown>>;
  /** Start test/helpers/whoami-servers.mjs on host at address:port and wait until ready. */
  whoami(host: Netns, address: string, port: number): Promise<void>;
  remove(): Promise<void>;
}

let counter = 0;

export async function createTwoHostLab(options: { server: string[]; client: string[]; serverLoopback?: string[] }): Promise<TwoHostLab> {
  const server = await createNetns();
  const children: ResultPromise[] = [];
  let client: Netns | undefined;
  const link = `hl${process.pid % 10000}x${++counter}`;
  const remove = async (): Promise<void> => {
    for (const child of children) child.kill('SIGKILL');
    await Promise.all(children.map((c) => c.catch(() => undefined)));
    await client?.remove();
    await server.remove();
  };
  try {
    client = await createNetns();
    await execa('ip', ['link', 'add', `${link}s`, 'netns', server.name, 'type', 'veth', 'peer', 'name', `${link}c`, 'netns', client.name]);
    for (const [host, ifname, addresses] of [
      [server, `${link}s`, options.server],
      [client, `${link}c`, options.client],
    ] as const) {
      for (const address of addresses) await host.exec('ip', ['addr', 'add', address, 'dev', ifname, ...(address.includes(':') ? ['nodad'] : [])]);
      await host.exec('ip', ['link', 'set', ifname, 'up']);
    }
    for (const address of options.serverLoopback ?? []) await server.exec('ip', ['addr', 'add', address, 'dev', 'lo']);
  } catch (err) {
    await remove();
    throw err;
  }
  const clientNs = client;
  const spawn = (host: Netns, command: string, args: string[]): ResultPromise => {
    const child = execa('ip', ['netns', 'exec', host.name, command, ...args], { reject: false, stdin: 'ignore' });
    children.push(child);
    return child;
  };
  return {
    server,
    client: clientNs,
    serverIf: `${link}s`,
    clientIf: `${link}c`,
    spawn,
    socksClient: (args) => socksClientIn(clientNs, args),
    whoami: async (host, address, port) => {
      const { child, ready } = whoamiIn(host, address, port);
      children.push(child);
      await ready;
    },
    remove,
  };
}
