import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { RollingChecksum, weakChecksum, weakMask } from '../../src/core/rollsum.js';
import { randomBytes } from '../helpers/data.js';

/** The definition, computed the slow way: a = Σx, b = Σ(n−i)x, both mod 2^16. */
function naive(data: Uint8Array, start: number, n: number): number {
  let a = 0;
  let b = 0;
  for (let i = 0; i < n; i++) {
    a += data[start + i]!;
    b += (n - i) * data[start + i]!;
  }
  return (((a % 65536) << 16) | (b % 65536)) >>> 0;
}

test('weakChecksum equals the definition', () => {
  const data = randomBytes(5000, 7);
  for (const n of [1, 2, 16, 777, 2048, 4096]) assert.equal(weakChecksum(data, 3, n), naive(data, 3, n), `window ${n}`);
});

test('weakChecksum matches zsync 0.6.2 on its worked example', () => {
  // research: "|tail!!\n" + 8 NULs with block size 16 gives a=0x0272, b=0x214e.
  const block = new Uint8Array(16);
  block.set(Buffer.from('|tail!!\n'));
  assert.equal(weakChecksum(block), 0x0272214e);
});

test('rolling equals a fresh computation at every offset, for any window size', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 2, maxLength: 600 }), fc.integer({ min: 1, max: 70000 }), (data, wRaw) => {
      const w = 1 + (wRaw % (data.length - 1));
      const r = new RollingChecksum(w).init(data, 0);
      assert.equal(r.value, naive(data, 0, w));
      for (let x = 1; x + w <= data.length; x++) {
        r.roll(data[x - 1]!, data[x + w - 1]!);
        assert.equal(r.value, naive(data, x, w), `offset ${x}`);
      }
    }),
    { numRuns: 200 },
  );
});

test('rolling stays exact with a window that is a multiple of 65536', () => {
  const w = 65536;
  const data = randomBytes(w + 300, 3);
  const r = new RollingChecksum(w).init(data, 0);
  for (let x = 1; x + w <= data.length; x++) {
    r.roll(data[x - 1]!, data[x + w - 1]!);
    if (x % 37 === 0) assert.equal(r.value, naive(data, x, w));
  }
});

test('weakMask keeps the low bytes', () => {
  assert.equal(weakMask(1), 0xff);
  assert.equal(weakMask(2), 0xffff);
  assert.equal(weakMask(3), 0xffffff);
  assert.equal(weakMask(4), 0xffffffff);
  assert.throws(() => new RollingChecksum(0), RangeError);
});
