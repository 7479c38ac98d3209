import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import type { BlockSource, ByteRange, ReadRangesOptions } from '../../src/core/block-source.js';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import type { BlockIndex } from '../../src/core/index/block-index.js';
import { missingSpansOf } from '../../src/core/matcher.js';
import { assemble, type AssembleOptions, type PatchProgress } from '../../src/core/patcher.js';
import { planRanges } from '../../src/core/planner.js';
import { decodeGoSyncV0Index, encodeGoSyncV0Index, goSyncV0AsBlockIndex } from '../../src/formats/gosync-v0.js';
import { MemorySource } from '../../src/sources/memory-source.js';
import { concat, indexOf, randomBytes } from '../helpers/data.js';
import { memoryReader } from '../helpers/memory-patch.js';

const BS = 1024;
// Blocks 0..7 of 1024 bytes and a last block 8 of 500.
const reference = randomBytes(8 * BS + 500, 41);
const blockAt = (i: number) => reference.subarray(i * BS, Math.min(reference.length, (i + 1) * BS));
// Local file 0 holds blocks 0..2 in place; local file 1 holds blocks 5 and 6 at offset 100.
const local0 = concat(reference.subarray(0, 3 * BS), randomBytes(2000, 42));
const local1 = concat(randomBytes(100, 43), blockAt(5), blockAt(6), randomBytes(50, 44));

/** Where the blocks are: 0..2 in local 0, 5..6 in local 1, the rest (3, 4, 7, 8) fetched. */
function found(index: BlockIndex) {
  const foundSource = new Int32Array(index.blockCount).fill(-1);
  const foundOffset = new Float64Array(index.blockCount);
  for (const i of [0, 1, 2]) {
    foundSource[i] = 0;
    foundOffset[i] = i * BS;
  }
  for (const i of [5, 6]) {
    foundSource[i] = 1;
    foundOffset[i] = 100 + (i - 5) * BS;
  }
  const ranges = planRanges(missingSpansOf(foundSource), { fileSize: index.fileSize, blockSize: BS });
  return { foundSource, foundOffset, ranges };
}

/** A sink that keeps what it is given (copies: the patcher reuses its buffers). */
function collector() {
  const parts: Uint8Array[] = [];
  return {
    sink: {
      async write(d: Uint8Array) {
        parts.push(Uint8Array.from(d));
      },
    },
    output: () => concat(...parts),
  };
}

/** A source over the reference whose yielded bytes pass through `edit` first. */
function editedSource(edit: (chunk: Uint8Array, range: ByteRange) => Uint8Array | undefined, asked?: ByteRange[][]): BlockSource {
  const inner = new MemorySource(reference);
  return {
    name: 'edited',
    async *read(ranges: readonly ByteRange[], options: ReadRangesOptions = {}) {
      asked?.push([...ranges]);
      let r = 0;
      for await (const chunk of inner.read(ranges, options)) {
        const out = edit(Uint8Array.from(chunk), ranges[r++]!);
        if (out) yield out;
      }
    },
    close: async () => {},
  };
}

async function setup(options: Partial<AssembleOptions> = {}) {
  const index = await indexOf(reference, { blockSize: BS });
  const { foundSource, foundOffset, ranges } = found(index);
  const { sink, output } = collector();
  const run = () =>
    assemble({
      index,
      foundSource,
      foundOffset,
      locals: [memoryReader(local0), memoryReader(local1)],
      ranges,
      source: new MemorySource(reference),
      sink,
      ...options,
    });
  return { index, ranges, run, output };
}

const code = (c: string) => (e: unknown) => SyncError.is(e) && e.code === c;

