import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isIP, isIPv4, isIPv6 } from 'node:net';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { SCHEMA_PATH } from '../paths.js';
import { type UserTable, loadUsers } from '../auth/users.js';
import { type GssIdentity, type GssService, PROTECTION_LEVEL, acquireService, gssIdentityFor, identityKey, serviceNameKind } from '../auth/gssapi.js';
import type { ProtectionLevelCode } from '../protocol/gssapi-message.js';
import { type Rule, compileRules, resolveRuleHosts, rulesNeedClientName } from '../policy/rules.js';
import { resolveName } from '../session/resolve.js';
import { splitHostPort } from '../protocol/address.js';
import type { MethodName } from '../protocol/constants.js';
import { DEFAULT_SESSION_MAX, DEFAULT_TIMEOUTS } from './defaults.js';
import type { ConfigFile } from './types.js';

/** A listening endpoint from `internal`. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
  /** As written in the config, for logs. */
  readonly text: string;
}

/** The config as the server uses it: validated, defaults applied, rules compiled, times in ms. */
export interface RuntimeConfig {
  /** The file it came from, or "<embedded default>". */
  readonly source: string;
  readonly internal: readonly ListenAddress[];
  readonly external: { readonly ipv4?: string | undefined; readonly ipv6?: string | undefined };
  readonly freebind: boolean;
  readonly workers: number;
  /** Unprivileged user to switch to after binding. */
  readonly user: string | undefined;
  readonly methods: readonly MethodName[];
  readonly rules: readonly Rule[];
  /** Some rule names clients by name or domain, so every client needs a reverse lookup first. */
  readonly lookUpClientNames: boolean;
  /** The users file named in the config, and its entries (name -> scrypt hash) once loaded. */
  readonly usersFile: string | undefined;
  readonly users: UserTable | undefined;
  readonly gssapi: GssapiConfig | undefined;
  readonly timeouts: {
    readonly negotiate: number;
    readonly connect: number;
    readonly ioTcp: number;
    readonly ioUdp: number;
    readonly tcpFinWait: number;
    readonly drain: number;
    readonly bind: number;
  };
  /** Ports for UDP relay sockets facing the client; undefined: any. */
  readonly udpPortRange: readonly [number, number] | undefined;
  readonly sessionMax: number;
  readonly logoutput: readonly string[];
  readonly debug: 0 | 1 | 2;
}

/** socksmethod "gssapi": who the proxy is to its clients, and what protection it allows. */
export interface GssapiConfig {
  /** The config's own service name and keytab; a client rule may name others for its clients. */
  readonly identity: GssIdentity;
  readonly levels: ReadonlySet<ProtectionLevelCode>;
  readonly necCompatibility: boolean;
  readonly replayCache: string | undefined;
  /** Every identity a client may meet, its keytab read, by identityKey; filled in by configFromText. */
  readonly services: ReadonlyMap<string, GssService>;
}

/** Every problem in a config, each naming the file, the place and the fix. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`${file}: invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

let validator: ValidateFunction<ConfigFile> | undefined;
function schemaValidator(): ValidateFunction<ConfigFile> {
  if (!validator) {
    const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
    validator = ajv.compile<ConfigFile>(JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as object);
  }
  return validator;
}

/** Turn ajv's errors into sentences that say what was expected. */
function describeSchemaErrors(errors: readonly ErrorObject[]): string[] {
  // A failed oneOf drags in one error per branch; say it once, in plain words.
  const oneOfPaths = new Set(errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath));
  const out: string[] = [];
  for (const error of errors) {
    const path = error.instancePath || '/';
    const underOneOf = [...oneOfPaths].some((p) => error.instancePath.startsWith(p) && error.keyword !== 'oneOf');
    if (underOneOf) continue;
    const params = error.params as Record<string, unknown>;
    switch (error.keyword) {
      case 'additionalProperties': {
        const known = Object.keys((error.parentSchema as { properties?: object }).properties ?? {}).filter((k) => k !== '$schema');
        out.push(`${path}: unknown key "${String(params.additionalProperty)}"; expected one of: ${known.join(', ')}`);
        break;
      }
      case 'required':
        out.push(`${path}: missing required key "${String(params.missingProperty)}"`);
        break;
      case 'enum':
        out.push(`${path}: must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`);
        break;
      case 'pattern':
      case 'oneOf': {
        const description = (error.parentSchema as { description?: string }).description;
        out.push(`${path}: ${JSON.stringify(error.data)} is not valid${description ? `; expected ${description}` : ''}`);
        break;
      }
      default:
        out.push(`${path}: ${error.message ?? 'is invalid'}`);
    }
  }
  return out;
}

