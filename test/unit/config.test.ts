// The config file: schema, error messages, the check-config command, the
// shipped examples, and the reference in docs/configuration.md kept in step
// with the schema.
import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, buildConfig, parseConfigText } from '../../src/config/load.js';
import { DEFAULT_CONFIG } from '../../src/config/defaults.js';
import type { ConfigFile, RuleFile } from '../../src/config/types.js';
import { CLI_PATH as CLI, PACKAGE_ROOT as REPO } from '../../src/paths.js';

const schema = JSON.parse(readFileSync(join(REPO, 'src', 'config', 'schema.json'), 'utf8')) as {
  properties: Record<string, { properties?: Record<string, unknown> }>;
  definitions: { rule: { properties: Record<string, unknown> } };
};

/** The config shape other issues and tests rely on, verbatim. */
const REQUIRED_SHAPE = {
  internal: ['127.0.0.1:1080', '[::1]:1080'],
  external: ['127.0.0.1'],
  socksmethod: ['none'],
  rules: [
    { type: 'client', action: 'pass', from: '127.0.0.0/8', to: '0.0.0.0/0' },
    { type: 'socks', action: 'pass', from: '127.0.0.0/8', to: '0.0.0.0/0', command: ['connect'] },
  ],
  timeout: { negotiate: 30, connect: 30, io: 0 },
  session: { max: 10000 },
  logoutput: ['stderr'],
};

function problemsOf(data: unknown, source = 'test.json'): string[] {
  try {
    buildConfig(data, source);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message.startsWith(`${source}: `)).toBe(true);
    return [...(err as ConfigError).problems];
  }
  return [];
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hasocks-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('schema', () => {
  test('accepts the shape every other part depends on', () => {
    const config = buildConfig(REQUIRED_SHAPE, 'shape.json');
    expect(config.internal.map((l) => [l.host, l.port])).toEqual([
      ['127.0.0.1', 1080],
      ['::1', 1080],
    ]);
    expect(config.external.ipv4).toBe('127.0.0.1');
    expect(config.timeouts).toMatchObject({ negotiate: 30000, connect: 30000, ioTcp: 0, ioUdp: 0 });
    expect(config.rules.map((r) => `${r.type}:${r.action}`)).toEqual(['client:pass', 'socks:pass']);
  });

  test('the embedded default config is valid', () => {
    expect(problemsOf(DEFAULT_CONFIG)).toEqual([]);
  });

  test('the TypeScript types and the schema name the same keys', () => {
    const topKeys: Record<keyof ConfigFile, true> = {
      $schema: true, internal: true, external: true, freebind: true, workers: true, user: true, socksmethod: true, users: true, gssapi: true, rules: true, timeout: true, session: true, udp: true, logoutput: true, debug: true,
    };
    const ruleKeys: Record<keyof RuleFile, true> = {
      type: true, action: true, from: true, to: true, port: true, command: true, user: true, socksmethod: true, gssapi: true, protocol: true, log: true, session: true, comment: true,
    };
    expect(Object.keys(schema.properties).sort()).toEqual(Object.keys(topKeys).sort());
    expect(Object.keys(schema.definitions.rule.properties).sort()).toEqual(Object.keys(ruleKeys).sort());
  });

  test.each([
    ['an unknown key', { ...REQUIRED_SHAPE, listen: ['x'] }, /^\/: unknown key "listen"; expected one of: internal,/],
    ['a wrong type', { ...REQUIRED_SHAPE, timeout: { negotiate: 'never' } }, /^\/timeout\/negotiate: must be number$/],
    ['a wrong type inside oneOf', { ...REQUIRED_SHAPE, timeout: { io: 'never' } }, /^\/timeout\/io: "never" is not valid; expected Idle time/],
    ['a bad listen address', { ...REQUIRED_SHAPE, internal: ['300.1.1.1:1080'] }, /^\/internal\/0: "300.1.1.1" is not an IP address$/],
    ['a port out of range', { ...REQUIRED_SHAPE, internal: ['127.0.0.1:70000'] }, /^\/internal\/0: port 70000 is outside 1-65535$/],
    ['IPv6 without brackets', { ...REQUIRED_SHAPE, internal: ['::1:1080'] }, /^\/internal\/0: .* is not valid; expected "address:port" with IPv6 in brackets/],
    ['a bad CIDR', { ...REQUIRED_SHAPE, rules: [{ type: 'socks', action: 'pass', to: '10.0.0.0/33' }] }, /^\/rules\/0\/to: "10.0.0.0\/33": prefix length must be a whole number from 0 to 32$/],
    ['a bad external address', { ...REQUIRED_SHAPE, external: ['eth0'] }, /^\/external\/0: "eth0" is not an IP address$/],
    ['a backwards port range', { ...REQUIRED_SHAPE, rules: [{ type: 'socks', action: 'pass', port: '90-80' }] }, /^\/rules\/0\/port: port range "90-80" runs backwards; write "80-90"$/],
    ['an unknown action', { ...REQUIRED_SHAPE, rules: [{ type: 'socks', action: 'allow' }] }, /^\/rules\/0\/action: must be one of "pass", "block"$/],
    ['a throttle that lets no session in', { ...REQUIRED_SHAPE, rules: [{ type: 'socks', action: 'pass', session: { throttle: '0/1' } }] }, /^\/rules\/0\/session\/throttle: "0\/1" is not valid; expected New sessions allowed per time/],
    ['a throttle over no time, which throttles nothing', { ...REQUIRED_SHAPE, rules: [{ type: 'socks', action: 'pass', session: { throttle: '50/0' } }] }, /^\/rules\/0\/session\/throttle: "50\/0" is not valid; expected New sessions allowed per time/],
    ['a missing internal', { rules: [] }, /^\/: missing required key "internal"$/],
  ])('rejects %s, naming the path and what was expected', (_what, data, message) => {
    const problems = problemsOf(data);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });

  test('reports every problem at once', () => {
    const problems = problemsOf({ internal: ['nope'], bogus: 1, timeout: { io: -1 } });
    expect(problems.length).toBeGreaterThanOrEqual(3);
  });

  test('a file cut short names where it ends', () => {
    expect(() => parseConfigText('{\n  "internal": [', 'cut.json')).toThrow(/cut\.json: invalid configuration:\n {2}- line 2, column 16: the file ends too early/);
  });

  test('a JSON syntax error names the line and column', () => {
    expect(() => parseConfigText('{\n  "internal": ["127.0.0.1:1080"]\n  "debug": 1\n}', 'broken.json')).toThrow(
      /broken\.json: invalid configuration:\n {2}- line 3, column 3: .*missing comma/,
    );
  });
});

