// Rule matching (src/policy/rules.ts) on compiled rules, without a proxy:
// ports and ranges, first-match order, each condition a rule can carry, the
// decision made before a name is resolved, and host names in `from`.
// test/rules.test.ts runs the same rules through a proxy and real clients.
import type { RuleFile } from '../../src/config/types.js';
import { ipToBytes16 } from '../../src/policy/address-match.js';
import {
  type MatchInput,
  compileRules,
  decide,
  decideBeforeResolving,
  decisionLogs,
  describeDecision,
  parsePorts,
  resolveRuleHosts,
  rulesNeedClientName,
} from '../../src/policy/rules.js';

/** A socks request from 10.0.0.5 to 192.0.2.10:443 over TCP, without a login; `over` changes any part. */
function request(over: Partial<MatchInput> & { client?: string; target?: string } = {}): MatchInput {
  const { client = '10.0.0.5', target = '192.0.2.10', ...rest } = over;
  return { clientIp: ipToBytes16(client), targetIp: ipToBytes16(target), port: 443, command: 'connect', method: 'none', protocol: 'tcp', ...rest };
}

/** The decision on `input` as "pass #n", "block #n", or "block (default)" when no rule matched. */
function verdict(rules: RuleFile[], input: MatchInput, type: 'client' | 'socks' = 'socks'): string {
  const decision = decide(compileRules(rules), type, input);
  return decision.rule ? `${decision.action} #${decision.rule.number}` : `${decision.action} (default)`;
}

describe('parsePorts', () => {
  test('a port, a range and a list, as inclusive [low, high] pairs', () => {
    expect(parsePorts(80)).toEqual([[80, 80]]);
    expect(parsePorts('8080')).toEqual([[8080, 8080]]);
    expect(parsePorts('1024-65535')).toEqual([[1024, 65535]]);
    expect(parsePorts('0-0')).toEqual([[0, 0]]);
    expect(parsePorts([22, '80-81', '443'])).toEqual([[22, 22], [80, 81], [443, 443]]);
  });

  test('a port above 65535, at either end of a range, is refused', () => {
    expect(() => parsePorts('65536')).toThrow('port "65536" is above 65535');
    expect(() => parsePorts('1-65536')).toThrow('port "1-65536" is above 65535');
    expect(() => parsePorts(['80', '99999-1'])).toThrow('port "99999-1" is above 65535');
    expect(parsePorts('65535')).toEqual([[65535, 65535]]);
  });

  test('a range that runs backwards is refused with the way to write it', () => {
    expect(() => parsePorts('90-80')).toThrow('port range "90-80" runs backwards; write "80-90"');
  });
});

describe('ports in a rule', () => {
  const rules: RuleFile[] = [{ type: 'socks', action: 'pass', port: [22, '8000-8080'] }];

  test('a range includes both ends and nothing outside them', () => {
    for (const [port, expected] of [[7999, 'block (default)'], [8000, 'pass #1'], [8080, 'pass #1'], [8081, 'block (default)'], [22, 'pass #1'], [21, 'block (default)'], [23, 'block (default)']] as const) {
      expect([port, verdict(rules, request({ port }))]).toEqual([port, expected]);
    }
  });

  test('no port in a rule is every port, 0 and 65535 included', () => {
    for (const port of [0, 1, 65535]) expect(verdict([{ type: 'socks', action: 'pass' }], request({ port }))).toBe('pass #1');
  });
});

