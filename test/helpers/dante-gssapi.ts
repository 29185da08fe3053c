import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './proxy.js';

/**
 * Dante 1.4 built with GSSAPI (test/helpers/dante-gssapi.sh): its client
 * library and socksify in `dir`, its server `sockd`, from the cache or
 * built now (a minute or two, once). The one reason to go without it: the
 * source package cannot be fetched (the script's exit 3), and then `skip`
 * says why. Any other failure throws. Used by test/dante-gssapi.test.ts and
 * `npm run bench:gssapi`.
 */
export async function danteGssapiBuild(): Promise<{ dir: string; sockd: string; version: string } | { skip: string }> {
  const result = await execa('bash', [join(REPO, 'test', 'helpers', 'dante-gssapi.sh')], { reject: false, stdin: 'ignore', stderr: ['pipe', 'inherit'], timeout: 15 * 60000 });
  if (result.exitCode === 0) {
    const dir = String(result.stdout).trim();
    const version = /^dante: (.*)$/m.exec(readFileSync(join(dir, 'build-info'), 'utf8'))?.[1] ?? 'unknown';
    return { dir, sockd: join(dir, 'sockd'), version };
  }
  if (result.exitCode === 3) return { skip: (String(result.stderr).split('\n').findLast((line) => line.includes('cannot fetch')) ?? 'exit 3').replace(/^dante-gssapi: /, '') };
  throw new Error(`test/helpers/dante-gssapi.sh failed (exit ${String(result.exitCode)}):\n${String(result.stderr)}`);
}
