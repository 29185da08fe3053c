import { type ResultPromise, execa } from 'execa';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Netns, createNetns } from './netns.js';
import { CLI, REPO } from './proxy.js';

/**
 * A real Pacemaker/Corosync cluster on this machine, built from namespaces
 * this test creates and always removes (docs/cluster.md describes the lab):
 * - a "switch" network namespace with a bridge;
 * - per node: a network namespace with a veth on the bridge, plus mount, UTS
 *   and PID namespaces (unshare) in which the node has its own /dev/shm,
 *   /run, /var/lib/pacemaker, /var/lib/corosync, /var/log/pacemaker,
 *   /var/log/corosync, /etc/corosync, and its own copy of the OCF agents with
 *   ocf:hasocks:socks installed; corosync and pacemakerd run there;
 * - a client namespace on the same bridge, for SOCKS clients and targets.
 * Nothing touches the machine's own interfaces or files outside the test's
 * temporary directory.
 */
export interface ClusterNode {
  readonly name: string;
  readonly address: string;
  readonly netns: string;
  /** PID (in this machine's PID namespace) of the node's PID 1. */
  readonly initPid: number;
  /** Run a command inside the node (all its namespaces). Never through a shell unless the test asks for one. */
  exec(command: string, args: string[], options?: { reject?: boolean; timeout?: number; env?: Record<string, string> }): Promise<{ exitCode: number; stdout: string; stderr: string }>;
}

type MutableNode = { -readonly [K in keyof ClusterNode]: ClusterNode[K] };

export interface Cluster {
  readonly nodes: ClusterNode[];
  /** Where the lab's fence device listens on the lab network, for fence_hasocks_lab's ip= and ipport=. */
  readonly fenceDevice: { readonly ip: string; readonly port: number };
  /**
   * pcs commands (argument arrays) that set up the lab's fencing as
   * production 2-node clusters do it: one device per node (fence-nodeN, able
   * to fence only nodeN), kept off the node it fences. The device that fences
   * a crashed node then already runs on a survivor, so a failover starts no
   * fence device beside the VIPs' starts.
   */
  readonly fenceCommands: string[][];
  /** Kill a node's namespaces at once (all its processes die) and cut its link: a crash. */
  crash(name: string): Promise<void>;
  /** Power a crashed or fenced node back on and wait until it is online again. */
  restart(name: string): Promise<void>;
  /** Take a node's link down, leaving it running: a network cut. */
  cut(name: string): Promise<void>;
  /** The nodes the lab has powered off for the fence agent, in order. */
  readonly fenced: string[];
  /** Whether the cluster fences (stonith-enabled); without it, a lost node is simply written off. */
  readonly stonith: boolean;
  readonly client: Netns;
  readonly clientAddress: string;
  /** The bridge-side interface name every node's NIC has (for IPaddr2's nic=). */
  readonly nic: string;
  readonly dir: string;
  remove(): Promise<void>;
}

const NODE_SCRIPT = `#!/bin/bash
# PID 1 of a lab node: private mounts, then corosync and pacemakerd.
set -e
base=$1; name=$2
mount -t tmpfs tmpfs /dev/shm
for d in /run /var/lib/pacemaker /var/lib/corosync /var/log/pacemaker /var/log/corosync /etc/corosync; do
  mkdir -p "$base/fs$d"; mount --bind "$base/fs$d" "$d"
done
mount --bind "$base/resource.d" /usr/lib/ocf/resource.d
# /usr/sbin as links to the real one, plus the lab's test-only fence agent.
mount --bind "$base/sbin" /usr/sbin
mkdir -p /var/lib/pacemaker/cib /var/lib/pacemaker/pengine /var/lib/pacemaker/blackbox /var/lib/pacemaker/cores /run/crm /run/resource-agents
cp "$base/cib.xml" /var/lib/pacemaker/cib/cib.xml
chown -R hacluster:haclient /var/lib/pacemaker /var/log/pacemaker /run/crm
chmod 750 /var/lib/pacemaker/cib /var/lib/pacemaker/pengine /var/lib/pacemaker/blackbox /var/lib/pacemaker/cores
hostname "$name"
cp "$base/corosync.conf" /etc/corosync/corosync.conf
corosync -f > /var/log/corosync/stdout.log 2>&1 &
for i in $(seq 1 50); do corosync-cfgtool -s >/dev/null 2>&1 && break; sleep 0.1; done
PCMK_debug=\${HASOCKS_LAB_PCMK_DEBUG:-no} pacemakerd > /var/log/pacemaker/stdout.log 2>&1 &
# Reap orphans (a killed resource's children are re-parented here), forever.
while true; do wait || true; sleep 1; done
`;

