// ocf:hasocks:socks - the OCF resource agent for hasocks, in the manner of
// Pacemaker's Stateful agent: one function per action and one dispatch.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { CLI_PATH, PACKAGE_ROOT } from '../src/paths.js';
import { openPrivateLog, privateDirectoryProblem, writePrivateFile } from '../src/private-files.js';
import { splitHostPort } from '../src/protocol/address.js';
import { metadata, PARAMETERS } from './metadata.js';
import { AgentError, OCF, type OcfCode, actionTimeoutMs, exitReason, isProbe, log, param, trace } from './ocf.js';
import { PROMOTION_SCORE } from './launcher-contract.js';
import { DAEMON_LOG_MAX_BYTES, files, holdsListener, listeningInodes, runningPid, startTime, stateDir } from './instance.js';
import { STDIO_MAX_BYTES_ENV } from '../src/log/stdio-limit.js';
import { control } from './control-client.js';
import { socksConnect, socksGreeting } from '../src/client/socks-client.js';
import { type ControlReply, type ControlStatus, isDegraded } from '../src/process/control-protocol.js';

const CLI = CLI_PATH;

/** A promotable clone? Pacemaker 2.1 says so through promoted_max (master_max before it), like ocf_is_ms. */
const promotable = (): boolean =>
  param('CRM_meta_promotable') === 'true' || Number(param('CRM_meta_promoted_max') ?? param('CRM_meta_master_max') ?? '0') > 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A parameter, or the default the meta-data advertises for it. */
const paramOrDefault = (name: string): string | undefined => param(name) ?? PARAMETERS.find((p) => p.name === name)?.default;
/** drain_timeout in seconds. */
const drainTimeout = (): number => Number(paramOrDefault('drain_timeout'));

/**
 * The listen address and port this resource answers for: the parameters;
 * else what the running daemon reports (its config file may have changed
 * since); else the config's first "internal".
 */
function listenEndpoint(running?: ControlStatus): { address: string; port: number } {
  const address = param('listen_address');
  const port = param('listen_port');
  if (address && port) return { address, port: Number(port) };
  const reported = running?.listeners[0] && splitHostPort(running.listeners[0]);
  if (reported) return { address: reported.host, port: reported.port };
  const configPath = param('config')!;
  let internal: string | undefined;
  try {
    internal = (JSON.parse(readFileSync(configPath, 'utf8')) as { internal?: string[] }).internal?.[0];
  } catch (err) {
    throw new AgentError(OCF.ERR_CONFIGURED, `cannot read the listen address from ${configPath}: ${(err as Error).message}`);
  }
  const first = internal === undefined ? undefined : splitHostPort(internal);
  if (!first) throw new AgentError(OCF.ERR_CONFIGURED, `${configPath} has no usable "internal" entry`);
  return { address: first.host, port: first.port };
}

/** Parameter checks that need nothing but the parameters (validate-all at level 0, and every action). */
function checkParameters(): void {
  if (!param('config')) throw new AgentError(OCF.ERR_CONFIGURED, 'parameter "config" is required: the path of the hasocks JSON config');
  for (const name of ['listen_port', 'drain_timeout', 'degraded_percent']) {
    const value = param(name);
    if (value !== undefined && !/^\d+$/.test(value)) throw new AgentError(OCF.ERR_CONFIGURED, `parameter "${name}" must be a whole number, not "${value}"`);
  }
  const port = param('listen_port');
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) throw new AgentError(OCF.ERR_CONFIGURED, `listen_port ${port} is outside 1-65535`);
  if ((param('listen_address') === undefined) !== (param('listen_port') === undefined)) {
    throw new AgentError(OCF.ERR_CONFIGURED, 'set listen_address and listen_port together, or neither');
  }
  const target = param('probe_target');
  if (target !== undefined && !/^(\[[^\]]+\]|[^:\s]+):\d{1,5}$/.test(target)) throw new AgentError(OCF.ERR_CONFIGURED, `probe_target must be host:port, not "${target}"`);
  if (param('probe_user') !== undefined && param('probe_password') === undefined) throw new AgentError(OCF.ERR_CONFIGURED, 'probe_user needs probe_password');
  checkVipParameters();
}

