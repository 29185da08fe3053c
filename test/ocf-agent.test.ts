// The OCF agent, run the way Pacemaker runs it: a fresh process per action
// with OCF_* variables, checked by exit code and ocf-exit-reason. ocf-tester
// and xmllint are the real ones from Debian's resource-agents and libxml2.
import { execa } from 'execa';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawClient, type TestServer, freePort, socks5Request, startEchoServer } from './helpers/net.js';
import { CLI, OPEN_RULES } from './helpers/proxy.js';
import { AGENT, type AgentRun, runAgent } from './helpers/ocf-run.js';
import { createNetns } from './helpers/netns.js';
import { eventually } from './helpers/hostile.js';
import { childrenOf, isAlive } from './helpers/processes.js';
import { PROMOTION_SCORE, SCORE_FILE } from '../ocf/launcher-contract.js';

let dir: string;
let echo: TestServer;
let port: number;
let configPath: string;
let instance = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hasocks-ocf-'));
  chmodSync(dir, 0o755);
  echo = await startEchoServer();
  port = await freePort();
  configPath = join(dir, 'hasocks.json');
  writeFileSync(configPath, JSON.stringify({ internal: [`127.0.0.1:${port}`], rules: OPEN_RULES, logoutput: [join(dir, 'proxy.log')] }));
  chmodSync(configPath, 0o644);
});
afterAll(async () => {
  await echo.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One agent action, as Pacemaker runs it (helpers/ocf-run.ts). */
const agent = (action: string, params: Record<string, string> = {}, env: Record<string, string> = {}): Promise<AgentRun> => runAgent(action, params, env);

/** Parameters for a fresh instance with its own state directory. */
function fresh(extra: Record<string, string> = {}): Record<string, string> {
  const state = join(dir, `state-${++instance}`);
  return { config: configPath, state_dir: state, ...extra };
}

describe('meta-data', () => {
  let xml: string;
  beforeAll(async () => {
    xml = (await agent('meta-data')).stdout;
  });

  test('validates against ra-api-1.dtd (as ocf-tester checks it) and the OCF 1.1 RNG pcs uses', async () => {
    const dtd = await execa('xmllint', ['--noout', '--valid', '-'], { input: xml, cwd: '/usr/share/resource-agents', reject: false });
    expect(dtd.stderr).toBe('');
    expect(dtd.exitCode).toBe(0);
    const file = join(dir, 'md.xml');
    writeFileSync(file, xml);
    const rng = await execa('xmllint', ['--noout', '--relaxng', '/usr/share/pcs/data/ocf-1.1.rng', file], { reject: false });
    expect(rng.stderr).toContain('validates');
    expect(rng.exitCode).toBe(0);
  });

  test('advertises every action, a monitor per role with distinct intervals, and depths 10 and 20', () => {
    for (const name of ['start', 'stop', 'promote', 'demote', 'notify', 'reload', 'reload-agent', 'validate-all', 'meta-data']) {
      expect(xml).toContain(`<action name="${name}"`);
    }
    const promoted = /<action name="monitor" timeout="\w+" interval="(\w+)" role="Promoted"/.exec(xml)?.[1];
    const unpromoted = /<action name="monitor" timeout="\w+" interval="(\w+)" role="Unpromoted"/.exec(xml)?.[1];
    expect(promoted).toBeDefined();
    expect(unpromoted).toBeDefined();
    expect(promoted).not.toBe(unpromoted);
    expect(xml).toMatch(/<action name="monitor"[^>]* depth="10"/);
    expect(xml).toMatch(/<action name="monitor"[^>]* depth="20"/);
  });

  test('marks the listen address and port unique, and config and the agent-only parameters reloadable', () => {
    expect(xml).toMatch(/<parameter name="listen_address" required="0" unique="1" unique-group="listen">/);
    expect(xml).toMatch(/<parameter name="listen_port" required="0" unique="1" unique-group="listen">/);
    expect(xml).toMatch(/<parameter name="config" required="1" unique="0" reloadable="1">/);
    expect(xml).toMatch(/<parameter name="drain_timeout" required="0" unique="0" reloadable="1">/);
  });

  test('runs as nobody, without PATH, from the installed copy', async () => {
    const root = join(dir, 'ocf-root');
    const installed = await execa(process.execPath, [CLI, 'install-agent', '--ocf-root', root]);
    const target = join(root, 'resource.d', 'hasocks', 'socks');
    expect(installed.stdout).toBe(`installed ${target}`);
    chmodSync(join(root), 0o755);
    const asNobody = await execa('su', ['nobody', '-s', '/bin/sh', '-c', `env -i ${target} meta-data`], { reject: false });
    expect(asNobody.exitCode).toBe(0);
    expect(asNobody.stdout).toBe(xml);
  });

  test('meta-data and a depth-0 monitor each take well under 150 ms', async () => {
    const params = fresh();
    expect((await agent('start', params)).code).toBe(0);
    try {
      const time = async (action: string): Promise<number> => {
        const samples: number[] = [];
        for (let i = 0; i < 5; i++) {
          const started = process.hrtime.bigint();
          const run = await agent(action, params);
          samples.push(Number(process.hrtime.bigint() - started) / 1e6);
          expect(run.code).toBe(0);
        }
        samples.sort((a, b) => a - b);
        console.log(`agent timing, ${action}: fastest ${samples[0]!.toFixed(0)} ms, median ${samples[2]!.toFixed(0)} ms of 5`);
        // The fastest run is the agent's own cost; the others include whatever else the machine (CI, parallel tests) is doing.
        return samples[0]!;
      };
      const meta = await time('meta-data');
      const monitor = await time('monitor');
      expect(meta).toBeLessThan(150);
      expect(monitor).toBeLessThan(150);
    } finally {
      await agent('stop', params);
    }
  });
});

describe('ocf-tester', () => {
  test.each([
    ['plain parameters', {}],
    ['promotable', { CRM_meta_promotable: 'true' }],
    ['promotable with 2 workers', { CRM_meta_promotable: 'true', workers: '2' }],
  ])('passes with %s', async (_name, extra) => {
    const { workers, ...rest } = extra as Record<string, string>;
    let config = configPath;
    if (workers) {
      config = join(dir, 'tester-pool.json');
      writeFileSync(config, JSON.stringify({ internal: [`127.0.0.1:${port}`], workers: Number(workers), rules: OPEN_RULES }));
    }
    const params = { ...fresh(rest), config };
    const args = Object.entries(params).flatMap(([k, v]) => ['-o', `${k}=${v}`]);
    const result = await execa('ocf-tester', ['-n', 'hs-tester', ...args, AGENT], { reject: false, env: { HA_LOGFACILITY: 'none' } });
    expect(result.stdout + result.stderr).toContain(`${AGENT} passed all tests`);
    expect(result.exitCode).toBe(0);
  });
});

test('with "workers": 2 the supervisor answers for all workers: depths 0-20, promote, demote, stop', async () => {
  const pool = join(dir, 'pool.json');
  writeFileSync(pool, JSON.stringify({ internal: [`127.0.0.1:${port}`], workers: 2, rules: OPEN_RULES }));
  const params = fresh({ config: pool, CRM_meta_promotable: 'true', probe_target: `127.0.0.1:${echo.port}` });
  expect((await agent('start', params)).code).toBe(0);
  try {
    for (const depth of ['0', '10', '20']) expect((await agent('monitor', params, { OCF_CHECK_LEVEL: depth })).code).toBe(0);
    expect((await agent('promote', params)).code).toBe(0);
    // Both workers serve once promoted.
    for (let i = 0; i < 6; i++) {
      const client = await RawClient.connect(port);
      client.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, '127.0.0.1', echo.port)]));
      expect((await client.read(12))[3]).toBe(0);
      client.destroy();
    }
    expect((await agent('monitor', params, { OCF_CHECK_LEVEL: '20' })).code).toBe(8);
    expect((await agent('demote', params)).code).toBe(0);
    expect((await agent('monitor', params)).code).toBe(0);
  } finally {
    expect((await agent('stop', params)).code).toBe(0);
  }
});

