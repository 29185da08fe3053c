/**
 * `npm run lab -- up [N] [--layout warm|agent-vip|cold|bare]`, `status`, `exec`, `client`, `down`, `stress`:
 * the failover lab of the test suite (test/helpers/failover-lab.ts), standalone,
 * for exploring by hand. `up` starts a keeper process in the background that
 * builds the lab and holds it (the lab's fence device lives in that process);
 * `down` asks the keeper to remove everything it made: nodes, namespaces,
 * processes and files. One lab at a time. `stress` builds its own lab with
 * the fast-failover profile, holds it under load, reports, and removes it.
 *
 * Everything happens inside network namespaces the lab creates; nothing
 * touches this machine's own interfaces.
 */
import { spawn, spawnSync } from 'node:child_process';
import { openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type StressLoad, brokenSessions, falseFailoverSigns, stressCluster } from '../helpers/cluster-stress.js';
import { EXTERNAL_VIP, type Layout, VIP, buildLab } from '../helpers/failover-lab.js';

/** The running lab's record (HASOCKS_LAB_STATE moves it, so a test's lab cannot meet a developer's). */
const STATE = process.env.HASOCKS_LAB_STATE ?? join(tmpdir(), 'hasocks-lab.json');
const KEEPER_LOG = STATE.replace(/\.json$/, '') + '-keeper.log';

interface LabState {
  readonly keeperPid: number;
  readonly dir: string;
  readonly layout: Layout;
  readonly nodes: Array<{ name: string; address: string; initPid: number; netns: string }>;
  readonly client: { netns: string; address: string };
  readonly config: string;
}

