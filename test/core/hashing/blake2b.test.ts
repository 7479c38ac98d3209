import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { Blake2b256, blake2b256, blake2b256Digest, blake2b256Into } from '../../../src/core/hashing/blake2b.js';
import { toHex } from '../../../src/core/hashing/strong-hash.js';
import { chunked, randomBytes } from '../../helpers/data.js';

const hex = (s: string) => toHex(blake2b256Digest(new TextEncoder().encode(s)));

test('BLAKE2b-256 gives the reference digests (digest length in the parameter block, not a truncated BLAKE2b-512)', () => {
  assert.equal(hex('abc'), 'bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319');
  assert.equal(hex(''), '0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8');
  const truncated512 = createHash('blake2b512').update('abc').digest('hex').slice(0, 64);
  assert.ok(truncated512.startsWith('ba80a53f'));
  assert.notEqual(hex('abc'), truncated512);
  assert.equal(blake2b256.name, 'blake2b-256');
  assert.equal(blake2b256.digestLength, 32);
});

test('hashInto hashes a window and truncates; the incremental hash agrees in any chunking', () => {
  const data = randomBytes(1000, 7);
  for (const len of [0, 1, 127, 128, 129, 255, 256, 257, 900]) {
    const whole = blake2b256Digest(data.subarray(20, 20 + len));
    const out = new Uint8Array(40).fill(0xee);
    blake2b256Into(data, 20, len, out, 3, 8);
    assert.deepEqual(out.subarray(3, 11), whole.subarray(0, 8), `len ${len}`);
    assert.equal(out[2], 0xee);
    assert.equal(out[11], 0xee);
    for (const sizes of [[1], [5, 123], [128], [1000]]) {
      const h = blake2b256.create();
      for (const c of chunked(data.subarray(20, 20 + len), sizes)) h.update(c);
      assert.deepEqual(h.digest(), whole, `len ${len} splits ${sizes.join(',')}`);
    }
  }
  assert.throws(() => blake2b256Into(data, 0, 1, new Uint8Array(40), 0, 33), RangeError);
});

test('interleaved incremental hashes keep their own state', () => {
  const a = randomBytes(5000, 1);
  const b = randomBytes(7000, 2);
  const ha = new Blake2b256();
  const hb = new Blake2b256();
  for (let p = 0; p < 7000; p += 1000) {
    if (p < 5000) ha.update(a.subarray(p, p + 1000));
    hb.update(b.subarray(p, p + 1000));
    blake2b256Digest(a); // the one-shot path in between
  }
  assert.deepEqual(ha.digest(), blake2b256Digest(a));
  assert.deepEqual(hb.digest(), blake2b256Digest(b));
  assert.throws(() => ha.digest(), /twice/);
});