test('assemble writes the reference from local spans and fetched ranges, and counts each', async () => {
  const asked: ByteRange[][] = [];
  const { ranges, run, output } = await setup({ source: editedSource((c) => c, asked) });
  assert.deepEqual(
    ranges.map((r) => [r.firstBlock, r.blockCount]),
    [
      [3, 2],
      [7, 2],
    ],
  );
  const result = await run();
  assert.deepEqual(output(), reference);
  assert.deepEqual(result, { reusedBytes: 5 * BS, fetchedBytes: 3 * BS + 500 });
  // Only the missing ranges were asked for, in one read.
  assert.deepEqual(asked, [
    [
      { start: 3 * BS, end: 5 * BS, firstBlock: 3, blockCount: 2 },
      { start: 7 * BS, end: reference.length, firstBlock: 7, blockCount: 2 },
    ],
  ]);
});

test('assemble accepts fetched data in any chunking', async () => {
  // Chunks of 1 to 700 bytes, splitting blocks anywhere.
  let k = 0;
  const source: BlockSource = {
    name: 'chunky',
    async *read(ranges) {
      for (const r of ranges) {
        for (let p = r.start; p < r.end; ) {
          const n = Math.min(r.end - p, 1 + ((k++ * 337) % 700));
          yield reference.slice(p, p + n);
          p += n;
        }
      }
    },
    close: async () => {},
  };
  const { run, output } = await setup({ source });
  await run();
  assert.deepEqual(output(), reference);
});

test('a fetched block that does not match its hash is BLOCK_MISMATCH, and the reading stops', async () => {
  let cancelled = false;
  const inner = editedSource((c, range) => {
    if (range.start === 7 * BS) c[10]! ^= 1; // block 7
    return c;
  });
  const source: BlockSource = {
    name: 'tampered',
    async *read(ranges, options) {
      try {
        yield* inner.read(ranges, options);
      } finally {
        cancelled = true;
      }
    },
    close: async () => {},
  };
  const { run } = await setup({ source });
  await assert.rejects(run(), (e: unknown) => code(ErrorCodes.BLOCK_MISMATCH)(e) && (e as SyncError).blockIndex === 7);
  assert.equal(cancelled, true, "the source's read was ended");
});

test('a source that sends too little or too much is HTTP_RESPONSE', async () => {
  const short = editedSource((c, range) => (range.start === 7 * BS ? c.subarray(0, c.length - 1) : c));
  await assert.rejects((await setup({ source: short })).run(), code(ErrorCodes.HTTP_RESPONSE));
  const long = editedSource((c, range) => (range.start === 7 * BS ? concat(c, new Uint8Array(1)) : c));
  await assert.rejects((await setup({ source: long })).run(), code(ErrorCodes.HTTP_RESPONSE));
});

test('a wrong local block is caught by the whole-file check (FILE_MISMATCH); a local file that ended early is SOURCE_CHANGED', async () => {
  const wrong = Uint8Array.from(local1);
  wrong[100 + 20]! ^= 1; // inside block 5
  await assert.rejects((await setup({ locals: [memoryReader(local0), memoryReader(wrong)] })).run(), code(ErrorCodes.FILE_MISMATCH));
  const cut = local1.subarray(0, 100 + BS + 10);
  await assert.rejects(
    (await setup({ locals: [memoryReader(local0), memoryReader(cut)] })).run(),
    (e: unknown) => code(ErrorCodes.SOURCE_CHANGED)(e) && (e as SyncError).offset === 100 + BS + 10,
  );
});

test('without a whole-file digest (go-sync) every local block is checked on its own', async () => {
  const index = goSyncV0AsBlockIndex(decodeGoSyncV0Index(encodeGoSyncV0Index(reference, BS)));
  const { foundSource, foundOffset, ranges } = found(index);
  const wrong = Uint8Array.from(local1);
  wrong[100 + BS + 5]! ^= 1; // inside block 6
  const run = (locals: Uint8Array[]) => {
    const { sink, output } = collector();
    const source = new MemorySource(reference);
    return assemble({ index, foundSource, foundOffset, locals: locals.map(memoryReader), ranges, source, sink }).then(() => output());
  };
  assert.deepEqual(await run([local0, local1]), reference);
  // The whole-file check could not see this: go-sync indexes have no whole-file digest.
  await assert.rejects(run([local0, wrong]), (e: unknown) => code(ErrorCodes.BLOCK_MISMATCH)(e) && (e as SyncError).blockIndex === 6);
});

