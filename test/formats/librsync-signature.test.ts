import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import {
  LibrsyncSignatureBuilder,
  RS_BLAKE2_SIG_MAGIC,
  RS_MD4_SIG_MAGIC,
  RS_RK_BLAKE2_SIG_MAGIC,
  RS_RK_MD4_SIG_MAGIC,
  decodeLibrsyncSignature,
  describeLibrsyncMagic,
  encodeLibrsyncSignature,
  encodeLibrsyncSignatureRecords,
  isLibrsyncSignature,
  librsyncMinStrongLength,
  librsyncRecommendedBlockLength,
  librsyncRollsum,
  librsyncSignatureParams,
  librsyncTailMatch,
  librsyncToBlockIndex,
  librsyncWeakToPadded,
  type LibrsyncHash,
  type LibrsyncRollsum,
} from '../../src/formats/librsync-signature.js';
import { blake2b256Digest } from '../../src/core/hashing/blake2b.js';
import { md4Digest } from '../../src/core/hashing/md4.js';
import { rabinKarpChecksum } from '../../src/core/rabin-karp.js';
import { weakChecksum } from '../../src/core/rollsum.js';
import { chunked, concat, randomBytes } from '../helpers/data.js';

const enc = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const OLD = enc('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!?');

/** All four magics. */
const KINDS: [LibrsyncHash, LibrsyncRollsum, number][] = [
  ['md4', 'rollsum', RS_MD4_SIG_MAGIC],
  ['blake2', 'rollsum', RS_BLAKE2_SIG_MAGIC],
  ['md4', 'rabinkarp', RS_RK_MD4_SIG_MAGIC],
  ['blake2', 'rabinkarp', RS_RK_BLAKE2_SIG_MAGIC],
];

function isCode(code: string) {
  return (e: unknown) => SyncError.is(e) && e.code === code;
}

test('the worked example: rdiff -b 16 -S 8 signature (RabinKarp + BLAKE2b-256), bytes as rdiff 2.3.2 writes them', () => {
  const sig = encodeLibrsyncSignature(OLD, { blockLength: 16, strongLength: 8 });
  assert.equal(
    hex(sig),
    '72730147' +
      '00000010' +
      '00000008' +
      '518d31a9' +
      '5dc67514d3f5b93a' +
      '90adcf75' +
      '2c8804b02df4aa31' +
      '60d94149' +
      'c5a6b826c1c77aae' +
      'fc15c094' +
      'e729e76a80a86223',
  );
  assert.equal(sig.length, 60);
});

test('the worked example: rdiff -b 16 -S 8 -H md4 -R rollsum signature (magic 0x72730136)', () => {
  const sig = encodeLibrsyncSignature(OLD, { blockLength: 16, strongLength: 8, hash: 'md4', rollsum: 'rollsum' });
  assert.equal(hex(sig.subarray(0, 24)), '72730136' + '00000010' + '00000008' + '35a80678' + '44996e6c5e0e19f9');
  // Each record: librsync's rollsum of the block, then MD4[:8].
  for (let i = 0; i < 4; i++) {
    const block = OLD.subarray(16 * i, 16 * i + 16);
    let s1 = 0;
    let s2 = 0;
    for (const x of block) {
      s1 = (s1 + x + 31) & 0xffff;
      s2 = (s2 + s1) & 0xffff;
    }
    const p = 12 + 12 * i;
    assert.equal(Buffer.from(sig).readUInt32BE(p), ((s2 << 16) | s1) >>> 0);
    assert.deepEqual(sig.subarray(p + 4, p + 12), md4Digest(block).subarray(0, 8));
  }
});

test('records hold the weak sum and strong prefix of each block, the last one unpadded, for all four magics', () => {
  const data = randomBytes(1000, 3); // 1000 = 3 × 300 + 100
  for (const [hash, rollsum, magic] of KINDS) {
    const sig = encodeLibrsyncSignature(data, { hash, rollsum, blockLength: 300, strongLength: 5 });
    const d = decodeLibrsyncSignature(sig);
    assert.equal(d.magic, magic);
    assert.equal(d.hash, hash);
    assert.equal(d.rollsum, rollsum);
    assert.equal(d.blockCount, 4);
    assert.equal(d.blockLength, 300);
    assert.equal(d.strongLength, 5);
    for (let i = 0; i < 4; i++) {
      const block = data.subarray(300 * i, Math.min(1000, 300 * i + 300));
      const weak = rollsum === 'rabinkarp' ? rabinKarpChecksum(block) : librsyncRollsum(block);
      assert.equal(d.weak[i], weak);
      const strong = hash === 'md4' ? md4Digest(block) : blake2b256Digest(block);
      assert.deepEqual(d.strong.subarray(5 * i, 5 * i + 5), strong.subarray(0, 5));
    }
    assert.deepEqual(encodeLibrsyncSignatureRecords(d), sig);
    assert.ok(isLibrsyncSignature(sig));
    assert.deepEqual(describeLibrsyncMagic(magic), { hash, rollsum });
  }
});

