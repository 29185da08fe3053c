import type { Socket } from 'node:net';
import { GssNegotiation, type GssOutcome, gssIdentityFor, identityKey, protectionName, releaseContext } from '../auth/gssapi.js';
import { MessageProtection } from '../auth/gssapi-protection.js';
import { verifyPassword } from '../auth/users.js';
import type { RuntimeConfig } from '../config/load.js';
import type { Logger } from '../log/logger.js';
import { ipToBytes16 } from '../policy/address-match.js';
import { type Decision, type Rule, decisionLogs, describeDecision } from '../policy/rules.js';
import { formatEndpoint, unmapIPv4 } from '../protocol/address.js';
import { type CommandName, METHOD_BY_NAME, Method, type MethodName, Reply, type ReplyCode, REPLY_TEXT } from '../protocol/constants.js';
import { SocksError } from '../protocol/errors.js';
import { ProtectionLevel } from '../protocol/gssapi-message.js';
import { HandshakeParser, type SocksRequest } from '../protocol/parser.js';
import { authStatus, methodSelection, replyFor } from '../protocol/replies.js';
import type { TcpConnId } from '../native/addon.js';
import { type RelayOptions, type RelayResult, relay, relayInC } from '../relay/relay.js';
import { type AuthorizedRequest, decideClient, firstPassing, refusedBeforeResolving } from './authorize.js';
import { confirmedClientName, resolveDestination } from './resolve.js';
import { COMMAND_HANDLERS } from './command-table.js';
import type { RequestContext, SessionResource } from './request-context.js';
import { type ClientSocket, ClientInC } from '../sockets/c-sessions.js';
import { negotiatesInC, servedInC } from '../sockets/data-path.js';
import type { SocketFactory } from '../sockets/socket-factory.js';

/** How long a refused client gets to read its reply and close before we drop it. */
const LINGER_MS = 2000;

let nextSessionId = 1;

/** Errors after the handshake are seen by whoever owns the socket then; this only keeps Node from throwing. */
function ignoreError(): void {}

/** The address and port a client connected to, when the listener already knows them. */
export interface LocalEnd {
  readonly address: string;
  readonly port: number;
}

/**
 * One client connection, from accept to close: client rules, the SOCKS
 * handshake (driven by the parser's events), the command, then the relay.
 * The config is the one in force when the client arrived; a reload does not
 * change a session already running.
 */
export class Session implements RequestContext {
  readonly id = nextSessionId++;
  /** The server's registry keeps this session's slot here (session-registry.ts). */
  registryIndex = -1;
  readonly clientAddress: string;
  readonly clientPort: number;
  /** The exact address the client connected to: in a cluster, the VIP. */
  readonly localAddress: string;
  readonly localPort: number;
  readonly clientIp: Buffer;
  readonly startedAt = Date.now();
  method: MethodName | undefined;
  username: string | undefined;
  /** The decision of the rule that passed the request; it says what to log. */
  decision: Decision | undefined;
  private request: SocksRequest | undefined;
  /** The client rule that let the client in: it may name the GSSAPI service the client meets. */
  private clientDecision: Decision | undefined;
  /** The GSSAPI sub-negotiation while it runs (RFC 1961 §3-4). */
  private gss: GssNegotiation | undefined;
  /** GSSAPI per-message protection, once negotiated: every byte to and from the client is a wrapped message. */
  private protection: MessageProtection | undefined;

  private readonly parser: HandshakeParser;
  private negotiateTimer: NodeJS.Timeout | undefined;
  private resource: SessionResource | undefined;
  private readonly releases: Array<() => void> = [];
  private closed = false;

  /** The client: in C (c-sessions.ts) or a Node socket; see useNodeSocket. */
  get socket(): ClientSocket {
    return this.client;
  }

