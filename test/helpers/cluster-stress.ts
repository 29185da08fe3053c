// The cluster lab held under stress while nothing fails, and what Corosync
// and Pacemaker did meanwhile: any membership change, fencing or scheduled
// recovery is a false failover (docs/fast-failover.md). The load, each part
// optional:
// - every node's CPUs saturated (stress-ng, one worker per core);
// - sessions through the VIP, checksummed end to end (integrity-traffic.ts);
// - random loss on the cluster links: each node drops that share of the
//   Corosync (knet) datagrams it receives, in nftables in its own namespace;
// - random delay on the cluster links: each node holds every Corosync
//   datagram it sends for mean +- jitter ms before it leaves (NFQUEUE to
//   link-delay.c in the node's namespace, this kernel having no netem).
import { type ResultPromise, execa } from 'execa';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { Cluster } from './cluster.js';
import { integrityTrafficIn, waitForIdle } from './cluster-client.js';
import { VIP } from './failover-lab.js';
import { type Outcome, outcomeOf, tally } from './integrity-traffic.js';
import { corosyncLog, schedulerActions } from './pacemaker-log.js';
import { REPO } from './proxy.js';

export interface StressLoad {
  /** Saturate every core in every node. */
  readonly cpu: boolean;
  /** Sessions through the VIP, this many at a time (0: none). */
  readonly sessions: number;
  /** Of every 1000 Corosync datagrams a node receives, how many it drops. */
  readonly lossPerMille: number;
  /** Delay on every Corosync datagram a node sends, uniform in mean +- jitter ms (absent: none). */
  readonly delay?: { readonly meanMs: number; readonly jitterMs: number };
}

/** What link-delay.c gave on one node: the delays it really applied, which a busy machine makes longer than asked. */
export interface DelayGiven {
  readonly packets: number;
  readonly overflow: number;
  readonly meanDelayMs: number;
  readonly p99DelayMs: number;
  readonly maxDelayMs: number;
}

export interface StressReport {
  readonly seconds: number;
  /** What each node's Corosync logged during the run: new memberships (0 when nothing failed over), and the signs of why. */
  readonly corosync: Record<string, CorosyncSigns>;
  /** Nodes fenced during the run. */
  readonly fenced: string[];
  /** The scheduler's planned actions on any node (promote, recover, fence, ...). */
  readonly actions: string[];
  /** The sessions' outcomes, when there were sessions. */
  readonly sessions: Record<Outcome, number> | undefined;
  /** Per node, the delay link-delay.c gave, when the load asked for one. */
  readonly delay: Record<string, DelayGiven> | undefined;
}

/** Corosync's port for knet, which the lab's corosync.conf keeps at its default. */
const KNET_PORT = 5405;

/** What Corosync logged that tells a false failover's cause: each a count of lines in a node's corosync.log. */
const COROSYNC_SIGNS = {
  memberships: 'A new membership',
  tokenLosses: 'A processor failed, forming new configuration',
  knetLinkDowns: 'is down',
  pauses: 'was not scheduled for',
} as const;
type CorosyncSigns = Record<keyof typeof COROSYNC_SIGNS, number>;

function corosyncSigns(cluster: Cluster, node: string): CorosyncSigns {
  const log = readFileSync(corosyncLog(cluster, node), 'utf8');
  return Object.fromEntries(Object.entries(COROSYNC_SIGNS).map(([key, text]) => [key, log.split(text).length - 1])) as CorosyncSigns;
}

/** The NFQUEUE the lab's delay uses in every node's namespace. */
const DELAY_QUEUE = '0';
const delayRule = (action: '-A' | '-D'): string[] => ['-t', 'mangle', action, 'OUTPUT', '-p', 'udp', '--dport', String(KNET_PORT), '-j', 'NFQUEUE', '--queue-num', DELAY_QUEUE];

interface Delayer {
  readonly node: Cluster['nodes'][number];
  readonly process: ResultPromise<{ reject: false }>;
  queued: boolean;
}

/** Start link-delay.c in every node's network namespace, then queue the node's outgoing Corosync datagrams to it. */
async function startDelay(cluster: Cluster, delay: NonNullable<StressLoad['delay']>, delayers: Delayer[]): Promise<void> {
  const binary = join(cluster.dir, 'link-delay');
  await execa('cc', ['-O2', '-o', binary, join(REPO, 'test', 'helpers', 'link-delay.c'), '-lnetfilter_queue', '-lnfnetlink']);
  for (const node of cluster.nodes) {
    // Real-time, below Corosync's own priority: the delay it gives is the one asked for, however busy the CPUs are.
    const child = execa('ip', ['netns', 'exec', node.netns, 'chrt', '--fifo', '50', binary, DELAY_QUEUE, String(delay.meanMs), String(delay.jitterMs)], { reject: false });
    const delayer: Delayer = { node, process: child, queued: false };
    delayers.push(delayer);
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      void child.then((r) => reject(new Error(`link-delay on ${node.name} exited: ${r.stderr}`)));
    });
    await execa('ip', ['netns', 'exec', node.netns, 'iptables', ...delayRule('-A')]);
    delayer.queued = true;
  }
}

