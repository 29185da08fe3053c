import type { ConfigFile } from './types.js';

/**
 * The embedded config `hasocks serve` uses without --config (and `npm start`):
 * loopback only, no authentication, CONNECT to anywhere.
 */
export const DEFAULT_CONFIG: ConfigFile = {
  internal: ['127.0.0.1:1080', '[::1]:1080'],
  external: [],
  socksmethod: ['none'],
  rules: [
    { type: 'client', action: 'pass', from: '127.0.0.0/8' },
    { type: 'client', action: 'pass', from: '::1/128' },
    { type: 'socks', action: 'pass', from: '127.0.0.0/8', to: '0/0', command: ['connect'] },
    { type: 'socks', action: 'pass', from: '::1/128', to: '0/0', command: ['connect'] },
  ],
  timeout: { negotiate: 30, connect: 30, io: 0, tcp_fin_wait: 0, drain: 30, bind: 120 },
  session: { max: 10000 },
  logoutput: ['stderr'],
  debug: 0,
};

/** Values for keys a config file leaves out. */
export const DEFAULT_TIMEOUTS = { negotiate: 30, connect: 30, io: 0, tcp_fin_wait: 0, drain: 30, bind: 120 } as const;
export const DEFAULT_SESSION_MAX = 10000;
export const DEFAULT_RULE_LOG = ['connect', 'disconnect', 'error'] as const;
