import { execa } from 'execa';
import { socksClientIn, whoamiIn } from './netns-tools.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster } from './cluster.js';
import type { ClientView, TargetView } from './integrity-traffic.js';
import type { RunOptions } from './integrity-traffic-run.js';
import { compiledHelper } from './compiled.js';
import { onJsonLines } from './json-lines.js';
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

/** The Designated Controller, as crm_mon names it. */
export const dcOf = async (cluster: Cluster): Promise<string | undefined> => /Current DC: (node\d)/.exec(await crmMon(cluster))?.[1];

export async function waitFor(cluster: Cluster, what: string, check: () => Promise<boolean>, timeoutMs = 60000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${await crmMon(cluster)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Until the DC has no transition left to run (S_IDLE): a scenario measured from here is not charged with the last one's tail. */
export async function waitForIdle(cluster: Cluster): Promise<void> {
  await waitFor(cluster, 'the DC idle', async () => {
    const dc = await dcOf(cluster);
    if (dc === undefined) return false;
    const state = await cluster.nodes.find((n) => n.name === dc)!.exec('crmadmin', ['-S', dc], { reject: false, timeout: 5000 }).catch(() => undefined);
    return state !== undefined && /S_IDLE/.test(state.stdout + state.stderr);
  });
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

/** Integrity traffic run in the lab's client namespace (integrity-traffic-run.ts), driven from here. */
export interface LabTraffic {
  /** Every session so far, by id: as it started (endedAt 0), then as it ended. */
  readonly sessions: Map<number, ClientView>;
  setLanes(lanes: number): void;
  /** Resolves once `check` holds, checked now and at every session's start and end; rejects after `timeoutMs`. */
  until(what: string, check: () => boolean, timeoutMs?: number): Promise<void>;
  /** Stop every lane; resolves with what the target saw, by session id. */
  stop(): Promise<Map<number, TargetView>>;
}

/**
 * Integrity traffic through `proxy` from the client namespace, to a target
 * it runs there on `targetPort`. With `namedSources`, session `id` comes
 * from port 20000 + id of the client's address, below the namespace's
 * ephemeral ports, so the proxy's log names each session (45,535 sessions
 * at most); without, the kernel picks. No lane runs until setLanes.
 */
export async function integrityTrafficIn(cluster: Cluster, proxy: { host: string; port: number }, targetPort: number, maxBytes: number, stallMs: number, namedSources = true): Promise<LabTraffic> {
  const runner = compiledHelper('integrity-traffic-run', 'integrity-traffic');
  const options: RunOptions = { proxy, target: { host: cluster.clientAddress, port: targetPort }, maxBytes, stallMs, sourceAddress: cluster.clientAddress, firstSourcePort: namedSources ? 20000 : undefined };
  const child = execa('ip', ['netns', 'exec', cluster.client.name, process.execPath, runner, JSON.stringify(options)], { reject: false, stdin: 'pipe', buffer: { stdout: false } });
  const sessions = new Map<number, ClientView>();
  const listeners = new Set<() => void>();
  let ready = false;
  let targets: Map<number, TargetView> | undefined;
  let exited = false;
  onJsonLines(child.stdout!, (lines) => {
    for (const line of lines) {
      const event = line as { ready?: true; started?: ClientView; ended?: ClientView; done?: { targets: TargetView[] } };
      ready ||= event.ready === true;
      const session = event.started ?? event.ended;
      if (session) sessions.set(session.id, session);
      if (event.done) targets = new Map(event.done.targets.map((t) => [t.id, t]));
    }
    for (const listener of [...listeners]) listener();
  });
  void child.then(() => {
    exited = true;
    for (const listener of [...listeners]) listener();
  });
  const until = (what: string, check: () => boolean, timeoutMs = 30000): Promise<void> =>
    new Promise((resolve, reject) => {
      const listener = (): void => {
        if (check()) {
          clearTimeout(timer);
          listeners.delete(listener);
          resolve();
        } else if (exited) {
          clearTimeout(timer);
          listeners.delete(listener);
          void child.then((r) => reject(new Error(`integrity traffic exited (${r.signal ?? `code ${r.exitCode}`}) before ${what}: ${String(r.stderr)}`)));
        }
      };
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(new Error(`integrity traffic: no ${what} within ${timeoutMs} ms (${sessions.size} sessions)`));
      }, timeoutMs);
      listeners.add(listener);
      listener();
    });
  await until('target listening', () => ready, 15000);
  return {
    sessions,
    setLanes: (lanes) => void child.stdin!.write(`${JSON.stringify({ lanes })}\n`),
    until,
    stop: async () => {
      child.stdin!.write('{"stop":true}\n');
      try {
        await until('the end of every lane', () => targets !== undefined, stallMs * 3);
      } finally {
        if (targets === undefined) child.kill('SIGKILL');
        await child;
      }
      return targets!;
    },
  };
}
