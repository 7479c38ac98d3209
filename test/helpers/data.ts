/** Deterministic test data: seeded random bytes and edits. */
import { createHash } from 'node:crypto';
import { decodeIndex } from '../../src/core/index/format.js';
import { buildIndex } from '../../src/core/index/builder.js';
import type { BlockIndex } from '../../src/core/index/block-index.js';
import type { IndexBuilderOptions } from '../../src/core/index/builder.js';

/** xorshift32 bytes from a seed: the same seed gives the same bytes on every run. */
export function randomBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s & 0xff;
  }
  return out;
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** Builds and decodes the index of `data` in memory. */
export async function indexOf(data: Uint8Array, options: Omit<IndexBuilderOptions, 'fileSize'> = {}): Promise<BlockIndex> {
  return decodeIndex(await buildIndex(data, { ...options, fileSize: data.length }));
}

/** Splits data into chunks at the given sizes (cycling). */
export function* chunked(data: Uint8Array, sizes: readonly number[]): Generator<Uint8Array> {
  let p = 0;
  let k = 0;
  while (p < data.length) {
    const n = Math.max(1, sizes[k++ % sizes.length]!);
    yield data.subarray(p, p + n);
    p += n;
  }
}

/**
 * The block digest of `data` as docs/format.md defines it, computed independently of the
 * code under test: SHA-256 over each zero-padded block's SHA-256.
 */
export function blockDigestOf(data: Uint8Array, blockSize: number): Uint8Array {
  const h = createHash('sha256');
  for (let p = 0; p < data.length; p += blockSize) {
    const block = new Uint8Array(blockSize);
    block.set(data.subarray(p, p + blockSize));
    h.update(createHash('sha256').update(block).digest());
  }
  return new Uint8Array(h.digest());
}
