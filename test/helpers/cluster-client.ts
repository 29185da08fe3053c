import { execa } from 'execa';
import { socksClientIn, whoamiIn } from './netns-tools.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster } from './cluster.js';
import { CLI } from './proxy.js';

/**
 * What the cluster tests do from the outside: ask Pacemaker how things
 * stand, wait for a state, and use the proxy from the lab's client
 * namespace (the test process itself has no route into the lab).
 */

/** crm_mon's view from any node still up; crm_mon exits non-zero while a fenced node is listed, so judge by its output. */
export async function crmMon(cluster: Cluster): Promise<string> {
  for (const node of cluster.nodes) {
    const mon = await node.exec('crm_mon', ['-1', '-r'], { reject: false, timeout: 5000 }).catch(() => undefined);
    if (mon && mon.stdout.includes('Cluster Summary')) return mon.stdout;
  }
  return '';
}

export async function waitFor(cluster: Cluster, what: string, check: () => Promise<boolean>, timeoutMs = 60000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${await crmMon(cluster)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** test/helpers/socks-client.mjs run in the client namespace; its JSON answer. */
export const socksClient = (cluster: Cluster, args: string[]): Promise<Record<string, unknown>> => socksClientIn(cluster.client, args);

/** Targets in the client namespace: "who am i" servers on 7000, echo servers on 7007 (TCP and UDP each). */
export async function startTargets(cluster: Cluster): Promise<{ whoami: number; echo: number; stop(): Promise<void> }> {
  const servers = [whoamiIn(cluster.client, cluster.clientAddress, 7000), whoamiIn(cluster.client, cluster.clientAddress, 7007, 'echo')];
  const children = servers.map((s) => s.child);
  try {
    await Promise.all(servers.map((s) => s.ready));
  } catch (err) {
    for (const child of children) child.kill();
    throw err;
  }
  return {
    whoami: 7000,
    echo: 7007,
    stop: async () => {
      for (const child of children) {
        child.kill();
        await child;
      }
    },
  };
}

export interface DrillReport {
  /** When the drill started (epoch ms) and how long it ran: outages' start and end count from it. */
  readonly startedAt: number;
  readonly durationMs: number;
  readonly worstOutageMs: number;
  readonly outages: Array<{ start: number; end: number; durationMs: number; errors: Record<string, number> }>;
  readonly text: string;
}

/**
 * `hasocks drill` from the client namespace through `proxy`, with `event`
 * happening `leadMs` into it; returns the drill's own report.
 */
export async function drillAround(cluster: Cluster, name: string, proxy: string, durationS: number, event: () => Promise<void>, leadMs = 2000): Promise<DrillReport> {
  const report = join(cluster.dir, `${name}.json`);
  const target = `${cluster.clientAddress}:7007`;
  const drill = execa('ip', [
    'netns', 'exec', cluster.client.name, process.execPath, CLI, 'drill',
    '--proxy', proxy, '--target', target, '--udp-target', target,
    '--rate', '20', '--timeout', '500', '--duration', String(durationS), '--report', report, '--svg', join(cluster.dir, `${name}.svg`),
  ], { reject: false });
  await new Promise((r) => setTimeout(r, leadMs));
  await event();
  const result = await drill;
  if (result.exitCode !== 0) throw new Error(`drill failed: ${String(result.stderr)}`);
  const json = JSON.parse(readFileSync(report, 'utf8')) as Omit<DrillReport, 'text' | 'startedAt'> & { startedAt: string };
  return { startedAt: Date.parse(json.startedAt), durationMs: json.durationMs, worstOutageMs: json.worstOutageMs, outages: json.outages, text: String(result.stdout) };
}
