/**
 * One of the relay's two ways of moving a session's bytes: Node streams
 * (stream-relay.ts) or the C relay (native-relay.ts). relay.ts keeps the
 * timeouts and the accounting the same on both.
 */
export interface RelayPath {
  /** Whether this is the C relay. */
  readonly native: boolean;
  /** Bytes moved so far each way, early data included. */
  bytes(): { up: number; down: number };
  /** Milliseconds since a byte (or a FIN) last moved. */
  idleMs(): number;
  /** Close both sockets now; no event follows. */
  close(): void;
}

/** What a path tells the relay. */
export interface RelayPathEvents {
  /** A FIN went through, in either direction. */
  onFin(): void;
  /** The session is over: both FINs passed ('closed', or 'closed with N bytes sent but not acknowledged'), or an error or reset ended it. */
  onEnd(reason: string, error?: Error): void;
}

/**
 * What a client's bytes pass through when it speaks in protected messages
 * (GSSAPI per-message protection, auth/gssapi-protection.ts): the target
 * side carries plain bytes, the client side messages.
 */
export interface ClientFraming {
  /** The plain bytes of what the client sent (a partial message waits for the rest); throws on a message that fails; `ended` once the client ended the protection. */
  open(raw: Buffer): { plain: Buffer[]; ended: boolean };
  /** What to send the client for plain bytes from the target, in pieces written in order. */
  seal(plain: Buffer): Buffer[];
}
