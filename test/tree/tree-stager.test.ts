/**
 * The staging steps of a tree patch on their own: writeWhole's error codes (a failed
 * read or write is IO, only what does not decompress is FRAME_CORRUPT, a network failure
 * keeps its code), writeCopy, and TreeStager's steps — a part with its metadata and its
 * copies, a local copy that no longer holds the content, a delta that fails, a resume.
 */
import assert from 'node:assert/strict';
import { lstat, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress } from 'node:zlib';
import { after, before, test } from 'node:test';
import type { BlockSource, ByteRange } from '../../src/core/block-source.js';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { TreeRoot } from '../../src/localfs/tree-path.js';
import { MemorySource } from '../../src/sources/memory-source.js';
import { buildTree } from '../../src/tree/build-tree.js';
import { decodeManifest, type FileEntry } from '../../src/tree/manifest.js';
import { openObjectStore, type ObjectStore } from '../../src/tree/object-store.js';
import type { TreeFileReport } from '../../src/tree/patch-types.js';
import { partPath, type Needed } from '../../src/tree/tree-planner.js';
import { TreeStager, stagedFiles, writeCopy, writeWhole, type PartSink } from '../../src/tree/tree-stager.js';
import { randomBytes } from '../helpers/data.js';
import { T0, hasCode, put, sha256, tempDir } from './tree-fixtures.js';

const T1 = T0 + 86_400_000;

const compress = promisify(brotliCompress);