  constructor(
    private client: ClientSocket,
    readonly config: RuntimeConfig,
    readonly logger: Logger,
    /** Where this session's outgoing and relay sockets come from (native with freebind). */
    readonly sockets: SocketFactory,
    private readonly onClosed: (session: Session) => void,
    /** From the local probe socket: client rules do not apply, and there is no IP. */
    readonly local = false,
    /** From a listener bound to one address; otherwise the socket is asked. */
    localEnd?: LocalEnd,
    /** The rules in force now: every decision takes them, so a reload reaches a long UDP association's next destination. */
    readonly rulesInForce: () => readonly Rule[] = () => config.rules,
  ) {
    this.clientAddress = unmapIPv4(client.remoteAddress ?? '0.0.0.0');
    this.clientPort = client.remotePort ?? 0;
    this.localAddress = localEnd?.address ?? unmapIPv4(client.localAddress ?? '0.0.0.0');
    this.localPort = localEnd?.port ?? client.localPort ?? 0;
    this.clientIp = ipToBytes16(this.clientAddress);
    this.parser = new HandshakeParser({
      greeting: (methods) => this.onGreeting(methods),
      credentials: (username, password) => void this.onCredentials(username, password),
      request: (request) => this.onRequest(request),
      error: (error) => this.fail(error),
    });
  }

  /** The request's command, once it is known. */
  get command(): CommandName | undefined {
    return this.request?.command;
  }

  /** The destination as "host:port" once the request is known, for log lines; formatted only when one is written. */
  get destinationText(): string {
    return this.request ? formatEndpoint(this.request.destination.host, this.request.destination.port) : '-';
  }

  get label(): string {
    return this.local ? `session ${this.id} (local probe)` : `session ${this.id} ${formatEndpoint(this.clientAddress, this.clientPort)}`;
  }

  /**
   * A debug line about this session. The text is built only when the
   * session's config asks for debug output: several lines per session,
   * formatted and then dropped, were a measurable share of its CPU.
   */
  debug(message: () => string): void {
    if (this.config.debug > 0) this.logger.debug(`${this.label}: ${message()}`);
  }

  /** The client's name, looked up only when a rule names clients by name or domain. */
  clientName: string | undefined;

  /** Look up the client's name if rules need it, then apply the client rules and start the handshake. */
  begin(): void {
    if (this.local || !this.config.lookUpClientNames) {
      this.start();
      return;
    }
    this.socket.pause();
    void confirmedClientName(this.clientAddress).then((name) => {
      if (this.closed) return;
      this.clientName = name;
      this.socket.resume();
      this.start();
    });
  }

  /** Apply the client rules and start the handshake. Returns false if the client was refused. */
  private start(): boolean {
    if (this.local) {
      this.listen();
      return true;
    }
    const decision = decideClient(this, this.clientIp, this.clientName);
    this.clientDecision = decision;
    const line = (): string => `${this.label}: ${describeDecision(decision)}: client ${formatEndpoint(this.clientAddress, this.clientPort)} -> ${formatEndpoint(this.localAddress, this.localPort)}`;
    const refusal = decision.action === 'pass' ? this.takeLimit(decision) : undefined;
    if (decision.action === 'block' || refusal) {
      if (decisionLogs(decision, 'connect') || decisionLogs(decision, 'error')) this.logger.info(`${line()}${refusal ? `, refused: ${refusal}` : ''}`);
      this.close(undefined);
      return false;
    }
    if (decisionLogs(decision, 'connect')) this.logger.info(line());
    this.listen();
    return true;
  }

  /** Feed the parser and watch for stalls, from the first byte on. */
  private listen(): void {
    this.watchNegotiation(this.socket);
    if (this.config.timeouts.negotiate > 0) {
      this.negotiateTimer = setTimeout(() => this.abort('negotiate timeout'), this.config.timeouts.negotiate);
      this.negotiateTimer.unref();
    }
  }

