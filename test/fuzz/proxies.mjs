// The proxies under test: the BUILT cli (dist/src/hasocks.cjs) started once per
// socksmethod variant, with a config whose rules the oracle knows, a users
// file made by `hasocks passwd`, and a watch on each one's pid, memory,
// descriptors and log lines.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const NEGOTIATE_S = 2;

/**
 * The rules. Besides the one target that passes, some rules would pass the
 * unspecified addresses (0.0.0.0/8, ::, ::ffff:0.0.0.0/104) on the target's
 * port: only the proxy's own refusal (spec: "never dialled") stands between
 * such a CONNECT or datagram and the echo target, which Linux reaches when
 * 0.0.0.0 is dialled. So a proxy that dials them is seen, not hidden by a rule.
 */
export function proxyConfig({ port, methods, usersFile, ports }) {
  const { T, R, U } = ports;
  const log = ['error'];
  const rules = [
    { type: 'client', action: 'pass', from: '127.0.0.0/8', log },
    { type: 'socks', action: 'pass', from: '127.0.0.0/8', to: '127.0.0.1/32', port: T, command: ['connect', 'bind'], log },
    { type: 'socks', action: 'pass', from: '127.0.0.0/8', to: '127.0.0.1/32', port: R, command: ['connect'], log },
    { type: 'socks', action: 'pass', from: '127.0.0.0/8', to: '0.0.0.0/8', port: T, command: ['connect'], log },
    { type: 'socks', action: 'pass', from: '127.0.0.0/8', to: '::/128', port: T, command: ['connect'], log },
    { type: 'socks', action: 'pass', from: '127.0.0.0/8', to: '::ffff:0.0.0.0/104', port: T, command: ['connect'], log },
    { type: 'socks', action: 'pass', from: '127.0.0.0/8', to: '127.0.0.1/32', port: U, command: ['udpassociate'], protocol: ['udp'], log },
    { type: 'socks', action: 'pass', from: '127.0.0.0/8', to: '0.0.0.0/8', port: U, command: ['udpassociate'], protocol: ['udp'], log },
    { type: 'socks', action: 'pass', from: '127.0.0.0/8', to: '::/128', port: U, command: ['udpassociate'], protocol: ['udp'], log },
    { type: 'socks', action: 'pass', from: '127.0.0.1/32', to: '127.0.0.0/8', command: ['bindreply', 'udpreply'], log },
    { type: 'socks', action: 'block', from: '0/0', to: '0/0', log },
  ];
  return {
    internal: [`127.0.0.1:${port}`],
    socksmethod: methods,
    users: usersFile,
    rules,
    timeout: { negotiate: NEGOTIATE_S, connect: 5, bind: 5, io: { tcp: 0, udp: 10 } },
    logoutput: ['stderr'],
  };
}

/** `hasocks passwd FILE USER`, the password on stdin: the file is made the way an operator makes it. */
export function makeUsersFile(cli, file, user, password) {
  const result = spawnSync(process.execPath, [cli, 'passwd', file, user], { input: `${password}\n`, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`hasocks passwd failed: ${result.stderr}`);
}

export const readRss = (pid) => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
};

