/**
 * Scans on worker threads against every kind of index the matcher takes (zsync's MD4,
 * go-sync's unpadded last block, librsync's BLAKE2b-256 and RabinKarp, concatenated
 * indexes with short blocks, a caller's own strong hash) find what a serial scan finds,
 * and an abort stops a scan that runs on workers.
 */
import assert from 'node:assert/strict';
import { hash as oneShotHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { decodeGoSyncV0Index, encodeGoSyncV0Index, goSyncV0AsBlockIndex } from '../../src/formats/gosync-v0.js';
import { decodeLibrsyncSignature, encodeLibrsyncSignature, librsyncToBlockIndex } from '../../src/formats/librsync-signature.js';
import { buildZsync, decodeZsync } from '../../src/formats/zsync-control.js';
import type { StrongHash } from '../../src/core/hashing/strong-hash.js';
import type { BlockIndex } from '../../src/core/index/block-index.js';
import { concatIndexes } from '../../src/core/index/concat.js';
import { scanLocalFiles } from '../../src/file/local-scan.js';
import { shareIndex, type ScanTask } from '../../src/workers/tasks.js';
import { PARALLEL_MIN_SIZE, WorkerPool } from '../../src/workers/worker-pool.js';
import { concat, indexOf, randomBytes } from '../helpers/data.js';

const BS = 4096;
// Above the parallel threshold, not a multiple of the block size (a short last block).
const data = randomBytes(PARALLEL_MIN_SIZE + 4 * 1024 * 1024 + 777, 31);
// Block-aligned, with a short reference file appended: the short block is at the very end.
const aligned = data.subarray(0, PARALLEL_MIN_SIZE + 4 * 1024 * 1024);
const short = randomBytes(1000, 32);
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-parscan-'));
  await writeFile(join(dir, 'data'), data);
  await writeFile(join(dir, 'aligned+short'), concat(aligned, short));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const isAborted = (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.ABORTED;

/** Scans `file` serially and on two threads; the two must agree block for block. */
async function assertParallelEqualsSerial(index: BlockIndex, file: string, size: number): Promise<void> {
  assert.ok(size >= PARALLEL_MIN_SIZE, `${size} bytes would not be scanned on worker threads`);
  const serial = await scanLocalFiles(index, [join(dir, file)], { threads: 1 });
  const parallel = await scanLocalFiles(index, [join(dir, file)], { threads: 2 });
  assert.equal(serial.matcher.foundCount, index.blockCount, 'the serial scan finds every block');
  assert.equal(parallel.matcher.foundCount, serial.matcher.foundCount);
  assert.deepEqual(parallel.matcher.foundSource, serial.matcher.foundSource);
  assert.deepEqual(parallel.matcher.foundOffset, serial.matcher.foundOffset);
  assert.equal(parallel.matcher.foundBytes, serial.matcher.foundBytes);
}

test('a zsync index (MD4 blocks) scanned on worker threads finds what a serial scan finds', async () => {
  const index = decodeZsync(await buildZsync(data, { fileSize: data.length, blockSize: BS })).index;
  assert.equal(index.strongHash.name, 'md4');
  await assertParallelEqualsSerial(index, 'data', data.length);
});

test('a go-sync index (unpadded last block) scanned on worker threads finds its last block', async () => {
  const index = goSyncV0AsBlockIndex(decodeGoSyncV0Index(encodeGoSyncV0Index(data, BS)));
  assert.equal(index.paddedLastBlock, false);
  await assertParallelEqualsSerial(index, 'data', data.length);
});

test('a librsync signature (BLAKE2b-256, RabinKarp) scanned on worker threads finds what a serial scan finds', async () => {
  const sig = decodeLibrsyncSignature(encodeLibrsyncSignature(data, { blockLength: BS }));
  const index = librsyncToBlockIndex(sig, { lastBlockLength: data.length % BS });
  assert.equal(index.strongHash.name, 'blake2b-256');
  assert.equal(index.weakAlgorithm, 'rabinkarp');
  await assertParallelEqualsSerial(index, 'data', data.length);
});

test('a concatenated index with a short block scanned on worker threads finds the short block', async () => {
  const { index, firstBlock } = concatIndexes([await indexOf(aligned, { blockSize: BS }), await indexOf(short, { blockSize: BS })]);
  assert.equal(index.lengths?.[firstBlock[1]!], short.length);
  await assertParallelEqualsSerial(index, 'aligned+short', aligned.length + short.length);
});

test("an index with a caller's own strong hash is scanned on the calling thread, with the same result", async () => {
  const own: StrongHash = {
    name: 'sha512-first-half',
    digestLength: 32,
    hashInto(bytes, start, length, out, outOffset, outLength) {
      const d = oneShotHash('sha512', bytes.subarray(start, start + length), 'buffer') as unknown as Uint8Array;
      out.set(d.subarray(0, outLength), outOffset);
    },
    create() {
      throw new Error('not needed by a scan');
    },
  };
  const base = await indexOf(data, { blockSize: BS });
  const strong = new Uint8Array(base.blockCount * base.strongBytes);
  for (let i = 0; i < base.blockCount; i++) {
    const block = new Uint8Array(BS);
    block.set(data.subarray(i * BS, Math.min(data.length, (i + 1) * BS)));
    own.hashInto(block, 0, BS, strong, i * base.strongBytes, base.strongBytes);
  }
  await assertParallelEqualsSerial({ ...base, strongHash: own, strong }, 'data', data.length);
});

test('an abort during a scan on worker threads rejects with GOSYNC_ERR_ABORTED', async () => {
  // Nothing of this index is in the file: every section is scanned to its end. Two
  // threads and more sections than threads, so sections are queued when the first ends.
  const index = await indexOf(randomBytes(256 * 1024, 33), { blockSize: BS });
  const big = join(dir, 'big');
  await writeFile(big, randomBytes(3 * PARALLEL_MIN_SIZE + 12345, 34));
  const ac = new AbortController();
  let progressAfterAbort = 0;
  await assert.rejects(
    scanLocalFiles(index, [big], {
      threads: 2,
      signal: ac.signal,
      onProgress: () => {
        if (ac.signal.aborted) progressAfterAbort++;
        ac.abort();
      },
    }),
    isAborted,
  );
  assert.equal(progressAfterAbort, 0, 'no section reports progress after the abort');
});

test('a worker pool rejects queued and running tasks on abort, and runs later tasks on a new worker', async () => {
  const index = await indexOf(randomBytes(256 * 1024, 35), { blockSize: BS });
  const shared = shareIndex(index, 'abort-test');
  const size = data.length;
  const scan = (sections: [number, number][]): ScanTask => ({
    kind: 'scan',
    index: shared,
    path: join(dir, 'data'),
    source: 0,
    sections,
    known: new Uint8Array(0),
    fileSize: size,
  });
  const pool = new WorkerPool(1);
  try {
    const ac = new AbortController();
    const running = pool.run(scan([[0, size]]), [], ac.signal);
    const queued = pool.run(scan([[0, size]]), [], ac.signal);
    ac.abort();
    await assert.rejects(running, isAborted);
    await assert.rejects(queued, isAborted);
    // The aborted task's worker was terminated; the pool starts another one.
    const r = await pool.run<{ records: ArrayBuffer }>({
      kind: 'records',
      shape: { blockSize: BS, weakBytes: 4, strongBytes: 8 },
      buffer: new ArrayBuffer(BS),
      length: BS,
    });
    assert.equal(r.records.byteLength, 12 + 32, "one record, then its block's full SHA-256");
    // A task that ends before its signal fires is unaffected by the abort.
    const late = new AbortController();
    const small = await pool.run<{ records: ArrayBuffer }>(
      { kind: 'records', shape: { blockSize: BS, weakBytes: 4, strongBytes: 8 }, buffer: new ArrayBuffer(BS), length: BS },
      [],
      late.signal,
    );
    late.abort();
    assert.equal(small.records.byteLength, 12 + 32, "one record, then its block's full SHA-256");
  } finally {
    await pool.close();
  }
});
