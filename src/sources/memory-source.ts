/**
 * A block source over bytes in memory (tests, and callers that already hold the reference).
 *
 * @module
 */
import { throwIfAborted } from '../core/errors.js';
import { assertRanges, type BlockSource, type ByteRange, type ReadRangesOptions, type SourceStats } from '../core/block-source.js';

/**
 * Serves ranges of a `Uint8Array`. Yields views (no copies) of the caller's bytes.
 *
 * @example
 * ```ts
 * const src = new MemorySource(reference);
 * for await (const chunk of src.read([{ start: 0, end: 10 }])) console.log(chunk);
 * ```
 */
export class MemorySource implements BlockSource {
  readonly name = 'memory';
  readonly stats: SourceStats = { requests: 0, bytes: 0 };
  readonly #data: Uint8Array;

  constructor(data: Uint8Array) {
    this.#data = data;
  }

  async *read(ranges: readonly ByteRange[], options: ReadRangesOptions = {}): AsyncGenerator<Uint8Array> {
    assertRanges(ranges, this.#data.length);
    for (const r of ranges) {
      throwIfAborted(options.signal);
      this.stats.requests++;
      this.stats.bytes += r.end - r.start;
      options.onBytes?.(r.end - r.start);
      yield this.#data.subarray(r.start, r.end);
    }
  }

  async close(): Promise<void> {}
}
