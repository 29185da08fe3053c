// Reading a lab node's pacemaker.log, to tell which of Pacemaker's own paths
// a failover took. The drill measures what a client saw; this explains it.
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, watch } from 'node:fs';
import { join } from 'node:path';
import type { Cluster } from './cluster.js';

/** A lab node's pacemaker.log and corosync.log, as the test process sees them (the node's /var/log is a directory of the lab's). */
const pacemakerLog = (cluster: Cluster, node: string): string => join(cluster.dir, node, 'fs/var/log/pacemaker/pacemaker.log');
export const corosyncLog = (cluster: Cluster, node: string): string => join(cluster.dir, node, 'fs/var/log/corosync/corosync.log');

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The "Nov 26 23:36:44.143" both Pacemaker and Corosync start their lines with. */
const TIMESTAMP = /^(\w{3}) +(\d+) (\d\d):(\d\d):(\d\d)\.(\d{3}) /;

/** A TIMESTAMP match as epoch ms: the daemons write local time, and inherit this process's time zone. */
const localTime = (m: RegExpExecArray, year: number): number =>
  new Date(year, MONTHS.indexOf(m[1]!), Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])).getTime();

const PACEMAKER_LINE = new RegExp(`${TIMESTAMP.source}\\S+ (pacemaker-\\w+)`);

/** "Nov 26 23:36:44.143 node1 pacemaker-controld  [50] (fn) ..." -> epoch ms and daemon. */
function parseLine(line: string, year: number): { at: number; daemon: string; text: string } | undefined {
  const m = PACEMAKER_LINE.exec(line);
  return m ? { at: localTime(m, year), daemon: m[7]!, text: line } : undefined;
}

/**
 * Whether the controller on `node` slept its one second before the first
 * scheduler run after `sinceMs`. Pacemaker's controller asks the CIB for the
 * transition's input and, if any of its own CIB updates are still pending
 * when the answer comes, sleeps one second and asks again
 * (do_pe_invoke_callback: "Re-asking for the CIB"). After a node loss it has
 * just sent such updates (the lost node's attributes, the join's node and
 * quorum state), and the local query answer overtakes their round through
 * Corosync about half the time. That line is a debug one; at the default log
 * level the sleep shows as a silent second between the controller entering
 * S_POLICY_ENGINE and the scheduler's first line.
 */
export function controllerReasked(cluster: Cluster, node: string, sinceMs: number): boolean {
  const file = pacemakerLog(cluster, node);
  if (!existsSync(file)) throw new Error(`no Pacemaker log for ${node} at ${file}`);
  const reasked = reaskedInLog(readFileSync(file, 'utf8'), sinceMs);
  if (reasked === undefined) throw new Error(`${node}'s Pacemaker log shows no scheduler run after ${new Date(sinceMs).toISOString()}`);
  return reasked;
}

/** controllerReasked on a log's text; undefined when no scheduler run follows `sinceMs`. */
export function reaskedInLog(log: string, sinceMs: number): boolean | undefined {
  const year = new Date(sinceMs).getFullYear();
  let enteredPolicyEngine: number | undefined;
  for (const raw of log.split('\n')) {
    const line = parseLine(raw, year);
    if (!line || line.at < sinceMs) continue;
    if (line.daemon === 'pacemaker-controld' && / -> S_POLICY_ENGINE /.test(line.text)) enteredPolicyEngine = line.at;
    else if (line.daemon === 'pacemaker-schedulerd' && enteredPolicyEngine !== undefined) return line.at - enteredPolicyEngine >= 900;
  }
  return undefined;
}

/**
 * Call `action` as soon as a line matching `pattern` is appended to a
 * node's pacemaker.log (lines already there do not count), once. For faults
 * timed to a step of Pacemaker's own, such as the start of a promote.
 */
export function onLogLine(cluster: Cluster, node: string, pattern: RegExp, action: (line: string) => void): { stop(): void } {
  const file = pacemakerLog(cluster, node);
  const fd = openSync(file, 'r');
  let offset = fstatSync(fd).size;
  let partial = '';
  let done = false;
  const watcher = watch(file, () => {
    if (done) return;
    const size = fstatSync(fd).size;
    if (size <= offset) return;
    const chunk = Buffer.alloc(size - offset);
    const read = readSync(fd, chunk, 0, chunk.length, offset);
    offset += read;
    const lines = (partial + chunk.subarray(0, read).toString()).split('\n');
    partial = lines.pop()!;
    const line = lines.find((l) => pattern.test(l));
    if (line === undefined) return;
    done = true;
    action(line);
  });
  return {
    stop: () => {
      watcher.close();
      closeSync(fd);
    },
  };
}

