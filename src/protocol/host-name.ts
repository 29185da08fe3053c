// Destination names as clients send them (SOCKS5 and SOCKS4a requests, UDP
// headers). A name is checked here, before a rule or the resolver sees it:
// a rule compares the whole string, while the resolver reads a C string and
// stops at the first NUL, so "127.0.0.1\0.example.com" would pass a
// ".example.com" rule and then dial 127.0.0.1. Only plain host names get
// through.

/** The longest name: 253 characters, plus a trailing dot. */
const MAX_NAME = 254;
const MAX_LABEL = 63;

/** Letters, digits, "-" and "_" (SRV-style and some internal names use it). "." separates labels. */
function isLabelByte(byte: number): boolean {
  return (
    (byte >= 0x61 && byte <= 0x7a) || // a-z
    (byte >= 0x41 && byte <= 0x5a) || // A-Z
    (byte >= 0x30 && byte <= 0x39) || // 0-9
    byte === 0x2d || // -
    byte === 0x5f // _
  );
}

/**
 * Why `name` cannot be a destination, or undefined when it is a plain host
 * name: 1-253 bytes of letters, digits, "-", "_" and ".", no empty label
 * (a single trailing dot is allowed), no label over 63 bytes.
 */
export function hostNameProblem(name: Uint8Array): string | undefined {
  if (name.length === 0) return 'the name is empty';
  if (name.length > MAX_NAME) return `the name is longer than ${MAX_NAME} bytes`;
  let labelLength = 0;
  for (let i = 0; i < name.length; i++) {
    const byte = name[i]!;
    if (byte === 0x2e) {
      if (labelLength === 0) return 'the name has an empty label';
      labelLength = 0;
    } else if (isLabelByte(byte)) {
      if (++labelLength > MAX_LABEL) return `a label is longer than ${MAX_LABEL} bytes`;
    } else {
      return `byte 0x${byte.toString(16).padStart(2, '0')} at offset ${i} is not allowed in a host name`;
    }
  }
  // Here the name ends either in a label or in the one trailing dot; 254 bytes only with that dot.
  if (name.length === MAX_NAME && labelLength !== 0) return `the name is longer than ${MAX_NAME - 1} bytes`;
  return undefined;
}

/** Bytes for a log line: printable ASCII as it is, a backslash and everything else as \xHH. */
export function escapeBytes(bytes: Uint8Array, max = 300): string {
  let out = '';
  const end = Math.min(bytes.length, max);
  for (let i = 0; i < end; i++) {
    const byte = bytes[i]!;
    out += byte >= 0x20 && byte < 0x7f && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return bytes.length > max ? `${out}...` : out;
}
