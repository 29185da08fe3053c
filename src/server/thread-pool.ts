// libuv's thread pool runs name lookups (getaddrinfo, getnameinfo), scrypt
// and file writes, and each call holds a thread until it returns: a lookup
// waits out a slow DNS server's timeouts, a password check computes for
// tens of milliseconds. Left alone, a slow reverse zone or a flood of
// logins would take every thread, and every other lookup and log write
// would queue behind them. So each kind gets its own share of the pool,
// and a share is always left for file writes. src/hasocks.cts sizes the
// pool (UV_THREADPOOL_SIZE, 16 unless set).

/** At most `limit` tasks at once; the rest wait in order, and one whose deadline passed while waiting is dropped. */
export class Limiter {
  private running = 0;
  private readonly waiting: Array<{ start: () => void; deadline: number; drop: () => void }> = [];

  constructor(readonly limit: number) {}

  /** Run `task` when a place is free; rejects with ETIMEDOUT if `deadline` (ms since the epoch) passes first. */
  run<T>(task: () => Promise<T>, deadline = Infinity): Promise<T> {
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
      if (this.running < this.limit) start();
      else this.waiting.push({ start, deadline, drop: () => reject(Object.assign(new Error('timed out waiting for a thread'), { code: 'ETIMEDOUT' })) });
    });
  }

  private next(): void {
    const now = Date.now();
    for (let item = this.waiting.shift(); item; item = this.waiting.shift()) {
      if (item.deadline > now) {
        item.start();
        return;
      }
      item.drop();
    }
  }
}

const poolSize = Math.max(1, Number(process.env.UV_THREADPOOL_SIZE) || 4);

/** Reverse lookups of clients (client rules by name): a quarter. */
export const reverseLookups = new Limiter(Math.max(1, Math.floor(poolSize / 4)));
/** Password checks: CPU-bound, so a couple at most. */
export const passwordChecks = new Limiter(Math.max(1, Math.min(2, Math.floor(poolSize / 8))));
/** What is left after those and a reserve for file writes: destination names, which most sessions need. */
export const forwardLookups = new Limiter(
  Math.max(1, poolSize - reverseLookups.limit - passwordChecks.limit - Math.max(1, Math.floor(poolSize / 8))),
);
