/**
 * The RabinKarp rolling checksum of librsync (its default weak sum since 2.2.0), so that
 * rdiff signatures can be matched by the same engine.
 *
 *     h(x[0..n-1]) = SEED·M^n + Σ x[i]·M^(n−1−i)   (mod 2^32),  SEED = 1, M = 0x08104225
 *
 * Rolling one byte (drop `out`, take `in`): `h' = M·h + in − M^n·(out + M − 1)`.
 *
 * @module
 */
import { weakSumsModule } from './rollsum.js';
import { WASM_PAGE } from './wasm.js';

/** librsync's multiplier. */
export const RK_MULT = 0x08104225;
/** librsync's seed. */
export const RK_SEED = 1;
/** `(M − 1)·SEED`: cancels the seed term when a byte leaves the window. */
export const RK_ADJ = 0x08104224;

/** M^n mod 2^32. */
export function rkPower(n: number): number {
  let r = 1;
  let b = RK_MULT;
  let e = n;
  while (e > 0) {
    if (e & 1) r = Math.imul(r, b);
    b = Math.imul(b, b);
    e = Math.floor(e / 2);
  }
  return r >>> 0;
}

/** RabinKarp checksum of `data[start, start + length)`, unsigned. */
export function rabinKarpChecksum(data: Uint8Array, start = 0, length = data.length - start): number {
  let h = RK_SEED;
  const end = start + length;
  for (let i = start; i < end; i++) h = (Math.imul(h, RK_MULT) + data[i]!) | 0;
  return h >>> 0;
}

/**
 * Bytes of blocks copied into the WebAssembly memory per call of {@link rabinKarpBlockSums}
 * (at least one block), as for the rollsum's block sums (rollsum.ts).
 */
const SUMS_PIECE = 64 * 1024;

/**
 * The RabinKarp checksums of `count` whole blocks of `blockSize` bytes at `data[start]`,
 * into `out` from `outStart` (as {@link rabinKarpChecksum} gives them). In WebAssembly
 * with SIMD (`scan/weak-sums.wat`: sixteen independent Horner chains, where the loop here
 * waits on each multiplication) when `blockSize` is a multiple of 16, else in JavaScript.
 * The signature of the 107 MB bun binary spent 127 ms in {@link rabinKarpChecksum}
 * (`node --cpu-prof` of the receiving end of a push).
 */
export function rabinKarpBlockSums(
  data: Uint8Array,
  start: number,
  count: number,
  blockSize: number,
  out: Uint32Array,
  outStart = 0,
): void {
  if ((blockSize & 15) !== 0 || blockSize <= 0) {
    for (let k = 0; k < count; k++) out[outStart + k] = rabinKarpChecksum(data, start + k * blockSize, blockSize);
    return;
  }
  const x = weakSumsModule();
  const per = Math.max(1, Math.floor(SUMS_PIECE / blockSize));
  const outAt = per * blockSize;
  const wAt = outAt + per * 4;
  const need = wAt + 80;
  if (x.memory.buffer.byteLength < need) x.memory.grow(Math.ceil((need - x.memory.buffer.byteLength) / WASM_PAGE));
  const mem = new Uint8Array(x.memory.buffer);
  // Weights M^(15-r) of byte position r modulo 16 (lane k of vector q: r = 4q + k), then M^16.
  const w = new Uint32Array(x.memory.buffer, wAt, 17);
  for (let r = 0; r < 16; r++) w[r] = rkPower(15 - r);
  w[16] = rkPower(16);
  const seedPow = Math.imul(RK_SEED, rkPower(blockSize));
  const sums = new Uint32Array(x.memory.buffer, outAt, per);
  for (let k = 0; k < count; k += per) {
    const n = Math.min(per, count - k);
    const from = start + k * blockSize;
    mem.set(data.subarray(from, from + n * blockSize), 0);
    x.rkSums(0, n, blockSize, outAt, seedPow, wAt);
    out.set(n === per ? sums : sums.subarray(0, n), outStart + k);
  }
}
