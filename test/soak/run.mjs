#!/usr/bin/env node
// `npm run soak -- --minutes 30`: build the proxy (npm run build, which the
// agent's launcher needs) and the soak with the lab's tsconfig, then run
// test/soak/cli.ts compiled. A soak runs for minutes; a fresh build each time costs seconds.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
for (const [command, args] of [
  ['npm', ['run', '--silent', 'build']],
  [join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.lab.json']],
]) {
  const built = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (built.status !== 0) process.exit(built.status ?? 1);
}
const result = spawnSync(process.execPath, [join(root, 'dist', 'test', 'soak', 'cli.js'), ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
