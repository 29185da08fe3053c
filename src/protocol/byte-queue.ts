/**
 * The bytes a state machine has received and not yet taken: chunks queue
 * as they arrive, and `take(n)` returns exactly n bytes once they are all
 * there, copying only when they span chunks. Shared by the handshake
 * parser (parser.ts) and the GSSAPI message reader (gssapi-message.ts).
 */
export class ByteQueue {
  private readonly queued: Buffer[] = [];
  private total = 0;

  /** How many bytes are queued. */
  get length(): number {
    return this.total;
  }

  /** The queued chunks, oldest first, for a reader that scans before it takes. */
  get chunks(): readonly Buffer[] {
    return this.queued;
  }

  push(chunk: Buffer): void {
    this.queued.push(chunk);
    this.total += chunk.length;
  }

  /** Take exactly n bytes off the front; the caller has checked that `length` >= n. */
  take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    this.total -= n;
    const first = this.queued[0]!;
    if (n === first.length) return this.queued.shift()!;
    if (n < first.length) {
      this.queued[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const head = this.queued[0]!;
      const part = Math.min(head.length, n - filled);
      head.copy(out, filled, 0, part);
      filled += part;
      if (part === head.length) this.queued.shift();
      else this.queued[0] = head.subarray(part);
    }
    return out;
  }

  /** Everything queued, in order, leaving the queue empty. */
  takeAll(): Buffer[] {
    const rest = this.queued.splice(0, this.queued.length);
    this.total = 0;
    return rest;
  }
}
