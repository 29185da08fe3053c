import type { GssContext } from '../native/gssapi-addon.js';
import { GssMessageReader, GssMessageType, MAX_GSS_TOKEN, ProtectionLevel, type ProtectionLevelCode, gssMessageHeader } from '../protocol/gssapi-message.js';
import { SocksError } from '../protocol/errors.js';
import { gssAddon, releaseContext } from './gssapi.js';

/**
 * Per-message protection at level 1 (integrity) or 2 (confidentiality),
 * RFC 1961 §5: after the protection-level negotiation every byte either
 * way, the request and reply included, travels as message type 3 tokens of
 * gss_wrap. `seal` turns plain bytes into messages, each carrying at most
 * what gss_wrap_size_limit says fits in one token; `open` turns messages
 * back into plain bytes, and refuses a token that was not protected at the
 * level agreed.
 */
export class MessageProtection {
  private readonly addon = gssAddon();
  private readonly confidential: boolean;
  /** The most plain bytes one token can carry (its header excluded from MAX_GSS_TOKEN). */
  private readonly chunkLimit: number;
  private readonly reader: GssMessageReader;
  private plain: Buffer[] = [];
  private failure: SocksError | undefined;
  private aborted = false;

  constructor(
    private readonly context: GssContext,
    level: ProtectionLevelCode,
  ) {
    if (level !== ProtectionLevel.INTEGRITY && level !== ProtectionLevel.CONFIDENTIALITY) throw new RangeError(`protection level ${level} has no per-message protection`);
    this.confidential = level === ProtectionLevel.CONFIDENTIALITY;
    this.chunkLimit = this.addon.wrapSizeLimit(context, this.confidential, MAX_GSS_TOKEN);
    if (this.chunkLimit <= 0) throw new Error('gss_wrap_size_limit leaves no room for data in a token');
    this.reader = new GssMessageReader(
      {
        message: (type, token) => this.onMessage(type, token),
        abort: () => (this.aborted = true),
        error: (error) => (this.failure = error),
      },
      false,
    );
  }

  /**
   * Plain bytes as messages to send, chunked to the token limit: headers
   * and tokens in order, to be written as they are (a token is MIT's own
   * memory, not copied on its way to the socket).
   */
  seal(plain: Buffer): Buffer[] {
    const pieces: Buffer[] = [];
    for (let offset = 0; offset < plain.length; offset += this.chunkLimit) {
      const token = this.addon.wrap(this.context, this.confidential, plain.subarray(offset, offset + this.chunkLimit));
      pieces.push(gssMessageHeader(GssMessageType.ENCAPSULATION, token.length), token);
    }
    return pieces;
  }

  /**
   * The plain bytes of the whole messages in `raw` (and in what came
   * before it); a partial message waits for the rest. Throws SocksError on
   * a malformed message or a token that fails gss_unwrap; `ended` is true
   * once the peer sent 01 ff.
   */
  open(raw: Buffer): { plain: Buffer[]; ended: boolean } {
    this.reader.push(raw);
    if (this.failure) throw this.failure;
    const plain = this.plain;
    this.plain = [];
    return { plain, ended: this.aborted };
  }

  /** Release the context: the session is over. */
  close(): void {
    this.reader.end();
    releaseContext(this.context);
  }

  private onMessage(type: number, token: Buffer): void {
    if (this.failure) return;
    if (type !== GssMessageType.ENCAPSULATION) {
      this.failure = new SocksError(`a GSSAPI message of type ${type} where only encapsulated data (type 3) may come`, undefined, 'EBADGSS');
      this.reader.end();
      return;
    }
    try {
      const { data, confidential } = this.addon.unwrap(this.context, token);
      // RFC 1961 §5: conf_req_flag MUST be TRUE at level 2 and FALSE at level 1.
      if (confidential !== this.confidential) throw new Error(`a token ${confidential ? 'with' : 'without'} confidentiality at protection level ${this.confidential ? 2 : 1}`);
      this.plain.push(data);
    } catch (err) {
      this.failure = new SocksError(`an encapsulated message failed: ${(err as Error).message}`, undefined, 'EBADGSS');
      this.reader.end();
    }
  }
}
