#!/usr/bin/env node
// The `hasocks` command. CommonJS on purpose: libuv starts its thread pool
// when it is first used, and the ES module loader uses it to read the very
// first module, so only CommonJS code runs early enough to size it. The
// pool runs scrypt and file writes; src/auth/thread-pool.ts shares it out.
process.env.UV_THREADPOOL_SIZE ??= '16';
void import('./cli.js');
