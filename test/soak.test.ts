// The soak's 2-minute version (test/soak/soak.ts, the same code as
// `npm run soak`): an instance under the OCF agent carries CONNECT bulk and
// short sessions, UDP, BIND, authenticated and refused clients, with the
// agent's monitors and a reload every 20 s, and must stay flat with no
// unexpected error. The 30-minute run is on demand (docs/operations.md).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSoak } from './soak/soak.js';

test('2 minutes of mixed traffic under the agent: descriptors and RSS flat, no unexpected error, no monitor failure', async () => {
  const out = mkdtempSync(join(tmpdir(), 'hasocks-soak-out-'));
  const result = await runSoak({ minutes: 2, sampleEveryMs: 10000, reloadEveryMs: 20000, outDir: out });
  console.log(
    [
      `soak (2 min): ${result.flat.map((c) => `${c.metric} ${c.referenceMean.toFixed(0)} -> ${c.finalMean.toFixed(0)} (${(c.change * 100).toFixed(1)} %)`).join(', ')}`,
      `CONNECT ${JSON.stringify(result.traffic.connect)}, auth ${JSON.stringify(result.traffic.auth)}, UDP ${JSON.stringify(result.traffic.udp)}, BIND ${result.traffic.bind}`,
      `reloads ${result.reloads.agent} by the agent, ${result.reloads.sighup} by SIGHUP; monitors ${JSON.stringify(result.monitors.runs)}; figures in ${out}`,
    ].join('\n'),
  );
  expect(result.failures).toEqual([]);
  expect(readFileSync(join(out, 'soak.svg'), 'utf8')).toContain('<polyline');
}, 5 * 60000);
