import { writeSync } from 'node:fs';
import winston from 'winston';
import { FileOutput } from './file-output.js';
import { ABOUT_OUTPUT, LogOutput } from './output.js';
import { StdioOutput } from './stdio-output.js';
import { SyslogTransport, parseSyslogOutput } from './syslog-transport.js';

export type Logger = winston.Logger;

const ALL_LEVELS = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'];

function outputFor(entry: string): LogOutput {
  if (entry === 'stderr' || entry === 'stdout') return new StdioOutput(entry);
  if (entry.startsWith('syslog')) return new SyslogTransport(parseSyslogOutput(entry), entry);
  return new FileOutput(entry);
}

/**
 * The outputs for a set of `logoutput` entries. One that `current` (the
 * outputs in use) has already is kept, and reopened: a file that logrotate
 * moved away is opened anew, and one that cannot be (after a privilege
 * drop, a root-owned directory) reports that itself and goes on writing
 * to the file it has. A new entry that cannot be opened throws, naming it.
 */
export function openOutputs(entries: readonly string[], current: readonly winston.transport[] = []): LogOutput[] {
  const opened: LogOutput[] = [];
  for (const entry of entries) {
    const open = current.find((t): t is LogOutput => t instanceof LogOutput && t.entry === entry && !opened.includes(t));
    if (open) {
      open.reopen();
      opened.push(open);
      continue;
    }
    try {
      opened.push(outputFor(entry));
    } catch (err) {
      for (const output of opened) if (!current.includes(output)) output.close?.();
      throw new Error(`cannot open log output ${entry}: ${(err as Error).message}`);
    }
  }
  return opened;
}

/**
 * Let `output` report its faults through the other outputs of `logger`,
 * or, when it is the only one, on stderr (unless it is stderr).
 */
function reportFaultsThrough(logger: Logger, output: winston.transport): void {
  if (!(output instanceof LogOutput)) return;
  // Told after the line being written, not in the middle of winston passing it on.
  output.tell = (message, about) =>
    process.nextTick(() => {
      if (logger.writableEnded) return;
      if (logger.transports.some((t) => t !== about)) {
        logger.log({ level: 'warn', message, [ABOUT_OUTPUT]: about });
      } else if (about.entry !== 'stderr') {
        try {
          writeSync(2, `${new Date().toISOString()} warn: ${message}\n`);
        } catch {
          /* no stderr either */
        }
      }
    });
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
  const logger = skipDisabledLevels(winston.createLogger({
    level: debug >= 2 ? 'silly' : debug === 1 ? 'debug' : 'info',
    format: winston.format.combine(
      escapeMessage(),
      winston.format.timestamp(),
      winston.format.printf((info) => `${String(info.timestamp)} ${info.level}: ${prefix}${String(info.message)}`),
    ),
  }));
  useOutputs(logger, openOutputs(outputs), debug);
  return logger;
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
 * Point a logger at outputs opened with openOutputs (at start and on
 * reload); those it no longer uses are closed.
 */
export function useOutputs(logger: Logger, outputs: readonly winston.transport[], debug: 0 | 1 | 2): void {
  const old = [...logger.transports];
  for (const transport of outputs) {
    if (old.includes(transport)) continue;
    reportFaultsThrough(logger, transport);
    logger.add(transport);
  }
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
 */
export function reopenOutputs(logger: Logger, outputs: readonly string[], debug: 0 | 1 | 2): void {
  let opened: LogOutput[];
  try {
    opened = openOutputs(outputs, logger.transports);
  } catch (err) {
    logger.error(`cannot reopen the log outputs, the old ones stay: ${(err as Error).message}`);
    return;
  }
  useOutputs(logger, opened, debug);
}

/**
 * A failure that keeps hasocks from starting: logged, and also written to
 * stderr when no output goes to the console, so that whoever started it (a
 * terminal, systemd, the OCF agent reading the daemon's stderr) sees why,
 * whatever `logoutput` names.
 */
export function logStartupFailure(logger: Logger, message: string): void {
  logger.error(message);
  if (!logger.transports.some((t) => t instanceof StdioOutput)) process.stderr.write(`hasocks: ${escapeControlCharacters(message)}\n`);
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
