/**
 * What the HTTP client learns about a host from its answers, kept for the run: how many
 * ranges one request may carry, whether the host honours `Range` at all. Hosts differ
 * (docs/hosting.md): S3, R2, GCS, Azure and MinIO take one range per request (a multi-range
 * request gets the whole object or only the first range), GitHub release assets answer 501,
 * Node's `http-server` and `serve` send only the first range, Cloudflare takes up to 300
 * ascending ranges, Apache 200, and `python -m http.server` ignores `Range`.
 *
 * A profile belongs to a dispatcher and an origin: sources sharing a dispatcher (the files of
 * a folder) share what was learned, so only the first file pays for finding out.
 *
 * @module
 */

import type { Dispatcher } from 'undici';
import type { ByteRange } from '../../core/block-source.js';

/** One origin's answers to range requests, as learned so far. */
export class HostProfile {
  /** Most ranges per request the host answers properly; 1 once multi-range proved unusable. */
  maxRanges = Number.POSITIVE_INFINITY;
  /** True once a range request got a 206: the host honours `Range`. */
  honoursRange = false;
  /** True once a range request got the whole body (200) before any 206: `Range` is ignored. */
  ignoresRange = false;
  /** The multi-range probe (a HEAD), once started: every request waits for the first one. */
  probe: Promise<void> | undefined;

  /** Fewer ranges per request from now on: at most `count` (at least 1). */
  limitRanges(count: number): void {
    this.maxRanges = Math.max(1, Math.min(this.maxRanges, count));
  }
}

const profiles = new WeakMap<Dispatcher, Map<string, HostProfile>>();

/** The profile of `origin` as seen through `dispatcher` (created empty on first use). */
export function hostProfile(dispatcher: Dispatcher, origin: string): HostProfile {
  let byOrigin = profiles.get(dispatcher);
  if (byOrigin === undefined) {
    byOrigin = new Map();
    profiles.set(dispatcher, byOrigin);
  }
  let profile = byOrigin.get(origin);
  if (profile === undefined) {
    profile = new HostProfile();
    byOrigin.set(origin, profile);
  }
  return profile;
}

/**
 * The largest gap between consecutive ranges that one single-range request may span, for a
 * host that takes one range per request: gaps are merged smallest first while each is at most
 * `maxGap` and their bytes stay within `budget` times the ranges' own bytes. A merged gap
 * costs its bytes; a separate request costs a round trip on a connection (zsync2 merges gaps
 * under 256 KiB; the cap here is smaller because bytes are counted against the target of at
 * most 1.5 times what a multi-range host moves).
 */
export function mergeGapLimit(ranges: readonly ByteRange[], maxGap: number, budget: number): number {
  if (maxGap <= 0 || ranges.length < 2) return 0;
  let total = 0;
  const gaps: number[] = [];
  for (let i = 0; i < ranges.length; i++) {
    const range = ranges[i]!;
    total += range.end - range.start;
    const next = ranges[i + 1];
    if (next !== undefined && next.start > range.end && next.start - range.end <= maxGap) gaps.push(next.start - range.end);
  }
  gaps.sort((a, b) => a - b);
  let left = total * budget;
  let limit = 0;
  for (const gap of gaps) {
    if (gap > left) break;
    left -= gap;
    limit = gap;
  }
  return limit;
}
