/**
 * The adaptive binary range coder of the lz-delta codec, after the published description of
 * LZMA's: 11-bit probabilities moved by 1/32 towards each coded bit, a 32-bit range
 * normalised a byte at a time, the carry resolved through a cached byte and a run of 0xFF.
 *
 * The encoder writes exactly one byte per normalisation plus five at the flush and the
 * decoder reads five at the start plus one per normalisation, so a delta whose body is longer
 * or shorter than the encoder wrote is noticed at the end (see `RangeDecoder.finish`).
 */
import { ErrorCodes, SyncError } from '../../core/errors.js';

export const PROB_BITS = 11;
export const PROB_ONE = 1 << PROB_BITS;
export const PROB_INIT = PROB_ONE >> 1;
const MOVE_BITS = 4;
const TOP = 1 << 24;
const TWO32 = 2 ** 32;

/** Prices are in 1/16 bit. */
export const PRICE_SHIFT = 4;
export const PRICE_TABLE = (() => {
  const table = new Int32Array((PROB_ONE >> PRICE_SHIFT) + 1);
  for (let i = 0; i < table.length; i++) {
    const p = (i * (1 << PRICE_SHIFT) + (1 << (PRICE_SHIFT - 1))) / PROB_ONE;
    table[i] = Math.round(-Math.log2(Math.min(p, 1)) * 16);
  }
  return table;
})();

/** The price of coding `bit` with probability-of-zero `prob`. */
export function bitPrice(prob: number, bit: number): number {
  return PRICE_TABLE[(bit === 0 ? prob : PROB_ONE - prob) >> PRICE_SHIFT]!;
}

export function corrupt(state: string): SyncError {
  return new SyncError(ErrorCodes.DELTA_CORRUPT, `Cannot apply the delta: ${state}`);
}

export class RangeEncoder {
  private low = 0;
  private range = 0xffffffff;
  private cache = 0;
  private cacheSize = 1;
  private out: Uint8Array;
  private pos = 0;

  constructor(capacity: number) {
    this.out = new Uint8Array(Math.max(64, capacity));
  }

  encodeBit(probs: Uint16Array, index: number, bit: number): void {
    const p = probs[index]!;
    const bound = (this.range >>> PROB_BITS) * p;
    if (bit === 0) {
      this.range = bound;
      probs[index] = p + ((PROB_ONE - p) >> MOVE_BITS);
    } else {
      this.low += bound;
      this.range -= bound;
      probs[index] = p - (p >> MOVE_BITS);
    }
    while (this.range < TOP) {
      this.range = (this.range * 256) >>> 0;
      this.shiftLow();
    }
  }

  /** `count` bits of `value` (most significant first) at probability one half. */
  encodeDirect(value: number, count: number): void {
    for (let i = count - 1; i >= 0; i--) {
      this.range = this.range >>> 1;
      if (Math.floor(value / 2 ** i) % 2 === 1) this.low += this.range;
      while (this.range < TOP) {
        this.range = (this.range * 256) >>> 0;
        this.shiftLow();
      }
    }
  }

  private shiftLow(): void {
    const low = this.low;
    if (low < 0xff000000 || low >= TWO32) {
      const carry = low >= TWO32 ? 1 : 0;
      let temp = this.cache;
      do {
        this.put((temp + carry) & 0xff);
        temp = 0xff;
      } while (--this.cacheSize !== 0);
      this.cache = (low >>> 24) & 0xff;
    }
    this.cacheSize++;
    this.low = (low & 0x00ffffff) * 256;
  }

  private put(byte: number): void {
    if (this.pos === this.out.length) {
      const grown = new Uint8Array(this.out.length * 2);
      grown.set(this.out);
      this.out = grown;
    }
    this.out[this.pos++] = byte;
  }

  /** Flushes the coder and returns everything written. */
  finish(): Uint8Array {
    for (let i = 0; i < 5; i++) this.shiftLow();
    return this.out.subarray(0, this.pos);
  }
}

export class RangeDecoder {
  private range = 0xffffffff;
  private code = 0;
  private pos: number;

  constructor(
    private readonly input: Uint8Array,
    start: number,
  ) {
    this.pos = start;
    if (input.length - start < 5) throw corrupt('the coded body is truncated');
    if (input[start] !== 0) throw corrupt('the coded body does not start with a zero byte');
    for (let i = 1; i < 5; i++) this.code = (this.code * 256 + input[start + i]!) >>> 0;
    this.pos = start + 5;
    if (this.code === 0xffffffff) throw corrupt('the coded body starts out of range');
  }

  decodeBit(probs: Uint16Array, index: number): number {
    const p = probs[index]!;
    const bound = (this.range >>> PROB_BITS) * p;
    let bit: number;
    if (this.code < bound) {
      this.range = bound;
      probs[index] = p + ((PROB_ONE - p) >> MOVE_BITS);
      bit = 0;
    } else {
      this.code -= bound;
      this.range -= bound;
      probs[index] = p - (p >> MOVE_BITS);
      bit = 1;
    }
    if (this.range < TOP) this.normalize();
    return bit;
  }

  decodeDirect(count: number): number {
    let value = 0;
    for (let i = 0; i < count; i++) {
      this.range = this.range >>> 1;
      let bit = 0;
      if (this.code >= this.range) {
        this.code -= this.range;
        bit = 1;
      }
      value = value * 2 + bit;
      if (this.range < TOP) this.normalize();
    }
    return value;
  }

  private normalize(): void {
    if (this.pos >= this.input.length) throw corrupt('the coded body is truncated');
    this.range = (this.range * 256) >>> 0;
    this.code = (this.code * 256 + this.input[this.pos++]!) >>> 0;
  }

  /** Throws unless the body ended exactly where the encoder's flush ended it. */
  finish(): void {
    if (this.pos !== this.input.length) throw corrupt(`${this.input.length - this.pos} bytes follow the end of the coded body`);
    if (this.code !== 0) throw corrupt('the coded body does not end as it was flushed');
  }
}
