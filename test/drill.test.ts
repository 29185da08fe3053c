// hasocks drill against a real proxy on loopback that is killed and started
// again mid-run: the outage it reports must match what happened.
import { execa } from 'execa';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestServer, freePort, startEchoServer } from './helpers/net.js';
import { eventually } from './helpers/hostile.js';
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
  // The kill comes once the drill is probing through the proxy: TCP probes connected and its UDP association open.
  const log = join(dir, 'proxy.log');
  const probing = (): boolean => {
    const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
    return (text.match(/pass socks-rule #\d+: connect /g) ?? []).length >= 10 && /pass socks-rule #\d+: udpassociate /.test(text);
  };
  expect(await eventually(probing, 10000)).toBe(true);
  process.kill(proxy.pid, 'SIGKILL');
  const killedAt = Date.now();
  await proxy.stop();
  // The outage the drill must report: the proxy stays down for a second.
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
