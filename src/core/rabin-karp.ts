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
import { type WeakSumsExports, blockSums } from './rollsum.js';

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
  const seedPow = Math.imul(RK_SEED, rkPower(blockSize));
  const sums = (x: WeakSumsExports, n: number, outAt: number, w: number) => x.rkSums(0, n, blockSize, outAt, seedPow, w);
  blockSums(data, start, count, blockSize, out, outStart, rabinKarpChecksum, sums, {
    bytes: 17 * 4,
    // Weights M^(15-r) of byte position r modulo 16 (lane k of vector q: r = 4q + k), then M^16.
    fill(memory, at) {
      const w = new Uint32Array(memory, at, 17);
      for (let r = 0; r < 16; r++) w[r] = rkPower(15 - r);
      w[16] = rkPower(16);
    },
  });
}
