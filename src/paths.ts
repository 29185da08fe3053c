import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The directory that holds hasocks's package.json, found from this file's own
 * location. The same code runs from src/ (tests) and dist/src/ (installed), and
 * the OCF agent uses it to find the installation it came from without PATH.
 */
function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src', 'config', 'schema.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the hasocks package root above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

export const PACKAGE_ROOT = findPackageRoot();
export const SCHEMA_PATH = join(PACKAGE_ROOT, 'src', 'config', 'schema.json');
/** The `hasocks` command (src/hasocks.cts, built), which the agent and the supervisor start. */
export const CLI_PATH = join(PACKAGE_ROOT, 'dist', 'src', 'hasocks.cjs');