  /** The negotiation's listeners on `socket`: its bytes, and its end or error, which end the session. */
  private watchNegotiation(socket: ClientSocket): void {
    socket.on('data', this.onData);
    socket.on('error', this.onNegotiationError);
    socket.on('end', this.onNegotiationEnd);
  }

  /** The negotiation is over (a request, or a close): the socket's later errors are its next owner's. */
  private unwatchNegotiation(socket: ClientSocket): void {
    socket.off('data', this.onData);
    socket.off('end', this.onNegotiationEnd);
    socket.off('error', this.onNegotiationError);
  }

  /** By when the negotiation must be over (ms since the epoch; Infinity without timeout.negotiate): what a login may wait for. */
  private get negotiateDeadline(): number {
    const timeout = this.config.timeouts.negotiate;
    return timeout > 0 ? this.startedAt + timeout : Infinity;
  }

  /** Apply a passing rule's session limits (released when the session ends); undefined when admitted, else why not. */
  takeLimit(decision: Decision): string | undefined {
    const limits = decision.rule?.limits;
    if (!limits) return undefined;
    const slot = limits.acquire(this.clientAddress);
    if ('refused' in slot) return slot.refused;
    this.releases.push(slot.release);
    return undefined;
  }

  private readonly onData = (chunk: Buffer): void => {
    this.debug(() => `${chunk.length} bytes in state ${this.gss ? 'GSSAPI negotiation' : this.parser.currentState}`);
    if (this.gss) this.gss.push(chunk);
    else if (this.protection) this.openProtected(chunk);
    else this.parser.push(chunk);
  };

  /** The request arrives in wrapped messages: their plain bytes go to the parser. */
  private openProtected(raw: Buffer): void {
    let opened;
    try {
      opened = this.protection!.open(raw);
    } catch (err) {
      this.abort(`GSSAPI: ${(err as Error).message}`);
      return;
    }
    for (const plain of opened.plain) this.parser.push(plain);
    if (opened.ended) this.abort('the client sent a GSSAPI abort (01 ff)');
  }

  private readonly onNegotiationError = (err: Error): void => this.abort(`client error: ${err.message}`);
  private readonly onNegotiationEnd = (): void => this.abort('client closed during negotiation');

  private onGreeting(offered: readonly number[]): void {
    const chosen = this.config.methods.find((name) => offered.includes(METHOD_BY_NAME[name]));
    this.debug(() => `offers methods [${offered.join(',')}], chose ${chosen ?? 'none acceptable'}`);
    if (chosen === undefined) {
      this.logger.info(`${this.label}: no acceptable authentication method among [${offered.join(',')}]`);
      this.close(methodSelection(Method.NO_ACCEPTABLE));
      return;
    }
    this.method = chosen;
    if (!negotiatesInC(chosen)) this.negotiateInNode();
    if (chosen === 'gssapi') {
      this.negotiateGssapi();
      return;
    }
    this.socket.write(methodSelection(METHOD_BY_NAME[chosen]));
    if (chosen === 'username') this.parser.expectCredentials();
    else this.parser.expectRequest();
  }

  private async onCredentials(username: string, password: Buffer): Promise<void> {
    // Nothing more is read until the verdict: a client cannot pile up bytes meanwhile.
    this.socket.pause();
    let ok = false;
    try {
      ok = await verifyPassword(this.config.users ?? new Map(), username, password, this.local ? undefined : this.clientAddress, this.negotiateDeadline);
    } catch (err) {
      // Dropped at its deadline, which the session's own negotiate timeout has met first.
      if (!this.closed) this.logger.error(`${this.label}: checking the password of user "${username}" failed: ${(err as Error).message}`);
    }
    password.fill(0);
    if (this.closed) return;
    if (!ok) {
      this.logger.info(`${this.label}: authentication failed for user "${username}"`);
      this.close(authStatus(false));
      return;
    }
    this.username = username;
    this.debug(() => `authenticated as "${username}"`);
    this.socket.write(authStatus(true));
    this.socket.resume();
    this.parser.expectRequest();
  }

