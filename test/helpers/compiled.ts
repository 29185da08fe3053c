import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './proxy.js';

/**
 * The compiled form (dist/test/helpers/, built by test/run.sh with
 * tsconfig.lab.json) of a helper that runs as a process of its own, and
 * of the helpers it imports: checked to be newer than their sources, so a
 * test never runs yesterday's code. Returns the first one's path.
 */
export function compiledHelper(...names: string[]): string {
  const compiled = names.map((name) => join(REPO, 'dist', 'test', 'helpers', `${name}.js`));
  const sources = names.map((name) => join(REPO, 'test', 'helpers', `${name}.ts`));
  if (compiled.some((file) => !existsSync(file)) || Math.max(...sources.map((f) => statSync(f).mtimeMs)) > Math.min(...compiled.map((f) => statSync(f).mtimeMs))) {
    throw new Error(`${compiled.join(' or ')} is missing or older than its source: build with "npx tsc -p tsconfig.lab.json" (test/run.sh does)`);
  }
  return compiled[0]!;
}
