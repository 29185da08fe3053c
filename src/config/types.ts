// The config file as the schema describes it (src/config/schema.json). Kept
// by hand next to the schema; test/config.test.ts checks the two agree.

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
  socksmethod?: string[];
  protocol?: Array<'tcp' | 'udp'>;
  log?: LogEvent[];
  comment?: string;
}

export interface ConfigFile {
  $schema?: string;
  internal: string[];
  external?: string[];
  socksmethod?: string[];
  rules?: RuleFile[];
  timeout?: {
    negotiate?: number;
    connect?: number;
    io?: number;
    tcp_fin_wait?: number;
    drain?: number;
  };
  session?: { max?: number };
  logoutput?: string[];
  debug?: number;
}
