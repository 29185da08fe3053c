import { type ChildProcess, spawn } from 'node:child_process';
import { type Socket as UdpSocket, createSocket } from 'node:dgram';
import { hostname } from 'node:os';
import { isIPv6 } from 'node:net';
import TransportStream from 'winston-transport';

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

/**
 * Sends log lines to syslog. Node cannot open the Unix datagram socket behind
 * /dev/log, so local syslog goes through one long-lived `logger` process (from
 * util-linux, on every Debian system) that reads "<PRI>message" lines; remote
 * syslog on a loopback or cluster address goes straight out over UDP.
 */
export class SyslogTransport extends TransportStream {
  private readonly facility: number;
  private readonly tag: string;
  private child: ChildProcess | undefined;
  private udp: UdpSocket | undefined;

  constructor(
    private readonly target: SyslogTarget,
    tag = 'hasocks',
  ) {
    super();
    this.facility = facilityCode(target.facility);
    this.tag = tag;
    if (target.path) {
      this.child = spawn(
        'logger',
        ['--prio-prefix', '--socket-errors=off', '-u', target.path, '-t', tag, `--id=${process.pid}`],
        { stdio: ['pipe', 'ignore', 'ignore'] },
      );
      this.child.on('error', () => {
        this.child = undefined; // no logger binary: drop syslog rather than crash the proxy
      });
      this.child.unref();
      (this.child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    } else {
      this.udp = createSocket(isIPv6(target.host!) ? 'udp6' : 'udp4');
      this.udp.unref();
    }
  }

  override log(info: { level: string; message: unknown; [key: string]: unknown }, callback: () => void): void {
    const priority = this.facility * 8 + (SEVERITY[info.level] ?? 6);
    const text = fitSyslogLine(String(info.message).replace(/\n/g, ' '));
    if (this.child?.stdin?.writable) {
      this.child.stdin.write(`<${priority}>${text}\n`);
    } else if (this.udp) {
      // RFC 3164: <PRI>TIMESTAMP HOSTNAME TAG[PID]: MSG
      const now = new Date();
      const month = now.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
      const stamp = `${month} ${String(now.getUTCDate()).padStart(2, ' ')} ${now.toISOString().slice(11, 19)}`;
      const line = Buffer.from(`<${priority}>${stamp} ${hostname()} ${this.tag}[${process.pid}]: ${text}`);
      this.udp.send(line, this.target.port!, this.target.host!);
    }
    callback();
  }

  override close(): void {
    this.child?.stdin?.end();
    this.udp?.close();
    this.child = undefined;
    this.udp = undefined;
  }
}
