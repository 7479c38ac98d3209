/**
 * Decompressing published forms by the codec their index entry names (brotli or zstd):
 * one frame at once, or a stream as it arrives. Both refuse what would take unbounded
 * memory: a frame never inflates past the size of its blocks, and a zstd stream may not
 * ask for a window over {@link ZSTD_MAX_WINDOW_LOG}.
 *
 * @module
 */
import { brotliDecompress, constants as zc, createBrotliDecompress, createZstdDecompress, zstdDecompress } from 'node:zlib';
import type { Transform } from 'node:stream';
import type { BlockSource } from '../core/block-source.js';
import { ErrorCodes, SyncError } from '../core/errors.js';
import type { Codec } from '../core/index/published.js';
import { drainOrClose } from '../util/drain.js';
import { ZSTD_MAX_WINDOW_LOG } from './compressed-forms.js';
import { builtin } from '../util/builtin.js';

const { promisify } = builtin('node:util');

const unbrotli = promisify(brotliDecompress);
const unzstd = promisify(zstdDecompress);

/** The smallest window log zstd knows (1 KiB). */
const ZSTD_MIN_WINDOW_LOG = 10;

/** node:zlib refuses a chunk under 64 bytes. */
const MIN_CHUNK = 64;

/**
 * Inflates one compressed frame that must hold exactly `size` bytes. Resolves with the
 * bytes, or undefined when the frame is damaged: it fails to decode, holds fewer or more
 * bytes (decoding stops one byte past `size`), or (zstd) asks for a window larger than
 * the frame itself.
 */
export async function inflateFrame(codec: Codec, packed: Uint8Array, size: number): Promise<Uint8Array | undefined> {
  // One output chunk of the frame's size (plus the byte that tells a longer frame): the
  // decoder runs in one call and the result is that chunk, not a concatenation of 16 KiB
  // ones. The bun pair's 103 zstd frames of 1 MiB (107 MB) decode in 135-145 ms of CPU
  // this way against 275-433 ms with zlib's default chunk (node:zlib, min of 3 runs each,
  // interleaved; the zstd CLI takes 130 ms for the same frames).
  const chunkSize = Math.max(MIN_CHUNK, size + 1);
  try {
    const out =
      codec === 'zstd'
        ? await unzstd(packed, {
            params: { [zc.ZSTD_d_windowLogMax]: Math.max(ZSTD_MIN_WINDOW_LOG, Math.ceil(Math.log2(Math.max(1, size)))) },
            chunkSize,
            maxOutputLength: size + 1,
          })
        : await unbrotli(packed, { params: { [zc.BROTLI_DECODER_PARAM_LARGE_WINDOW]: 0 }, chunkSize, maxOutputLength: size + 1 });
    return out.length === size ? out : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Output chunk of the streaming decompressors. The bun pair's frames file (48.8 MB of zstd
 * to 107 MB) streams through in 146-170 ms of CPU with 256 KiB chunks, 179-220 ms with
 * 64 KiB, 281-433 ms with zlib's default 16 KiB (node:zlib, 64 KiB writes, 3 interleaved
 * runs each); 1 MiB gains nothing more. brotli alike: typescript.js's whole stream (1.1 MB
 * of brotli 11 to 8.9 MB) in 14-35 ms against 33-76 ms with 16 KiB chunks.
 */
const INFLATE_CHUNK = 256 * 1024;

/** A streaming decompressor for `codec`. */
export function createInflate(codec: Codec): Transform {
  return codec === 'zstd'
    ? createZstdDecompress({ chunkSize: INFLATE_CHUNK, params: { [zc.ZSTD_d_windowLogMax]: ZSTD_MAX_WINDOW_LOG } })
    : createBrotliDecompress({ chunkSize: INFLATE_CHUNK, params: { [zc.BROTLI_DECODER_PARAM_LARGE_WINDOW]: 0 } });
}

/**
 * Yields the inflated bytes of the first `size` bytes of `source`, compressed with
 * `codec`. A source failure rejects the iteration with the source's error, a damaged or
 * truncated stream with FRAME_CORRUPT; stopping early cancels the read.
 */
export async function* inflated(source: BlockSource, size: number, codec: Codec, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const z = createInflate(codec);
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
