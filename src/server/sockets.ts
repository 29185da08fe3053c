import { type SocketOptions, type Socket as UdpSocket, createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { type ListenOptions, type Server, Socket, isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { type NativeAddon, loadAddon } from '../native/addon.js';
import { isUnspecified } from '../protocol/address.js';

/**
 * Where every socket of the proxy comes from. With `freebind` the native
 * addon makes them (binding addresses that are not on this node yet: a warm
 * standby's VIP, an external VIP); otherwise plain Node sockets do, which is
 * also right when the kernel allows non-local binds system-wide
 * (net.ipv4.ip_nonlocal_bind=1).
 */
export interface SocketFactory {
  readonly kind: 'native' | 'node';
  /** Make `server` listen on host:port. */
  listen(server: Server, host: string, port: number, options: { ipv6Only: boolean; backlog: number; reusePort?: boolean }): Promise<void>;
  /** A UDP socket bound to host:port (port 0: any). */
  bindUdp(host: string, port: number): Promise<UdpSocket>;
  /**
   * Start a TCP connection to an IP, from `localAddress` if given. Returns at
   * once; errors and 'connect' arrive as events.
   */
  dial(address: string, port: number, localAddress: string | undefined): Socket;
}

/** server.listen(handle) as a promise that rejects with the listen error. */
export async function listenOn(server: Server, handle: ListenOptions | { fd: number }, backlog: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // listen({fd, backlog}) ignores the backlog; pass it as an argument of its own.
    server.listen(handle, backlog, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function bindDgram(socket: UdpSocket, options: { fd: number; exclusive: true } | { address: string; port: number; exclusive: true }): Promise<UdpSocket> {
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(options, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return socket;
  } catch (err) {
    socket.close();
    throw err;
  }
}

/**
 * The relay sends only to IP literals (names are resolved first, once). Node
 * would still pass each one through dns.lookup, which answers a tick later;
 * answering at once takes that tick and a regex off every datagram.
 */
function literalLookup(address: string, _options: unknown, callback: (err: Error | null, address: string, family: number) => void): void {
  callback(null, address, address.includes(':') ? 6 : 4);
}

const udpOptions = (host: string): SocketOptions => ({ type: isIPv6(host) ? 'udp6' : 'udp4', lookup: literalLookup as SocketOptions['lookup'] });

const nodeSockets: SocketFactory = {
  kind: 'node',
  listen: (server, host, port, options) => listenOn(server, { host, port, ipv6Only: options.ipv6Only, backlog: options.backlog }, options.backlog),
  bindUdp: (host, port) => bindDgram(createSocket({ ...udpOptions(host), ipv6Only: isIPv6(host) }), { address: host, port, exclusive: true }),
  dial: (address, port, localAddress) => {
    const socket = new Socket({ allowHalfOpen: true });
    return socket.connect({ host: address, port, localAddress, family: address.includes(':') ? 6 : 4, noDelay: true, autoSelectFamily: false });
  },
};

function nativeSockets(addon: NativeAddon): SocketFactory {
  return {
    kind: 'native',
    listen: async (server, host, port, options) => {
      const fd = addon.tcpListener(host, port, { freebind: true, ipv6only: options.ipv6Only, backlog: options.backlog, reuseport: options.reusePort ?? false });
      try {
        await listenOn(server, { fd }, options.backlog);
      } catch (err) {
        addon.close(fd);
        throw err;
      }
    },
    bindUdp: async (host, port) => {
      const fd = addon.udpSocket(host, port, { freebind: true });
      return bindDgram(createSocket(udpOptions(host)), { fd, exclusive: true });
    },
    dial: (address, port, localAddress) => {
      if (localAddress === undefined) return nodeSockets.dial(address, port, undefined);
      const fd = addon.tcpSocket(localAddress, 0, { freebind: true });
      const socket = new Socket({ fd, allowHalfOpen: true, readable: true, writable: true });
      // connect() must follow in the same tick, to an IP, without family
      // auto-selection; otherwise Node swaps in a fresh, unbound socket.
      return socket.connect({ host: address, port, noDelay: true, autoSelectFamily: false });
    },
  };
}

function sysctlIs(name: string): boolean {
  try {
    return readFileSync(`/proc/sys/${name.replace(/\./g, '/')}`, 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

/**
 * The factory for a config: plain Node unless `freebind` is on. With
 * freebind and no addon, the kernel's system-wide non-local bind will do;
 * without either, starting fails with a message naming both fixes.
 */
export function socketsFor(config: { freebind: boolean; addresses: readonly string[] }): SocketFactory {
  if (!config.freebind) return nodeSockets;
  const { addon, error } = loadAddon();
  if (addon) return nativeSockets(addon);
  const needV6 = config.addresses.some((a) => isIPv6(a));
  const v4ok = sysctlIs('net.ipv4.ip_nonlocal_bind');
  const v6ok = !needV6 || sysctlIs('net.ipv6.ip_nonlocal_bind');
  if (v4ok && v6ok) return nodeSockets;
  throw new Error(
    `"freebind": true needs the native addon or the kernel's non-local bind, and neither is available. ` +
      `Either build the addon ("npm run build:native"; ${error?.message}), ` +
      `or allow non-local binds system-wide: sysctl -w net.ipv4.ip_nonlocal_bind=1${needV6 ? ' net.ipv6.ip_nonlocal_bind=1' : ''}`,
  );
}

/** Is `address` on one of this host's (this namespace's) interfaces right now? */
export function isLocalAddress(address: string): boolean {
  if (isUnspecified(address)) return true;
  return Object.values(networkInterfaces()).some((list) => list?.some((i) => i.address === address));
}
