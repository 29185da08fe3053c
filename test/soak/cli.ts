// `npm run soak -- --minutes N [--out DIR]`: one soak run, its figures in
// DIR/soak.json and DIR/soak.svg; exit 1 and say why when it fails.
import { mkdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runSoak } from './soak.js';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '30' }, out: { type: 'string', default: 'soak-out' } } });
const minutes = Number(values.minutes);
if (!(minutes >= 1)) {
  console.error('soak: --minutes must be at least 1');
  process.exit(2);
}
mkdirSync(values.out, { recursive: true });
// A 30-minute run samples each minute and reloads each minute, as the issue asks; a shorter one does both more often,
// so that each window it compares still holds ten samples and the run still sees several reloads.
const runMs = minutes * 60000;
const result = await runSoak({ minutes, sampleEveryMs: Math.min(60000, runMs / 30), reloadEveryMs: Math.min(60000, runMs / 6), outDir: values.out, log: (line) => console.log(line) });
for (const check of result.flat) console.log(`soak: ${check.metric}: ${check.referenceMean.toFixed(0)} -> ${check.finalMean.toFixed(0)} (${(check.change * 100).toFixed(1)} %)`);
console.log(`soak: CONNECT ${JSON.stringify(result.traffic.connect)}, auth ${JSON.stringify(result.traffic.auth)}, UDP ${JSON.stringify(result.traffic.udp)}, BIND ${result.traffic.bind}, reloads ${result.reloads.agent + result.reloads.sighup}, monitors ${JSON.stringify(result.monitors.runs)}, refusals logged ${JSON.stringify(result.log.refusals)}`);
console.log(`soak: wrote ${values.out}/soak.json and ${values.out}/soak.svg`);
if (!result.passed) {
  for (const failure of result.failures) console.error(`soak: FAIL: ${failure}`);
  process.exit(1);
}
console.log('soak: passed');
