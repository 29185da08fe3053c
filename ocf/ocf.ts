// The OCF side of the agent: exit codes, parameters, and ocf_log-style
// logging. Kept free of heavy imports: meta-data and a depth-0 monitor must
// run in well under 150 ms, and Pacemaker waits for every call.
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DEFAULT_INSTANCE, INSTANCE_NAME_CHARACTERS } from './launcher-contract.js';

/** OCF exit codes (Resource Agent API 1.1). */
export const OCF = {
  SUCCESS: 0,
  ERR_GENERIC: 1,
  ERR_ARGS: 2,
  ERR_UNIMPLEMENTED: 3,
  ERR_PERM: 4,
  ERR_INSTALLED: 5,
  ERR_CONFIGURED: 6,
  NOT_RUNNING: 7,
  RUNNING_PROMOTED: 8,
  FAILED_PROMOTED: 9,
  DEGRADED: 190,
  DEGRADED_PROMOTED: 191,
} as const;
export type OcfCode = (typeof OCF)[keyof typeof OCF];

/** An action's failure: the exit code and the one-line reason Pacemaker shows. */
export class AgentError extends Error {
  constructor(
    readonly code: OcfCode,
    message: string,
  ) {
    super(message);
  }
}

/** OCF_RESKEY_<name>, or undefined when unset or empty. */
export function param(name: string): string | undefined {
  const value = process.env[`OCF_RESKEY_${name}`];
  return value === undefined || value === '' ? undefined : value;
}

const NOT_IN_INSTANCE_NAME = new RegExp(`[^${INSTANCE_NAME_CHARACTERS}]`, 'g');

/** The resource instance, safe to use in file names: "socks:1" becomes "socks-1". ocf/hasocks does the same in sh. */
export function instanceName(): string {
  const raw = process.env.OCF_RESOURCE_INSTANCE ?? DEFAULT_INSTANCE;
  return raw.replace(NOT_IN_INSTANCE_NAME, '-').replace(/^\.+/, '_') || DEFAULT_INSTANCE;
}

/** Is this call a probe (a monitor with interval 0)? */
export function isProbe(action: string): boolean {
  return action === 'monitor' && (param('CRM_meta_interval') ?? '0') === '0';
}

/** The operation's timeout in ms (Pacemaker passes it), or a fallback. */
export function actionTimeoutMs(fallbackMs: number): number {
  const value = Number(param('CRM_meta_timeout'));
  return Number.isFinite(value) && value > 0 ? value : fallbackMs;
}

type Level = 'err' | 'warning' | 'info' | 'debug';

/**
 * Log like ocf_log: to syslog with the tag "socks(<instance>)[<pid>]" and
 * HA_LOGFACILITY (default daemon; "none" turns syslog off), to HA_LOGFILE if
 * set, and debug lines only with HA_debug=1. Errors and warnings also go to
 * stderr, which Pacemaker keeps with the operation.
 */
export function log(level: Level, message: string): void {
  if (level === 'debug' && process.env.HA_debug !== '1' && !tracing()) return;
  const tag = `socks(${process.env.OCF_RESOURCE_INSTANCE ?? DEFAULT_INSTANCE})`;
  const line = `${tag}[${process.pid}]: ${level.toUpperCase()}: ${message}`;
  if (level === 'err' || level === 'warning') process.stderr.write(`${line}\n`);
  const facility = process.env.HA_LOGFACILITY ?? 'daemon';
  if (facility !== 'none' && facility !== '') {
    spawnSync('logger', ['-t', tag, '--id=' + String(process.pid), '-p', `${facility}.${level}`, '--', message], { stdio: 'ignore', timeout: 1000 });
  }
  const file = process.env.HA_LOGFILE;
  if (file) {
    try {
      appendFileSync(file, `${new Date().toISOString()} ${line}\n`);
    } catch {
      /* a log file we cannot write must not fail the action */
    }
  }
  trace(`${level}: ${message}`);
}

/** Pacemaker shows this line as the reason an action failed. */
export function exitReason(message: string): void {
  process.stderr.write(`ocf-exit-reason:${message}\n`);
}

/** OCF_TRACE_RA=1 or the trace_ra parameter (which pcs adds): trace to trace_file or OCF_TRACE_FILE. */
export function tracing(): boolean {
  return process.env.OCF_TRACE_RA === '1' || param('trace_ra') === '1';
}

export function trace(message: string): void {
  if (!tracing()) return;
  const file = param('trace_file') ?? process.env.OCF_TRACE_FILE ?? `/var/lib/heartbeat/trace_ra/hasocks/${instanceName()}.${process.env.__OCF_ACTION ?? 'action'}.trace`;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
    appendFileSync(file, `${new Date().toISOString()} ${message}\n`);
  } catch {
    /* tracing is best effort */
  }
}
