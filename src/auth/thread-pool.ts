// libuv's thread pool runs scrypt and file writes (names are resolved
// without it, in resolve.ts), and each call holds a thread until it
// returns: a password check computes for tens of milliseconds. Left alone,
// a flood of logins would take every thread, and log writes would queue
// behind them, and one client's hundred logins would delay everyone else's.
// So password checks get a share of the pool, taken in turn by client, and
// so do GSSAPI's accept rounds (a replay-cache write each, and MIT runs the
// rounds on one credential one at a time).
// src/hasocks.cts sizes the pool (UV_THREADPOOL_SIZE, 16 unless set).
import { ipv6ToBytes } from '../protocol/address.js';

/**
 * At most `limit` tasks at once, shared fairly between keys (clients): the
 * waiting tasks are taken one key after another in turn, so one client's
 * hundred tasks delay another client's one by a single task at most. A key
 * may have at most `perKey` waiting; one more is refused at once, as is a
 * task whose deadline passes while it waits.
 */
export class FairLimiter {
  private running = 0;
  /** Waiting tasks per key; the Map's order is the turn order. */
  private readonly waiting = new Map<string, Array<{ start: () => void; deadline: number; drop: (why: string) => void }>>();

  constructor(
    readonly limit: number,
    readonly perKey: number,
  ) {}

  run<T>(key: string, task: () => Promise<T>, deadline = Infinity): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = (): void => {
        this.running++;
        task()
          .then(resolve, reject)
          .finally(() => {
            this.running--;
            this.next();
          });
      };
      if (this.running < this.limit && this.waiting.size === 0) {
        start();
        return;
      }
      const queue = this.waiting.get(key) ?? [];
      if (queue.length >= this.perKey) {
        reject(Object.assign(new Error(`more than ${this.perKey} waiting from this client`), { code: 'EBUSY' }));
        return;
      }
      queue.push({ start, deadline, drop: (why) => reject(Object.assign(new Error(why), { code: 'ETIMEDOUT' })) });
      this.waiting.set(key, queue);
    });
  }

  private next(): void {
    const now = Date.now();
    for (const [key, queue] of this.waiting) {
      const item = queue.shift()!;
      // This key's turn is over: it goes to the back of the line, or leaves it.
      this.waiting.delete(key);
      if (queue.length > 0) this.waiting.set(key, queue);
      if (item.deadline > now) {
        item.start();
        return;
      }
      item.drop('timed out waiting for a thread');
    }
  }
}

/** The key clients share a turn by: an IPv4 address, or an IPv6 /64 (one host may hold a whole /64). */
export function clientKey(address: string): string {
  return address.includes(':') ? ipv6ToBytes(address).subarray(0, 8).toString('hex') : address;
}

const poolSize = Math.max(1, Number(process.env.UV_THREADPOOL_SIZE) || 4);

/** Password checks: CPU-bound, so a couple at most, taken in turn by client; the rest of the pool is for file writes. */
export const passwordChecks = new FairLimiter(Math.max(1, Math.min(2, Math.floor(poolSize / 8))), 16);

/** GSSAPI accept rounds: short, but each may wait on the replay cache's disk; a few at once, in turn by client. */
export const gssapiRounds = new FairLimiter(Math.max(1, Math.min(4, Math.floor(poolSize / 4))), 16);