test('a block neither found locally nor in a range is a RangeError (a caller bug)', async () => {
  const index = await indexOf(reference, { blockSize: BS });
  const { foundSource, foundOffset, ranges } = found(index);
  let reads = 0;
  const source = editedSource((c) => {
    reads++;
    return c;
  });
  await assert.rejects(
    assemble({ index, foundSource, foundOffset, locals: [memoryReader(local0)], ranges, source, sink: collector().sink }),
    (e: unknown) => e instanceof RangeError && /block 5 is neither found locally nor covered/.test(e.message),
  );
  assert.equal(reads, 1, 'only the first range was read');
});

test('assemble stops with ABORTED when its signal fires, before or during the work', async () => {
  const early = new AbortController();
  early.abort();
  let writes = 0;
  const counting = {
    async write() {
      writes++;
    },
  };
  await assert.rejects((await setup({ signal: early.signal, sink: counting })).run(), code(ErrorCodes.ABORTED));
  assert.equal(writes, 0);
  const late = new AbortController();
  const source = editedSource((c, range) => {
    if (range.start === 3 * BS) late.abort(new Error('stop'));
    return c;
  });
  await assert.rejects((await setup({ signal: late.signal, source, sink: counting })).run(), code(ErrorCodes.ABORTED));
});

test('a failed write rejects assemble with its error', async () => {
  const failure = new Error('disk full');
  const sink = {
    async write() {
      throw failure;
    },
  };
  await assert.rejects((await setup({ sink })).run(), (e) => e === failure);
});

test('progress counts written bytes up to the file size, in order', async () => {
  // 9 MiB: more than two of the patcher's 4 MiB write buffers.
  const big = randomBytes(9 * 1024 * 1024 + 123, 45);
  const bs = 64 * 1024;
  const index = await indexOf(big, { blockSize: bs });
  const foundSource = new Int32Array(index.blockCount).fill(-1);
  const foundOffset = new Float64Array(index.blockCount);
  // The first half is local, the rest fetched.
  const half = Math.floor(index.blockCount / 2);
  for (let i = 0; i < half; i++) {
    foundSource[i] = 0;
    foundOffset[i] = i * bs;
  }
  const ranges = planRanges(missingSpansOf(foundSource), { fileSize: big.length, blockSize: bs });
  const events: PatchProgress[] = [];
  const { sink, output } = collector();
  await assemble({
    index,
    foundSource,
    foundOffset,
    locals: [memoryReader(big)],
    ranges,
    source: new MemorySource(big),
    sink,
    onProgress: (p) => events.push({ ...p }),
  });
  assert.deepEqual(output(), big);
  assert.ok(events.length >= 3, `${events.length} events`);
  assert.ok(events.every((e) => e.phase === 'fetch' && e.total === big.length));
  for (let i = 1; i < events.length; i++) assert.ok(events[i]!.done > events[i - 1]!.done);
  assert.equal(events.at(-1)!.done, big.length);
});

/** The full SHA-256 of every block of `data` (the last one zero-padded), 32 bytes each. */
function fullHashesOf(data: Uint8Array, blockSize: number): Uint8Array {
  const n = Math.ceil(data.length / blockSize);
  const out = new Uint8Array(n * 32);
  for (let i = 0; i < n; i++) {
    const block = new Uint8Array(blockSize);
    block.set(data.subarray(i * blockSize, (i + 1) * blockSize));
    out.set(createHash('sha256').update(block).digest(), i * 32);
  }
  return out;
}

