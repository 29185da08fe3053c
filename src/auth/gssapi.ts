import { statSync } from 'node:fs';
import { type AcceptorCredential, type GssAddon, type GssContext, type GssRound, loadGssAddon } from '../native/gssapi-addon.js';
import { GSS_ABORT, GssMessageReader, GssMessageType, ProtectionLevel, type ProtectionLevelCode, gssMessage } from '../protocol/gssapi-message.js';
import type { SocksError } from '../protocol/errors.js';
import { clientKey, gssapiRounds } from './thread-pool.js';

/**
 * GSSAPI authentication, the server's side (RFC 1961): the service
 * identity (service name and keytab), the context establishment and the
 * protection-level negotiation. What follows a negotiated protection level
 * is gssapi-protection.ts.
 */

/** The protection levels a config names. */
export type ProtectionName = 'clear' | 'integrity' | 'confidentiality';
export const PROTECTION_LEVEL: Readonly<Record<ProtectionName, ProtectionLevelCode>> = {
  clear: ProtectionLevel.CLEAR,
  integrity: ProtectionLevel.INTEGRITY,
  confidentiality: ProtectionLevel.CONFIDENTIALITY,
};

/** A granted level's name, for logs. */
export const protectionName = (level: ProtectionLevelCode): ProtectionName => (Object.keys(PROTECTION_LEVEL) as ProtectionName[]).find((name) => PROTECTION_LEVEL[name] === level)!;

/** Who the proxy is to its clients: one shared name and keytab on every node of a cluster. */
export interface GssIdentity {
  readonly servicename: string;
  readonly keytab: string;
}

/** The identity a client meets: a client rule's service name or keytab where it names one, the config's otherwise. */
export function gssIdentityFor(configured: GssIdentity, rule: { readonly gssapi?: Partial<GssIdentity> | undefined } | undefined): GssIdentity {
  return { servicename: rule?.gssapi?.servicename ?? configured.servicename, keytab: rule?.gssapi?.keytab ?? configured.keytab };
}

/** How the identities are told apart in GssapiConfig.services. */
export const identityKey = (identity: GssIdentity): string => `${identity.servicename}\n${identity.keytab}`;

/** An identity whose keytab has been read: what the acceptor uses. */
export interface GssService extends GssIdentity {
  readonly credential: AcceptorCredential;
}

/**
 * How a service name is imported, or why it cannot be. "rcmd/socks.example.test"
 * (with "/") is a Kerberos principal; "rcmd@socks.example.test" is
 * host-based. A bare "rcmd" would let GSS-API fill in each node's own host
 * name, and in a cluster each node would then be a different service:
 * refused.
 */
export function serviceNameKind(servicename: string): { kind: 'principal' | 'hostBased' } | { problem: string } {
  if (servicename.includes('/')) {
    const [service, host] = servicename.split('/', 2) as [string, string];
    if (service === '' || host === '' || host.startsWith('@')) return { problem: `"${servicename}" must be "service/host" or "service/host@REALM"` };
    return { kind: 'principal' };
  }
  const at = servicename.indexOf('@');
  if (at <= 0 || at === servicename.length - 1) {
    return {
      problem:
        `"${servicename}" names no host: write a principal such as "rcmd/socks.example.test" or a host-based name such as "rcmd@socks.example.test", ` +
        "with the name clients use for the VIP (a name without a host would become each node's own host name, and the nodes would no longer share one identity)",
    };
  }
  return { kind: 'hostBased' };
}

/** Why `keytab` is no place for the service's keys, or undefined: it must be a file readable by no one but its owner and group. */
export function keytabProblem(keytab: string): string | undefined {
  let info;
  try {
    info = statSync(keytab);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `keytab ${keytab} does not exist` : `cannot examine keytab ${keytab}: ${(err as Error).message}`;
  }
  if (!info.isFile()) return `keytab ${keytab} is not a file`;
  if ((info.mode & 0o007) !== 0) return `keytab ${keytab} is accessible by others (mode ${(info.mode & 0o777).toString(8)}); run "chmod o-rwx ${keytab}"`;
  return undefined;
}