/** Open descriptors by what they are (socket, pipe, anon_inode:[eventfd], a file): to say what a leak is. */
export const fdKinds = (pid) => {
  const kinds = {};
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      let target;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`).replace(/:\[\d+\]$/, '');
      } catch {
        continue;
      }
      kinds[target] = (kinds[target] ?? 0) + 1;
    }
  } catch {}
  return kinds;
};

export const countFds = (pid) => {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
};

/**
 * Resident MB of the proxy's large anonymous mappings (8 MiB and more), as
 * "start-end:MB": where memory sits when RSS moves (glibc thread arenas are
 * 64 MiB-aligned; V8's heap is many small mappings and does not show here).
 */
export const bigMappings = (pid) => {
  try {
    const out = [];
    let range;
    let anonymous = false;
    for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
      const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
      if (head) {
        range = `${head[1]}`;
        anonymous = head[3] === '' || head[3] === '[heap]';
        continue;
      }
      const rss = /^Rss:\s+(\d+) kB/.exec(line);
      if (rss && anonymous && Number(rss[1]) >= 8192) out.push(`${range}:${Math.round(Number(rss[1]) / 1024)}`);
    }
    return out;
  } catch {
    return [];
  }
};

const HAS_SETPRIV = spawnSync('setpriv', ['--help'], { stdio: 'ignore' }).status === 0;

// Bytes that must not reach a log line raw (spec: names are logged with control bytes escaped).
const CONTROL = new Uint8Array(256);
for (let b = 0; b < 0x20; b++) if (b !== 0x0a) CONTROL[b] = 1;
CONTROL[0x7f] = 1;
const LINE_START = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/;

/**
 * Start one proxy and resolve once its pid file exists (every listener is
 * open then). Its stderr is read as it comes: lines with raw control bytes,
 * and lines that do not start with a timestamp (a raw newline from a name
 * would make one), are counted with a few examples.
 */
export async function startProxy({ cli, dir, name, config }) {
  const configPath = join(dir, `${name}.json`);
  const pidFile = join(dir, `${name}.pid`);
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const argv = [process.execPath, cli, 'serve', '--config', configPath, '--pidfile', pidFile];
  // setpriv execs node, so the pid stays the proxy's; the proxy dies with the fuzzer even if the fuzzer is killed.
  const [file, ...args] = HAS_SETPRIV ? ['setpriv', '--pdeathsig', 'KILL', ...argv] : argv;
  const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const proxy = {
    name,
    child,
    pid: child.pid,
    port: config.internal[0].split(':')[1] * 1,
    exited: undefined,
    stopping: false,
    tail: [],
    logLines: 0,
    controlLines: 0,
    brokenLines: 0,
    controlByKind: {},
    logExamples: [],
  };
  let carry = Buffer.alloc(0);
  const line = (bytes) => {
    proxy.logLines++;
    let control = false;
    for (const b of bytes) if (CONTROL[b]) control = true;
    const text = bytes.toString('latin1');
    const broken = !LINE_START.test(text);
    if (control) {
      proxy.controlLines++;
      // What the raw bytes came in with: a destination name, a username, or something else.
      const kind = /authentication failed for user/.test(text) ? 'username' : /cannot resolve|: (host unreachable|not allowed by rules|connection refused|general failure)/.test(text) ? 'destination' : /protocol error/.test(text) ? 'protocol-error' : 'other';
      proxy.controlByKind[kind] = (proxy.controlByKind[kind] ?? 0) + 1;
    }
    if (broken) proxy.brokenLines++;
    if ((control || broken) && proxy.logExamples.length < 8) proxy.logExamples.push(JSON.stringify(text.slice(0, 240)));
    proxy.tail.push(text.slice(0, 400));
    if (proxy.tail.length > 40) proxy.tail.shift();
  };
  child.stderr.on('data', (chunk) => {
    let data = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    let nl;
    while ((nl = data.indexOf(0x0a)) >= 0) {
      line(data.subarray(0, nl));
      data = data.subarray(nl + 1);
    }
    carry = Buffer.from(data);
  });
  proxy.exit = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      proxy.exited = { code, signal, at: Date.now() };
      resolve(proxy.exited);
    }),
  );
  const deadline = Date.now() + 15000;
  while (!existsSync(pidFile)) {
    if (proxy.exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`proxy ${name} did not come up:\n${proxy.tail.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return proxy;
}

/** SIGTERM, then SIGKILL after 10 s; returns how it exited. */
export async function stopProxy(proxy) {
  proxy.stopping = true;
  if (!proxy.exited) proxy.child.kill('SIGTERM');
  const timer = setTimeout(() => proxy.child.kill('SIGKILL'), 10000);
  const how = await proxy.exit;
  clearTimeout(timer);
  return how;
}