/**
 * The scheduler's planned actions on `node` since `sinceMs` ("Actions: Promote
 * socks:1 ( Unpromoted -> Promoted node2 )", one line each). In a cluster
 * where nothing fails there are none: recurring monitors are not listed.
 */
export function schedulerActions(cluster: Cluster, node: string, sinceMs: number): string[] {
  const file = pacemakerLog(cluster, node);
  if (!existsSync(file)) return [];
  const year = new Date(sinceMs).getFullYear();
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((raw) => parseLine(raw, year))
    .filter((line): line is NonNullable<typeof line> => line !== undefined && line.at >= sinceMs && line.daemon === 'pacemaker-schedulerd' && /notice: Actions: /.test(line.text))
    .map((line) => line.text.replace(/^.*notice: Actions: +/, ''));
}

/** One step of a failover as a node's logs tell it. */
export interface Step {
  readonly at: number;
  /** "corosync", "pacemaker-controld", ... or "proxy" (the lab's proxy.log, which every node writes). */
  readonly source: string;
  readonly text: string;
}

/** The lines that mark a failover's steps; everything else in the logs is left out. */
const STEP_PATTERNS: Record<string, RegExp> = {
  corosync: /Token has not been received|A processor failed|A new membership|Completed service synchronization/,
  'pacemaker-controld': /Initiating \w+ operation|confirmed: | -> S_(POLICY_ENGINE|TRANSITION_ENGINE|IDLE) |Requesting fencing|Peer \S+ was terminated/,
  'pacemaker-schedulerd': /notice: Actions: /,
  'pacemaker-fenced': /Operation '\w+' .* (OK|Done)/,
  proxy: /promoted|demoted|left this node/,
};

/** "Dec 02 17:24:46.618 [23] node1 corosync notice  [MAIN  ] ..." -> epoch ms. */
function parseCorosyncLine(line: string, year: number): number | undefined {
  const m = TIMESTAMP.exec(line);
  return m ? localTime(m, year) : undefined;
}

/**
 * A failover's steps between `fromMs` and `toMs`, from `node`'s Corosync
 * and Pacemaker logs and the lab's proxy.log, in time order: the material
 * of a timeline such as docs/cluster.md's "Where a crash's time goes".
 */
export function failoverSteps(cluster: Cluster, node: string, fromMs: number, toMs: number): Step[] {
  const year = new Date(fromMs).getFullYear();
  const read = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n') : []);
  const steps: Step[] = [];
  for (const raw of read(pacemakerLog(cluster, node))) {
    const line = parseLine(raw, year);
    if (line && STEP_PATTERNS[line.daemon]?.test(line.text)) steps.push({ at: line.at, source: line.daemon, text: line.text.replace(/^.*?\) \t?\w+: /, '') });
  }
  for (const raw of read(corosyncLog(cluster, node))) {
    const at = parseCorosyncLine(raw, year);
    if (at !== undefined && STEP_PATTERNS.corosync!.test(raw)) steps.push({ at, source: 'corosync', text: raw.replace(/^.*?\] /, '') });
  }
  for (const raw of read(join(cluster.dir, 'proxy.log'))) {
    const at = Date.parse(raw.slice(0, 24));
    if (!Number.isNaN(at) && STEP_PATTERNS.proxy!.test(raw)) steps.push({ at, source: 'proxy', text: raw.slice(25) });
  }
  return steps.filter((s) => s.at >= fromMs && s.at <= toMs).sort((a, b) => a.at - b.at);
}

/** failoverSteps as text, each line's time in ms after `zeroMs`. */
export function formatSteps(steps: readonly Step[], zeroMs: number): string {
  return steps.map((s) => `${String(s.at - zeroMs).padStart(6)} ms  ${s.source.replace(/^pacemaker-/, '')}: ${s.text}`).join('\n');
}
