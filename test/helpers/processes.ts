// Processes a test started, as /proc shows them.
import { readFileSync, readdirSync } from 'node:fs';

/** The state letter of /proc/PID/stat and the fields after it, or undefined for a process that is gone. */
function statFields(pid: number | string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The processes whose parent is `pid`. */
export function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d) && Number(statFields(d)?.[1]) === pid)
    .map(Number);
}

/** Whether a process is alive: a zombie, dead but not yet reaped by whoever inherited it, is not. */
export function isAlive(pid: number): boolean {
  const state = statFields(pid)?.[0];
  return state !== undefined && state !== 'Z';
}

/** Every process whose command line names `configPath`: an instance's supervisor and workers, wherever they were re-parented. */
export function processesWith(configPath: string): number[] {
  return readdirSync('/proc')
    .filter((d) => {
      try {
        return /^\d+$/.test(d) && readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').includes(configPath);
      } catch {
        return false;
      }
    })
    .map(Number);
}
