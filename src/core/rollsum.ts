/**
 * The rolling weak checksum: the sum zsync and rsync use (an Adler-32 variant without the
 * offset and the prime modulus), over a window of any size.
 *
 * For a window `x[0..n-1]`:
 *
 *     a = Σ x[i]            (mod 2^16)
 *     b = Σ (n - i) · x[i]  (mod 2^16)
 *
 * and the 32-bit weak checksum is `(a << 16) | b`. Truncated to k bytes it keeps the low
 * k bytes (so `b` survives a 2-byte truncation, as in zsync's `.zsync` files).
 *
 * Moving the window one byte to the right (drop `out`, take `in`) is O(1):
 *
 *     a' = a + in - out
 *     b' = b + a' - n · out
 *
 * All arithmetic stays in small integers (`n · out` is taken with `n mod 2^16`, so the
 * product stays below 2^24) and nothing is allocated. The matcher inlines the same two
 * lines in its scan loop; this module is the reference and the building block for
 * everything else (index builder, tests, benchmarks).
 *
 * @module
 */
import { WEAK_SUMS_WASM_BASE64 } from './scan/weak-sums-wasm.js';
import { WASM_PAGE as PAGE, type WasmMemory, compileBase64, wasmApi } from './wasm.js';

/**
 * Weak checksum of `data[start, start + length)`, as `(a << 16 | b) >>> 0`.
 *
 * Unrolled by eight: eight bytes advance `b` by `8a + 8x0 + 7x1 + … + x7`, which is the
 * same as eight single steps. The sums wrap at 2^32 (`| 0`), which keeps their low 16
 * bits exact. 2.2 GB/s against 1.0 GB/s for the plain loop (a stand-alone timing of both over
 * 64 MiB in 4 KiB windows; bench/micro.ts tracks the rolling checksum).
 */
export function weakChecksum(data: Uint8Array, start = 0, length = data.length - start): number {
  let a = 0;
  let b = 0;
  const end = start + length;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const x0 = data[i]!,
      x1 = data[i + 1]!,
      x2 = data[i + 2]!,
      x3 = data[i + 3]!;
    const x4 = data[i + 4]!,
      x5 = data[i + 5]!,
      x6 = data[i + 6]!,
      x7 = data[i + 7]!;
    b = (b + 8 * a + 8 * x0 + 7 * x1 + 6 * x2 + 5 * x3 + 4 * x4 + 3 * x5 + 2 * x6 + x7) | 0;
    a = (a + x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7) | 0;
  }
  for (; i < end; i++) {
    a = (a + data[i]!) | 0;
    b = (b + a) | 0;
  }
  return (((a & 0xffff) << 16) | (b & 0xffff)) >>> 0;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * The weak checksum of `length` bytes starting at word `wordStart` of a `Uint32Array`
 * view (little-endian platforms only; `length` a multiple of 4). Reading four bytes per
 * load makes it about 40% faster than {@link weakChecksum} (3.0 against 2.2 GB/s): the
 * index builder uses it on its own aligned buffers.
 */
export function weakChecksumWords(words: Uint32Array, wordStart: number, length: number): number {
  let a = 0;
  let b = 0;
  const end = wordStart + (length >>> 2);
  for (let k = wordStart; k < end; k++) {
    const v = words[k]!;
    const x0 = v & 0xff,
      x1 = (v >>> 8) & 0xff,
      x2 = (v >>> 16) & 0xff,
      x3 = v >>> 24;
    b = (b + 4 * a + 4 * x0 + 3 * x1 + 2 * x2 + x3) | 0;
    a = (a + x0 + x1 + x2 + x3) | 0;
  }
  return (((a & 0xffff) << 16) | (b & 0xffff)) >>> 0;
}

/** The exports of `scan/weak-sums.wat`. */
export interface WeakSumsExports {
  readonly memory: WasmMemory;
  sums(p: number, count: number, bs: number, out: number): void;
  rkSums(p: number, count: number, bs: number, out: number, seedPow: number, w: number): void;
}

/**
 * Bytes of blocks copied into the WebAssembly memory per call of {@link weakChecksumBlocks}
 * (at least one block). V8 runs a module's first calls in its baseline compiler and the
 * optimised code from a later call on (see the CHUNK of scan/rollsum-scan.ts), so the
 * blocks go in pieces rather than in one call over a whole read.
 */
const SUMS_PIECE = 64 * 1024;
let sumsModule: WeakSumsExports | undefined;

/** The block weak-sums module, instantiated on first use (one per thread). */
export function weakSumsModule(): WeakSumsExports {
  if (sumsModule) return sumsModule;
  sumsModule = new (wasmApi().Instance)(compileBase64(WEAK_SUMS_WASM_BASE64), {}).exports as WeakSumsExports;
  return sumsModule;
}

