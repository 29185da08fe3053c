// This process's file descriptors: how many are open, how many it may
// have, and whether session.max fits in that. A client session holds at
// most 6: a CONNECT whose two peers both stop reading keeps its two sockets
// and a pipe (two descriptors) per direction in the C relay; a UDP
// association holds 4. If session.max times that does not fit, clients can
// run the process out of descriptors before they reach session.max, and
// then the agent's own probe and control connections fail too.
import { readFileSync, readdirSync } from 'node:fs';

const DESCRIPTORS_PER_SESSION = 6;
/**
 * Descriptors no client may take: the top of the range is kept for the
 * agent's control and probe connections, log files, and what sessions
 * already accepted still open (a dial, a pipe). A client whose descriptor
 * would fall in it is closed at once, as if the process were out of them
 * (native/src/tcp_conn.c, for clients and the C relay's pipes).
 */
const DESCRIPTORS_RESERVED = 64;

/** How many descriptors at the top of the range are reserved (fewer under a tiny limit, so clients still get some). */
export function reservedDescriptors(): number {
  const limit = fileLimit();
  return limit > 0 ? Math.min(DESCRIPTORS_RESERVED, Math.floor(limit / 4)) : DESCRIPTORS_RESERVED;
}

/** Open descriptors; when even this cannot open one, the process is at its limit. */
export function openFiles(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return fileLimit();
  }
}

let knownLimit: number | undefined;

/**
 * The soft RLIMIT_NOFILE (Node raises it to the hard limit at start), or 0
 * if unknown. Read once, at start: reading it takes a descriptor, and it is
 * wanted most when none is left.
 */
export function fileLimit(): number {
  if (knownLimit !== undefined) return knownLimit;
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    knownLimit = Number(line?.split(/\s{2,}/)[1]) || 0;
  } catch {
    return 0;
  }
  return knownLimit;
}

/** A warning when `sessionMax` sessions could need more descriptors than the limit allows, else undefined. */
export function descriptorWarning(sessionMax: number): string | undefined {
  const limit = fileLimit();
  const needed = sessionMax * DESCRIPTORS_PER_SESSION + DESCRIPTORS_RESERVED;
  if (limit === 0 || needed <= limit) return undefined;
  return (
    `session.max ${sessionMax} may need ${needed} file descriptors but the limit is ${limit}: clients could exhaust them first, ` +
    `and then the agent's monitor fails too; raise the limit (LimitNOFILE=, ulimit -n) or lower session.max to ${Math.max(1, Math.floor((limit - DESCRIPTORS_RESERVED) / DESCRIPTORS_PER_SESSION))}`
  );
}
