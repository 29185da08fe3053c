// A rule's session limits (src/policy/limits.ts): session.max, session.state.max
// per client address and session.throttle, each right at its bound, and what
// a refusal or a release gives back.
import { SessionLimits } from '../../src/policy/limits.js';

type Slot = ReturnType<SessionLimits['acquire']>;

/** The slot's release function; fails the test if the slot was refused. */
function taken(slot: Slot): () => void {
  if ('refused' in slot) throw new Error(`expected a slot, got a refusal: ${slot.refused}`);
  return slot.release;
}

describe('session.max', () => {
  test('exactly max sessions are let in; the next is refused, naming the limit', () => {
    const limits = new SessionLimits({ max: 3 });
    for (let i = 0; i < 3; i++) taken(limits.acquire(`10.0.0.${i}`));
    expect(limits.acquire('10.0.0.9')).toEqual({ refused: 'session.max 3 reached' });
  });

  test('a release makes room for exactly one more', () => {
    const limits = new SessionLimits({ max: 2 });
    const first = taken(limits.acquire('10.0.0.1'));
    taken(limits.acquire('10.0.0.1'));
    first();
    taken(limits.acquire('10.0.0.2'));
    expect(limits.acquire('10.0.0.3')).toHaveProperty('refused');
  });

  test('releasing twice gives back one slot, not two', () => {
    const limits = new SessionLimits({ max: 2 });
    const first = taken(limits.acquire('10.0.0.1'));
    taken(limits.acquire('10.0.0.1'));
    first();
    first();
    taken(limits.acquire('10.0.0.1'));
    expect(limits.acquire('10.0.0.1')).toEqual({ refused: 'session.max 2 reached' });
  });

  test('a refusal takes nothing: after it, releasing every slot frees them all', () => {
    const limits = new SessionLimits({ max: 1 });
    const only = taken(limits.acquire('10.0.0.1'));
    for (let i = 0; i < 5; i++) expect(limits.acquire('10.0.0.1')).toHaveProperty('refused');
    only();
    taken(limits.acquire('10.0.0.1'));
  });

  test('no limits at all let every session in', () => {
    const limits = new SessionLimits({});
    for (let i = 0; i < 1000; i++) taken(limits.acquire('10.0.0.1'));
  });
});

describe('session.state.max (key "from")', () => {
  test('each client address may hold exactly max sessions, whatever others hold', () => {
    const limits = new SessionLimits({ state: { key: 'from', max: 2 } });
    const a = [taken(limits.acquire('10.0.0.1')), taken(limits.acquire('10.0.0.1'))];
    expect(limits.acquire('10.0.0.1')).toEqual({ refused: 'session.state.max 2 reached for 10.0.0.1' });
    taken(limits.acquire('10.0.0.2'));
    taken(limits.acquire('2001:db8::1'));
    a[0]!();
    taken(limits.acquire('10.0.0.1'));
    expect(limits.acquire('10.0.0.1')).toHaveProperty('refused');
  });

  test('a client that released everything starts from zero again', () => {
    const limits = new SessionLimits({ state: { key: 'from', max: 1 } });
    for (let round = 0; round < 3; round++) {
      const release = taken(limits.acquire('10.0.0.1'));
      expect(limits.acquire('10.0.0.1')).toHaveProperty('refused');
      release();
      release();
    }
  });

  test('with session.max too, the rule-wide limit is checked first', () => {
    const limits = new SessionLimits({ max: 2, state: { key: 'from', max: 1 } });
    taken(limits.acquire('10.0.0.1'));
    expect(limits.acquire('10.0.0.1')).toEqual({ refused: 'session.state.max 1 reached for 10.0.0.1' });
    taken(limits.acquire('10.0.0.2'));
    expect(limits.acquire('10.0.0.3')).toEqual({ refused: 'session.max 2 reached' });
  });
});

describe('session.throttle', () => {
  test('exactly count new sessions per window; ending sessions does not give any back', () => {
    const limits = new SessionLimits({ throttle: '3/60' });
    const releases = [0, 1, 2].map((i) => taken(limits.acquire(`10.0.0.${i}`)));
    expect(limits.acquire('10.0.0.9')).toEqual({ refused: 'session.throttle 3/60 exceeded' });
    for (const release of releases) release();
    expect(limits.acquire('10.0.0.9')).toHaveProperty('refused');
  });

  test('a session refused by session.max or session.state.max does not use up the throttle', () => {
    const limits = new SessionLimits({ max: 1, throttle: '2/60' });
    const first = taken(limits.acquire('10.0.0.1'));
    for (let i = 0; i < 5; i++) expect(limits.acquire('10.0.0.1')).toEqual({ refused: 'session.max 1 reached' });
    first();
    taken(limits.acquire('10.0.0.1'));

    const perClient = new SessionLimits({ state: { key: 'from', max: 1 }, throttle: '2/60' });
    taken(perClient.acquire('10.0.0.1'));
    for (let i = 0; i < 5; i++) expect(perClient.acquire('10.0.0.1')).toEqual({ refused: 'session.state.max 1 reached for 10.0.0.1' });
    taken(perClient.acquire('10.0.0.2'));
    expect(perClient.acquire('10.0.0.3')).toEqual({ refused: 'session.throttle 2/60 exceeded' });
  });

  test('a new session is let in again once the window since the last one has passed, and not before', async () => {
    const windowMs = 1000;
    const limits = new SessionLimits({ throttle: '1/1' });
    const start = Date.now();
    taken(limits.acquire('10.0.0.1'));
    const afterFirst = Date.now();
    // Ask until it lets one in: every refusal must come within the window, the first pass after it.
    for (;;) {
      const askedAt = Date.now();
      const slot = limits.acquire('10.0.0.1');
      if (!('refused' in slot)) break;
      expect(askedAt - afterFirst).toBeLessThan(windowMs);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(Date.now() - start).toBeGreaterThanOrEqual(windowMs);
    // The one let in starts a new window.
    expect(limits.acquire('10.0.0.1')).toEqual({ refused: 'session.throttle 1/1 exceeded' });
  });
});
