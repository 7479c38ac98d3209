/**
 * The bundled command's own V8 code cache (scripts/bundle.ts): one file per command in Node's
 * compile cache folder, written when a run found none, kept while it is accepted, and
 * replaced when it is damaged, the command working the same each time.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { test } from 'node:test';
import { CLI, runCli } from '../helpers/cli.js';

test('a command writes its code cache once, keeps it, and replaces a damaged one', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gosync-code-cache-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cache = join(dir, 'cache');
  const input = join(dir, 'a.bin');
  await writeFile(input, Buffer.alloc(100_000, 7));
  const env = { NODE_COMPILE_CACHE: cache };
  const build = async () => {
    const r = await runCli(['build', '-q', '--no-compress', input], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await stat(`${input}.gosync`)).size > 0);
  };
  // Node's folder, or its versioned subfolder when NODE_COMPILE_CACHE turned the cache on at start-up.
  const listed = async () => (await readdir(cache, { recursive: true })).filter((f) => basename(f).startsWith('gosync-'));
  const ours = async () => (await listed()).filter((f) => /^gosync-[0-9a-f]{16}-build\.cache$/.test(basename(f)));

  await build();
  const [file] = await ours();
  assert.ok(file, 'the first run writes the cache of the build command');
  const path = join(cache, file);
  const first = await stat(path);
  assert.ok(first.size > 10_000, `a cache of ${first.size} bytes`);

  await build();
  assert.equal((await stat(path)).mtimeMs, first.mtimeMs, 'an accepted cache is not written again');

  await writeFile(path, Buffer.alloc(first.size, 0xa5));
  await build();
  assert.notDeepEqual(await readFile(path), Buffer.alloc(first.size, 0xa5), 'a damaged cache is replaced');
  assert.deepEqual(await listed(), [file], 'one file per command, no temporary files left');

  const version = await runCli(['--version'], { env });
  assert.equal(version.code, 0);
  assert.deepEqual(await listed(), [file], 'options are no command: no cache of their own');
});

test('the bundled script is ASCII and is the function its launcher calls', async () => {
  const script = await readFile(join(dirname(CLI), 'gosync.cjs'));
  const outside = script.findIndex((b) => b > 0x7f);
  assert.equal(outside, -1, `a byte outside ASCII at ${outside}: V8 would hold the whole text as UTF-16`);
  const text = script.toString('latin1');
  assert.ok(text.startsWith('(function (exports, require, module, __filename, __dirname) {'), text.slice(0, 80));
  // The escapes still mean their characters: the help's example of an ssh key ends in "…".
  const r = await runCli(['serve', '--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ssh-ed25519 AAAA\u2026/);
});