/**
 * The weak checksums of `count` whole blocks of `blockSize` bytes at `data[start]`, into
 * `out` from `outStart` (one per block, as {@link weakChecksum} gives them). In
 * WebAssembly with SIMD (`scan/weak-sums.wat`, 16 bytes per step) when `blockSize` is a
 * multiple of 16, else in JavaScript. 256 MiB of random data in 4 KiB blocks (CPU time,
 * the loaded 2-vCPU VM, `bench/micro.ts` "weak sums of blocks"): see the figures there;
 * {@link weakChecksumWords} took about 0.2 s of the index build's CPU in a profile.
 */
export function weakChecksumBlocks(
  data: Uint8Array,
  start: number,
  count: number,
  blockSize: number,
  out: Uint32Array,
  outStart = 0,
): void {
  blockSums(data, start, count, blockSize, out, outStart, weakChecksum, (x, n, outAt) => x.sums(0, n, blockSize, outAt));
}

/**
 * The sums of `count` blocks of `blockSize` bytes at `data[start]` into `out` from
 * `outStart`: by `call` (an export of the weak-sums module) when `blockSize` is a multiple
 * of 16, the blocks copied into the module's memory {@link SUMS_PIECE} bytes at a time and
 * the sums it leaves at `outAt` copied out; else block by block with `scalar`. `extra`
 * reserves bytes after the sums, at `extraAt`, for the caller's constants (filled once).
 */
export function blockSums(
  data: Uint8Array,
  start: number,
  count: number,
  blockSize: number,
  out: Uint32Array,
  outStart: number,
  scalar: (data: Uint8Array, start: number, length: number) => number,
  call: (x: WeakSumsExports, n: number, outAt: number, extraAt: number) => void,
  extra?: { bytes: number; fill(memory: ArrayBuffer, at: number): void },
): void {
  if ((blockSize & 15) !== 0 || blockSize <= 0) {
    for (let k = 0; k < count; k++) out[outStart + k] = scalar(data, start + k * blockSize, blockSize);
    return;
  }
  const x = weakSumsModule();
  const per = Math.max(1, Math.floor(SUMS_PIECE / blockSize));
  const outAt = per * blockSize;
  const extraAt = outAt + per * 4;
  const need = extraAt + (extra?.bytes ?? 0);
  if (x.memory.buffer.byteLength < need) x.memory.grow(Math.ceil((need - x.memory.buffer.byteLength) / PAGE));
  const mem = new Uint8Array(x.memory.buffer);
  extra?.fill(x.memory.buffer, extraAt);
  const sums = new Uint32Array(x.memory.buffer, outAt, per);
  for (let k = 0; k < count; k += per) {
    const n = Math.min(per, count - k);
    const from = start + k * blockSize;
    mem.set(data.subarray(from, from + n * blockSize), 0);
    call(x, n, outAt, extraAt);
    out.set(n === per ? sums : sums.subarray(0, n), outStart + k);
  }
}

/** True when {@link weakChecksumWords} may be used (the platform is little-endian). */
export const canUseWords = LITTLE_ENDIAN;

/**
 * A rolling checksum over a fixed window, moved one byte at a time.
 *
 * @example
 * ```ts
 * const r = new RollingChecksum(4);
 * r.init(data, 0);              // window data[0..4)
 * r.roll(data[0], data[4]);     // window data[1..5)
 * r.value === weakChecksum(data, 1, 4); // true
 * ```
 */
export class RollingChecksum {
  /** Low half: Σ x[i] mod 2^16. */
  a = 0;
  /** High half: Σ (n - i)·x[i] mod 2^16. */
  b = 0;
  /** The window length. */
  readonly windowSize: number;
  readonly #nMod: number;

  constructor(windowSize: number) {
    if (!Number.isSafeInteger(windowSize) || windowSize < 1) {
      throw new RangeError(`Cannot create a rolling checksum: window size ${windowSize} is not a positive integer`);
    }
    this.windowSize = windowSize;
    this.#nMod = windowSize & 0xffff;
  }

  /** Computes the checksum of the window `data[start, start + windowSize)` from scratch. */
  init(data: Uint8Array, start = 0): this {
    const v = weakChecksum(data, start, this.windowSize);
    this.a = v >>> 16;
    this.b = v & 0xffff;
    return this;
  }

  /** Moves the window one byte: `out` leaves on the left, `in_` enters on the right. */
  roll(out: number, in_: number): void {
    this.a = (this.a + in_ - out) & 0xffff;
    this.b = (this.b + this.a - this.#nMod * out) & 0xffff;
  }

  /** The 32-bit weak checksum `(a << 16 | b) >>> 0` of the current window. */
  get value(): number {
    return ((this.a << 16) | this.b) >>> 0;
  }
}

/** The mask that keeps the low `bytes` bytes of a weak checksum (1..4). */
export function weakMask(bytes: number): number {
  return bytes >= 4 ? 0xffffffff : (1 << (8 * bytes)) - 1;
}
