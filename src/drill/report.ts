import type { DrillOptions, Outage, ProbeResult } from './drill.js';
import { findOutages } from './drill.js';

export interface DrillReport {
  readonly proxy: string;
  readonly target: string;
  readonly udpTarget: string | undefined;
  readonly rate: number;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly probes: { tcp: { ok: number; failed: number }; udp: { ok: number; failed: number } };
  readonly outages: Outage[];
  /** The longest outage in ms; 0 when there was none. */
  readonly worstOutageMs: number;
  readonly results: ProbeResult[];
}

export function buildReport(options: DrillOptions, startedAt: Date, results: readonly ProbeResult[]): DrillReport {
  const count = (kind: 'tcp' | 'udp', ok: boolean): number => results.filter((r) => r.kind === kind && r.ok === ok).length;
  const outages = findOutages(results, 1000 / options.rate);
  return {
    proxy: `${options.proxy.host}:${options.proxy.port}`,
    target: `${options.target.host}:${options.target.port}`,
    udpTarget: options.udpTarget && `${options.udpTarget.host}:${options.udpTarget.port}`,
    rate: options.rate,
    startedAt: startedAt.toISOString(),
    durationMs: results.length ? Math.max(...results.map((r) => r.end)) : 0,
    probes: { tcp: { ok: count('tcp', true), failed: count('tcp', false) }, udp: { ok: count('udp', true), failed: count('udp', false) } },
    outages,
    worstOutageMs: Math.max(0, ...outages.map((o) => o.durationMs)),
    results: [...results],
  };
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(3)}s`;

/** The summary printed when the drill stops. */
export function formatReport(report: DrillReport): string {
  const lines = [
    `drill through ${report.proxy} to ${report.target}${report.udpTarget ? ` and udp ${report.udpTarget}` : ''}, ${report.rate}/s for ${seconds(report.durationMs)}`,
    `tcp: ${report.probes.tcp.ok} ok, ${report.probes.tcp.failed} failed; udp: ${report.probes.udp.ok} ok, ${report.probes.udp.failed} failed`,
  ];
  if (report.outages.length === 0) lines.push('no outage');
  for (const [i, o] of report.outages.entries()) {
    const errors = Object.entries(o.errors).map(([kind, n]) => `${kind} x${n}`).join(', ');
    lines.push(`outage ${i + 1}: ${seconds(o.start)} -> ${seconds(o.end)} (${seconds(o.durationMs)}), ${o.kinds.join('+')}: ${errors}`);
  }
  lines.push(`worst outage: ${seconds(report.worstOutageMs)}`);
  return lines.join('\n');
}

/** A timeline chart: one row per probe kind, successes green, failures red, outages shaded. */
export function renderSvg(report: DrillReport): string {
  const width = 1000;
  const left = 60;
  const span = Math.max(report.durationMs, 1);
  const x = (ms: number): number => left + ((width - left - 20) * ms) / span;
  const rows: Record<string, number> = { tcp: 50, udp: 90 };
  const marks = report.results
    .map((r) => `<line x1="${x(r.start).toFixed(1)}" x2="${x(r.start).toFixed(1)}" y1="${rows[r.kind]! - 12}" y2="${rows[r.kind]! + 12}" stroke="${r.ok ? '#2a9d3a' : '#d62828'}" stroke-width="1.5"><title>${r.kind} ${r.ok ? 'ok' : r.error} at ${seconds(r.start)}</title></line>`)
    .join('\n  ');
  const outages = report.outages
    .map((o) => `<rect x="${x(o.start).toFixed(1)}" y="30" width="${Math.max(1, x(o.end) - x(o.start)).toFixed(1)}" height="80" fill="#d62828" fill-opacity="0.15"><title>outage ${seconds(o.durationMs)}</title></rect>`)
    .join('\n  ');
  const ticks = Array.from({ length: 11 }, (_, i) => (span * i) / 10)
    .map((ms) => `<text x="${x(ms).toFixed(1)}" y="130" font-size="11" text-anchor="middle">${(ms / 1000).toFixed(1)}s</text>`)
    .join('\n  ');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="150" font-family="sans-serif">
  <text x="${left}" y="18" font-size="13">hasocks drill: ${report.proxy}, worst outage ${seconds(report.worstOutageMs)}</text>
  <text x="10" y="54" font-size="12">tcp</text>
  <text x="10" y="94" font-size="12">udp</text>
  ${outages}
  ${marks}
  ${ticks}
</svg>
`;
}
