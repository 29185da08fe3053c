import { dataPath } from './data-path.js';

/** Set in a worker's environment by the supervisor (worker-protocol.ts): "fd:slot" of the node's shared session count. */
export const SESSION_COUNT_ENV = 'HASOCKS_SESSION_COUNT';

/**
 * The places for client sessions on this node: `session.max` of them.
 * A single process counts its own; with workers, they share one count in
 * the addon (native/src/session_count.c), so the limit holds for the node
 * as a whole. The OCF agent's probe sessions never take a place (server.ts).
 */
export interface SessionBudget {
  /** Take a place for a new client; false when all `max` are taken. */
  take(max: number): boolean;
  /** A client's session (or its wait for a promotion) is over. */
  give(): void;
}


/** The budget of this process: the shared count when the supervisor handed one over, else its own. */
export function sessionBudget(): SessionBudget {
  const shared = process.env[SESSION_COUNT_ENV];
  if (shared === undefined) {
    let open = 0;
    return {
      take: (max) => open < max && ++open > 0,
      give: () => void open--,
    };
  }
  const { addon } = dataPath();
  const [fd, slot] = shared.split(':').map(Number) as [number, number];
  addon.sessionCountAttach(fd, slot);
  addon.close(fd); // the mapping stays
  return { take: (max) => addon.sessionCountTake(max), give: () => addon.sessionCountGive() };
}
