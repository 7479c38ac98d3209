/**
 * Modes as rsync applies them: an entry that was there takes the source's permission
 * bits (`--perms`), a new file or folder the source's bits less the umask the caller
 * passes (none when it passes none); the sticky bit is kept (a shared `1777` folder
 * never becomes a world-writable `0777` one), a set-id bit never comes from outside.
 * And a metadata-only update of a file with other hard links goes through a copy of the
 * file, so its other names (here one outside the tree) keep their mode and time.
 */
import assert from 'node:assert/strict';
import { chmod, link, lstat, mkdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { commitTree, findTreeChanges, newEntryMode, prepareFolders, type WantedEntry } from '../../src/localfs/commit-tree.js';
import { TreeRoot } from '../../src/localfs/tree-path.js';
import { walkTree } from '../../src/localfs/walk.js';
import { tempDir } from '../tree/tree-fixtures.js';

let base: string;
before(async () => {
  base = await tempDir('modes');
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

const T = Date.UTC(2024, 0, 2, 3, 4, 5);
let n = 0;

/** Commits `wanted` over a folder made by `make`, staging `parts` (path → content) first. */
async function commit(
  make: (dir: string) => Promise<void>,
  wanted: WantedEntry[],
  parts: Record<string, string> = {},
  umask?: number,
): Promise<string> {
  const dir = join(base, `t${++n}`);
  await mkdir(dir, { recursive: true });
  await make(dir);
  const root = new TreeRoot(dir);
  const local = await walkTree(dir);
  const changes = findTreeChanges(root, wanted, local);
  await prepareFolders(root, wanted, changes);
  const staged = [];
  for (const [path, data] of Object.entries(parts)) {
    const e = wanted.find((w) => w.path === path)!;
    const part = `${path}.part`;
    await writeFile(root.local(part), data);
    // As a stager leaves it: the entry's mode and time.
    await chmod(root.local(part), e.type === 'symlink' ? 0o644 : e.mode & 0o1777);
    staged.push({ path, part });
  }
  await commitTree(root, wanted, local, staged, changes, umask === undefined ? {} : { umask });
  return dir;
}

const modeOf = async (p: string): Promise<number> => (await lstat(p)).mode & 0o7777;

test('newEntryMode: permission bits less the umask, the sticky bit kept, set-id bits never', () => {
  assert.equal(newEntryMode(0o777, 0o022), 0o755);
  assert.equal(newEntryMode(0o666, 0o027), 0o640);
  assert.equal(newEntryMode(0o1777, 0o022), 0o1755);
  assert.equal(newEntryMode(0o6755, 0o022), 0o755);
  assert.equal(newEntryMode(0o6777, undefined), 0o777);
  assert.equal(newEntryMode(0o1777, undefined), 0o1777);
});

test('a shared 1777 folder stays 1777, new or already there (never a world-writable 0777 without its sticky bit)', async () => {
  const dir = await commit(
    async (d) => {
      await mkdir(join(d, 'old'), { mode: 0o755 });
    },
    [
      { type: 'dir', path: 'old', mode: 0o1777, mtime: T },
      { type: 'dir', path: 'new', mode: 0o1777, mtime: T },
    ],
  );
  assert.equal(await modeOf(join(dir, 'old')), 0o1777);
  assert.equal(await modeOf(join(dir, 'new')), 0o1777);
});

test('with a umask: new files and folders are masked by it, those already there take the source mode as it is', async () => {
  const dir = await commit(
    async (d) => {
      await mkdir(join(d, 'olddir'));
      await chmod(join(d, 'olddir'), 0o700);
      await writeFile(join(d, 'same.txt'), 'same');
      await chmod(join(d, 'same.txt'), 0o600);
      await writeFile(join(d, 'changed.txt'), 'old content');
      await chmod(join(d, 'changed.txt'), 0o600);
    },
    [
      { type: 'dir', path: 'olddir', mode: 0o777, mtime: T },
      { type: 'dir', path: 'newdir', mode: 0o777, mtime: T },
      { type: 'dir', path: 'shared', mode: 0o1777, mtime: T },
      { type: 'file', path: 'newdir/new.txt', mode: 0o666, mtime: T },
      { type: 'file', path: 'same.txt', mode: 0o666, mtime: T },
      { type: 'file', path: 'changed.txt', mode: 0o666, mtime: T },
    ],
    { 'newdir/new.txt': 'new', 'changed.txt': 'new content' },
    0o022,
  );
  assert.equal(await modeOf(join(dir, 'newdir')), 0o755, 'a new folder is masked');
  assert.equal(await modeOf(join(dir, 'shared')), 0o1755, 'a new shared folder keeps its sticky bit');
  assert.equal(await modeOf(join(dir, 'newdir/new.txt')), 0o644, 'a new file is masked');
  assert.equal(await modeOf(join(dir, 'olddir')), 0o777, 'a folder that was there takes the mode');
  assert.equal(await modeOf(join(dir, 'same.txt')), 0o666, 'a file that was there takes the mode');
  assert.equal(await modeOf(join(dir, 'changed.txt')), 0o666, 'a file that was there, new content: the mode');
  assert.equal(await readFile(join(dir, 'changed.txt'), 'utf8'), 'new content');
});

test('without a umask nothing is masked (the library default)', async () => {
  const dir = await commit(
    async () => {},
    [
      { type: 'dir', path: 'd', mode: 0o777, mtime: T },
      { type: 'file', path: 'd/f', mode: 0o666, mtime: T },
    ],
    { 'd/f': 'x' },
  );
  assert.equal(await modeOf(join(dir, 'd')), 0o777);
  assert.equal(await modeOf(join(dir, 'd/f')), 0o666);
});

test('a metadata-only update of a file hard-linked from outside the tree leaves the outside file as it was', async () => {
  const outside = join(base, 'outside');
  await mkdir(outside, { recursive: true });
  const victim = join(outside, 'victim.txt');
  await writeFile(victim, 'shared content');
  await chmod(victim, 0o644);
  await utimes(victim, new Date(T - 50_000), new Date(T - 50_000));
  const victim2 = join(outside, 'victim2.txt');
  await writeFile(victim2, 'other content');
  await chmod(victim2, 0o640);
  await utimes(victim2, new Date(T - 50_000), new Date(T - 50_000));
  const dir = await commit(
    async (d) => {
      await link(victim, join(d, 'f'));
      await link(victim2, join(d, 'g'));
    },
    [
      // Mode and time differ; only the time differs.
      { type: 'file', path: 'f', mode: 0o600, mtime: T },
      { type: 'file', path: 'g', mode: 0o640, mtime: T },
    ],
  );
  for (const [inside, outsideFile, mode, content] of [
    [join(dir, 'f'), victim, 0o600, 'shared content'],
    [join(dir, 'g'), victim2, 0o640, 'other content'],
  ] as const) {
    const st = await lstat(inside);
    assert.equal(st.mode & 0o7777, mode);
    assert.equal(Math.round(st.mtimeMs), T);
    assert.equal(st.nlink, 1, 'the tree has its own copy now');
    assert.equal(await readFile(inside, 'utf8'), content);
    const o = await lstat(outsideFile);
    assert.equal(Math.round(o.mtimeMs), T - 50_000, 'the outside file keeps its time');
    assert.equal(o.nlink, 1);
  }
  assert.equal(await modeOf(victim), 0o644, 'the outside file keeps its mode');
  assert.equal(await modeOf(victim2), 0o640);
  assert.equal(await readFile(victim, 'utf8'), 'shared content');
});

test('a file with one link is updated in place (same inode)', async () => {
  let ino = 0;
  const dir = await commit(
    async (d) => {
      await writeFile(join(d, 'f'), 'x');
      await chmod(join(d, 'f'), 0o644);
      ino = (await lstat(join(d, 'f'))).ino;
    },
    [{ type: 'file', path: 'f', mode: 0o600, mtime: T }],
  );
  assert.equal(await modeOf(join(dir, 'f')), 0o600);
  assert.equal((await lstat(join(dir, 'f'))).ino, ino);
});
