/**
 * Reading a brotli-compressed object (a published delta, a small file's whole stream)
 * from a block source, inflated as it arrives.
 *
 * @module
 */
import { createBrotliDecompress } from 'node:zlib';
import type { BlockSource } from '../core/block-source.js';
import { ErrorCodes, SyncError } from '../core/errors.js';
import { drainOrClose } from '../util/drain.js';

/**
 * Yields the inflated bytes of the first `size` bytes of `source`. A source failure rejects
 * the iteration with the source's error, a damaged or truncated stream with FRAME_CORRUPT;
 * stopping early cancels the read.
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
  } catch (cause) {
    if (SyncError.is(cause)) throw cause;
    throw new SyncError(ErrorCodes.FRAME_CORRUPT, `Cannot inflate ${source.name}: ${(cause as Error).message}`, { cause });
  } finally {
    z.destroy();
    await feeding;
  }
}
