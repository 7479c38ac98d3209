/**
 * The probability model shared by the lz-delta encoder and decoder: LZMA's twelve-state
 * machine over the last few operations, literals coded bit by bit with the previous byte as
 * context (and, after a match, the byte at the last distance, which an edit most often leaves
 * in place), the four repeat distances, and one delta-specific kind: a match at the last
 * distance shifted by a small signed amount, which is what an insertion or deletion of a few
 * bytes does to the displacement between the old and the new text.
 */
import { bitPrice, PROB_INIT, PROB_ONE, type RangeDecoder, type RangeEncoder } from './range-coder.js';

export const STATES = 12;
/** Literal contexts: the high bits of the previous byte. */
export const LIT_CONTEXT_BITS = 8;
export const OP_LITERAL = 0;
export const OP_MATCH = 1;
export const OP_NEAR = 2;
export const OP_REP0 = 3;
/** OP_REP0 + k is repeat distance k (0..3). */
export const OP_SHORT_REP = 7;
/** A match at the cursor (where the last long match's source ended) + δ. */
export const OP_CURSOR = 8;
/** A match at least this long moves the cursor to the end of its source. */
export const CURSOR_MIN_LEN = 64;

/** δ ↦ 0, -1, 1, -2, 2 … as 0, 1, 2, 3, 4 … */
export function zigzag(delta: number): number {
  return delta >= 0 ? delta * 2 : -delta * 2 - 1;
}
export function unzigzag(value: number): number {
  return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
}

export function afterLiteral(state: number): number {
  return state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
}
export function afterMatch(state: number): number {
  return state < 7 ? 7 : 10;
}
export function afterRep(state: number): number {
  return state < 7 ? 8 : 11;
}
export function afterShortRep(state: number): number {
  return state < 7 ? 9 : 11;
}

/** Bits below the leading one of a number coded with adaptive probabilities (six rather than four: 24,298 → 24,160 bytes on typescript.js). */
const NUM_TREE_BITS = 6;
const NUM_SLOT_BITS = 5;
const NUM_SLOTS = 1 << NUM_SLOT_BITS;
const NUM_SIZE = NUM_SLOTS + NUM_SLOTS * (1 << NUM_TREE_BITS);
/**
 * Non-negative numbers below 2^32 as (bit length of value+1) by a 5-bit tree, then the top six
 * bits below the leading one by a tree per length, then the rest as direct bits: small values
 * (lengths of a few bytes) are learnt exactly, large ones (distances into the old file, long
 * matches) cost their magnitude.
 */
export class NumberCoder {
  readonly probs: Uint16Array;

  constructor(readonly contexts: number) {
    this.probs = new Uint16Array(NUM_SIZE * contexts).fill(PROB_INIT);
  }

  encode(rc: RangeEncoder, context: number, value: number): void {
    const base = context * NUM_SIZE;
    const u = value + 1;
    const nb = bitLength(u) - 1;
    let m = 1;
    for (let i = NUM_SLOT_BITS - 1; i >= 0; i--) {
      const bit = (nb >>> i) & 1;
      rc.encodeBit(this.probs, base + m, bit);
      m = (m << 1) | bit;
    }
    const rest = u - 2 ** nb;
    const k = Math.min(nb, NUM_TREE_BITS);
    const low = nb - k;
    const top = Math.floor(rest / 2 ** low);
    const treeBase = base + NUM_SLOTS + nb * (1 << NUM_TREE_BITS);
    m = 1;
    for (let i = k - 1; i >= 0; i--) {
      const bit = (top >>> i) & 1;
      rc.encodeBit(this.probs, treeBase + m, bit);
      m = (m << 1) | bit;
    }
    if (low > 0) rc.encodeDirect(rest - top * 2 ** low, low);
  }

  decode(rc: RangeDecoder, context: number): number {
    const base = context * NUM_SIZE;
    let m = 1;
    for (let i = 0; i < NUM_SLOT_BITS; i++) m = (m << 1) | rc.decodeBit(this.probs, base + m);
    const nb = m - NUM_SLOTS;
    const k = Math.min(nb, NUM_TREE_BITS);
    const low = nb - k;
    const treeBase = base + NUM_SLOTS + nb * (1 << NUM_TREE_BITS);
    m = 1;
    for (let i = 0; i < k; i++) m = (m << 1) | rc.decodeBit(this.probs, treeBase + m);
    const top = m - (1 << k);
    const rest = top * 2 ** low + (low > 0 ? rc.decodeDirect(low) : 0);
    return 2 ** nb + rest - 1;
  }

  price(context: number, value: number): number {
    const base = context * NUM_SIZE;
    const u = value + 1;
    const nb = bitLength(u) - 1;
    let price = 0;
    let m = 1;
    for (let i = NUM_SLOT_BITS - 1; i >= 0; i--) {
      const bit = (nb >>> i) & 1;
      price += bitPrice(this.probs[base + m]!, bit);
      m = (m << 1) | bit;
    }
    const k = Math.min(nb, NUM_TREE_BITS);
    const low = nb - k;
    const top = Math.floor((u - 2 ** nb) / 2 ** low);
    const treeBase = base + NUM_SLOTS + nb * (1 << NUM_TREE_BITS);
    m = 1;
    for (let i = k - 1; i >= 0; i--) {
      const bit = (top >>> i) & 1;
      price += bitPrice(this.probs[treeBase + m]!, bit);
      m = (m << 1) | bit;
    }
    return price + low * 16;
  }
}

