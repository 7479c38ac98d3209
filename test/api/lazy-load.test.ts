/**
 * Loading `gosync` compiles no WebAssembly and loads neither the ssh code (src/remote/)
 * nor the HTTP server (src/serve/); those load when first used. And the package can be
 * `require()`d (which a module graph with a top-level await cannot be). Each check runs
 * in a fresh Node process started in the repository, importing the package by its name.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const DIST_SRC = new URL('../../src/', import.meta.url).href;

/**
 * A module-loading hook (off the main thread in Node 20) that posts every URL it loads
 * to the main thread, which waits for a sentinel module to know it has them all.
 */
const PROBE = `
import { register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';

// Calls into WebAssembly, except those of Node's own fetch (see NODE_FETCH below).
const wasm = { Module: 0, Instance: 0, compile: 0, instantiate: 0, compileStreaming: 0, instantiateStreaming: 0 };
const nodeFetch = [];
const count = (k) => {
  const stack = new Error().stack;
  if (stack.includes('node:internal/deps/undici/')) nodeFetch.push(k);
  else wasm[k]++;
};
for (const k of Object.keys(wasm)) {
  const real = WebAssembly[k];
  WebAssembly[k] = /^[A-Z]/.test(k)
    ? new Proxy(real, { construct(t, a) { count(k); return Reflect.construct(t, a); } })
    : function (...a) { count(k); return real.apply(this, a); };
}

const hooks = \`
let port;
export function initialize(data) { port = data.port; }
export async function load(url, context, next) { port.postMessage(url); return next(url, context); }
\`;
const { port1, port2 } = new MessageChannel();
const loaded = [];
let waiting;
port1.on('message', (url) => {
  if (url.includes('gosync-sentinel')) waiting();
  else loaded.push(url);
});
register('data:text/javascript,' + encodeURIComponent(hooks), { data: { port: port2 }, transferList: [port2] });
let sentinels = 0;
async function settle() {
  const done = new Promise((resolve) => { waiting = resolve; });
  await import('data:text/javascript,export default "gosync-sentinel-' + ++sentinels + '"');
  await done;
}
const report = {};
const ours = () => loaded.filter((u) => u.startsWith(process.env.DIST_SRC)).map((u) => u.slice(process.env.DIST_SRC.length)).sort();

const api = await import('gosync');
await settle();
report.afterImport = { modules: ours(), wasm: { ...wasm }, nodeFetch: [...nodeFetch], exports: Object.keys(api).length };

const server = await api.startStaticServer({ root: process.env.ROOT_DIR });
await server.close();
await settle();
report.afterServer = { modules: ours() };

const core = await import('gosync/core');
core.md4.hashInto(new Uint8Array(10), 0, 10, new Uint8Array(16), 0, 16);
await settle();
report.afterHash = { wasm: { ...wasm } };
port1.close();
console.log(JSON.stringify(report));
`;

interface ProbeReport {
  afterImport: { modules: string[]; wasm: Record<string, number>; nodeFetch: string[]; exports: number };
  afterServer: { modules: string[] };
  afterHash: { wasm: Record<string, number> };
}

test('importing gosync compiles no WebAssembly and loads no ssh or server code until they are used', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gosync-lazy-'));
  try {
    const out = execFileSync(process.execPath, ['--no-warnings', '--input-type=module', '-e', PROBE], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, DIST_SRC, ROOT_DIR: dir },
    });
    const report = JSON.parse(out) as ProbeReport;
    const { modules, wasm } = report.afterImport;
    // What the root entry does load (the hook sees the package's modules at all).
    for (const m of ['mod.js', 'file/patch-file.js', 'tree/patch-tree.js', 'sources/http/http-source.js', 'core/hashing/md4.js'])
      assert.ok(modules.includes(m), `${m} is loaded by gosync (loaded: ${modules.join(', ')})`);
    const eager = modules.filter((m) => m.startsWith('remote/') || m.startsWith('serve/') || m.startsWith('cli/'));
    assert.deepEqual(eager, [], 'ssh, server and CLI modules loaded with the package');
    assert.deepEqual(wasm, { Module: 0, Instance: 0, compile: 0, instantiate: 0, compileStreaming: 0, instantiateStreaming: 0 });
    // NODE_FETCH: the undici package reads the global `Headers` when it loads, which makes
    // Node load its own bundled undici (its fetch); Node 20's compiles llhttp's module then,
    // asynchronously, and instantiates it. That is Node's code, loaded because HttpSource
    // needs undici; only that one module is allowed.
    const { nodeFetch } = report.afterImport;
    assert.ok(['compile', 'compile,instantiate', ''].includes(nodeFetch.join()), `Node's fetch: ${nodeFetch.join()}`);
    assert.ok(report.afterImport.exports > 10);
    // Used, they load.
    assert.ok(report.afterServer.modules.includes('serve/static-server.js'), 'startStaticServer loads the server');
    assert.ok(!report.afterServer.modules.some((m) => m.startsWith('remote/')), 'the server needs no ssh code');
    assert.equal(report.afterHash.wasm.Module, 1, 'the first MD4 compiles its module');
    assert.equal(report.afterHash.wasm.Instance, 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the package and every subpath can be require()d', () => {
  const script = `
    const pkg = require('./package.json');
    const counts = {};
    for (const subpath of Object.keys(pkg.exports)) {
      const name = subpath === '.' ? 'gosync' : 'gosync/' + subpath.slice(2);
      counts[name] = Object.keys(require(name)).length;
    }
    const { md4 } = require('gosync/core');
    const out = new Uint8Array(16);
    md4.hashInto(new TextEncoder().encode('abc'), 0, 3, out, 0, 16);
    console.log(JSON.stringify({ counts, abc: Buffer.from(out).toString('hex'), patchFile: typeof require('gosync').patchFile }));
  `;
  const flags = process.features.require_module ? [] : ['--experimental-require-module'];
  const out = execFileSync(process.execPath, [...flags, '--no-warnings', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  const result = JSON.parse(out) as { counts: Record<string, number>; abc: string; patchFile: string };
  assert.equal(result.patchFile, 'function');
  assert.equal(result.abc, 'a448017aaf21d8525fc10ae87aa6729d');
  for (const [name, count] of Object.entries(result.counts)) assert.ok(count > 0, `${name} exports something through require()`);
  assert.ok(Object.keys(result.counts).length >= 7, Object.keys(result.counts).join(', '));
});
