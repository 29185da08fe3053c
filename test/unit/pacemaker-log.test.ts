// The failover tests tell Pacemaker's one-second re-ask from the rest by
// reading the surviving DC's log (test/helpers/pacemaker-log.ts). Here that
// reading runs on log text shaped like Pacemaker 2.1's, with the lines the
// slow and the fast path write.
import { reaskedInLog } from '../helpers/pacemaker-log.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const base = new Date(2026, 10, 26, 23, 28, 38, 0).getTime();

/** A pacemaker.log line `offsetMs` after `base`, in its local-time format. */
function line(offsetMs: number, daemon: string, text: string): string {
  const t = new Date(base + offsetMs);
  const two = (n: number): string => String(n).padStart(2, '0');
  const stamp = `${MONTHS[t.getMonth()]} ${t.getDate()} ${two(t.getHours())}:${two(t.getMinutes())}:${two(t.getSeconds())}.${String(t.getMilliseconds()).padStart(3, '0')}`;
  return `${stamp} node1 ${daemon.padEnd(19)} [48] (fn) \tinfo: ${text}`;
}

const enter = (ms: number): string => line(ms, 'pacemaker-controld', 'State transition S_FINALIZE_JOIN -> S_POLICY_ENGINE | input=I_FINALIZED');
const schedule = (ms: number): string => line(ms, 'pacemaker-schedulerd', 'node1 is online');

test('a silent second between S_POLICY_ENGINE and the scheduler is the re-ask', () => {
  const log = [enter(263), line(271, 'pacemaker-based', 'Completed cib_modify operation'), schedule(1275)].join('\n');
  expect(reaskedInLog(log, base)).toBe(true);
});

test('the scheduler straight after S_POLICY_ENGINE is the fast path', () => {
  expect(reaskedInLog([enter(63), schedule(75)].join('\n'), base)).toBe(false);
});

test('of several S_POLICY_ENGINE entries, the last before the scheduler counts', () => {
  // A DC that survives enters it twice: at the node loss, and again after the join.
  expect(reaskedInLog([enter(100), enter(1000), schedule(1012)].join('\n'), base)).toBe(false);
});

test('lines before sinceMs do not count', () => {
  // An earlier transition that did re-ask, then the one after the crash, which did not.
  expect(reaskedInLog([enter(-3000), schedule(-1990), enter(100), schedule(110)].join('\n'), base)).toBe(false);
});

test('no scheduler run after sinceMs: no answer', () => {
  expect(reaskedInLog([schedule(-100), enter(200)].join('\n'), base)).toBeUndefined();
});
