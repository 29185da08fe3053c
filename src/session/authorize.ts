import type { RuleCommand } from '../config/types.js';
import { ipToBytes16 } from '../policy/address-match.js';
import { type Decision, type MatchInput, decide, decideBeforeResolving } from '../policy/rules.js';
import { forbiddenDestination, unmapIPv4 } from '../protocol/address.js';
import type { Asker } from './request-context.js';

/** A CONNECT or BIND request the socks rules passed: the address to use and the rule that passed it. */
export interface AuthorizedRequest {
  readonly address: string;
  readonly decision: Decision;
}

export interface Target {
  /** The IP actually used. */
  readonly address: string;
  /** The name the client asked for, if it gave one. */
  readonly name?: string | undefined;
  readonly port: number;
}

/** The probe socket's sessions are the agent's own deep check: they pass as if by a rule that logs errors only. */
const LOCAL_PASS: Decision = {
  action: 'pass',
  rule: { number: 0, type: 'socks', action: 'pass', from: { kind: 'any' }, to: { kind: 'any' }, ports: undefined, commands: undefined, users: undefined, methods: undefined, protocols: undefined, log: new Set(['error']), limits: undefined },
};

/** The client-rule decision for a client (its address in 16-byte form, and its confirmed name) arriving where the asker's client did. */
export function decideClient(asker: Asker, clientIp: Buffer, clientName: string | undefined): Decision {
  return decide(asker.rulesInForce(), 'client', { clientIp, clientName, targetIp: ipToBytes16(asker.localAddress), port: asker.localPort });
}

/** The agent's probes CONNECT, nothing else: a BIND or UDP relay opened past the rules would serve anyone. */
function localDecision(command: RuleCommand): Decision {
  return command === 'connect' ? LOCAL_PASS : { action: 'block', rule: undefined, refused: "the agent's probe socket serves CONNECT only" };
}

/**
 * The socks-rule input for one request or datagram: who the client is and
 * how it authenticated, plus the target. Built field by field: an object
 * spread here cost about 5 µs per session in Node 20 (a third of the
 * proxy's own work per session, by the profile).
 */
function socksInput(asker: Asker, target: Target | undefined, port: number, command: RuleCommand, protocol: 'tcp' | 'udp', anyTarget: boolean): MatchInput {
  return {
    clientIp: asker.clientIp,
    clientName: asker.clientName,
    method: asker.method ?? 'none',
    user: asker.username,
    targetIp: target && ipToBytes16(target.address),
    targetName: target?.name,
    port,
    command,
    protocol,
    anyTarget,
  };
}

/**
 * The socks-rule decision for one request or datagram of this asker. A
 * destination that would reach this host behind the rules' back (the
 * unspecified address) is refused first, for every client; a BIND names
 * the peer it expects, where 0.0.0.0 means any peer, so it is exempt.
 */
export function decideSocks(asker: Asker, command: RuleCommand, target: Target, protocol: 'tcp' | 'udp'): Decision {
  const forbidden = command === 'bind' ? undefined : forbiddenDestination(target.address);
  if (forbidden) return { action: 'block', rule: undefined, refused: forbidden };
  if (asker.local) return localDecision(command);
  return decide(asker.rulesInForce(), 'socks', socksInput(asker, target, target.port, command, protocol, false));
}

/** A request to a name that the socks rules refuse whatever it resolves to: decided without resolving it (see decideBeforeResolving). */
export function refusedBeforeResolving(asker: Asker, command: RuleCommand, name: string, port: number, protocol: 'tcp' | 'udp' = 'tcp'): Decision | undefined {
  if (asker.local) return undefined;
  return decideBeforeResolving(asker.rulesInForce(), { ...socksInput(asker, undefined, port, command, protocol, false), targetName: name });
}

/**
 * May this client open a UDP association at all? Its datagrams name their
 * own destinations, so those are checked one by one later (see
 * MatchInput.anyTarget).
 */
export function decideAssociation(asker: Asker): Decision {
  if (asker.local) return localDecision('udpassociate');
  return decide(asker.rulesInForce(), 'socks', socksInput(asker, undefined, 0, 'udpassociate', 'udp', true));
}

/**
 * Replies from the far side (bindreply, udpreply) are matched as Dante does:
 * `from` is the remote peer and `to` is the client.
 */
export function decideReply(asker: Asker, command: 'bindreply' | 'udpreply', peer: string, peerPort: number, protocol: 'tcp' | 'udp'): Decision {
  return decide(asker.rulesInForce(), 'socks', {
    clientIp: ipToBytes16(unmapIPv4(peer)),
    targetIp: asker.clientIp,
    port: peerPort,
    command,
    method: asker.method ?? 'none',
    user: asker.username,
    protocol,
  });
}

/**
 * Check the socks rules for every address a name resolves to and keep the
 * first one that passes. Rules see the resolved IP, so a name that points
 * into a blocked network is blocked like the network itself.
 */
export function firstPassing(
  asker: Asker,
  command: RuleCommand,
  name: string | undefined,
  addresses: readonly string[],
  port: number,
): { address: string; decision: Decision } | { address: undefined; decision: Decision } {
  let firstBlock: Decision | undefined;
  for (const address of addresses) {
    const decision = decideSocks(asker, command, { address, name, port }, 'tcp');
    if (decision.action === 'pass') return { address, decision };
    firstBlock ??= decision;
  }
  return { address: undefined, decision: firstBlock ?? { action: 'block', rule: undefined } };
}
