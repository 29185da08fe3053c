import { type ResultPromise, execa } from 'execa';
import { join } from 'node:path';
import type { Netns } from './netns.js';
import { REPO } from './proxy.js';

/**
 * The test's own tools run inside a namespace it made (the test process has
 * no route into it): the raw SOCKS client and the target servers.
 */

/** test/helpers/socks-client.mjs inside `netns`; its one JSON line. */
export async function socksClientIn(netns: Netns, args: string[]): Promise<Record<string, unknown>> {
  const result = await netns.exec(process.execPath, [join(REPO, 'test', 'helpers', 'socks-client.mjs'), ...args]);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

/**
 * test/helpers/whoami-servers.mjs (TCP and UDP on address:port; "echo" makes
 * them echo) inside `netns`. `ready` resolves once both listen; the caller
 * stops `child`. (Not an async function: a child process is a thenable, and
 * returning it from one would wait for it to exit.)
 */
export function whoamiIn(netns: Netns, address: string, port: number, mode?: 'echo'): { child: ResultPromise; ready: Promise<void> } {
  const child = execa('ip', ['netns', 'exec', netns.name, process.execPath, join(REPO, 'test', 'helpers', 'whoami-servers.mjs'), address, String(port), ...(mode ? [mode] : [])], {
    reject: false,
    stdin: 'ignore',
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    void child.then((r) => reject(new Error(`whoami servers exited: ${String(r.stderr)}`)));
  });
  return { child, ready };
}

/** What test/helpers/dns-server.mjs answers (see its header). */
export interface DnsZone {
  A?: Record<string, string>;
  AAAA?: Record<string, string>;
  PTR?: Record<string, string>;
  delayMs?: Record<string, number>;
  silent?: string[];
}

/**
 * The test resolver (test/helpers/dns-server.mjs) on 127.0.0.1:53 inside
 * `netns`, which the namespace's resolv.conf names. `queries` lists the
 * names asked so far; the caller stops `child`.
 */
export async function dnsServerIn(netns: Netns, zone: DnsZone): Promise<{ child: ResultPromise; queries: () => string[] }> {
  const child = execa('ip', ['netns', 'exec', netns.name, process.execPath, join(REPO, 'test', 'helpers', 'dns-server.mjs'), '127.0.0.1', '53', JSON.stringify(zone)], {
    reject: false,
    stdin: 'ignore',
  });
  const asked: string[] = [];
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        const event = JSON.parse(line) as { ready?: true; name?: string; type?: string };
        if (event.ready) resolve();
        else asked.push(`${event.type} ${event.name}`);
      }
    });
    void child.then((r) => reject(new Error(`dns server exited: ${String(r.stderr)}`)));
  });
  return { child, queries: () => [...asked] };
}