/** vip and vip_nic; stop checks them alone, since it must work whatever else is wrong. */
function checkVipParameters(): void {
  for (const vip of vips()) {
    const [address = '', prefix = '', extra] = vip.split('/');
    const family = isIP(address);
    if (family === 0 || extra !== undefined || !/^\d{1,3}$/.test(prefix) || Number(prefix) < 1 || Number(prefix) > (family === 4 ? 32 : 128)) {
      throw new AgentError(OCF.ERR_CONFIGURED, `vip entries are address/prefix (e.g. 192.0.2.100/24), not "${vip}"`);
    }
  }
  const nic = param('vip_nic');
  if (vips().length > 0 && nic === undefined) throw new AgentError(OCF.ERR_CONFIGURED, 'vip needs vip_nic: the interface the addresses go on');
  if (nic !== undefined && vips().length === 0) throw new AgentError(OCF.ERR_CONFIGURED, 'vip_nic is set but vip is empty');
  if (nic !== undefined && !/^[A-Za-z0-9_.:][A-Za-z0-9_.:-]{0,14}$/.test(nic)) throw new AgentError(OCF.ERR_CONFIGURED, `vip_nic "${nic}" is not an interface name`);
}

/** The vip parameter's entries (address/prefix); none without it. */
const vips = (): string[] => (param('vip') ?? '').split(/\s+/).filter(Boolean);

/**
 * Run ocf/vip.sh, the one definition of how the vip addresses are added,
 * removed and checked (the launcher sources the same file): the addresses
 * it prints, for held and absent. Only after checkParameters.
 */
function vipScript(action: 'add' | 'del' | 'held' | 'absent', dir: string): string[] {
  const result = spawnSync('sh', [join(PACKAGE_ROOT, 'ocf', 'vip.sh'), action, vips().join(' '), param('vip_nic')!, dir], { encoding: 'utf8', timeout: 5000 });
  if (result.status !== 0) {
    const why = (result.stderr || result.error?.message || `exit ${result.status}`).trim().replace(/\s*\n\s*/g, '; ');
    throw new AgentError(OCF.ERR_GENERIC, `cannot ${action === 'add' ? 'add' : action === 'del' ? 'remove' : 'check'} the vip addresses on ${param('vip_nic')}: ${why}`);
  }
  return result.stdout.split('\n').filter(Boolean);
}

/** "192.0.2.100 is on eth0" / "192.0.2.100, 192.0.2.101 are not on eth0", for exit reasons. */
const onNic = (addresses: readonly string[], not = ''): string => `${addresses.join(', ')} ${addresses.length > 1 ? 'are' : 'is'} ${not}on ${param('vip_nic')}`;

/** validate-all at OCF_CHECK_LEVEL=10: the environment of this host. */
async function checkEnvironment(): Promise<void> {
  const configPath = param('config')!;
  if (!existsSync(CLI)) throw new AgentError(OCF.ERR_INSTALLED, `hasocks is not built: ${CLI} is missing (run npm ci in ${PACKAGE_ROOT})`);
  if (!existsSync(configPath)) throw new AgentError(OCF.ERR_ARGS, `config file ${configPath} does not exist on this node`);
  const { loadConfigFile, ConfigError } = await import('../src/config/load.js');
  let config;
  try {
    config = await loadConfigFile(configPath);
  } catch (err) {
    if (err instanceof ConfigError && err.problems.some((p) => p.startsWith('cannot read: permission'))) throw new AgentError(OCF.ERR_PERM, err.message.replace(/\n/g, ' '));
    throw new AgentError(OCF.ERR_CONFIGURED, (err as Error).message.replace(/\n\s*/g, ' '));
  }
  if (config.user) {
    const { lookupUser } = await import('../src/process/privileges.js');
    try {
      lookupUser(config.user);
    } catch (err) {
      throw new AgentError(OCF.ERR_ARGS, (err as Error).message);
    }
  }
  // The daemon serves through the addon: one that does not load is a node that cannot run the service.
  const { dataPath } = await import('../src/sockets/data-path.js');
  try {
    dataPath();
  } catch (err) {
    throw new AgentError(OCF.ERR_INSTALLED, (err as Error).message);
  }
  // The VIP's interface is this node's own: a missing one makes this node unfit, not the configuration wrong everywhere.
  const nic = param('vip_nic');
  if (nic !== undefined && spawnSync('ip', ['link', 'show', 'dev', nic], { stdio: 'ignore', timeout: 5000 }).status !== 0) {
    throw new AgentError(OCF.ERR_ARGS, `vip_nic ${nic} does not exist on this node`);
  }
  const { address, port } = listenEndpoint();
  if (!config.internal.some((l) => l.host === address && l.port === port)) {
    throw new AgentError(OCF.ERR_CONFIGURED, `listen_address ${address}:${port} is not one of the config's "internal" entries`);
  }
  if (runningPid(stateDir()) === undefined) {
    for (const l of config.internal) {
      if (listeningInodes(l.host === '::' ? '::' : l.host, l.port).length > 0) throw new AgentError(OCF.ERR_ARGS, `${l.text} is already in use by another process on this node`);
    }
  }
}