test('the builder gives the same bytes in any chunking', () => {
  const data = randomBytes(5000, 9);
  const params = librsyncSignatureParams(data.length, { blockLength: 700, strongLength: 7, hash: 'md4' });
  const whole = encodeLibrsyncSignature(data, { blockLength: 700, strongLength: 7, hash: 'md4' });
  for (const sizes of [[1], [699, 2], [700], [1401], [5000]]) {
    const b = new LibrsyncSignatureBuilder(params);
    const parts = [b.header()];
    for (const c of chunked(data, sizes)) parts.push(b.push(c));
    parts.push(b.end());
    assert.deepEqual(concat(...parts), whole, sizes.join(','));
    assert.equal(b.blockCount, 8);
  }
});

test("rdiff's defaults: magic, block length and strong length from the basis size (as observed with rdiff 2.3.2)", () => {
  // [size, block, -S -1 strong] as rdiff 2.3.2 wrote them
  const observed: [number, number, number][] = [
    [0, 256, 5],
    [1, 256, 5],
    [255, 256, 5],
    [256, 256, 6],
    [65536, 256, 6],
    [65537, 256, 6],
    [100000, 256, 6],
    [1000000, 896, 7],
    [16777216, 4096, 7],
    [20000000, 4352, 7],
    [209715200, 14464, 7],
    [300000000, 17280, 8],
  ];
  for (const [size, block, minStrong] of observed) {
    assert.equal(librsyncRecommendedBlockLength(size), block, `block for ${size}`);
    assert.equal(librsyncMinStrongLength(size, block), minStrong, `min strong for ${size}`);
    assert.deepEqual(librsyncSignatureParams(size), {
      magic: RS_RK_BLAKE2_SIG_MAGIC,
      hash: 'blake2',
      rollsum: 'rabinkarp',
      blockLength: block,
      strongLength: 32,
    });
    assert.equal(librsyncSignatureParams(size, { hash: 'md4', strongLength: -1 }).strongLength, minStrong);
  }
  // Size unknown (a pipe): block 2048, -S -1 gives 12.
  assert.equal(librsyncSignatureParams(undefined).blockLength, 2048);
  assert.equal(librsyncSignatureParams(undefined, { strongLength: -1 }).strongLength, 12);
  assert.equal(librsyncSignatureParams(10, { hash: 'md4' }).strongLength, 16);
  assert.equal(librsyncSignatureParams(10, { hash: 'md4', rollsum: 'rollsum' }).magic, RS_MD4_SIG_MAGIC);
  assert.equal(librsyncSignatureParams(10, { rollsum: 'rollsum' }).magic, RS_BLAKE2_SIG_MAGIC);
  assert.throws(() => librsyncSignatureParams(10, { hash: 'md4', strongLength: 17 }), RangeError);
  assert.throws(() => librsyncSignatureParams(10, { strongLength: 33 }), RangeError);
  assert.throws(() => librsyncSignatureParams(10, { strongLength: -2 }), RangeError);
  assert.throws(() => librsyncSignatureParams(10, { blockLength: 16 * 1024 * 1024 + 1 }), RangeError);
  assert.throws(() => librsyncSignatureParams(10, { hash: 'sha1' as LibrsyncHash }), RangeError);
});

test('stored weak sums convert to the engine form, including a short last block padded with zeros', () => {
  const B = 64;
  for (const m of [1, 17, 63, 64]) {
    const block = randomBytes(m, 100 + m);
    const padded = new Uint8Array(B);
    padded.set(block);
    // rollsum: librsync's digest over m bytes → gosync's a<<16|b of the zero-padded block
    assert.equal(librsyncWeakToPadded('rollsum', librsyncRollsum(block), m, B), weakChecksum(padded), `rollsum m=${m}`);
    // RabinKarp: h_m · M^(B−m)
    assert.equal(librsyncWeakToPadded('rabinkarp', rabinKarpChecksum(block), m, B), rabinKarpChecksum(padded), `rabinkarp m=${m}`);
  }
  // Large windows (n(n+1)/2 over 2^53 when done naively).
  const big = randomBytes(70000, 4);
  const bigPadded = new Uint8Array(131072);
  bigPadded.set(big);
  assert.equal(librsyncWeakToPadded('rollsum', librsyncRollsum(big), big.length, bigPadded.length), weakChecksum(bigPadded));
});

