/**
 * `gosync patch <folder> <manifest> -i <file>`: seed files outside the folder are reused
 * as the folder's own files are (a whole content copied, blocks found by the scan).
 */
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { randomBytes } from '../helpers/data.js';
import { put, tempDir } from './tree-fixtures.js';

let base: string;
before(async () => {
  base = await tempDir('seed');
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

test('patch -i: a seed with a content is copied, a seed with most of a file gives its blocks; missing seeds fail', async () => {
  const src = join(base, 'site');
  const big = randomBytes(600_000, 7);
  const small = 'small file content\n'.repeat(50);
  await put(src, 'big.bin', big);
  await put(src, 'small.txt', small);
  const pub = join(base, 'pub');
  const b = await runCli(['build', src, '-o', pub, '-q', '--no-compress']);
  assert.equal(b.code, 0, b.stderr);
  const manifest = join(pub, 'site.tree.json');

  const seeds = join(base, 'elsewhere');
  const edited = Buffer.from(big);
  edited.fill(1, 300_000, 300_100);
  await put(seeds, 'old-big.bin', edited);
  await put(seeds, 'copy.txt', small);

  const dst = join(base, 'dst');
  const r = await runCli(['patch', dst, manifest, '-q', '--json', '-i', join(seeds, 'old-big.bin'), '--seed', join(seeds, 'copy.txt')]);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as {
    fileList: { path: string; action: string; reusedBytes: number; fetchedBytes: number; from?: string }[];
  };
  const byPath = new Map(report.fileList.map((f) => [f.path, f]));
  assert.equal(byPath.get('small.txt')?.action, 'copy');
  assert.equal(byPath.get('small.txt')?.from, join(seeds, 'copy.txt'));
  assert.equal(byPath.get('big.bin')?.action, 'blocks');
  assert.ok(byPath.get('big.bin')!.reusedBytes > 500_000, `reused ${byPath.get('big.bin')!.reusedBytes}`);
  assert.ok(byPath.get('big.bin')!.fetchedBytes < 100_000);
  assert.ok(Buffer.from(big).equals(await readFile(join(dst, 'big.bin'))));
  assert.equal(await readFile(join(dst, 'small.txt'), 'utf8'), small);

  const missing = await runCli(['patch', join(base, 'dst2'), manifest, '-q', '-i', join(seeds, 'nope')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Cannot read the seed .*nope/);
});
