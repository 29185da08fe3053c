import { type Socket as UdpSocket, createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { type Credentials, type ProxyEndpoint, type UdpAssociation, socksConnect, socksUdpAssociate } from '../client/socks-client.js';
import { isUnspecified } from '../protocol/address.js';
import { udpHeader } from '../protocol/udp-header.js';

/**
 * `hasocks drill`: what a client sees of a failover. At a fixed rate it opens
 * SOCKS sessions through the proxy (CONNECT plus a short echo), and keeps one
 * UDP association open, sending a datagram at the same rate and
 * re-associating whenever it breaks. Every probe is recorded; outages are
 * the stretches in which probes fail.
 */
export interface DrillOptions {
  readonly proxy: { host: string; port: number };
  /** TCP echo server to CONNECT to. */
  readonly target: { host: string; port: number };
  /** UDP echo server for the association; none: TCP only. */
  readonly udpTarget?: { host: string; port: number } | undefined;
  /** Probes per second, for TCP and for UDP each. */
  readonly rate: number;
  /** Stop after this long (ms); undefined: until stop() (Ctrl-C). */
  readonly durationMs?: number | undefined;
  /** A probe that takes longer than this has failed. */
  readonly timeoutMs: number;
  readonly credentials?: Credentials | undefined;
}

export type ProbeKind = 'tcp' | 'udp';

export interface ProbeResult {
  readonly kind: ProbeKind;
  /** ms since the drill started. */
  readonly start: number;
  readonly end: number;
  readonly ok: boolean;
  /** A short error kind for failures: "timeout", "ECONNREFUSED", "reply 0x05", ... */
  readonly error?: string | undefined;
}

export interface Outage {
  readonly start: number;
  readonly end: number;
  readonly durationMs: number;
  readonly errors: Record<string, number>;
  /** Which probe kinds failed in it. */
  readonly kinds: ProbeKind[];
}

/** A failure in a few words: the errno code, a SOCKS reply code, or "timeout". */
export function errorKind(err: unknown): string {
  const error = err as NodeJS.ErrnoException;
  if (error.code) return error.code;
  const reply = /reply (0x[0-9a-f]{2})/.exec(error.message ?? '');
  if (reply) return `reply ${reply[1]}`;
  if (/timeout/.test(error.message ?? '')) return 'timeout';
  if (/closed/.test(error.message ?? '')) return 'closed';
  return (error.message ?? String(err)).slice(0, 40);
}

/**
 * Outages from probe results: an outage starts at the start of the first
 * failing probe after a success and ends when the next successful probe
 * completes. Probes of both kinds count: a failover that breaks either is
 * an outage for the client.
 *
 * Outages less than `mergeGapMs` apart are one outage: when a proxy dies, a
 * probe already past it can still succeed between the first failures, and
 * a lone success inside a failover is no recovery a client can rely on.
 * The drill passes its probe interval.
 */
export function findOutages(results: readonly ProbeResult[], mergeGapMs = 0): Outage[] {
  const sorted = [...results].sort((a, b) => a.start - b.start);
  const outages: Outage[] = [];
  let current: { start: number; errors: Record<string, number>; kinds: Set<ProbeKind> } | undefined;
  const close = (end: number): void => {
    const outage = { start: current!.start, end, durationMs: end - current!.start, errors: current!.errors, kinds: [...current!.kinds] };
    current = undefined;
    const previous = outages.at(-1);
    if (previous && outage.start - previous.end < mergeGapMs) outages[outages.length - 1] = mergeOutages(previous, outage);
    else outages.push(outage);
  };
  for (const probe of sorted) {
    if (!probe.ok) {
      current ??= { start: probe.start, errors: {}, kinds: new Set() };
      const kind = probe.error ?? 'failed';
      current.errors[kind] = (current.errors[kind] ?? 0) + 1;
      current.kinds.add(probe.kind);
    } else if (current && probe.start >= current.start) {
      close(probe.end);
    }
  }
  if (current) close(sorted.at(-1)!.end);
  return outages;
}

function mergeOutages(first: Outage, second: Outage): Outage {
  const errors = { ...first.errors };
  for (const [kind, count] of Object.entries(second.errors)) errors[kind] = (errors[kind] ?? 0) + count;
  return { start: first.start, end: second.end, durationMs: second.end - first.start, errors, kinds: [...new Set([...first.kinds, ...second.kinds])] };
}

/** One UDP association through the proxy, and the socket that talks to its relay. */
interface Association extends UdpAssociation {
  readonly socket: UdpSocket;
  broken: boolean;
}

async function associate(options: DrillOptions): Promise<Association> {
  const made = await socksUdpAssociate(options.proxy, options.credentials, options.timeoutMs);
  made.control.on('error', () => undefined);
  // A relay reported as 0.0.0.0 means "the address you connected to".
  const host = isUnspecified(made.relay.host) ? options.proxy.host : made.relay.host;
  const association: Association = { control: made.control, relay: { host, port: made.relay.port }, socket: createSocket(isIPv6(host) ? 'udp6' : 'udp4'), broken: false };
  made.control.on('close', () => (association.broken = true));
  return association;
}

export interface DrillRun {
  /** Resolves with every probe result once the drill has stopped and its probes have finished. */
  readonly done: Promise<ProbeResult[]>;
  stop(): void;
  /** Live counts for the status line. */
  snapshot(): { elapsedMs: number; ok: number; failed: number; down: boolean; downSinceMs: number | undefined };
}

export function runDrill(options: DrillOptions): DrillRun {
  const started = Date.now();
  const now = (): number => Date.now() - started;
  const results: ProbeResult[] = [];
  const pending = new Set<Promise<void>>();
  let stopped = false;
  let lastOk = true;
  let downSince: number | undefined;
  const proxy: ProxyEndpoint = options.proxy;

  const record = (result: ProbeResult): void => {
    results.push(result);
    if (result.ok) {
      lastOk = true;
      downSince = undefined;
    } else {
      if (lastOk) downSince = result.start;
      lastOk = false;
    }
  };

  let token = 0;
  const tcpProbe = (): void => {
    const start = now();
    const payload = Buffer.from(`drill-${++token}-${start}`);
    const probe = socksConnect(proxy, options.target.host, options.target.port, options.credentials, options.timeoutMs, payload).then(
      () => record({ kind: 'tcp', start, end: now(), ok: true }),
      (err: unknown) => record({ kind: 'tcp', start, end: now(), ok: false, error: errorKind(err) }),
    );
    pending.add(probe);
    void probe.finally(() => pending.delete(probe));
  };

  // The UDP side: one association, re-made whenever it breaks.
  let association: Association | undefined;
  let associating: Promise<void> | undefined;
  let sequence = 0;
  let udpLosses = 0;
  const waiting = new Map<number, { start: number; timer: NodeJS.Timeout }>();
  const udpProbe = (): void => {
    const udp = options.udpTarget;
    if (!udp) return;
    const start = now();
    if (!association || association.broken) {
      if (association) {
        association.socket.close();
        association.control.destroy();
        association = undefined;
      }
      if (!associating) {
        associating = associate(options).then(
          (made) => {
            associating = undefined;
            if (stopped) {
              made.socket.close();
              made.control.destroy();
              return;
            }
            association = made;
            made.socket.on('message', (message: Buffer) => {
              const seq = Number(/udp-(\d+)/.exec(message.toString('latin1'))?.[1]);
              const entry = waiting.get(seq);
              if (!entry) return;
              clearTimeout(entry.timer);
              waiting.delete(seq);
              udpLosses = 0;
              record({ kind: 'udp', start: entry.start, end: now(), ok: true });
            });
          },
          (err: unknown) => {
            associating = undefined;
            record({ kind: 'udp', start, end: now(), ok: false, error: `associate: ${errorKind(err)}` });
          },
        );
      }
      return;
    }
    const seq = ++sequence;
    const timer = setTimeout(() => {
      waiting.delete(seq);
      record({ kind: 'udp', start, end: now(), ok: false, error: 'udp timeout' });
      // Two datagrams lost in a row: the association is probably gone (failover); make a new one.
      if (++udpLosses >= 2 && association) association.broken = true;
    }, options.timeoutMs);
    waiting.set(seq, { start, timer });
    association.socket.send(Buffer.concat([udpHeader(udp.host, udp.port), Buffer.from(`udp-${seq}`)]), association.relay.port, association.relay.host);
  };

  const interval = setInterval(() => {
    if (stopped) return;
    tcpProbe();
    udpProbe();
  }, 1000 / options.rate);
  const limit = options.durationMs === undefined ? undefined : setTimeout(() => stop(), options.durationMs);

  let finish: (results: ProbeResult[]) => void = () => undefined;
  const done = new Promise<ProbeResult[]>((resolve) => (finish = resolve));
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    clearInterval(interval);
    clearTimeout(limit);
    void Promise.all([...pending]).then(() => {
      for (const [, entry] of waiting) clearTimeout(entry.timer);
      association?.socket.close();
      association?.control.destroy();
      finish(results.sort((a, b) => a.start - b.start));
    });
  };

  return {
    done,
    stop,
    snapshot: () => ({
      elapsedMs: now(),
      ok: results.filter((r) => r.ok).length,
      failed: results.filter((r) => !r.ok).length,
      down: !lastOk,
      downSinceMs: downSince,
    }),
  };
}