describe('first match wins', () => {
  test('the first rule that matches decides, whatever follows', () => {
    const blockFirst: RuleFile[] = [
      { type: 'socks', action: 'block', to: '192.0.2.0/24' },
      { type: 'socks', action: 'pass' },
    ];
    expect(verdict(blockFirst, request())).toBe('block #1');
    expect(verdict(blockFirst, request({ target: '198.51.100.1' }))).toBe('pass #2');
    expect(verdict([...blockFirst].reverse(), request())).toBe('pass #1');
  });

  test('no rule of the type asked for is a block by no rule: client rules do not decide socks requests', () => {
    const clientOnly: RuleFile[] = [{ type: 'client', action: 'pass' }];
    expect(verdict(clientOnly, request())).toBe('block (default)');
    expect(verdict(clientOnly, request(), 'client')).toBe('pass #1');
    expect(verdict([], request())).toBe('block (default)');
  });

  test('rules are numbered from 1 within their type, as Dante counts', () => {
    const rules = compileRules([
      { type: 'client', action: 'pass' },
      { type: 'socks', action: 'block', port: 25 },
      { type: 'client', action: 'block' },
      { type: 'socks', action: 'pass' },
    ]);
    expect(rules.map((r) => `${r.type} #${r.number}`)).toEqual(['client #1', 'socks #1', 'client #2', 'socks #2']);
    expect(describeDecision(decide(rules, 'socks', request()))).toBe('pass socks-rule #2');
    expect(describeDecision(decide(rules, 'socks', request({ port: 25 })))).toBe('block socks-rule #1');
    expect(describeDecision(decide([], 'socks', request()))).toBe('block (no rule matched)');
  });
});

describe('conditions', () => {
  test('from and to: the client and the destination, IPv4 clients seen through IPv6 included', () => {
    const rules: RuleFile[] = [{ type: 'socks', action: 'pass', from: '10.0.0.0/24', to: '192.0.2.0/24' }];
    expect(verdict(rules, request())).toBe('pass #1');
    expect(verdict(rules, request({ client: '::ffff:10.0.0.255' }))).toBe('pass #1');
    expect(verdict(rules, request({ client: '10.0.1.0' }))).toBe('block (default)');
    expect(verdict(rules, request({ target: '192.0.3.0' }))).toBe('block (default)');
  });

  test('command, user, socksmethod and protocol: the request must have one of the values listed', () => {
    const rules: RuleFile[] = [{ type: 'socks', action: 'pass', command: ['connect', 'bind'], user: ['alice'], socksmethod: ['username'], protocol: ['tcp'] }];
    const alice = request({ user: 'alice', method: 'username' });
    expect(verdict(rules, alice)).toBe('pass #1');
    expect(verdict(rules, { ...alice, command: 'bind' })).toBe('pass #1');
    expect(verdict(rules, { ...alice, command: 'udpassociate' })).toBe('block (default)');
    expect(verdict(rules, { ...alice, user: 'bob' })).toBe('block (default)');
    expect(verdict(rules, { ...alice, method: 'none' })).toBe('block (default)');
    expect(verdict(rules, { ...alice, protocol: 'udp' })).toBe('block (default)');
  });

  test('a condition the request has no value for does not match: no login is not any user', () => {
    const rules: RuleFile[] = [{ type: 'socks', action: 'pass', user: ['alice'] }];
    expect(verdict(rules, request({ user: undefined }))).toBe('block (default)');
    expect(verdict([{ type: 'socks', action: 'pass', command: ['connect'] }], { ...request(), command: undefined })).toBe('block (default)');
  });

  test('a destination not resolved yet matches a rule with a domain or any `to`, never one with a CIDR', () => {
    const unresolved = request({ targetIp: undefined, targetName: 'www.example.com' });
    expect(verdict([{ type: 'socks', action: 'pass', to: '.example.com' }], unresolved)).toBe('pass #1');
    expect(verdict([{ type: 'socks', action: 'pass', to: '0/0' }], unresolved)).toBe('pass #1');
    expect(verdict([{ type: 'socks', action: 'pass', to: '0.0.0.0/0' }], unresolved)).toBe('block (default)');
  });

  test('a client rule is refused if it names what only a socks request has', () => {
    for (const key of ['command', 'user', 'socksmethod', 'protocol'] as const) {
      const rule = { type: 'client', action: 'pass', [key]: key === 'command' ? ['connect'] : key === 'protocol' ? ['tcp'] : ['x'] } as RuleFile;
      expect(() => compileRules([{ type: 'socks', action: 'pass' }, rule])).toThrow(new RegExp(`^/rules/1/${key}: a client rule is decided when a connection arrives`));
    }
  });

  test('a bad address or port names the rule and the field', () => {
    expect(() => compileRules([{ type: 'socks', action: 'pass', to: '10.0.0.0/33' }])).toThrow(/^\/rules\/0\/to: /);
    expect(() => compileRules([{ type: 'socks', action: 'pass' }, { type: 'client', action: 'pass', from: 'a..b' }])).toThrow(/^\/rules\/1\/from: /);
    expect(() => compileRules([{ type: 'socks', action: 'pass', port: '2-1' }])).toThrow(/^\/rules\/0\/port: /);
  });
});

