// What every log output shares: a fault of its own (a full disk, a gone
// syslog socket, a reader that stopped reading) never reaches the code
// that logs. The output drops its lines meanwhile, says so once through
// the logger's other outputs, and says so again when it works again.
import TransportStream from 'winston-transport';

/** The line as winston formatted it (triple-beam's MESSAGE). */
export const FORMATTED = Symbol.for('message');
/** A line that tells of a fault of one output carries that output here. */
export const ABOUT_OUTPUT = Symbol('about output');

export interface LogLine {
  level: string;
  message: unknown;
  [FORMATTED]?: string;
  [ABOUT_OUTPUT]?: LogOutput;
}

/**
 * The most bytes an output keeps waiting for a slow destination before it
 * drops lines: enough for a busy reader, disk or syslog daemon to catch up
 * after a burst of tens of thousands of lines, while one that has stopped
 * does not grow the proxy's memory without end.
 */
export const MAX_WAITING_BYTES = 8 << 20;

/**
 * After `written` bytes of `data` went out (and then a write failed, or
 * all did), is the destination left in the middle of a line? `before`:
 * whether it was before `data`.
 */
export function leftMidLine(data: Buffer, written: number, before: boolean): boolean {
  return written > 0 ? data[written - 1] !== 10 : before;
}

export abstract class LogOutput extends TransportStream {
  /** Says a fault or a recovery of this output through the others; the logger it joins sets it. */
  tell: (message: string, about: LogOutput) => void = () => undefined;
  private fault: { since: Date; lost: number } | undefined;

  /** `entry`: the logoutput entry this output stands for. */
  protected constructor(readonly entry: string) {
    super();
  }

  override log(info: LogLine, callback: () => void): void {
    // The report of this output's own fault is for the others; here it would only fail again.
    if (!(this.fault && info[ABOUT_OUTPUT] === this)) this.put(info);
    callback();
  }

  /** Deliver one line; a failure is the output's to note (failed), never thrown. */
  protected abstract put(info: LogLine): void;

  /** On SIGHUP and reload: open again what was rotated away, retry what failed. */
  reopen(): void {}

  protected get failing(): boolean {
    return this.fault !== undefined;
  }

  /** `lines` lines did not get through, because of `why`: the first of a fault is reported. */
  protected failed(why: string, lines = 1): void {
    if (this.fault) {
      this.countLost(lines);
      return;
    }
    this.fault = { since: new Date(), lost: lines };
    this.tell(`log output ${this.entry} fails: ${why}; its lines are dropped until it works again`, this);
  }

  /** While failing: `lines` more lines that did not (or may not) get through. */
  protected countLost(lines = 1): void {
    if (this.fault) this.fault.lost += lines;
  }

  /** A line got through: if the output was failing, that fault is over, and is reported so. */
  protected worked(): void {
    if (!this.fault) return;
    const { since, lost } = this.fault;
    this.fault = undefined;
    this.tell(`log output ${this.entry} works again; ${lost} line(s) for it lost since ${since.toISOString()}`, this);
  }

  /** A line to write to a stream or file: the formatted text and its newline. */
  protected static text(info: LogLine): string {
    return `${info[FORMATTED] ?? String(info.message)}\n`;
  }
}
