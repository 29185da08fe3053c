// What the benchmarks (run.mjs, gssapi.mjs) read of the servers they start:
// their process trees and CPU time from /proc, and when they listen.
import { readFileSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { execFileSync } from 'node:child_process';

const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/**
 * Every process in /proc: pid -> { ppid, state, start (clock ticks after
 * boot), own: utime + stime, reaped: cutime + cstime (its children that
 * have exited and been waited for) }.
 */
export function processTable() {
  const table = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Fields after "comm) ": state ppid ... utime stime cutime cstime (12-15, 1-based from state) ... starttime (20).
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      table.set(Number(entry), { ppid: Number(fields[1]), state: fields[0], start: fields[19], own: Number(fields[11]) + Number(fields[12]), reaped: Number(fields[13]) + Number(fields[14]) });
    } catch {
      // Gone meanwhile.
    }
  }
  return table;
}

/** `pid` and its live descendants. */
export function processTree(pid, table = processTable()) {
  const found = [];
  const pending = [pid];
  while (pending.length) {
    const current = pending.pop();
    if (!table.has(current)) continue;
    found.push(current);
    for (const [child, stat] of table) if (stat.ppid === current) pending.push(child);
  }
  return found;
}

/** CPU seconds (user + system) of `pids`; with `reaped`, also of the children they have waited for (sockd's exited helpers). */
export function cpuSeconds(pids, { reaped = false } = {}) {
  const table = processTable();
  return pids.reduce((sum, pid) => sum + (table.get(pid)?.own ?? 0) + (reaped ? (table.get(pid)?.reaped ?? 0) : 0), 0) / TICKS;
}

/** Whether something accepts a connection on 127.0.0.1:`port` now. */
export const canConnect = (port) =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => (socket.destroy(), resolve(true)));
    socket.on('error', () => resolve(false));
  });

/** Until something accepts on 127.0.0.1:`port`; throws when `child` exits first or 15 s pass. */
export async function waitForPort(port, child, name) {
  const deadline = Date.now() + 15000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited with ${child.exitCode ?? child.signalCode}`);
    if (Date.now() > deadline) throw new Error(`${name} is not listening on 127.0.0.1:${port}`);
    // The port has no event to wait on: the next attempt after a short pause.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
