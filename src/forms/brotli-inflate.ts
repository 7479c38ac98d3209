/**
 * Reading a brotli-compressed object (a published delta, a small file's whole stream)
 * from a block source, inflated as it arrives.
 *
 * @module
 */
import { createBrotliDecompress } from 'node:zlib';
import { drainOrClose } from '../util/drain.js';
import type { BlockSource } from '../core/block-source.js';

/**
 * Yields the inflated bytes of the first `size` bytes of `source`. A source failure or a
 * damaged stream rejects the iteration; stopping early cancels the read.
 */
export async function* brotliInflated(source: BlockSource, size: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const z = createBrotliDecompress();
  const feeding = (async () => {
    try {
      for await (const c of source.read([{ start: 0, end: size }], signal ? { signal } : {})) {
        if (z.destroyed) break;
        if (!z.write(c)) await drainOrClose(z);
      }
      if (!z.destroyed) z.end();
    } catch (err) {
      z.destroy(err as Error);
    }
  })();
  try {
    yield* z as AsyncIterable<Buffer>;
  } finally {
    z.destroy();
    await feeding;
  }
}
