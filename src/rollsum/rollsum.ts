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

/** Weak checksum of `data[start, start + length)`, as `(a << 16 | b) >>> 0`. */
export function weakChecksum(data: Uint8Array, start = 0, length = data.length - start): number {
  let a = 0;
  let b = 0;
  const end = start + length;
  // b = Σ (n - i)·x[i] is the running sum of the prefix sums of a.
  for (let i = start; i < end; i++) {
    a = (a + data[i]!) & 0xffff;
    b = (b + a) & 0xffff;
  }
  return ((a << 16) | b) >>> 0;
}

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
