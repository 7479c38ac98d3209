/**
 * Suffix arrays by SA-IS (Nong, Zhang and Chan, "Two efficient algorithms for linear time
 * suffix array construction", 2009), the index the bsdiff matcher searches.
 *
 * Written for large inputs in JS: typed arrays only, nothing allocated inside the loops. The
 * reduced problem is stored inside the suffix array itself (names in the upper half, its
 * suffix array in the lower half), so a level allocates only its type flags and buckets. The
 * one recursion is on the reduced string, whose length is at most half of its parent's, so
 * the depth is at most log2(n) (27 levels for 110 MB).
 *
 * Memory per input byte, besides the input: 4 bytes for the result and 1 byte of type flags;
 * each reduced level (at most half as long as its parent) adds its own flags and one 4-byte
 * bucket per distinct name, so at most 2.5 + 1.25 + ... = 5 more bytes in the worst case
 * (every LMS substring distinct), much less on real files: 5 to 10 bytes per input byte
 * (measured: about 5.1 on a 107 MB executable).
 */

const L_TYPE = 0;
const S_TYPE = 1;

type Text = Uint8Array | Int32Array;

/**
 * The suffix array of `text`: the start positions of its suffixes in lexicographic order
 * (a suffix that is a prefix of another sorts first).
 */
export function suffixArray(text: Uint8Array): Int32Array {
  const n = text.length;
  const sa = new Int32Array(n);
  if (n === 0) return sa;
  if (n === 1) return sa;
  sais(text, sa, n, 256);
  return sa;
}

function classify(text: Text, types: Uint8Array, n: number): void {
  types[n - 1] = L_TYPE; // the virtual sentinel after it is smaller
  for (let i = n - 2; i >= 0; i--) {
    const a = text[i]!;
    const b = text[i + 1]!;
    types[i] = a < b ? S_TYPE : a > b ? L_TYPE : types[i + 1]!;
  }
}

function isLms(types: Uint8Array, i: number): boolean {
  return i > 0 && types[i] === S_TYPE && types[i - 1] === L_TYPE;
}

function bucketEdges(text: Text, n: number, bucket: Int32Array, ends: boolean): void {
  bucket.fill(0);
  for (let i = 0; i < n; i++) bucket[text[i]!]!++;
  let sum = 0;
  const k = bucket.length;
  for (let c = 0; c < k; c++) {
    sum += bucket[c]!;
    bucket[c] = ends ? sum : sum - bucket[c]!;
  }
}

/** Sorts the L then the S suffixes from the LMS suffixes already in place. */
function induce(text: Text, sa: Int32Array, types: Uint8Array, bucket: Int32Array, n: number): void {
  bucketEdges(text, n, bucket, false);
  // The suffix before the virtual sentinel comes first in its bucket.
  sa[bucket[text[n - 1]!]!++] = n - 1;
  for (let i = 0; i < n; i++) {
    const j = sa[i]! - 1;
    if (j >= 0 && types[j] === L_TYPE) sa[bucket[text[j]!]!++] = j;
  }
  bucketEdges(text, n, bucket, true);
  for (let i = n - 1; i >= 0; i--) {
    const j = sa[i]! - 1;
    if (j >= 0 && types[j] === S_TYPE) sa[--bucket[text[j]!]!] = j;
  }
}

/** True when the LMS substrings at `a` and `b` differ (the one ending at the sentinel is unique). */
function lmsDiffer(text: Text, types: Uint8Array, n: number, a: number, b: number): boolean {
  for (let d = 0; ; d++) {
    if (a + d === n || b + d === n) return true;
    if (text[a + d] !== text[b + d] || types[a + d] !== types[b + d]) return true;
    if (d > 0 && (isLms(types, a + d) || isLms(types, b + d))) return false;
  }
}

/** Names the sorted LMS substrings; returns how many LMS suffixes and names there are. */
function nameLms(text: Text, sa: Int32Array, types: Uint8Array, n: number): [count: number, names: number] {
  let count = 0;
  for (let i = 0; i < n; i++) {
    const p = sa[i]!;
    if (isLms(types, p)) sa[count++] = p;
  }
  sa.fill(-1, count, n);
  let names = 0;
  let prev = -1;
  for (let i = 0; i < count; i++) {
    const p = sa[i]!;
    if (prev < 0 || lmsDiffer(text, types, n, p, prev)) names++;
    prev = p;
    // Two LMS positions are at least 2 apart, so p >> 1 is a distinct slot of the upper part.
    sa[count + (p >> 1)] = names - 1;
  }
  let j = n - 1;
  for (let i = n - 1; i >= count; i--) {
    const v = sa[i]!;
    if (v >= 0) sa[j--] = v;
  }
  return [count, names];
}

function sais(text: Text, sa: Int32Array, n: number, alphabet: number): void {
  const types = new Uint8Array(n);
  classify(text, types, n);
  const bucket = new Int32Array(alphabet);

  // Stage 1: sort the LMS substrings by inducing from the LMS positions in any order.
  sa.fill(-1);
  bucketEdges(text, n, bucket, true);
  for (let i = 1; i < n; i++) if (isLms(types, i)) sa[--bucket[text[i]!]!] = i;
  induce(text, sa, types, bucket, n);
  const [count, names] = nameLms(text, sa, types, n);

  // Stage 2: sort the LMS suffixes, by recursion when two LMS substrings share a name.
  const reduced = sa.subarray(n - count, n);
  const reducedSa = sa.subarray(0, count);
  if (names < count) {
    sais(reduced, reducedSa, count, names);
  } else {
    for (let i = 0; i < count; i++) reducedSa[reduced[i]!] = i;
  }

  // Stage 3: place the sorted LMS suffixes at their bucket ends and induce the rest.
  let k = 0;
  for (let i = 1; i < n; i++) if (isLms(types, i)) reduced[k++] = i;
  for (let i = 0; i < count; i++) reducedSa[i] = reduced[reducedSa[i]!]!;
  sa.fill(-1, count, n);
  bucketEdges(text, n, bucket, true);
  for (let i = count - 1; i >= 0; i--) {
    const p = sa[i]!;
    sa[i] = -1;
    sa[--bucket[text[p]!]!] = p;
  }
  induce(text, sa, types, bucket, n);
}
