#!/usr/bin/env node
// Build the native addon during `npm ci` / `npm install`. node-gyp (the copy
// npm bundles) builds against the headers installed with Node (.npmrc sets
// nodedir), so nothing is downloaded. A failed build does not fail the
// install, so that the CLI's other commands work and `npm test` can install
// a compiler and build it; but `hasocks serve` and the OCF agent refuse to
// start without the addon (src/sockets/data-path.ts), and this says so now.
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const result = spawnSync('node-gyp', ['rebuild', '--loglevel=warn'], { cwd: here, stdio: 'inherit', shell: false });
if (result.error || result.status !== 0) {
  const why = result.error ? result.error.message : `node-gyp exited with ${result.status}`;
  console.error(
    [
      '',
      `hasocks: the native addon (native/) did not build: ${why}.`,
      '  hasocks cannot serve without it: `hasocks serve` and the OCF agent will refuse to start until it is built.',
      '  To build it: install python3, make and a C compiler (apt-get install python3 make gcc),',
      '  make sure Node headers are present (nodedir in .npmrc points at them), then run:',
      '    npm run build:native',
      '',
    ].join('\n'),
  );
}
