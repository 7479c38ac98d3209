/**
 * A signature built against the sender's matcher: its blocks all share the weak sum of a
 * window the sender's file is full of (a zero block), with strong sums that match nothing.
 * Every byte offset of the file is then a weak hit. Walking the candidates of that weak sum
 * one strong sum at a time cost up to 1,024 comparisons per offset (the matcher's
 * candidate cap), and a real block past the cap was never found. The candidates of a
 * large group are searched by their strong sums now: a few comparisons per offset, and
 * the real block is found wherever it stands. What is asserted is counted, never timed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BlockMatcher } from '../../src/core/matcher.js';
import { LibrsyncDeltaGenerator, LibrsyncDeltaParser, applyLibrsyncDelta } from '../../src/formats/librsync-delta.js';
import { type LibrsyncSignature, librsyncSignatureMagic } from '../../src/formats/librsync-signature.js';
import { SignatureMaker } from '../../src/remote/wire/signature.js';
import { concat, indexOf, randomBytes } from '../helpers/data.js';

const BLOCK = 128;
const STRONG = 8;

/** The weak sum and strong sum of one block of `data`, as a gosync receiver sends them. */
function sumsOf(block: Uint8Array): { weak: number; strong: Uint8Array } {
  const m = new SignatureMaker({ blockLength: block.length, strongLength: STRONG });
  m.push(block);
  const rec = m.end().records;
  return { weak: Buffer.from(rec).readUInt32BE(0), strong: rec.slice(4, 4 + STRONG) };
}

/** `n` blocks sharing the weak sum of a zero block; strong sums random, or the real one at `real`. */
function hostileSignature(n: number, real?: number): LibrsyncSignature {
  const zero = sumsOf(new Uint8Array(BLOCK));
  const strong = randomBytes(n * STRONG, 99);
  if (real !== undefined) strong.set(zero.strong, real * STRONG);
  return {
    magic: librsyncSignatureMagic('md4', 'rabinkarp'),
    hash: 'md4',
    rollsum: 'rabinkarp',
    blockLength: BLOCK,
    strongLength: STRONG,
    blockCount: n,
    weak: new Uint32Array(n).fill(zero.weak),
    strong,
  };
}

/** The signature of records (4-byte weak sum, then the strong sum) as the sender keeps it. */
function signatureOf(records: Uint8Array, blockLength: number, strongLength: number): LibrsyncSignature {
  const n = records.length / (4 + strongLength);
  const weak = new Uint32Array(n);
  const strong = new Uint8Array(n * strongLength);
  for (let i = 0; i < n; i++) {
    const o = i * (4 + strongLength);
    weak[i] = Buffer.from(records).readUInt32BE(o);
    strong.set(records.subarray(o + 4, o + 4 + strongLength), i * strongLength);
  }
  return {
    magic: librsyncSignatureMagic('md4', 'rabinkarp'),
    hash: 'md4',
    rollsum: 'rabinkarp',
    blockLength,
    strongLength,
    blockCount: n,
    weak,
    strong,
  };
}

function deltaOf(sig: LibrsyncSignature, file: Uint8Array): { delta: Uint8Array; g: LibrsyncDeltaGenerator } {
  const g = new LibrsyncDeltaGenerator(sig);
  const parts: Uint8Array[] = [];
  for (let p = 0; p < file.length; p += 16 * 1024) {
    g.push(file.subarray(p, p + 16 * 1024));
    parts.push(g.take());
  }
  g.end();
  parts.push(g.take());
  return { delta: Buffer.concat(parts), g };
}

function stats(delta: Uint8Array): { literal: number; copied: number } {
  const p = new LibrsyncDeltaParser();
  p.push(delta);
  p.end();
  return { literal: p.stats.literalBytes, copied: p.stats.copyBytes };
}

test('4,096 blocks under one weak sum, none real: at most one rejected strong sum per offset of a zero file', () => {
  const file = new Uint8Array(64 * 1024);
  const sig = hostileSignature(4096);
  const { delta, g } = deltaOf(sig, file);
  const s = g.scanStats!;
  assert.equal(s.bytesScanned, file.length);
  // One window per byte offset, and the end's windows padded with zeros (a block's worth).
  const windows = s.bytesScanned + BLOCK;
  // Before: every offset compared 1,024 candidates (67,109,888 rejections for 64 KiB).
  assert.ok(s.falseMatches <= windows, `${s.falseMatches} strong sums rejected for ${s.bytesScanned} bytes scanned`);
  assert.ok(s.weakHits <= windows, `${s.weakHits} weak hits for ${s.bytesScanned} bytes`);
  assert.ok(s.strongHashes <= windows, `${s.strongHashes} strong hashes for ${s.bytesScanned} bytes`);
  assert.deepEqual(stats(delta), { literal: file.length, copied: 0 });
  assert.deepEqual(applyLibrsyncDelta(new Uint8Array(4096 * BLOCK), delta), file);
});

