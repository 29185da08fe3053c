// The soak's 2-minute version (test/soak/soak.ts, the same code as
// `npm run soak`): an instance under the OCF agent carries CONNECT bulk and
// short sessions, UDP, BIND, authenticated and refused clients, with the
// agent's monitors and a reload every 20 s: RSS must not grow more than
// 64 MiB, nor descriptors by more than 64, and no error may be unexpected.
// Two minutes is too short to judge flatness: RSS climbs a few percent in
// the first minutes, and descriptors follow the sessions open at each
// sample (in CI, the windows of a 2-minute run differed by up to 7 %). So
// this catches a fast leak, and the 30-minute run, judged by flatness, a
// slow one (docs/operations.md).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSoak } from './soak/soak.js';

test('2 minutes of mixed traffic under the agent: RSS within 64 MiB and descriptors within 64 of their start, no unexpected error, no monitor failure', async () => {
  const out = mkdtempSync(join(tmpdir(), 'hasocks-soak-out-'));
  try {
  const result = await runSoak({ minutes: 2, sampleEveryMs: 10000, reloadEveryMs: 20000, outDir: out, growthLimits: { rssKiB: 64 * 1024, descriptors: 64 } });
  console.log(
    [
      `soak (2 min): RSS grew ${(result.rssGrowthKiB / 1024).toFixed(1)} MiB; ${result.flat.map((c) => `${c.metric} ${c.referenceMean.toFixed(0)} -> ${c.finalMean.toFixed(0)} (${(c.change * 100).toFixed(1)} %)`).join(', ')}`,
      `CONNECT ${JSON.stringify(result.traffic.connect)}, auth ${JSON.stringify(result.traffic.auth)}, UDP ${JSON.stringify(result.traffic.udp)}, BIND ${result.traffic.bind}`,
      `reloads ${result.reloads.agent} by the agent, ${result.reloads.sighup} by SIGHUP; monitors ${JSON.stringify(result.monitors.runs)}; figures in soak.json and soak.svg (removed with the test)`,
    ].join('\n'),
  );
  expect(result.failures).toEqual([]);
  expect(readFileSync(join(out, 'soak.svg'), 'utf8')).toContain('<polyline');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 5 * 60000);
