// The agent's meta-data: OCF 1.1 XML that validates both against
// ra-api-1.dtd (ocf-tester, with an internal subset that declares the OCF
// 1.1 attributes the old DTD lacks) and against the OCF 1.1 RelaxNG schema
// pcs uses.
import { DEFAULT_DEGRADED_PERCENT, DEFAULT_DRAIN_TIMEOUT } from './launcher-contract.js';

export interface ParameterSpec {
  readonly name: string;
  readonly shortdesc: string;
  readonly longdesc: string;
  readonly type: 'string' | 'integer' | 'boolean' | 'time';
  readonly default?: string;
  readonly required?: boolean;
  /** unique="1" and unique-group="<group>": no two resources may share the value(s). */
  readonly uniqueGroup?: string;
  /** Can change with reload-agent, without a restart. */
  readonly reloadable?: boolean;
}

export const PARAMETERS: readonly ParameterSpec[] = [
  {
    name: 'config',
    shortdesc: 'hasocks config file',
    longdesc: 'Path of the hasocks JSON config file (see hasocks check-config). Every node needs the same file, with the VIP in "internal", and "freebind": true for a promotable clone whose standby holds the VIP before it arrives. Reloadable: pointing it at a new file (written to every node first) makes every instance re-read its config without dropping a session; a file the daemon rejects leaves the old config in force and is logged as an error.',
    type: 'string',
    required: true,
    reloadable: true,
  },
  {
    name: 'listen_address',
    shortdesc: 'Listen address to monitor',
    longdesc: 'The "internal" address this resource serves (usually the VIP). It must be one of the config\'s "internal" entries. Default: the first one.',
    type: 'string',
    uniqueGroup: 'listen',
  },
  {
    name: 'listen_port',
    shortdesc: 'Listen port to monitor',
    longdesc: 'The port that goes with listen_address. Default: the port of the first "internal" entry.',
    type: 'integer',
    uniqueGroup: 'listen',
  },
  {
    name: 'vip',
    shortdesc: 'Addresses the Promoted instance holds',
    longdesc: 'Space-separated address/prefix list (IPv4 or IPv6, e.g. "192.0.2.100/24 192.0.2.101/24"): promote adds them to vip_nic and announces them (gratuitous ARP, or unsolicited neighbour advertisements), demote and stop remove them, and monitor checks that the Promoted instance holds them all and a standby none. This takes the place of IPaddr2 resources colocated with the Promoted role, and a switchover no longer waits for one IPaddr2 to stop before the other starts (docs/cluster.md). Empty: the agent manages no address.',
    type: 'string',
    uniqueGroup: 'vip',
  },
  {
    name: 'vip_nic',
    shortdesc: 'Interface for vip',
    longdesc: 'The network interface the vip addresses go on, the same name on every node. Required with vip.',
    type: 'string',
  },
  {
    name: 'state_dir',
    shortdesc: 'State directory',
    longdesc: 'Where the pid file and the control sockets of this instance live. Default: $HA_RSCTMP/hasocks-<instance> (HA_RSCTMP is usually /run/resource-agents). It must belong to root and be writable by nobody else; start refuses any other.',
    type: 'string',
  },
  {
    name: 'drain_timeout',
    shortdesc: 'Drain time in seconds',
    longdesc: 'On demote, and on stop of a plain or Promoted instance, how long open sessions may finish before they are closed. A demoted instance stops at once: its sessions left with the VIP, and Pacemaker holds the next promote until that stop is done. Stop never waits beyond its own operation timeout.',
    type: 'integer',
    default: String(DEFAULT_DRAIN_TIMEOUT),
    reloadable: true,
  },
  {
    name: 'probe_target',
    shortdesc: 'Deep monitor target (host:port)',
    longdesc: 'The depth-20 monitor makes a real CONNECT through this node\'s instance (over its local probe socket, never through the VIP) to this host:port. Without it, depth 20 checks as depth 10.',
    type: 'string',
    reloadable: true,
  },
  {
    name: 'probe_user',
    shortdesc: 'Deep monitor username',
    longdesc: 'Username for the deep monitor when the config requires socksmethod "username".',
    type: 'string',
    reloadable: true,
  },
  {
    name: 'probe_password',
    shortdesc: 'Deep monitor password',
    longdesc: 'Password for probe_user.',
    type: 'string',
    reloadable: true,
  },
  {
    name: 'degraded_percent',
    shortdesc: 'Degraded threshold in percent',
    longdesc: 'Monitor reports DEGRADED (190, or 191 when promoted) when open sessions or open files reach this share of session.max or the file limit.',
    type: 'integer',
    default: String(DEFAULT_DEGRADED_PERCENT),
    reloadable: true,
  },
  {
    name: 'trace_ra',
    shortdesc: 'Trace the agent',
    longdesc: 'Set to 1 to trace every action of the agent to trace_file (pcs sets this with "pcs resource debug-*" and trace options).',
    type: 'boolean',
    default: '0',
    reloadable: true,
  },
  {
    name: 'trace_file',
    shortdesc: 'Trace file',
    longdesc: 'Where trace_ra writes. Default: /var/lib/heartbeat/trace_ra/hasocks/<instance>.<action>.trace.',
    type: 'string',
    reloadable: true,
  },
];

