// The "stderr" and "stdout" outputs. When the descriptor is a file (the OCF
// agent's daemon.log, or a shell's 2>>), lines are written to it directly:
// Node's own stream for a file throws its write errors from an event
// nobody can catch, so a full disk would end the proxy. The file can be
// bounded (stdio-limit.ts). When it is a pipe or a terminal, Node's stream
// writes it, with its errors caught and its backlog bounded: a reader that
// stops reading must not grow the proxy's memory without end.
import { constants, fstatSync, ftruncateSync, readFileSync, writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { LogOutput, type LogLine, MAX_WAITING_BYTES, leftMidLine } from './output.js';
import { STDIO_MAX_BYTES_ENV, stdioMaxBytes } from './stdio-limit.js';

/** The lines this process wrote last, up to `keep` bytes: what stays when the file is cut. */
class RecentLines {
  private lines: string[] = [];
  private bytes = 0;

  constructor(private readonly keep: number) {}

  add(line: string): void {
    this.lines.push(line);
    this.bytes += line.length;
    // Trimmed in batches, so that adding a line costs the same however many are kept.
    if (this.bytes > 2 * this.keep) this.trim();
  }

  text(): string {
    this.trim();
    return this.lines.join('');
  }

  private trim(): void {
    let drop = 0;
    while (drop < this.lines.length - 1 && this.bytes - this.lines[drop]!.length >= this.keep) this.bytes -= this.lines[drop++]!.length;
    this.lines.splice(0, drop);
  }
}

/** Write all of `data` (a partial write is followed by the rest); returns the error that stopped it and how far it got. */
function writeAll(fd: number, data: Buffer): { written: number; error?: Error } {
  let written = 0;
  try {
    while (written < data.length) written += writeSync(fd, data, written);
  } catch (err) {
    return { written, error: err as Error };
  }
  return { written };
}

/**
 * Is `fd` open for appending (>> in a shell, as the agent opens
 * daemon.log)? Only then does every write, other processes' too, follow
 * the end of a file that was emptied; otherwise they would go on at their
 * old offsets and leave the file as large as before, a hole in front.
 */
function appends(fd: number): boolean {
  try {
    const flags = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
    return flags !== undefined && (parseInt(flags, 8) & constants.O_APPEND) !== 0;
  } catch {
    return false;
  }
}

export class StdioOutput extends LogOutput {
  private readonly fd: 1 | 2;
  private readonly stream: NodeJS.WriteStream | undefined;
  /** Set when the file is kept under maxBytes. */
  private readonly bound: { maxBytes: number; recent: RecentLines; unchecked: number } | undefined;
  private lineCut = false;

  constructor(entry: 'stdout' | 'stderr', maxBytes = stdioMaxBytes()) {
    super(entry);
    this.fd = entry === 'stderr' ? 2 : 1;
    let direct: boolean;
    try {
      const info = fstatSync(this.fd);
      direct = !(info.isFIFO() || info.isSocket() || isatty(this.fd));
    } catch {
      direct = false; // not open: Node's stream stands in with a sink
    }
    if (direct) {
      if (maxBytes !== undefined && appends(this.fd)) this.bound = { maxBytes, recent: new RecentLines(Math.floor(maxBytes / 2)), unchecked: 0 };
    } else {
      this.stream = entry === 'stderr' ? process.stderr : process.stdout;
      // An error event nobody listens to (EPIPE, once the reader has gone) would end the process.
      this.stream.on('error', (err) => this.failed(err.message));
    }
  }

  protected put(info: LogLine): void {
    const line = LogOutput.text(info);
    if (this.stream) this.putStream(this.stream, line);
    else this.putFile(line);
  }

  private putStream(stream: NodeJS.WriteStream, line: string): void {
    if (stream.writableLength > MAX_WAITING_BYTES) {
      this.failed(`${stream.writableLength} bytes wait for the reader of ${this.entry}`);
      return;
    }
    stream.write(line, (err) => {
      if (err) this.failed(err.message);
      else if (stream.writableLength < MAX_WAITING_BYTES / 2) this.worked();
    });
  }

  private putFile(line: string): void {
    const data = Buffer.from((this.lineCut ? '\n' : '') + line);
    const { written, error } = writeAll(this.fd, data);
    this.lineCut = leftMidLine(data, written, this.lineCut);
    if (error) {
      this.failed(error.message);
      return;
    }
    this.worked();
    if (this.bound) {
      this.bound.recent.add(line);
      // The file's size is asked for once per 1/16 of the bound this process wrote, not per line:
      // the file may pass the bound by that much from each process that writes to it.
      this.bound.unchecked += written;
      if (this.bound.unchecked * 16 >= this.bound.maxBytes) {
        this.bound.unchecked = 0;
        this.cutIfOver(this.bound.maxBytes, this.bound.recent);
      }
    }
  }

  /**
   * Past the bound, the file is emptied and starts again with the latest
   * lines of this process. Every process writing to it (the workers too)
   * appends (O_APPEND), so their next lines follow; and an emptied file
   * needs no new name, which after a privilege drop this process could
   * not create.
   */
  private cutIfOver(maxBytes: number, recent: RecentLines): void {
    try {
      if (fstatSync(this.fd).size <= maxBytes) return;
      ftruncateSync(this.fd, 0);
    } catch (err) {
      this.failed(`cannot cut it to ${maxBytes} bytes: ${(err as Error).message}`, 0);
      return;
    }
    const note = `${new Date().toISOString()} warn: ${this.entry} passed ${maxBytes} bytes (${STDIO_MAX_BYTES_ENV}): older lines were cut; the latest of process ${process.pid} follow\n`;
    const data = Buffer.from(note + recent.text());
    const { written, error } = writeAll(this.fd, data);
    this.lineCut = leftMidLine(data, written, false);
    if (error) this.failed(error.message);
  }
}