/** "Unexpected token } in JSON at position 41" -> line and column, so the error points at the place. */
function describeJsonSyntaxError(text: string, err: Error): string {
  const position = /position (\d+)/.exec(err.message);
  if (!position) {
    const lines = text.split('\n');
    if (/end of JSON input/.test(err.message)) {
      return `line ${lines.length}, column ${lines.at(-1)!.length + 1}: the file ends too early; a bracket, brace or string is not closed`;
    }
    return err.message;
  }
  const offset = Number(position[1]);
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return `line ${line}, column ${column}: ${err.message.replace(/ in JSON at position \d+.*$/, '')}; check for a missing comma, quote or brace there`;
}

/** "127.0.0.1:1080" or "[::1]:1080" -> host and port. */
export function parseHostPort(text: string): { host: string; port: number } {
  const split = splitHostPort(text);
  if (!split) throw new Error(`"${text}" is not "address:port" (IPv6 in brackets: "[::1]:1080")`);
  const { host, port } = split;
  if (!isIP(host)) throw new Error(`"${host}" is not an IP address`);
  if (isIPv6(host) !== text.startsWith('[')) throw new Error(`"${text}": write IPv6 addresses in brackets, IPv4 without`);
  if (port < 1 || port > 65535) throw new Error(`port ${port} is outside 1-65535`);
  return { host, port };
}

/** Checks the schema cannot express; each problem names its JSON path. */
function toRuntime(file: ConfigFile, source: string, problems: string[]): RuntimeConfig | undefined {
  const internal: ListenAddress[] = [];
  file.internal.forEach((text, i) => {
    try {
      internal.push({ ...parseHostPort(text), text });
    } catch (err) {
      problems.push(`/internal/${i}: ${(err as Error).message}`);
    }
  });
  const seen = new Set<string>();
  internal.forEach((l, i) => {
    if (seen.has(`${l.host}|${l.port}`)) problems.push(`/internal/${i}: "${l.text}" is listed twice; remove one`);
    seen.add(`${l.host}|${l.port}`);
  });

  const external: { ipv4?: string; ipv6?: string } = {};
  (file.external ?? []).forEach((address, i) => {
    const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
    if (!family) problems.push(`/external/${i}: "${address}" is not an IP address`);
    else if (external[family]) problems.push(`/external/${i}: a second ${family} address; give at most one per family`);
    else external[family] = address;
  });

  const methods = (file.socksmethod ?? ['none']) as MethodName[];
  if (methods.includes('username') && file.users === undefined) {
    problems.push('/socksmethod: "username" needs a users file; add "users": "/etc/hasocks/users" and fill it with "hasocks passwd"');
  }
  if (methods.includes('gssapi') && file.gssapi === undefined) {
    problems.push('/socksmethod: "gssapi" needs a "gssapi" section; add "gssapi": {"servicename": "rcmd/socks.example.com", "keytab": "/etc/hasocks/keytab"}, with the host name clients use for the VIP');
  }
  if (file.gssapi?.necCompatibility && file.gssapi.protection?.includes('clear')) {
    problems.push('/gssapi: "necCompatibility" with "clear" in "protection" lets anyone who captured a client\'s first token replay it to another node and use the session as that client (docs/gssapi.md, Replays); drop one of them');
  }
  if (file.gssapi?.replayCache !== undefined && /^none:/i.test(file.gssapi.replayCache)) {
    problems.push(`/gssapi/replayCache: "${file.gssapi.replayCache}" turns replay detection off; name a file, such as "file2:/var/lib/hasocks/rcache2", or leave it out`);
  }
  const servicenames: Array<[string, string | undefined]> = [['/gssapi/servicename', file.gssapi?.servicename], ...(file.rules ?? []).map((rule, i): [string, string | undefined] => [`/rules/${i}/gssapi/servicename`, rule.gssapi?.servicename])];
  for (const [where, name] of servicenames) {
    const kind = name === undefined ? undefined : serviceNameKind(name);
    if (kind && 'problem' in kind) problems.push(`${where}: ${kind.problem}`);
  }
  let udpPortRange: [number, number] | undefined;
  if (file.udp?.portrange !== undefined) {
    const [low, high] = file.udp.portrange.split('-').map(Number) as [number, number];
    if (low < 1 || high > 65535 || low > high) problems.push(`/udp/portrange: "${file.udp.portrange}" must be "low-high" within 1-65535, low first`);
    else udpPortRange = [low, high];
  }

  let rules: Rule[] = [];
  try {
    rules = compileRules(file.rules ?? []);
  } catch (err) {
    problems.push((err as Error).message);
  }
  if (problems.length > 0) return undefined;

  const t = { ...DEFAULT_TIMEOUTS, ...file.timeout };
  const ms = (seconds: number) => Math.round(seconds * 1000);
  const io = typeof t.io === 'number' ? { tcp: t.io, udp: t.io } : { tcp: 0, udp: 0, ...t.io };
  return {
    source,
    internal,
    external,
    freebind: file.freebind ?? false,
    workers: file.workers ?? 1,
    user: file.user,
    methods,
    usersFile: file.users,
    users: undefined,
    gssapi: file.gssapi && {
      identity: { servicename: file.gssapi.servicename, keytab: file.gssapi.keytab },
      levels: new Set((file.gssapi.protection ?? ['integrity', 'confidentiality']).map((name) => PROTECTION_LEVEL[name])),
      necCompatibility: file.gssapi.necCompatibility ?? false,
      replayCache: file.gssapi.replayCache,
      services: new Map(),
    },
    rules,
    lookUpClientNames: rulesNeedClientName(rules),
    timeouts: {
      negotiate: ms(t.negotiate),
      connect: ms(t.connect),
      ioTcp: ms(io.tcp),
      ioUdp: ms(io.udp),
      tcpFinWait: ms(t.tcp_fin_wait),
      drain: ms(t.drain),
      bind: ms(t.bind),
    },
    udpPortRange,
    sessionMax: file.session?.max ?? DEFAULT_SESSION_MAX,
    logoutput: file.logoutput ?? ['stderr'],
    debug: (file.debug ?? 0) as 0 | 1 | 2,
  };
}

