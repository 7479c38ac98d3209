/**
 * Suffix arrays by SA-IS (Nong, Zhang and Chan, "Two efficient algorithms for linear time
 * suffix array construction", 2009) in AssemblyScript, part of the matcher's module
 * (matcher.ts); ../suffix-array.ts describes the algorithm, its memory and why it runs here.
 *
 * Not TypeScript for tsc: `i32`, `usize`, `load<T>` are AssemblyScript's. One instance makes
 * one suffix array (nothing is freed): the caller writes the text at a pointer
 * `alloc` returned, allocates the result (4 bytes per text byte) the same way and calls
 * `suffixArray`. Level 0 reads the text as bytes, the reduced levels as 32-bit names: the
 * same functions, instantiated for each width.
 */

import { alloc } from './bump';

const L_TYPE: u8 = 0;
const S_TYPE: u8 = 1;

@inline
function at<T>(text: usize, i: i32): i32 {
  return <i32>load<T>(text + ((<usize>i) << alignof<T>()));
}

@inline
function get(array: usize, i: i32): i32 {
  return load<i32>(array + ((<usize>i) << 2));
}

@inline
function set(array: usize, i: i32, value: i32): void {
  store<i32>(array + ((<usize>i) << 2), value);
}

/** The type of suffix `i`: one bit each, so that the flags of a 10 MB text stay in the caches. */
@inline
function typeOf(types: usize, i: i32): u8 {
  return (load<u8>(types + <usize>(i >>> 3)) >>> (<u8>i & 7)) & 1;
}

@inline
function isLms(types: usize, i: i32): bool {
  return i > 0 && typeOf(types, i) == S_TYPE && typeOf(types, i - 1) == L_TYPE;
}

function classify<T>(text: usize, types: usize, n: i32): void {
  memory.fill(types, 0, <usize>((n + 7) >>> 3));
  // The last suffix is L: the virtual sentinel after it is smaller.
  let b = at<T>(text, n - 1);
  let t: u32 = L_TYPE;
  for (let i = n - 2; i >= 0; i--) {
    const a = at<T>(text, i);
    t = a < b ? S_TYPE : a > b ? L_TYPE : t;
    if (t) store<u8>(types + <usize>(i >>> 3), load<u8>(types + <usize>(i >>> 3)) | (<u8>1 << (<u8>i & 7)));
    b = a;
  }
}

function bucketEdges<T>(text: usize, n: i32, bucket: usize, k: i32, ends: bool): void {
  memory.fill(bucket, 0, (<usize>k) << 2);
  for (let i = 0; i < n; i++) {
    const c = at<T>(text, i);
    set(bucket, c, get(bucket, c) + 1);
  }
  let sum = 0;
  for (let c = 0; c < k; c++) {
    const count = get(bucket, c);
    sum += count;
    set(bucket, c, ends ? sum : sum - count);
  }
}

/** Sorts the L then the S suffixes from the LMS suffixes already in place. */
function induce<T>(text: usize, sa: usize, types: usize, bucket: usize, n: i32, k: i32): void {
  bucketEdges<T>(text, n, bucket, k, false);
  // The suffix before the virtual sentinel comes first in its bucket.
  let c = at<T>(text, n - 1);
  let slot = get(bucket, c);
  set(sa, slot, n - 1);
  set(bucket, c, slot + 1);
  for (let i = 0; i < n; i++) {
    const j = get(sa, i) - 1;
    if (j < 0) continue;
    // Suffix j + 1 is L here, or LMS with j L: j is L when its byte is not smaller than the
    // next (no lookup of the type flags).
    c = at<T>(text, j);
    if (c >= at<T>(text, j + 1)) {
      slot = get(bucket, c);
      set(sa, slot, j);
      set(bucket, c, slot + 1);
    }
  }
  bucketEdges<T>(text, n, bucket, k, true);
  for (let i = n - 1; i >= 0; i--) {
    const j = get(sa, i) - 1;
    if (j < 0) continue;
    // j is S when its byte is smaller than the next, L when larger; the flags say on a tie.
    c = at<T>(text, j);
    const next = at<T>(text, j + 1);
    if (c < next || (c == next && typeOf(types, j) == S_TYPE)) {
      slot = get(bucket, c) - 1;
      set(sa, slot, j);
      set(bucket, c, slot);
    }
  }
}

