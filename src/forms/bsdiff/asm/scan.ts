/**
 * The bsdiff scan (../diff.ts describes it) in AssemblyScript, over the old file and its suffix
 * array already in the module's memory (suffix-array.ts): the same steps as the JavaScript it
 * replaced, so the same streams. The control stream grows as it is written (out.ts); the diff
 * and extra streams go to buffers of the new file's size that the caller allocated.
 */

import { outLength, outPointer, put } from './out';

let diffLen: i32 = 0;
let extraLen: i32 = 0;
let matchPos: i32 = 0;
let matchLen: i32 = 0;

function uvarint(value: u64): void {
  let v = value;
  while (v >= 0x80) {
    put(<u32>(v & 0x7f) | 0x80);
    v >>= 7;
  }
  put(<u32>v);
}

function svarint(value: i64): void {
  uvarint(value < 0 ? <u64>(-2 * value - 1) : <u64>(2 * value));
}

@inline
function byteAt(p: usize, i: i32): i32 {
  return <i32>load<u8>(p + <usize>i);
}

/** Length of the common prefix of old[a..] and new[b..]. */
function commonLength(old: usize, oldSize: i32, a: i32, next: usize, newSize: i32, b: i32): i32 {
  const limit = min(oldSize - a, newSize - b);
  let i = 0;
  while (i < limit && byteAt(old, a + i) == byteAt(next, b + i)) i++;
  return i;
}

/** The longest match of new[scan..] in the old file, into matchPos and matchLen. */
function search(sa: usize, old: usize, oldSize: i32, next: usize, newSize: i32, scan: i32): void {
  let lo = 0;
  let hi = oldSize - 1;
  while (hi - lo >= 2) {
    const mid = lo + ((hi - lo) >> 1);
    const p = load<i32>(sa + ((<usize>mid) << 2));
    const limit = min(oldSize - p, newSize - scan);
    let i = 0;
    while (i < limit && byteAt(old, p + i) == byteAt(next, scan + i)) i++;
    if (i < limit && byteAt(old, p + i) < byteAt(next, scan + i)) lo = mid;
    else hi = mid;
  }
  const a = load<i32>(sa + ((<usize>lo) << 2));
  const b = load<i32>(sa + ((<usize>hi) << 2));
  const la = commonLength(old, oldSize, a, next, newSize, scan);
  const lb = commonLength(old, oldSize, b, next, newSize, scan);
  if (la > lb) {
    matchPos = a;
    matchLen = la;
  } else {
    matchPos = b;
    matchLen = lb;
  }
}

/** bsdiff's forward extension: the length after `lastScan` where matches most exceed half. */
function extendForward(old: usize, oldSize: i32, next: usize, lastScan: i32, lastPos: i32, scan: i32): i32 {
  let s = 0;
  let best = 0;
  let length = 0;
  for (let i = 0; lastScan + i < scan && lastPos + i < oldSize; ) {
    if (byteAt(old, lastPos + i) == byteAt(next, lastScan + i)) s++;
    i++;
    if (s * 2 - i > best * 2 - length) {
      best = s;
      length = i;
    }
  }
  return length;
}

/** The same backward from the match at (scan, pos), not past lastScan. */
function extendBackward(old: usize, next: usize, lastScan: i32, scan: i32, pos: i32): i32 {
  let s = 0;
  let best = 0;
  let length = 0;
  for (let i = 1; scan >= lastScan + i && pos >= i; i++) {
    if (byteAt(old, pos - i) == byteAt(next, scan - i)) s++;
    if (s * 2 - i > best * 2 - length) {
      best = s;
      length = i;
    }
  }
  return length;
}

/** Where to split an overlap of the two extensions: the point that keeps the most matches. */
function splitOverlap(old: usize, next: usize, fwdStart: i32, fwdOld: i32, backStart: i32, backOld: i32, overlap: i32): i32 {
  let s = 0;
  let best = 0;
  let split = 0;
  for (let i = 0; i < overlap; i++) {
    if (byteAt(next, fwdStart + i) == byteAt(old, fwdOld + i)) s++;
    if (byteAt(next, backStart + i) == byteAt(old, backOld + i)) s--;
    if (s > best) {
      best = s;
      split = i + 1;
    }
  }
  return split;
}

