import type { LogEvent, PortSpec, RuleAction, RuleCommand, RuleFile, RuleType } from '../config/types.js';
import { DEFAULT_RULE_LOG } from '../config/defaults.js';
import { SessionLimits } from './limits.js';
import { ANY_ADDRESS, type AddressMatcher, ipToBytes16, matchAddress, parseAddressMatch } from './address-match.js';

/** A rule compiled for matching. `number` is 1-based within its type, as Dante counts. */
export interface Rule {
  readonly number: number;
  readonly type: RuleType;
  readonly action: RuleAction;
  readonly from: AddressMatcher;
  readonly to: AddressMatcher;
  readonly ports: ReadonlyArray<readonly [number, number]> | undefined;
  readonly commands: ReadonlySet<RuleCommand> | undefined;
  readonly users: ReadonlySet<string> | undefined;
  readonly methods: ReadonlySet<string> | undefined;
  readonly protocols: ReadonlySet<'tcp' | 'udp'> | undefined;
  readonly log: ReadonlySet<LogEvent>;
  readonly limits: SessionLimits | undefined;
  /** client rules: the GSSAPI service name and keytab for the clients they pass, where they differ from the config's. */
  readonly gssapi?: { readonly servicename?: string | undefined; readonly keytab?: string | undefined } | undefined;
}

/** What a rule is matched against. Addresses are in 16-byte form (see address-match). */
export interface MatchInput {
  readonly clientIp: Buffer;
  /** The client's name from a reverse lookup, when a rule's `from` is a name or a .domain. */
  readonly clientName?: string | undefined;
  /** client rules: the listening address; socks rules: the destination IP, once known. */
  readonly targetIp: Buffer | undefined;
  /** socks rules: the name the client asked for, if it sent one. */
  readonly targetName?: string | undefined;
  /** client rules: the listening port; socks rules: the destination port. */
  readonly port: number;
  readonly command?: RuleCommand;
  readonly method?: string;
  readonly user?: string | undefined;
  readonly protocol?: 'tcp' | 'udp';
  /**
   * The destination is not known yet (a UDP ASSOCIATE request: each datagram
   * names its own). Then a pass rule that limits `to` or `port` may still
   * apply, and a block rule that limits them blocks only some datagrams, so
   * the first counts as a match and the second does not. Datagrams are
   * checked one by one later.
   */
  readonly anyTarget?: boolean;
}

export interface Decision {
  readonly action: RuleAction;
  /** undefined: nothing matched and the default deny applied, or `refused` says why no rule was asked. */
  readonly rule: Rule | undefined;
  /** A block that comes before every rule (an unspecified destination): why. */
  readonly refused?: string;
}

/** The decision when no rule matches: Dante's default deny, logging errors only. */
const DEFAULT_DENY_LOG: ReadonlySet<LogEvent> = new Set<LogEvent>(['connect', 'error']);

export function parsePorts(spec: PortSpec): Array<[number, number]> {
  const items = Array.isArray(spec) ? spec : [spec];
  return items.map((item) => {
    if (typeof item === 'number') return [item, item];
    const [low, high = low] = item.split('-').map(Number) as [number, number?];
    if (low > 65535 || high > 65535) throw new Error(`port "${item}" is above 65535`);
    if (low > high) throw new Error(`port range "${item}" runs backwards; write "${high}-${low}"`);
    return [low, high];
  });
}

/** Compile the rules of a config file. Errors name the rule's JSON path. */
export function compileRules(rules: readonly RuleFile[]): Rule[] {
  const counters: Record<RuleType, number> = { client: 0, socks: 0 };
  return rules.map((rule, index) => {
    const where = `/rules/${index}`;
    const field = <T>(key: string, parse: () => T): T => {
      try {
        return parse();
      } catch (err) {
        throw new Error(`${where}/${key}: ${(err as Error).message}`);
      }
    };
    // A client rule is decided when the connection arrives, before any of these is known: it would never match.
    if (rule.type === 'client') {
      for (const key of ['command', 'user', 'socksmethod', 'protocol'] as const) {
        if (rule[key] !== undefined) throw new Error(`${where}/${key}: a client rule is decided when a connection arrives, before the client names its ${key}; put it in a socks rule`);
      }
    } else if (rule.gssapi !== undefined) {
      throw new Error(`${where}/gssapi: the service a client authenticates to is chosen when it connects; put "gssapi" in a client rule`);
    }
    return {
      number: ++counters[rule.type],
      type: rule.type,
      action: rule.action,
      from: rule.from === undefined ? ANY_ADDRESS : field('from', () => parseAddressMatch(rule.from!)),
      to: rule.to === undefined ? ANY_ADDRESS : field('to', () => parseAddressMatch(rule.to!)),
      ports: rule.port === undefined ? undefined : field('port', () => parsePorts(rule.port!)),
      commands: rule.command && new Set(rule.command),
      users: rule.user && new Set(rule.user),
      methods: rule.socksmethod && new Set(rule.socksmethod),
      protocols: rule.protocol && new Set(rule.protocol),
      log: new Set(rule.log ?? DEFAULT_RULE_LOG),
      limits: rule.session && new SessionLimits(rule.session),
      gssapi: rule.gssapi && { servicename: rule.gssapi.servicename, keytab: rule.gssapi.keytab },
    };
  });
}

