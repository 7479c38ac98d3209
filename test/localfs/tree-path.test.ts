/**
 * Tree paths and TreeRoot: the path rule is the same on every platform, and writing
 * under a root never passes through a link or a file on the way.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes } from '../../src/core/errors.js';
import { TreeRoot, checkTreePath, treeParent, treePathProblem } from '../../src/localfs/tree-path.js';
import { hasCode, snapshot, tempDir } from '../tree/tree-fixtures.js';

let base: string;
before(async () => {
  base = await tempDir('path');
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

test('safe tree paths', () => {
  for (const p of ['a', 'a/b/c', '.hidden', 'a/.b', '...', 'a..b', 'a/b..', 'ünï cödé', 'ab:c', 'a/c:d', '1:']) {
    assert.equal(treePathProblem(p), undefined, JSON.stringify(p));
    assert.doesNotThrow(() => checkTreePath(p));
  }
});

test('unsafe tree paths, each with its reason', () => {
  const cases: [unknown, RegExp][] = [
    ['', /empty/],
    ['/abs', /absolute/],
    ['a\\b', /backslash/],
    ['C:/x', /drive letter/],
    ['c:', /drive letter/],
    ['a//b', /empty component/],
    ['a/', /empty component/],
    ['.', /"\." component/],
    ['a/./b', /"\." component/],
    ['..', /"\.\." component/],
    ['a/../b', /"\.\." component/],
    ['a\0', /NUL/],
    ['x'.repeat(4097), /longer/],
    [null, /not a string/],
    [7, /not a string/],
  ];
  for (const [p, why] of cases) {
    assert.match(treePathProblem(p) ?? '', why, JSON.stringify(p));
    assert.throws(() => checkTreePath(p), hasCode(ErrorCodes.UNSAFE_PATH));
  }
});

test('treeParent', () => {
  assert.equal(treeParent('a'), '');
  assert.equal(treeParent('a/b'), 'a');
  assert.equal(treeParent('a/b/c'), 'a/b');
});

test('TreeRoot.local maps tree paths under the root and refuses unsafe ones', () => {
  const root = new TreeRoot(join(base, 'r'));
  assert.equal(root.local('a/b'), join(base, 'r', 'a', 'b'));
  assert.throws(() => root.local('../x'), hasCode(ErrorCodes.UNSAFE_PATH));
  assert.throws(() => root.local('/etc/passwd'), hasCode(ErrorCodes.UNSAFE_PATH));
});

test('checkParents and mkdirs never pass through a link or a file', async () => {
  const r = join(base, 'parents');
  const outside = join(base, 'outside');
  await mkdir(join(r, 'real'), { recursive: true });
  await mkdir(outside, { recursive: true });
  await writeFile(join(outside, 'keep'), 'keep');
  await symlink(outside, join(r, 'link'));
  await writeFile(join(r, 'file'), 'x');
  const before = await snapshot(outside);
  const root = new TreeRoot(r);

  await root.checkParents('real/x');
  await root.checkParents('missing/deeper/x');
  await root.checkParents('link'); // the link itself may be replaced: only folders above count
  await assert.rejects(root.checkParents('link/x'), hasCode(ErrorCodes.UNSAFE_PATH));
  await assert.rejects(root.checkParents('link/a/b/x'), hasCode(ErrorCodes.UNSAFE_PATH));
  await assert.rejects(root.checkParents('file/x'), hasCode(ErrorCodes.UNSAFE_PATH));

  await assert.rejects(root.mkdirs('link/sub'), hasCode(ErrorCodes.UNSAFE_PATH));
  await assert.rejects(root.mkdirs('link'), hasCode(ErrorCodes.UNSAFE_PATH), 'a link where the folder goes is not a folder');
  await assert.rejects(root.mkdirs('file/sub'), hasCode(ErrorCodes.UNSAFE_PATH));
  await root.mkdirs('real/new/deeper');
  assert.deepEqual(await readdir(join(r, 'real', 'new')), ['deeper']);
  assert.deepEqual(await snapshot(outside), before, 'nothing created outside');
});
