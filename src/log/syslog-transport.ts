import { type ChildProcess, spawn } from 'node:child_process';
import { type Socket as UdpSocket, createSocket } from 'node:dgram';
import { hostname } from 'node:os';
import { connect, isIPv6 } from 'node:net';
import { LogOutput, type LogLine, MAX_WAITING_BYTES } from './output.js';

const FACILITIES = [
  'kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp',
] as const;

/** winston level -> syslog severity (RFC 5424 §6.2.1). */
const SEVERITY: Record<string, number> = { error: 3, warn: 4, info: 6, verbose: 7, debug: 7, silly: 7 };

export function facilityCode(name: string): number {
  const local = /^local([0-7])$/.exec(name);
  if (local) return 16 + Number(local[1]);
  const index = (FACILITIES as readonly string[]).indexOf(name);
  if (index < 0) throw new Error(`unknown syslog facility "${name}"`);
  return index;
}

export interface SyslogTarget {
  facility: string;
  /** A Unix socket path (default /dev/log), or a UDP host and port. */
  path?: string;
  host?: string;
  port?: number;
}

/** Parse a logoutput entry "syslog[/facility][@/path | @host:port]" (the schema checked its form). */
export function parseSyslogOutput(text: string): SyslogTarget {
  const match = /^syslog(?:\/([a-z0-9]+))?(?:@(.+))?$/.exec(text);
  if (!match) throw new Error(`"${text}" is not a syslog output`);
  const facility = match[1] ?? 'daemon';
  facilityCode(facility);
  const where = match[2];
  if (where === undefined || where.startsWith('/')) return { facility, path: where ?? '/dev/log' };
  const hp = /^\[?([^\]]+?)\]?:(\d+)$/.exec(where)!;
  return { facility, host: hp[1]!, port: Number(hp[2]) };
}

/**
 * The most of a message one syslog record carries. logger(1) cuts longer
 * input lines, and reads the start of the rest as a record of its own,
 * priority included: a client that fills a line (a long escaped name)
 * would write that record. RFC 3164 records stop at 1024 bytes too.
 */
const MAX_SYSLOG_MESSAGE = 900;

/** `text` cut to MAX_SYSLOG_MESSAGE bytes, marked where it was cut. */
export function fitSyslogLine(text: string): string {
  const bytes = Buffer.from(text);
  return bytes.length <= MAX_SYSLOG_MESSAGE ? text : `${bytes.subarray(0, MAX_SYSLOG_MESSAGE - 3).toString()}...`;
}

/** How often a failing syslog output checks whether syslog is back. */
export const SYSLOG_RETRY_MS = 1000;

/**
 * Sends log lines to syslog. Node cannot open the Unix datagram socket behind
 * /dev/log, so local syslog goes through one long-lived `logger` process (from
 * util-linux, on every Debian system) that reads "<PRI>message" lines; remote
 * syslog on a loopback or cluster address goes straight out over UDP.
 *
 * logger(1) drops a message it cannot send, says so once on its stderr, and
 * connects again for the next one. So a syslog daemon that goes away (a
 * restart, a socket removed) is seen there, or by the check at start; from
 * then on this output checks every SYSLOG_RETRY_MS whether a socket
 * answers at the path again, and starts a new logger if its own has gone.
 */
export class SyslogTransport extends LogOutput {
  private readonly facility: number;
  private readonly tag: string;
  private child: ChildProcess | undefined;
  private udp: UdpSocket | undefined;
  private retry: NodeJS.Timeout | undefined;
  private shut = false;

  constructor(
    private readonly target: SyslogTarget,
    entry = 'syslog',
    tag = 'hasocks',
  ) {
    super(entry);
    this.facility = facilityCode(target.facility);
    this.tag = tag;
    if (target.path) {
      this.startLogger();
      this.check();
    } else {
      this.udp = createSocket(isIPv6(target.host!) ? 'udp6' : 'udp4');
      this.udp.on('error', (err) => this.failed(err.message));
      this.udp.unref();
    }
  }

