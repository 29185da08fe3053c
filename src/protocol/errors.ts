import { Reply, type ReplyCode } from './constants.js';

/**
 * A protocol error that already knows which reply code the client must get.
 * The parser throws these; the session turns `reply` into bytes on the wire.
 * `reply` is undefined when the peer is not speaking SOCKS at all and the
 * only right answer is to close.
 */
export class SocksError extends Error {
  constructor(
    message: string,
    readonly reply: ReplyCode | undefined,
    readonly code = 'ESOCKS',
  ) {
    super(message);
    this.name = 'SocksError';
  }
}

/** Map an operating-system error from connect()/getaddrinfo() to a SOCKS5 reply code. */
export function replyForSystemError(err: unknown): ReplyCode {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  switch (code) {
    case 'ECONNREFUSED':
      return Reply.CONNECTION_REFUSED;
    case 'ENETUNREACH':
    case 'ENETDOWN':
      return Reply.NETWORK_UNREACHABLE;
    case 'EHOSTUNREACH':
    case 'EHOSTDOWN':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NONAME':
    case 'ENODATA':
    case 'ESERVFAIL':
    case 'ENONAME':
      return Reply.HOST_UNREACHABLE;
    case 'ETIMEDOUT':
    case 'ESOCKETTIMEDOUT':
      return Reply.TTL_EXPIRED;
    case 'EACCES':
    case 'EPERM':
      return Reply.NOT_ALLOWED;
    default:
      return Reply.GENERAL_FAILURE;
  }
}