test('the one real block among 4,095 decoys under its weak sum is found (it was past the candidate cap)', () => {
  const file = new Uint8Array(64 * 1024);
  const real = 4000;
  const sig = hostileSignature(4096, real);
  const { delta, g } = deltaOf(sig, file);
  assert.deepEqual(stats(delta), { literal: 0, copied: file.length });
  const basis = new Uint8Array(4096 * BLOCK).fill(1);
  basis.fill(0, real * BLOCK, (real + 1) * BLOCK);
  assert.deepEqual(applyLibrsyncDelta(basis, delta), file);
  assert.ok(g.scanStats!.falseMatches <= g.scanStats!.bytesScanned + BLOCK);
});

/** `count` blocks of `bs` bytes, each one of `kinds` distinct random blocks (so groups grow large), and a short tail. */
function fromAlphabet(picks: number[], kinds: number, bs: number, tail: number): Uint8Array {
  const alphabet = Array.from({ length: kinds }, (_, k) => randomBytes(bs, 1000 + k));
  return concat(...picks.map((p) => alphabet[p % kinds]!), randomBytes(tail, 7));
}

test('large groups of identical and look-alike blocks: every block found where it is, in pairs and alone (property)', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.nat(5), { minLength: 2, maxLength: 60 }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 0, max: 63 }),
      fc.uint8Array({ maxLength: 40 }),
      async (picks, kinds, tail, prefix) => {
        const bs = 64;
        const basis = fromAlphabet(picks, kinds, bs, tail);
        const index = await indexOf(basis, { blockSize: bs });
        const m = new BlockMatcher(index);
        const s = m.scanner(0);
        const file = concat(prefix, basis);
        s.push(file);
        s.end();
        // The basis itself, after a prefix: every block is found, each where its bytes are.
        assert.equal(m.foundCount, index.blockCount);
        for (let i = 0; i < index.blockCount; i++) {
          const at = m.foundOffset[i]!;
          const len = Math.min(bs, basis.length - i * bs);
          assert.deepEqual(file.subarray(at, at + len), basis.subarray(i * bs, i * bs + len), `block ${i}`);
        }
        // The sender's way (every occurrence, single blocks): the delta rebuilds the file.
        const m2 = new SignatureMaker({ blockLength: bs, strongLength: 4 });
        m2.push(basis);
        const sig = signatureOf(m2.end().records, bs, 4);
        const { delta } = deltaOf(sig, file);
        assert.deepEqual(applyLibrsyncDelta(basis, delta), file);
      },
    ),
    { numRuns: 150 },
  );
});

test('one block under the weak sum of a zero block: the strong hashing of a zero file stays within its budget', () => {
  // 4 KiB blocks against 256 KiB of zeros: every offset a weak hit, each a 4 KiB hash (1 GiB
  // of hashing before); now at most 4 bytes hashed per byte scanned and 16 MiB.
  const bs = 4096;
  const zero = sumsOf(new Uint8Array(bs));
  const sig: LibrsyncSignature = {
    magic: librsyncSignatureMagic('md4', 'rabinkarp'),
    hash: 'md4',
    rollsum: 'rabinkarp',
    blockLength: bs,
    strongLength: STRONG,
    blockCount: 1,
    weak: Uint32Array.of(zero.weak),
    strong: zero.strong.map((b) => b ^ 0xff),
  };
  const file = new Uint8Array(256 * 1024);
  const { delta, g } = deltaOf(sig, file);
  const s = g.scanStats!;
  const hashed = s.strongHashes * bs;
  assert.ok(hashed <= 4 * s.bytesScanned + 16 * 1024 * 1024 + bs, `${hashed} bytes hashed for ${s.bytesScanned} scanned`);
  assert.deepEqual(stats(delta), { literal: file.length, copied: 0 });
  assert.deepEqual(applyLibrsyncDelta(new Uint8Array(bs), delta), file);
});
