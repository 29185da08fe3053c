// The OCF agent run the way Pacemaker runs it (as test/ocf-agent.test.ts
// does): a fresh process per action, OCF_RESKEY_* parameters, an exit code
// and an ocf-exit-reason. Plus a way to make sure a daemon it started is
// gone after a test, whatever the test did to it.
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './proxy.js';

export const AGENT = join(REPO, 'ocf', 'hasocks');

/** OCF exit codes the tests name. */
export const OCF_CODE = { SUCCESS: 0, ERR_GENERIC: 1, NOT_RUNNING: 7, RUNNING_PROMOTED: 8, FAILED_PROMOTED: 9, DEGRADED: 190, DEGRADED_PROMOTED: 191 } as const;

export interface AgentRun {
  code: number;
  stdout: string;
  stderr: string;
  reason: string | undefined;
}

/**
 * One agent action with OCF_RESKEY_* parameters and extra environment (which
 * the daemon it starts inherits), run through `launcher` (ocf/hasocks, or a
 * path that leads to it), inside network namespace `netns` if given.
 */
export async function runAgent(action: string, params: Record<string, string> = {}, env: Record<string, string> = {}, instance = 'hs-test', launcher = AGENT, netns?: string): Promise<AgentRun> {
  const environment: Record<string, string> = {
    OCF_ROOT: '/usr/lib/ocf',
    OCF_RESOURCE_INSTANCE: instance,
    HA_LOGFACILITY: 'none',
    ...Object.fromEntries(Object.entries(params).map(([k, v]) => [`OCF_RESKEY_${k}`, v])),
    ...env,
  };
  const [command, args] = netns === undefined ? [launcher, [action]] : ['ip', ['netns', 'exec', netns, launcher, action]];
  const result = await execa(command, args, { env: environment, reject: false, timeout: 60000 });
  const reason = /^ocf-exit-reason:(.*)$/m.exec(String(result.stderr))?.[1];
  return { code: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr), reason };
}

/**
 * The daemon the agent started from `stateDir`, if that process still runs:
 * its pid file names it, and its command line must name `configPath`, so a
 * reused pid is never taken for it.
 */
export function daemonPid(stateDir: string, configPath: string): number | undefined {
  const pidFile = join(stateDir, 'hasocks.pid');
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmdline.includes(configPath) ? pid : undefined;
  } catch {
    return undefined;
  }
}
