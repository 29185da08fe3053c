// hasocks drill against a real proxy on loopback that is killed and started
// again mid-run: the outage it reports must match what happened.
import { execa } from 'execa';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ProbeResult, findOutages } from '../src/drill/drill.js';
import { type TestServer, freePort, startEchoServer } from './helpers/net.js';
import { CLI, OPEN_RULES, startProxy, stopAllProxies } from './helpers/proxy.js';

let echo: TestServer;
let dir: string;
const udpEcho = createSocket('udp4');

beforeAll(async () => {
  echo = await startEchoServer();
  udpEcho.on('message', (m, r) => udpEcho.send(m, r.port, r.address));
  udpEcho.bind(0, '127.0.0.1');
  await once(udpEcho, 'listening');
  dir = mkdtempSync(join(tmpdir(), 'hasocks-drill-'));
});
afterAll(async () => {
  await stopAllProxies();
  await echo.close();
  udpEcho.close();
  rmSync(dir, { recursive: true, force: true });
});

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

test('a proxy killed for about a second shows as one outage of about that length, in the text, JSON and SVG reports', async () => {
  const port = await freePort();
  const config = { internal: [`127.0.0.1:${port}`], rules: OPEN_RULES, logoutput: [join(dir, 'proxy.log')] };
  let proxy = await startProxy(config);
  const report = join(dir, 'report.json');
  const svg = join(dir, 'timeline.svg');
  const drill = execa(process.execPath, [
    CLI, 'drill', '--proxy', `127.0.0.1:${port}`, '--target', `127.0.0.1:${echo.port}`, '--udp-target', `127.0.0.1:${udpEcho.address().port}`,
    '--rate', '20', '--duration', '5', '--timeout', '500', '--report', report, '--svg', svg,
  ]);
  await new Promise((r) => setTimeout(r, 1500));
  process.kill(proxy.pid, 'SIGKILL');
  const killedAt = Date.now();
  await proxy.stop();
  await new Promise((r) => setTimeout(r, 1000 - (Date.now() - killedAt)));
  proxy = await startProxy(config);
  const downFor = Date.now() - killedAt;
  const result = await drill;
  expect(result.stdout).toMatch(/^drill through 127\.0\.0\.1:\d+ to 127\.0\.0\.1:\d+ and udp 127\.0\.0\.1:\d+, 20\/s for \d+\.\d+s$/m);
  expect(result.stdout).toMatch(/^outage 1: \d+\.\d+s -> \d+\.\d+s \(\d+\.\d+s\), (tcp|udp|tcp\+udp|udp\+tcp): .*ECONNREFUSED/m);
  expect(result.stdout).toMatch(/^worst outage: \d+\.\d+s$/m);

  const json = JSON.parse(readFileSync(report, 'utf8')) as { outages: Array<{ durationMs: number; kinds: string[] }>; worstOutageMs: number; probes: { tcp: { ok: number }; udp: { ok: number } } };
  expect(json.outages).toHaveLength(1);
  // The outage covers the time the proxy was down, give or take a probe interval, a timeout and process start-up.
  expect(json.worstOutageMs).toBeGreaterThanOrEqual(downFor - 100);
  expect(json.worstOutageMs).toBeLessThan(downFor + 1500);
  expect(json.outages[0]!.kinds.sort()).toEqual(['tcp', 'udp']);
  expect(json.probes.tcp.ok).toBeGreaterThan(40);
  expect(json.probes.udp.ok).toBeGreaterThan(40);
  const picture = readFileSync(svg, 'utf8');
  expect(picture).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  expect(picture).toMatch(/<rect [^>]*><title>outage \d+\.\d+s<\/title><\/rect>/);
  expect((picture.match(/stroke="#2a9d3a"/g) ?? []).length).toBe(json.probes.tcp.ok + json.probes.udp.ok);
}, 30000);
