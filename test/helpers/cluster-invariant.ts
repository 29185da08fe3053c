// The safety a failover must keep whatever fails: at most one node holds a
// VIP and at most one instance is promoted. Sampled from the test process
// itself, without starting a process per sample, so that the checker does
// not slow the failover it watches on a 2-core machine.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { control } from '../../ocf/control-client.js';
import type { Cluster, ClusterNode } from './cluster.js';

export interface InvariantSample {
  readonly at: number;
  /** For each watched address (the VIPs), the nodes that have it among their local addresses. */
  readonly holders: Record<string, string[]>;
  /** Nodes whose daemon says it is promoted. */
  readonly promoted: string[];
  /** Nodes whose daemon's control socket did not answer in time (a stalled daemon, not a dead one). */
  readonly unanswered: string[];
}

export interface InvariantReport {
  readonly samples: number;
  /** The longest time between the starts of two samples in a row. */
  readonly longestGapMs: number;
  readonly violations: InvariantSample[];
  readonly unanswered: number;
  readonly first: InvariantSample;
  readonly last: InvariantSample;
}

/** Whether a process still runs in the node's network namespace (a pid of a dead node may have been reused). */
function inNodeNetns(pid: number, node: ClusterNode): boolean {
  try {
    const theirs = statSync(`/proc/${pid}/ns/net`);
    const nodes = statSync(`/run/netns/${node.netns}`);
    return theirs.ino === nodes.ino && theirs.dev === nodes.dev;
  } catch {
    return false;
  }
}

/**
 * The node's local IPv4 addresses, from its network namespace's routing
 * trie (/proc/PID/net shows the namespace of PID). A node whose PID 1 is
 * gone is powered off and holds nothing, whatever its namespace still has.
 */
export function localAddresses(node: ClusterNode): Set<string> {
  const addresses = new Set<string>();
  if (!inNodeNetns(node.initPid, node)) return addresses;
  let trie: string;
  try {
    trie = readFileSync(`/proc/${node.initPid}/net/fib_trie`, 'utf8');
  } catch {
    return addresses;
  }
  // "|-- 10.205.0.100" followed by "/32 host LOCAL": an address of this host.
  let leaf: string | undefined;
  for (const line of trie.split('\n')) {
    const address = /\|-- (\d+\.\d+\.\d+\.\d+)/.exec(line)?.[1];
    if (address) leaf = address;
    else if (leaf && /\/32 host LOCAL/.test(line)) addresses.add(leaf);
  }
  return addresses;
}

type Role = 'promoted' | 'other' | 'unanswered';

/** The role of every hasocks instance on the node, asked over their control sockets (the node's /run is a directory of the lab's). */
async function roles(cluster: Cluster, node: ClusterNode, timeoutMs: number): Promise<Role[]> {
  const agents = join(cluster.dir, node.name, 'fs', 'run', 'resource-agents');
  let dirs: string[];
  try {
    dirs = readdirSync(agents).filter((d) => d.startsWith('hasocks-'));
  } catch {
    return [];
  }
  return Promise.all(
    dirs.map(async (dir): Promise<Role> => {
      try {
        const reply = await control(join(agents, dir, 'control.sock'), { cmd: 'status' }, timeoutMs);
        return reply.ok && reply.status?.role === 'promoted' ? 'promoted' : 'other';
      } catch (err) {
        // Refused or missing: no daemon listens there, so nothing is promoted there.
        return /no answer/.test((err as Error).message) ? 'unanswered' : 'other';
      }
    }),
  );
}

async function sample(cluster: Cluster, vips: readonly string[], timeoutMs: number): Promise<InvariantSample> {
  const at = Date.now();
  const perNode = await Promise.all(
    cluster.nodes.map(async (node) => ({ node: node.name, addresses: localAddresses(node), roles: await roles(cluster, node, timeoutMs) })),
  );
  return {
    at,
    holders: Object.fromEntries(vips.map((vip) => [vip, perNode.filter((n) => n.addresses.has(vip)).map((n) => n.node)])),
    promoted: perNode.flatMap((n) => n.roles.filter((r) => r === 'promoted').map(() => n.node)),
    unanswered: perNode.filter((n) => n.roles.includes('unanswered')).map((n) => n.node),
  };
}

/**
 * Start sampling every `intervalMs` until stop(). A sample that finds two
 * holders of any of `vips`, or two promoted instances, is a violation.
 * Samples do not overlap: a slow one delays the next, and the report says by
 * how much.
 */
export function watchInvariant(cluster: Cluster, vips: readonly string[], intervalMs = 50): { stop(): Promise<InvariantReport> } {
  const samples: InvariantSample[] = [];
  let stopping = false;
  const loop = (async () => {
    while (!stopping) {
      const started = Date.now();
      samples.push(await sample(cluster, vips, intervalMs * 4));
      await new Promise((r) => setTimeout(r, Math.max(0, started + intervalMs - Date.now())));
    }
  })();
  return {
    stop: async () => {
      stopping = true;
      await loop;
      if (samples.length === 0) throw new Error('the invariant checker took no sample');
      const gaps = samples.slice(1).map((s, i) => s.at - samples[i]!.at);
      return {
        samples: samples.length,
        longestGapMs: Math.max(0, ...gaps),
        violations: samples.filter((s) => Object.values(s.holders).some((nodes) => nodes.length > 1) || s.promoted.length > 1),
        unanswered: samples.filter((s) => s.unanswered.length > 0).length,
        first: samples[0]!,
        last: samples.at(-1)!,
      };
    },
  };
}
