// The README's first command: `npm start` serves the embedded default config
// on 127.0.0.1:1080 and [::1]:1080. Uses the fixed port 1080, as a user would.
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestServer, freePort, listen } from './helpers/net.js';
import { CLI, OPEN_RULES, REPO } from './helpers/proxy.js';

let web: TestServer;
let dir: string;
beforeAll(async () => {
  web = await listen(createServer((_req, res) => res.end('served by npm start\n')));
  dir = mkdtempSync(join(tmpdir(), 'hasocks-start-'));
});
afterAll(async () => {
  await web.close();
  rmSync(dir, { recursive: true, force: true });
});

test('npm start serves curl --socks5-hostname on 127.0.0.1:1080 and [::1]:1080', async () => {
  const pidFile = join(dir, 'pid');
  const npm = execa('npm', ['start', '--', '--pidfile', pidFile], { cwd: REPO, reject: false, all: true });
  let pid: number | undefined;
  try {
    const deadline = Date.now() + 20000;
    while (!existsSync(pidFile) && Date.now() < deadline && npm.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    pid = Number(readFileSync(pidFile, 'utf8'));
    for (const proxy of ['127.0.0.1:1080', '[::1]:1080']) {
      const result = await execa('curl', ['-sS', '--fail', '--socks5-hostname', proxy, `http://localhost:${web.port}/`]);
      expect(result.stdout).toBe('served by npm start');
    }
  } finally {
    // Stop the proxy itself, by the pid it wrote; npm then exits too.
    if (pid) process.kill(pid, 'SIGTERM');
    else npm.kill('SIGTERM');
    const result = await npm;
    if (pid) expect(result.all).toMatch(/hasocks \d+ ready with config <embedded default>/);
    if (pid) expect(result.all).toMatch(/info: data path: sessions in C \(tcp_conn\.c\), CONNECT relayed in C with splice\(\) through pipes/);
  }
});

// One process, and a supervisor with its workers: each checks the addon before it opens anything.
// With the log in a file, the reason goes to stderr as well: whoever started hasocks must see it.
test.each<[string, Record<string, unknown>]>([
  ['one process', {}],
  ['"workers": 2', { workers: 2 }],
  ['one process, logging to a file', { logoutput: ['LOGFILE'] }],
])('without its native addon, hasocks serve refuses to start and names the fix (%s)', async (_what, extra) => {
  const config = join(dir, 'no-addon.json');
  const pidFile = join(dir, 'no-addon.pid');
  const logFile = join(dir, 'no-addon.log');
  writeFileSync(config, JSON.stringify({ internal: [`127.0.0.1:${await freePort()}`], rules: OPEN_RULES, ...extra }).replace('LOGFILE', logFile));
  // A failed build is simulated by pointing HASOCKS_NATIVE_ADDON at a missing file.
  const result = await execa(process.execPath, [CLI, 'serve', '--config', config, '--pidfile', pidFile], {
    env: { HASOCKS_NATIVE_ADDON: join(dir, 'missing', 'hasocks_native.node') },
    reject: false,
    timeout: 20000,
    all: true,
  });
  expect(result.exitCode).toBe(1);
  expect(result.all).toMatch(/cannot load the native addon .*missing\/hasocks_native\.node/);
  expect(result.all).toContain('npm run build:native');
  expect(result.all).not.toMatch(/listening on|ready with|worker \d/);
  expect(existsSync(pidFile)).toBe(false);
  if (extra.logoutput) expect(readFileSync(logFile, 'utf8')).toMatch(/error: cannot load the native addon/);
});
