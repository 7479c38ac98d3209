#!/usr/bin/env node
/**
 * The `gosync` command: turns on Node's on-disk compile cache, then runs the command line
 * (cli.ts). It imports nothing else, so that every module after it (the command's, undici's)
 * is compiled from the cache.
 *
 * The cache is Node's own (`module.enableCompileCache()`): in `$NODE_COMPILE_CACHE`, else in
 * the OS temp folder, one entry per file and Node version, checked against the file's
 * content; `NODE_DISABLE_COMPILE_CACHE=1` turns it off. Measured on the jquery.js patch of
 * the bench (284 kB through nginx on 127.0.0.1; hyperfine, 20 runs, user + system CPU): 291 ms
 * without the cache, 270 ms with it; the first run, which writes the cache, 60 ms more.
 *
 * In the bundle npm installs (scripts/bundle.ts) this is `main.cjs` and cli.ts with all it
 * loads is `gosync.cjs`, which the cache then serves as one script.
 *
 * @module
 */
import module from 'node:module';

// Absent before Node 22.1: cli.ts then says which version gosync needs.
module.enableCompileCache?.();
void import('./cli.js');