// The scan's state between calls of `scanStep`.
let old: usize = 0;
let oldSize: i32 = 0;
let sa: usize = 0;
let next: usize = 0;
let newSize: i32 = 0;
let diff: usize = 0;
let extra: usize = 0;
let scanAt = 0;
let lastScan = 0;
let lastPos = 0;
let lastOffset = 0;
let len = 0;
let pos = 0;

/**
 * Starts the bsdiff streams turning the `oldSizeArg` bytes at `oldArg` (whose suffix array is
 * at `saArg`; none when the old file is empty) into the `newSizeArg` bytes at `nextArg`: the
 * differences go to `diffArg` and the extra bytes to `extraArg` (each as long as the new
 * file), the control triples to a buffer of the module (`controlPointer`, `controlLength`).
 */
export function scanInit(oldArg: usize, oldSizeArg: i32, saArg: usize, nextArg: usize, newSizeArg: i32, diffArg: usize, extraArg: usize): void {
  old = oldArg;
  oldSize = oldSizeArg;
  sa = saArg;
  next = nextArg;
  newSize = newSizeArg;
  diff = diffArg;
  extra = extraArg;
}

/**
 * Scans on until at least `budget` more bytes of the new file are covered; 1 while some
 * remain. Called in steps so that V8 can replace its baseline code between calls
 * (WebAssembly has no on-stack replacement).
 */
export function scanStep(budget: i32): i32 {
  const stop = scanAt + budget;
  while (scanAt < newSize && scanAt < stop) {
    let oldScore = 0;
    scanAt += len;
    let scsc = scanAt;
    for (; scanAt < newSize; scanAt++) {
      if (oldSize == 0) {
        len = 0;
        pos = 0;
      } else {
        search(sa, old, oldSize, next, newSize, scanAt);
        len = matchLen;
        pos = matchPos;
      }
      for (; scsc < scanAt + len; scsc++) {
        if (scsc + lastOffset < oldSize && byteAt(old, scsc + lastOffset) == byteAt(next, scsc)) oldScore++;
      }
      // A match no better than continuing the previous alignment is not worth a new triple.
      if ((len == oldScore && len != 0) || len > oldScore + 8) break;
      if (scanAt + lastOffset < oldSize && byteAt(old, scanAt + lastOffset) == byteAt(next, scanAt)) oldScore--;
    }
    if (len == oldScore && scanAt != newSize) continue;
    let lenf = extendForward(old, oldSize, next, lastScan, lastPos, scanAt);
    let lenb = scanAt < newSize ? extendBackward(old, next, lastScan, scanAt, pos) : 0;
    if (lastScan + lenf > scanAt - lenb) {
      const overlap = lastScan + lenf - (scanAt - lenb);
      const split = splitOverlap(old, next, lastScan + lenf - overlap, lastPos + lenf - overlap, scanAt - lenb, pos - lenb, overlap);
      lenf += split - overlap;
      lenb -= split;
    }
    for (let i = 0; i < lenf; i++) {
      store<u8>(diff + <usize>(diffLen + i), <u8>(byteAt(next, lastScan + i) - byteAt(old, lastPos + i)));
    }
    diffLen += lenf;
    const extraCount = scanAt - lenb - (lastScan + lenf);
    if (extraCount > 0) memory.copy(extra + <usize>extraLen, next + <usize>(lastScan + lenf), <usize>extraCount);
    extraLen += extraCount;
    uvarint(<u64>lenf);
    uvarint(<u64>extraCount);
    svarint(<i64>(pos - lenb - (lastPos + lenf)));
    lastScan = scanAt - lenb;
    lastPos = pos - lenb;
    lastOffset = pos - scanAt;
  }
  return scanAt < newSize ? 1 : 0;
}

/** Where the control stream starts. */
export function controlPointer(): usize {
  return outPointer();
}

/** The control stream's length in bytes. */
export function controlLength(): i32 {
  return outLength();
}

export function diffLength(): i32 {
  return diffLen;
}

export function extraLength(): i32 {
  return extraLen;
}
