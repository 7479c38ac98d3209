import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { weakChecksum, weakChecksumBlocks } from '../../../src/core/rollsum.js';
import { WEAK_SUMS_WASM_BASE64 } from '../../../src/core/scan/weak-sums-wasm.js';
import { randomBytes } from '../../helpers/data.js';
import { assembledWat } from '../../helpers/wat.js';

test('the committed WebAssembly is weak-sums.wat assembled (npm run build:wasm)', async () => {
  assert.equal(WEAK_SUMS_WASM_BASE64, await assembledWat('weak-sums'), 'run npm run build:wasm after editing the .wat');
});

test('weakChecksumBlocks gives every block the weakChecksum of its bytes', () => {
  // Sizes below, at and above the 64 KiB piece, one not a multiple of 16 (JavaScript).
  for (const bs of [16, 48, 4096, 65536, 262144, 100]) {
    const count = 37;
    const data = randomBytes(bs * count + 5, bs);
    const out = new Uint32Array(count + 2);
    weakChecksumBlocks(data, 3, count, bs, out, 2);
    for (let k = 0; k < count; k++) assert.equal(out[k + 2], weakChecksum(data, 3 + k * bs, bs), `block size ${bs}, block ${k}`);
  }
});

test('weakChecksumBlocks wraps like weakChecksum on all-0xff blocks', () => {
  // The largest sums: 1 MiB blocks of 0xff overflow every 16-bit half many times.
  const bs = 1 << 20;
  const data = new Uint8Array(2 * bs).fill(0xff);
  const out = new Uint32Array(2);
  weakChecksumBlocks(data, 0, 2, bs, out);
  assert.deepEqual(Array.from(out), [weakChecksum(data, 0, bs), weakChecksum(data, bs, bs)]);
});

test('weakChecksumBlocks agrees with weakChecksum on arbitrary blocks', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 7 }), (steps, count, start) => {
      const bs = steps * 16;
      const data = randomBytes(start + bs * count, steps * 31 + count);
      const out = new Uint32Array(count);
      weakChecksumBlocks(data, start, count, bs, out);
      for (let k = 0; k < count; k++) assert.equal(out[k], weakChecksum(data, start + k * bs, bs));
    }),
  );
});
