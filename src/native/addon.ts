import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';

/** Socket options the addon applies before bind(). */
export interface NativeSocketOptions {
  /** Bind even if the address is not on this host yet (IP_FREEBIND, IP_BINDANY, SO_BINDANY). */
  freebind?: boolean;
  /** SO_REUSEPORT: several sockets, one per worker, on one address. */
  reuseport?: boolean;
  /** SO_REUSEADDR; default on for listeners. */
  reuseaddr?: boolean;
  /** IPV6_V6ONLY for IPv6 sockets; default on. */
  ipv6only?: boolean;
  /** listen() backlog for TCP listeners. */
  backlog?: number;
}

/** The C functions (native/src/hasocks_native.c). Each returns a non-blocking, close-on-exec fd. */
export interface NativeAddon {
  tcpListener(host: string, port: number, options?: NativeSocketOptions): number;
  udpSocket(host: string, port: number, options?: NativeSocketOptions): number;
  /** A TCP socket bound to host:port (port 0: any) and not yet connected. */
  tcpSocket(host: string, port: number, options?: NativeSocketOptions): number;
  /** "address|port" of a socket. */
  localAddress(fd: number): string;
  close(fd: number): void;
  /** A second, close-on-exec descriptor for the same socket. */
  dup(fd: number): number;
  /** Non-blocking send of buffer[0, length): bytes sent now (0: send buffer full), or -errno. */
  trySend(fd: number, buffer: Buffer, length: number): number;
}

/** Where the build puts the addon; HASOCKS_NATIVE_ADDON overrides it (a prebuilt copy, or a test of the no-addon path). */
export const ADDON_PATH = process.env.HASOCKS_NATIVE_ADDON ?? join(PACKAGE_ROOT, 'native', 'build', 'Release', 'hasocks_native.node');

let cached: { addon?: NativeAddon; error?: Error } | undefined;

/** The addon, or the reason it cannot be loaded. Loaded once, on first use. */
export function loadAddon(): { addon?: NativeAddon; error?: Error } {
  if (!cached) {
    try {
      cached = { addon: createRequire(import.meta.url)(ADDON_PATH) as NativeAddon };
    } catch (err) {
      cached = { error: new Error(`cannot load the native addon ${ADDON_PATH}: ${(err as Error).message.split('\n')[0]}`) };
    }
  }
  return cached;
}
