import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { BlockMatcher } from '../../src/core/matcher.js';
import { concat, indexOf, randomBytes } from '../helpers/data.js';
import { patchMemory, scanMemory } from '../helpers/memory-patch.js';

test('blocks are found at any byte offset after an insertion', async () => {
  const old = randomBytes(200_000, 11);
  const neu = concat(old.subarray(0, 100_001), randomBytes(37, 12), old.subarray(100_001));
  const index = await indexOf(neu, { blockSize: 1024 });
  const m = scanMemory(index, [old]);
  // Only the block holding the insertion (and possibly its neighbour) is missing.
  const missing = m.missingSpans();
  assert.equal(missing.length, 1);
  assert.ok(missing[0]!.blockCount <= 2, `missing ${missing[0]!.blockCount} blocks`);
  // The blocks after the insertion were found 37 bytes earlier in the old file.
  const after = Math.ceil((100_001 + 37) / 1024) + 1;
  assert.equal(m.foundSource[after], 0);
  assert.equal(m.foundOffset[after], after * 1024 - 37);
});

test('a deletion shifts matches the other way', async () => {
  const old = randomBytes(100_000, 3);
  const neu = concat(old.subarray(0, 50_000), old.subarray(50_500));
  const index = await indexOf(neu, { blockSize: 512 });
  const r = await patchMemory(index, [old], neu);
  assert.deepEqual(Buffer.from(r.output), Buffer.from(neu));
  assert.ok(r.result.fetchedBytes <= 2 * 512, `fetched ${r.result.fetchedBytes}`);
});

test('repeated identical blocks are all filled from one local copy', async () => {
  const block = randomBytes(256, 5);
  const neu = concat(randomBytes(256, 6), block, block, block, randomBytes(256, 7), block, block);
  const index = await indexOf(neu, { blockSize: 256 });
  // The local file holds the repeated block (twice, so a pair can match) and nothing else.
  const m = scanMemory(index, [concat(block, block)]);
  for (const i of [1, 2, 3, 5, 6]) assert.equal(m.foundSource[i], 0, `block ${i}`);
  for (const i of [0, 4]) assert.equal(m.foundSource[i], -1, `block ${i}`);
});

test('the next sequential block is preferred after a match', async () => {
  // Block 3 is a twin of block 0. After the first match it is filled from offset 0, but
  // the continuation rule still takes it from where it stands, so the copy is one run.
  const [a, b, c, d] = [1, 2, 3, 4].map((s) => randomBytes(64, s)) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  const neu = concat(a, b, c, a, d);
  const index = await indexOf(neu, { blockSize: 64 });
  const m = scanMemory(index, [neu]);
  assert.equal(m.foundCount, 5);
  assert.deepEqual(m.foundSpans(), [{ firstBlock: 0, blockCount: 5, source: 0, offset: 0 }]);
});

test('a file of identical blocks is complete after one match', async () => {
  const neu = new Uint8Array(64 * 20);
  const index = await indexOf(neu, { blockSize: 64 });
  const m = scanMemory(index, [new Uint8Array(64 * 20)]);
  assert.equal(m.foundCount, 20);
  assert.ok(m.complete);
});

test('the last partial block matches the tail of a local file', async () => {
  const neu = randomBytes(10_240 + 123, 21);
  const index = await indexOf(neu, { blockSize: 1024 });
  // Local = the new file without its first 500 bytes: the tail block is still at the end.
  const m = scanMemory(index, [neu.subarray(500)]);
  assert.equal(m.foundSource[10], 0);
  assert.equal(m.foundOffset[10], 10_240 - 500);
});

test('matches never extend past the end of the local file', async () => {
  // Reference: data then zeros. Local: just the data. The zero blocks must not match the
  // padding the scanner adds after the local end.
  const data = randomBytes(4096, 2);
  const neu = concat(data, new Uint8Array(4096));
  const index = await indexOf(neu, { blockSize: 1024 });
  const m = scanMemory(index, [data]);
  for (let i = 4; i < 8; i++) assert.equal(m.foundSource[i], -1, `zero block ${i}`);
  assert.equal(m.foundCount, 4);
});

test('several local files (seeds) each contribute', async () => {
  const a = randomBytes(8192, 31);
  const b = randomBytes(8192, 32);
  const neu = concat(b.subarray(0, 4096), a.subarray(2048, 6144));
  const index = await indexOf(neu, { blockSize: 1024 });
  const m = scanMemory(index, [a, b]);
  assert.equal(m.foundCount, 8);
  assert.deepEqual(Array.from(m.foundSource), [1, 1, 1, 1, 0, 0, 0, 0]);
  assert.deepEqual(m.foundSpans(), [
    { firstBlock: 0, blockCount: 4, source: 1, offset: 0 },
    { firstBlock: 4, blockCount: 4, source: 0, offset: 2048 },
  ]);
});

test('an unrelated file finds nothing and the scan stats count work', async () => {
  const neu = randomBytes(50_000, 41);
  const index = await indexOf(neu, { blockSize: 2048 });
  const m = new BlockMatcher(index);
  const s = m.scanner(0);
  s.push(randomBytes(300_000, 42));
  s.end();
  assert.equal(m.foundCount, 0);
  assert.equal(m.stats.bytesScanned, 300_000);
  assert.deepEqual(m.missingSpans(), [{ firstBlock: 0, blockCount: index.blockCount }]);
});