/** Does the rule match everything but the destination address and port? */
function matchesClient(rule: Rule, input: MatchInput): boolean {
  if (!matchAddress(rule.from, input.clientIp, input.clientName)) return false;
  if (rule.commands && (input.command === undefined || !rule.commands.has(input.command))) return false;
  if (rule.users && (input.user === undefined || !rule.users.has(input.user))) return false;
  if (rule.methods && (input.method === undefined || !rule.methods.has(input.method))) return false;
  if (rule.protocols && (input.protocol === undefined || !rule.protocols.has(input.protocol))) return false;
  return true;
}

const inPorts = (rule: Rule, port: number): boolean => !rule.ports || rule.ports.some(([low, high]) => port >= low && port <= high);

function matches(rule: Rule, input: MatchInput): boolean {
  if (!matchesClient(rule, input)) return false;
  if (input.anyTarget) {
    const limitsTarget = rule.to.kind !== 'any' || rule.ports !== undefined;
    return !(limitsTarget && rule.action === 'block');
  }
  return matchAddress(rule.to, input.targetIp, input.targetName) && inPorts(rule, input.port);
}

/** First match wins; no match is a block (Dante's semantics). */
export function decide(rules: readonly Rule[], type: RuleType, input: MatchInput): Decision {
  for (const rule of rules) {
    if (rule.type === type && matches(rule, input)) return { action: rule.action, rule };
  }
  return { action: 'block', rule: undefined };
}

/**
 * The decision for a request to a name, made before the name is resolved,
 * when no address it could resolve to would change it: a block, by a rule
 * that matches whatever the address, or because no rule could pass it.
 * Undefined when the address could matter, or when a rule passes it
 * outright; then the name is resolved and decided address by address. A
 * client no rule passes thus learns nothing of which names exist.
 */
export function decideBeforeResolving(rules: readonly Rule[], input: MatchInput & { readonly targetName: string }): Decision | undefined {
  for (const rule of rules) {
    if (rule.type !== 'socks' || !matchesClient(rule, input) || !inPorts(rule, input.port)) continue;
    const to = rule.to;
    // Whether the rule matches does not depend on the address: the name decides, or nothing does.
    // A host name decides by itself unless it has addresses to match too, and a `to` name has none (see resolveRuleHosts).
    const byName = to.kind === 'any' || to.kind === 'domain' || (to.kind === 'host' && (!to.addresses?.length || matchAddress(to, undefined, input.targetName)));
    if (byName && !matchAddress(to, undefined, input.targetName)) continue;
    if (byName) return rule.action === 'block' ? { action: 'block', rule } : undefined;
    if (rule.action === 'pass') return undefined; // an address might match it
  }
  return { action: 'block', rule: undefined, refused: 'no socks rule passes this request, whatever the name resolves to' };
}

export function decisionLogs(decision: Decision, event: LogEvent): boolean {
  return (decision.rule?.log ?? DEFAULT_DENY_LOG).has(event);
}

export function describeDecision(decision: Decision): string {
  if (decision.rule) return `${decision.action} ${decision.rule.type}-rule #${decision.rule.number}`;
  return `block (${decision.refused ?? 'no rule matched'})`;
}

/** True when some rule names clients by name, so each client needs a reverse lookup first. */
export function rulesNeedClientName(rules: readonly Rule[]): boolean {
  return rules.some((rule) => rule.from.kind === 'host' || rule.from.kind === 'domain');
}

/**
 * A host name in `from` also matches the addresses it resolves to. They are
 * looked up when the config loads (and again on every reload), not per
 * client; a name that does not resolve then matches only by reverse lookup.
 */
export async function resolveRuleHosts(rules: readonly Rule[], resolve: (name: string) => Promise<string[]>): Promise<void> {
  for (const rule of rules) {
    if (rule.from.kind !== 'host') continue;
    const matcher = rule.from;
    try {
      matcher.addresses = (await resolve(matcher.name)).map(ipToBytes16);
    } catch {
      matcher.addresses = [];
    }
  }
}
