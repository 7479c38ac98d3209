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
import { inMatcher, indexText } from './suffix-array.js';

/** The three streams of a bsdiff-class delta, uncompressed. */
export interface BsdiffStreams {
  /** Triples of varints: add length, extra length, seek (zigzag). */
  control: Uint8Array;
  /** new − old byte-wise over each added range, in order. */
  diff: Uint8Array;
  /** The bytes of new data, in order. */
  extra: Uint8Array;
}

/**
 * Bytes of the new file the scan covers per call into the module: V8 replaces the scan's
 * baseline code between calls (WebAssembly has no on-stack replacement).
 */
const SCAN_STEP = 64 * 1024;

/**
 * The bsdiff streams turning `old` into `next`: the old file's suffix array and the scan run
 * in the matcher's WebAssembly module (asm/scan.ts), the same steps as the JavaScript they
 * replaced, which gave byte for byte the same streams (the corpus pairs and random edits,
 * checked before it was removed). esbuild 0.25.0 → 0.25.1 (10 MB): the scan took 0.93-1.25 s
 * in JavaScript. The streams are views of the module's memory, which also holds a copy of
 * the new file and the suffix array: about 8 bytes per byte of the old file with a new file
 * of the same size.
 */
export function bsdiffStreams(old: Uint8Array, next: Uint8Array): BsdiffStreams {
  const indexed = indexText(old);
  const { e } = indexed;
  return inMatcher(`the bsdiff streams of ${next.length} bytes`, () => {
    const n = next.length;
    const at = e.alloc(n) >>> 0;
    new Uint8Array(e.memory.buffer, at, n).set(next);
    const diff = e.alloc(n) >>> 0;
    const extra = e.alloc(n) >>> 0;
    e.scanInit(indexed.text, indexed.n, indexed.sa, at, n, diff, extra);
    while (e.scanStep(SCAN_STEP) !== 0);
    // Views made last: the control stream's buffer grows (and the memory with it) while it is written.
    const buffer = e.memory.buffer;
    return {
      control: new Uint8Array(buffer, e.controlPointer() >>> 0, e.controlLength()),
      diff: new Uint8Array(buffer, diff, e.diffLength()),
      extra: new Uint8Array(buffer, extra, e.extraLength()),
    };
  });
}
