// Processes a test started, as /proc shows them.
import { readFileSync, readdirSync, statSync } from 'node:fs';

/** The state letter of /proc/PID/stat and the fields after it, or undefined for a process that is gone. */
function statFields(pid: number | string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Every process this machine has now. */
const allPids = (): number[] => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);

/** The processes whose parent is `pid`. */
export function childrenOf(pid: number): number[] {
  return allPids().filter((child) => Number(statFields(child)?.[1]) === pid);
}

/** Whether a process is alive: a zombie, dead but not yet reaped by whoever inherited it, is not. */
export function isAlive(pid: number): boolean {
  const state = statFields(pid)?.[0];
  return state !== undefined && state !== 'Z';
}

/** Every process whose command line names `configPath`: an instance's supervisor and workers, wherever they were re-parented. */
export function processesWith(configPath: string): number[] {
  return allPids().filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(configPath);
    } catch {
      return false;
    }
  });
}

/**
 * The pid, as this machine sees it, of the process that is `pidInNamespace`
 * in the PID namespace of `namespaceMember` (e.g. a lab node's PID 1).
 * Signalling it from here skips a process started inside the namespace to
 * do it, for faults that must land at a precise moment.
 */
export function hostPid(namespaceMember: number, pidInNamespace: number): number | undefined {
  let namespace: number;
  try {
    namespace = statSync(`/proc/${namespaceMember}/ns/pid`).ino;
  } catch {
    return undefined;
  }
  for (const pid of allPids()) {
    try {
      if (statSync(`/proc/${pid}/ns/pid`).ino !== namespace) continue;
      // NSpid: the pid in each nested namespace, outermost first.
      const nested = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]?.trim().split(/\s+/);
      if (Number(nested?.at(-1)) === pidInNamespace) return pid;
    } catch {
      /* gone meanwhile */
    }
  }
  return undefined;
}