/** Set (or drop) this node's promotion score. Outside a cluster (ocf-tester) this can only warn. */
function setPromotionScore(dir: string, score: number | undefined): void {
  if (!promotable()) return;
  const file = files.score(dir);
  const last = existsSync(file) ? readFileSync(file, 'utf8') : '';
  if (last === String(score ?? '')) return;
  const args = score === undefined ? ['--promotion', '-D'] : ['--promotion', '-v', String(score)];
  const result = spawnSync('crm_attribute', args, { encoding: 'utf8', timeout: 5000 });
  if (result.status !== 0) {
    log('warning', `cannot set the promotion score (crm_attribute ${args.join(' ')}): ${(result.stderr || result.error?.message || '').trim()}`);
    return;
  }
  // The file only remembers the last score; it lives in the state directory only when that is root's own.
  if (privateDirectoryProblem(dir) !== undefined) return;
  if (score === undefined) rmSync(file, { force: true });
  else writePrivateFile(file, String(score));
}

/** The depth of the last deep check that failed, if no check as deep has passed since (DEEP_FAILURE_FILE). */
function deepFailure(dir: string): number | undefined {
  if (privateDirectoryProblem(dir) !== undefined) return undefined;
  try {
    const depth = Number(readFileSync(files.deepFailure(dir), 'utf8'));
    return Number.isInteger(depth) && depth > 0 ? depth : undefined;
  } catch {
    return undefined;
  }
}

/** Remember a failed deep check's depth, or forget it (undefined); only in a state directory of root's own. */
function recordDeepFailure(dir: string, depth: number | undefined): void {
  if (privateDirectoryProblem(dir) !== undefined) return;
  if (depth === undefined || depth === 0) rmSync(files.deepFailure(dir), { force: true });
  else writePrivateFile(files.deepFailure(dir), String(depth));
}

/** crm_attribute's exit code for an attribute that is not there (CRM_EX_NOSUCH). */
const NO_SUCH_ATTRIBUTE = 105;

/**
 * On a probe that finds this instance running: make sure the CIB, not only
 * pacemaker-attrd, holds this node's promotion score. When a node's
 * pacemaker-controld dies (pacemakerd respawns it), the DC deletes the node's
 * transient attributes from the CIB, while attrd keeps them and writes a
 * value again only when it changes. A node without a promotion score cannot
 * stay Promoted, so the scheduler moved a healthy Promoted instance to the
 * standby as soon as the rejoined controller's probes came back
 * (docs/cluster.md, Double faults). The DC probes every resource of a node
 * whose controller rejoins, so the probe puts the score back before it
 * reports, and the scheduler sees it.
 */
function restorePromotionScore(dir: string, score: number): void {
  if (!promotable()) return;
  const inCib = spawnSync('crm_attribute', ['--promotion', '-G', '-q'], { encoding: 'utf8', timeout: 5000 });
  // Outside a cluster (ocf-tester) the query fails otherwise: nothing to restore.
  if (inCib.status === 0 ? inCib.stdout.trim() === String(score) : inCib.status !== NO_SUCH_ATTRIBUTE) return;
  // Tell attrd the score even if this node remembers having set it, then have attrd write what it holds.
  rmSync(files.score(dir), { force: true });
  setPromotionScore(dir, score);
  const refresh = spawnSync('attrd_updater', ['--refresh'], { encoding: 'utf8', timeout: 5000 });
  if (refresh.status === 0) log('info', `promotion score ${score} was missing from the CIB: restored`);
  else log('warning', `cannot restore the promotion score in the CIB (attrd_updater --refresh): ${(refresh.stderr || refresh.error?.message || '').trim()}`);
}