/** True when the LMS substrings at `a` and `b` differ (the one ending at the sentinel is unique). */
function lmsDiffer<T>(text: usize, types: usize, n: i32, a: i32, b: i32): bool {
  let d = 0;
  while (true) {
    if (a + d == n || b + d == n) return true;
    if (at<T>(text, a + d) != at<T>(text, b + d) || typeOf(types, a + d) != typeOf(types, b + d)) return true;
    if (d > 0 && (isLms(types, a + d) || isLms(types, b + d))) return false;
    d++;
  }
  return true; // not reached: the sentinel ends every substring
}

let lmsCount = 0;

/** Names the sorted LMS substrings; sets lmsCount and returns how many names there are. */
function nameLms<T>(text: usize, sa: usize, types: usize, n: i32): i32 {
  let count = 0;
  for (let i = 0; i < n; i++) {
    const p = get(sa, i);
    if (isLms(types, p)) set(sa, count++, p);
  }
  memory.fill(sa + ((<usize>count) << 2), 0xff, (<usize>(n - count)) << 2);
  let names = 0;
  let prev = -1;
  for (let i = 0; i < count; i++) {
    const p = get(sa, i);
    if (prev < 0 || lmsDiffer<T>(text, types, n, p, prev)) names++;
    prev = p;
    // Two LMS positions are at least 2 apart, so p >> 1 is a distinct slot of the upper part.
    set(sa, count + (p >> 1), names - 1);
  }
  let j = n - 1;
  for (let i = n - 1; i >= count; i--) {
    const v = get(sa, i);
    if (v >= 0) set(sa, j--, v);
  }
  lmsCount = count;
  return names;
}

function sais<T>(text: usize, sa: usize, n: i32, k: i32): void {
  const types = alloc(<usize>((n + 7) >>> 3));
  classify<T>(text, types, n);
  const bucket = alloc((<usize>k) << 2);

  // Stage 1: sort the LMS substrings by inducing from the LMS positions in any order.
  memory.fill(sa, 0xff, (<usize>n) << 2);
  bucketEdges<T>(text, n, bucket, k, true);
  for (let i = 1; i < n; i++) {
    if (isLms(types, i)) {
      const c = at<T>(text, i);
      const slot = get(bucket, c) - 1;
      set(sa, slot, i);
      set(bucket, c, slot);
    }
  }
  induce<T>(text, sa, types, bucket, n, k);
  const names = nameLms<T>(text, sa, types, n);
  const count = lmsCount;

  // Stage 2: sort the LMS suffixes, by recursion when two LMS substrings share a name.
  const reduced = sa + ((<usize>(n - count)) << 2);
  const reducedSa = sa;
  if (names < count) {
    sais<i32>(reduced, reducedSa, count, names);
  } else {
    for (let i = 0; i < count; i++) set(reducedSa, get(reduced, i), i);
  }

  // Stage 3: place the sorted LMS suffixes at their bucket ends and induce the rest.
  let m = 0;
  for (let i = 1; i < n; i++) if (isLms(types, i)) set(reduced, m++, i);
  for (let i = 0; i < count; i++) set(reducedSa, i, get(reduced, get(reducedSa, i)));
  memory.fill(sa + ((<usize>count) << 2), 0xff, (<usize>(n - count)) << 2);
  bucketEdges<T>(text, n, bucket, k, true);
  for (let i = count - 1; i >= 0; i--) {
    const p = get(sa, i);
    set(sa, i, -1);
    const c = at<T>(text, p);
    const slot = get(bucket, c) - 1;
    set(sa, slot, p);
    set(bucket, c, slot);
  }
  induce<T>(text, sa, types, bucket, n, k);
}

/** Writes the suffix array of the `n` bytes at `text` to `sa` (`n` 32-bit positions). */
export function suffixArray(text: usize, n: i32, sa: usize): void {
  if (n == 0) return;
  if (n == 1) {
    store<i32>(sa, 0);
    return;
  }
  sais<u8>(text, sa, n, 256);
}