/** Take the queue rules away first (a datagram queued to no one is dropped), then stop each link-delay and read what it gave. */
async function stopDelay(delayers: Delayer[]): Promise<Record<string, DelayGiven>> {
  for (const d of delayers) if (d.queued) await execa('ip', ['netns', 'exec', d.node.netns, 'iptables', ...delayRule('-D')], { reject: false });
  const given: Record<string, DelayGiven> = {};
  for (const d of delayers) {
    d.process.kill('SIGTERM');
    const result = await d.process;
    const last = result.stdout.trim().split('\n').pop() ?? '';
    if (/"packets"/.test(last)) given[d.node.name] = JSON.parse(last) as DelayGiven;
  }
  return given;
}

/** What in a report is a false failover: a new membership on any node, a fencing, a planned action; none in a run that passes. */
export function falseFailoverSigns(report: StressReport): string[] {
  return [
    ...Object.entries(report.corosync).filter(([, signs]) => signs.memberships > 0).map(([node, signs]) => `${node}: ${signs.memberships} new membership(s)`),
    ...report.fenced.map((node) => `${node} fenced`),
    ...report.actions,
  ];
}

/** Sessions that did not come through whole (a run that passes has none). */
export const brokenSessions = (report: StressReport): number =>
  report.sessions ? report.sessions.cut + report.sessions.corrupted + report.sessions.stalled + report.sessions['truncated-but-whole'] : 0;

/** Hold the cluster under `load` for `seconds` (the run's length is the measurement), then report. Everything it adds is removed, even on failure. */
export async function stressCluster(cluster: Cluster, seconds: number, load: StressLoad): Promise<StressReport> {
  // From a quiet cluster: a transition still running from the set-up would count as the run's.
  await waitForIdle(cluster);
  const startedAt = Date.now();
  const before = Object.fromEntries(cluster.nodes.map((n) => [n.name, corosyncSigns(cluster, n.name)]));
  const fencedBefore = cluster.fenced.length;
  const lossy: typeof cluster.nodes = [];
  const delayers: Delayer[] = [];
  let delay: Record<string, DelayGiven> | undefined;
  const stressors: Array<Promise<unknown>> = [];
  let traffic: Awaited<ReturnType<typeof integrityTrafficIn>> | undefined;
  let outcomes: Record<Outcome, number> | undefined;
  try {
    if (load.lossPerMille > 0) {
      for (const node of cluster.nodes) {
        lossy.push(node);
        await node.exec('nft', ['add', 'table', 'inet', 'stress-loss']);
        await node.exec('nft', ['add', 'chain', 'inet', 'stress-loss', 'input', '{ type filter hook input priority 0; policy accept; }']);
        await node.exec('nft', ['add', 'rule', 'inet', 'stress-loss', 'input', 'udp', 'dport', String(KNET_PORT), 'numgen', 'random', 'mod', '1000', 'lt', String(load.lossPerMille), 'drop']);
      }
    }
    if (load.delay) await startDelay(cluster, load.delay, delayers);
    if (load.cpu) {
      for (const node of cluster.nodes) stressors.push(node.exec('stress-ng', ['--cpu', String(cpus().length), '--timeout', `${seconds}s`, '--quiet'], { timeout: (seconds + 60) * 1000, reject: false }));
    }
    if (load.sessions > 0) {
      // The kernel picks the source ports: a run of minutes makes more sessions than there are fixed ones.
      traffic = await integrityTrafficIn(cluster, { host: VIP, port: 1080 }, 7100, 1 << 20, 10000, false);
      traffic.setLanes(load.sessions);
    }
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    if (traffic) {
      const targets = await traffic.stop();
      outcomes = tally([...traffic.sessions.values()].map((s) => outcomeOf(s, targets.get(s.id))));
      traffic = undefined;
    }
    await Promise.all(stressors);
  } finally {
    const given = await stopDelay(delayers);
    if (load.delay) delay = given;
    await traffic?.stop().catch(() => undefined);
    for (const node of lossy) await node.exec('nft', ['delete', 'table', 'inet', 'stress-loss'], { reject: false });
  }
  return {
    seconds,
    corosync: Object.fromEntries(
      cluster.nodes.map((n) => {
        const after = corosyncSigns(cluster, n.name);
        return [n.name, Object.fromEntries(Object.entries(after).map(([key, count]) => [key, count - before[n.name]![key as keyof CorosyncSigns]])) as CorosyncSigns];
      }),
    ),
    fenced: cluster.fenced.slice(fencedBefore),
    actions: cluster.nodes.flatMap((n) => schedulerActions(cluster, n.name, startedAt).map((a) => `${n.name}: ${a}`)),
    sessions: outcomes,
    delay,
  };
}
