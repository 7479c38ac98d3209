/**
 * Suffix arrays by SA-IS (Nong, Zhang and Chan, "Two efficient algorithms for linear time
 * suffix array construction", 2009), the index the bsdiff matcher searches.
 *
 * The algorithm runs as WebAssembly, compiled from AssemblyScript (`asm/suffix-array.ts`, by
 * `npm run build:wasm`): the same SA-IS in JavaScript took 3.0-3.4 s for esbuild's 10 MB
 * (typed arrays, one function for the bytes of level 0 and the 32-bit names of the reduced
 * levels, which V8 could not keep monomorphic), the module 1.0-1.4 s once optimised. The
 * reduced problem is stored inside the suffix array itself (names in the upper half, its
 * suffix array in the lower half), so a level allocates only its type flags (one bit per
 * position) and buckets. The one recursion is on the reduced string, whose length is at most
 * half of its parent's, so the depth is at most log2(n) (27 levels for 110 MB). The inducing
 * passes read the type of a suffix from its first two bytes, and the flags only on a tie.
 *
 * Memory per input byte, besides the input: its copy in the module (1), the result (4) and
 * the type flags of every level (at most 1/8 + 1/16 + ... = 1/4 bit each), plus one 4-byte
 * bucket per distinct name of a level: about 5.3 bytes, 5.6 in the worst case. The result is
 * a view of the module's memory, which lives as long as it does; the module also holds the
 * scan of diff.ts, which reads the old file and its suffix array there.
 */
import { instanceMaker, wasmApi, type WasmMemory } from '../../core/wasm.js';
import { MATCHER_WASM_BASE64 } from './matcher-wasm.js';

/** The exports of asm/matcher.ts: the suffix array here, the scan in diff.ts. */
export interface MatcherExports {
  memory: WasmMemory;
  alloc(size: number): number;
  suffixArray(text: number, n: number, sa: number): void;
  scanInit(old: number, oldSize: number, sa: number, next: number, newSize: number, diff: number, extra: number): void;
  scanStep(budget: number): number;
  controlPointer(): number;
  controlLength(): number;
  diffLength(): number;
  extraLength(): number;
}

/** A file and its suffix array in a fresh instance of the matcher's module. */
export interface IndexedText {
  e: MatcherExports;
  /** Where the text's copy starts in the module's memory. */
  text: number;
  /** Where its suffix array starts (n 32-bit positions). */
  sa: number;
  n: number;
}

/**
 * From this size on, a suffix array is first made of the text's first {@link WARM_BYTES}
 * bytes in an instance of its own. WebAssembly has no on-stack replacement: V8 runs a
 * function in its baseline code until it is called again after its optimised code is
 * ready, and one call makes a whole suffix array. The small one runs the functions long
 * enough for V8 to optimise them (esbuild 0.25.0's 10 MB in a fresh process: 2.0-2.1 s in
 * one call, 1.1-1.4 s after a warm-up of 256 KiB that took 31-35 ms, as with V8's baseline
 * compiler turned off: 1.0-1.4 s).
 */
const WARM_MIN = 4 << 20;
const WARM_BYTES = 256 << 10;

/** The largest text: its result (4 bytes per byte) is 2 GiB, half the module's memory. */
const SUFFIX_ARRAY_MAX = 512 * 1024 * 1024;

/** A fresh instance of the matcher's module. */
const matcherInstance: () => MatcherExports = instanceMaker<MatcherExports>(MATCHER_WASM_BASE64, 'bsdiff matcher');

/**
 * Runs `job` on the module, a trap (its memory could not grow: over 4 GiB in all) turned into
 * a RangeError that says what was being made.
 */
export function inMatcher<T>(what: string, job: () => T): T {
  try {
    return job();
  } catch (cause) {
    if (!(cause instanceof wasmApi().RuntimeError)) throw cause;
    throw new RangeError(`Cannot make ${what}: its memory cannot grow (${(cause as Error).message})`, { cause });
  }
}

function build(text: Uint8Array): IndexedText {
  const n = text.length;
  const e = matcherInstance();
  return inMatcher(`the suffix array of ${n} bytes`, () => {
    const at = e.alloc(n) >>> 0;
    new Uint8Array(e.memory.buffer, at, n).set(text);
    const sa = e.alloc(4 * n) >>> 0;
    e.suffixArray(at, n, sa);
    return { e, text: at, sa, n };
  });
}

/**
 * `text` and its suffix array in a fresh instance of the matcher's module (the scan of
 * diff.ts runs there too). Up to {@link SUFFIX_ARRAY_MAX} bytes.
 */
export function indexText(text: Uint8Array): IndexedText {
  if (text.length > SUFFIX_ARRAY_MAX)
    throw new RangeError(`Cannot make the suffix array of ${text.length} bytes: over ${SUFFIX_ARRAY_MAX}`);
  if (text.length >= WARM_MIN) build(text.subarray(0, WARM_BYTES));
  return build(text);
}

/**
 * The suffix array of `text`: the start positions of its suffixes in lexicographic order
 * (a suffix that is a prefix of another sorts first), a view of the module's memory.
 */
export function suffixArray(text: Uint8Array): Int32Array {
  const indexed = indexText(text);
  return new Int32Array(indexed.e.memory.buffer, indexed.sa, indexed.n);
}
