#!/usr/bin/env node
// `npm run lab -- ...`: build the proxy and the lab when the compiled files
// are missing or older than their sources, then run test/lab/lab.ts. A
// rebuild takes seconds; commands run during a drill should not pay it.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const compiled = join(root, 'dist', 'test', 'lab', 'lab.js');

function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) latest = Math.max(latest, newest(path));
    else if (/\.(ts|json|mjs|sh)$/.test(entry.name) || entry.name === 'fence_hasocks_lab') latest = Math.max(latest, statSync(join(root, path)).mtimeMs);
  }
  return latest;
}

const sources = Math.max(...['src', 'ocf', 'test/helpers', 'test/lab'].map(newest));
if (!existsSync(compiled) || statSync(compiled).mtimeMs < sources) {
  console.log('lab: building...');
  // tsconfig.lab.json covers src/ and ocf/ too: one compile brings the proxy and the lab up to date.
  const result = spawnSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.lab.json'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
const result = spawnSync(process.execPath, [compiled, ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
