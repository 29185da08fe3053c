import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keytabProblem, serviceNameKind } from '../../src/auth/gssapi.js';
import { GSS_ABORT, GssMessageReader, GssMessageType, MAX_GSS_TOKEN, gssMessage } from '../../src/protocol/gssapi-message.js';

/** Feed `chunks` to a reader; what it reported, resuming after each message when `resume`. */
function read(chunks: Buffer[], resume = true): { events: string[]; reader: GssMessageReader } {
  const events: string[] = [];
  const reader: GssMessageReader = new GssMessageReader({
    message: (type, token) => {
      events.push(`message ${type} ${token.toString('hex')}`);
      if (resume) queueMicrotask(() => reader.resume());
    },
    abort: () => events.push('abort'),
    error: (error) => events.push(`error ${error.message}`),
  });
  for (const chunk of chunks) reader.push(chunk);
  return { events, reader };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('GssMessageReader (RFC 1961 messages)', () => {
  const stream = Buffer.concat([gssMessage(GssMessageType.AUTHENTICATION, Buffer.from('0a0b0c', 'hex')), gssMessage(GssMessageType.PROTECTION, Buffer.from('02', 'hex')), GSS_ABORT]);

  test('split at every byte, or whole: the same messages, then the abort', async () => {
    const whole = read([stream]);
    await tick();
    await tick();
    const bytes = read([...stream].map((b) => Buffer.from([b])));
    await tick();
    await tick();
    expect(whole.events).toEqual(['message 1 0a0b0c', 'message 2 02', 'abort']);
    expect(bytes.events).toEqual(whole.events);
  });

  test('it stops after each message until resumed, holding what came after it', () => {
    const { events, reader } = read([stream], false);
    expect(events).toEqual(['message 1 0a0b0c']);
    expect(reader.pending).toBe(stream.length - 7);
    expect(Buffer.concat(reader.takeBuffered())).toEqual(stream.subarray(7));
    expect(reader.pending).toBe(0);
  });

  test('a wrong version or an unknown type is an error, and nothing is read after it', () => {
    expect(read([Buffer.from([2, 1, 0, 0])]).events).toEqual(['error GSSAPI message version 2 is not 1']);
    const unknown = read([Buffer.from([1, 4, 0, 0]), gssMessage(GssMessageType.AUTHENTICATION, Buffer.from([1]))]);
    expect(unknown.events).toEqual(['error unknown GSSAPI message type 0x4']);
    // A SOCKS request sent where a message should be is not read as one.
    expect(read([Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, 0, 80])]).events).toEqual(['error GSSAPI message version 5 is not 1']);
  });

  test('tokens of 0 and of 65535 bytes are messages; 65536 cannot be sent', () => {
    const big = Buffer.alloc(MAX_GSS_TOKEN, 7);
    const events: number[] = [];
    const reader = new GssMessageReader({ message: (_type, token) => events.push(token.length), abort: () => undefined, error: (e) => events.push(-1 * e.message.length) }, false);
    reader.push(gssMessage(GssMessageType.ENCAPSULATION, Buffer.alloc(0)));
    reader.resume();
    reader.push(gssMessage(GssMessageType.ENCAPSULATION, big));
    expect(events).toEqual([0, MAX_GSS_TOKEN]);
    expect(() => gssMessage(GssMessageType.ENCAPSULATION, Buffer.alloc(MAX_GSS_TOKEN + 1))).toThrow(RangeError);
  });

  test('random bytes never throw out of push: every stream ends in messages, an abort or an error', () => {
    for (let run = 0; run < 2000; run++) {
      const length = Math.floor(Math.random() * 40);
      const bytes = Buffer.from(Array.from({ length }, () => (Math.random() < 0.3 ? 1 : Math.floor(Math.random() * 256))));
      expect(() => read([bytes], false)).not.toThrow();
    }
  });
});

describe('service names and keytabs', () => {
  test.each([
    ['rcmd/socks.example.test', 'principal'],
    ['rcmd/socks.example.test@EXAMPLE.TEST', 'principal'],
    ['rcmd@socks.example.test', 'hostBased'],
  ])('%s is a %s name', (name, kind) => {
    expect(serviceNameKind(name)).toEqual({ kind });
  });

  test.each(['rcmd', 'rcmd@', '@socks.example.test', '/host', 'rcmd/', 'rcmd/@EXAMPLE.TEST'])('%s is refused, naming the fix', (name) => {
    const result = serviceNameKind(name);
    expect(result).toHaveProperty('problem');
    expect((result as { problem: string }).problem).toMatch(/rcmd\/socks\.example\.test|service\/host/);
  });

  test('a keytab that others may read or write, a directory, a missing file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hasocks-keytab-'));
    try {
      const file = join(dir, 'keytab');
      writeFileSync(file, 'x');
      chmodSync(file, 0o640);
      expect(keytabProblem(file)).toBeUndefined();
      chmodSync(file, 0o604);
      expect(keytabProblem(file)).toMatch(/accessible by others \(mode 604\); run "chmod o-rwx/);
      chmodSync(file, 0o602);
      expect(keytabProblem(file)).toMatch(/accessible by others/);
      expect(keytabProblem(dir)).toMatch(/is not a file/);
      expect(keytabProblem(join(dir, 'none'))).toMatch(/does not exist/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
