/**
 * Deep folder nesting costs linear work: a root remembers the folders it proved real, so
 * making and committing 1,000 nested folders is a few calls per folder, not one per
 * folder per folder below it (the review's 1,000-deep manifest did not finish in 120 s).
 * Calls are counted, not timed. And what is remembered is forgotten when gosync itself
 * replaces a folder, so a link made in the run is still refused.
 */
import assert from 'node:assert/strict';
import { lstat, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes } from '../../src/core/errors.js';
import { commitTree, findTreeChanges, prepareFolders, type WantedEntry } from '../../src/localfs/commit-tree.js';
import { TreeRoot } from '../../src/localfs/tree-path.js';
import { walkTree } from '../../src/localfs/walk.js';
import { hasCode, tempDir } from '../tree/tree-fixtures.js';
import { countFsCalls } from './fs-counter.js';

let base: string;
before(async () => {
  base = await tempDir('nesting');
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

const DEPTH = 1000;
const T = Date.UTC(2024, 0, 2, 3, 4, 5);

/** d, d/d, d/d/d, … `depth` folders, and a file in the deepest. */
function nested(depth: number): WantedEntry[] {
  const wanted: WantedEntry[] = [];
  let p = '';
  for (let i = 0; i < depth; i++) {
    p = p === '' ? 'd' : `${p}/d`;
    wanted.push({ type: 'dir', path: p, mode: 0o755, mtime: T });
  }
  wanted.push({ type: 'file', path: `${p}/f`, mode: 0o644, mtime: T });
  return wanted;
}

test('1,000 nested folders are made and committed with a few lstat/mkdir calls per folder', async () => {
  const dir = join(base, 'deep');
  const wanted = nested(DEPTH);
  const root = new TreeRoot(dir);
  const local = await walkTree(join(base, 'absent'));
  const changes = findTreeChanges(root, wanted, local);
  // Quadratic code makes about DEPTH²/2 = 500,000 calls: stop it long before.
  const counter = countFsCalls(['lstat', 'mkdir'], 20 * DEPTH);
  try {
    await prepareFolders(root, wanted, changes);
    const part = `${wanted[DEPTH - 1]!.path}/.f.part`;
    await root.checkParents(part);
    await writeFile(root.local(part), 'x');
    await commitTree(root, wanted, local, [{ path: wanted[DEPTH]!.path, part }], changes);
  } finally {
    counter.restore();
  }
  const { lstat: l, mkdir: m } = counter.counts;
  assert.ok(m <= DEPTH + 1, `mkdir calls: ${m}`);
  assert.ok(l + m <= 4 * DEPTH, `lstat + mkdir calls for ${DEPTH} folders: ${l} + ${m}`);
  const deepest = root.local(wanted[DEPTH]!.path);
  assert.ok((await lstat(deepest)).isFile());
  assert.equal(Math.round((await lstat(root.local('d'))).mtimeMs), T);
});

test('a folder checked once is checked again after forget(): a link put in its place is refused', async () => {
  const dir = join(base, 'forget');
  await mkdir(join(dir, 'a', 'b'), { recursive: true });
  await mkdir(join(base, 'elsewhere', 'b'), { recursive: true });
  const root = new TreeRoot(dir);
  await root.checkParents('a/b/f');
  // gosync replaces the folder (as a commit does when a link goes where a folder was).
  await rm(join(dir, 'a'), { recursive: true });
  await symlink(join(base, 'elsewhere'), join(dir, 'a'));
  root.forget('a');
  await assert.rejects(root.checkParents('a/b/f'), hasCode(ErrorCodes.UNSAFE_PATH));
  await assert.rejects(root.mkdirs('a/b/c'), hasCode(ErrorCodes.UNSAFE_PATH));
});

test('a root that does not remember checks every folder again (a reader sees links swapped in meanwhile)', async () => {
  const dir = join(base, 'reader');
  await mkdir(join(dir, 'a', 'b'), { recursive: true });
  await mkdir(join(base, 'elsewhere2', 'b'), { recursive: true });
  const root = new TreeRoot(dir, { remember: false });
  await root.checkParents('a/b/f');
  await rm(join(dir, 'a'), { recursive: true });
  await symlink(join(base, 'elsewhere2'), join(dir, 'a'));
  await assert.rejects(root.checkParents('a/b/f'), hasCode(ErrorCodes.UNSAFE_PATH));
});

test('commitTree replacing a folder with a link forgets it: a later write below the link is refused', async () => {
  const dir = join(base, 'commit-link');
  await mkdir(join(dir, 'x', 'y'), { recursive: true });
  await mkdir(join(base, 'outside', 'y'), { recursive: true });
  const root = new TreeRoot(dir);
  await root.checkParents('x/y/z');
  const wanted: WantedEntry[] = [{ type: 'symlink', path: 'x', target: join(base, 'outside') }];
  const local = await walkTree(dir);
  const changes = findTreeChanges(root, wanted, local, { delete: true });
  await commitTree(root, wanted, local, [], changes, { delete: true });
  assert.ok((await lstat(join(dir, 'x'))).isSymbolicLink());
  await assert.rejects(root.mkdirs('x/y/z'), hasCode(ErrorCodes.UNSAFE_PATH));
});
