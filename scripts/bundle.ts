/**
 * Bundles the `gosync` command: esbuild reads what tsc wrote (`<dist>/src/cli/main.js` and the
 * worker entry points, with their source maps) and writes the command to `<dist>/bundle/cli/`,
 * split at its lazy imports: each command, and each part a command loads on first use, stays
 * a chunk of its own. npm's `bin` runs `dist/bundle/cli/main.js`; the library (`dist/src/`)
 * is not bundled.
 *
 * Why: Node's ESM loader pays for every module (resolving it, reading it, its package
 * scope, linking), and `gosync build` loads about thirty of gosync's own. `gosync build
 * --base` of jquery.js (the bench's case 5), the same build unbundled and bundled, `node`
 * spawning each in turn (100 rounds, medians): 106.4 → 102.0 ms; in a slower phase of the
 * host (120 rounds) 109.3 → 100.4 ms.
 *
 * The workers and `lazy-http2.js` are entry points named as their modules are, so that each
 * `new URL('./worker-main.js', import.meta.url)` finds its file next to the chunk that asks;
 * the bundle sits as deep under the package as `dist/src/cli/`, so that `json.ts` finds
 * `package.json` the same way from both. Run by `npm run build` (Node 24 runs this TypeScript
 * file as it is): `node scripts/bundle.ts [dist]`.
 */
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const dist = process.argv[2] ?? 'dist';
const outdir = join(dist, 'bundle', 'cli');
const entry = (path: string) => join(dist, 'src', path);

await build({
  entryPoints: {
    main: entry('cli/main.js'),
    'worker-main': entry('workers/worker-main.js'),
    'sha256-worker': entry('workers/sha256-worker.js'),
    'delta-worker': entry('forms/delta-worker.js'),
    'lazy-http2': entry('sources/http/lazy-http2.js'),
  },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  // npm packages (undici, the AWS SDK, ignore) stay in node_modules, loaded as they are.
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
chmodSync(join(outdir, 'main.js'), 0o755);