/** Validate an already-parsed config object. `source` names it in errors. */
export function buildConfig(data: unknown, source: string): RuntimeConfig {
  const validate = schemaValidator();
  if (!validate(data)) throw new ConfigError(source, describeSchemaErrors(validate.errors ?? []));
  const problems: string[] = [];
  const config = toRuntime(data, source, problems);
  if (!config) throw new ConfigError(source, problems);
  return config;
}

/** Parse config text; syntax errors carry line and column. */
export function parseConfigText(text: string, source: string): RuntimeConfig {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(source, [describeJsonSyntaxError(text, err as Error)]);
  }
  return buildConfig(data, source);
}

export async function loadConfigFile(path: string): Promise<RuntimeConfig> {
  return configFromText(await readConfigText(path), path);
}

/** A config file's text; a file that cannot be read is a ConfigError that says why. */
export async function readConfigText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint = code === 'ENOENT' ? 'the file does not exist; check the path' : code === 'EACCES' ? 'permission denied; check its mode and owner' : (err as Error).message;
    throw new ConfigError(path, [`cannot read: ${hint}`]);
  }
}

/**
 * The config in `text`, read from `path` (which errors name): validated,
 * with its rules' host names resolved and its users file loaded.
 */
export async function configFromText(text: string, path: string): Promise<RuntimeConfig> {
  const config = parseConfigText(text, path);
  await resolveRuleHosts(config.rules, resolveName);
  const withGssapi = config.methods.includes('gssapi') && config.gssapi ? { ...config, gssapi: readKeytabs(config.gssapi, config.rules, path) } : config;
  if (!config.methods.includes('username') || config.usersFile === undefined) return withGssapi;
  try {
    return { ...withGssapi, users: await loadUsers(config.usersFile) };
  } catch (err) {
    throw new ConfigError(path, [`/users: ${(err as Error).message}`]);
  }
}

/** Read the keytab of every identity a client may meet (the config's, and each client rule's): one that holds no key for its name is a ConfigError. */
function readKeytabs(gssapi: GssapiConfig, rules: readonly Rule[], path: string): GssapiConfig {
  const services = new Map<string, GssService>();
  const problems: string[] = [];
  const wanted: Array<[string, GssIdentity]> = [['/gssapi', gssapi.identity]];
  rules.forEach((rule, i) => {
    if (rule.gssapi) wanted.push([`/rules/${i}/gssapi`, gssIdentityFor(gssapi.identity, rule)]);
  });
  for (const [where, identity] of wanted) {
    const key = identityKey(identity);
    if (services.has(key)) continue;
    try {
      services.set(key, acquireService(identity, gssapi.replayCache));
    } catch (err) {
      problems.push(`${where}: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(path, problems);
  return { ...gssapi, services };
}
