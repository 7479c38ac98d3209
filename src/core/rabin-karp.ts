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
