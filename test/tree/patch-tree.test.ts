/**
 * buildTree → patchTree / diffTree end to end with a local publish folder: a first copy
 * into a missing folder, then an update that moves, copies, concatenates, edits, inserts,
 * deletes and adds files (plain and compressed publishing), deltas from the previous
 * version, conflicts, interrupted and aborted runs, and a no-op update of many files.
 */
import assert from 'node:assert/strict';
import { copyFile, lstat, mkdir, readdir, readFile, rename, rm, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { buildTree } from '../../src/tree/build-tree.js';
import { decodeManifest, type FileEntry } from '../../src/tree/manifest.js';
import { diffTree, patchTree, type TreeFileReport, type TreePatchReport } from '../../src/tree/patch-tree.js';
import { concat, randomBytes } from '../helpers/data.js';
import { T0, assertSameTree, dirMeta, hasCode, leftovers, link, put, sha256, snapshot, tempDir } from './tree-fixtures.js';

const T1 = T0 + 86_400_000;

let base: string;
before(async () => {
  base = await tempDir('patch');
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

function byPath(files: readonly TreeFileReport[]): Map<string, TreeFileReport> {
  return new Map(files.map((f) => [f.path, f]));
}

function actions(files: readonly TreeFileReport[]): Record<string, string> {
  return Object.fromEntries(files.map((f) => [f.path, f.action]));
}

/** Everything fetched is accounted for: the manifest, the indexes, and each file's fetchBytes. */
function assertAccounted(r: TreePatchReport): void {
  const fetched = r.files.reduce((a, f) => a + f.fetchBytes, 0);
  assert.equal(r.totals.fetchBytes, fetched);
  assert.equal(r.receivedBytes, r.manifestBytes + r.indexBytes + fetched, 'received bytes = manifest + indexes + files');
}

// ---------------------------------------------------------------------------------------
// A tree, published, copied into a missing folder, then changed and updated.

const a = randomBytes(400_000, 21);
const b = randomBytes(600_000, 22);
const big = randomBytes(3_000_000, 23);
const mid = randomBytes(2_000_000, 24);
const tool = randomBytes(100_000, 25);

let src: string;
let pubPlain: string;
let pubZ: string;
/** The v1 manifests, kept under another name when v2 is published. */
let v1Plain: string;
let v1Z: string;
let fresh: string;

async function makeV1(root: string): Promise<void> {
  await put(root, 'docs/readme.txt', '0123456789', 0o644);
  await put(root, 'docs/empty.txt', '', 0o600);
  await put(root, 'docs/gone.txt', 'to be deleted\n', 0o644);
  await put(root, 'bin/tool.sh', tool, 0o755);
  await put(root, 'data/big.bin', big, 0o644);
  await put(root, 'data/a.bin', a, 0o644);
  await put(root, 'data/b.bin', b, 0o600);
  await put(root, 'data/nested/deep/mid.bin', mid, 0o644);
  await mkdir(join(root, 'empty-dir'));
  await link(root, 'link', 'docs/readme.txt');
  await link(root, 'docs/up', '../data');
  await setDirTimes(root);
}

/** Fixed, distinct folder modes and times (after every change: writing in a folder changes its mtime). */
async function setDirTimes(root: string): Promise<void> {
  const snap = await snapshot(root, { withRoot: false });
  const dirs = Object.keys(snap)
    .filter((p) => snap[p]!.type === 'dir')
    .sort()
    .reverse();
  for (const [i, d] of dirs.entries()) await dirMeta(root, d, d === 'empty-dir' ? 0o750 : 0o755, T0 - (i + 1) * 60_000);
}

test('publish a tree and patch it into a missing folder: identical content, modes, mtimes, links and empty folders', async () => {
  src = join(base, 'tree');
  pubPlain = join(base, 'pub-plain');
  pubZ = join(base, 'pub-z');
  await makeV1(src);
  const built = await buildTree(src, pubPlain);
  assert.equal(built.manifest, join(pubPlain, 'tree.tree.json'));
  assert.equal(built.files, 8);
  assert.equal(built.symlinks, 2);
  assert.equal(built.dirs, 6);
  assert.equal(built.bytes, 10 + 0 + 14 + tool.length + big.length + a.length + b.length + mid.length);
  await buildTree(src, pubZ, { compress: true });
  v1Plain = join(pubPlain, 'v1.tree.json');
  v1Z = join(pubZ, 'v1.tree.json');
  await copyFile(join(pubPlain, 'tree.tree.json'), v1Plain);
  await copyFile(join(pubZ, 'tree.tree.json'), v1Z);

  const expected = await snapshot(src);
  for (const [kind, manifest] of [
    ['plain', v1Plain],
    ['compressed', v1Z],
  ] as const) {
    const dst = join(base, `fresh-${kind}`, 'deeper', 'copy');
    const d = await diffTree(dst, manifest);
    assert.equal(d.totals.changed, 8);
    assert.deepEqual(await snapshot(join(base, `fresh-${kind}`)), {}, 'diff creates nothing');
    const r = await patchTree(dst, manifest);
    assert.deepEqual(actions(r.files), actions(d.files));
    assertSameTree(await snapshot(dst), expected, { root: false });
    assert.equal(expected.link!.target, 'docs/readme.txt');
    assert.equal(r.totals.files, 8);
    assert.equal(r.totals.changed, 8);
    assert.equal(r.totals.bytes, built.bytes);
    assert.deepEqual(r.deleted, []);
    assert.deepEqual(leftovers(await snapshot(dst)), []);
    // Nothing local to reuse: everything non-empty is fetched, the copies of a file aside.
    const files = byPath(r.files);
    assert.equal(files.get('docs/empty.txt')!.fetchBytes, 0);
    assert.equal(files.get('data/big.bin')!.reusedBytes, 0);
    if (kind === 'plain') {
      assert.equal(r.totals.fetchBytes, built.bytes);
      assertAccounted(r);
    }
    // A second run has nothing to do.
    const again = await patchTree(dst, manifest);
    assert.ok(
      again.files.every((f) => f.action === 'unchanged'),
      JSON.stringify(actions(again.files)),
    );
    assert.equal(again.totals.fetchBytes, 0);
    assert.equal(again.receivedBytes, again.manifestBytes);
    assertSameTree(await snapshot(dst), expected, { root: false });
  }
  fresh = join(base, 'fresh-plain', 'deeper', 'copy');
});

const bigV2 = new Uint8Array(big);
bigV2.set(randomBytes(1000, 31), 1_500_000);
const toolV2 = concat(tool.subarray(0, 50_000), randomBytes(500, 32), tool.subarray(50_000));
const added = randomBytes(50_000, 33);
const ab = concat(a, b);

async function makeV2(root: string): Promise<void> {
  await put(root, 'data/big.bin', bigV2, 0o644, T1); // modified in the middle
  await put(root, 'bin/tool.sh', toolV2, 0o755, T1); // bytes inserted
  await mkdir(join(root, 'moved'));
  await rename(join(root, 'data/nested/deep/mid.bin'), join(root, 'moved/mid.bin')); // renamed to another folder
  await put(root, 'docs/a-copy.bin', a, 0o644, T1); // a copy
  await put(root, 'data/ab.bin', ab, 0o644, T1); // two files end to end
  await unlink(join(root, 'docs/gone.txt')); // deleted
  await put(root, 'new/added.bin', added, 0o600, T1); // added
  await setDirTimes(root);
}

const unchanged = ['data/a.bin', 'data/b.bin', 'docs/empty.txt', 'docs/readme.txt'];
const extraneous = ['data/nested/deep/mid.bin', 'docs/gone.txt'];

function checkV2Report(r: TreePatchReport, kind: 'plain' | 'compressed'): void {
  const files = byPath(r.files);
  for (const p of unchanged) assert.equal(files.get(p)!.action, 'unchanged', p);
  for (const p of unchanged) assert.equal(files.get(p)!.fetchBytes, 0, p);
  const moved = files.get('moved/mid.bin')!;
  assert.equal(moved.action, 'copy', 'the renamed file is copied from its old place');
  assert.equal(moved.fetchBytes, 0);
  assert.ok(moved.from?.endsWith(join('data', 'nested', 'deep', 'mid.bin')), moved.from);
  const copied = files.get('docs/a-copy.bin')!;
  assert.equal(copied.action, 'copy');
  assert.equal(copied.fetchBytes, 0);
  const cat = files.get('data/ab.bin')!;
  assert.equal(cat.action, 'blocks');
  assert.ok(cat.fetchBytes < 0.05 * ab.length, `the concatenation fetched ${cat.fetchBytes} of ${ab.length} bytes`);
  const bigR = files.get('data/big.bin')!;
  const toolR = files.get('bin/tool.sh')!;
  // Plain: the block index and a scan; compressed: a delta from the version the folder has.
  assert.equal(bigR.action, kind === 'plain' ? 'blocks' : 'delta');
  assert.equal(toolR.action, kind === 'plain' ? 'blocks' : 'delta');
  assert.ok(bigR.fetchBytes < 0.01 * big.length, `big.bin fetched ${bigR.fetchBytes}`);
  assert.ok(toolR.fetchBytes < 0.1 * toolV2.length, `tool.sh fetched ${toolR.fetchBytes}`);
  const add = files.get('new/added.bin')!;
  assert.ok(add.fetchBytes >= added.length * 0.9, 'new random content is fetched');
  assert.equal(r.totals.changed, 6);
  assert.deepEqual(r.extraneous, extraneous);
  assertAccounted(r);
}

test('an update (edit, insert, rename, copy, concatenation, delete, add), plain and compressed; diff predicts it and writes nothing', async () => {
  await makeV2(src);
  await buildTree(src, pubPlain);
  await buildTree(src, pubZ, { compress: true });
  const expected = await snapshot(src);
  const v2Plain = join(pubPlain, 'tree.tree.json');
  const v2Z = join(pubZ, 'tree.tree.json');
  const v2 = decodeManifest(await readFile(v2Z));
  const bigEntry = v2.entries.find((e) => e.path === 'data/big.bin') as FileEntry;
  assert.equal(bigEntry.index, 'compressed');
  assert.equal(bigEntry.bases?.[0]?.sha256, sha256(big), 'a delta from the previous version is listed');

  for (const kind of ['plain', 'compressed'] as const) {
    const manifest = kind === 'plain' ? v2Plain : v2Z;
    const dst = join(base, `update-${kind}`);
    await patchTree(dst, kind === 'plain' ? v1Plain : v1Z);

    // diff: the same actions as the patch will take, and nothing written.
    const before = await snapshot(dst);
    const d = await diffTree(dst, manifest);
    assert.deepEqual(await snapshot(dst), before, 'diff writes nothing (listing, content, modes, mtimes)');
    assert.deepEqual(d.extraneous, extraneous);

    if (kind === 'plain') {
      // Without delete: identical but for what the new version dropped, which stays.
      const r = await patchTree(dst, manifest);
      assert.deepEqual(actions(r.files), actions(d.files), 'diff predicted every action');
      checkV2Report(r, kind);
      assert.deepEqual(r.deleted, []);
      const got = await snapshot(dst);
      assertSameTree(got, expected, { root: false, ignore: (p) => extraneous.includes(p) });
      for (const p of extraneous) assert.deepEqual(got[p], before[p], `${p} is kept without delete`);
      // With delete: what the manifest does not list goes.
      const r2 = await patchTree(dst, manifest, { delete: true });
      assert.deepEqual(r2.deleted, [...extraneous].reverse());
      assert.ok(r2.files.every((f) => f.action === 'unchanged'));
      assertSameTree(await snapshot(dst), expected, { root: false });
    } else {
      // delete in the same run as the rename: the old place is read before it is removed.
      const r = await patchTree(dst, manifest, { delete: true });
      assert.deepEqual(actions(r.files), actions(d.files), 'diff predicted every action');
      checkV2Report(r, kind);
      assert.deepEqual([...r.deleted].sort(), extraneous);
      assertSameTree(await snapshot(dst), expected, { root: false });
    }
    assert.deepEqual(leftovers(await snapshot(dst)), []);
  }
  // The first copy, updated from the compressed publish: same result.
  const r = await patchTree(fresh, v2Z, { delete: true });
  checkV2Report(r, 'compressed');
  assertSameTree(await snapshot(fresh), expected, { root: false });
});

// ---------------------------------------------------------------------------------------

test('compressed publishing: a file whose local copy is the previous version (or the one before) is patched by a small delta', async () => {
  const at = join(base, 'delta');
  const root = join(at, 'doc');
  const pub = join(at, 'pub');
  const v1 = randomBytes(1_000_000, 41);
  const v2 = new Uint8Array(concat(v1.subarray(0, 400_000), randomBytes(20, 42), v1.subarray(400_000)));
  v2.set(randomBytes(100, 43), 700_000);
  const v3 = new Uint8Array(v2);
  v3.set(randomBytes(100, 44), 200_000);
  await put(root, 'doc.bin', v1, 0o644, T0);
  await buildTree(root, pub, { compress: true });
  await put(root, 'doc.bin', v2, 0o644, T1);
  await buildTree(root, pub, { compress: true });
  const manifest = join(pub, 'doc.tree.json');

  const local = join(at, 'local');
  await put(local, 'doc.bin', v1, 0o644, T0);
  const r = await patchTree(local, manifest);
  const f = r.files[0]!;
  assert.equal(f.action, 'delta');
  assert.ok(f.fetchBytes > 0 && f.fetchBytes < 0.1 * v2.length, `fetched ${f.fetchBytes} of ${v2.length}`);
  assert.ok(f.from?.endsWith('doc.bin'));
  assert.deepEqual(new Uint8Array(await readFile(join(local, 'doc.bin'))), v2);
  assert.equal(r.indexBytes, 0, 'no block index needed');
  assertAccounted(r);

  // Two versions later, the local copy at v1 still gets a delta (from the bases listed).
  await put(root, 'doc.bin', v3, 0o644, T1 + 1000);
  await buildTree(root, pub, { compress: true });
  const older = join(at, 'older');
  await put(older, 'doc.bin', v1, 0o644, T0);
  const r3 = await patchTree(older, manifest);
  assert.equal(r3.files[0]!.action, 'delta');
  assert.ok(r3.files[0]!.fetchBytes < 0.1 * v3.length);
  assert.deepEqual(new Uint8Array(await readFile(join(older, 'doc.bin'))), v3);

  // A local copy that is no published version: the block index and a scan.
  const other = join(at, 'other');
  const v1b = new Uint8Array(v1);
  v1b[10]! ^= 1;
  await put(other, 'doc.bin', v1b, 0o644, T0);
  const rb = await patchTree(other, manifest);
  assert.equal(rb.files[0]!.action, 'blocks');
  assert.deepEqual(new Uint8Array(await readFile(join(other, 'doc.bin'))), v3);
});

// ---------------------------------------------------------------------------------------

test('a non-empty local folder where the manifest has a file: TREE_CONFLICT and nothing changed; with delete it is replaced', async () => {
  const at = join(base, 'conflict');
  const root = join(at, 'tree');
  const pub = join(at, 'pub');
  await put(root, 'x', 'now a file');
  await put(root, 'keep.txt', 'new keep');
  await put(root, 'y/new.txt', 'new file');
  await put(root, 'e', 'was an empty folder');
  await link(root, 'l', 'x');
  await setDirTimes(root);
  const { manifest } = await buildTree(root, pub);
  const expected = await snapshot(root);

  const local = join(at, 'local');
  await put(local, 'x/a.txt', 'old a');
  await put(local, 'x/b/c.txt', 'old c');
  await put(local, 'keep.txt', 'old keep', 0o644, T1);
  await put(local, 'other.txt', 'not listed');
  await mkdir(join(local, 'e'));
  await setDirTimes(local);
  const before = await snapshot(local);
  await assert.rejects(patchTree(local, manifest), hasCode(ErrorCodes.TREE_CONFLICT));
  // diff says the same, and with delete plans the replacement, writing nothing either way.
  await assert.rejects(diffTree(local, manifest), hasCode(ErrorCodes.TREE_CONFLICT));
  const planned = await diffTree(local, manifest, { delete: true });
  assert.deepEqual(planned.extraneous, ['other.txt']);
  assert.equal(planned.files.find((f) => f.path === 'x')?.action, 'whole');
  const after = await snapshot(local);
  assert.deepEqual(after, before, 'nothing changed: no file replaced or added, no part left');
  assert.deepEqual(leftovers(after), []);

  // A link where a non-empty folder is: the same.
  const local2 = join(at, 'local2');
  await put(local2, 'l/inside.txt', 'data');
  const before2 = await snapshot(local2);
  await assert.rejects(patchTree(local2, manifest), hasCode(ErrorCodes.TREE_CONFLICT));
  assert.deepEqual(await snapshot(local2), before2);

  const r = await patchTree(local, manifest, { delete: true });
  assertSameTree(await snapshot(local), expected, { root: false });
  assert.deepEqual([...r.deleted].sort(), ['other.txt']);
  const r2 = await patchTree(local2, manifest, { delete: true });
  assert.equal(r2.totals.files, 4);
  assertSameTree(await snapshot(local2), expected, { root: false });
});

test('metadata-only changes cost nothing; files, links and folders change type', async () => {
  const at = join(base, 'types');
  const root = join(at, 'tree');
  const pub = join(at, 'pub');
  await put(root, 'm.txt', 'mode changes', 0o644);
  await put(root, 't.txt', 'mtime changes', 0o644, T0);
  await link(root, 'l', 'a');
  await put(root, 'f', 'becomes a link');
  await link(root, 's', 'x');
  await put(root, 'dd/in', 'folder becomes a file');
  await put(root, 'ff', 'file becomes a folder');
  await setDirTimes(root);
  await buildTree(root, pub);
  await copyFile(join(pub, 'tree.tree.json'), join(pub, 'v1.tree.json'));
  const local = join(at, 'local');
  await patchTree(local, join(pub, 'v1.tree.json'));

  await put(root, 'm.txt', 'mode changes', 0o600, T0);
  await put(root, 't.txt', 'mtime changes', 0o644, T1);
  await rm(join(root, 'l'));
  await link(root, 'l', 'b');
  await rm(join(root, 'f'));
  await link(root, 'f', 'm.txt');
  await rm(join(root, 's'));
  await put(root, 's', 'a link became this file');
  await rm(join(root, 'dd'), { recursive: true });
  await put(root, 'dd', 'now a file');
  await rm(join(root, 'ff'));
  await put(root, 'ff/in', 'inside the new folder');
  await setDirTimes(root);
  const { manifest } = await buildTree(root, pub);

  const r = await patchTree(local, manifest, { delete: true });
  assertSameTree(await snapshot(local), await snapshot(root), { root: false });
  const files = byPath(r.files);
  for (const p of ['m.txt', 't.txt']) {
    assert.equal(files.get(p)!.action, 'metadata', p);
    assert.equal(files.get(p)!.fetchBytes, 0, p);
  }
  assert.deepEqual(r.deleted, [], 'a folder replaced by a file is not listed as removed');
  assertAccounted(r);
});

test('a local folder holding only names gosync cannot carry is not empty: TREE_CONFLICT, its content kept', async () => {
  const at = join(base, 'conflict-skipped');
  const pub = join(at, 'pub');
  await put(join(at, 'tree'), 'x', 'now a file');
  const { manifest } = await buildTree(join(at, 'tree'), pub);
  const local = join(at, 'local');
  // A backslash is not allowed in tree paths: walkTree skips the name, it is still user data.
  await put(local, 'x/user\\data.txt', 'precious');
  const before = await snapshot(local);
  await assert.rejects(patchTree(local, manifest), hasCode(ErrorCodes.TREE_CONFLICT));
  assert.deepEqual(await snapshot(local), before, 'the folder and its file are kept');
  // With delete the folder goes, as any other.
  await patchTree(local, manifest, { delete: true });
  assert.equal(await readFile(join(local, 'x'), 'utf8'), 'now a file');
});

test('the target folder may be given as a link to a folder (as with a trailing slash)', async () => {
  const at = join(base, 'root-link');
  await put(join(at, 'tree'), 'a.txt', 'hello');
  const { manifest } = await buildTree(join(at, 'tree'), join(at, 'pub'));
  await mkdir(join(at, 'real'));
  await symlink(join(at, 'real'), join(at, 'via-link'));
  await patchTree(join(at, 'via-link'), manifest);
  assert.equal(await readFile(join(at, 'real', 'a.txt'), 'utf8'), 'hello');
  assert.ok((await lstat(join(at, 'via-link'))).isSymbolicLink(), 'the link itself stays');
});

test('a file with a long name (230 characters, under the 255 the filesystem allows) can be patched', async () => {
  const at = join(base, 'long-name');
  const name = `${'n'.repeat(226)}.bin`;
  await put(join(at, 'tree'), name, 'data');
  const { manifest } = await buildTree(join(at, 'tree'), join(at, 'pub'));
  const local = join(at, 'local');
  await patchTree(local, manifest);
  assert.equal(await readFile(join(local, name), 'utf8'), 'data');
});

test('a local file trusted by the quick check but with other content is not a fatal copy source: the content is fetched instead', async () => {
  const at = join(base, 'trusted-copy');
  const root = join(at, 'tree');
  const pub = join(at, 'pub');
  await put(root, 'a.txt', 'AAAA');
  await buildTree(root, pub);
  await copyFile(join(pub, 'tree.tree.json'), join(pub, 'v1.tree.json'));
  const local = join(at, 'local');
  await patchTree(local, join(pub, 'v1.tree.json'));
  await put(root, 'b.txt', 'AAAA', 0o644, T1);
  const { manifest } = await buildTree(root, pub);
  // Same size and mtime as published, other content: trusted, and kept, as rsync does.
  await put(local, 'a.txt', 'BBBB');
  await patchTree(local, manifest);
  assert.equal(await readFile(join(local, 'b.txt'), 'utf8'), 'AAAA');
  assert.equal(await readFile(join(local, 'a.txt'), 'utf8'), 'BBBB');
});

// ---------------------------------------------------------------------------------------

test('an interrupted run replaces nothing, and the next run resumes what it staged', async () => {
  const at = join(base, 'interrupted');
  const root = join(at, 'tree');
  const pub = join(at, 'pub');
  const v1 = { 'a.bin': randomBytes(200_000, 51), 'b.txt': randomBytes(5_000, 52), 'keep.txt': Buffer.from('keep') };
  for (const [p, d] of Object.entries(v1)) await put(root, p, d);
  await buildTree(root, pub);
  const v1Manifest = join(pub, 'v1.tree.json');
  await copyFile(join(pub, 'tree.tree.json'), v1Manifest);
  const local = join(at, 'local');
  await patchTree(local, v1Manifest);

  const aV2 = new Uint8Array(v1['a.bin']);
  aV2.set(randomBytes(3000, 53), 100_000);
  const v2: Record<string, Uint8Array> = {
    'a.bin': aV2,
    'b.txt': randomBytes(5_000, 54),
    'c.bin': randomBytes(100_000, 55),
    'keep.txt': v1['keep.txt'],
    'zz/new.bin': randomBytes(10_000, 56),
  };
  for (const p of ['a.bin', 'b.txt', 'c.bin', 'zz/new.bin']) await put(root, p, v2[p]!, 0o644, T1);
  const { manifest } = await buildTree(root, pub);
  const expected = await snapshot(root);

  // The content of zz/new.bin (the last file staged) is not available.
  const missing = sha256(v2['zz/new.bin']!);
  const objectDir = join(pub, 'objects', missing.slice(0, 2));
  const removed = (await readdir(objectDir)).filter((n) => n.startsWith(missing));
  assert.ok(removed.length > 0);
  for (const n of removed) await unlink(join(objectDir, n));

  await assert.rejects(patchTree(local, manifest, { concurrency: 1 }), (err: unknown) => SyncError.is(err));
  const old = new Map(Object.entries(v1).map(([p, d]) => [p, sha256(d)]));
  const now = await snapshot(local);
  for (const p of Object.keys(v2)) {
    const got = now[p]?.sha256;
    assert.ok(got === undefined || got === old.get(p) || got === sha256(v2[p]!), `${p} is old or new`);
    assert.equal(got, old.get(p), `${p} was not replaced (the commit comes after staging)`);
  }
  const parts = leftovers(now);
  assert.equal(parts.length, 3, `a.bin, b.txt and c.bin were staged: ${parts.join(', ')}`);
  assert.ok(parts.every((p) => p.endsWith('.gosync-part')));

  // The objects are back: the run completes, fetching only what was not staged.
  await buildTree(root, pub);
  const r = await patchTree(local, manifest);
  assertSameTree(await snapshot(local), expected, { root: false });
  const files = byPath(r.files);
  for (const p of ['a.bin', 'b.txt', 'c.bin']) {
    assert.equal(files.get(p)!.action, 'resume', p);
    assert.equal(files.get(p)!.fetchBytes, 0, p);
  }
  assert.equal(files.get('zz/new.bin')!.fetchBytes, 10_000);
  assert.equal(r.receivedBytes, r.manifestBytes + 10_000, 'nothing staged before is fetched again');
  assert.deepEqual(leftovers(await snapshot(local)), []);
});

test('an aborted run rejects with ABORTED and leaves the target as it was', async () => {
  const at = join(base, 'aborted');
  const root = join(at, 'tree');
  const pub = join(at, 'pub');
  for (let i = 0; i < 6; i++) await put(root, `f${i}.bin`, randomBytes(50_000, 60 + i));
  await buildTree(root, pub);
  await copyFile(join(pub, 'tree.tree.json'), join(pub, 'v1.tree.json'));
  const local = join(at, 'local');
  await patchTree(local, join(pub, 'v1.tree.json'));
  for (let i = 0; i < 6; i++) await put(root, `f${i}.bin`, randomBytes(50_000, 70 + i), 0o644, T1);
  await put(root, 'added.bin', randomBytes(30_000, 80), 0o644, T1);
  const { manifest } = await buildTree(root, pub);
  const before = await snapshot(local);

  const ac = new AbortController();
  await assert.rejects(
    patchTree(local, manifest, {
      concurrency: 1,
      signal: ac.signal,
      onProgress: (p) => {
        if (p.phase === 'fetch' && p.done === 2) ac.abort();
      },
    }),
    hasCode(ErrorCodes.ABORTED),
  );
  const after = await snapshot(local);
  assertSameTree(after, before, { root: false, ignore: (p) => p.endsWith('.gosync-part') });
  assert.deepEqual(
    leftovers(after).filter((p) => !p.endsWith('.gosync-part')),
    [],
    'no temporary file left',
  );
  // Aborted before it starts: nothing at all, not even the folder.
  const ac2 = new AbortController();
  ac2.abort();
  await assert.rejects(patchTree(join(at, 'never'), manifest, { signal: ac2.signal }), hasCode(ErrorCodes.ABORTED));
  assert.deepEqual(await snapshot(join(at, 'never')), {});
  // And the next run completes.
  await patchTree(local, manifest);
  assertSameTree(await snapshot(local), await snapshot(root), { root: false });
});

// ---------------------------------------------------------------------------------------

test('a no-op update of 2,000 unchanged files reads no file content and fetches nothing but the manifest', async () => {
  const at = join(base, 'noop');
  const root = join(at, 'tree');
  const pub = join(at, 'pub');
  for (let k = 0; k < 20; k++) await mkdir(join(root, `d${k}`), { recursive: true });
  for (let i = 0; i < 2000; i += 100) {
    await Promise.all(
      Array.from({ length: 100 }, (_, j) => put(root, `d${(i + j) % 20}/f${i + j}.txt`, randomBytes(50 + ((i + j) % 200), 1000 + i + j))),
    );
  }
  await setDirTimes(root);
  const { manifest } = await buildTree(root, pub, { concurrency: 32 });
  const local = join(at, 'local');
  await patchTree(local, manifest, { concurrency: 32 });
  // Same size and mtime, other content: the quick check trusts them, so if these are
  // still different afterwards, no file content was read (or compared).
  const tampered = ['d0/f0.txt', 'd7/f1007.txt', 'd19/f1999.txt'];
  for (const p of tampered) {
    const size = (await readFile(join(local, p))).length;
    await put(local, p, new Uint8Array(size).fill(0x2a), 0o644, T0);
  }
  await setDirTimes(local);
  const before = await snapshot(local);

  const d = await diffTree(local, manifest);
  assert.equal(d.totals.changed, 0);
  assert.equal(d.indexBytes, 0);
  const r = await patchTree(local, manifest);
  assert.equal(r.files.length, 2000);
  assert.ok(
    r.files.every((f) => f.action === 'unchanged'),
    'every file unchanged',
  );
  assert.equal(r.totals.changed, 0);
  assert.equal(r.totals.fetchBytes, 0);
  assert.equal(r.indexBytes, 0);
  // For a manifest on disk the one "request" counted is the manifest itself.
  assert.equal(r.requests, 1, 'no object read');
  assert.equal(r.receivedBytes, r.manifestBytes);
  assert.deepEqual(r.deleted, []);
  const after = await snapshot(local);
  for (const p of tampered) assert.deepEqual(after[p], before[p], `${p} was not read`);
  assertSameTree(after, before, { root: false });
});
