import { isIPv4 } from 'node:net';
import { type SocksAddress, bytesToIPv4, ipFromBytes16 } from './address.js';
import {
  AddressType,
  COMMAND_NAME,
  Command,
  type CommandName,
  Reply,
  SOCKS4,
  SOCKS5,
  USERPASS_VERSION,
} from './constants.js';
import { SocksError } from './errors.js';
import { ByteQueue } from './byte-queue.js';
import { escapeBytes, hostNameProblem } from './host-name.js';

/** A complete request, SOCKS5 or SOCKS4/4a, with its destination still unresolved. */
export interface SocksRequest {
  readonly version: 4 | 5;
  readonly command: CommandName;
  readonly destination: SocksAddress;
  /** SOCKS4 USERID field; informational only. */
  readonly userId?: string;
}

/** What the parser reports. The session decides what each message means. */
export interface ParserEvents {
  /** SOCKS5 greeting: the methods the client offers. The session must answer and then call expect*(). */
  greeting(methods: readonly number[]): void;
  /** RFC 1929 username/password. The password is kept as bytes so it is never logged by accident. */
  credentials(username: string, password: Buffer): void;
  request(request: SocksRequest): void;
  error(error: SocksError): void;
}

/**
 * Named states of the server-side handshake. The parser walks them over
 * whatever bytes have arrived so far, so a handshake split into single bytes
 * and one that arrives in one packet together with early data take the same
 * path.
 */
export const State = {
  VERSION: 'VERSION',
  S5_METHOD_COUNT: 'S5_METHOD_COUNT',
  S5_METHODS: 'S5_METHODS',
  /** Waiting for the session to answer the greeting. Bytes keep buffering. */
  AWAIT_SESSION: 'AWAIT_SESSION',
  AUTH_VERSION: 'AUTH_VERSION',
  AUTH_USERNAME: 'AUTH_USERNAME',
  AUTH_PASSWORD: 'AUTH_PASSWORD',
  S5_REQUEST: 'S5_REQUEST',
  /** A domain name's length byte, which comes before the name. */
  S5_DOMAIN_LENGTH: 'S5_DOMAIN_LENGTH',
  S5_ADDRESS: 'S5_ADDRESS',
  S5_PORT: 'S5_PORT',
  S4_REQUEST: 'S4_REQUEST',
  S4_USERID: 'S4_USERID',
  S4_HOSTNAME: 'S4_HOSTNAME',
  /** The request is complete; anything still buffered is early data for the relay. */
  DONE: 'DONE',
  FAILED: 'FAILED',
} as const;
export type ParserState = (typeof State)[keyof typeof State];

const MAX_SOCKS4_FIELD = 255;

/**
 * The most a handshake may buffer before its request is complete. A real
 * handshake is a few hundred bytes; the session also stops reading while it
 * waits for a decision, so this bounds what a client can make us hold.
 */
export const MAX_HANDSHAKE_BYTES = 64 * 1024;

/** A destination name the client sent, checked before anything else sees it (host-name.ts). */
function checkedName(raw: Buffer, what: string): string {
  const problem = hostNameProblem(raw);
  if (problem) throw new SocksError(`invalid ${what} "${escapeBytes(raw)}": ${problem}`, Reply.HOST_UNREACHABLE, 'EBADNAME');
  return raw.toString('latin1');
}

/**
 * Incremental SOCKS handshake parser, in the manner of ws's Receiver: chunks
 * are queued, `take(n)` (byte-queue.ts) takes exactly n bytes once they are there, and
 * each state either advances or returns false to wait for more input.
 */
export class HandshakeParser {
  private state: ParserState = State.VERSION;
  private readonly queue = new ByteQueue();
  private running = false;

  // Fields carried between states; each length is read by the state before
  // the one that reads its field.
  private methodCount = 0;
  private usernameLength = 0;
  private username = '';
  private passwordLength = 0;
  private command: CommandName = 'connect';
  private addressType = 0;
  private addressLength = 0;
  private host = '';
  private socks4Port = 0;
  private socks4Ip = '';
  private userId = '';

  version: 4 | 5 | undefined;

  constructor(private readonly events: ParserEvents) {}

  get currentState(): ParserState {
    return this.state;
  }

  push(chunk: Buffer): void {
    if (this.state === State.FAILED) return;
    this.queue.push(chunk);
    this.run();
    // After the request, what is buffered is early data, which the session stops reading at once.
    const state = this.currentState;
    if (this.queue.length > MAX_HANDSHAKE_BYTES && state !== State.DONE && state !== State.FAILED) {
      this.failWith(new SocksError(`handshake longer than ${MAX_HANDSHAKE_BYTES} bytes`, Reply.GENERAL_FAILURE, 'ETOOLONG'));
    }
  }

