import { type ListenOptions, type Server, Socket } from 'node:net';
import type { NativeAddon } from '../native/addon.js';

/**
 * Where the proxy's Node sockets come from: the listener of a BIND, and the
 * dial of a session served on Node sockets (data-path.ts). The addon makes
 * them, so that with `freebind` they bind addresses this node does not have
 * yet (a warm standby's VIP, an external VIP).
 */
export interface SocketFactory {
  /** Make `server` listen on host:port. */
  listen(server: Server, host: string, port: number, options: { ipv6Only: boolean; backlog: number }): Promise<void>;
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

/** The factory for a config's `freebind`. */
export function socketsFor(addon: NativeAddon, freebind: boolean): SocketFactory {
  return {
    listen: async (server, host, port, options) => {
      const fd = addon.tcpListener(host, port, { freebind, ipv6only: options.ipv6Only, backlog: options.backlog });
      try {
        await listenOn(server, { fd }, options.backlog);
      } catch (err) {
        // Still ours to close: Node closes an fd it was given only when its own listen() on it fails, and
        // tcpListener has already called listen(), which a listening socket accepts again. What can fail
        // here is Node taking up the fd at all, and then it never owned it.
        addon.close(fd);
        throw err;
      }
    },
    dial: (address, port, localAddress) => {
      const family = address.includes(':') ? 6 : 4;
      if (localAddress === undefined) {
        return new Socket({ allowHalfOpen: true }).connect({ host: address, port, family, noDelay: true, autoSelectFamily: false });
      }
      const fd = addon.tcpSocket(localAddress, 0, { freebind });
      const socket = new Socket({ fd, allowHalfOpen: true, readable: true, writable: true });
      // connect() must follow in the same tick, to an IP, without family
      // auto-selection; otherwise Node swaps in a fresh, unbound socket.
      return socket.connect({ host: address, port, noDelay: true, autoSelectFamily: false });
    },
  };
}
