/**
 * Choosing how to fetch what the local files lack, from the index alone: raw byte ranges
 * of the plain reference, compressed frames, or the whole compressed file — per frame,
 * whichever moves fewer bytes, counting the per-range overhead of a multipart answer.
 *
 * @module
 */
import type { BlockIndex } from '../core/index/block-index.js';
import type { PlannedRange } from '../core/planner.js';
import { rangesBytes } from '../core/planner.js';

/**
 * Bytes a range costs besides its data: the part header of a multipart/byteranges answer
 * (boundary line, Content-Type, Content-Range), about 100 bytes with nginx.
 */
export const RANGE_OVERHEAD = 100;

/** How the missing data will be fetched. */
export interface FetchPlan {
  /**
   * `raw`: ranges of the plain file; `frames`: some or all from compressed frames;
   * `whole`: the whole compressed file; `base`: a delta from the local file's exact
   * version (see patch-from-base.ts). {@link choosePlan} never answers `base`: `patchFile`
   * looks for a base before it scans and, when it finds one, scans nothing; `diffFile`
   * scans first (it reports what a block-based patch would reuse and fetch) and then
   * reports a base, when there is one, in place of the plan chosen here.
   */
  kind: 'raw' | 'frames' | 'whole' | 'base';
  /** Estimated bytes on the wire (response bodies), index excluded. */
  bytes: number;
  /** For `frames`: 1 for each frame fetched compressed (the others' missing blocks come raw). */
  compressedFrames?: Uint8Array;
  /** The estimates of each plan, for reports. */
  estimates: { raw: number; frames?: number; whole?: number; base?: number };
}

/**
 * Chooses the cheapest plan for fetching `ranges` (the planner's output) given the
 * forms `index.published` lists.
 */
export function choosePlan(index: BlockIndex, ranges: readonly PlannedRange[]): FetchPlan {
  const raw = rangesBytes(ranges) + RANGE_OVERHEAD * ranges.length;
  const estimates: FetchPlan['estimates'] = { raw };
  const frames = index.published?.frames;
  const whole = index.published?.whole;
  let best: FetchPlan = { kind: 'raw', bytes: raw, estimates };
  if (ranges.length === 0) return { kind: 'raw', bytes: 0, estimates };

  if (frames) {
    const k = frames.blocksPerFrame;
    const bs = index.blockSize;
    const count = frames.frameSizes.length;
    // Raw cost of each frame's missing data: its share of the planned ranges.
    const rawCost = new Float64Array(count);
    const needed = new Uint8Array(count);
    for (const r of ranges) {
      const first = Math.floor(r.firstBlock / k);
      const last = Math.floor((r.firstBlock + r.blockCount - 1) / k);
      for (let f = first; f <= last; f++) {
        const start = Math.max(r.start, f * k * bs);
        const end = Math.min(r.end, (f + 1) * k * bs);
        rawCost[f]! += end - start + RANGE_OVERHEAD;
        needed[f] = 1;
      }
    }
    const compressedFrames = new Uint8Array(count);
    let total = 0;
    let prevCompressed = false;
    for (let f = 0; f < count; f++) {
      if (!needed[f]) {
        prevCompressed = false;
        continue;
      }
      // Consecutive compressed frames share one range, so only a run's first pays the overhead.
      const viaFrame = frames.frameSizes[f]! + (prevCompressed ? 0 : RANGE_OVERHEAD);
      if (viaFrame < rawCost[f]!) {
        compressedFrames[f] = 1;
        total += viaFrame;
        prevCompressed = true;
      } else {
        total += rawCost[f]!;
        prevCompressed = false;
      }
    }
    estimates.frames = total;
    if (total < best.bytes) best = { kind: 'frames', bytes: total, compressedFrames, estimates };
  }
  if (whole) {
    estimates.whole = whole.size;
    if (whole.size < best.bytes) best = { kind: 'whole', bytes: whole.size, estimates };
  }
  return best;
}
