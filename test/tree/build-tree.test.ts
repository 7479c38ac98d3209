/**
 * buildTree and its publish folder: one inside the published folder is left out (and not
 * walked), whatever its name; the published folder itself is refused as publish folder.
 * Then the steps on their own: resolving the folders, the listing, and TreePublisher's
 * quick check, brotli streams and deltas.
 */
import assert from 'node:assert/strict';
import { lstat, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes } from '../../src/core/errors.js';
import { TreePublisher, buildTree, listTree, publishFolders } from '../../src/tree/build-tree.js';
import { decodeManifest, objectNames, type FileEntry } from '../../src/tree/manifest.js';
import { randomBytes } from '../helpers/data.js';
import { T0, hasCode, link, put, sha256, snapshot, tempDir } from './tree-fixtures.js';

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

test('publishing into the published folder itself is refused (REFUSED, not a file operation) and writes nothing', async () => {
  const root = join(base, 'self');
  await put(root, 'a.txt', 'a');
  await put(root, 'big.bin', randomBytes(40_000, 42));
  await symlink(root, join(base, 'self-link'));
  const before = await snapshot(root);
  for (const out of [root, `${root}/`, join(root, 'sub', '..'), join(base, 'self-link')]) {
    await assert.rejects(
      buildTree(root, out),
      (e: unknown) => hasCode(ErrorCodes.REFUSED)(e) && /published folder itself/.test((e as Error).message),
      out,
    );
    assert.deepEqual(await snapshot(root), before, `${out}: nothing written`);
  }
  // Given as a link the other way round, too.
  await assert.rejects(buildTree(join(base, 'self-link'), root), hasCode(ErrorCodes.REFUSED));
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

// ---------------------------------------------------------------------------------------
// The steps on their own

test('publishFolders: the resolved folder, the manifest path, the publish folder inside as a tree path; a file is IO, a bad name a RangeError', async () => {
  const root = join(base, 'folders');
  await put(root, 'sub/a.txt', 'a');
  await symlink(root, join(base, 'folders-link'));
  const inside = await publishFolders(join(base, 'folders-link'), join(root, 'sub', 'pub'));
  assert.equal(inside.root, root);
  assert.equal(inside.excluded, 'sub/pub');
  assert.equal(inside.manifestPath, join(root, 'sub', 'pub', 'folders.tree.json'));
  const beside = await publishFolders(root, join(base, 'folders-pub'), 'v2');
  assert.equal(beside.excluded, undefined);
  assert.equal(beside.manifestPath, join(base, 'folders-pub', 'v2.tree.json'));
  await assert.rejects(publishFolders(join(root, 'sub', 'a.txt'), join(base, 'x')), (e: unknown) => {
    hasCode(ErrorCodes.IO)(e);
    assert.match((e as Error).message, /^Cannot publish the folder .*a\.txt: not a folder$/);
    return true;
  });
  await assert.rejects(publishFolders(join(base, 'missing'), join(base, 'x')), hasCode(ErrorCodes.IO));
  for (const name of ['.hidden', 'a/b']) {
    await assert.rejects(publishFolders(root, join(base, 'bad-name-out'), name), RangeError);
  }
  await assert.rejects(lstat(join(base, 'bad-name-out')), { code: 'ENOENT' }, 'a bad name is refused before the publish folder is made');
});

test('listTree: folders and links as entries, files to publish, sorted; the excluded folder left out', async () => {
  const root = join(base, 'listing');
  await put(root, 'b.txt', 'bb', 0o640, T0);
  await put(root, 'a/c.txt', 'c', 0o600, T0);
  await put(root, 'pub/x.txt', 'published, not content');
  await link(root, 'l', 'b.txt');
  const l = await listTree(root, 'pub', undefined);
  assert.deepEqual(
    l.entries.map((e) => [e.type, e.path]),
    [
      ['dir', 'a'],
      ['symlink', 'l'],
    ],
  );
  assert.deepEqual(l.files, [
    { path: 'a/c.txt', size: 1, mode: 0o600, mtime: T0 },
    { path: 'b.txt', size: 2, mode: 0o640, mtime: T0 },
  ]);
  assert.deepEqual(l.skipped, []);
});

test('TreePublisher: the quick check trusts a file listed with the same size and mtime; checksum reads it', async () => {
  const root = join(base, 'publisher');
  const out = join(base, 'publisher-pub');
  await put(root, 'f.txt', 'AAAA', 0o644, T0);
  const listed = { path: 'f.txt', size: 4, mode: 0o644, mtime: T0 };
  const first = new TreePublisher(root, out, undefined);
  const e1 = await first.publishFile(listed);
  assert.equal(e1.sha256, sha256(Buffer.from('AAAA')));
  assert.equal(first.newFiles, 1);
  assert.equal(first.objectBytes, 4);
  // Same size and mtime, other content: not read.
  await put(root, 'f.txt', 'BBBB', 0o644, T0);
  const previous = { version: 1, entries: [e1] };
  const trusting = new TreePublisher(root, out, previous);
  assert.equal((await trusting.publishFile(listed)).sha256, e1.sha256);
  assert.equal(trusting.newFiles, 0);
  const checking = new TreePublisher(root, out, previous, { checksum: true });
  assert.equal((await checking.publishFile(listed)).sha256, sha256(Buffer.from('BBBB')));
  assert.equal(checking.newFiles, 1);
  // A file that changed size while it was read is refused.
  await assert.rejects(new TreePublisher(root, out, undefined).publishFile({ ...listed, size: 5 }), hasCode(ErrorCodes.SOURCE_CHANGED));
});

test('TreePublisher: small files get a brotli stream (listed when smaller), large ones an index, changed ones deltas from the previous version', async () => {
  const root = join(base, 'publisher-z');
  const out = join(base, 'publisher-z-pub');
  const text = Buffer.from('compressible text '.repeat(200));
  const noise = randomBytes(1000, 43);
  const v1 = randomBytes(50_000, 44);
  const v2 = Buffer.from(v1);
  v2.fill(7, 20_000, 20_100);
  await put(root, 'text.txt', text);
  await put(root, 'noise.bin', noise);
  await put(root, 'big.bin', v1);
  const publisher = new TreePublisher(root, out, undefined, { compress: true });
  const t = await publisher.publishFile({ path: 'text.txt', size: text.length, mode: 0o644, mtime: T0 });
  assert.ok(t.br !== undefined && t.br < text.length / 10, `br ${t.br}`);
  assert.equal((await lstat(join(out, ...objectNames.brotli(t.sha256).split('/')))).size, t.br);
  const n = await publisher.publishFile({ path: 'noise.bin', size: noise.length, mode: 0o644, mtime: T0 });
  assert.equal(n.br, undefined, 'a stream no smaller than the file is not listed');
  const b1 = await publisher.publishFile({ path: 'big.bin', size: v1.length, mode: 0o644, mtime: T0 });
  assert.equal(b1.index, 'compressed');
  assert.equal(b1.bases, undefined, 'no previous version');
  await put(root, 'big.bin', v2, 0o644, T0 + 1000);
  const next = new TreePublisher(root, out, { version: 1, entries: [b1] }, { compress: true });
  const b2: FileEntry = await next.publishFile({ path: 'big.bin', size: v2.length, mode: 0o644, mtime: T0 + 1000 });
  assert.equal(b2.bases?.length, 1);
  assert.equal(b2.bases?.[0]?.sha256, b1.sha256);
  assert.ok(b2.bases![0]!.delta < 2000, `delta ${b2.bases![0]!.delta}`);
  assert.equal(b2.bases?.[0]?.codec, 'gosync', 'a delta file of the smallest kind');
  assert.equal((await lstat(join(out, ...objectNames.delta(b2.sha256, b1.sha256, 'gosync').split('/')))).size, b2.bases![0]!.delta);
  // No temporary file is left in any shard.
  for (const shard of await readdir(join(out, 'objects'))) {
    const names = await readdir(join(out, 'objects', shard));
    assert.deepEqual(
      names.filter((x) => x.startsWith('.')),
      [],
      shard,
    );
  }
});

test('a failed file operation while publishing is IO naming the path (objects/ or a shard folder that is a file)', async () => {
  const root = join(base, 'io');
  await put(root, 'small.txt', 'small');
  await put(root, 'large.bin', randomBytes(2_000_000, 45));
  for (const [label, blocker] of [
    ['objects', 'objects'],
    ['shard', `objects/${sha256(Buffer.from('small')).slice(0, 2)}`],
  ] as const) {
    const out = join(base, `io-pub-${label}`);
    await put(out, blocker, 'a file where a folder goes');
    await assert.rejects(buildTree(root, out), (e: unknown) => {
      hasCode(ErrorCodes.IO)(e);
      assert.match((e as Error).message, /^Cannot (create the folder|create a temporary file for) /, label);
      return true;
    });
    await assert.rejects(lstat(join(out, 'io.tree.json')), { code: 'ENOENT' }, `${label}: no manifest written`);
  }
});