test('scanning stops once every block is found', async () => {
  const neu = randomBytes(20_000, 51);
  const index = await indexOf(neu, { blockSize: 1024 });
  const m = scanMemory(index, [neu, neu]);
  assert.ok(m.complete);
  assert.ok(
    Array.from(m.foundSource).every((s) => s === 0),
    'the second copy was not needed',
  );
});

test('4-byte weak checksums match at shifted offsets too (values with bit 31 set)', async () => {
  // The local file holds the reference's block pairs in another order, each after a few
  // junk bytes: every pair must be found by a lookup of its weak sums, none by prediction.
  const neu = randomBytes(40 * 1024, 61);
  const index = await indexOf(neu, { blockSize: 1024, hashLengths: { weakBytes: 4 } });
  assert.ok(
    Array.from(index.weak).some((w) => w >= 0x80000000),
    'some stored sums have bit 31 set',
  );
  const parts: Uint8Array[] = [];
  for (let k = 19; k >= 0; k--) parts.push(randomBytes(1 + k, 100 + k), neu.subarray(2 * k * 1024, (2 * k + 2) * 1024));
  const m = scanMemory(index, [concat(...parts)]);
  assert.equal(m.foundCount, index.blockCount);
});

/** An in-memory index with RabinKarp weak sums (as librsync's), SHA-256 strong hashes. */
async function rabinKarpIndexOf(data: Uint8Array, blockSize: number) {
  const { rabinKarpChecksum } = await import('../../src/core/rabin-karp.js');
  const base = await indexOf(data, { blockSize, hashLengths: { seqMatches: 1, weakBytes: 4, strongBytes: 16 } });
  const weak = new Uint32Array(base.blockCount);
  const block = new Uint8Array(blockSize);
  for (let i = 0; i < base.blockCount; i++) {
    block.fill(0);
    block.set(data.subarray(i * blockSize, (i + 1) * blockSize));
    weak[i] = rabinKarpChecksum(block);
  }
  return { ...base, weak, weakAlgorithm: 'rabinkarp' as const };
}

test('RabinKarp weak sums: blocks found at shifted offsets, whole and byte by byte', async () => {
  const old = randomBytes(60_000, 71);
  const neu = concat(old.subarray(0, 10_000), randomBytes(33, 72), old.subarray(10_000, 40_000), old.subarray(40_500));
  const index = await rabinKarpIndexOf(neu, 512);
  const whole = scanMemory(index, [old]);
  assert.ok(whole.foundCount >= index.blockCount - 4, `found ${whole.foundCount} of ${index.blockCount}`);
  const bytewise = scanMemory(index, [old], [1]);
  assert.deepEqual(bytewise.foundSource, whole.foundSource);
  assert.deepEqual(bytewise.foundOffset, whole.foundOffset);
  const r = await patchMemory(index, [old], neu);
  assert.deepEqual(Buffer.from(r.output), Buffer.from(neu));
});

test('repeat mode reports every occurrence, in file order, without overlap', async () => {
  const a = randomBytes(256, 81);
  const b = randomBytes(256, 82);
  const index = await indexOf(concat(a, b), { blockSize: 256, hashLengths: { seqMatches: 1, weakBytes: 4, strongBytes: 8 } });
  const events: [number, number][] = [];
  const m = new BlockMatcher(index, { repeat: true, onMatch: (block, offset) => events.push([block, offset]) });
  const s = m.scanner(0);
  s.push(concat(a, randomBytes(10, 83), b, a, a, b));
  s.end();
  assert.deepEqual(events, [
    [0, 0],
    [1, 266],
    [0, 522],
    [0, 778],
    [1, 1034],
  ]);
  assert.equal(m.complete, false);
});

test('with a block digest in the index, the matcher keeps the full SHA-256 of every block it accepts, pairs, predictions and twins alike', async () => {
  const bs = 256;
  const twin = randomBytes(bs, 77);
  // Blocks 0..39 with block 10 repeated at 30 (twins); the local file shifts them, edits two.
  const reference = concat(randomBytes(10 * bs, 70), twin, randomBytes(19 * bs, 71), twin, randomBytes(9 * bs, 72), randomBytes(100, 73));
  const index = await indexOf(reference, { blockSize: bs });
  const local = Uint8Array.from(concat(randomBytes(33, 74), reference));
  local[33 + 5 * bs + 7]! ^= 1;
  local[33 + 20 * bs]! ^= 1;
  const m = new BlockMatcher(index);
  const s = m.scanner(0);
  s.push(local);
  s.end();
  assert.ok(m.fullHashes, 'hashes kept');
  assert.ok(m.foundCount >= index.blockCount - 2, `${m.foundCount} of ${index.blockCount}`);
  for (let i = 0; i < index.blockCount; i++) {
    if (m.foundSource[i] === -1) continue;
    const block = new Uint8Array(bs);
    block.set(reference.subarray(i * bs, (i + 1) * bs));
    assert.deepEqual(Buffer.from(m.fullHashes.subarray(i * 32, (i + 1) * 32)), createHash('sha256').update(block).digest(), `block ${i}`);
  }
  // Without a block digest (an older index) nothing is kept unless asked.
  const old = await indexOf(reference, { blockSize: bs, blockDigest: false });
  assert.equal(new BlockMatcher(old).fullHashes, undefined);
  assert.ok(new BlockMatcher(old, { keepHashes: true }).fullHashes);
});
