/**
 * The planning steps of a tree patch on their own: the quick check, hashing files of the
 * same size, finding content in local files (renamed, copied, staged by a stopped run),
 * choosing each content's source, fetching and checking indexes, the order of the local
 * files scanned for blocks with its budget, and grouping by block size.
 */
import assert from 'node:assert/strict';
import { copyFile, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes } from '../../src/core/errors.js';
import type { BlockIndex } from '../../src/core/index/block-index.js';
import { partName } from '../../src/localfs/staging.js';
import { TreeRoot } from '../../src/localfs/tree-path.js';
import { walkTree, type LocalEntry, type LocalTree } from '../../src/localfs/walk.js';
import { buildTree } from '../../src/tree/build-tree.js';
import { decodeManifest, objectNames, type FileEntry, type Manifest, type TreeEntry } from '../../src/tree/manifest.js';
import { openObjectStore, type ObjectStore } from '../../src/tree/object-store.js';
import type { TreeFileReport, TreeOptions } from '../../src/tree/patch-types.js';
import { TreePlanner, groupByBlockSize, partPath, type Needed } from '../../src/tree/tree-planner.js';
import { randomBytes } from '../helpers/data.js';
import { T0, hasCode, put, sha256, tempDir } from './tree-fixtures.js';

const T1 = T0 + 86_400_000;