test("with the local blocks' full hashes, the result is checked by the block digest, not by hashing it again", async () => {
  const { index, run, output } = await setup({ localHashes: fullHashesOf(reference, BS) });
  assert.ok(index.blockDigest, 'the index has a block digest (version 5)');
  await run();
  assert.deepEqual(output(), reference);
  // Wrong hashes for the local blocks fail the block digest although every byte is right:
  // the check is the digest (fetched blocks' hashes computed as they are verified), no second pass.
  const wrong = fullHashesOf(reference, BS);
  wrong[1 * 32]! ^= 1;
  const bad = await setup({ localHashes: wrong });
  await assert.rejects(bad.run(), (e: unknown) => code(ErrorCodes.FILE_MISMATCH)(e) && /block hashes/.test((e as Error).message));
  // A fetched block's hash is computed, not taken from the given ones: wrong ones there pass.
  const fetchedWrong = fullHashesOf(reference, BS);
  fetchedWrong[3 * 32]! ^= 1;
  const ok = await setup({ localHashes: fetchedWrong });
  await ok.run();
  assert.deepEqual(ok.output(), reference);
  // Without a block digest in the index (an older version), the given hashes are ignored.
  const old = await indexOf(reference, { blockSize: BS, blockDigest: false });
  const { foundSource, foundOffset, ranges } = found(old);
  const c = collector();
  await assemble({
    index: old,
    foundSource,
    foundOffset,
    locals: [memoryReader(local0), memoryReader(local1)],
    ranges,
    source: new MemorySource(reference),
    sink: c.sink,
    localHashes: wrong,
  });
  assert.deepEqual(c.output(), reference);
});

/** Assembles `reference` with nothing found locally: every range comes from the source, through `sink`. */
async function assembleAllFromSource(sink: AssembleOptions['sink'], onProgress?: (p: PatchProgress) => void) {
  const index = await indexOf(reference, { blockSize: BS });
  const none = new Int32Array(index.blockCount).fill(-1);
  return assemble({
    index,
    foundSource: none,
    foundOffset: new Float64Array(index.blockCount),
    locals: [],
    ranges: planRanges(missingSpansOf(none), { fileSize: index.fileSize, blockSize: BS }),
    source: new MemorySource(reference),
    sink,
    ...(onProgress ? { onProgress } : {}),
  });
}

test('a sink that copies the whole source by itself is verified by reading it back; a wrong copy is emptied and written the ordinary way', async () => {
  for (const damage of [false, true]) {
    const held = Uint8Array.from(reference);
    if (damage) held[7 * BS + 3]! ^= 1;
    let copied = 0;
    let resets = 0;
    let closed = 0;
    const { sink, output } = collector();
    const copying = {
      ...sink,
      async copyWhole(source: BlockSource, length: number) {
        assert.equal(source.name, 'memory');
        assert.equal(length, reference.length);
        copied++;
        return {
          ...memoryReader(held),
          reset: async () => {
            resets++;
          },
          close: async () => {
            closed++;
          },
        };
      },
    };
    const progress: number[] = [];
    const result = await assembleAllFromSource(copying, (p) => progress.push(p.done));
    assert.deepEqual(result, { reusedBytes: 0, fetchedBytes: reference.length });
    assert.equal(copied, 1);
    assert.equal(closed, 1);
    assert.equal(resets, damage ? 1 : 0);
    // Written through the sink only when the copy failed its check.
    assert.deepEqual(output(), damage ? reference : new Uint8Array(0));
    assert.equal(progress.at(-1), reference.length);
  }
});

test('a copied output longer than the reference is not accepted as it is', async () => {
  let resets = 0;
  const { sink, output } = collector();
  await assembleAllFromSource({
    ...sink,
    copyWhole: async () => ({
      ...memoryReader(concat(reference, Uint8Array.of(1))),
      reset: async () => {
        resets++;
      },
      close: async () => {},
    }),
  });
  assert.equal(resets, 1);
  assert.deepEqual(output(), reference);
});
