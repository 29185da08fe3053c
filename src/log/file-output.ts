// A log file: appended to off the event loop, one write at a time, so a
// slow or hung disk holds one thread of libuv's pool and no more. A write
// that fails (a full disk) drops its lines, the fault is reported once,
// and the next write that succeeds ends it.
import { type Stats, closeSync, fstatSync, lstatSync, write } from 'node:fs';
import { openPrivateLog } from '../private-files.js';
import { LogOutput, type LogLine, MAX_WAITING_BYTES, leftMidLine } from './output.js';

/** How often an output whose file was rotated away and cannot be opened again tries again. */
export const REOPEN_RETRY_MS = 1000;

/** Lines (newlines) in `data` from `offset` on. */
function linesFrom(data: Buffer, offset: number): number {
  let count = 0;
  for (let i = data.indexOf(10, offset); i >= 0; i = data.indexOf(10, i + 1)) count++;
  return count;
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    /* already closed */
  }
}

const sameFile = (a: Stats, b: Stats): boolean => a.dev === b.dev && a.ino === b.ino;

export class FileOutput extends LogOutput {
  private fd: number;
  private waiting: string[] = [];
  private waitingBytes = 0;
  private writing = false;
  private shut = false;
  /** A write stopped in the middle of a line: the next one starts on a new line. */
  private lineCut = false;
  /** Set while the path names another file (rotated away) that this process cannot open. */
  private stale: { triedAt: number } | undefined;
  /** Who waits for the writes under way to end (the stream's finish). */
  private whenSettled: Array<() => void> = [];

  /**
   * Opened as root before any privilege drop and never through a symbolic
   * link: the directory may be writable by the user the proxy runs as, who
   * could otherwise point root's appends, client bytes in them, at any file.
   */
  constructor(readonly path: string) {
    super(path);
    this.fd = openPrivateLog(path, 0o640);
  }

  protected put(info: LogLine): void {
    if (this.shut) return;
    if (this.stale && Date.now() - this.stale.triedAt >= REOPEN_RETRY_MS) this.reopen();
    const line = LogOutput.text(info);
    if (this.waitingBytes + line.length > MAX_WAITING_BYTES) {
      this.failed(`${this.waitingBytes} bytes are waiting for the disk`);
      return;
    }
    this.waiting.push(line);
    this.waitingBytes += line.length;
    this.writeWaiting();
  }

  /** Everything waiting, in one write (appended: the file is O_APPEND). */
  private writeWaiting(): void {
    if (this.writing || this.waiting.length === 0) return;
    const data = Buffer.from((this.lineCut ? '\n' : '') + this.waiting.join(''));
    this.waiting = [];
    this.waitingBytes = 0;
    this.writing = true;
    const fd = this.fd;
    const from = (offset: number): void =>
      write(fd, data, offset, data.length - offset, null, (err, written) => {
        if (!err && offset + written < data.length) {
          from(offset + written);
          return;
        }
        this.writing = false;
        this.lineCut = leftMidLine(data, err ? offset : data.length, this.lineCut);
        if (err) this.failed(err.message, linesFrom(data, offset));
        else if (this.waitingBytes < MAX_WAITING_BYTES / 2) this.worked();
        // Reopened meanwhile: this was the last write to that descriptor.
        if (fd !== this.fd) closeQuietly(fd);
        this.writeWaiting();
        if (!this.writing) this.settled();
      });
    from(0);
  }

  /** Nothing waits and nothing is being written: a close can finish, and so can the stream. */
  private settled(): void {
    if (this.shut) closeQuietly(this.fd);
    for (const resolve of this.whenSettled.splice(0)) resolve();
  }

  /** The stream finishes (flush at exit waits for it) once the lines already given are on disk, or have failed. */
  override _final(callback: () => void): void {
    if (this.writing) this.whenSettled.push(callback);
    else callback();
  }

  /** Does the path still name the file this output has open (not rotated away)? */
  private stillAtPath(): boolean {
    try {
      return sameFile(fstatSync(this.fd), lstatSync(this.path));
    } catch {
      return false;
    }
  }

  /**
   * Open the path again if it names another file now (logrotate moved
   * this one away). If that fails (after a privilege drop the directory
   * or the new file may be root's), lines go on to the file still open,
   * that is reported once, and the open is tried again as lines come.
   */
  override reopen(): void {
    if (this.shut) return;
    if (this.stillAtPath()) {
      this.stale = undefined;
      return;
    }
    let fd: number;
    try {
      fd = openPrivateLog(this.path, 0o640);
    } catch (err) {
      if (!this.stale) {
        this.tell(`log output ${this.path} cannot be opened again (${(err as Error).message}); its lines go on to the file it had open, and the open is retried`, this);
      }
      this.stale = { triedAt: Date.now() };
      return;
    }
    const old = this.fd;
    this.fd = fd;
    if (!this.writing) closeQuietly(old);
    if (this.stale) {
      this.stale = undefined;
      this.tell(`log output ${this.path} is open again`, this);
    }
  }

  /** Lines already given are still written; the file is closed after them. */
  override close(): void {
    if (this.shut) return;
    this.shut = true;
    if (!this.writing) closeQuietly(this.fd);
  }
}