  /** After a greeting answered with method 0x02: the next bytes are RFC 1929 credentials. */
  expectCredentials(): void {
    this.resume(State.AUTH_VERSION);
  }

  /** After a greeting answered with a method that needs no sub-negotiation: the request follows. */
  expectRequest(): void {
    this.resume(State.S5_REQUEST);
  }

  /** Bytes that arrived after the request (early data), handed to the relay in order. */
  takeBuffered(): Buffer[] {
    return this.queue.takeAll();
  }

  private resume(next: ParserState): void {
    this.state = next;
    // Called from inside an event handler: the loop below is already running.
    if (!this.running) this.run();
  }

  private run(): void {
    this.running = true;
    try {
      while (this.step()) {
        /* keep stepping while a state completes */
      }
    } catch (err) {
      this.failWith(err instanceof SocksError ? err : new SocksError(String(err), Reply.GENERAL_FAILURE));
    } finally {
      this.running = false;
    }
  }

  private failWith(error: SocksError): void {
    this.state = State.FAILED;
    this.queue.takeAll();
    this.events.error(error);
  }

  /** Run one state. Returns true when the state advanced and another step may follow. */
  private step(): boolean {
    switch (this.state) {
      case State.VERSION:
        return this.readVersion();
      case State.S5_METHOD_COUNT:
        return this.readMethodCount();
      case State.S5_METHODS:
        return this.readMethods();
      case State.AUTH_VERSION:
        return this.readAuthVersion();
      case State.AUTH_USERNAME:
        return this.readUsername();
      case State.AUTH_PASSWORD:
        return this.readPassword();
      case State.S5_REQUEST:
        return this.readSocks5Request();
      case State.S5_DOMAIN_LENGTH:
        return this.readDomainLength();
      case State.S5_ADDRESS:
        return this.readSocks5Address();
      case State.S5_PORT:
        return this.readSocks5Port();
      case State.S4_REQUEST:
        return this.readSocks4Request();
      case State.S4_USERID:
        return this.readSocks4UserId();
      case State.S4_HOSTNAME:
        return this.readSocks4Hostname();
      case State.AWAIT_SESSION:
      case State.DONE:
      case State.FAILED:
        return false;
    }
  }

  private readVersion(): boolean {
    if (this.queue.length < 1) return false;
    const version = this.queue.take(1)[0];
    if (version === SOCKS5) {
      this.version = 5;
      this.state = State.S5_METHOD_COUNT;
    } else if (version === SOCKS4) {
      this.version = 4;
      this.state = State.S4_REQUEST;
    } else {
      // Not SOCKS at all: there is no reply format the peer would understand.
      throw new SocksError(`unsupported SOCKS version ${version}`, undefined, 'EBADVERSION');
    }
    return true;
  }

  private readMethodCount(): boolean {
    if (this.queue.length < 1) return false;
    this.methodCount = this.queue.take(1)[0]!;
    this.state = State.S5_METHODS;
    return true;
  }

  private readMethods(): boolean {
    if (this.queue.length < this.methodCount) return false;
    const bytes = this.queue.take(this.methodCount);
    // A loop, not [...bytes]: the Buffer iterator cost several µs per session.
    const methods: number[] = [];
    for (let i = 0; i < bytes.length; i++) methods.push(bytes[i]!);
    this.state = State.AWAIT_SESSION;
    this.events.greeting(methods);
    return true;
  }

  private readAuthVersion(): boolean {
    if (this.queue.length < 2) return false;
    const header = this.queue.take(2);
    if (header[0] !== USERPASS_VERSION) {
      throw new SocksError(`unsupported username/password version ${header[0]}`, undefined, 'EBADAUTH');
    }
    this.usernameLength = header[1]!;
    this.state = State.AUTH_USERNAME;
    return true;
  }

  private readUsername(): boolean {
    // The username and the password length arrive together.
    if (this.queue.length < this.usernameLength + 1) return false;
    const field = this.queue.take(this.usernameLength + 1);
    this.username = field.toString('utf8', 0, this.usernameLength);
    this.passwordLength = field[this.usernameLength]!;
    this.state = State.AUTH_PASSWORD;
    return true;
  }

  private readPassword(): boolean {
    if (this.queue.length < this.passwordLength) return false;
    const password = Buffer.from(this.queue.take(this.passwordLength));
    this.state = State.AWAIT_SESSION;
    this.events.credentials(this.username, password);
    return true;
  }

