// How hasocks drill turns a run of probes into outages (src/drill/drill.ts),
// on probe results written here; test/drill.test.ts runs the drill against a
// real proxy.
import { type ProbeResult, findOutages } from '../../src/drill/drill.js';

test('findOutages: from the first failure to the completion of the next success', () => {
  const probe = (start: number, ok: boolean, kind: 'tcp' | 'udp' = 'tcp', error?: string): ProbeResult => ({ kind, start, end: start + 5, ok, error });
  const outages = findOutages([probe(0, true), probe(50, false, 'tcp', 'ECONNREFUSED'), probe(100, false, 'udp', 'udp timeout'), probe(150, true), probe(200, true)]);
  expect(outages).toEqual([{ start: 50, end: 155, durationMs: 105, errors: { ECONNREFUSED: 1, 'udp timeout': 1 }, kinds: ['tcp', 'udp'] }]);
  expect(findOutages([probe(0, true), probe(50, true)])).toEqual([]);
});

test('findOutages: failures less than one probe interval apart, around a lone success, are one outage', () => {
  const probe = (start: number, ok: boolean, error?: string): ProbeResult => ({ kind: 'tcp', start, end: start + 3, ok, error });
  const flapping = [probe(0, true), probe(1209, false, 'closed'), probe(1209.5, true), probe(1259, false, 'ECONNREFUSED'), probe(1309, false, 'ECONNREFUSED'), probe(2645, true)];
  expect(findOutages(flapping, 50)).toEqual([{ start: 1209, end: 2648, durationMs: 1439, errors: { closed: 1, ECONNREFUSED: 2 }, kinds: ['tcp'] }]);
  // Without the merge gap they stay apart, and a gap longer than the interval keeps them apart too.
  expect(findOutages(flapping)).toHaveLength(2);
  expect(findOutages([probe(0, false), probe(50, true), probe(200, false), probe(250, true)], 50)).toHaveLength(2);
});