describe('a UDP association, whose datagrams name their own destinations later', () => {
  const association = request({ command: 'udpassociate', protocol: 'udp', targetIp: undefined, port: 0, anyTarget: true });

  test('a pass rule that limits to or port may pass some datagrams, so it matches', () => {
    expect(verdict([{ type: 'socks', action: 'pass', to: '192.0.2.0/24' }], association)).toBe('pass #1');
    expect(verdict([{ type: 'socks', action: 'pass', port: 53 }], association)).toBe('pass #1');
  });

  test('a block rule that limits to or port blocks only some datagrams, so it does not match; one without blocks all', () => {
    expect(verdict([{ type: 'socks', action: 'block', to: '192.0.2.0/24' }, { type: 'socks', action: 'pass' }], association)).toBe('pass #2');
    expect(verdict([{ type: 'socks', action: 'block', port: 53 }, { type: 'socks', action: 'pass' }], association)).toBe('pass #2');
    expect(verdict([{ type: 'socks', action: 'block', from: '10.0.0.0/8' }, { type: 'socks', action: 'pass' }], association)).toBe('block #1');
  });

  test('the client conditions still apply', () => {
    expect(verdict([{ type: 'socks', action: 'pass', from: '172.16.0.0/12', to: '192.0.2.0/24' }], association)).toBe('block (default)');
    expect(verdict([{ type: 'socks', action: 'pass', protocol: ['tcp'] }], association)).toBe('block (default)');
  });
});

describe('the decision before a name is resolved', () => {
  /** "block #n", "refused" (blocked, no rule could pass it) or "resolve" (the address may matter, or a rule passes it). */
  function before(rules: RuleFile[], name: string, port = 443): string {
    const decision = decideBeforeResolving(compileRules(rules), { ...request({ targetIp: undefined }), port, targetName: name });
    if (decision === undefined) return 'resolve';
    expect(decision.action).toBe('block');
    return decision.rule ? `block #${decision.rule.number}` : 'refused';
  }

  test('a rule that matches the name decides: a block at once, a pass after resolving', () => {
    const rules: RuleFile[] = [
      { type: 'socks', action: 'block', to: '.evil.example' },
      { type: 'socks', action: 'pass', to: '.example' },
    ];
    expect(before(rules, 'www.evil.example')).toBe('block #1');
    expect(before(rules, 'www.good.example')).toBe('resolve');
    expect(before(rules, 'elsewhere.test')).toBe('refused');
  });

  test('a rule with a CIDR `to` might match the address: a pass means resolve; a block cannot pass anything', () => {
    expect(before([{ type: 'socks', action: 'pass', to: '192.0.2.0/24' }], 'www.example')).toBe('resolve');
    expect(before([{ type: 'socks', action: 'block', to: '192.0.2.0/24' }], 'www.example')).toBe('refused');
    expect(before([{ type: 'socks', action: 'block', to: '192.0.2.0/24' }, { type: 'socks', action: 'pass' }], 'www.example')).toBe('resolve');
  });

  test('rules for other ports, clients or commands are passed over', () => {
    expect(before([{ type: 'socks', action: 'pass', port: 80 }], 'www.example', 443)).toBe('refused');
    expect(before([{ type: 'socks', action: 'pass', from: '172.16.0.0/12' }], 'www.example')).toBe('refused');
    expect(before([{ type: 'socks', action: 'pass', command: ['bind'] }], 'www.example')).toBe('refused');
    expect(before([{ type: 'client', action: 'pass' }], 'www.example')).toBe('refused');
  });

  // A name in `to` matches the name the client sent, never an address (a
  // literal IP for the same host is another request), so whether it matches
  // is known before resolving; resolving a name no rule can pass would tell
  // the client whether that name exists.
  test('a host name in `to` decides by the name alone', () => {
    const rules: RuleFile[] = [{ type: 'socks', action: 'pass', to: 'www.example' }];
    expect(before(rules, 'WWW.example.')).toBe('resolve');
    expect(before(rules, 'other.example')).toBe('refused');
    expect(before([{ type: 'socks', action: 'block', to: 'www.example' }, { type: 'socks', action: 'pass' }], 'www.example')).toBe('block #1');
    expect(before([{ type: 'socks', action: 'block', to: 'www.example' }, { type: 'socks', action: 'pass' }], 'other.example')).toBe('resolve');
  });
});

