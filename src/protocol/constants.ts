// Wire constants of SOCKS5 (RFC 1928, RFC 1929) and SOCKS4/4a, named once so
// that the parser, the replies and the logs all speak the same words.

export const SOCKS5 = 0x05;
export const SOCKS4 = 0x04;

/** Authentication methods (RFC 1928 §3). */
export const Method = {
  NONE: 0x00,
  GSSAPI: 0x01,
  USERNAME: 0x02,
  NO_ACCEPTABLE: 0xff,
} as const;

/** The config names methods as Dante does ("none", "username", "gssapi"). */
export const METHOD_BY_NAME = {
  none: Method.NONE,
  gssapi: Method.GSSAPI,
  username: Method.USERNAME,
} as const;
export type MethodName = keyof typeof METHOD_BY_NAME;

/** Commands (RFC 1928 §4). SOCKS4 uses the same numbers for CONNECT and BIND. */
export const Command = {
  CONNECT: 0x01,
  BIND: 0x02,
  UDP_ASSOCIATE: 0x03,
} as const;
export type CommandName = 'connect' | 'bind' | 'udpassociate';
export const COMMAND_NAME: Record<number, CommandName> = {
  [Command.CONNECT]: 'connect',
  [Command.BIND]: 'bind',
  [Command.UDP_ASSOCIATE]: 'udpassociate',
};

/** Address types (RFC 1928 §5). */
export const AddressType = {
  IPV4: 0x01,
  DOMAIN: 0x03,
  IPV6: 0x04,
} as const;

/** Reply codes (RFC 1928 §6). */
export const Reply = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  TTL_EXPIRED: 0x06,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08,
} as const;
export type ReplyCode = (typeof Reply)[keyof typeof Reply];

/** Human words for the reply codes, for logs. */
export const REPLY_TEXT: Record<ReplyCode, string> = {
  0x00: 'succeeded',
  0x01: 'general failure',
  0x02: 'not allowed by rules',
  0x03: 'network unreachable',
  0x04: 'host unreachable',
  0x05: 'connection refused',
  0x06: 'timeout',
  0x07: 'command not supported',
  0x08: 'address type not supported',
};

/** SOCKS4 reply codes ("CD" field). */
export const Socks4Reply = {
  GRANTED: 0x5a,
  REJECTED: 0x5b,
} as const;

/** RFC 1929 username/password sub-negotiation. */
export const USERPASS_VERSION = 0x01;
