import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from './paths.js';

/**
 * Install the agent where Pacemaker looks for ocf:hasocks:socks. The
 * installed file is a launcher with this installation's node binary and path
 * written in, so it runs for any user (meta-data runs as nobody) without PATH.
 */
export function installAgent(ocfRoot: string): string {
  const dir = join(ocfRoot, 'resource.d', 'hasocks');
  const target = join(dir, 'socks');
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeFileSync(
    target,
    [
      '#!/bin/sh',
      '# ocf:hasocks:socks, installed by "hasocks install-agent" from the installation below.',
      '# The agent does no TLS; loading extra CA files would only slow every call.',
      'unset NODE_EXTRA_CA_CERTS',
      `exec ${quote(process.execPath)} ${quote(join(PACKAGE_ROOT, 'dist', 'ocf', 'agent.js'))} "$@"`,
      '',
    ].join('\n'),
  );
  chmodSync(target, 0o755);
  return target;
}
