// The "stderr" and "stdout" outputs. When the descriptor is a file (the OCF
// agent's daemon.log, or a shell's 2>>), lines are written to it directly:
// Node's own stream for a file throws its write errors from an event
// nobody can catch, so a full disk would end the proxy. When it is a pipe
// or a terminal, Node's stream writes it, with its errors caught and its
// backlog bounded: a reader that stops reading must not grow the proxy's
// memory without end.
import { fstatSync, writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { LogOutput, type LogLine, MAX_WAITING_BYTES, leftMidLine } from './output.js';

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

export class StdioOutput extends LogOutput {
  private readonly fd: 1 | 2;
  private readonly stream: NodeJS.WriteStream | undefined;
  private lineCut = false;

  constructor(entry: 'stdout' | 'stderr') {
    super(entry);
    this.fd = entry === 'stderr' ? 2 : 1;
    let direct: boolean;
    try {
      const info = fstatSync(this.fd);
      direct = !(info.isFIFO() || info.isSocket() || isatty(this.fd));
    } catch {
      direct = false; // not open: Node's stream stands in with a sink
    }
    if (!direct) {
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
  }
}
