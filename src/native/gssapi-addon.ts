import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';

/**
 * The GSS-API addon (native/src/gssapi.c, over MIT libgssapi_krb5): what it
 * exports, as TypeScript sees it. It is a separate addon from
 * hasocks_native, so hasocks builds and serves without libkrb5; then the
 * addon is native/src/gssapi_missing.c, which exports only `why`.
 */

/** A credential for accepting as one service name, from one keytab. */
export type AcceptorCredential = object & { readonly __gssCredential: unique symbol };
/** A security context, empty until accept or initiate fills it. */
export type GssContext = object & { readonly __gssContext: unique symbol };

/** One round of context establishment. */
export interface GssRound {
  /** The token to send the peer; empty when there is none. */
  readonly token: Buffer;
  /** The context is established (GSS_S_COMPLETE); otherwise the peer's next token is due. */
  readonly complete: boolean;
  /** The context's flags (GssFlags), as far as they are known this round. */
  readonly flags: number;
  /** The acceptor's peer, once complete: the client's principal, "alice@EXAMPLE.TEST". */
  readonly peer?: string;
}

/** GSS_C_*_FLAG values, as C defines them. */
export interface GssFlags {
  readonly mutual: number;
  readonly replay: number;
  readonly sequence: number;
  readonly confidentiality: number;
  readonly integrity: number;
  readonly anonymous: number;
}

/** How a name is imported: a Kerberos principal ("rcmd/socks.example.test"), or host-based ("rcmd@socks.example.test"). */
export interface NameKinds {
  readonly principal: number;
  readonly hostBased: number;
}

export interface GssAddon {
  readonly available: true;
  readonly nameKind: NameKinds;
  readonly flags: GssFlags;
  /** Read `keytab` for `name` (throws when the keytab cannot be read or holds no key for it); `replayCache` as MIT names one ("dfl:", "file2:/path", "none:"). */
  acquireAcceptor(name: string, kind: number, keytab: string, replayCache?: string): AcceptorCredential;
  createContext(): GssContext;
  /** Release the context now. */
  deleteContext(context: GssContext): void;
  /** gss_accept_sec_context on the thread pool. */
  accept(credential: AcceptorCredential, context: GssContext, token: Buffer): Promise<GssRound>;
  /** gss_init_sec_context on the thread pool, with the credentials cache KRB5CCNAME names; `token` null on the first round. */
  initiate(context: GssContext, target: string, kind: number, flags: number, token: Buffer | null): Promise<GssRound>;
  /** gss_wrap: one token for data within wrapSizeLimit. */
  wrap(context: GssContext, confidential: boolean, data: Buffer): Buffer;
  /** gss_unwrap. */
  unwrap(context: GssContext, token: Buffer): { data: Buffer; confidential: boolean };
  /** gss_wrap_size_limit: the most data whose token fits in maxToken bytes. */
  wrapSizeLimit(context: GssContext, confidential: boolean, maxToken: number): number;
}

/** Where the build puts it; HASOCKS_GSSAPI_ADDON overrides it (a test of the no-libkrb5 path). */
export const GSSAPI_ADDON_PATH = process.env.HASOCKS_GSSAPI_ADDON ?? join(PACKAGE_ROOT, 'native', 'build', 'Release', 'hasocks_gssapi.node');

let cached: { addon: GssAddon } | { why: string } | undefined;

/** The addon, or why there is none (not built, or built without libkrb5), in words that say what to do. */
export function loadGssAddon(): { addon: GssAddon } | { why: string } {
  if (cached) return cached;
  try {
    const loaded = createRequire(import.meta.url)(GSSAPI_ADDON_PATH) as { available?: boolean; why?: string };
    cached = loaded.available === true ? { addon: loaded as GssAddon } : { why: loaded.why ?? `${GSSAPI_ADDON_PATH} is not a GSS-API addon` };
  } catch (err) {
    cached = {
      why: `cannot load the GSS-API addon ${GSSAPI_ADDON_PATH} (${(err as Error).message.split('\n')[0]}): install libkrb5-dev (apt-get install libkrb5-dev), then run "npm run build:native"`,
    };
  }
  return cached;
}