/** An empty CIB with the lab's properties, so the first DC election does not wait the default 20 s. */
function seedCib(stonith: boolean): string {
  return `<cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="opt-dc-deadtime" name="dc-deadtime" value="2s"/>
        <nvpair id="opt-stonith" name="stonith-enabled" value="${stonith}"/>
        <nvpair id="opt-cluster-name" name="cluster-name" value="hasocks-lab"/>
      </cluster_property_set>
    </crm_config>
    <nodes/>
    <resources/>
    <constraints/>
  </configuration>
  <status/>
</cib>
`;
}

/** What the totem { } section of a corosync.conf fragment holds (examples/corosync-fast-2-nodes.conf), nested sections included, without its comments. */
export function totemSection(fragment: string): string {
  const lines = fragment.split('\n').map((line) => line.replace(/#.*$/, '').trimEnd());
  const start = lines.findIndex((line) => /^totem\s*\{$/.test(line.trim()));
  if (start < 0) throw new Error('no totem { } section in the fragment');
  const body: string[] = [];
  let depth = 1;
  for (const line of lines.slice(start + 1)) {
    depth += (line.match(/\{/g) ?? []).length - (line.match(/\}/g) ?? []).length;
    if (depth === 0) return body.filter((l) => l.trim() !== '').map((l) => `    ${l.trim()}`).join('\n');
    body.push(line);
  }
  throw new Error('the totem { } section of the fragment does not close');
}

function corosyncConf(nodes: ReadonlyArray<{ name: string; address: string }>, totem: string): string {
  // Each "node {" opens on its own line, as corosync's parser needs.
  const entries = nodes.map((n, i) => `    node {\n        ring0_addr: ${n.address}\n        name: ${n.name}\n        nodeid: ${i + 1}\n    }`).join('\n');
  // The lab's token is 1000 ms, a third of Corosync's default, unless a profile's totem section sets it.
  const timers = /^\s*token:/m.test(totem) ? totem : `    token: 1000\n${totem}`.trimEnd();
  return `totem {
    version: 2
    cluster_name: hasocks-lab
    transport: knet
${timers}
    crypto_cipher: none
    crypto_hash: none
}
nodelist {
${entries}
}
quorum {
    provider: corosync_votequorum
${nodes.length === 2 ? '    two_node: 1\n' : ''}}
logging {
    to_logfile: yes
    logfile: /var/log/corosync/corosync.log
    to_syslog: no
    to_stderr: no
}
`;
}

let counter = 0;

export async function createCluster(size: number, options: { subnet?: string; stonith?: boolean; totem?: string } = {}): Promise<Cluster> {
  const subnet = options.subnet ?? '10.204.0';
  const id = `${process.pid % 10000}${++counter}`;
  const dir = mkdtempSync(join(tmpdir(), 'hasocks-cluster-'));
  const cleanups: Array<() => Promise<void>> = [];
  const remove = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    // HASOCKS_KEEP_LAB=1 keeps the nodes' logs and state (processes and namespaces still go).
    // HASOCKS_LAB_PCMK_DEBUG=<daemons> (e.g. pacemaker-fenced) turns on Pacemaker's debug log in every node.
    if (process.env.HASOCKS_KEEP_LAB) console.log(`cluster lab files kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  };
  try {
    const sw = `hcsw${id}`;
    await execa('ip', ['netns', 'add', sw]);
    cleanups.push(async () => void (await execa('ip', ['netns', 'del', sw], { reject: false })));
    // A fixed MAC: a bridge otherwise takes the lowest MAC among its ports,
    // so removing a crashed node's port could change it, and the survivors'
    // ARP entries for the fence device (on br0) would point at nothing for
    // seconds; fencing then stalled in SYN-SENT, in about half the crashes.
    await execa('ip', ['-n', sw, 'link', 'add', 'br0', 'address', '02:00:00:00:00:fe', 'type', 'bridge']);
    await execa('ip', ['-n', sw, 'link', 'set', 'br0', 'up']);

    const plug = async (netns: string, ifname: string, address: string, port: string): Promise<void> => {
      await execa('ip', ['link', 'add', ifname, 'netns', netns, 'type', 'veth', 'peer', 'name', port, 'netns', sw]);
      await execa('ip', ['-n', sw, 'link', 'set', port, 'master', 'br0']);
      await execa('ip', ['-n', sw, 'link', 'set', port, 'up']);
      await execa('ip', ['-n', netns, 'addr', 'add', `${address}/24`, 'dev', ifname]);
      await execa('ip', ['-n', netns, 'link', 'set', ifname, 'up']);
    };

    // The fence agent inside a node cannot see other nodes' processes; it asks here.
    const fenceSocket = join(dir, 'fence.sock');
    const fenced: string[] = [];
    const powerOff = async (name: string): Promise<void> => {
      const node = nodes.find((n) => n.name === name);
      if (!node) throw new Error(`no node ${name}`);
      const life = currentLife(name);
      appendFileSync(join(dir, 'power.log'), `${new Date().toISOString()} off ${name} (pid 1 = ${node.initPid}${life?.ended ? ', already down' : ''})\n`);
      // Like a PDU asked to switch off an outlet it has already switched off: done at once.
      if (life?.unplugged) return;
      endLife(life);
      // A powered-off machine holds no addresses (its VIP included): remove its NIC, both ends.
      await execa('ip', ['-n', node.netns, 'link', 'del', 'eth1'], { reject: false });
      if (life) life.unplugged = true;
    };
    // allowHalfOpen: the agent (nc -N) half-closes after its request and waits for the answer.
    const fenceServer = createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => undefined);
      socket.once('data', (data: Buffer) => {
        appendFileSync(join(dir, 'power.log'), `${new Date().toISOString()} request: ${data.toString().trim()}\n`);
        const [verb, name] = data.toString().trim().split(/\s+/);
        if (verb === 'ping') {
          socket.end('pong\n');
          return;
        }
        if (verb !== 'off' || !name || !nodes.some((n) => n.name === name)) {
          socket.end('unknown request\n');
          return;
        }
        fenced.push(name);
        void powerOff(name).then(() => socket.end('ok\n'), (err: Error) => socket.end(`${err.message}\n`));
      });
    });
    await new Promise<void>((resolve) => fenceServer.listen(fenceSocket, resolve));
    cleanups.push(async () => void fenceServer.close());
    // The device's network face: the bridge's address in the switch namespace, relayed to the socket.
    const fenceDevice = { ip: `${subnet}.254`, port: 7999 };
    await execa('ip', ['-n', sw, 'addr', 'add', `${fenceDevice.ip}/24`, 'dev', 'br0']);
    const relay = execa('ip', ['netns', 'exec', sw, process.execPath, join(REPO, 'test', 'helpers', 'tcp-to-unix.mjs'), fenceDevice.ip, String(fenceDevice.port), fenceSocket], {
      reject: false,
      stderr: { file: join(dir, 'fence-relay.log') },
    });
    cleanups.push(async () => {
      relay.kill('SIGKILL');
      await relay;
    });
    await new Promise((resolve) => relay.stdout!.once('data', resolve));
    const ports = new Map<string, string>();

    const client = await createNetns();
    cleanups.push(() => client.remove());
    const clientAddress = `${subnet}.2`;
    await plug(client.name, 'eth1', clientAddress, `c${id}`);

    // Every node life (first boot and restarts): unshare, and the node's PID 1
    // under it. A life's PID 1 is signalled only while its unshare still runs:
    // once it has ended, that pid may belong to any other process.
    interface Life {
      readonly initPid: number;
      readonly unshare: ResultPromise;
      ended: boolean;
      /** Powered off by the lab: its NIC is gone. */
      unplugged?: boolean;
    }
    const lives = new Map<string, Life[]>();
    const endLife = (life: Life | undefined): void => {
      if (!life || life.ended) return;
      try {
        // Killing a PID namespace's init kills every process in it; its mounts go with it.
        process.kill(life.initPid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const currentLife = (name: string): Life | undefined => lives.get(name)?.at(-1);
    cleanups.push(async () => {
      for (const life of [...lives.values()].flat()) {
        endLife(life);
        await life.unshare;
      }
    });
    const boot = async (netns: string, base: string, name: string): Promise<number> => {
      const unshare = execa('ip', ['netns', 'exec', netns, 'unshare', '--mount', '--uts', '--pid', '--fork', '--mount-proc', join(base, 'node.sh'), base, name], {
        reject: false,
        stdin: 'ignore',
      });
      // PID 1 of the node is unshare's only child.
      for (let i = 0; i < 100; i++) {
        await new Promise((r) => setTimeout(r, 50));
        try {
          const children = readFileSync(`/proc/${unshare.pid}/task/${unshare.pid}/children`, 'utf8').trim();
          if (children) {
            const life: Life = { initPid: Number(children.split(' ')[0]), unshare, ended: false };
            void unshare.finally(() => (life.ended = true));
            lives.set(name, [...(lives.get(name) ?? []), life]);
            return life.initPid;
          }
        } catch {
          /* not yet */
        }
      }
      unshare.kill('SIGKILL');
      throw new Error(`node ${name} did not start`);
    };

    const specs = Array.from({ length: size }, (_, i) => ({ name: `node${i + 1}`, address: `${subnet}.${11 + i}` }));
    const nodes: MutableNode[] = [];
    for (const spec of specs) {
      const netns = `hc${id}${spec.name}`;
      await execa('ip', ['netns', 'add', netns]);
      cleanups.push(async () => void (await execa('ip', ['netns', 'del', netns], { reject: false })));
      await execa('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
      const port = `p${id}${spec.name.slice(4)}`;
      ports.set(spec.name, port);
      await plug(netns, 'eth1', spec.address, port);

      const base = join(dir, spec.name);
      mkdirSync(base, { recursive: true });
      writeFileSync(join(base, 'node.sh'), NODE_SCRIPT, { mode: 0o755 });
      writeFileSync(join(base, 'corosync.conf'), corosyncConf(specs, options.totem ?? ''));
      writeFileSync(join(base, 'cib.xml'), seedCib(options.stonith ?? false));
      cpSync('/usr/lib/ocf/resource.d', join(base, 'resource.d'), { recursive: true });
      // A copy, not links: links into /usr/sbin would point at themselves once this is mounted there.
      cpSync('/usr/sbin', join(base, 'sbin'), { recursive: true });
      cpSync(join(REPO, 'test', 'helpers', 'fence_hasocks_lab'), join(base, 'sbin', 'fence_hasocks_lab'));
      await execa(process.execPath, [CLI, 'install-agent', '--ocf-root', base]);

      const node: MutableNode = {
        ...spec,
        netns,
        initPid: await boot(netns, base, spec.name),
        exec: async (command, args, opts = {}) => {
          const result = await execa('nsenter', ['-t', String(node.initPid), '-m', '-u', '-p', '-n', command, ...args], {
            reject: opts.reject ?? true,
            timeout: opts.timeout ?? 60000,
            env: opts.env,
          });
          return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
        },
      };
      nodes.push(node);
    }

    /** Wait until a DC is elected and every node is online, asking `ask` (other nodes may be down). */
    const waitAllOnline = async (ask: MutableNode, what: string): Promise<void> => {
      const deadline = Date.now() + 60000;
      for (;;) {
        const mon = await ask.exec('crm_mon', ['-1', '-r'], { reject: false });
        if (/partition with quorum/.test(mon.stdout) && new RegExp(`Online: \\[ ${specs.map((s) => s.name).join(' ')} \\]`).test(mon.stdout)) return;
        if (Date.now() > deadline) throw new Error(`${what}:\n${mon.stdout}${mon.stderr}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    await waitAllOnline(nodes[0]!, 'the cluster did not form');

    /** Power a crashed or fenced node back on: a new NIC if it lost it, fresh /run, and a new boot. */
    const restart = async (name: string): Promise<void> => {
      const node = nodes.find((n) => n.name === name)!;
      endLife(currentLife(name));
      await currentLife(name)?.unshare;
      const base = join(dir, name);
      rmSync(join(base, 'fs', 'run'), { recursive: true, force: true });
      mkdirSync(join(base, 'fs', 'run'));
      const link = await execa('ip', ['-n', node.netns, 'link', 'show', 'eth1'], { reject: false });
      if (link.exitCode === 0) await execa('ip', ['-n', sw, 'link', 'set', ports.get(name)!, 'up']);
      else await plug(node.netns, 'eth1', node.address, ports.get(name)!);
      node.initPid = await boot(node.netns, base, name);
      await waitAllOnline(node, `${name} did not rejoin`);
    };

    return {
      nodes,
      client,
      clientAddress,
      nic: 'eth1',
      dir,
      fenceDevice,
      fenceCommands: specs.flatMap((s) => [
        ['stonith', 'create', `fence-${s.name}`, 'fence_hasocks_lab', `ip=${fenceDevice.ip}`, `ipport=${fenceDevice.port}`, `pcmk_host_list=${s.name}`, 'pcmk_host_check=static-list'],
        ['constraint', 'location', `fence-${s.name}`, 'avoids', s.name],
      ]),
      fenced,
      stonith: options.stonith ?? false,
      crash: (name) => powerOff(name),
      restart,
      cut: async (name) => void (await execa('ip', ['-n', sw, 'link', 'set', ports.get(name)!, 'down'])),
      remove,
    };
  } catch (err) {
    await remove();
    throw err;
  }
}
