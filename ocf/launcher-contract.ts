// What the launcher (ocf/hasocks, sh) and the agent must agree on: where an
// instance's state directory is, the promotion scores and degraded threshold
// a recurring monitor applies, and demote's drain time. The launcher answers
// promote, demote and that monitor without starting Node, so it cannot
// import these; the build writes them as a shell file it sources
// (ocf/write-launcher-contract.ts).
import { CONTROL_SOCKET } from '../src/process/control-protocol.js';
import { shellQuote } from '../src/shell-quote.js';

/** Where state directories go when HA_RSCTMP is unset. */
export const STATE_DIR_PARENT = '/run/resource-agents';
/** A state directory is named this, then the instance name. */
export const STATE_DIR_PREFIX = 'hasocks-';
/** The instance name when Pacemaker gives none, or nothing of it is left. */
export const DEFAULT_INSTANCE = 'hasocks';
/**
 * The characters an instance name keeps in a file name, as a bracket
 * expression's inside: every other becomes "-" ("socks:1" is "socks-1"),
 * and leading dots become one "_", so the name is never hidden nor "..".
 */
export const INSTANCE_NAME_CHARACTERS = 'A-Za-z0-9_.-';
/** The file in the state directory that remembers the promotion score last set. */
export const SCORE_FILE = 'promotion-score';
/**
 * The file in the state directory that says a deep check (depth 10 or 20)
 * failed, and at which depth. A shallower monitor cannot vouch for what it
 * found, so until a check that deep passes, the score stays unhealthy and
 * the launcher leaves the recurring monitor to the full agent.
 */
export const DEEP_FAILURE_FILE = 'deep-check-failed';

/**
 * Promotion scores. A healthy Promoted instance scores higher than a healthy
 * standby plus the examples' preference for a node that is not the DC (50),
 * so a running service stays where it is (and `pcs resource move` sticks),
 * while a failover among several survivors picks one that is not the DC.
 * The promoted score is set by the monitor, never by promote, which is on a
 * failover's critical path.
 */
export const PROMOTION_SCORE = { healthy: 100, promoted: 160, unhealthy: 10 } as const;

/** drain_timeout's default, in seconds: how long a demoted instance lets open sessions finish. */
export const DEFAULT_DRAIN_TIMEOUT = 10;

/** degraded_percent's default: monitor reports DEGRADED at this share of a limit. */
export const DEFAULT_DEGRADED_PERCENT = 90;

/** The launcher's copy of the contract: sh assignments it sources. */
export function shellContract(): string {
  const values: Record<string, string | number> = {
    state_dir_parent: STATE_DIR_PARENT,
    state_dir_prefix: STATE_DIR_PREFIX,
    default_instance: DEFAULT_INSTANCE,
    instance_name_characters: INSTANCE_NAME_CHARACTERS,
    control_socket: CONTROL_SOCKET,
    score_file: SCORE_FILE,
    deep_failure_file: DEEP_FAILURE_FILE,
    promotion_score_healthy: PROMOTION_SCORE.healthy,
    promotion_score_promoted: PROMOTION_SCORE.promoted,
    default_degraded_percent: DEFAULT_DEGRADED_PERCENT,
    default_drain_timeout: DEFAULT_DRAIN_TIMEOUT,
  };
  const lines = Object.entries(values).map(([name, value]) => `${name}=${shellQuote(String(value))}`);
  return ['# Written by the build from ocf/launcher-contract.ts, for ocf/hasocks to source. Do not edit.', ...lines, ''].join('\n');
}