async function status(dir: string, timeoutMs = 2000): Promise<ControlStatus> {
  const answer = await control(files.control(dir), { cmd: 'status' }, timeoutMs);
  if (!answer.ok || !answer.status) throw new Error(answer.ok ? 'no status' : answer.error);
  return answer.status;
}

// ----- actions -----------------------------------------------------------

function actionMetaData(): OcfCode {
  const version = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  process.stdout.write(metadata(version));
  return OCF.SUCCESS;
}

async function actionValidateAll(): Promise<OcfCode> {
  checkParameters();
  if (process.env.OCF_CHECK_LEVEL === '10') await checkEnvironment();
  return OCF.SUCCESS;
}

async function actionMonitor(action: string): Promise<OcfCode> {
  const dir = stateDir();
  const pid = runningPid(dir);
  if (pid === undefined) {
    // No process of ours: certainly stopped. A probe on a passive node, where
    // even the config may be missing, ends here without touching anything else.
    if (isProbe(action) && vips().length === 0) return OCF.NOT_RUNNING;
    checkParameters();
    // Addresses of ours with no proxy behind them: Pacemaker's recovery (a stop) removes them.
    const stray = vips().length > 0 ? vipScript('held', dir) : [];
    if (stray.length > 0) throw new AgentError(OCF.ERR_GENERIC, `no hasocks runs here, but ${onNic(stray)}`);
    if (isProbe(action)) return OCF.NOT_RUNNING;
    // A recurring monitor that finds the daemon gone reports a failure that
    // Pacemaker is about to recover. Dropping the score now lets the change
    // reach the scheduler with the failure. Dropped by the recovery's stop
    // instead, it aborted the recovery's transition half-way, and the promote
    // on the other node, which waits for that stop, waited for a new one.
    setPromotionScore(dir, undefined);
    return OCF.NOT_RUNNING;
  }
  checkParameters();
  let current: ControlStatus;
  try {
    current = await status(dir);
  } catch (err) {
    throw new AgentError(OCF.ERR_GENERIC, `hasocks (pid ${pid}) does not answer on its control socket: ${(err as Error).message}`);
  }
  const promoted = current.role === 'promoted';
  const { address, port } = listenEndpoint(current);
  if (!holdsListener(pid, address, port)) {
    throw new AgentError(promoted ? OCF.FAILED_PROMOTED : OCF.ERR_GENERIC, `hasocks (pid ${pid}) holds no listener on ${address}:${port}`);
  }
  if (vips().length > 0) {
    // The Promoted instance holds every address, a standby none.
    const wrong = vipScript(promoted ? 'absent' : 'held', dir);
    if (wrong.length > 0 && promoted) throw new AgentError(OCF.FAILED_PROMOTED, `promoted, but ${onNic(wrong, 'not ')}`);
    if (wrong.length > 0) throw new AgentError(OCF.ERR_GENERIC, `not promoted, but ${onNic(wrong)}`);
  }
  const depth = Number(process.env.OCF_CHECK_LEVEL ?? '0');
  const failedDepth = deepFailure(dir);
  try {
    if (depth >= 10) await socksGreeting({ path: files.probe(dir) }, 3000);
    const target = param('probe_target');
    if (depth >= 20 && target) {
      const { host, port: targetPort } = splitHostPort(target)!;
      const user = param('probe_user');
      const credentials = user === undefined ? undefined : { user, password: param('probe_password') ?? '' };
      await socksConnect({ path: files.probe(dir) }, host, targetPort, credentials, actionTimeoutMs(20000) / 2);
    }
  } catch (err) {
    setPromotionScore(dir, PROMOTION_SCORE.unhealthy);
    recordDeepFailure(dir, Math.max(depth, failedDepth ?? 0));
    throw new AgentError(promoted ? OCF.FAILED_PROMOTED : OCF.ERR_GENERIC, `depth ${depth} check failed: ${(err as Error).message}`);
  }
  // A shallower check cannot vouch for what a failed deeper one found: the score stays unhealthy until a check that deep passes.
  const stillFailed = failedDepth !== undefined && depth < failedDepth;
  if (failedDepth !== undefined && !stillFailed) recordDeepFailure(dir, undefined);
  const score = stillFailed ? PROMOTION_SCORE.unhealthy : promoted ? PROMOTION_SCORE.promoted : PROMOTION_SCORE.healthy;
  if (isProbe(action)) restorePromotionScore(dir, score);
  else setPromotionScore(dir, score);
  if (isDegraded(current, Number(paramOrDefault('degraded_percent')))) {
    log('warning', `degraded: ${current.sessions}/${current.sessionMax} sessions, ${current.openFiles}/${current.fileLimit} open files`);
    return promoted ? OCF.DEGRADED_PROMOTED : OCF.DEGRADED;
  }
  return promoted ? OCF.RUNNING_PROMOTED : OCF.SUCCESS;
}