function readState(): LabState | undefined {
  try {
    return JSON.parse(readFileSync(STATE, 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function usage(): never {
  console.error(
    [
      'usage: npm run lab -- up [N] [--layout warm|agent-vip|cold|bare]   build an N-node lab (default 2, warm) in the background',
      '       npm run lab -- status                              nodes, addresses and crm_mon',
      '       npm run lab -- exec NODE CMD [ARGS...]             run a command on a node (e.g. exec node1 pcs status)',
      '       npm run lab -- client CMD [ARGS...]                run a command in the client namespace (e.g. a drill)',
      '       npm run lab -- down                                remove the lab and everything it made',
      '       npm run lab -- stress [N] --minutes M [--no-cpu] [--sessions S] [--loss PER_MILLE] [--delay MS] [--jitter MS]',
      '                             [--token MS --consensus MS] [--out FILE]',
      '                                                          an N-node lab (default 2) with the fast-failover profile held under',
      '                                                          load; defaults: every CPU, 32 sessions, 1 per mille, 5 +- 5 ms;',
      '                                                          prints (and writes) a JSON report; exits 1 on a false failover',
    ].join('\n'),
  );
  process.exit(2);
}

/** Runs in the background: build the lab, record it, hold it until SIGTERM or SIGINT, then remove it. */
async function keep(size: number, layout: Layout): Promise<void> {
  const lab = await buildLab(size, layout);
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log(`${new Date().toISOString()} removing the lab`);
    await lab.stop();
    rmSync(STATE, { force: true });
    console.log(`${new Date().toISOString()} lab removed`);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  const state: LabState = {
    keeperPid: process.pid,
    dir: lab.cluster.dir,
    layout,
    nodes: lab.cluster.nodes.map((n) => ({ name: n.name, address: n.address, initPid: n.initPid, netns: n.netns })),
    client: { netns: lab.cluster.client.name, address: lab.cluster.clientAddress },
    config: lab.config,
  };
  writeFileSync(STATE, `${JSON.stringify(state, null, 2)}\n`);
  console.log(`${new Date().toISOString()} lab up: ${state.nodes.map((n) => n.name).join(', ')}`);
  // Hold the lab (and its fence device) until told to stop.
  setInterval(() => undefined, 1 << 30);
}

async function up(args: string[]): Promise<void> {
  const existing = readState();
  if (existing && alive(existing.keeperPid)) {
    console.error(`lab: a lab is already up (keeper pid ${existing.keeperPid}); npm run lab -- down first`);
    process.exit(1);
  }
  rmSync(STATE, { force: true });
  const size = Number(args.find((a) => /^\d+$/.test(a)) ?? 2);
  const layoutIndex = args.indexOf('--layout');
  const layout = (layoutIndex >= 0 ? args[layoutIndex + 1] : 'warm') as Layout;
  if (!(size >= 2 && size <= 5) || !['warm', 'agent-vip', 'cold', 'bare'].includes(layout)) usage();
  const log = openSync(KEEPER_LOG, 'w');
  const keeper = spawn(process.execPath, [fileURLToPath(import.meta.url), 'keep', String(size), layout], { detached: true, stdio: ['ignore', log, log] });
  keeper.unref();
  console.log(`lab: building ${size} nodes, layout ${layout} (keeper pid ${keeper.pid}, log ${KEEPER_LOG})...`);
  const deadline = Date.now() + 180000;
  while (!readState()) {
    if (!alive(keeper.pid!) || Date.now() > deadline) {
      console.error(`lab: the lab did not come up:\n${readFileSync(KEEPER_LOG, 'utf8').split('\n').slice(-30).join('\n')}`);
      if (alive(keeper.pid!)) process.kill(keeper.pid!, 'SIGTERM');
      process.exit(1);
    }
    await sleep(500);
  }
  await status();
}

async function status(): Promise<void> {
  const state = readState();
  if (!state || !alive(state.keeperPid)) {
    console.log('lab: no lab is up');
    return;
  }
  console.log(`lab: layout ${state.layout}, files in ${state.dir}, keeper pid ${state.keeperPid}`);
  for (const node of state.nodes) console.log(`  ${node.name}  ${node.address}  (netns ${node.netns}, PID 1 = ${node.initPid})`);
  console.log(`  client ${state.client.address}  (netns ${state.client.netns}; targets: who-am-i on :7000, echo on :7007, TCP and UDP)`);
  if (state.layout !== 'bare') console.log(`  VIP ${VIP}:1080, external VIP ${EXTERNAL_VIP}; config ${state.config}`);
  const node = state.nodes[0]!;
  const mon = spawnSync('nsenter', ['-t', String(node.initPid), '-m', '-u', '-p', '-n', 'crm_mon', '-1', '-r'], { encoding: 'utf8' });
  console.log(mon.stdout || mon.stderr);
  console.log(
    [
      'try:',
      '  npm run lab -- exec node1 pcs status',
      `  npm run lab -- client node dist/src/hasocks.cjs drill --proxy ${VIP}:1080 --target ${state.client.address}:7007 --udp-target ${state.client.address}:7007 --duration 30`,
      '  npm run lab -- exec node1 pcs node standby node1     (a switchover)',
      '  npm run lab -- down',
    ].join('\n'),
  );
}

function execIn(args: string[], inClient: boolean): void {
  const state = readState();
  if (!state || !alive(state.keeperPid)) {
    console.error('lab: no lab is up; npm run lab -- up');
    process.exit(1);
  }
  let argv: string[];
  if (inClient) argv = ['ip', 'netns', 'exec', state.client.netns, ...args];
  else {
    const node = state.nodes.find((n) => n.name === args[0]);
    if (!node) {
      console.error(`lab: no node "${args[0] ?? ''}"; the nodes are ${state.nodes.map((n) => n.name).join(', ')}`);
      process.exit(2);
    }
    argv = ['nsenter', '-t', String(node.initPid), '-m', '-u', '-p', '-n', ...args.slice(1)];
  }
  if (argv.length === (inClient ? 4 : 7)) usage();
  const result = spawnSync(argv[0]!, argv.slice(1), { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}

async function down(): Promise<void> {
  const state = readState();
  if (!state || !alive(state.keeperPid)) {
    rmSync(STATE, { force: true });
    console.log('lab: no lab is up');
    return;
  }
  process.kill(state.keeperPid, 'SIGTERM');
  const deadline = Date.now() + 120000;
  while (alive(state.keeperPid) && Date.now() < deadline) await sleep(200);
  if (alive(state.keeperPid)) {
    console.error(`lab: the keeper (pid ${state.keeperPid}) did not finish; see ${KEEPER_LOG}`);
    process.exit(1);
  }
  rmSync(KEEPER_LOG, { force: true });
  console.log('lab: removed');
}

/** The value after `flag`, as a number, or `fallback` when the flag is absent. */
function numberFlag(args: string[], flag: string, fallback: number): number {
  const index = args.indexOf(flag);
  if (index < 0) return fallback;
  const value = Number(args[index + 1]);
  if (!Number.isFinite(value) || value < 0) usage();
  return value;
}

/**
 * The 30-minute proof of docs/fast-failover.md: a fresh lab with the fast
 * profile, held under `load`; a false failover (a membership change, a
 * fencing or a scheduled action) or a broken session fails the run.
 */
async function stress(args: string[]): Promise<void> {
  const existing = readState();
  if (existing && alive(existing.keeperPid)) {
    console.error(`lab: a lab is up (keeper pid ${existing.keeperPid}); one lab at a time: npm run lab -- down first`);
    process.exit(1);
  }
  // N comes first, if at all: the flags' values are numbers too.
  const size = args[0] !== undefined && /^\d+$/.test(args[0]) ? Number(args[0]) : 2;
  const minutes = numberFlag(args, '--minutes', NaN);
  if (!(size >= 2 && size <= 5) || !(minutes > 0)) usage();
  const delayMs = numberFlag(args, '--delay', 5);
  const load: StressLoad = {
    cpu: !args.includes('--no-cpu'),
    sessions: numberFlag(args, '--sessions', 32),
    lossPerMille: numberFlag(args, '--loss', 1),
    delay: delayMs > 0 ? { meanMs: delayMs, jitterMs: numberFlag(args, '--jitter', 5) } : undefined,
  };
  // --token T --consensus C: the profile with other timers, to find how far they can go.
  const token = numberFlag(args, '--token', 0);
  const timers = token > 0 ? { token, consensus: numberFlag(args, '--consensus', NaN) } : 'fast';
  if (typeof timers === 'object' && !(timers.consensus > 0)) usage();
  console.log(`lab: building ${size} nodes with the fast-failover profile${typeof timers === 'object' ? ` (token ${timers.token}, consensus ${timers.consensus})` : ''}...`);
  const lab = await buildLab(size, 'warm', timers);
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await lab.stop();
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  process.once('SIGTERM', () => void stop().then(() => process.exit(143)));
  try {
    console.log(`lab: ${minutes} minutes under ${JSON.stringify(load)}, from ${new Date().toISOString()}`);
    const report = await stressCluster(lab.cluster, minutes * 60, load);
    const text = JSON.stringify({ nodes: size, timers, load, finished: new Date().toISOString(), ...report }, null, 2);
    console.log(text);
    const outIndex = args.indexOf('--out');
    if (outIndex >= 0) writeFileSync(args[outIndex + 1] ?? usage(), `${text}\n`);
    const signs = falseFailoverSigns(report);
    const broken = brokenSessions(report);
    const passed = signs.length === 0 && broken === 0;
    console.log(`lab: ${passed ? 'passed' : 'FAILED'}: ${signs.length} false failover signs, ${broken} broken sessions`);
    process.exitCode = passed ? 0 : 1;
  } finally {
    await stop();
  }
}

async function main(): Promise<void> {
  const [command, ...args] = process.argv.slice(2);
  if (process.getuid?.() !== 0 && command !== undefined) {
    console.error('lab: needs root (network namespaces, unshare, Pacemaker)');
    process.exit(1);
  }
  switch (command) {
    case 'up':
      return up(args);
    case 'status':
      return status();
    case 'exec':
      return execIn(args, false);
    case 'client':
      return execIn(args, true);
    case 'down':
      return down();
    case 'stress':
      return stress(args);
    case 'keep':
      return keep(Number(args[0]), args[1] as Layout);
    default:
      usage();
  }
}

main().catch((err: unknown) => {
  console.error(`lab: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
