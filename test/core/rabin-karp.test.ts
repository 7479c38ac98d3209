import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { RK_ADJ, RK_MULT, rabinKarpBlockSums, rabinKarpChecksum, rkPower } from '../../src/core/rabin-karp.js';

/** The definition with BigInt: SEED·M^n + Σ x[i]·M^(n−1−i) mod 2^32. */
function naive(data: Uint8Array, start: number, n: number): number {
  const M = BigInt(RK_MULT);
  let h = 1n;
  for (let i = 0; i < n; i++) h = (h * M + BigInt(data[start + i]!)) % 2n ** 32n;
  return Number(h);
}

test('rabinKarpChecksum equals the definition', () => {
  const data = Uint8Array.from({ length: 3000 }, (_, i) => (i * 131) & 0xff);
  for (const n of [0, 1, 2, 64, 1000]) assert.equal(rabinKarpChecksum(data, 5, n), naive(data, 5, n));
  assert.equal(rkPower(3), Number(BigInt(RK_MULT) ** 3n % 2n ** 32n));
});

test('librsync worked example: RabinKarp("ABCDEFGHIJKLMNOP") is 0x518d31a9', () => {
  // research/rsync.md: rdiff -b 16 signature of the 64-byte example, block 0.
  assert.equal(rabinKarpChecksum(Buffer.from('ABCDEFGHIJKLMNOP')), 0x518d31a9);
});

test('rolling RabinKarp equals a fresh computation at every offset', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 2, maxLength: 400 }), fc.integer({ min: 1, max: 1000 }), (data, wRaw) => {
      const w = 1 + (wRaw % (data.length - 1));
      const mn = rkPower(w) | 0;
      let h = rabinKarpChecksum(data, 0, w) | 0;
      for (let x = 1; x + w <= data.length; x++) {
        h = (Math.imul(h, RK_MULT) + data[x + w - 1]! - Math.imul(mn, data[x - 1]! + RK_ADJ)) | 0;
        assert.equal(h >>> 0, naive(data, x, w), `offset ${x}`);
      }
    }),
    { numRuns: 150 },
  );
});

test('rabinKarpBlockSums gives every block the rabinKarpChecksum of its bytes (WebAssembly for multiples of 16)', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(16, 32, 48, 100, 2048, 4096, 65536, 131072),
      fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 0, max: 7 }),
      fc.integer({ min: 0, max: 255 }),
      (bs, count, start, fill) => {
        const data = Uint8Array.from({ length: start + bs * count + 3 }, (_, i) => (i * 7919 + fill * (i >>> 3)) & 0xff);
        const out = new Uint32Array(count + 1);
        rabinKarpBlockSums(data, start, count, bs, out, 1);
        for (let k = 0; k < count; k++)
          assert.equal(out[k + 1], rabinKarpChecksum(data, start + k * bs, bs), `block size ${bs}, block ${k}`);
      },
    ),
    { numRuns: 60 },
  );
  // All-0xff blocks of 1 MiB, and the definition itself on one of them.
  const big = new Uint8Array(2 << 20).fill(0xff);
  const out = new Uint32Array(2);
  rabinKarpBlockSums(big, 0, 2, 1 << 20, out);
  assert.equal(out[0], naive(big, 0, 1 << 20));
  assert.equal(out[1], out[0]);
});
