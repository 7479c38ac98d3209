import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildIndexFile } from '../../src/file/build-file.js';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { decodeIndex } from '../../src/core/index/format.js';
import { diffFile, patchFile } from '../../src/file/patch-file.js';
import type { BlockSource, ByteRange } from '../../src/core/block-source.js';
import { FileSource } from '../../src/sources/file-source.js';
import { MemorySource } from '../../src/sources/memory-source.js';
import { blockDigestOf, concat, randomBytes } from '../helpers/data.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-patch-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function setup(name: string, oldData: Uint8Array, newData: Uint8Array, blockSize = 1024) {
  const local = join(dir, `${name}.old`);
  const ref = join(dir, `${name}.new`);
  await writeFile(local, oldData);
  await writeFile(ref, newData);
  // The block digest even below BLOCK_DIGEST_MIN_SIZE: these tests check the one-pass check too.
  await buildIndexFile(ref, `${ref}.gosync`, { blockSize, blockDigest: true });
  const index = decodeIndex(await readFile(`${ref}.gosync`));
  return { local, ref, index };
}

async function leftovers(): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.gosync-tmp'));
}

/** A source that corrupts one byte of what it delivers. */
class CorruptingSource implements BlockSource {
  readonly name = 'corrupting';
  constructor(
    readonly data: Uint8Array,
    readonly at: number,
  ) {}
  async *read(ranges: readonly ByteRange[]): AsyncGenerator<Uint8Array> {
    for (const r of ranges) {
      const piece = Uint8Array.from(this.data.subarray(r.start, r.end));
      if (this.at >= r.start && this.at < r.end) piece[this.at - r.start]! ^= 1;
      yield piece;
    }
  }
  async close() {}
}

test('patchFile updates the local file in place and reports what it reused', async () => {
  const oldData = randomBytes(300_000, 1);
  const newData = concat(oldData.subarray(0, 100_000), randomBytes(5000, 2), oldData.subarray(100_000));
  const { local, ref, index } = await setup('basic', oldData, newData);
  const source = new FileSource(ref);
  const report = await patchFile({ local, index, source });
  await source.close();
  assert.deepEqual(await readFile(local), Buffer.from(newData));
  assert.equal(report.output, local);
  assert.equal(report.fileSize, newData.length);
  assert.ok(report.fetchedBytes >= 5000 && report.fetchedBytes <= 5000 + 3 * 1024, `fetched ${report.fetchedBytes}`);
  assert.equal(report.reusedBytes + report.fetchedBytes, newData.length);
  assert.equal(report.refetched, false);
  assert.deepEqual(await leftovers(), []);
});

test('patchFile writes to -o and leaves the local file alone; a missing local fetches everything', async () => {
  const newData = randomBytes(50_000, 3);
  const { ref, index } = await setup('fresh', new Uint8Array(0), newData);
  const out = join(dir, 'fresh.out');
  const source = new FileSource(ref);
  const report = await patchFile({ local: join(dir, 'does-not-exist'), output: out, index, source }).finally(() => source.close());
  assert.deepEqual(await readFile(out), Buffer.from(newData));
  assert.equal(report.fetchedBytes, newData.length);
  assert.equal(report.reusedBytes, 0);
});

test('seeds contribute blocks', async () => {
  const a = randomBytes(40_000, 4);
  const b = randomBytes(40_000, 5);
  const newData = concat(a.subarray(0, 20_000), b.subarray(10_000, 30_000));
  const { local, index } = await setup('seeds', a, newData);
  const seed = join(dir, 'seed.bin');
  await writeFile(seed, b);
  const r = await diffFile({ local, index, seeds: [seed] });
  assert.ok(r.fetchBytes <= 3 * 1024, `fetch ${r.fetchBytes}`);
  const report = await patchFile({ local, index, seeds: [seed], source: new MemorySource(newData) });
  assert.deepEqual(await readFile(local), Buffer.from(newData));
  assert.equal(report.fetchedBytes, r.fetchBytes);
});

test('the empty reference and a 1-byte reference', async () => {
  for (const data of [new Uint8Array(0), Uint8Array.of(42)]) {
    const { local, index } = await setup(`tiny${data.length}`, randomBytes(3000, 6), data);
    await patchFile({ local, index, source: new MemorySource(data) });
    assert.deepEqual(await readFile(local), Buffer.from(data));
  }
});

test('the mode of the replaced file is kept', async () => {
  const oldData = randomBytes(10_000, 7);
  const { local, index } = await setup('mode', oldData, concat(oldData, Uint8Array.of(1)));
  await chmod(local, 0o751);
  await patchFile({ local, index, source: new MemorySource(concat(oldData, Uint8Array.of(1))) });
  assert.equal((await stat(local)).mode & 0o777, 0o751);
});