  /** A method JavaScript must see the bytes of (data-path.ts, negotiatesInC): the client in C becomes a Node socket, its listeners with it. */
  private negotiateInNode(): void {
    if (!(this.client instanceof ClientInC)) return;
    this.unwatchNegotiation(this.client);
    const socket = this.useNodeSocket();
    this.watchNegotiation(socket);
    socket.resume();
  }

  /**
   * Method GSSAPI: the negotiation reads the client until it settles who
   * the client is and how the rest is protected.
   */
  private negotiateGssapi(): void {
    // load.ts refuses "gssapi" among the methods without its section, and has read the keytab of every identity a client rule names.
    const gssapi = this.config.gssapi!;
    const service = gssapi.services.get(identityKey(gssIdentityFor(gssapi.identity, this.clientDecision?.rule)))!;
    this.gss = new GssNegotiation(
      {
        service,
        levels: gssapi.levels,
        necCompatibility: gssapi.necCompatibility,
        client: this.local ? undefined : this.clientAddress,
        deadline: this.negotiateDeadline,
      },
      {
        send: (bytes) => void this.socket.write(bytes),
        pause: () => void this.socket.pause(),
        resume: () => void this.socket.resume(),
        done: (outcome) => this.onGssapiDone(outcome, service.servicename),
        refused: (reason) => {
          this.gss = undefined;
          this.logger.info(`${this.label}: GSSAPI authentication to ${service.servicename} refused: ${reason}`);
          this.close(undefined); // 01 ff has gone
        },
      },
    );
    this.socket.write(methodSelection(Method.GSSAPI));
    // A client that did not wait for the selection: what it sent after its greeting is the negotiation's.
    for (const early of this.parser.takeBuffered()) this.gss?.push(early);
  }

  private onGssapiDone(outcome: GssOutcome, servicename: string): void {
    const rest = this.gss!.takeBuffered();
    this.gss = undefined;
    this.username = outcome.principal;
    this.logger.info(`${this.label}: GSSAPI: authenticated "${outcome.principal}" to ${servicename}, protection ${protectionName(outcome.level)}`);
    if (outcome.level === ProtectionLevel.CLEAR) {
      releaseContext(outcome.context); // nothing more is wrapped
    } else {
      try {
        this.protection = new MessageProtection(outcome.context, outcome.level);
      } catch (err) {
        this.abort(`GSSAPI: ${(err as Error).message}`);
        return;
      }
    }
    this.parser.expectRequest();
    for (const raw of rest) this.onData(raw);
  }

  /** Send a reply to the request: wrapped when per-message protection is in force (a reply that cannot be wrapped ends the session). */
  sendReply(reply: Buffer): void {
    const bytes = this.protection ? this.sealed(reply) : reply;
    if (bytes) this.socket.write(bytes);
    else this.terminate('GSSAPI: the reply could not be wrapped');
  }

  private onRequest(request: SocksRequest): void {
    clearTimeout(this.negotiateTimer);
    // Hold further client bytes (early data) in the kernel until the relay starts.
    this.socket.pause();
    // From here the command handler and then the relay watch the socket; a
    // client that goes away shows up as 'close'.
    this.unwatchNegotiation(this.socket);
    this.socket.on('error', ignoreError);
    this.request = request;
    this.requestedAt = Date.now();
    this.debug(() => `SOCKS${request.version} ${request.command} ${this.destinationText}`);
    // Whether the client stays in C: BIND and UDP ASSOCIATE know now; CONNECT once its rule is known (connect.ts).
    if (!servedInC(request.command, this.client)) this.useNodeSocket();
    if (request.version === 4) {
      // SOCKS4 carries no authentication, so it is only for configs that allow none.
      if (!this.config.methods.includes('none')) {
        this.reject(4, Reply.NOT_ALLOWED, 'SOCKS4 cannot authenticate and socksmethod does not include "none"');
        return;
      }
      this.method = 'none';
    }
    if (this.protection && request.command === 'udpassociate') {
      this.reject(5, Reply.COMMAND_NOT_SUPPORTED, 'UDP ASSOCIATE under GSSAPI per-message protection is not supported');
      return;
    }
    // The parser answers an unknown command itself (REP 07): every name it passes has a handler.
    COMMAND_HANDLERS[request.command](this, request);
  }