async function actionStart(): Promise<OcfCode> {
  checkParameters();
  const dir = stateDir();
  if (runningPid(dir) !== undefined) {
    log('info', 'already running');
    return OCF.SUCCESS;
  }
  await checkEnvironment();
  // An instance starts unpromoted: addresses left from an earlier life go (a probe reported them).
  const left = vips().length > 0 ? vipScript('del', dir) : [];
  if (left.length > 0) log('warning', `removed ${left.join(', ')} from ${param('vip_nic')}: an instance starts unpromoted`);
  try {
    // Not recursive for the directory itself: Node's recursive mkdir spins on some pseudo file systems.
    if (!existsSync(dirname(dir))) mkdirSync(dirname(dir), { recursive: true, mode: 0o755 });
    if (!existsSync(dir)) mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    throw new AgentError(OCF.ERR_PERM, `cannot create the state directory ${dir}: ${(err as Error).message}`);
  }
  // Made now or found: either way it must be root's alone, since root writes files in it.
  const unsafe = privateDirectoryProblem(dir);
  if (unsafe) throw new AgentError(OCF.ERR_PERM, `refusing the state directory: ${unsafe}`);
  for (const file of [files.pid(dir), files.identity(dir), files.score(dir), files.deepFailure(dir)]) rmSync(file, { force: true });
  const logFd = openPrivateLog(files.log(dir));
  const args = [CLI, 'serve', '--config', param('config')!, '--pidfile', files.pid(dir), '--control-dir', dir, ...(promotable() ? ['--role', 'unpromoted'] : [])];
  trace(`start: ${process.execPath} ${args.join(' ')}`);
  // Detached: the daemon outlives this process and leads its own process group.
  // The daemon needs none of the OCF_* variables of this one action; it keeps daemon.log bounded.
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('OCF_') && !key.startsWith('__OCF'))),
    [STDIO_MAX_BYTES_ENV]: String(DAEMON_LOG_MAX_BYTES),
  };
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', logFd, logFd], env });
  child.unref();
  closeSync(logFd);
  let exited: number | null = null;
  child.on('exit', (code) => (exited = code ?? 1));

  const deadline = Date.now() + actionTimeoutMs(30000) - 2000;
  while (Date.now() < deadline) {
    if (exited !== null) {
      const tail = readFileSync(files.log(dir), 'utf8').trim().split('\n').slice(-3).join(' | ');
      throw new AgentError(OCF.ERR_GENERIC, `hasocks exited with code ${exited} while starting: ${tail}`);
    }
    if (existsSync(files.pid(dir)) && existsSync(files.probe(dir))) {
      const pid = Number(readFileSync(files.pid(dir), 'utf8'));
      const start = startTime(pid);
      if (start !== undefined) {
        writePrivateFile(files.identity(dir), `${pid} ${start}\n`);
        try {
          await socksGreeting({ path: files.probe(dir) }, 1000);
          log('info', `started hasocks pid ${pid}${promotable() ? ' (unpromoted, warm standby)' : ''}`);
          setPromotionScore(dir, PROMOTION_SCORE.healthy);
          return OCF.SUCCESS;
        } catch {
          /* not answering yet */
        }
      }
    }
    await sleep(25);
  }
  throw new AgentError(OCF.ERR_GENERIC, 'hasocks did not answer a SOCKS5 greeting within the start timeout');
}

