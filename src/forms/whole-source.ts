/**
 * A block source that downloads the whole compressed reference (one stream), inflates it
 * as it arrives and hands out the requested ranges: the cheapest plan when the local
 * files have little of the reference.
 *
 * @module
 */
import { ErrorCodes, SyncError, throwIfAborted } from '../core/errors.js';
import { drainOrClose } from '../util/drain.js';
import type { BlockIndex } from '../core/index/block-index.js';
import { assertRanges, type BlockSource, type ByteRange, type ReadRangesOptions, type SourceStats } from '../core/block-source.js';
import { createInflate } from './inflate.js';

/** Serves reference ranges out of the whole-file stream (brotli or zstd, as the index says) read from `compressed`. */
export class WholeSource implements BlockSource {
  readonly name: string;
  readonly #index: BlockIndex;
  readonly #compressed: BlockSource;

  constructor(index: BlockIndex, compressed: BlockSource) {
    const whole = index.published?.whole;
    if (!whole) throw new TypeError('Cannot read the whole compressed file: the index lists none');
    this.#index = index;
    this.#compressed = compressed;
    this.name = compressed.name;
  }

  get stats(): SourceStats | undefined {
    return this.#compressed.stats;
  }

  async *read(ranges: readonly ByteRange[], options: ReadRangesOptions = {}): AsyncGenerator<Uint8Array> {
    assertRanges(ranges, this.#index.fileSize);
    if (ranges.length === 0) return;
    const { size, codec } = this.#index.published!.whole!;
    const inflate = createInflate(codec);
    // Feed the compressed bytes in the background; the inflated side is read below.
    const feeding = (async () => {
      try {
        for await (const chunk of this.#compressed.read([{ start: 0, end: size }], options)) {
          if (inflate.destroyed) break; // the reader is done (or failed): stop downloading
          if (!inflate.write(chunk)) await drainOrClose(inflate);
        }
        if (!inflate.destroyed) inflate.end();
      } catch (err) {
        inflate.destroy(err as Error);
      }
    })();
    let pos = 0; // offset in the reference of the next inflated byte
    let r = 0;
    const last = ranges[ranges.length - 1]!.end;
    try {
      for await (const chunk of inflate as AsyncIterable<Buffer>) {
        throwIfAborted(options.signal);
        const start = pos;
        pos += chunk.length;
        if (pos > this.#index.fileSize) break;
        while (r < ranges.length && ranges[r]!.start < pos) {
          const range = ranges[r]!;
          const a = Math.max(range.start, start);
          const b = Math.min(range.end, pos);
          if (b > a) yield chunk.subarray(a - start, b - start);
          if (range.end <= pos) r++;
          else break;
        }
        if (pos >= last) break;
      }
    } catch (cause) {
      if (SyncError.is(cause)) throw cause;
      throw new SyncError(ErrorCodes.FRAME_CORRUPT, `Cannot inflate the whole compressed file ${this.name}: ${(cause as Error).message}`, {
        cause,
      });
    } finally {
      inflate.destroy();
      await feeding.catch(() => {});
    }
    if (r < ranges.length) {
      throw new SyncError(
        ErrorCodes.FRAME_CORRUPT,
        `Cannot use the whole compressed file ${this.name}: it inflates to ${pos} bytes, not the ${this.#index.fileSize} the index says`,
      );
    }
  }

  async close(): Promise<void> {
    await this.#compressed.close();
  }
}