let base: string;
let empty: ObjectStore;
before(async () => {
  base = await tempDir('planner');
  empty = await openObjectStore(join(base, 'no-objects'));
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

function fileEntry(path: string, data: Uint8Array | string, extra: Partial<FileEntry> = {}): FileEntry {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  return { type: 'file', path, size: bytes.length, mode: 0o644, mtime: T0, sha256: sha256(bytes), ...extra };
}

function manifestOf(entries: TreeEntry[]): Manifest {
  return { version: 1, entries: [...entries].sort((a, b) => (a.path < b.path ? -1 : 1)) };
}

/** A planner over the real folder `dir` (walked now). */
async function plannerFor(dir: string, entries: TreeEntry[], store = empty, options: TreeOptions = {}): Promise<TreePlanner> {
  return new TreePlanner({ manifest: manifestOf(entries), root: new TreeRoot(dir), local: await walkTree(dir), store, options });
}

function byPath(reports: readonly TreeFileReport[]): Record<string, TreeFileReport> {
  return Object.fromEntries(reports.map((r) => [r.path, r]));
}

test('quickCheck: same size and mtime is unchanged (metadata when the mode differs) and not read; anything else goes on', async () => {
  const dir = join(base, 'quick');
  await put(dir, 'same.txt', 'same');
  await put(dir, 'mode.txt', 'mode', 0o600);
  // Same size and mtime as listed, other content: trusted without reading.
  await put(dir, 'tampered.txt', 'XXXX');
  await put(dir, 'touched.txt', 'touched', 0o644, T1);
  await put(dir, 'resized.txt', 'resized!!');
  const entries = [
    fileEntry('same.txt', 'same'),
    fileEntry('mode.txt', 'mode'),
    fileEntry('tampered.txt', 'tamp'),
    fileEntry('touched.txt', 'touched'),
    fileEntry('resized.txt', 'resized'),
    fileEntry('missing.txt', 'missing'),
  ];
  const p = await plannerFor(dir, entries);
  const changed = p.quickCheck();
  assert.deepEqual(changed.map((e) => e.path).sort(), ['missing.txt', 'resized.txt', 'touched.txt']);
  const reports = byPath(p.reports);
  assert.equal(reports['same.txt']?.action, 'unchanged');
  assert.equal(reports['mode.txt']?.action, 'metadata');
  assert.equal(reports['tampered.txt']?.action, 'unchanged');
  assert.equal(reports['same.txt']?.reusedBytes, 4);
  assert.equal(reports['same.txt']?.fetchBytes, 0);
  // Known content is named by the manifest's hash, and the local file that has it.
  assert.equal(p.known.get(sha256(Buffer.from('tamp'))), join(dir, 'tampered.txt'));
  assert.equal(p.known.has(sha256(Buffer.from('touched'))), false);
});

test('confirmByHash: a file of the same size but another mtime is hashed; with the same content only its metadata changes', async () => {
  const dir = join(base, 'confirm');
  await put(dir, 'touched.txt', 'touched', 0o644, T1);
  await put(dir, 'edited.txt', 'EDITED!', 0o644, T1);
  await put(dir, 'resized.txt', 'resized!!');
  const entries = [fileEntry('touched.txt', 'touched'), fileEntry('edited.txt', 'edited!'), fileEntry('resized.txt', 'resized')];
  const p = await plannerFor(dir, entries);
  const need = await p.confirmByHash(p.quickCheck());
  assert.deepEqual(need.map((e) => e.path).sort(), ['edited.txt', 'resized.txt']);
  assert.deepEqual(byPath(p.reports)['touched.txt'], {
    path: 'touched.txt',
    action: 'metadata',
    size: 7,
    reusedBytes: 7,
    fetchBytes: 0,
  });
  assert.equal(p.known.get(sha256(Buffer.from('touched'))), join(dir, 'touched.txt'));
});

test('findLocalContent and chooseSources: resume, copy from anywhere, the smallest usable delta, blocks, whole; one source per content', async () => {
  const dir = join(base, 'choose');
  const moved = randomBytes(3000, 81);
  const base1 = randomBytes(5000, 82);
  const base2 = randomBytes(5001, 83);
  const staged = randomBytes(2000, 84);
  await put(dir, 'old/place.bin', moved);
  await put(dir, 'v1.bin', base1);
  await put(dir, 'v1b.bin', base2);
  const partOf = fileEntry('d/staged.bin', staged);
  await put(dir, partName('d/staged.bin', partOf.sha256.slice(0, 16)), staged);
  const unknownBase = { sha256: sha256(randomBytes(10, 85)), size: 10, delta: 1 };
  const entries: TreeEntry[] = [
    { type: 'dir', path: 'd', mode: 0o755, mtime: T0 },
    { type: 'dir', path: 'new', mode: 0o755, mtime: T0 },
    fileEntry('new/place.bin', moved),
    fileEntry('new/again.bin', moved),
    fileEntry('empty.txt', ''),
    fileEntry('v2.bin', randomBytes(6000, 86), {
      bases: [
        unknownBase,
        { sha256: sha256(base1), size: base1.length, delta: 900 },
        { sha256: sha256(base2), size: base2.length, delta: 300 },
      ],
    }),
    fileEntry('big.bin', randomBytes(20_000, 87), { index: 'plain', bases: [unknownBase] }),
    fileEntry('small.txt', randomBytes(100, 88), { br: 60 }),
    partOf,
  ];
  const p = await plannerFor(dir, entries);
  const need = await p.confirmByHash(p.quickCheck());
  await p.findLocalContent(need);
  // Files whose size is a needed one's (or a base's) were hashed, wherever they are.
  assert.equal(p.known.get(sha256(moved)), join(dir, 'old', 'place.bin'));
  assert.equal(p.known.get(sha256(base2)), join(dir, 'v1b.bin'));
  const needed = p.chooseSources(need);
  const by = Object.fromEntries(needed.map((n) => [n.entry.path, n]));
  assert.deepEqual(Object.keys(by).sort(), ['big.bin', 'd/staged.bin', 'empty.txt', 'new/again.bin', 'small.txt', 'v2.bin']);
  assert.equal(by['new/again.bin']?.action, 'copy');
  assert.equal(by['new/again.bin']?.from, join(dir, 'old', 'place.bin'));
  assert.deepEqual(
    by['new/again.bin']?.copies.map((c) => c.path),
    ['new/place.bin'],
    'the second path of a content is a copy of the first',
  );
  assert.equal(by['empty.txt']?.action, 'copy');
  assert.equal(by['empty.txt']?.from, undefined, 'an empty file needs no source');
  assert.equal(by['v2.bin']?.action, 'delta');
  assert.equal(by['v2.bin']?.delta?.sha256, sha256(base2), 'the smallest delta from a content a local file has');
  assert.equal(by['v2.bin']?.from, join(dir, 'v1b.bin'));
  assert.equal(by['big.bin']?.action, 'blocks');
  assert.equal(by['small.txt']?.action, 'whole');
  assert.equal(by['d/staged.bin']?.action, 'resume');
  assert.equal(by['d/staged.bin']?.from, join(dir, partPath(partOf)));
  const reports = byPath(p.reports);
  assert.deepEqual(reports['new/place.bin'], {
    path: 'new/place.bin',
    action: 'copy',
    size: moved.length,
    reusedBytes: moved.length,
    fetchBytes: 0,
    from: 'new/again.bin',
  });
  assert.equal(reports['v2.bin']?.fetchBytes, 300);
  assert.equal(reports['small.txt']?.fetchBytes, 60, 'the brotli stream');
  assert.equal(reports['big.bin']?.fetchBytes, 20_000);
  assert.equal(reports['d/staged.bin']?.fetchBytes, 0);
  assert.equal(reports['d/staged.bin']?.reusedBytes, 2000);
  assert.equal(p.reports.length, entries.length - 2);
});

test('a part whose content is not the one its name says is not resumed', async () => {
  const dir = join(base, 'bad-part');
  const content = randomBytes(1000, 89);
  const e = fileEntry('f.bin', content);
  await put(dir, partPath(e), randomBytes(1000, 90));
  const p = await plannerFor(dir, [e]);
  const need = await p.confirmByHash(p.quickCheck());
  await p.findLocalContent(need);
  assert.equal(p.chooseSources(need)[0]?.action, 'whole');
});

test('a non-empty local folder where a file goes: the planner refuses (TREE_CONFLICT) unless delete', async () => {
  const dir = join(base, 'conflict');
  await put(dir, 'x/in.txt', 'in');
  await assert.rejects(plannerFor(dir, [fileEntry('x', 'x')]), hasCode(ErrorCodes.TREE_CONFLICT));
  const p = await plannerFor(dir, [fileEntry('x', 'x')], empty, { delete: true });
  assert.deepEqual(p.changes.dirsToReplace, ['x']);
});

test('fetchIndexes: each index is fetched and counted; an index of other content is INDEX_CORRUPT', async () => {
  const src = join(base, 'indexes', 'src');
  const a = randomBytes(30_000, 91);
  const b = randomBytes(40_000, 92);
  await put(src, 'a.bin', a);
  await put(src, 'b.bin', b);
  const pub = join(base, 'indexes', 'pub');
  const { manifest } = await buildTree(src, pub);
  const files = decodeManifest(await readFile(manifest)).entries.filter((e): e is FileEntry => e.type === 'file');
  const store = await openObjectStore(pub);
  try {
    const p = await plannerFor(join(base, 'indexes', 'empty'), files, store);
    const need = await p.confirmByHash(p.quickCheck());
    await p.findLocalContent(need);
    const byBlocks = p.chooseSources(need).filter((n) => n.action === 'blocks');
    assert.equal(byBlocks.length, 2);
    await p.fetchIndexes(byBlocks);
    assert.ok(byBlocks.every((n) => n.index?.fileSize === n.entry.size));
    assert.ok(p.indexBytes > 0);
    // The index published for a.bin's content now describes b.bin's.
    const [ea, eb] = [files.find((e) => e.path === 'a.bin')!, files.find((e) => e.path === 'b.bin')!];
    await copyFile(
      join(pub, ...objectNames.index(eb.sha256, 'plain').split('/')),
      join(pub, ...objectNames.index(ea.sha256, 'plain').split('/')),
    );
    const again = await plannerFor(join(base, 'indexes', 'empty'), [ea], store);
    const n = again.chooseSources(await again.confirmByHash(again.quickCheck()));
    await assert.rejects(again.fetchIndexes(n), hasCode(ErrorCodes.INDEX_CORRUPT));
  } finally {
    await store.close();
  }
});

// ---------------------------------------------------------------------------------------
// scanOrder and groupByBlockSize: no file is read, so the local tree is written by hand.

function localTree(files: [string, number][], parts: string[] = []): LocalTree {
  const entries = new Map<string, LocalEntry>();
  for (const [path, size] of files) entries.set(path, { path, type: 'file', size, mode: 0o644, mtimeMs: T1 });
  return { entries, temps: [], parts, skipped: [] };
}

function neededFor(entry: FileEntry, index?: Partial<BlockIndex>): Needed {
  const n: Needed = {
    entry,
    copies: [],
    action: 'blocks',
    report: { path: entry.path, action: 'blocks', size: entry.size, reusedBytes: 0, fetchBytes: entry.size },
  };
  if (index) n.index = index as BlockIndex;
  return n;
}

test("scanOrder: the group's old files, parts, files going away, other changed files' old versions, then others within the budget", () => {
  const sized = (path: string, size: number) => fileEntry(path, randomBytes(size, size));
  const g1 = sized('g1.bin', 1000);
  const g2 = sized('g2.bin', 1000);
  const other = sized('other.bin', 500);
  const part = '.g1.bin.0123456789abcdef.gosync-part';
  // Listed and unchanged: kept.bin, small.txt, f, fits.bin, huge.bin; not listed: gone.bin; d is a folder in the manifest.
  const entries: TreeEntry[] = [g1, g2, other, ...['kept.bin', 'small.txt', 'f', 'fits.bin', 'huge.bin'].map((n) => sized(n, 10))];
  entries.push({ type: 'dir', path: 'd', mode: 0o755, mtime: T0 });
  const local = localTree(
    [
      ['kept.bin', 10],
      ['small.txt', 100],
      ['other.bin', 400],
      ['g2.bin', 900],
      ['gone.bin', 50_000],
      ['huge.bin', 9000],
      ['f', 1],
      ['fits.bin', 5000],
      // A local file where a folder goes is never read.
      ['d', 3],
    ],
    [part],
  );
  const planner = (reuseFactor?: number) =>
    new TreePlanner({
      manifest: manifestOf(entries),
      root: new TreeRoot(join(base, 'nowhere')),
      local,
      store: empty,
      options: reuseFactor === undefined ? {} : { reuseFactor },
    });
  const group = [neededFor(g1), neededFor(g2)];
  // The budget is 4 × 2000 bytes: huge.bin (9000) does not fit, fits.bin (5000) does after the smaller ones before it.
  assert.deepEqual(planner().scanOrder(group, [g1, g2, other]), [
    'g2.bin',
    part,
    'gone.bin',
    'other.bin',
    'kept.bin',
    'small.txt',
    'f',
    'fits.bin',
  ]);
  assert.deepEqual(planner(0).scanOrder(group, [g1, g2, other]), ['g2.bin', part, 'gone.bin', 'other.bin']);
});

test('groupByBlockSize: one group per block size and strong hash, in order', () => {
  const idx = (blockSize: number, name: string) => ({ blockSize, strongHash: { name } }) as unknown as Partial<BlockIndex>;
  const e = (p: string) => fileEntry(p, p);
  const list = [
    neededFor(e('a'), idx(4096, 'md4')),
    neededFor(e('b'), idx(2048, 'md4')),
    neededFor(e('c'), idx(4096, 'blake2b')),
    neededFor(e('d'), idx(4096, 'md4')),
  ];
  assert.deepEqual(
    groupByBlockSize(list).map((g) => g.map((n) => n.entry.path)),
    [['a', 'd'], ['b'], ['c']],
  );
});
