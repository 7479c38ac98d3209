/**
 * The planner: turns the blocks the local files lack into the byte ranges to fetch.
 *
 * Adjacent missing blocks become one range; ranges separated by a gap no larger than
 * `gapBytes` are bridged (fetching the gap costs less than the per-range overhead of a
 * request or a multipart part); optionally the smallest gaps are bridged further until no
 * more than `maxRanges` ranges remain (fewer requests, at a bounded byte cost). Ranges
 * never pass the end of the reference.
 *
 * @module
 */
import type { ByteRange } from './block-source.js';
import type { MissingSpan } from './matcher.js';

/** Options of {@link planRanges}. */
export interface PlanOptions {
  /** Reference length: the last range ends there, never past it. */
  fileSize: number;
  blockSize: number;
  /**
   * Bridge gaps up to this many bytes. Default 0: with blocks of 2 KiB and more, a gap
   * always costs more than the ~100 bytes of headers of one more multipart part.
   */
  gapBytes?: number;
  /** Bridge the smallest gaps until at most this many ranges remain. */
  maxRanges?: number;
}

/** A planned range and the reference blocks it holds. */
export interface PlannedRange extends ByteRange {
  /** First reference block in the range. */
  readonly firstBlock: number;
  /** Number of blocks in the range (bridged gaps included). */
  readonly blockCount: number;
}

/**
 * Plans the ranges to fetch for `missing` (sorted, non-overlapping block spans).
 *
 * @example
 * ```ts
 * planRanges([{ firstBlock: 0, blockCount: 2 }, { firstBlock: 3, blockCount: 1 }],
 *   { fileSize: 8000, blockSize: 2048, gapBytes: 4096 })
 * // → [{ start: 0, end: 8000, firstBlock: 0, blockCount: 4 }]
 * ```
 */
export function planRanges(missing: readonly MissingSpan[], options: PlanOptions): PlannedRange[] {
  const { fileSize, blockSize } = options;
  let gapBlocks = Math.floor((options.gapBytes ?? 0) / blockSize);
  if (options.maxRanges !== undefined && missing.length > options.maxRanges) {
    // The (k)th smallest gap, where k gaps must go for maxRanges to remain.
    const gaps: number[] = [];
    for (let i = 1; i < missing.length; i++) {
      gaps.push(missing[i]!.firstBlock - (missing[i - 1]!.firstBlock + missing[i - 1]!.blockCount));
    }
    gaps.sort((a, b) => a - b);
    const k = missing.length - Math.max(1, options.maxRanges);
    gapBlocks = Math.max(gapBlocks, gaps[k - 1]!);
  }
  const out: PlannedRange[] = [];
  let first = -1;
  let endBlock = -1;
  const flush = () => {
    if (first < 0) return;
    out.push({ start: first * blockSize, end: Math.min(endBlock * blockSize, fileSize), firstBlock: first, blockCount: endBlock - first });
  };
  for (const span of missing) {
    if (first >= 0 && span.firstBlock - endBlock <= gapBlocks) {
      endBlock = span.firstBlock + span.blockCount;
      continue;
    }
    flush();
    first = span.firstBlock;
    endBlock = span.firstBlock + span.blockCount;
  }
  flush();
  return out;
}

/** Total bytes of a list of ranges. */
export function rangesBytes(ranges: readonly ByteRange[]): number {
  let n = 0;
  for (const r of ranges) n += r.end - r.start;
  return n;
}