describe('hasocks check-config', () => {
  test('exit 0 for a valid file', async () => {
    const file = join(dir, 'good.json');
    writeFileSync(file, JSON.stringify(REQUIRED_SHAPE));
    const result = await execa(process.execPath, [CLI, 'check-config', file]);
    expect(result.stdout).toBe(`${file}: OK`);
  });

  test('exit 1 listing every error with the file name', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ internal: ['127.0.0.1:0'], rules: [{ type: 'socks', action: 'pass', from: 'not/an/address' }], surprise: true }));
    const result = await execa(process.execPath, [CLI, 'check-config', file], { reject: false });
    expect(result.exitCode).toBe(1);
    const lines = result.stderr.split('\n');
    expect(lines[0]).toBe(`${file}: invalid configuration:`);
    expect(result.stderr).toContain('/: unknown key "surprise"');
    expect(lines.length).toBeGreaterThanOrEqual(2);
  });

  test('a missing file says so', async () => {
    const result = await execa(process.execPath, [CLI, 'check-config', join(dir, 'absent.json')], { reject: false });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/absent\.json: invalid configuration:\n {2}- cannot read: the file does not exist/);
  });

  test('every shipped example is valid', async () => {
    for (const example of ['hasocks.json']) {
      const result = await execa(process.execPath, [CLI, 'check-config', join(REPO, 'examples', example)], { reject: false });
      expect(`${example}: ${result.stderr}`).toBe(`${example}: `);
      expect(result.exitCode).toBe(0);
    }
  });

  test('--help works on every command', async () => {
    for (const args of [['--help'], ['serve', '--help'], ['check-config', '--help']]) {
      const result = await execa(process.execPath, [CLI, ...args]);
      expect(result.stdout).toMatch(/^Usage: hasocks/);
    }
  });
});

describe('configuration reference (docs/configuration.md)', () => {
  const chapter = readFileSync(join(REPO, 'docs', 'configuration.md'), 'utf8');
  const section = chapter.split('## Configuration reference')[1]?.split('\n## ')[0] ?? '';
  const documented = new Set([...section.matchAll(/^\| `([A-Za-z_$.[\]]+)` \|/gm)].map((m) => m[1]!));

  const schemaKeys = (): string[] => {
    const keys: string[] = [];
    for (const [key, value] of Object.entries(schema.properties)) {
      if (key === '$schema') continue;
      keys.push(key);
      for (const sub of Object.keys(value.properties ?? {})) keys.push(`${key}.${sub}`);
    }
    for (const key of Object.keys(schema.definitions.rule.properties)) keys.push(`rules[].${key}`);
    return keys;
  };

  test('documents every key in the schema', () => {
    expect(section).not.toBe('');
    expect(schemaKeys().filter((k) => !documented.has(k))).toEqual([]);
  });

  test('documents no key the schema lacks', () => {
    const known = new Set(schemaKeys());
    expect([...documented].filter((k) => !known.has(k))).toEqual([]);
  });
});