  /**
   * Resolve a CONNECT or BIND destination and apply the socks rules and
   * their limits. On success `proceed` gets the address to use, at once when
   * the destination is an IP; on failure the session replies and closes.
   */
  authorizeRequest(request: SocksRequest, proceed: (allowed: AuthorizedRequest) => void): void {
    const { destination, version } = request;
    const refused = destination.type === 'domain' ? refusedBeforeResolving(this, request.command, destination.host, destination.port) : undefined;
    if (refused) {
      this.decision = refused;
      this.reject(version, Reply.NOT_ALLOWED, describeDecision(refused));
      return;
    }
    resolveDestination(
      destination.host,
      { deadline: this.requestDeadline, client: this.local ? undefined : this.clientAddress },
      (addresses) => {
        if (!this.closed) this.authorizeAddresses(request, addresses, proceed);
      },
      (err) => this.reject(version, Reply.HOST_UNREACHABLE, `cannot resolve ${destination.host}: ${err.code ?? String(err)}`),
    );
  }

  /** When the request arrived; timeout.connect counts from here, name resolution included. */
  requestedAt = 0;

  /** By when a CONNECT or BIND must have resolved and connected (ms since the epoch; Infinity without timeout.connect). */
  get requestDeadline(): number {
    const timeout = this.config.timeouts.connect;
    return timeout > 0 ? this.requestedAt + timeout : Infinity;
  }

  private authorizeAddresses(request: SocksRequest, addresses: readonly string[], proceed: (allowed: AuthorizedRequest) => void): void {
    const { destination, version } = request;
    if (addresses.length === 0) {
      this.reject(version, Reply.HOST_UNREACHABLE, `${destination.host} has no address`);
      return;
    }
    const name = destination.type === 'domain' ? destination.host : undefined;
    const chosen = firstPassing(this, request.command, name, addresses, destination.port);
    this.decision = chosen.decision;
    if (chosen.address === undefined) {
      this.reject(version, Reply.NOT_ALLOWED, describeDecision(chosen.decision));
      return;
    }
    const refusal = this.takeLimit(chosen.decision);
    if (refusal) {
      this.reject(version, Reply.NOT_ALLOWED, `${describeDecision(chosen.decision)}: ${refusal}`);
      return;
    }
    proceed({ address: chosen.address, decision: chosen.decision });
  }

  /** Bytes the client sent after its request, in order, for the relay to forward first. */
  takeEarlyData(): Buffer[] {
    return this.parser.takeBuffered();
  }

  /**
   * From here on the client is a Node socket, for what only Node streams do
   * (BIND, UDP ASSOCIATE, a rule that logs data). A client in C becomes one,
   * paused, with nothing lost; a Node socket stays as it is.
   */
  useNodeSocket(): Socket {
    if (this.client instanceof ClientInC) {
      this.client = this.client.toNodeSocket();
      this.client.on('error', ignoreError);
    }
    return this.client as Socket;
  }

  /** Relay between the client and `peer` until either ends; logs the disconnect. */
  startRelay(peer: Socket): void {
    const logData = this.decision !== undefined && decisionLogs(this.decision, 'data');
    const options = this.relayOptions(logData);
    this.resource = relay(this.useNodeSocket(), peer, this.takeEarlyData(), options, this.onRelayEnd, this.protection);
  }

  /** Relay between the client in C and its dial (connect.ts) in the C relay. */
  startRelayInC(dial: TcpConnId): void {
    const client = this.client as ClientInC;
    client.forget(); // the relay owns its descriptor now
    this.resource = relayInC(client.id, dial, this.takeEarlyData(), this.relayOptions(false), this.onRelayEnd);
  }