describe('names in `from`', () => {
  test('a host name matches the addresses it resolved to when the config loaded, and the client name', async () => {
    const rules = compileRules([
      { type: 'socks', action: 'pass', from: 'gateway.example' },
      { type: 'socks', action: 'pass', from: 'unknown.example' },
      { type: 'socks', action: 'pass', to: 'gateway.example' },
    ]);
    const asked: string[] = [];
    await resolveRuleHosts(rules, async (name) => {
      asked.push(name);
      if (name === 'gateway.example') return ['10.0.0.5', '2001:db8::5'];
      throw Object.assign(new Error(`${name} not found`), { code: 'ENOTFOUND' });
    });
    // Only `from` names are looked up; a `to` name is matched by name.
    expect(asked).toEqual(['gateway.example', 'unknown.example']);
    expect(describeDecision(decide(rules, 'socks', request({ client: '10.0.0.5', targetIp: undefined })))).toBe('pass socks-rule #1');
    expect(describeDecision(decide(rules, 'socks', request({ client: '2001:db8::5', targetIp: undefined })))).toBe('pass socks-rule #1');
    expect(describeDecision(decide(rules, 'socks', request({ client: '10.0.0.6', targetIp: undefined })))).toBe('block (no rule matched)');
    // A name that did not resolve matches by the client's (reverse) name only.
    expect(describeDecision(decide(rules, 'socks', request({ client: '10.0.0.6', clientName: 'unknown.example', targetIp: undefined })))).toBe('pass socks-rule #2');
  });

  test('the client needs a reverse lookup only when some `from` is a name or a .domain', () => {
    expect(rulesNeedClientName(compileRules([{ type: 'socks', action: 'pass', from: '10.0.0.0/8', to: 'www.example' }]))).toBe(false);
    expect(rulesNeedClientName(compileRules([{ type: 'client', action: 'pass', from: '.clients.example' }]))).toBe(true);
    expect(rulesNeedClientName(compileRules([{ type: 'socks', action: 'pass', from: 'host.example' }]))).toBe(true);
  });
});

describe('what a decision logs', () => {
  test('a rule logs what its log lists (connect, disconnect and error unless it says); the default deny logs connect and error', () => {
    const rules = compileRules([
      { type: 'socks', action: 'pass', port: 80 },
      { type: 'socks', action: 'pass', port: 443, log: ['data'] },
    ]);
    const events = ['connect', 'disconnect', 'data', 'error'] as const;
    const logged = (port: number): string[] => events.filter((e) => decisionLogs(decide(rules, 'socks', request({ port })), e));
    expect(logged(80)).toEqual(['connect', 'disconnect', 'error']);
    expect(logged(443)).toEqual(['data']);
    expect(logged(22)).toEqual(['connect', 'error']);
  });
});
