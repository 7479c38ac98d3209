/**
 * walkTree lists a folder without following links, and lists gosync's own staging and
 * temporary files apart, so they are never taken for content.
 */
import assert from 'node:assert/strict';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes } from '../../src/core/errors.js';
import { walkTree } from '../../src/localfs/walk.js';
import { T0, hasCode, put, tempDir } from '../tree/tree-fixtures.js';

let base: string;
before(async () => {
  base = await tempDir('walk');
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

test('lists entries with metadata, links not followed, parts and temporary files apart', async () => {
  const root = join(base, 'root');
  const outside = join(base, 'outside');
  await put(outside, 'secret', 'secret');
  await put(root, 'a/b/file.txt', '0123456789', 0o600, T0);
  await put(root, 'a/.x.0123456789abcdef.gosync-part', 'staged');
  await put(root, '.y.abc.gosync-tmp', 'temp');
  await mkdir(join(root, 'empty'));
  await symlink(outside, join(root, 'a', 'out'));
  const tree = await walkTree(root);
  assert.deepEqual([...tree.entries.keys()].sort(), ['a', 'a/b', 'a/b/file.txt', 'a/out', 'empty']);
  const f = tree.entries.get('a/b/file.txt')!;
  assert.equal(f.type, 'file');
  assert.equal(f.size, 10);
  assert.equal(f.mode, 0o600);
  assert.equal(f.mtimeMs, T0);
  const l = tree.entries.get('a/out')!;
  assert.equal(l.type, 'symlink');
  assert.equal(l.target, outside);
  assert.ok(![...tree.entries.keys()].some((p) => p.includes('secret')), 'the link is not followed');
  assert.deepEqual(tree.parts, ['a/.x.0123456789abcdef.gosync-part']);
  assert.deepEqual(tree.temps, ['.y.abc.gosync-tmp']);
  assert.deepEqual(tree.skipped, []);
});

test('names that are not portable tree paths are skipped, a missing root is empty, a file root is an error', async () => {
  const root = join(base, 'odd');
  await mkdir(root);
  await writeFile(join(root, 'back\\slash'), 'x');
  await writeFile(join(root, 'ok'), 'x');
  const tree = await walkTree(root);
  assert.deepEqual([...tree.entries.keys()], ['ok']);
  assert.deepEqual(tree.skipped, [join(root, 'back\\slash')]);
  assert.equal((await walkTree(join(base, 'missing'))).entries.size, 0);
  await assert.rejects(walkTree(join(root, 'ok')), hasCode(ErrorCodes.IO));
});

test('a root given as a link to a folder is listed like the folder (the caller chose it; links below are not followed)', async () => {
  const real = join(base, 'real-root');
  await put(real, 'f.txt', 'x');
  await symlink(real, join(base, 'root-link'));
  const viaLink = await walkTree(join(base, 'root-link'));
  assert.deepEqual([...viaLink.entries.keys()], ['f.txt']);
  assert.deepEqual([...(await walkTree(`${join(base, 'root-link')}/`)).entries.keys()], ['f.txt'], 'with or without a trailing slash');
});

test('an excluded path is left out with everything below it, and not read', async () => {
  const root = join(base, 'excl');
  await put(root, 'keep/a.txt', 'a');
  await put(root, 'keep/out/b.txt', 'b');
  await put(root, 'out/c.txt', 'c');
  await writeFile(join(root, 'out', 'back\\slash'), 'x');
  await put(root, 'out2/d.txt', 'd');
  const tree = await walkTree(root, { exclude: 'out' });
  assert.deepEqual([...tree.entries.keys()].sort(), ['keep', 'keep/a.txt', 'keep/out', 'keep/out/b.txt', 'out2', 'out2/d.txt']);
  assert.deepEqual(tree.skipped, [], 'nothing under the excluded folder was looked at');
  const nested = await walkTree(root, { exclude: 'keep/out' });
  assert.deepEqual([...nested.entries.keys()].sort(), ['keep', 'keep/a.txt', 'out', 'out/c.txt', 'out2', 'out2/d.txt']);
});