let base: string;
before(async () => {
  base = await tempDir('stager');
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

function entryOf(path: string, data: Uint8Array, extra: Partial<FileEntry> = {}): FileEntry {
  return { type: 'file', path, size: data.length, mode: 0o640, mtime: T1, sha256: sha256(data), ...extra };
}

/** A sink that keeps what it is given, or fails every write with a plain system error. */
class MemorySink implements PartSink {
  readonly tempPath = '/nowhere/.x.gosync-part';
  readonly chunks: Uint8Array[] = [];
  constructor(readonly failWith?: Error) {}
  async write(data: Uint8Array): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.chunks.push(Uint8Array.from(data));
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** A source that yields `head` then fails with `error`. */
function failingSource(head: Uint8Array, error: unknown): BlockSource {
  return {
    name: 'failing',
    async *read(_ranges: readonly ByteRange[]) {
      yield head;
      throw error;
    },
    async close() {},
  };
}

function systemError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

// ---------------------------------------------------------------------------------------
// writeWhole and writeCopy

const data = randomBytes(5000, 7);
const entry = entryOf('dir/file.bin', data);

test('writeWhole writes a plain or brotli object that matches the entry', async () => {
  const plain = new MemorySink();
  await writeWhole(new MemorySource(data), undefined, entry, plain, undefined);
  assert.deepEqual(plain.bytes, Buffer.from(data));
  const z = await compress(data);
  const inflated = new MemorySink();
  await writeWhole(new MemorySource(z), z.length, entry, inflated, undefined);
  assert.deepEqual(inflated.bytes, Buffer.from(data));
});

test('writeWhole: a failed write is IO naming the file written, plain or compressed (not "Cannot decompress")', async () => {
  const z = await compress(data);
  for (const compressed of [undefined, z.length]) {
    const sink = new MemorySink(systemError('ENOSPC', 'no space left on device'));
    const source = new MemorySource(compressed === undefined ? data : z);
    await assert.rejects(writeWhole(source, compressed, entry, sink, undefined), (e: unknown) => {
      hasCode(ErrorCodes.IO)(e);
      assert.equal((e as SyncError).path, sink.tempPath);
      assert.match((e as Error).message, /^Cannot write \/nowhere\/\.x\.gosync-part: ENOSPC/);
      return true;
    });
  }
});

test('writeWhole: a source that fails with a system error is IO, plain or compressed', async () => {
  const z = await compress(data);
  for (const compressed of [undefined, z.length]) {
    const body = compressed === undefined ? data : z;
    const source = failingSource(body.subarray(0, 100), systemError('EIO', 'i/o error, read'));
    await assert.rejects(writeWhole(source, compressed, entry, new MemorySink(), undefined), (e: unknown) => {
      hasCode(ErrorCodes.IO)(e);
      assert.doesNotMatch((e as Error).message, /decompress/);
      assert.match((e as Error).message, /EIO/);
      return true;
    });
  }
});

test('writeWhole: a network failure keeps its code, plain or compressed', async () => {
  const z = await compress(data);
  for (const compressed of [undefined, z.length]) {
    const body = compressed === undefined ? data : z;
    const source = failingSource(body.subarray(0, 100), new SyncError(ErrorCodes.NETWORK, 'Cannot fetch x: connection reset'));
    await assert.rejects(writeWhole(source, compressed, entry, new MemorySink(), undefined), hasCode(ErrorCodes.NETWORK));
  }
});

test('writeWhole: a damaged or truncated brotli stream is FRAME_CORRUPT', async () => {
  const z = Buffer.from(await compress(data));
  // Random data is stored, not compressed: a damaged header is what fails to decode.
  const damaged = Buffer.from(z);
  damaged.fill(0xff, 0, 4);
  const truncated = z.subarray(0, z.length - 20);
  for (const body of [damaged, truncated]) {
    await assert.rejects(
      writeWhole(new MemorySource(body), body.length, entry, new MemorySink(), undefined),
      hasCode(ErrorCodes.FRAME_CORRUPT),
    );
  }
});

test('writeWhole: content longer, shorter or other than the entry is FILE_MISMATCH', async () => {
  const other = new Uint8Array(data);
  other[100]! ^= 1;
  // A plain object is read for the entry's size only: other content of that size.
  await assert.rejects(
    writeWhole(new MemorySource(other), undefined, entry, new MemorySink(), undefined),
    hasCode(ErrorCodes.FILE_MISMATCH),
  );
  for (const body of [Buffer.concat([data, Buffer.from('x')]), data.subarray(0, 4000), other]) {
    const z = await compress(body);
    const sink = new MemorySink();
    await assert.rejects(writeWhole(new MemorySource(z), z.length, entry, sink, undefined), hasCode(ErrorCodes.FILE_MISMATCH));
    assert.ok(sink.bytes.length <= data.length, 'nothing written past the size the manifest gives');
  }
});

test('writeCopy copies a local file with the content and refuses another (FILE_MISMATCH); a missing one is IO', async () => {
  const at = join(base, 'copy');
  await put(at, 'same.bin', data);
  await put(at, 'other.bin', data.subarray(1));
  const sink = new MemorySink();
  await writeCopy(join(at, 'same.bin'), entry, sink, undefined);
  assert.deepEqual(sink.bytes, Buffer.from(data));
  await assert.rejects(writeCopy(join(at, 'other.bin'), entry, new MemorySink(), undefined), (e: unknown) => {
    hasCode(ErrorCodes.FILE_MISMATCH)(e);
    assert.equal((e as SyncError).path, join(at, 'other.bin'));
    return true;
  });
  await assert.rejects(writeCopy(join(at, 'missing.bin'), entry, new MemorySink(), undefined), hasCode(ErrorCodes.IO));
});

// ---------------------------------------------------------------------------------------
// TreeStager's steps, against a published folder

/** A published folder of `files`, its entries by path, a store over it and an empty target folder. */
async function published(
  name: string,
  files: Record<string, Uint8Array>,
  options: { compress?: boolean } = {},
): Promise<{ entries: Map<string, FileEntry>; store: ObjectStore; root: TreeRoot; target: string; pub: string }> {
  const src = join(base, name, 'src');
  for (const [p, d] of Object.entries(files)) await put(src, p, d, 0o640, T1);
  const pub = join(base, name, 'pub');
  const { manifest } = await buildTree(src, pub, options);
  const entries = new Map<string, FileEntry>();
  for (const e of decodeManifest(await readFile(manifest)).entries) if (e.type === 'file') entries.set(e.path, e);
  const target = join(base, name, 'target');
  await put(target, '.keep', '');
  await put(target, 'sub/.keep', '');
  return { entries, store: await openObjectStore(pub), root: new TreeRoot(target), target, pub };
}

function needed(entry: FileEntry, action: Needed['action'], extra: Partial<Needed> = {}): Needed {
  const report: TreeFileReport = { path: entry.path, action, size: entry.size, reusedBytes: 0, fetchBytes: entry.size };
  if (extra.from !== undefined) report.from = extra.from;
  return { entry, copies: [], action, report, ...extra };
}

/** The names in `dir` that are gosync's staging files. */
async function stagingNames(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.gosync-part') || n.endsWith('.gosync-tmp')).sort();
}

test('stage: a whole file and its copies become verified parts with their own modes and mtimes; stagedFiles lists them', async () => {
  const small = randomBytes(3000, 71);
  const s = await published('whole', { 'a.txt': small, 'sub/b.txt': small });
  try {
    const [a, b] = [s.entries.get('a.txt')!, s.entries.get('sub/b.txt')!];
    const copy: FileEntry = { ...b, mode: 0o600, mtime: T0 };
    const n = needed(a, 'whole', { copies: [copy] });
    await new TreeStager(s.root, s.store).stage(n);
    for (const [e, mode, mtime] of [
      [a, 0o640, T1],
      [copy, 0o600, T0],
    ] as const) {
      const part = s.root.local(partPath(e));
      assert.deepEqual(new Uint8Array(await readFile(part)), small, e.path);
      const st = await lstat(part);
      assert.equal(st.mode & 0o777, mode, `${e.path}: mode`);
      assert.equal(st.mtimeMs, mtime, `${e.path}: mtime`);
    }
    assert.equal(n.report.fetchBytes, small.length, 'one fetch for both');
    assert.deepEqual(stagedFiles([n]), [
      { path: 'a.txt', part: partPath(a) },
      { path: 'sub/b.txt', part: partPath(copy) },
    ]);
    assert.deepEqual(await stagingNames(s.target), [partPath(a)]);
  } finally {
    await s.store.close();
  }
});

test('copyLocal: a local file without the content is not used; the file is planned and written from a fetch instead', async () => {
  const small = randomBytes(3000, 72);
  const large = randomBytes(40_000, 73);
  const s = await published('copy-fallback', { 'small.bin': small, 'large.bin': large });
  try {
    const stager = new TreeStager(s.root, s.store);
    for (const [path, content, then] of [
      ['small.bin', small, 'whole'],
      ['large.bin', large, 'blocks'],
    ] as const) {
      const e = s.entries.get(path)!;
      // The same size as the content, another content: trusted by the quick check.
      await put(s.target, `old-${path}`, new Uint8Array(content.length).fill(1));
      const n = needed(e, 'copy', { from: join(s.target, `old-${path}`) });
      n.report.reusedBytes = e.size;
      const part = s.root.local(partPath(e));
      assert.equal(await stager.writePart(n, part), false, `${path}: the copy is refused`);
      assert.equal(n.action, then);
      assert.equal(n.report.action, then);
      assert.equal(n.from, undefined);
      assert.equal(n.report.from, undefined);
      assert.equal(n.report.reusedBytes, 0);
      assert.equal(n.index !== undefined, then === 'blocks', `${path}: the index is fetched for blocks`);
      assert.deepEqual(
        (await stagingNames(s.target)).filter((name) => name.includes(path)),
        [],
        `${path}: no part and no temporary file left`,
      );
      // Staged again from the new plan: the right content.
      await stager.stage(n);
      assert.deepEqual(new Uint8Array(await readFile(part)), content, path);
    }
  } finally {
    await s.store.close();
  }
});

test('applyDelta: a delta that cannot be used is not fatal: the file is fetched whole; resume writes nothing', async () => {
  const v1 = randomBytes(60_000, 74);
  const v2 = new Uint8Array(v1);
  v2.set(randomBytes(500, 75), 30_000);
  const s = await published('delta', { 'f.bin': v2 }, { compress: true });
  try {
    const e = s.entries.get('f.bin')!;
    await put(s.target, 'f.bin', v1);
    // A base the publish folder has no delta from.
    const n = needed(e, 'delta', { from: join(s.target, 'f.bin'), delta: { sha256: sha256(v1), size: v1.length, delta: 1000 } });
    const stager = new TreeStager(s.root, s.store);
    const part = s.root.local(partPath(e));
    assert.equal(await stager.applyDelta(n, part), false);
    assert.equal(n.action, 'whole');
    assert.equal(n.report.action, 'whole');
    assert.equal(n.report.from, undefined);
    await stager.stage(n);
    assert.deepEqual(new Uint8Array(await readFile(part)), v2);

    // A part already there (a stopped run's) is kept as it is.
    const resumed = needed(e, 'resume', { from: part });
    const before = await lstat(part);
    assert.equal(await stager.writePart(resumed, part), true);
    assert.equal((await lstat(part)).mtimeMs, before.mtimeMs);
    assert.equal(resumed.report.fetchBytes, e.size, 'the report is left to the plan');
  } finally {
    await s.store.close();
  }
});

test('stageAll stages every file and reports fetch progress once per file', async () => {
  const files = { 'x/1.txt': randomBytes(100, 76), 'x/2.txt': randomBytes(200, 77), 'y.txt': randomBytes(300, 78) };
  const s = await published('all', files);
  await put(s.target, 'x/.keep', '');
  try {
    const progress: number[] = [];
    const list = [...s.entries.values()].map((e) => needed(e, 'whole'));
    await new TreeStager(s.root, s.store, { concurrency: 2, onProgress: (p) => progress.push(p.done) }).stageAll(list);
    assert.deepEqual(progress, [1, 2, 3]);
    for (const e of s.entries.values()) {
      assert.deepEqual(new Uint8Array(await readFile(s.root.local(partPath(e)))), files[e.path as keyof typeof files]);
    }
  } finally {
    await s.store.close();
  }
});
