/**
 * The bsdiff matching (Colin Percival, "Naive differences of executable code", 2003; the
 * scan of bsdiff 4.x), reimplemented from its description: exact matches found through a
 * suffix array of the old file, extended forward and backward while more than half of the
 * bytes agree, so that relinked code (same instructions, shifted addresses) becomes a long
 * run of byte-wise differences that are mostly zero.
 *
 * The result is three streams: control triples (bytes to add from the old file, bytes of
 * new data, seek in the old file), the differences (new − old, modulo 256, over each added
 * range) and the extra bytes. The control stream is written as LEB128 varints (the seek
 * zigzag encoded) instead of bsdiff's fixed 8-byte integers.
 */
import { suffixArray } from './suffix-array.js';

/** The three streams of a bsdiff-class delta, uncompressed. */
export interface BsdiffStreams {
  /** Triples of varints: add length, extra length, seek (zigzag). */
  control: Uint8Array;
  /** new − old byte-wise over each added range, in order. */
  diff: Uint8Array;
  /** The bytes of new data, in order. */
  extra: Uint8Array;
}

/** A growable byte buffer for the control stream. */
class ByteSink {
  bytes = new Uint8Array(1024);
  length = 0;

  uvarint(value: number): void {
    if (this.length + 10 > this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    let v = value;
    while (v >= 0x80) {
      this.bytes[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.bytes[this.length++] = v;
  }

  svarint(value: number): void {
    this.uvarint(value < 0 ? -2 * value - 1 : 2 * value);
  }
}

/** Length of the common prefix of old[a..] and new[b..]. */
function matchLength(old: Uint8Array, a: number, next: Uint8Array, b: number): number {
  const limit = Math.min(old.length - a, next.length - b);
  let i = 0;
  while (i < limit && old[a + i] === next[b + i]) i++;
  return i;
}

/** The searcher's result: the longest match of new[scan..] in the old file. */
interface Match {
  position: number;
  length: number;
}

/**
 * Binary search of the suffix array for the suffix of `old` sharing the longest prefix with
 * new[scan..]: the longest match is next to where new[scan..] would sort.
 */
function search(sa: Int32Array, old: Uint8Array, next: Uint8Array, scan: number, out: Match): void {
  let lo = 0;
  let hi = sa.length - 1;
  while (hi - lo >= 2) {
    const mid = lo + ((hi - lo) >> 1);
    const p = sa[mid]!;
    const limit = Math.min(old.length - p, next.length - scan);
    let i = 0;
    while (i < limit && old[p + i] === next[scan + i]) i++;
    if (i < limit && old[p + i]! < next[scan + i]!) lo = mid;
    else hi = mid;
  }
  const a = sa[lo]!;
  const b = sa[hi]!;
  const la = matchLength(old, a, next, scan);
  const lb = matchLength(old, b, next, scan);
  if (la > lb) {
    out.position = a;
    out.length = la;
  } else {
    out.position = b;
    out.length = lb;
  }
}

/** bsdiff's forward extension: the length after `lastScan` where matches most exceed half. */
function extendForward(old: Uint8Array, next: Uint8Array, lastScan: number, lastPos: number, scan: number): number {
  let s = 0;
  let best = 0;
  let length = 0;
  for (let i = 0; lastScan + i < scan && lastPos + i < old.length; ) {
    if (old[lastPos + i] === next[lastScan + i]) s++;
    i++;
    if (s * 2 - i > best * 2 - length) {
      best = s;
      length = i;
    }
  }
  return length;
}

/** The same backward from the match at (scan, pos), not past lastScan. */
function extendBackward(old: Uint8Array, next: Uint8Array, lastScan: number, scan: number, pos: number): number {
  let s = 0;
  let best = 0;
  let length = 0;
  for (let i = 1; scan >= lastScan + i && pos >= i; i++) {
    if (old[pos - i] === next[scan - i]) s++;
    if (s * 2 - i > best * 2 - length) {
      best = s;
      length = i;
    }
  }
  return length;
}

/** Where to split an overlap of the two extensions: the point that keeps the most matches. */
function splitOverlap(
  old: Uint8Array,
  next: Uint8Array,
  fwdStart: number,
  fwdOld: number,
  backStart: number,
  backOld: number,
  overlap: number,
): number {
  let s = 0;
  let best = 0;
  let split = 0;
  for (let i = 0; i < overlap; i++) {
    if (next[fwdStart + i] === old[fwdOld + i]) s++;
    if (next[backStart + i] === old[backOld + i]) s--;
    if (s > best) {
      best = s;
      split = i + 1;
    }
  }
  return split;
}

/** Options of {@link bsdiffStreams}. */
export interface BsdiffOptions {
  /** A suffix array of `old` already built (by {@link suffixArray}). */
  suffixArray?: Int32Array;
}

/** The bsdiff streams turning `old` into `next`. */
export function bsdiffStreams(old: Uint8Array, next: Uint8Array, options: BsdiffOptions = {}): BsdiffStreams {
  const sa = old.length === 0 ? undefined : (options.suffixArray ?? suffixArray(old));
  const control = new ByteSink();
  const diff = new Uint8Array(next.length);
  const extra = new Uint8Array(next.length);
  let diffLength = 0;
  let extraLength = 0;
  const match: Match = { position: 0, length: 0 };
  const newSize = next.length;
  const oldSize = old.length;
  let scan = 0;
  let lastScan = 0;
  let lastPos = 0;
  let lastOffset = 0;
  let len = 0;
  let pos = 0;
  while (scan < newSize) {
    let oldScore = 0;
    scan += len;
    let scsc = scan;
    for (; scan < newSize; scan++) {
      if (sa === undefined) {
        len = 0;
        pos = 0;
      } else {
        search(sa, old, next, scan, match);
        len = match.length;
        pos = match.position;
      }
      for (; scsc < scan + len; scsc++) {
        if (scsc + lastOffset < oldSize && old[scsc + lastOffset] === next[scsc]) oldScore++;
      }
      // A match no better than continuing the previous alignment is not worth a new triple.
      if ((len === oldScore && len !== 0) || len > oldScore + 8) break;
      if (scan + lastOffset < oldSize && old[scan + lastOffset] === next[scan]) oldScore--;
    }
    if (len === oldScore && scan !== newSize) continue;
    let lenf = extendForward(old, next, lastScan, lastPos, scan);
    let lenb = scan < newSize ? extendBackward(old, next, lastScan, scan, pos) : 0;
    if (lastScan + lenf > scan - lenb) {
      const overlap = lastScan + lenf - (scan - lenb);
      const split = splitOverlap(old, next, lastScan + lenf - overlap, lastPos + lenf - overlap, scan - lenb, pos - lenb, overlap);
      lenf += split - overlap;
      lenb -= split;
    }
    for (let i = 0; i < lenf; i++) diff[diffLength + i] = next[lastScan + i]! - old[lastPos + i]!;
    diffLength += lenf;
    const extraCount = scan - lenb - (lastScan + lenf);
    extra.set(next.subarray(lastScan + lenf, scan - lenb), extraLength);
    extraLength += extraCount;
    control.uvarint(lenf);
    control.uvarint(extraCount);
    control.svarint(pos - lenb - (lastPos + lenf));
    lastScan = scan - lenb;
    lastPos = pos - lenb;
    lastOffset = pos - scan;
  }
  return {
    control: control.bytes.subarray(0, control.length),
    diff: diff.subarray(0, diffLength),
    extra: extra.subarray(0, extraLength),
  };
}
