import { createWriteStream } from 'node:fs';
import winston from 'winston';
import { openPrivateLog } from '../private-files.js';
import { SyslogTransport, parseSyslogOutput } from './syslog-transport.js';

export type Logger = winston.Logger;

const ALL_LEVELS = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'];

/**
 * A log file, opened as root before any privilege drop and never through a
 * symbolic link: the directory may be writable by the user the proxy runs
 * as, who could otherwise point root's appends, client bytes in them, at
 * any file.
 */
function fileTransport(path: string): winston.transport {
  const stream = createWriteStream(path, { fd: openPrivateLog(path, 0o640) });
  stream.on('error', () => undefined);
  const transport = new winston.transports.Stream({ stream });
  transport.close = () => stream.end();
  return transport;
}

function transportFor(output: string): winston.transport {
  if (output === 'stderr') return new winston.transports.Console({ stderrLevels: ALL_LEVELS });
  if (output === 'stdout') return new winston.transports.Console({ stderrLevels: [] });
  if (output.startsWith('syslog')) return new SyslogTransport(parseSyslogOutput(output));
  return fileTransport(output);
}

/** Which `logoutput` entry each open output stands for, so a reload can keep one it cannot reopen. */
const entryOf = new WeakMap<winston.transport, string>();

/**
 * The outputs for a set of `logoutput` entries, opened now. An entry that
 * cannot be opened throws (naming it), unless `current` (the outputs in use)
 * has it open already: then that one is kept, and `kept` says why, since
 * after a privilege drop a root-owned file may no longer be reopened.
 */
export function openOutputs(outputs: readonly string[], current: readonly winston.transport[] = []): { transports: winston.transport[]; kept: string[] } {
  const opened: winston.transport[] = [];
  const kept: string[] = [];
  for (const output of outputs) {
    try {
      const transport = transportFor(output);
      entryOf.set(transport, output);
      opened.push(transport);
    } catch (err) {
      const open = current.find((transport) => entryOf.get(transport) === output);
      if (open) {
        opened.push(open);
        kept.push(`${output} stays open as it was: ${(err as Error).message}`);
        continue;
      }
      for (const transport of opened) if (!current.includes(transport)) transport.close?.();
      throw new Error(`cannot open log output ${output}: ${(err as Error).message}`);
    }
  }
  return { transports: opened, kept };
}

/** Characters that could forge or hide a log line: C0 and C1 controls, DEL, and Unicode's line and paragraph separators. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * `text` with every control character written as \xHH (or \uHHHH). Log
 * lines carry what clients sent (user names, host names), and a newline
 * in one would start a forged line of the client's choosing.
 */
export function escapeControlCharacters(text: string): string {
  return text.replace(CONTROL_CHARACTERS, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** Applied before any output sees a message, the syslog transport included. */
const escapeMessage = winston.format((info) => {
  info.message = escapeControlCharacters(String(info.message));
  return info;
});

/** The logger for a set of Dante-style `logoutput` entries and a `debug` level. */
export function createLogger(outputs: readonly string[], debug: 0 | 1 | 2, label?: string): Logger {
  const prefix = label ? `[${label}] ` : '';
  return skipDisabledLevels(winston.createLogger({
    level: debug >= 2 ? 'silly' : debug === 1 ? 'debug' : 'info',
    format: winston.format.combine(
      escapeMessage(),
      winston.format.timestamp(),
      winston.format.printf((info) => `${String(info.timestamp)} ${info.level}: ${prefix}${String(info.message)}`),
    ),
    transports: openOutputs(outputs).transports,
  }));
}

/**
 * winston formats every message, timestamp included, before its transports
 * drop the levels they do not want: per session that was a few percent of
 * the proxy's CPU spent on debug lines nobody reads. Check the level first.
 */
function skipDisabledLevels(logger: Logger): Logger {
  for (const level of ALL_LEVELS) {
    const log = (logger as unknown as Record<string, (message: string) => Logger>)[level]!.bind(logger);
    Object.defineProperty(logger, level, { value: (message: string) => (logger.isLevelEnabled(level) ? log(message) : logger) });
  }
  return logger;
}

/**
 * Point an existing logger at outputs opened with openOutputs (on reload).
 * Files are reopened, which is also what logrotate's postrotate SIGHUP
 * relies on.
 */
export function useOutputs(logger: Logger, outputs: readonly winston.transport[], debug: 0 | 1 | 2): void {
  const old = [...logger.transports];
  for (const transport of outputs) if (!old.includes(transport)) logger.add(transport);
  for (const transport of old) {
    if (outputs.includes(transport)) continue;
    logger.remove(transport);
    transport.close?.();
  }
  logger.level = debug >= 2 ? 'silly' : debug === 1 ? 'debug' : 'info';
}

/**
 * A recurring event logged at most once per interval, with how many times
 * it happened in between: a flood of clients must not become a flood of
 * log lines.
 */
export class Occasional {
  private count = 0;
  private loggedAt = 0;

  constructor(private readonly intervalMs: number) {}

  /** Count one; call `log` with the count so far (and the seconds it covers, after the first) when the interval is up. */
  note(log: (count: number, seconds: number | undefined) => void): void {
    this.count++;
    const now = Date.now();
    if (now - this.loggedAt < this.intervalMs) return;
    log(this.count, this.loggedAt === 0 ? undefined : Math.round((now - this.loggedAt) / 1000));
    this.count = 0;
    this.loggedAt = now;
  }
}

/**
 * Reopen `outputs` in place (a SIGHUP whose config was rejected, or the
 * supervisor's own): files rotated away are let go, as logrotate expects.
 * An output that cannot be reopened stays as it was, and is reported.
 */
export function reopenOutputs(logger: Logger, outputs: readonly string[], debug: 0 | 1 | 2): void {
  let opened: { transports: winston.transport[]; kept: string[] };
  try {
    opened = openOutputs(outputs, logger.transports);
  } catch (err) {
    logger.error(`cannot reopen the log outputs, the old ones stay: ${(err as Error).message}`);
    return;
  }
  useOutputs(logger, opened.transports, debug);
  for (const why of opened.kept) logger.warn(`log output ${why}`);
}

/**
 * A failure that keeps hasocks from starting: logged, and also written to
 * stderr when no output goes to the console, so that whoever started it (a
 * terminal, systemd, the OCF agent reading the daemon's stderr) sees why,
 * whatever `logoutput` names.
 */
export function logStartupFailure(logger: Logger, message: string): void {
  logger.error(message);
  if (!logger.transports.some((t) => t instanceof winston.transports.Console)) process.stderr.write(`hasocks: ${escapeControlCharacters(message)}\n`);
}

/** Give winston a moment to flush file and syslog transports. */
export function flush(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    // Work still finishing (a password check) may log after the end: that line is lost, the exit is not.
    logger.on('error', () => undefined);
    logger.on('finish', () => resolve());
    logger.end();
    setTimeout(resolve, 500).unref();
  });
}
