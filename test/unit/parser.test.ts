import { HandshakeParser, MAX_HANDSHAKE_BYTES, State, type SocksRequest } from '../../src/protocol/parser.js';
import { SocksError } from '../../src/protocol/errors.js';
import { Reply } from '../../src/protocol/constants.js';

/** Drive the parser the way a session does: answer "no auth" to every greeting. */
function drive(input: Buffer[], methodReply: 'request' | 'credentials' = 'request') {
  const events: Array<{ kind: string; value?: unknown }> = [];
  const parser: HandshakeParser = new HandshakeParser({
    greeting: (methods) => {
      events.push({ kind: 'greeting', value: methods });
      if (methodReply === 'request') parser.expectRequest();
      else parser.expectCredentials();
    },
    credentials: (username, password) => {
      events.push({ kind: 'credentials', value: [username, password.toString()] });
      parser.expectRequest();
    },
    request: (request: SocksRequest) => events.push({ kind: 'request', value: request }),
    error: (error) => events.push({ kind: 'error', value: error }),
  });
  for (const chunk of input) parser.push(chunk);
  return { parser, events };
}

const greeting = Buffer.from([0x05, 0x01, 0x00]);
const connectDomain = Buffer.from([0x05, 0x01, 0x00, 0x03, 9, ...Buffer.from('localhost'), 0x1f, 0x90]);

describe('HandshakeParser', () => {
  test('a handshake split into single bytes gives the same request as one chunk', () => {
    const whole = Buffer.concat([greeting, connectDomain]);
    const bytewise = drive([...whole].map((b) => Buffer.from([b])));
    const once = drive([whole]);
    expect(bytewise.events).toEqual(once.events);
    expect(once.events.at(-1)).toEqual({
      kind: 'request',
      value: { version: 5, command: 'connect', destination: { type: 'domain', host: 'localhost', port: 8080 } },
    });
    expect(bytewise.parser.currentState).toBe(State.DONE);
  });

  test('greeting, request and early data in one packet: early data stays in order', () => {
    const early = Buffer.from('GET / HTTP/1.0\r\n\r\n');
    const { parser, events } = drive([Buffer.concat([greeting, connectDomain, early.subarray(0, 5)]), early.subarray(5)]);
    expect(events.map((e) => e.kind)).toEqual(['greeting', 'request']);
    expect(Buffer.concat(parser.takeBuffered()).toString()).toBe(early.toString());
  });

  test('IPv4 and IPv6 destinations decode', () => {
    const v4 = drive([greeting, Buffer.from([0x05, 0x01, 0x00, 0x01, 10, 1, 2, 3, 0x00, 0x50])]);
    expect(v4.events.at(-1)?.value).toMatchObject({ destination: { type: 'ipv4', host: '10.1.2.3', port: 80 } });
    const v6bytes = Buffer.alloc(16);
    v6bytes[0] = 0x20;
    v6bytes[1] = 0x01;
    v6bytes[2] = 0x0d;
    v6bytes[3] = 0xb8;
    v6bytes[15] = 1;
    const v6 = drive([greeting, Buffer.concat([Buffer.from([0x05, 0x01, 0x00, 0x04]), v6bytes, Buffer.from([0x01, 0xbb])])]);
    expect(v6.events.at(-1)?.value).toMatchObject({ destination: { type: 'ipv6', host: '2001:db8::1', port: 443 } });
  });

  test.each([
    ['unknown command', [0x05, 0x09, 0x00, 0x01, 1, 2, 3, 4, 0, 80], Reply.COMMAND_NOT_SUPPORTED],
    ['unknown address type', [0x05, 0x01, 0x00, 0x05, 1, 2, 3, 4, 0, 80], Reply.ADDRESS_TYPE_NOT_SUPPORTED],
    ['wrong request version', [0x04, 0x01, 0x00, 0x01, 1, 2, 3, 4, 0, 80], Reply.GENERAL_FAILURE],
  ])('%s is an error carrying its reply code', (_name, bytes, code) => {
    const { events, parser } = drive([greeting, Buffer.from(bytes)]);
    const error = events.at(-1)?.value as SocksError;
    expect(error).toBeInstanceOf(SocksError);
    expect(error.reply).toBe(code);
    expect(parser.currentState).toBe(State.FAILED);
  });

  test('garbage (an HTTP request) is an error with no reply code', () => {
    const { events } = drive([Buffer.from('GET / HTTP/1.1\r\n\r\n')]);
    expect(events).toHaveLength(1);
    expect((events[0]!.value as SocksError).reply).toBeUndefined();
  });

  test('RFC 1929 credentials arrive between greeting and request', () => {
    const auth = Buffer.from([0x01, 5, ...Buffer.from('alice'), 6, ...Buffer.from('s3cret')]);
    const { events } = drive([Buffer.from([0x05, 0x01, 0x02]), auth, connectDomain], 'credentials');
    expect(events.map((e) => e.kind)).toEqual(['greeting', 'credentials', 'request']);
    expect(events[1]!.value).toEqual(['alice', 's3cret']);
  });

  test('SOCKS4 and SOCKS4a requests', () => {
    const s4 = drive([Buffer.from([0x04, 0x01, 0x00, 0x50, 127, 0, 0, 1, ...Buffer.from('bob'), 0])]);
    expect(s4.events[0]!.value).toEqual({ version: 4, command: 'connect', destination: { type: 'ipv4', host: '127.0.0.1', port: 80 }, userId: 'bob' });
    const s4a = [0x04, 0x02, 0x01, 0xbb, 0, 0, 0, 1, 0, ...Buffer.from('example.com'), 0];
    const parsed = drive(s4a.map((b) => Buffer.from([b])));
    expect(parsed.events[0]!.value).toEqual({ version: 4, command: 'bind', destination: { type: 'domain', host: 'example.com', port: 443 }, userId: '' });
  });

  test('a SOCKS4 USERID without its NUL is cut off at 255 bytes', () => {
    const { events } = drive([Buffer.from([0x04, 0x01, 0, 80, 1, 2, 3, 4]), Buffer.alloc(300, 0x41)]);
    expect((events[0]!.value as SocksError).reply).toBe(Reply.GENERAL_FAILURE);
  });
});

