// The config file as the schema describes it (src/config/schema.json). Kept
// by hand next to the schema; test/unit/config.test.ts checks the two agree.

export type RuleAction = 'pass' | 'block';
export type RuleType = 'client' | 'socks';
export type RuleCommand = 'connect' | 'bind' | 'bindreply' | 'udpassociate' | 'udpreply';
export type LogEvent = 'connect' | 'disconnect' | 'data' | 'error';
export type PortSpec = number | string | Array<number | string>;

export interface RuleFile {
  type: RuleType;
  action: RuleAction;
  from?: string;
  to?: string;
  port?: PortSpec;
  command?: RuleCommand[];
  user?: string[];
  socksmethod?: string[];
  /** client rules: the service name and keytab for the clients they pass. */
  gssapi?: { servicename?: string; keytab?: string };
  protocol?: Array<'tcp' | 'udp'>;
  log?: LogEvent[];
  session?: RuleSessionLimits;
  comment?: string;
}

/** Dante's per-rule session.max, session.throttle and session.state.max (key from). */
export interface RuleSessionLimits {
  max?: number;
  throttle?: string;
  state?: { key: 'from'; max: number };
}

export interface GssapiFile {
  servicename: string;
  keytab: string;
  protection?: Array<'clear' | 'integrity' | 'confidentiality'>;
  necCompatibility?: boolean;
  replayCache?: string;
}

export interface ConfigFile {
  $schema?: string;
  internal: string[];
  external?: string[];
  freebind?: boolean;
  workers?: number;
  user?: string;
  socksmethod?: string[];
  users?: string;
  gssapi?: GssapiFile;
  rules?: RuleFile[];
  timeout?: {
    negotiate?: number;
    connect?: number;
    io?: number | { tcp?: number; udp?: number };
    tcp_fin_wait?: number;
    drain?: number;
    bind?: number;
  };
  session?: { max?: number };
  udp?: { portrange?: string };
  logoutput?: string[];
  debug?: number;
}