test('a source sending wrong bytes fails with BLOCK_MISMATCH and changes nothing', async () => {
  const oldData = randomBytes(100_000, 8);
  const newData = concat(randomBytes(10_000, 9), oldData);
  const { local, index } = await setup('corrupt', oldData, newData);
  await assert.rejects(
    patchFile({ local, index, source: new CorruptingSource(newData, 5000) }),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.BLOCK_MISMATCH && e.blockIndex === 4,
  );
  assert.deepEqual(await readFile(local), Buffer.from(oldData));
  assert.deepEqual(await leftovers(), []);
});

test('a reference that does not match its index fails with FILE_MISMATCH and changes nothing', async () => {
  const oldData = randomBytes(20_000, 10);
  const newData = randomBytes(20_000, 11);
  const { local, index } = await setup('mismatch', oldData, newData);
  // An index whose whole-file hash (and block digest) is wrong, everything else right;
  // and an older one (no block digest) whose whole-file hash is wrong.
  const bad = { ...index, fileDigest: { algorithm: 'sha256', digest: new Uint8Array(32) }, blockDigest: new Uint8Array(32) };
  const { blockDigest: _, ...older } = { ...index, fileDigest: bad.fileDigest };
  for (const forged of [bad, older]) {
    await assert.rejects(
      patchFile({ local, index: forged, source: new MemorySource(newData) }),
      (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.FILE_MISMATCH,
    );
  }
  assert.deepEqual(await readFile(local), Buffer.from(oldData));
  assert.deepEqual(await leftovers(), []);
});

test('a false local match is repaired by refetching everything', async () => {
  const oldData = randomBytes(50_000, 12);
  const { local, index } = await setup('falsematch', oldData, oldData);
  // Shrink the stored hashes to one byte each, then build a "true" reference whose
  // block 0 differs from the local one but has the same 1-byte weak and strong hashes:
  // the local block matches falsely, only the whole-file SHA-256 can tell.
  const h1 = (b: Uint8Array) => createHash('sha256').update(b).digest()[0];
  const other = Uint8Array.from(oldData);
  const want = h1(oldData.subarray(0, 1024));
  search: for (let i = 0; i < 700; i++) {
    for (let d = 1; d < 30; d++) {
      // +d at i and −d at i+256 keep a, and b mod 256: the 1-byte weak checksum holds.
      if (oldData[i]! + d > 255 || oldData[i + 256]! - d < 0) continue;
      other.set(oldData.subarray(0, 1024));
      other[i] = oldData[i]! + d;
      other[i + 256] = oldData[i + 256]! - d;
      if (h1(other.subarray(0, 1024)) === want) break search;
      other.set(oldData.subarray(0, 1024));
    }
  }
  assert.notDeepEqual(Buffer.from(other), Buffer.from(oldData), 'found a colliding block');
  const tiny = {
    ...index,
    weakBytes: 1,
    strongBytes: 1,
    weak: index.weak.map((w) => w & 0xff),
    strong: Uint8Array.from({ length: index.blockCount }, (_, i) => index.strong[i * index.strongBytes]!),
    fileDigest: { algorithm: 'sha256', digest: new Uint8Array(createHash('sha256').update(other).digest()) },
    blockDigest: blockDigestOf(other, 1024),
  };
  const report = await patchFile({ local, index: tiny, source: new MemorySource(other) });
  assert.equal(report.refetched, true);
  assert.equal(report.fetchedBytes, other.length);
  assert.deepEqual(await readFile(local), Buffer.from(other));
  assert.deepEqual(await leftovers(), []);
});

test('an aborted patch rejects with ABORTED and leaves no trace', async () => {
  const oldData = randomBytes(100_000, 13);
  const { local, index } = await setup('abort', oldData, randomBytes(100_000, 14));
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(
    patchFile({ local, index, source: new MemorySource(new Uint8Array(100_000)), signal: ac.signal }),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.ABORTED,
  );
  assert.deepEqual(await readFile(local), Buffer.from(oldData));
  assert.deepEqual(await leftovers(), []);
});

test('an up-to-date local file is verified and left untouched', async () => {
  const data = randomBytes(300_000, 15);
  const { local, index } = await setup('uptodate', data, data);
  const { utimes } = await import('node:fs/promises');
  await utimes(local, 1_000_000, 1_000_000);
  const report = await patchFile({ local, index, source: new MemorySource(new Uint8Array(0)) });
  assert.equal(report.upToDate, true);
  assert.equal(report.fetchedBytes, 0);
  assert.equal(report.reusedBytes, data.length);
  assert.equal((await stat(local)).mtimeMs, 1_000_000_000, 'not rewritten');
  // With another output the file is written (and is still exact).
  const out = join(dir, 'uptodate.out');
  const r2 = await patchFile({ local, output: out, index, source: new MemorySource(new Uint8Array(0)) });
  assert.equal(r2.upToDate, false);
  assert.deepEqual(await readFile(out), Buffer.from(data));
});

test('a local file with the same blocks in place but other bytes elsewhere is not taken as up to date', async () => {
  // Same length; every block found in place by its (tiny) hashes, but the digest differs.
  const data = randomBytes(20_000, 16);
  const { local, index } = await setup('almost', data, data);
  const changed = Uint8Array.from(data);
  changed[5]! ^= 1;
  const lied = {
    ...index,
    fileDigest: { algorithm: 'sha256', digest: new Uint8Array(createHash('sha256').update(changed).digest()) },
    blockDigest: blockDigestOf(changed, 1024),
  };
  await assert.rejects(
    patchFile({ local, index: lied, source: new MemorySource(data) }),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.FILE_MISMATCH,
  );
  assert.deepEqual(await readFile(local), Buffer.from(data));
});

test('an identical local file is copied (one pass: checked by the block digest), and one changed after the scan is checked by its SHA-256', async () => {
  const data = randomBytes(300_000, 61);
  const { local, index } = await setup('identical', data, data);
  assert.ok(index.blockDigest, 'the index has a block digest');
  const out = join(dir, 'identical.out');
  const report = await patchFile({ local, output: out, index, source: new MemorySource(new Uint8Array(0)) });
  assert.equal(report.reusedBytes, data.length);
  assert.deepEqual(await readFile(out), Buffer.from(data));
  // The local file changes once scanned: the blocks' hashes no longer describe what is
  // copied, so the result is read back and checked by its SHA-256. The copy (started early,
  // while the blocks are checked) may hold the bytes before or after the change: before,
  // it passes; after, it fails and everything is fetched. Either way the result is exact.
  const out2 = join(dir, 'identical.out2');
  let changed = false;
  const r2 = await patchFile({
    local,
    output: out2,
    index,
    source: new MemorySource(data),
    threads: 1,
    onProgress: (p) => {
      if (p.phase === 'scan' && p.done === p.total && !changed) {
        changed = true;
        const other = Uint8Array.from(data);
        other[1000]! ^= 1;
        writeFileSync(local, other);
      }
    },
  });
  assert.equal(changed, true);
  assert.equal(r2.fetchedBytes === 0 || r2.refetched, true);
  assert.deepEqual(await readFile(out2), Buffer.from(data));
  assert.deepEqual(await leftovers(), []);
});

test('a local file of the reference size that differs is scanned as any other: a block changed in the middle costs one block', async () => {
  const data = randomBytes(300_000, 62);
  const local = Uint8Array.from(data);
  local[150_000]! ^= 1;
  const { local: path, index } = await setup('samesize', local, data);
  const out = join(dir, 'samesize.out');
  const report = await patchFile({ local: path, output: out, index, source: new MemorySource(data) });
  assert.deepEqual(await readFile(out), Buffer.from(data));
  assert.equal(report.fetchedBytes, 1024, 'one block fetched');
  // Changed in a block that the first checks do not look at (not the first, middle or last).
  const late = Uint8Array.from(data);
  late[250_000]! ^= 1;
  await writeFile(path, late);
  const r2 = await patchFile({ local: path, output: out, index, source: new MemorySource(data) });
  assert.deepEqual(await readFile(out), Buffer.from(data));
  assert.equal(r2.fetchedBytes, 1024, 'one block fetched');
});

/**
 * A same-size local file checked in place: identical (nothing fetched), then with one byte
 * flipped at `changeAt` (the check is abandoned there and the scan finds the rest: one
 * block fetched); the output is the reference both times and no temporary file is left.
 */
async function inPlaceCase(name: string, data: Uint8Array, changeAt: number, threads: number): Promise<void> {
  const { local, index } = await setup(name, data, data, 4096);
  const out = join(dir, `${name}.out`);
  const same = await patchFile({ local, output: out, index, source: new MemorySource(data), threads });
  assert.equal(same.fetchedBytes, 0);
  assert.deepEqual(await readFile(out), Buffer.from(data));
  const changed = Uint8Array.from(data);
  changed[changeAt]! ^= 1;
  await writeFile(local, changed);
  const r = await patchFile({ local, output: out, index, source: new MemorySource(data), threads });
  assert.equal(r.fetchedBytes, 4096);
  assert.deepEqual(await readFile(out), Buffer.from(data));
  assert.deepEqual(await leftovers(), []);
}

test('with two scan threads, a large same-size file is checked in place from both ends: identical, or changed near its end', async () => {
  // A block near the end: the other thread's first piece.
  const data = randomBytes(64 * 1024 * 1024, 63);
  await inPlaceCase('twothreads', data, data.length - 10_000, 2);
});

test('the in-place check reads ahead: identical over several read pieces, and a change in the second piece (a read still in flight) falls back cleanly', async () => {
  // 4 MiB pieces: 10 MiB + 1,000 B spans three, the last block short; the change is in
  // none of the three blocks tried first (the first, the middle, the last).
  const data = randomBytes(10 * 1024 * 1024 + 1000, 64);
  await inPlaceCase('readahead', data, 4 * 1024 * 1024 + 10_000, 1);
});
