import { execa } from 'execa';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';

/**
 * A network namespace made by a test and removed by it: only its own
 * loopback is up, so nothing sent inside it can leave the machine. `ip netns
 * exec` bind-mounts /etc/netns/NAME/{hosts,resolv.conf}, so names resolve
 * from a hosts file the test writes, and DNS points at the namespace's own
 * loopback where nothing answers (a resolver failure that sends no traffic
 * anywhere).
 */
export interface Netns {
  readonly name: string;
  /** Run a command inside; never through a shell. */
  exec(command: string, args: string[], options?: { reject?: boolean; timeout?: number }): Promise<{ exitCode: number | undefined; stdout: string; stderr: string }>;
  remove(): Promise<void>;
}

let counter = 0;

/** `resolverOptions`: the resolv.conf options line (default: give up on a silent server after a second). */
export async function createNetns(hosts: Record<string, string> = {}, resolverOptions = 'timeout:1 attempts:1'): Promise<Netns> {
  const name = `hasocks-t${process.pid}-${++counter}`;
  await execa('ip', ['netns', 'add', name]);
  const etc = `/etc/netns/${name}`;
  const remove = async (): Promise<void> => {
    await execa('ip', ['netns', 'del', name], { reject: false });
    rmSync(etc, { recursive: true, force: true });
  };
  try {
    mkdirSync(etc, { recursive: true });
    const lines = ['127.0.0.1 localhost', '::1 localhost ip6-localhost', ...Object.entries(hosts).map(([n, ip]) => `${ip} ${n}`)];
    writeFileSync(`${etc}/hosts`, `${lines.join('\n')}\n`);
    writeFileSync(`${etc}/resolv.conf`, `nameserver 127.0.0.1\noptions ${resolverOptions}\n`);
    await execa('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
  } catch (err) {
    await remove();
    throw err;
  }
  return {
    name,
    exec: async (command, args, options = {}) => {
      const result = await execa('ip', ['netns', 'exec', name, command, ...args], { reject: options.reject ?? true, timeout: options.timeout ?? 30000 });
      return { exitCode: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr) };
    },
    remove,
  };
}