/** The GSS-API addon, or an Error saying what to install. */
export function gssAddon(): GssAddon {
  const loaded = loadGssAddon();
  if ('why' in loaded) throw new Error(loaded.why);
  return loaded.addon;
}

/** Release a context now, if it is not already (one busy with a round is released when the round fails, or by its finalizer). */
export function releaseContext(context: GssContext): void {
  try {
    gssAddon().deleteContext(context);
  } catch {
    /* busy with a round, or released already */
  }
}

/** Read the keytab for the service name: throws, in words an operator can act on, when it holds no key for it. */
export function acquireService(identity: GssIdentity, replayCache: string | undefined): GssService {
  const addon = gssAddon();
  const parsed = serviceNameKind(identity.servicename);
  if ('problem' in parsed) throw new Error(parsed.problem);
  const problem = keytabProblem(identity.keytab);
  if (problem) throw new Error(problem);
  const credential = addon.acquireAcceptor(identity.servicename, addon.nameKind[parsed.kind], identity.keytab, replayCache);
  return { ...identity, credential };
}

/** What the negotiation settles. */
export interface GssOutcome {
  /** The client's principal, "alice@EXAMPLE.TEST": what `user` in rules matches. */
  readonly principal: string;
  readonly level: ProtectionLevelCode;
  readonly context: GssContext;
}

export interface NegotiationSettings {
  readonly service: GssService;
  /** The client's address (undefined for the agent's probes), whose turn on the thread pool a round takes, and when the negotiation must be over. */
  readonly client: string | undefined;
  readonly deadline: number;
  /** The levels the config allows. */
  readonly levels: ReadonlySet<ProtectionLevelCode>;
  /** Accept the protection-level message bare, as NEC's clients send it. */
  readonly necCompatibility: boolean;
}

export interface NegotiationEvents {
  send(bytes: Buffer): void;
  /** Stop or restart reading the client while a round runs off the event loop. */
  pause(): void;
  resume(): void;
  done(outcome: GssOutcome): void;
  /** Refused (01 ff already sent); `reason` is for the log only. */
  refused(reason: string): void;
}

const Phase = { ESTABLISH: 'ESTABLISH', PROTECTION: 'PROTECTION', DONE: 'DONE' } as const;
type NegotiationPhase = (typeof Phase)[keyof typeof Phase];

/**
 * The server's side of RFC 1961 §3-4 for one client: message type 1 tokens
 * until the context is established (as many rounds as the mechanism needs;
 * each gss_accept_sec_context runs on the thread pool, the client unread
 * meanwhile), then one type 2 message that asks for a protection level.
 * The answer is the level granted; a level the config does not allow is
 * refused. Every failure sends 01 ff and nothing else.
 */
export class GssNegotiation {
  private phase: NegotiationPhase = Phase.ESTABLISH;
  private readonly addon = gssAddon();
  private readonly context: GssContext;
  private readonly reader: GssMessageReader;
  private principal = '';
  /** The established context's flags. */
  private flags = 0;

  constructor(
    private readonly settings: NegotiationSettings,
    private readonly events: NegotiationEvents,
  ) {
    this.context = this.addon.createContext();
    this.reader = new GssMessageReader({
      message: (type, token) => void this.onMessage(type, token),
      abort: () => this.refuse('the client sent an abort (01 ff)', false),
      error: (error: SocksError) => this.refuse(error.message),
    });
  }

  push(chunk: Buffer): void {
    this.reader.push(chunk);
  }

  /** Bytes that came after the protection-level message: the first encapsulated messages. */
  takeBuffered(): Buffer[] {
    return this.reader.takeBuffered();
  }

  /** The session ended first: release the context. */
  cancel(): void {
    if (this.phase === Phase.DONE) return;
    this.phase = Phase.DONE;
    this.reader.end();
    releaseContext(this.context);
  }

  private async onMessage(type: number, token: Buffer): Promise<void> {
    if (this.phase === Phase.ESTABLISH && type === GssMessageType.AUTHENTICATION) await this.establish(token);
    else if (this.phase === Phase.PROTECTION && type === GssMessageType.PROTECTION) this.negotiateProtection(token);
    else this.refuse(`a GSSAPI message of type ${type} while ${this.phase === Phase.ESTABLISH ? 'establishing the context' : 'negotiating protection'}`);
  }

