import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Md4, md4, md4Digest, md4Into } from '../../../src/core/hashing/md4.js';
import { toHex } from '../../../src/core/hashing/strong-hash.js';
import { chunked, randomBytes } from '../../helpers/data.js';

const hex = (s: string) => toHex(md4Digest(new TextEncoder().encode(s)));

test('MD4 gives the RFC 1320 test-suite digests', () => {
  assert.equal(hex(''), '31d6cfe0d16ae931b73c59d7e0c089c0');
  assert.equal(hex('a'), 'bde52cb31de33e46245e05fbdbd6fb24');
  assert.equal(hex('abc'), 'a448017aaf21d8525fc10ae87aa6729d');
  assert.equal(hex('message digest'), 'd9130a8164549fe818874806e1c7014b');
  assert.equal(hex('abcdefghijklmnopqrstuvwxyz'), 'd79e1c308aa5bbcdeea8ed63df412da9');
  assert.equal(hex('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'), '043f8582f241db351ce627e153e7f0e4');
  assert.equal(hex('12345678901234567890123456789012345678901234567890123456789012345678901234567890'), 'e33b4ddc9c38f2199c3e7b164fcc0536');
});

test('MD4 of the zsync worked example blocks (research note §1.5)', () => {
  const data = new TextEncoder().encode('zsync demo: block one|block two.|tail!!\n');
  const padded = new Uint8Array(48);
  padded.set(data);
  assert.equal(toHex(md4Digest(padded.subarray(0, 16))).slice(0, 8), 'c408ef26');
  assert.equal(toHex(md4Digest(padded.subarray(16, 32))).slice(0, 8), '4ef887d7');
  assert.equal(toHex(md4Digest(padded.subarray(32, 48))).slice(0, 8), '9d89c302');
});

test('hashInto hashes a window, truncates, and agrees with the incremental hash at every length around the padding edges', () => {
  const data = randomBytes(300, 3);
  for (const len of [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 200]) {
    const whole = md4Digest(data.subarray(10, 10 + len));
    const out = new Uint8Array(20).fill(0xee);
    md4Into(data, 10, len, out, 2, 5);
    assert.deepEqual(out.subarray(2, 7), whole.subarray(0, 5), `len ${len}`);
    assert.equal(out[7], 0xee);
    assert.equal(out[1], 0xee);
    for (const sizes of [[1], [3, 61], [64], [100]]) {
      const h = md4.create();
      for (const c of chunked(data.subarray(10, 10 + len), sizes)) h.update(c);
      assert.deepEqual(h.digest(), whole, `len ${len} splits ${sizes.join(',')}`);
    }
  }
});

test('a long input hashes the same whole and in pieces', () => {
  const data = randomBytes(1 << 20, 11);
  const h = new Md4();
  for (const c of chunked(data, [4093, 1, 65536])) h.update(c);
  assert.deepEqual(h.digest(), md4Digest(data));
  assert.throws(() => h.digest(), /twice/);
});

test('interleaved incremental MD4s keep their own state (hash-wasm state saved per hash)', () => {
  const a = randomBytes(3000, 5);
  const b = randomBytes(4000, 6);
  const ha = new Md4();
  const hb = md4.create();
  for (let p = 0; p < 4000; p += 700) {
    if (p < 3000) ha.update(a.subarray(p, Math.min(3000, p + 700)));
    hb.update(b.subarray(p, p + 700));
    md4Digest(b);
  }
  assert.deepEqual(ha.digest(), md4Digest(a));
  assert.deepEqual(hb.digest(), md4Digest(b));
  assert.throws(() => md4Into(a, 0, 1, new Uint8Array(20), 0, 17), RangeError);
});