test('"workers": a supervisor killed with a worker frozen leaves no process behind, and stop returns 0', async () => {
  const pool = join(dir, 'orphans.json');
  writeFileSync(pool, JSON.stringify({ internal: [`127.0.0.1:${port}`], workers: 2, rules: OPEN_RULES }));
  const params = fresh({ config: pool });
  expect((await agent('start', params)).code).toBe(0);
  const supervisor = Number(readFileSync(join(params.state_dir!, 'hasocks.pid'), 'utf8'));
  const workers = childrenOf(supervisor);
  expect(workers).toHaveLength(2);
  try {
    // A frozen worker cannot notice that its supervisor went: only the kernel can end it.
    process.kill(workers[0]!, 'SIGSTOP');
    process.kill(supervisor, 'SIGKILL');
    expect(await eventually(() => ![supervisor, ...workers].some(isAlive), 5000)).toBe(true);
    expect((await agent('monitor', params)).code).toBe(7);
  } finally {
    for (const pid of workers) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    expect((await agent('stop', params)).code).toBe(0);
  }
  await expect(RawClient.connect(port)).rejects.toThrow(/ECONNREFUSED/);
});

describe('validate-all', () => {
  test('level 0: a missing config parameter is ERR_CONFIGURED with a reason', async () => {
    const run = await agent('validate-all', {});
    expect(run.code).toBe(6);
    expect(run.reason).toMatch(/parameter "config" is required/);
  });

  test('level 0: bad parameter values are ERR_CONFIGURED', async () => {
    expect((await agent('validate-all', fresh({ listen_port: 'http' }))).code).toBe(6);
    expect((await agent('validate-all', fresh({ probe_target: 'nocolon' }))).code).toBe(6);
    expect((await agent('validate-all', fresh({ listen_address: '127.0.0.1' }))).reason).toMatch(/together/);
  });

  test('level 0 does not look at the file; level 10 does', async () => {
    const params = fresh({ config: join(dir, 'absent.json') });
    expect((await agent('validate-all', params)).code).toBe(0);
    const deep = await agent('validate-all', params, { OCF_CHECK_LEVEL: '10' });
    expect(deep.code).toBe(2);
    expect(deep.reason).toMatch(/does not exist on this node/);
  });

  test('level 10: an invalid config is ERR_CONFIGURED naming the problem', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ internal: ['127.0.0.1:1'], rules: [{ type: 'socks', action: 'maybe' }] }));
    const run = await agent('validate-all', fresh({ config: bad }), { OCF_CHECK_LEVEL: '10' });
    expect(run.code).toBe(6);
    expect(run.reason).toContain('/rules/0/action: must be one of "pass", "block"');
  });

  test('level 10: a missing user is a problem of this host; a missing addon is ERR_INSTALLED; a busy port is ERR_ARGS', async () => {
    const withUser = join(dir, 'user.json');
    writeFileSync(withUser, JSON.stringify({ internal: [`127.0.0.1:${port}`], user: 'no-such-user-here', rules: OPEN_RULES }));
    expect((await agent('validate-all', fresh({ config: withUser }), { OCF_CHECK_LEVEL: '10' })).code).toBe(2);
    const plain = join(dir, 'plain.json');
    writeFileSync(plain, JSON.stringify({ internal: [`127.0.0.1:${port}`], rules: OPEN_RULES }));
    const noAddon = await agent('validate-all', fresh({ config: plain }), { OCF_CHECK_LEVEL: '10', HASOCKS_NATIVE_ADDON: '/nonexistent.node' });
    expect(noAddon.code).toBe(5);
    expect(noAddon.reason).toMatch(/npm run build:native/);
    const busy = join(dir, 'busy.json');
    writeFileSync(busy, JSON.stringify({ internal: [`127.0.0.1:${echo.port}`], rules: OPEN_RULES }));
    const inUse = await agent('validate-all', fresh({ config: busy }), { OCF_CHECK_LEVEL: '10' });
    expect(inUse.code).toBe(2);
    expect(inUse.reason).toMatch(/already in use/);
  });
});