async function actionStop(): Promise<OcfCode> {
  const dir = stateDir();
  // First of all, the addresses go: whatever happens below, this node must not keep answering for them.
  if (vips().length > 0) {
    checkVipParameters();
    vipScript('del', dir);
  }
  const pid = runningPid(dir);
  // Everything below fits in the operation's timeout: drain, then SIGTERM, then SIGKILL.
  const deadline = Date.now() + actionTimeoutMs(40000) - 1000;
  const running = pid === undefined ? undefined : await status(dir, 1000).catch(() => undefined);
  const endpoint = (() => {
    try {
      return listenEndpoint(running);
    } catch {
      return undefined;
    }
  })();
  if (pid !== undefined) {
    // A demoted clone instance stops without draining: the VIP has gone or is
    // going, and its sessions with it, while Pacemaker holds the promote of
    // another instance until this stop is done.
    const drainSeconds = running?.role === 'unpromoted' ? 0 : drainTimeout();
    const drainMs = Math.max(0, Math.min(drainSeconds * 1000, deadline - Date.now() - 5000));
    const goneBy = async (until: number): Promise<boolean> => {
      while (Date.now() < until) {
        if (startTime(pid) === undefined) return true;
        await sleep(20);
      }
      return startTime(pid) === undefined;
    };
    try {
      if (!running) throw new Error('no status');
      await control(files.control(dir), { cmd: 'shutdown', drain: drainMs / 1000 }, 1000);
    } catch {
      killGroup(pid, 'SIGTERM');
    }
    if (!(await goneBy(Math.min(Date.now() + drainMs + 1500, deadline - 2500)))) {
      log('warning', `hasocks pid ${pid} still running after the drain; SIGTERM`);
      killGroup(pid, 'SIGTERM');
      if (!(await goneBy(deadline - 1000))) {
        log('warning', `hasocks pid ${pid} ignored SIGTERM; SIGKILL`);
        killGroup(pid, 'SIGKILL');
        await goneBy(deadline);
      }
    }
    if (startTime(pid) !== undefined) throw new AgentError(OCF.ERR_GENERIC, `hasocks pid ${pid} is still running after SIGKILL`);
  }
  // A killed multi-threaded process is a zombie before its last thread has
  // closed its files, so give its listener until the deadline to go.
  while (endpoint && listeningInodes(endpoint.address, endpoint.port).length > 0 && Date.now() < deadline) await sleep(20);
  if (endpoint && listeningInodes(endpoint.address, endpoint.port).length > 0) {
    // A worker that outlived its supervisor would still hold the port.
    throw new AgentError(OCF.ERR_GENERIC, `something still listens on ${endpoint.address}:${endpoint.port} after stop`);
  }
  setPromotionScore(dir, undefined);
  // Nothing of ours can be in a directory others may write (runningPid): leave its files alone.
  if (privateDirectoryProblem(dir) === undefined) {
    for (const file of [files.pid(dir), files.identity(dir), files.control(dir), files.probe(dir), files.deepFailure(dir)]) rmSync(file, { force: true });
  }
  if (pid !== undefined) log('info', `stopped hasocks pid ${pid}`);
  return OCF.SUCCESS;
}

/** Signal the daemon's whole process group (supervisor and workers); fall back to the pid. */
function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

async function roleChange(cmd: 'promote' | 'demote'): Promise<OcfCode> {
  checkParameters();
  const dir = stateDir();
  if (runningPid(dir) === undefined) {
    // A stopped instance is certainly not promoted: demote (part of Pacemaker's recovery after a crash) has nothing to do.
    if (cmd === 'demote') {
      if (vips().length > 0) vipScript('del', dir);
      log('info', 'demote: not running, so not promoted');
      return OCF.SUCCESS;
    }
    throw new AgentError(OCF.NOT_RUNNING, 'cannot promote: hasocks is not running');
  }
  // The addresses come before the promotion (a client that arrives first is held, not refused), and
  // go after the demotion (the daemon ends its UDP associations while their clients can still be told).
  if (cmd === 'promote' && vips().length > 0) vipScript('add', dir);
  const request = cmd === 'demote' ? { cmd, drain: drainTimeout() } : { cmd };
  const answer = await control(files.control(dir), request).catch((err: Error) => ({ ok: false as const, error: err.message }));
  if (!answer.ok) throw new AgentError(OCF.ERR_GENERIC, `${cmd} failed: ${answer.error}`);
  if (cmd === 'demote' && vips().length > 0) vipScript('del', dir);
  log('info', cmd === 'promote' ? 'promoted: serving' : 'demoted: warm standby, open sessions draining');
  return OCF.SUCCESS;
}

