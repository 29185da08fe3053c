// This node's instance: its state directory, its process (pid plus start
// time, so a reused pid is never taken for ours), and whether its listener
// is bound. Everything here reads local files; nothing touches the VIP.
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ipv4ToBytes, ipv6ToBytes } from '../src/protocol/address.js';
import { instanceName, param } from './ocf.js';
import { privateDirectoryProblem } from '../src/private-files.js';
import { CONTROL_SOCKET, PROBE_SOCKET } from '../src/process/control-protocol.js';
import { DEEP_FAILURE_FILE, SCORE_FILE, STATE_DIR_PARENT, STATE_DIR_PREFIX } from './launcher-contract.js';

export function stateDir(): string {
  return param('state_dir') ?? join(process.env.HA_RSCTMP ?? STATE_DIR_PARENT, `${STATE_DIR_PREFIX}${instanceName()}`);
}

/**
 * The most bytes daemon.log (the daemon's stdout and stderr) holds before
 * the daemon cuts it to its latest lines: the state directory is in /run,
 * memory that IPaddr2 and Pacemaker need too, and with logoutput "stderr"
 * every client that connects writes a line there.
 */
export const DAEMON_LOG_MAX_BYTES = 1 << 20;

export const files = {
  pid: (dir: string) => join(dir, 'hasocks.pid'),
  identity: (dir: string) => join(dir, 'identity'),
  control: (dir: string) => join(dir, CONTROL_SOCKET),
  probe: (dir: string) => join(dir, PROBE_SOCKET),
  log: (dir: string) => join(dir, 'daemon.log'),
  score: (dir: string) => join(dir, SCORE_FILE),
  deepFailure: (dir: string) => join(dir, DEEP_FAILURE_FILE),
};

/**
 * The kernel's start time of a process (clock ticks since boot), or
 * undefined if it is gone. A zombie counts as gone: it holds no socket and
 * runs no code, it only waits for its new parent to reap it.
 */
export function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' || fields[0] === 'X' ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

/** The recorded "pid starttime" of our daemon. */
export function readIdentity(dir: string): { pid: number; start: string } | undefined {
  try {
    const [pid, start] = readFileSync(files.identity(dir), 'utf8').trim().split(' ');
    return pid && start ? { pid: Number(pid), start } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Our daemon's pid, if the process recorded at start is still that same
 * process. Only a directory of root's own can hold our record (start makes
 * it so): one that anyone else could write names nothing we would signal.
 */
export function runningPid(dir: string): number | undefined {
  if (privateDirectoryProblem(dir) !== undefined) return undefined;
  const identity = readIdentity(dir);
  if (!identity) return undefined;
  return startTime(identity.pid) === identity.start ? identity.pid : undefined;
}

/** "10.0.0.1" -> the hex form /proc/net/tcp uses; IPv6 in /proc/net/tcp6 form. */
function procAddress(address: string, port: number): string {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const bytes = address.includes(':') ? ipv6ToBytes(address) : ipv4ToBytes(address);
  // The kernel prints each 32-bit word in host (little-endian) order.
  for (let w = 0; w < bytes.length; w += 4) bytes.subarray(w, w + 4).reverse();
  return `${bytes.toString('hex').toUpperCase()}:${hexPort}`;
}

/** Socket inodes held open by a process. */
function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (target.startsWith('socket:[')) inodes.add(target.slice(8, -1));
      } catch {
        /* fd closed meanwhile */
      }
    }
  } catch {
    /* process gone */
  }
  return inodes;
}

/** Listening sockets on address:port: their inodes (empty when nothing listens). */
export function listeningInodes(address: string, port: number): string[] {
  const table = address.includes(':') ? '/proc/net/tcp6' : '/proc/net/tcp';
  const wanted = procAddress(address, port);
  if (!existsSync(table)) return [];
  return readFileSync(table, 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f[1] === wanted && f[3] === '0A')
    .map((f) => f[9]!);
}

/** Does process `pid` hold a listening socket on address:port? */
export function holdsListener(pid: number, address: string, port: number): boolean {
  const inodes = socketInodes(pid);
  return listeningInodes(address, port).some((inode) => inodes.has(inode));
}