  private readSocks5Request(): boolean {
    if (this.queue.length < 4) return false;
    const header = this.queue.take(4);
    if (header[0] !== SOCKS5) {
      throw new SocksError(`request version ${header[0]} is not 5`, Reply.GENERAL_FAILURE, 'EBADVERSION');
    }
    const command = COMMAND_NAME[header[1]!];
    if (command === undefined) {
      throw new SocksError(`unknown command 0x${header[1]!.toString(16)}`, Reply.COMMAND_NOT_SUPPORTED, 'EBADCOMMAND');
    }
    this.command = command;
    this.addressType = header[3]!;
    switch (this.addressType) {
      case AddressType.IPV4:
        this.addressLength = 4;
        this.state = State.S5_ADDRESS;
        break;
      case AddressType.IPV6:
        this.addressLength = 16;
        this.state = State.S5_ADDRESS;
        break;
      case AddressType.DOMAIN:
        this.state = State.S5_DOMAIN_LENGTH;
        break;
      default:
        throw new SocksError(
          `unknown address type 0x${this.addressType.toString(16)}`,
          Reply.ADDRESS_TYPE_NOT_SUPPORTED,
          'EBADATYP',
        );
    }
    return true;
  }

  private readDomainLength(): boolean {
    if (this.queue.length < 1) return false;
    this.addressLength = this.queue.take(1)[0]!;
    if (this.addressLength === 0) {
      throw new SocksError('empty domain name', Reply.HOST_UNREACHABLE, 'EBADADDR');
    }
    this.state = State.S5_ADDRESS;
    return true;
  }

  private readSocks5Address(): boolean {
    if (this.queue.length < this.addressLength) return false;
    const raw = this.queue.take(this.addressLength);
    if (this.addressType === AddressType.IPV4) {
      this.host = bytesToIPv4(raw);
    } else if (this.addressType === AddressType.IPV6) {
      // ::ffff:a.b.c.d is the IPv4 address, for rules as for the dial.
      const ip = ipFromBytes16(raw);
      this.host = ip.host;
      if (ip.type === 'ipv4') this.addressType = AddressType.IPV4;
    } else {
      this.host = checkedName(raw, 'domain name');
    }
    this.state = State.S5_PORT;
    return true;
  }

  private readSocks5Port(): boolean {
    if (this.queue.length < 2) return false;
    const port = this.queue.take(2).readUInt16BE(0);
    const type = this.addressType === AddressType.IPV4 ? 'ipv4' : this.addressType === AddressType.IPV6 ? 'ipv6' : 'domain';
    this.state = State.DONE;
    this.events.request({ version: 5, command: this.command, destination: { type, host: this.host, port } });
    return true;
  }

  private readSocks4Request(): boolean {
    if (this.queue.length < 7) return false;
    const header = this.queue.take(7);
    const code = header[0]!;
    if (code !== Command.CONNECT && code !== Command.BIND) {
      throw new SocksError(`unknown SOCKS4 command 0x${code.toString(16)}`, Reply.COMMAND_NOT_SUPPORTED, 'EBADCOMMAND');
    }
    this.command = COMMAND_NAME[code]!;
    this.socks4Port = header.readUInt16BE(1);
    this.socks4Ip = bytesToIPv4(header.subarray(3, 7));
    this.state = State.S4_USERID;
    return true;
  }

  private readSocks4UserId(): boolean {
    const field = this.readNulTerminated('USERID');
    if (field === undefined) return false;
    this.userId = field.toString('latin1');
    // SOCKS4a: 0.0.0.x with x != 0 means "a host name follows the USERID".
    const isSocks4a = this.socks4Ip.startsWith('0.0.0.') && this.socks4Ip !== '0.0.0.0';
    if (isSocks4a) {
      this.state = State.S4_HOSTNAME;
    } else {
      this.finishSocks4({ type: 'ipv4', host: this.socks4Ip, port: this.socks4Port });
    }
    return true;
  }

  private readSocks4Hostname(): boolean {
    const raw = this.readNulTerminated('hostname');
    if (raw === undefined) return false;
    const host = checkedName(raw, 'SOCKS4a host name');
    this.finishSocks4({ type: isIPv4(host) ? 'ipv4' : 'domain', host, port: this.socks4Port });
    return true;
  }

  private finishSocks4(destination: SocksAddress): void {
    this.state = State.DONE;
    this.events.request({ version: 4, command: this.command, destination, userId: this.userId });
  }

  /** A NUL-terminated SOCKS4 field without its NUL, or undefined until the NUL has arrived. */
  private readNulTerminated(what: string): Buffer | undefined {
    let offset = 0;
    for (const buffer of this.queue.chunks) {
      const nul = buffer.indexOf(0);
      const length = nul >= 0 ? offset + nul : offset + buffer.length;
      if (length > MAX_SOCKS4_FIELD) {
        throw new SocksError(`SOCKS4 ${what} longer than ${MAX_SOCKS4_FIELD} bytes`, Reply.GENERAL_FAILURE, 'EBADFIELD');
      }
      if (nul >= 0) return this.queue.take(length + 1).subarray(0, length);
      offset = length;
    }
    return undefined;
  }
}