function bitLength(u: number): number {
  return u >= 2 ** 32 ? 33 : 32 - Math.clz32(u);
}

/** Distance contexts by match length: 2, 3, 4, 5 and more. */
export function distContext(length: number): number {
  return length < 5 ? length - 2 : 3;
}

export class Model {
  readonly isMatch = new Uint16Array(STATES).fill(PROB_INIT);
  readonly isRep = new Uint16Array(STATES).fill(PROB_INIT);
  readonly isNear = new Uint16Array(STATES).fill(PROB_INIT);
  readonly nearSign = new Uint16Array(2).fill(PROB_INIT);
  readonly isCursor = new Uint16Array(STATES).fill(PROB_INIT);
  readonly cursorOffset = new NumberCoder(1);
  readonly isRepG0 = new Uint16Array(STATES).fill(PROB_INIT);
  readonly isRepG1 = new Uint16Array(STATES).fill(PROB_INIT);
  readonly isRepG2 = new Uint16Array(STATES).fill(PROB_INIT);
  readonly isRep0Long = new Uint16Array(STATES).fill(PROB_INIT);
  readonly literal = new Uint16Array(0x300 << LIT_CONTEXT_BITS).fill(PROB_INIT);
  /** Context 0: explicit distances; 1: shifted and cursor matches (mostly long re-synchronisations). */
  readonly matchLen = new NumberCoder(2);
  readonly repLen = new NumberCoder(1);
  readonly dist = new NumberCoder(4);
  readonly nearMagnitude = new NumberCoder(1);
}

/** The base index of the literal probabilities after `prevByte`. */
export function literalBase(prevByte: number): number {
  return (prevByte >> (8 - LIT_CONTEXT_BITS)) * 0x300;
}

/** Whether a literal in `state` is coded against the byte at the last distance. */
export function usesMatchedLiteral(state: number): boolean {
  return state >= 7;
}

export function encodeLiteral(rc: RangeEncoder, probs: Uint16Array, base: number, byte: number, matchByte: number, matched: boolean): void {
  let symbol = 1;
  if (matched) {
    let offs = 0x100;
    let mb = matchByte;
    for (let i = 7; i >= 0; i--) {
      mb <<= 1;
      const matchBit = mb & offs;
      const bit = (byte >>> i) & 1;
      rc.encodeBit(probs, base + offs + matchBit + symbol, bit);
      symbol = (symbol << 1) | bit;
      offs &= bit === 0 ? ~matchBit : matchBit;
    }
    return;
  }
  for (let i = 7; i >= 0; i--) {
    const bit = (byte >>> i) & 1;
    rc.encodeBit(probs, base + symbol, bit);
    symbol = (symbol << 1) | bit;
  }
}

export function decodeLiteral(rc: RangeDecoder, probs: Uint16Array, base: number, matchByte: number, matched: boolean): number {
  let symbol = 1;
  if (matched) {
    let offs = 0x100;
    let mb = matchByte;
    while (symbol < 0x100) {
      mb <<= 1;
      const matchBit = mb & offs;
      const bit = rc.decodeBit(probs, base + offs + matchBit + symbol);
      symbol = (symbol << 1) | bit;
      offs &= bit === 0 ? ~matchBit : matchBit;
    }
    return symbol & 0xff;
  }
  while (symbol < 0x100) symbol = (symbol << 1) | rc.decodeBit(probs, base + symbol);
  return symbol & 0xff;
}

export function literalPrice(probs: Uint16Array, base: number, byte: number, matchByte: number, matched: boolean): number {
  let price = 0;
  let symbol = 1;
  if (matched) {
    let offs = 0x100;
    let mb = matchByte;
    for (let i = 7; i >= 0; i--) {
      mb <<= 1;
      const matchBit = mb & offs;
      const bit = (byte >>> i) & 1;
      price += bitPrice(probs[base + offs + matchBit + symbol]!, bit);
      symbol = (symbol << 1) | bit;
      offs &= bit === 0 ? ~matchBit : matchBit;
    }
    return price;
  }
  for (let i = 7; i >= 0; i--) {
    const bit = (byte >>> i) & 1;
    price += bitPrice(probs[base + symbol]!, bit);
    symbol = (symbol << 1) | bit;
  }
  return price;
}

/** Bytes of the old file's end that train the literal model before coding (both sides). */
export const PRIME_BYTES = 1 << 20;

/**
 * Trains the plain literal probabilities on the end of the old file, as if its bytes had been
 * coded as literals, so the first literals of the new file cost what the old text predicts.
 */
export function primeLiterals(model: Model, old: Uint8Array): void {
  const probs = model.literal;
  const start = Math.max(0, old.length - PRIME_BYTES);
  let prev = start > 0 ? old[start - 1]! : 0;
  for (let q = start; q < old.length; q++) {
    const byte = old[q]!;
    const base = literalBase(prev);
    let symbol = 1;
    for (let i = 7; i >= 0; i--) {
      const bit = (byte >>> i) & 1;
      const index = base + symbol;
      const p = probs[index]!;
      probs[index] = bit === 0 ? p + ((PROB_ONE - p) >> 4) : p - (p >> 4);
      symbol = (symbol << 1) | bit;
    }
    prev = byte;
  }
}
