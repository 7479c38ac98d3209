/**
 * Bundles the `gosync` command: esbuild reads what tsc wrote (`<dist>/src/`, with its source
 * maps) and writes the command to `<dist>/bundle/cli/`:
 *
 * - `main.cjs`, what npm's `bin` runs: src/cli/main.ts in three lines, which turns on Node's
 *   compile cache and then requires
 * - `gosync.cjs`: src/cli/cli.ts and everything it loads, every command included, as one
 *   CommonJS script; the lazy imports stay lazy (a module's code runs when a command first
 *   asks for it), and the compile cache serves the script as a whole;
 * - the worker entry points and `lazy-http2.js`, ES modules named as their sources are, so
 *   that each `new URL('./worker-main.js', import.meta.url)` finds its file beside the
 *   script that asks.
 *
 * The library (`dist/src/`) is not bundled. Why one script: Node's ES module loader pays for
 * every module it resolves, reads, links and evaluates, and for the namespace of every
 * built-in imported. `gosync build --base` of jquery.js (the bench's case 5), `node` spawning
 * each in turn (80 rounds, medians): tsc's modules 106.4 ms; the command bundled as ES
 * modules split at the lazy imports 100.7 ms; as this one script 88.4 ms (bsdiff 40.2 ms).
 *
 * The bundle sits as deep under the package as `dist/src/cli/`, so that `json.ts` finds
 * `package.json` from both. Run by `npm run build` (Node 24 runs this TypeScript file as it
 * is): `node scripts/bundle.ts [dist]`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BuildOptions, build } from 'esbuild';

const dist = process.argv[2] ?? 'dist';
const outdir = join(dist, 'bundle', 'cli');
const entry = (path: string) => join(dist, 'src', path);
mkdirSync(outdir, { recursive: true });
const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node24',
  // npm packages (undici, the AWS SDK, ignore) stay in node_modules, loaded as they are.
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
};

// The launcher: src/cli/main.ts for the bundle, requiring the script once the cache is on.
writeFileSync(
  join(outdir, 'main.cjs'),
  [
    '#!/usr/bin/env node',
    '// Written by scripts/bundle.ts: src/cli/main.ts for the bundle (it says why).',
    "'use strict';",
    "require('node:module').enableCompileCache?.();",
    "require('./gosync.cjs');",
    '',
  ].join('\n'),
  { mode: 0o755 },
);
// The command line: `import.meta.url` is the script's own file URL.
await build({
  ...common,
  entryPoints: [entry('cli/cli.js')],
  outfile: join(outdir, 'gosync.cjs'),
  format: 'cjs',
  define: { 'import.meta.url': 'importMetaUrl' },
  banner: { js: "const importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
});
// The workers, which Node starts from their files.
await build({
  ...common,
  entryPoints: {
    'worker-main': entry('workers/worker-main.js'),
    'sha256-worker': entry('workers/sha256-worker.js'),
    'delta-worker': entry('forms/delta-worker.js'),
    'lazy-http2': entry('sources/http/lazy-http2.js'),
  },
  outdir,
  splitting: true,
  format: 'esm',
});
