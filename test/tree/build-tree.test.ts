/**
 * buildTree and its publish folder: one inside the published folder is left out (and not
 * walked), whatever its name; the published folder itself is refused as publish folder.
 */
import assert from 'node:assert/strict';
import { readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes } from '../../src/core/errors.js';
import { buildTree } from '../../src/tree/build-tree.js';
import { decodeManifest } from '../../src/tree/manifest.js';
import { randomBytes } from '../helpers/data.js';
import { hasCode, put, snapshot, tempDir } from './tree-fixtures.js';

let base: string;
before(async () => {
  base = await tempDir('build');
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

async function listed(manifest: string): Promise<string[]> {
  return decodeManifest(await readFile(manifest)).entries.map((e) => e.path);
}

test('a publish folder inside the published one is left out, even named "..out"; a folder "..data" is not', async () => {
  const root = join(base, 'dots');
  await put(root, 'a.txt', 'a');
  await put(root, '..data/b.bin', randomBytes(40_000, 41));
  await put(root, 'sub/c.txt', 'c');
  for (const out of [join(root, '..out'), join(root, 'sub', '..out')]) {
    const first = await buildTree(root, out, { name: 'v' });
    const paths = await listed(first.manifest);
    assert.deepEqual(paths, ['..data', '..data/b.bin', 'a.txt', 'sub', 'sub/c.txt'], out);
    assert.deepEqual(first.skipped, []);
    // A second build lists the same: the objects of the first are not content.
    const again = await buildTree(root, out, { name: 'v' });
    assert.deepEqual(await listed(again.manifest), paths);
    assert.equal(again.newFiles, 0);
    assert.equal(again.manifestBytes, first.manifestBytes);
    await rm(out, { recursive: true, force: true });
  }
});

test('a publish folder inside the published one is not walked: names it holds are not reported as skipped', async () => {
  const root = join(base, 'notwalked');
  await put(root, 'a.txt', 'a');
  const out = join(root, 'pub');
  await put(out, 'odd\\name', 'not portable, and not content either');
  const r = await buildTree(root, out);
  assert.deepEqual(await listed(r.manifest), ['a.txt']);
  assert.deepEqual(r.skipped, []);
});

test('publishing into the published folder itself is refused (IO) and writes nothing', async () => {
  const root = join(base, 'self');
  await put(root, 'a.txt', 'a');
  await put(root, 'big.bin', randomBytes(40_000, 42));
  await symlink(root, join(base, 'self-link'));
  const before = await snapshot(root);
  for (const out of [root, `${root}/`, join(root, 'sub', '..'), join(base, 'self-link')]) {
    await assert.rejects(
      buildTree(root, out),
      (e: unknown) => hasCode(ErrorCodes.IO)(e) && /published folder itself/.test((e as Error).message),
      out,
    );
    assert.deepEqual(await snapshot(root), before, `${out}: nothing written`);
  }
  // Given as a link the other way round, too.
  await assert.rejects(buildTree(join(base, 'self-link'), root), hasCode(ErrorCodes.IO));
  assert.deepEqual(await snapshot(root), before);
});

test('a publish folder beside the published one, with a name that starts like it, is outside it', async () => {
  const root = join(base, 'side');
  await put(root, 'a.txt', 'a');
  await writeFile(join(base, 'side-file'), 'not in the tree');
  const r = await buildTree(root, join(base, 'side..pub'));
  assert.deepEqual(await listed(r.manifest), ['a.txt']);
  const r2 = await buildTree(root, join(root, '..', 'side-out'));
  assert.deepEqual(await listed(r2.manifest), ['a.txt']);
});
