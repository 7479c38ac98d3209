import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { nodeHash, sha256 } from '../../../src/core/hashing/strong-hash.js';
import { randomBytes } from '../../helpers/data.js';

test('hashInto writes the digest bytes of a window, every byte value kept, truncated on request', () => {
  const data = randomBytes(10_000, 5);
  const md5 = nodeHash('md5', 16);
  for (const [start, length] of [
    [0, 0],
    [3, 1],
    [17, 4096],
    [100, 9000],
  ] as const) {
    for (const [h, name] of [
      [sha256, 'sha256'],
      [md5, 'md5'],
    ] as const) {
      const want = createHash(name)
        .update(data.subarray(start, start + length))
        .digest();
      const out = new Uint8Array(want.length + 4).fill(0xee);
      h.hashInto(data, start, length, out, 2, want.length);
      assert.deepEqual(out.subarray(2, 2 + want.length), new Uint8Array(want), `${name} ${start}+${length}`);
      assert.deepEqual([out[0], out[1], out[want.length + 2], out[want.length + 3]], [0xee, 0xee, 0xee, 0xee]);
      const short = new Uint8Array(5).fill(0xee);
      h.hashInto(data, start, length, short, 0, 4);
      assert.deepEqual(short, new Uint8Array([...want.subarray(0, 4), 0xee]));
    }
  }
  // Digest bytes of every value, 0x80-0xff included (a text decoding would mangle them).
  const seen = new Set<number>();
  const out = new Uint8Array(32);
  for (let i = 0; i < 2000 && seen.size < 256; i++) {
    sha256.hashInto(data, i, 64, out, 0, 32);
    assert.deepEqual(
      out,
      new Uint8Array(
        createHash('sha256')
          .update(data.subarray(i, i + 64))
          .digest(),
      ),
    );
    for (const b of out) seen.add(b);
  }
  assert.equal(seen.size, 256);
});