test('librsyncToBlockIndex maps a signature for the matcher: last block length, weak form, unpadded strong hash', () => {
  const data = randomBytes(1000, 8);
  for (const [hash, rollsum] of KINDS) {
    const sig = decodeLibrsyncSignature(encodeLibrsyncSignature(data, { hash, rollsum, blockLength: 300, strongLength: 6 }));
    const index = librsyncToBlockIndex(sig, { lastBlockLength: 100 });
    assert.equal(index.fileSize, 1000);
    assert.equal(index.blockCount, 4);
    assert.equal(index.seqMatches, 1);
    assert.equal(index.weakBytes, 4);
    assert.equal(index.strongBytes, 6);
    assert.equal(index.paddedLastBlock, false);
    assert.equal(index.weakAlgorithm, rollsum);
    assert.equal(index.strongHash.name, hash === 'md4' ? 'md4' : 'blake2b-256');
    const padded = new Uint8Array(300);
    padded.set(data.subarray(900));
    assert.equal(index.weak[3], rollsum === 'rabinkarp' ? rabinKarpChecksum(padded) : weakChecksum(padded));
    assert.equal(index.weak[0], rollsum === 'rabinkarp' ? rabinKarpChecksum(data, 0, 300) : weakChecksum(data, 0, 300));
    // Without the length, the last block is taken as a full one.
    assert.equal(librsyncToBlockIndex(sig).fileSize, 1200);
    assert.throws(() => librsyncToBlockIndex(sig, { lastBlockLength: 301 }), RangeError);
  }
  const empty = decodeLibrsyncSignature(encodeLibrsyncSignature(new Uint8Array(0)));
  assert.equal(empty.blockCount, 0);
  assert.equal(librsyncToBlockIndex(empty).fileSize, 0);
});

test('librsyncTailMatch finds the short last block at the end of the new file, longest first', () => {
  const old = randomBytes(1000, 21); // last block: 100 bytes
  for (const [hash, rollsum] of KINDS) {
    const sig = decodeLibrsyncSignature(encodeLibrsyncSignature(old, { hash, rollsum, blockLength: 300 }));
    const tail = old.subarray(900);
    assert.equal(librsyncTailMatch(sig, concat(randomBytes(500, 1), tail)), 100, `${hash}/${rollsum}`);
    assert.equal(librsyncTailMatch(sig, tail), 100);
    assert.equal(librsyncTailMatch(sig, concat(tail, Uint8Array.of(1))), 0);
    assert.equal(librsyncTailMatch(sig, tail.subarray(1)), 0);
    // The window is bounded by `start`: a match needs all 100 bytes after it.
    const buf = concat(randomBytes(50, 2), tail);
    assert.equal(librsyncTailMatch(sig, buf, 51), 0);
    assert.equal(librsyncTailMatch(sig, buf, 50), 100);
  }
});

test('malformed signatures are INDEX_CORRUPT (or UNSUPPORTED) with a clear reason', () => {
  const good = encodeLibrsyncSignature(randomBytes(1000, 1), { blockLength: 300, strongLength: 8 });
  const set = (bytes: Uint8Array, at: number, v: number) => {
    const c = bytes.slice();
    Buffer.from(c.buffer, c.byteOffset, c.length).writeUInt32BE(v, at);
    return c;
  };
  const cases: [Uint8Array, RegExp, string][] = [
    [good.subarray(0, good.length - 1), /last block record is truncated \(11 of 12 bytes\)/, ErrorCodes.INDEX_CORRUPT],
    [good.subarray(0, 12 + 5), /truncated \(5 of 12 bytes\)/, ErrorCodes.INDEX_CORRUPT],
    [good.subarray(0, 3), /shorter than the 4-byte magic/, ErrorCodes.INDEX_CORRUPT],
    [good.subarray(0, 10), /shorter than the 12-byte header/, ErrorCodes.INDEX_CORRUPT],
    [set(good, 0, 0x72730138), /magic number 0x72730138 is not one of a signature/, ErrorCodes.INDEX_CORRUPT],
    [set(good, 0, 0x72730236), /it is a delta/, ErrorCodes.INDEX_CORRUPT],
    [set(good, 4, 0), /block length is 0/, ErrorCodes.INDEX_CORRUPT],
    [set(good, 4, 0xffffffff), /block length 4294967295 is over the 16777216 bytes/, ErrorCodes.INDEX_UNSUPPORTED],
    [set(good, 8, 0), /strong sum length 0 is not 1 to 32/, ErrorCodes.INDEX_CORRUPT],
    [set(good, 8, 33), /strong sum length 33 is not 1 to 32/, ErrorCodes.INDEX_CORRUPT],
    [set(set(good, 0, RS_MD4_SIG_MAGIC), 8, 17), /strong sum length 17 is not 1 to 16 \(MD4\)/, ErrorCodes.INDEX_CORRUPT],
    [set(good, 8, 0x80000000), /strong sum length 2147483648/, ErrorCodes.INDEX_CORRUPT],
  ];
  for (const [bytes, message, code] of cases) {
    assert.throws(
      () => decodeLibrsyncSignature(bytes),
      (e: unknown) =>
        isCode(code)(e) && message.test((e as Error).message) && /^Cannot (read|use) the librsync signature/.test((e as Error).message),
      String(message),
    );
  }
  assert.throws(() => decodeLibrsyncSignature(good, { maxBytes: 20 }), /over the limit of 20/);
  // The header alone is a valid signature of an empty basis.
  assert.equal(decodeLibrsyncSignature(good.subarray(0, 12)).blockCount, 0);
});