  private startLogger(): void {
    const child = spawn('logger', ['--prio-prefix', '--socket-errors=off', '-u', this.target.path!, '-t', this.tag, `--id=${process.pid}`], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    this.child = child;
    const gone = (why: string): void => {
      if (this.child !== child) return;
      this.child = undefined;
      if (this.shut) return;
      this.failed(why);
      this.scheduleCheck();
    };
    child.on('error', (err) => gone(`cannot run logger: ${err.message}`));
    child.on('exit', (code, signal) => gone(`logger exited with ${signal ?? `code ${code}`}`));
    // Its exit says why; a write to a logger that has gone must not end the proxy.
    child.stdin!.on('error', () => undefined);
    child.stderr!.on('data', (text: Buffer) => {
      this.failed(text.toString().trim().split('\n')[0]!.replace(/^logger: /, ''));
      this.scheduleCheck();
    });
    child.unref();
    for (const pipe of [child.stdin, child.stderr]) (pipe as unknown as { unref?: () => void } | null)?.unref?.();
  }

  private scheduleCheck(): void {
    if (this.retry || this.shut) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.check();
    }, SYSLOG_RETRY_MS);
    this.retry.unref();
  }

  /**
   * Does a syslog socket answer at the path? A stream connection to it is
   * refused with EPROTOTYPE when a datagram socket (as /dev/log is) is
   * bound there, and accepted by a stream one; a stale socket file refuses
   * it, a missing one is ENOENT.
   */
  private check(): void {
    if (this.shut) return;
    if (!this.child) this.startLogger();
    const probe = connect(this.target.path!);
    probe.unref();
    const answered = (alive: boolean, why?: string): void => {
      probe.destroy();
      const backlog = this.child?.stdin?.writableLength ?? 0;
      if (alive && this.child && backlog < MAX_WAITING_BYTES / 2) {
        this.worked();
        return;
      }
      this.failed(why ?? `${backlog} bytes wait for logger`, 0);
      this.scheduleCheck();
    };
    probe.on('connect', () => answered(true));
    probe.on('error', (err: NodeJS.ErrnoException) => answered(err.code === 'EPROTOTYPE', `no syslog socket answers at ${this.target.path}: ${err.message}`));
  }

  protected put(info: LogLine): void {
    const priority = this.facility * 8 + (SEVERITY[info.level] ?? 6);
    const text = fitSyslogLine(String(info.message).replace(/\n/g, ' '));
    if (this.udp) {
      // RFC 3164: <PRI>TIMESTAMP HOSTNAME TAG[PID]: MSG
      const now = new Date();
      const month = now.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
      const stamp = `${month} ${String(now.getUTCDate()).padStart(2, ' ')} ${now.toISOString().slice(11, 19)}`;
      const line = Buffer.from(`<${priority}>${stamp} ${hostname()} ${this.tag}[${process.pid}]: ${text}`);
      this.udp.send(line, this.target.port!, this.target.host!, (err) => (err ? this.failed(err.message) : this.worked()));
      return;
    }
    const stdin = this.child?.stdin;
    if (!stdin?.writable) {
      this.failed('logger is not running');
      return;
    }
    if (stdin.writableLength > MAX_WAITING_BYTES) {
      this.failed(`${stdin.writableLength} bytes wait for logger`);
      this.scheduleCheck();
      return;
    }
    // Sent even while failing: logger connects again for each line, so the first one after syslog is back gets there.
    this.countLost();
    stdin.write(`<${priority}>${text}\n`);
  }

  override reopen(): void {
    if (this.failing && this.target.path) this.check();
  }

  override close(): void {
    this.shut = true;
    clearTimeout(this.retry);
    this.child?.stdin?.end();
    this.udp?.close();
    this.child = undefined;
    this.udp = undefined;
  }
}
