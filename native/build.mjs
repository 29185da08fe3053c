#!/usr/bin/env node
// Build the native addon during `npm ci` / `npm install`. node-gyp (the copy
// npm bundles) builds against the headers installed with Node (.npmrc sets
// nodedir), so nothing is downloaded. A failed build does not fail the
// install: the proxy runs without it unless a config asks for freebind or
// workers, and then it says what to do.
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
      '  hasocks runs without it (UDP ASSOCIATE then relays at a fraction of the speed), but "freebind": true and "workers" need it.',
      '  To build it: install python3, make and a C compiler (apt-get install python3 make gcc),',
      '  make sure Node headers are present (nodedir in .npmrc points at them), then run:',
      '    npm run build:native',
      '',
    ].join('\n'),
  );
}