describe('what the parser lets through to rules and resolver', () => {
  const domain = (name: Buffer): Buffer => Buffer.concat([Buffer.from([0x05, 0x01, 0x00, 0x03, name.length]), name, Buffer.from([0, 80])]);

  test.each([
    ['a NUL, which the resolver would stop at', Buffer.from('127.0.0.1\0.example.com', 'latin1')],
    ['a space, after which inet_aton stops reading', Buffer.from('127.0.0.1 x.example.com', 'latin1')],
    ['a newline', Buffer.from('a\nb.example.com', 'latin1')],
    ['a byte over 0x7f', Buffer.from('bücher.example', 'utf8')],
    ['an empty label', Buffer.from('a..example.com', 'latin1')],
    ['a leading dot', Buffer.from('.example.com', 'latin1')],
    ['a label of 64 bytes', Buffer.from(`${'a'.repeat(64)}.example.com`, 'latin1')],
    ['255 bytes', Buffer.from(`${'a.'.repeat(127)}a`, 'latin1')],
  ])('a SOCKS5 name with %s is an error with reply 0x04, never a request', (_what, name) => {
    const { events } = drive([greeting, domain(name)]);
    expect(events.map((e) => e.kind)).toEqual(['greeting', 'error']);
    expect((events[1]!.value as SocksError).reply).toBe(Reply.HOST_UNREACHABLE);
  });

  test('plain names pass: letters, digits, "-", "_", a trailing dot, 63-byte labels, 253 bytes', () => {
    for (const name of ['localhost', '_sip._tcp.example.com', 'xn--bcher-kva.example.', `${'a'.repeat(63)}.b`, `${'a.'.repeat(126)}a`]) {
      const { events } = drive([greeting, domain(Buffer.from(name))]);
      expect(events.at(-1)).toEqual({ kind: 'request', value: { version: 5, command: 'connect', destination: { type: 'domain', host: name, port: 80 } } });
    }
  });

  test('a SOCKS4a host name is checked the same way', () => {
    const { events } = drive([Buffer.from([0x04, 0x01, 0, 80, 0, 0, 0, 1, 0, ...Buffer.from('127.0.0.1 .example.com'), 0])]);
    expect((events[0]!.value as SocksError).reply).toBe(Reply.HOST_UNREACHABLE);
  });

  test('an IPv4-mapped IPv6 destination is the IPv4 address', () => {
    const mapped = [...Array(10).fill(0), 0xff, 0xff, 127, 0, 0, 1];
    const { events } = drive([greeting, Buffer.from([0x05, 0x01, 0x00, 0x04, ...mapped, 0, 80])]);
    expect(events.at(-1)?.value).toMatchObject({ destination: { type: 'ipv4', host: '127.0.0.1', port: 80 } });
  });

  test('a SOCKS4 USERID of 255 bytes passes, of 256 does not', () => {
    const request = (length: number): Buffer => Buffer.from([0x04, 0x01, 0, 80, 1, 2, 3, 4, ...Buffer.alloc(length, 0x41), 0]);
    expect(drive([request(255)]).events[0]!.kind).toBe('request');
    expect(drive([request(256)]).events[0]!.kind).toBe('error');
  });

  test('a handshake may buffer at most 64 KiB while the session decides', () => {
    const events: string[] = [];
    // A session that never answers the greeting (a decision still pending).
    const parser = new HandshakeParser({
      greeting: () => events.push('greeting'),
      credentials: () => events.push('credentials'),
      request: () => events.push('request'),
      error: (error) => events.push(`error ${error.code}`),
    });
    parser.push(greeting);
    parser.push(Buffer.alloc(MAX_HANDSHAKE_BYTES, 0x05));
    expect(events).toEqual(['greeting']);
    parser.push(Buffer.alloc(1, 0x05));
    expect(events).toEqual(['greeting', 'error ETOOLONG']);
    expect(parser.currentState).toBe(State.FAILED);
  });
});

test('a greeting offering zero methods is reported, not an error', () => {
  const { events } = drive([Buffer.from([0x05, 0x00])]);
  expect(events).toEqual([{ kind: 'greeting', value: [] }]);
});
