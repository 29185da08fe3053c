import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from './paths.js';
import { shellQuote } from './shell-quote.js';

/**
 * Install the agent where Pacemaker looks for ocf:hasocks:socks. The
 * installed file hands over to this installation's launcher (ocf/hasocks)
 * with the node binary and the path written in, so it runs for any user
 * (meta-data runs as nobody) without PATH, and keeps the launcher's
 * Node-free promote.
 */
export function installAgent(ocfRoot: string): string {
  const dir = join(ocfRoot, 'resource.d', 'hasocks');
  const target = join(dir, 'socks');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeFileSync(
    target,
    [
      '#!/bin/sh',
      '# ocf:hasocks:socks, installed by "hasocks install-agent" from the installation below.',
      `HASOCKS_NODE=${shellQuote(process.execPath)} HASOCKS_ROOT=${shellQuote(PACKAGE_ROOT)}`,
      'export HASOCKS_NODE HASOCKS_ROOT',
      `exec ${shellQuote(join(PACKAGE_ROOT, 'ocf', 'hasocks'))} "$@"`,
      '',
    ].join('\n'),
  );
  chmodSync(target, 0o755);
  return target;
}
