import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Cluster, createCluster, totemSection } from './cluster.js';
import { crmMon, startTargets, waitFor, waitForIdle } from './cluster-client.js';
import { OPEN_RULES, REPO } from './proxy.js';

/**
 * The failover lab: a cluster (cluster.ts) with the lab's fence device, the
 * traffic targets in the client namespace, one hasocks config every node
 * shares, and a layout configured by the scripts in examples/
 * with plain pcs commands. Used by test/failover.test.ts and `npm run lab`.
 */
export const VIP = '10.205.0.100';
export const EXTERNAL_VIP = '10.205.0.101';
export const SUBNET = '10.205.0';

/**
 * warm: promotable clone with a warm standby and IPaddr2 VIPs (pcs-promotable.sh);
 * agent-vip: the same, with the VIPs held by the agent itself (pcs-promotable.sh, AGENT_VIP=yes);
 * cold: IPaddr2 and hasocks in a group (pcs-group.sh); bare: no resources.
 */
export type Layout = 'warm' | 'agent-vip' | 'cold' | 'bare';

/** Layouts with a warm standby on every node but the active one. */
export const hasStandbys = (layout: Layout): boolean => layout === 'warm' || layout === 'agent-vip';

export interface Lab {
  readonly cluster: Cluster;
  /** The hasocks config the nodes share. */
  readonly config: string;
  stop(): Promise<void>;
}

/**
 * Corosync's timers: the lab's own (token 1000 ms), the fast-failover
 * profile of examples/corosync-fast-2-nodes.conf or -3-nodes.conf, or that
 * profile with another token and consensus (to find its margin).
 */
export type Timers = 'lab' | 'fast' | { readonly token: number; readonly consensus: number };

/**
 * Build a lab of `size` nodes with `layout`, fencing on (one device per node,
 * as production clusters run) unless `stonith` is false; on any failure
 * everything it made is removed.
 */
export async function buildLab(size: number, layout: Layout, timers: Timers = 'lab', stonith = true): Promise<Lab> {
  let totem = timers === 'lab' ? '' : totemSection(readFileSync(join(REPO, 'examples', `corosync-fast-${size === 2 ? 2 : 3}-nodes.conf`), 'utf8'));
  if (typeof timers === 'object') totem = totem.replace(/^(\s*token:).*$/m, `$1 ${timers.token}`).replace(/^(\s*consensus:).*$/m, `$1 ${timers.consensus}`);
  const cluster = await createCluster(size, { subnet: SUBNET, stonith, totem });
  let targets: Awaited<ReturnType<typeof startTargets>> | undefined;
  try {
    targets = await startTargets(cluster);
    const config = join(cluster.dir, 'hasocks.json');
    writeFileSync(config, JSON.stringify({ internal: [`${VIP}:1080`], external: [EXTERNAL_VIP], freebind: true, rules: OPEN_RULES, logoutput: [join(cluster.dir, 'proxy.log')] }));
    const node1 = cluster.nodes[0]!;
    if (stonith) for (const args of cluster.fenceCommands) await node1.exec('pcs', args);
    if (layout !== 'bare') {
      const env = { ...process.env, CONFIG: config, VIP, EXTERNAL_VIP, NIC: cluster.nic, PROMOTED_MONITOR: '1s', AGENT_VIP: layout === 'agent-vip' ? 'yes' : 'no' } as Record<string, string>;
      const example = hasStandbys(layout) ? 'pcs-promotable.sh' : 'pcs-group.sh';
      const script = await node1.exec('sh', [join(REPO, 'examples', example)], { env, reject: false });
      if (/error/i.test(script.stderr)) throw new Error(`examples/${example} failed:\n${script.stderr}`);
      await waitFor(cluster, 'the service up', async () => (await serving(cluster)) !== undefined);
      if (hasStandbys(layout)) await waitFor(cluster, 'a warm standby on every other node', async () => standbys(await crmMon(cluster)) === size - 1);
      // The DC may still be working through the script's last changes: a scenario starts from a settled cluster.
      await waitForIdle(cluster);
    }
    const started = targets;
    return {
      cluster,
      config,
      stop: async () => {
        await started.stop();
        await cluster.remove();
      },
    };
  } catch (err) {
    // Processes outlive `ip netns del`: stop the targets before the lab goes.
    await targets?.stop();
    await cluster.remove();
    throw err;
  }
}

/** How many Unpromoted instances crm_mon shows. */
export const standbys = (mon: string): number => (/Unpromoted: \[ ([^\]]*) \]/.exec(mon)?.[1] ?? '').trim().split(/\s+/).filter(Boolean).length;

/** The node that serves (Promoted, or the group's hasocks) and holds both VIPs, if one does. */
export async function serving(cluster: Cluster): Promise<string | undefined> {
  const mon = await crmMon(cluster);
  const active = /Promoted: \[ (node\d) \]/.exec(mon)?.[1] ?? /socks\s+\(ocf:hasocks:socks\):\s+Started (node\d)/.exec(mon)?.[1];
  // With the VIPs held by the agent (layout agent-vip) there is no IPaddr2: the node that holds the VIP says it.
  if (!/ocf:heartbeat:IPaddr2/.test(mon)) return active !== undefined && (await holders(cluster, VIP)).join() === active ? active : undefined;
  const vip = /vip\s+\(ocf:heartbeat:IPaddr2\):\s+Started (node\d)/.exec(mon)?.[1];
  // A layout with an external VIP serves only once that one is up too: a stopped one fails every CONNECT.
  const hasExternal = /vip-external\s+\(ocf:heartbeat:IPaddr2\)/.test(mon);
  const external = /vip-external\s+\(ocf:heartbeat:IPaddr2\):\s+Started (node\d)/.exec(mon)?.[1];
  return active && vip === active && (!hasExternal || external === active) ? active : undefined;
}

/** Which nodes have an address on an interface right now (a powered-off node has none). */
export async function holders(cluster: Cluster, address: string): Promise<string[]> {
  const found: string[] = [];
  for (const node of cluster.nodes) {
    const addr = await node.exec('ip', ['-br', 'addr'], { reject: false, timeout: 5000 }).catch(() => undefined);
    if (addr?.stdout.includes(`${address}/`)) found.push(node.name);
  }
  return found;
}