  private async establish(token: Buffer): Promise<void> {
    this.events.pause();
    let round;
    try {
      const accept = (): Promise<GssRound> => this.addon.accept(this.settings.service.credential, this.context, token);
      round = this.settings.client === undefined ? await accept() : await gssapiRounds.run(clientKey(this.settings.client), accept, this.settings.deadline);
    } catch (err) {
      this.refuse(`authentication failed for service ${this.settings.service.servicename}: ${(err as Error).message}`);
      return;
    }
    if (this.phase === Phase.DONE) return;
    if (round.token.length > 0) this.events.send(gssMessage(GssMessageType.AUTHENTICATION, round.token));
    if (round.complete) {
      const problem = this.flagsProblem(round.flags);
      if (problem) {
        this.refuse(problem);
        return;
      }
      this.flags = round.flags;
      this.principal = round.peer ?? '';
      this.phase = Phase.PROTECTION;
    }
    this.events.resume();
    this.reader.resume();
  }

  private negotiateProtection(token: Buffer): void {
    // RFC 1961 wraps the one octet; NEC's clients send it bare.
    const bare = this.settings.necCompatibility && token.length === 1;
    let asked: number;
    try {
      const data = bare ? token : this.addon.unwrap(this.context, token).data;
      if (data.length !== 1) throw new Error(`${data.length} octets, not 1`);
      asked = data[0]!;
    } catch (err) {
      this.refuse(`a malformed protection-level message: ${(err as Error).message}${!this.settings.necCompatibility && token.length === 1 ? ' (a bare level, as NEC clients send: set "necCompatibility": true to accept them)' : ''}`);
      return;
    }
    const level = this.grant(asked);
    if (level === undefined) {
      this.refuse(`the client asked for protection level ${asked}, which the config does not allow (allowed: ${[...this.settings.levels].join(', ')})`);
      return;
    }
    const answer = Buffer.from([level]);
    try {
      this.events.send(gssMessage(GssMessageType.PROTECTION, bare ? answer : this.addon.wrap(this.context, false, answer)));
    } catch (err) {
      this.refuse(`cannot protect the protection-level answer: ${(err as Error).message}`);
      return;
    }
    this.phase = Phase.DONE;
    this.events.done({ principal: this.principal, level, context: this.context });
  }

  /**
   * Why an established context will not do, or undefined. RFC 1961 §3
   * has the client ask for mutual authentication, replay detection and
   * sequencing: with them, each side contributes a key of its own, so a
   * recording of one session replayed to another node (which has its own
   * replay cache) fails, and a message replayed, dropped or reordered
   * within a session is caught. An anonymous client has no principal.
   */
  private flagsProblem(flags: number): string | undefined {
    const { mutual, replay, sequence, integrity, anonymous } = this.addon.flags;
    const missing = Object.entries({ 'mutual authentication': mutual, 'replay detection': replay, sequencing: sequence, integrity })
      .filter(([, flag]) => (flags & flag) === 0)
      .map(([name]) => name);
    if (missing.length > 0) return `the client's context lacks ${missing.join(', ')} (RFC 1961 has clients ask for them)`;
    if ((flags & anonymous) !== 0) return 'an anonymous client has no principal to authenticate';
    return undefined;
  }

  /** The level to grant for `asked`: itself when allowed (and the context can give it); for "selective", the strongest such. */
  private grant(asked: number): ProtectionLevelCode | undefined {
    const { levels } = this.settings;
    const possible = (level: ProtectionLevelCode): boolean => levels.has(level) && (level !== ProtectionLevel.CONFIDENTIALITY || (this.flags & this.addon.flags.confidentiality) !== 0);
    if (asked === ProtectionLevel.SELECTIVE) return [ProtectionLevel.CONFIDENTIALITY, ProtectionLevel.INTEGRITY].find(possible);
    return possible(asked as ProtectionLevelCode) ? (asked as ProtectionLevelCode) : undefined;
  }

  private refuse(reason: string, answer = true): void {
    if (this.phase === Phase.DONE) return;
    this.phase = Phase.DONE;
    this.reader.end();
    releaseContext(this.context);
    if (answer) this.events.send(GSS_ABORT);
    this.events.refused(reason);
  }
}