  private relayOptions(logData: boolean): RelayOptions {
    return {
      idleTimeout: this.config.timeouts.ioTcp,
      finWait: this.config.timeouts.tcpFinWait,
      onData: logData ? (direction, chunk) => this.logger.info(`${this.label}: data ${direction} ${chunk.length} bytes: ${chunk.subarray(0, 32).toString('hex')}`) : undefined,
    };
  }

  private readonly onRelayEnd = (result: RelayResult): void => {
    this.debug(() => `relay ended on ${result.native ? 'the C relay' : 'Node streams'}`);
    if (this.decision && decisionLogs(this.decision, 'disconnect')) {
      const seconds = ((Date.now() - this.startedAt) / 1000).toFixed(3);
      this.logger.info(
        `${this.label}: disconnect ${this.destinationText}: up ${result.bytesUp} bytes, down ${result.bytesDown} bytes, ${seconds}s, ${result.reason}${result.error ? ` (${result.error.message})` : ''}`,
      );
    }
    this.finished();
  };

  /** A BIND listener or UDP association that must close with the session. */
  own(resource: SessionResource): void {
    this.resource = resource;
  }

  /** A reload put new rules in force: what the session decided and kept must be decided again. */
  rulesChanged(): void {
    this.resource?.rulesChanged?.();
  }

  /** Send a failure reply for the request and close. */
  reject(version: 4 | 5, code: ReplyCode, why: string): void {
    const logs = this.decision ? decisionLogs(this.decision, 'error') : true;
    if (logs) this.logger.info(`${this.label}: ${this.destinationText}: ${REPLY_TEXT[code]} (${why})`);
    this.close(replyFor(version, code));
  }

  /** Stop the session now (drain timeout, shutdown, the client went away). */
  terminate(reason: string): void {
    if (this.resource) this.resource.close(reason);
    this.abort(reason);
  }

  private fail(error: SocksError): void {
    this.logger.info(`${this.label}: protocol error: ${error.message}`);
    const version = this.parser.version;
    // A reply exists only where the client is already at the request stage.
    const reply = error.reply !== undefined && version !== undefined && (version === 4 || this.method !== undefined);
    this.close(reply ? replyFor(version, error.reply!) : undefined);
  }

  private abort(reason: string): void {
    if (this.closed) return;
    // The agent's probes hang up after the greeting every few seconds; that is not news.
    if (this.local) this.debug(() => reason);
    else this.logger.info(`${this.label}: ${reason}`);
    this.socket.destroy();
    this.finished();
  }

  /** Send `last` (if any), finish our side cleanly, and drop the peer if it lingers. */
  close(last: Buffer | undefined): void {
    if (this.closed) return;
    clearTimeout(this.negotiateTimer);
    this.unwatchNegotiation(this.socket);
    this.socket.on('error', ignoreError);
    const sealed = last && this.protection ? this.sealed(last) : last;
    if (sealed) this.socket.end(sealed);
    else this.socket.end();
    this.socket.resume(); // discard what else the client sends, so its FIN is seen
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
    this.finished();
  }

  /** A last reply, wrapped; undefined (close without it) if the context cannot wrap it. */
  private sealed(reply: Buffer): Buffer | undefined {
    try {
      return Buffer.concat(this.protection!.seal(reply));
    } catch (err) {
      this.logger.info(`${this.label}: GSSAPI: cannot wrap the reply: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** Whether the session has ended (a command handler checks after waiting for something). */
  get isClosed(): boolean {
    return this.closed;
  }

  /** The session is over: release its limits and leave the server's registry. */
  finished(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.negotiateTimer);
    this.gss?.cancel();
    this.protection?.close();
    for (const release of this.releases) release();
    this.onClosed(this);
  }
}