interface ActionSpec {
  readonly name: string;
  readonly timeout: string;
  readonly interval?: string;
  readonly role?: string;
  readonly depth?: string;
}

/** Realistic timeouts: start waits for a SOCKS answer, stop includes the drain. */
export const ACTIONS: readonly ActionSpec[] = [
  { name: 'start', timeout: '30s' },
  { name: 'stop', timeout: '40s' },
  { name: 'promote', timeout: '10s' },
  { name: 'demote', timeout: '10s' },
  { name: 'monitor', timeout: '10s', interval: '9s', role: 'Promoted', depth: '0' },
  { name: 'monitor', timeout: '10s', interval: '11s', role: 'Unpromoted', depth: '0' },
  { name: 'monitor', timeout: '10s', interval: '31s', depth: '10' },
  { name: 'monitor', timeout: '20s', interval: '61s', depth: '20' },
  { name: 'notify', timeout: '5s' },
  { name: 'reload', timeout: '10s' },
  { name: 'reload-agent', timeout: '10s' },
  { name: 'validate-all', timeout: '10s' },
  { name: 'meta-data', timeout: '5s' },
];

const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function metadata(version: string): string {
  const parameters = PARAMETERS.map((p) => {
    const attributes = [
      `name="${p.name}"`,
      `required="${p.required ? 1 : 0}"`,
      `unique="${p.uniqueGroup ? 1 : 0}"`,
      ...(p.uniqueGroup ? [`unique-group="${p.uniqueGroup}"`] : []),
      ...(p.reloadable ? ['reloadable="1"'] : []),
    ].join(' ');
    const content = p.default === undefined ? `<content type="${p.type}"/>` : `<content type="${p.type}" default="${escape(p.default)}"/>`;
    return `    <parameter ${attributes}>
      <longdesc lang="en">${escape(p.longdesc)}</longdesc>
      <shortdesc lang="en">${escape(p.shortdesc)}</shortdesc>
      ${content}
    </parameter>`;
  }).join('\n');
  const actions = ACTIONS.map((a) => {
    const attributes = [`name="${a.name}"`, `timeout="${a.timeout}"`, ...(a.interval ? [`interval="${a.interval}"`] : []), ...(a.role ? [`role="${a.role}"`] : []), ...(a.depth ? [`depth="${a.depth}"`] : [])];
    return `    <action ${attributes.join(' ')}/>`;
  }).join('\n');
  // The internal subset comes first, so its declarations win over the
  // external ra-api-1.dtd: it adds OCF 1.1's reloadable and unique-group,
  // and frees action names (reload-agent is not in the old list).
  return `<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd" [
  <!ATTLIST parameter reloadable (0|1) "0" unique-group CDATA #IMPLIED>
  <!ATTLIST action name CDATA #REQUIRED>
]>
<resource-agent name="socks" version="${escape(version)}">
  <version>1.1</version>
  <longdesc lang="en">Runs the hasocks SOCKS proxy (SOCKS5, SOCKS4/4a; CONNECT, BIND, UDP ASSOCIATE) for a virtual IP. As a plain primitive it belongs in a group after an IPaddr2 VIP (cold start). As a promotable clone, every node runs a warm standby already bound to the VIP (with "freebind": true in the config); promote makes it serve, and the VIP is colocated with the Promoted role. Monitors check this node's own instance through its local sockets, never through the VIP.</longdesc>
  <shortdesc lang="en">hasocks SOCKS proxy</shortdesc>
  <parameters>
${parameters}
  </parameters>
  <actions>
${actions}
  </actions>
</resource-agent>
`;
}