function actionNotify(): OcfCode {
  // Never fails. An empty list arrives as a single space.
  const list = (name: string): string => (param(`CRM_meta_notify_${name}_uname`) ?? '').trim() || '-';
  log(
    'info',
    `notify ${param('CRM_meta_notify_type') ?? '?'}-${param('CRM_meta_notify_operation') ?? '?'}: ` +
      ['start', 'stop', 'promote', 'demote', 'active', 'promoted', 'unpromoted'].map((n) => `${n}=[${list(n)}]`).join(' '),
  );
  return OCF.SUCCESS;
}

/** Ask the running daemon to re-read its config, from the file the "config" parameter names now. */
function reloadDaemon(dir: string): Promise<ControlReply> {
  return control(files.control(dir), { cmd: 'reload', config: param('config')! }, actionTimeoutMs(10000) - 1000);
}

async function actionReload(): Promise<OcfCode> {
  checkParameters();
  const dir = stateDir();
  if (runningPid(dir) === undefined) return OCF.NOT_RUNNING;
  const answer = await reloadDaemon(dir);
  if (!answer.ok) throw new AgentError(OCF.ERR_CONFIGURED, `reload rejected, the old config stays in force: ${answer.error.replace(/\n\s*/g, ' ')}`);
  log('info', `reloaded ${param('config')}`);
  return OCF.SUCCESS;
}

async function actionReloadAgent(): Promise<OcfCode> {
  // Every reloadable parameter is read afresh by each action; "config" is
  // also the daemon's, so the daemon re-reads it (a new path or an edited file).
  checkParameters();
  log('info', `agent parameters reloaded: ${PARAMETERS.filter((p) => p.reloadable && param(p.name) !== undefined).map((p) => p.name).join(', ') || 'none set'}`);
  const dir = stateDir();
  if (runningPid(dir) === undefined) return OCF.SUCCESS;
  const answer = await reloadDaemon(dir);
  // Failing here would make Pacemaker restart the instance with the file it
  // cannot load, and stop the service everywhere: keep serving on the old config.
  if (!answer.ok) log('err', `the daemon rejected ${param('config')}, the old config stays in force: ${answer.error.replace(/\n\s*/g, ' ')}`);
  else log('info', `daemon reloaded ${param('config')}`);
  return OCF.SUCCESS;
}

function usage(): string {
  return 'usage: socks {start|stop|monitor|promote|demote|notify|reload|reload-agent|validate-all|meta-data}';
}

/** The single dispatch: one action in, one OCF exit code out. */
export async function dispatch(action: string | undefined): Promise<OcfCode> {
  process.env.__OCF_ACTION = action ?? '';
  switch (action) {
    case 'meta-data':
      return actionMetaData();
    case 'validate-all':
      return actionValidateAll();
    case 'start':
      return actionStart();
    case 'stop':
      return actionStop();
    case 'monitor':
    case 'status':
      return actionMonitor(action);
    case 'promote':
      return roleChange('promote');
    case 'demote':
      return roleChange('demote');
    case 'notify':
      return actionNotify();
    case 'reload':
      return actionReload();
    case 'reload-agent':
      return actionReloadAgent();
    case 'usage':
    case 'help':
      process.stdout.write(`${usage()}\n`);
      return OCF.SUCCESS;
    default:
      process.stderr.write(`${usage()}\n`);
      exitReason(`action "${action ?? ''}" is not implemented`);
      return OCF.ERR_UNIMPLEMENTED;
  }
}

async function main(): Promise<void> {
  const action = process.argv[2];
  let code: OcfCode;
  try {
    code = await dispatch(action);
  } catch (err) {
    const failure = err instanceof AgentError ? err : new AgentError(OCF.ERR_GENERIC, (err as Error).message);
    log('err', `${action}: ${failure.message}`);
    exitReason(failure.message);
    code = failure.code;
  }
  trace(`${action} -> ${code}`);
  process.exit(code);
}

await main();