describe('the state directory: root writes there, so nobody else may', () => {
  test.each([
    ['writable by others', (state: string) => execa('sh', ['-c', `mkdir -m 777 ${state}`]), /writable by others \(mode 777\)/],
    ['owned by another user', (state: string) => execa('sh', ['-c', `mkdir -m 700 ${state} && chown nobody ${state}`]), /belongs to uid \d+, not to uid 0/],
    ['a symbolic link', (state: string) => execa('sh', ['-c', `mkdir -m 700 ${state}.real && ln -s ${state}.real ${state}`]), /is a symbolic link/],
  ])('one %s is refused at start with OCF_ERR_PERM', async (_what, make, reason) => {
    const params = fresh();
    await make(params.state_dir!);
    try {
      const run = await agent('start', params);
      expect(run.code).toBe(4);
      expect(run.reason).toMatch(reason);
      expect(existsSync(join(params.state_dir!, 'hasocks.pid'))).toBe(false);
    } finally {
      expect((await agent('stop', params)).code).toBe(0);
    }
  });

  test('files there are never written through a symbolic link', async () => {
    const params = fresh({ CRM_meta_promotable: 'true' });
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'untouched\n');
    await execa('sh', ['-c', `mkdir -m 700 ${params.state_dir!} && ln -s ${victim} ${params.state_dir!}/daemon.log`]);
    try {
      const run = await agent('start', params);
      expect(run.code).not.toBe(0);
      expect(run.reason).toMatch(/ELOOP/);
      expect(readFileSync(victim, 'utf8')).toBe('untouched\n');
    } finally {
      expect((await agent('stop', params)).code).toBe(0);
    }
  });
});

