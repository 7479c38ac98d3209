/**
 * Bundles the `gosync` command: esbuild reads what tsc wrote (`<dist>/src/`, with its source
 * maps) and writes the command to `<dist>/bundle/cli/`:
 *
 * - `main.cjs`, what npm's `bin` runs: src/cli/main.ts for the bundle, which turns on Node's
 *   compile cache and runs, with a V8 code cache of its own (see there),
 * - `gosync.cjs`: src/cli/cli.ts and everything it loads, every command included, as one
 *   CommonJS script, written as the function CommonJS wraps a module in (the launcher calls
 *   it; run on its own the file does nothing), in ASCII; the lazy imports stay lazy (a
 *   module's code runs when a command first asks for it);
 * - the worker entry points and `lazy-http2.js`, ES modules named as their sources are, so
 *   that each `new URL('./worker-main.js', import.meta.url)` finds its file beside the
 *   script that asks.
 *
 * The library (`dist/src/`) is not bundled. Why one script: Node's ES module loader pays for
 * every module it resolves, reads, links and evaluates, and for the namespace of every
 * built-in imported. `gosync build --base` of jquery.js (the bench's case 5), `node` spawning
 * each in turn (100 rounds, medians): the command bundled as ES modules split at the lazy
 * imports 92.3 ms, as this one script 82.2 ms (bsdiff 38.5 ms); the launcher's code cache
 * then 80.9 → 77.4 ms (bsdiff 38.6 ms). tsc's modules, unbundled, had been 106.4 ms against the
 * split bundle's 102.0 in another batch.
 *
 * The bundle sits as deep under the package as `dist/src/cli/`, so that `json.ts` finds
 * `package.json` from both. Run by `npm run build` (Node 24 runs this TypeScript file as it
 * is): `node scripts/bundle.ts [dist]`.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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

// The command line: `import.meta.url` is the script's own file URL. The file is the
// function that CommonJS would wrap it in (the launcher calls it), so that the launcher hands
// V8 the file's text as it is read: wrapped there, the 930 kB text was copied once more (the
// concatenation flattened at compile time).
const wrapper = '(function (exports, require, module, __filename, __dirname) {';
await build({
  ...common,
  entryPoints: [entry('cli/cli.js')],
  outfile: join(outdir, 'gosync.cjs'),
  format: 'cjs',
  define: { 'import.meta.url': 'importMetaUrl' },
  banner: { js: `${wrapper}const importMetaUrl = require('node:url').pathToFileURL(__filename).href;` },
  footer: { js: '})' },
});
// esbuild escapes every character outside ASCII in code (its default charset) but keeps the
// comments it keeps (JSDoc before functions and class members) as they are: a few held "−",
// "…" or "→", and one such character makes V8 hold the whole text as UTF-16 (twice the bytes,
// decoded from UTF-8 on every start). Each is written as a \u escape, which means the same
// character in a string, a regular expression or a name, and is plain text in a comment; the
// launcher then reads the file as Latin-1, one byte per character. `gosync build --base` of
// jquery.js (the bench's case 5), `node` spawning each in turn, 40 rounds (medians): 167.4 ->
// 156.4 ms with the wrapper in the file (bsdiff 68.7 ms).
const scriptPath = join(outdir, 'gosync.cjs');
const escaped = readFileSync(scriptPath, 'utf8').replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
writeFileSync(scriptPath, escaped);
// The launcher: src/cli/main.ts for the bundle. It turns on Node's compile cache (for what
// the script requires from node_modules) and runs the script with a V8 code cache of its own,
// one per command, made when the command ends (`createCachedData` after the run holds every
// function the run compiled; Node's compile cache, made as a module is compiled, holds only
// the top level, and the rest is compiled function by function on every run). The cache's
// name carries the script's SHA-256, so a rebuilt script never meets an old cache (V8 itself
// checks only the source's length, its own version and flags).
const digest = createHash('sha256').update(escaped, 'latin1').digest('hex').slice(0, 16);
writeFileSync(
  join(outdir, 'main.cjs'),
  `#!/usr/bin/env node
// Written by scripts/bundle.ts (it says why): src/cli/main.ts for the bundle.
'use strict';
const { readFileSync, renameSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const { join } = require('node:path');
const { Script, constants } = require('node:vm');
const file = join(__dirname, 'gosync.cjs');
const dir = Module.enableCompileCache?.().directory;
const command = process.argv[2] ?? '';
const cacheFile = dir !== undefined && /^[a-z]{1,16}$/.test(command) ? join(dir, \`gosync-${digest}-\${command}.cache\`) : undefined;
let cachedData;
if (cacheFile !== undefined) {
  try {
    cachedData = readFileSync(cacheFile);
  } catch {}
}
const source = readFileSync(file, 'latin1');
const script = new Script(source, { filename: file, cachedData, importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER });
if (cacheFile !== undefined && (cachedData === undefined || script.cachedDataRejected)) {
  process.once('exit', () => {
    const temp = \`\${cacheFile}.\${process.pid}\`;
    try {
      writeFileSync(temp, script.createCachedData());
      renameSync(temp, cacheFile);
    } catch {}
  });
}
const cjs = { exports: {} };
script.runInThisContext().call(cjs.exports, cjs.exports, Module.createRequire(file), cjs, file, __dirname);
`,
  { mode: 0o755 },
);
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
