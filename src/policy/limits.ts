import type { RuleSessionLimits } from '../config/types.js';

/**
 * Per-rule session limits (Dante's session.max, session.throttle and
 * session.state.max keyed by client address). Counters live with the
 * compiled rule, so a reload starts them afresh with the new rules, while
 * sessions already open release into the counters they took from.
 */
export class SessionLimits {
  private open = 0;
  private readonly perClient = new Map<string, number>();
  /** Start times of recent sessions, oldest first, for the throttle window. */
  private readonly recent: number[] = [];
  private readonly throttle: { count: number; windowMs: number } | undefined;

  constructor(private readonly spec: RuleSessionLimits) {
    if (spec.throttle) {
      const [count, seconds] = spec.throttle.split('/').map(Number) as [number, number];
      this.throttle = { count, windowMs: seconds * 1000 };
    }
  }

  /** Take a slot for a new session from `client`: a release function, or why it was refused. */
  acquire(client: string): { release: () => void } | { refused: string } {
    if (this.spec.max !== undefined && this.open >= this.spec.max) return { refused: `session.max ${this.spec.max} reached` };
    const mine = this.perClient.get(client) ?? 0;
    if (this.spec.state && mine >= this.spec.state.max) return { refused: `session.state.max ${this.spec.state.max} reached for ${client}` };
    if (this.throttle) {
      const now = Date.now();
      while (this.recent.length > 0 && now - this.recent[0]! >= this.throttle.windowMs) this.recent.shift();
      if (this.recent.length >= this.throttle.count) return { refused: `session.throttle ${this.spec.throttle} exceeded` };
      this.recent.push(now);
    }
    this.open++;
    this.perClient.set(client, mine + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.open--;
        const left = (this.perClient.get(client) ?? 1) - 1;
        if (left > 0) this.perClient.set(client, left);
        else this.perClient.delete(client);
      },
    };
  }
}