describe('lifecycle', () => {
  test('a probe on a passive node (no state, no config file) is NOT_RUNNING, never a failure', async () => {
    const run = await agent('monitor', fresh({ config: join(dir, 'not-on-this-node.json'), CRM_meta_interval: '0' }));
    expect(run.code).toBe(7);
  });

  test('start is idempotent, returns only when SOCKS answers, and the daemon outlives the agent', async () => {
    const params = fresh();
    expect((await agent('start', params)).code).toBe(0);
    // The agent process has exited; the proxy serves.
    const client = await RawClient.connect(port);
    client.send([5, 1, 0]);
    expect([...(await client.read(2))]).toEqual([5, 0]);
    client.destroy();
    expect((await agent('start', params)).code).toBe(0);
    expect((await agent('stop', params)).code).toBe(0);
    expect((await agent('stop', params)).code).toBe(0);
    expect((await agent('monitor', params)).code).toBe(7);
  });

  test('monitor depths 0, 10 and 20 check this instance; a failing deep check says why', async () => {
    const params = fresh({ probe_target: `127.0.0.1:${echo.port}` });
    expect((await agent('start', params)).code).toBe(0);
    try {
      for (const depth of ['0', '10', '20']) expect((await agent('monitor', params, { OCF_CHECK_LEVEL: depth })).code).toBe(0);
      const closedPort = await freePort();
      const broken = await agent('monitor', { ...params, probe_target: `127.0.0.1:${closedPort}` }, { OCF_CHECK_LEVEL: '20' });
      expect(broken.code).toBe(1);
      expect(broken.reason).toMatch(/depth 20 check failed: CONNECT to 127\.0\.0\.1:\d+ through the proxy failed with reply 0x05/);
    } finally {
      await agent('stop', params);
    }
  });

  test('promotable: a client of the fresh standby waits for promote (8), a failing promoted check is 9, demote drains and turns clients away', async () => {
    const params = fresh({ CRM_meta_promotable: 'true', probe_target: `127.0.0.1:${echo.port}`, drain_timeout: '1' });
    expect((await agent('start', params)).code).toBe(0);
    try {
      expect((await agent('monitor', params)).code).toBe(0);
      // The VIP starts in parallel with promote: a client that gets in first is held, not served and not reset.
      const early = await RawClient.connect(port);
      early.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, '127.0.0.1', echo.port)]));
      expect(await early.waitForEnd(500)).toBe(false);

      // The launcher promotes without starting Node (it is on the failover's
      // critical path): with no usable node binary, promote still succeeds.
      const promote = await agent('promote', params, { HASOCKS_NODE: '/bin/false' });
      expect(promote.code).toBe(0);
      const reply = await early.read(12);
      expect([reply[1], reply[3]]).toEqual([0x00, 0x00]);
      early.destroy();
      expect((await agent('monitor', params)).code).toBe(8);

      // The recurring depth-0 monitor is answered by the launcher too, without Node. Outside a
      // cluster crm_attribute cannot set the promotion score, so the test writes the file the
      // launcher (like the agent) keeps of the score it last set.
      const recurring = { ...params, CRM_meta_interval: '1000' };
      const scoreFile = join(params.state_dir!, SCORE_FILE);
      writeFileSync(scoreFile, String(PROMOTION_SCORE.promoted));
      expect((await agent('monitor', recurring, { HASOCKS_NODE: '/bin/false' })).code).toBe(8);
      // Degraded is the full agent's to report: the launcher hands it over (here, to no Node: 1).
      expect((await agent('monitor', { ...recurring, degraded_percent: '0' }, { HASOCKS_NODE: '/bin/false' })).code).toBe(1);
      expect((await agent('monitor', { ...recurring, degraded_percent: '0' })).code).toBe(191);
      // A score not yet set goes to crm_attribute, which fails here: the full agent takes over.
      writeFileSync(scoreFile, String(PROMOTION_SCORE.healthy));
      expect((await agent('monitor', recurring, { HASOCKS_NODE: '/bin/false' })).code).toBe(1);
      // Probes and deeper checks always run the full agent.
      writeFileSync(scoreFile, String(PROMOTION_SCORE.promoted));
      expect((await agent('monitor', recurring, { HASOCKS_NODE: '/bin/false', OCF_CHECK_LEVEL: '10' })).code).toBe(1);
      expect((await agent('monitor', params, { HASOCKS_NODE: '/bin/false' })).code).toBe(1);
      const failing = await agent('monitor', { ...params, probe_target: `127.0.0.1:${await freePort()}` }, { OCF_CHECK_LEVEL: '20' });
      expect(failing.code).toBe(9);
      // A shallow check cannot vouch for what the deep one found: the launcher leaves the recurring
      // monitor to the full agent (here, to no Node: 1) until a depth-20 check passes again.
      expect((await agent('monitor', recurring, { HASOCKS_NODE: '/bin/false' })).code).toBe(1);
      expect((await agent('monitor', recurring)).code).toBe(8);
      expect((await agent('monitor', recurring, { HASOCKS_NODE: '/bin/false' })).code).toBe(1);
      expect((await agent('monitor', params, { OCF_CHECK_LEVEL: '20' })).code).toBe(8);
      expect((await agent('monitor', recurring, { HASOCKS_NODE: '/bin/false' })).code).toBe(8);

      const session = await RawClient.connect(port);
      session.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, '127.0.0.1', echo.port)]));
      await session.read(12);
      // demote is the launcher's too (it is on a switchover's critical path), with drain_timeout passed on;
      // a drain_timeout that is not a plain number goes to the full agent (here, to no Node: 1).
      expect((await agent('demote', { ...params, drain_timeout: '1x' }, { HASOCKS_NODE: '/bin/false' })).code).toBe(1);
      expect((await agent('monitor', params)).code).toBe(8);
      expect((await agent('demote', params, { HASOCKS_NODE: '/bin/false' })).code).toBe(0);
      expect((await agent('monitor', params)).code).toBe(0);
      writeFileSync(scoreFile, String(PROMOTION_SCORE.healthy));
      expect((await agent('monitor', recurring, { HASOCKS_NODE: '/bin/false' })).code).toBe(0);
      // After a demote the VIP is leaving: a new client is reset at once, to retry where the VIP goes.
      const late = await RawClient.connect(port);
      expect(await late.waitForEnd(1000)).toBe(true);
      late.destroy();
      // The open session may finish within drain_timeout, then it is closed.
      expect(await session.waitForEnd(4000)).toBe(true);
      session.destroy();
    } finally {
      await agent('stop', params);
    }
  });

  test('vip: promote adds and announces the addresses, demote and stop remove them, monitor checks who holds them', async () => {
    // In a namespace of the test's own, with a veth pair: the addresses go on one end.
    const ns = await createNetns();
    const nic = 'vipnic';
    const addresses = ['10.203.0.100', 'fd00:203::100'];
    const vipConfig = join(dir, 'vip.json');
    writeFileSync(vipConfig, JSON.stringify({ internal: ['10.203.0.100:1080'], freebind: true, rules: OPEN_RULES, logoutput: [join(dir, 'vip-proxy.log')] }));
    chmodSync(vipConfig, 0o644);
    const params = fresh({ config: vipConfig, CRM_meta_promotable: 'true', vip: '10.203.0.100/24 fd00:203::100/64', vip_nic: nic });
    const recurring = { ...params, CRM_meta_interval: '1000' };
    const inNs = (action: string, p: Record<string, string>, env: Record<string, string> = {}) => runAgent(action, p, env, 'hs-test', AGENT, ns.name);
    const held = async (): Promise<string[]> => {
      const shown = (await ns.exec('ip', ['-o', 'addr', 'show', 'dev', nic])).stdout;
      return addresses.filter((a) => shown.includes(` ${a}/`));
    };
    try {
      await ns.exec('ip', ['link', 'add', nic, 'type', 'veth', 'peer', 'name', 'vippeer']);
      for (const link of [nic, 'vippeer']) await ns.exec('ip', ['link', 'set', link, 'up']);
      await ns.exec('ip', ['addr', 'add', '10.203.0.1/24', 'dev', nic]);

      expect((await inNs('start', params)).code).toBe(0);
      expect(await held()).toEqual([]);
      // The launcher does it without Node (on a failover's critical path): the addresses, then the promotion.
      expect((await inNs('promote', params, { HASOCKS_NODE: '/bin/false' })).code).toBe(0);
      expect(await held()).toEqual(addresses);
      writeFileSync(join(params.state_dir!, SCORE_FILE), String(PROMOTION_SCORE.promoted));
      expect((await inNs('monitor', recurring, { HASOCKS_NODE: '/bin/false' })).code).toBe(8);
      // An address gone behind the agent's back: the launcher hands over, and the full agent reports a failed Promoted instance.
      await ns.exec('ip', ['addr', 'del', '10.203.0.100/24', 'dev', nic]);
      expect((await inNs('monitor', recurring, { HASOCKS_NODE: '/bin/false' })).code).toBe(1);
      const failed = await inNs('monitor', recurring);
      expect(failed.code).toBe(9);
      expect(failed.reason).toMatch(/promoted, but 10\.203\.0\.100 is not on vipnic/);
      // promote again puts it back (promote is idempotent).
      expect((await inNs('promote', params)).code).toBe(0);
      expect(await held()).toEqual(addresses);

      expect((await inNs('demote', params, { HASOCKS_NODE: '/bin/false' })).code).toBe(0);
      expect(await held()).toEqual([]);
      expect((await inNs('monitor', params)).code).toBe(0);
      // A standby that holds one is wrong, and Pacemaker's recovery (stop) removes it.
      await ns.exec('ip', ['addr', 'add', 'fd00:203::100/64', 'dev', nic, 'nodad']);
      const stray = await inNs('monitor', params);
      expect(stray.code).toBe(1);
      expect(stray.reason).toMatch(/not promoted, but fd00:203::100 is on vipnic/);
      expect((await inNs('stop', params)).code).toBe(0);
      expect(await held()).toEqual([]);
      // Stopped, with an address left over: a probe reports it, and stop removes it.
      await ns.exec('ip', ['addr', 'add', '10.203.0.100/24', 'dev', nic]);
      const probe = await inNs('monitor', params);
      expect(probe.code).toBe(1);
      expect(probe.reason).toMatch(/no hasocks runs here, but 10\.203\.0\.100 is on vipnic/);
      expect((await inNs('stop', params)).code).toBe(0);
      expect(await held()).toEqual([]);
      expect((await inNs('monitor', params)).code).toBe(7);

      // Parameters: address/prefix entries, and an interface to put them on.
      for (const [bad, why] of [
        [{ vip: '10.203.0.100' }, /vip entries are address\/prefix/],
        [{ vip: '10.203.0.100/33' }, /vip entries are address\/prefix/],
        [{ vip: '-6/24' }, /vip entries are address\/prefix/],
        [{ vip_nic: '-f' }, /vip_nic "-f" is not an interface name/],
        [{ vip_nic: undefined }, /vip needs vip_nic/],
      ] as const) {
        const checked = await inNs('validate-all', Object.fromEntries(Object.entries({ ...params, ...bad }).filter(([, v]) => v !== undefined)) as Record<string, string>);
        expect(checked.code).toBe(6);
        expect(checked.reason).toMatch(why);
      }
      // An interface this node lacks is this node's problem (OCF_ERR_ARGS: not here), found by the environment check.
      expect((await inNs('validate-all', params, { OCF_CHECK_LEVEL: '10' })).code).toBe(0);
      const missing = await inNs('validate-all', { ...params, vip_nic: 'nosuchnic0' }, { OCF_CHECK_LEVEL: '10' });
      expect(missing.code).toBe(2);
      expect(missing.reason).toMatch(/vip_nic nosuchnic0 does not exist on this node/);
    } finally {
      await inNs('stop', params);
      await ns.remove();
    }
  });

  test('promote of a stopped instance goes to the full agent: 7, with an exit reason', async () => {
    const params = fresh({ CRM_meta_promotable: 'true' });
    const result = await agent('promote', params);
    expect(result.code).toBe(7);
    expect(result.reason).toMatch(/cannot promote: hasocks is not running/);
  });

  test('degraded near the session limit: 190, or 191 when promoted', async () => {
    const tight = join(dir, 'tight.json');
    writeFileSync(tight, JSON.stringify({ internal: [`127.0.0.1:${port}`], session: { max: 2 }, rules: OPEN_RULES }));
    const params = fresh({ config: tight, degraded_percent: '50', CRM_meta_promotable: 'true' });
    expect((await agent('start', params)).code).toBe(0);
    try {
      await agent('promote', params);
      const session = await RawClient.connect(port);
      session.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, '127.0.0.1', echo.port)]));
      await session.read(12);
      expect((await agent('monitor', params)).code).toBe(191);
      await agent('demote', { ...params, drain_timeout: '30' });
      expect((await agent('monitor', params)).code).toBe(190);
      session.destroy();
    } finally {
      await agent('stop', params);
    }
  });

  test('stop escalates to SIGKILL for a daemon that does not stop, within the operation timeout', async () => {
    const params = fresh({ drain_timeout: '1' });
    expect((await agent('start', params)).code).toBe(0);
    const pid = Number(readFileSync(join(params.state_dir!, 'hasocks.pid'), 'utf8'));
    process.kill(pid, 'SIGSTOP'); // frozen: ignores the control socket and SIGTERM alike
    const started = Date.now();
    const run = await agent('stop', { ...params, CRM_meta_timeout: '8000' });
    expect(run.reason).toBeUndefined();
    expect(run.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(8000);
    // Gone, or a zombie waiting to be reaped by its new parent.
    const state = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] : 'gone';
    expect(['gone', 'Z', 'X']).toContain(state);
  });

  test('reload applies a good config without dropping sessions, and rejects a bad one keeping the old', async () => {
    const reloadable = join(dir, 'reloadable.json');
    writeFileSync(reloadable, JSON.stringify({ internal: [`127.0.0.1:${port}`], rules: OPEN_RULES }));
    const params = fresh({ config: reloadable });
    expect((await agent('start', params)).code).toBe(0);
    try {
      const session = await RawClient.connect(port);
      session.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, '127.0.0.1', echo.port)]));
      await session.read(12);
      writeFileSync(reloadable, JSON.stringify({ internal: [`127.0.0.1:${port}`], rules: OPEN_RULES, debug: 1 }));
      expect((await agent('reload', params)).code).toBe(0);
      writeFileSync(reloadable, '{ "internal": [');
      const rejected = await agent('reload', params);
      expect(rejected.code).toBe(6);
      expect(rejected.reason).toMatch(/reload rejected, the old config stays in force: .*line 1/);
      session.send(Buffer.from('alive'));
      expect((await session.read(5)).toString()).toBe('alive');

      // reload-agent (Pacemaker, after `pcs resource update socks config=...`): the daemon takes the new file.
      const blocking = join(dir, 'blocking.json');
      writeFileSync(blocking, JSON.stringify({ internal: [`127.0.0.1:${port}`], rules: [{ type: 'socks', action: 'block', to: '0.0.0.0/0' }, ...OPEN_RULES] }));
      expect((await agent('reload-agent', { ...params, config: blocking })).code).toBe(0);
      const blocked = await RawClient.connect(port);
      blocked.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, '127.0.0.1', echo.port)]));
      expect((await blocked.read(12))[3]).toBe(0x02);
      blocked.destroy();
      // A file the daemon rejects: reload-agent still succeeds (failing would make Pacemaker restart into it), the last good config stays.
      const logfile = join(dir, 'reload-agent-daemon.log');
      expect((await agent('reload-agent', { ...params, config: reloadable }, { HA_LOGFILE: logfile })).code).toBe(0);
      expect(readFileSync(logfile, 'utf8')).toMatch(/ERR: the daemon rejected .*reloadable\.json, the old config stays in force/);
      const stillBlocked = await RawClient.connect(port);
      stillBlocked.send(Buffer.concat([Buffer.from([5, 1, 0]), socks5Request(1, '127.0.0.1', echo.port)]));
      expect((await stillBlocked.read(12))[3]).toBe(0x02);
      stillBlocked.destroy();
      session.send(Buffer.from('still'));
      expect((await session.read(5)).toString()).toBe('still');
      session.destroy();
      expect((await agent('monitor', params)).code).toBe(0);
    } finally {
      await agent('stop', params);
    }
  });

  test('notify never fails; an empty list arrives as a single space', async () => {
    const logfile = join(dir, 'ha.log');
    const run = await agent(
      'notify',
      { ...fresh(), CRM_meta_notify_type: 'pre', CRM_meta_notify_operation: 'promote', CRM_meta_notify_promote_uname: ' ', CRM_meta_notify_active_uname: 'node1 node2' },
      { HA_LOGFILE: logfile },
    );
    expect(run.code).toBe(0);
    expect(readFileSync(logfile, 'utf8')).toMatch(/socks\(hs-test\)\[\d+\]: INFO: notify pre-promote: start=\[-\] .*promote=\[-\] .*active=\[node1 node2\]/);
  });

  test('no shell sees parameter values, and clone instance names become safe file names', async () => {
    const marker = join(dir, 'pwned');
    const run = await agent('validate-all', { config: `$(touch ${marker})`, state_dir: join(dir, 'x') }, { OCF_CHECK_LEVEL: '10', OCF_RESOURCE_INSTANCE: 'socks:1' });
    expect(run.code).toBe(2);
    expect(existsSync(marker)).toBe(false);
    // A clone instance's ":" and leading dots (never a hidden name, nor "..") both need rewriting.
    const clone = { OCF_RESOURCE_INSTANCE: '..socks:1', HA_RSCTMP: dir };
    expect((await agent('monitor', { config: configPath }, clone)).code).toBe(7);
    expect((await agent('start', { config: configPath }, clone)).code).toBe(0);
    try {
      expect(existsSync(join(dir, 'hasocks-_socks-1', 'hasocks.pid'))).toBe(true);
      // The launcher's Node-free promote names the state directory the same way (it fails over to Node otherwise, and there is none),
      // also when Pacemaker reaches it through a symbolic link.
      expect((await agent('promote', { config: configPath }, { ...clone, HASOCKS_NODE: '/bin/false' })).code).toBe(0);
      const link = join(dir, 'linked-launcher');
      symlinkSync(AGENT, link);
      expect((await runAgent('promote', { config: configPath }, { ...clone, HASOCKS_NODE: '/bin/false' }, clone.OCF_RESOURCE_INSTANCE, link)).code).toBe(0);
    } finally {
      expect((await agent('stop', { config: configPath }, clone)).code).toBe(0);
    }
  });

  test('reload-agent accepts valid reloadable parameters and rejects bad ones', async () => {
    const logfile = join(dir, 'reload-agent.log');
    const ok = await agent('reload-agent', fresh({ drain_timeout: '5', probe_target: `127.0.0.1:${echo.port}` }), { HA_LOGFILE: logfile });
    expect(ok.code).toBe(0);
    expect(readFileSync(logfile, 'utf8')).toMatch(/agent parameters reloaded: config, drain_timeout, probe_target/);
    const bad = await agent('reload-agent', fresh({ drain_timeout: 'soon' }));
    expect(bad.code).toBe(6);
    expect(bad.reason).toMatch(/drain_timeout/);
  });

  test('a state directory that cannot be created is ERR_PERM', async () => {
    const run = await agent('start', { config: configPath, state_dir: '/proc/hasocks-cannot-be-here' });
    expect(run.code).toBe(4);
    expect(run.reason).toMatch(/cannot create the state directory \/proc\/hasocks-cannot-be-here/);
  });

  test('unknown actions are ERR_UNIMPLEMENTED; trace_ra writes a trace file', async () => {
    expect((await agent('migrate_to', fresh())).code).toBe(3);
    const traceFile = join(dir, 'trace');
    expect((await agent('validate-all', { ...fresh(), trace_ra: '1', trace_file: traceFile })).code).toBe(0);
    expect(readFileSync(traceFile, 'utf8')).toMatch(/validate-all -> 0/);
  });
});

describe("daemon.log, the daemon's stdout and stderr in the state directory (in /run, memory)", () => {
  /**
   * `total` clients, `parallel` at a time, that each connect, send a byte
   * no SOCKS version starts with, and wait for the proxy to hang up: one
   * failed handshake each, which the proxy logs.
   */
  async function failedHandshakes(total: number, parallel: number): Promise<void> {
    let started = 0;
    const one = (): Promise<void> =>
      new Promise((resolve) => {
        const socket = connect({ port, host: '127.0.0.1' });
        socket.on('error', () => undefined);
        socket.on('connect', () => socket.end(Buffer.from('G')));
        socket.on('close', () => resolve());
        socket.resume();
      });
    await Promise.all(Array.from({ length: parallel }, async () => {
      while (started < total) {
        started++;
        await one();
      }
    }));
  }

  /** Bytes the files in `dir` take on their file system. */
  const usage = (dir: string): number => readdirSync(dir).reduce((sum, name) => sum + lstatSync(join(dir, name)).blocks * 512, 0);

  test.each([
    ['one process', {}],
    ['2 workers', { workers: 2 }],
  ])('%s: 10^5 failed handshakes leave the state directory under 2 MiB, and daemon.log holds the latest lines', async (_what, extra) => {
    // The default logoutput, stderr: under the agent, daemon.log.
    const config = join(dir, `stderr-${instance + 1}.json`);
    writeFileSync(config, JSON.stringify({ internal: [`127.0.0.1:${port}`], rules: OPEN_RULES, ...extra }));
    const params = fresh({ config });
    const state = params.state_dir!;
    expect((await agent('start', params)).code).toBe(0);
    try {
      await failedHandshakes(100_000, 32);
      const last = await RawClient.connect(port);
      const lastLine = new RegExp(`127\\.0\\.0\\.1:${last.socket.localPort}: protocol error: unsupported SOCKS version 71`);
      last.send(Buffer.from('G'));
      expect(await last.waitForEnd()).toBe(true);
      last.destroy();
      const log = join(state, 'daemon.log');
      expect(await eventually(() => lastLine.test(readFileSync(log, 'utf8')), 5000)).toBe(true);
      const text = readFileSync(log, 'utf8');
      expect(text).toMatch(/warn: stderr passed \d+ bytes \(HASOCKS_STDIO_MAX_BYTES\): older lines were cut/);
      console.log(`daemon.log after 10^5 failed handshakes (${_what}): ${text.length} bytes; the state directory takes ${usage(state)} bytes`);
      expect(usage(state)).toBeLessThan(2 * 1024 * 1024);
      expect((await agent('monitor', params)).code).toBe(0);
    } finally {
      expect((await agent('stop', params)).code).toBe(0);
    }
  }, 180000);

  test('a daemon that dies at start: start fails with an exit reason that quotes its error', async () => {
    const config = join(dir, 'dies-at-start.json');
    writeFileSync(config, JSON.stringify({ internal: [`127.0.0.1:${port}`], rules: OPEN_RULES, logoutput: [join(dir, 'no-such-directory', 'hasocks.log')] }));
    const params = fresh({ config });
    const run = await agent('start', params);
    expect(run.code).toBe(1);
    expect(run.reason).toMatch(/hasocks exited with code 1 while starting: .*cannot open log output .*no-such-directory\/hasocks\.log: ENOENT/);
    expect((await agent('stop', params)).code).toBe(0);
  });
});
