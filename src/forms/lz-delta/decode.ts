/**
 * The lz-delta decoder. Every distance, shift and length is checked against the window
 * (old‖output so far) and the declared size before a byte is copied, so a hostile delta ends
 * in DELTA_CORRUPT, never in a read outside the buffers; every operation produces at least one
 * byte, so decoding ends after at most the declared size operations.
 */
import { throwIfAborted } from '../../core/errors.js';
import {
  afterLiteral,
  afterMatch,
  afterRep,
  afterShortRep,
  CURSOR_MIN_LEN,
  decodeLiteral,
  distContext,
  literalBase,
  Model,
  primeLiterals,
  unzigzag,
  usesMatchedLiteral,
} from './model.js';
import { corrupt, RangeDecoder } from './range-coder.js';

/** Operations between two looks at the abort signal. */
const ABORT_CHECK_OPS = 1 << 16;

export class LzDeltaDecoder {
  private readonly model = new Model();
  private readonly rc: RangeDecoder;
  private out: Uint8Array;
  private pos = 0;
  private state: number;
  private readonly reps: Float64Array;
  private readonly oldLen: number;
  /** Where the source of the last long match ended (a window position). */
  private cursor = 0;

  constructor(
    private readonly old: Uint8Array,
    private readonly size: number,
    delta: Uint8Array,
    bodyStart: number,
  ) {
    this.rc = new RangeDecoder(delta, bodyStart);
    this.oldLen = old.length;
    // the output grows as it is produced: a declared size is not trusted with an allocation
    this.out = new Uint8Array(Math.min(size, Math.max(1 << 16, (delta.length - bodyStart) * 64)));
    const start = Math.max(1, old.length);
    this.reps = Float64Array.of(start, start, start, start);
    this.state = old.length > 0 ? 7 : 0;
    primeLiterals(this.model, old);
  }

  decode(signal: AbortSignal | undefined): Uint8Array {
    let ops = 0;
    while (this.pos < this.size) {
      if (++ops === ABORT_CHECK_OPS) {
        ops = 0;
        throwIfAborted(signal);
      }
      this.step();
    }
    this.rc.finish();
    return this.out.length === this.size ? this.out : this.out.subarray(0, this.size);
  }

  private byteAt(p: number): number {
    return p < this.oldLen ? this.old[p]! : this.out[p - this.oldLen]!;
  }

  private step(): void {
    const m = this.model;
    const rc = this.rc;
    const s = this.state;
    const p = this.oldLen + this.pos;
    if (rc.decodeBit(m.isMatch, s) === 0) {
      const r0 = this.reps[0]!;
      const matchByte = r0 <= p ? this.byteAt(p - r0) : 0;
      const byte = decodeLiteral(rc, m.literal, literalBase(p > 0 ? this.byteAt(p - 1) : 0), matchByte, usesMatchedLiteral(s));
      this.reserve(1);
      this.out[this.pos++] = byte;
      this.state = afterLiteral(s);
      return;
    }
    if (rc.decodeBit(m.isRep, s) === 0) {
      let d: number;
      let length: number;
      if (rc.decodeBit(m.isNear, s) === 0) {
        length = m.matchLen.decode(rc, 0) + 2;
        d = m.dist.decode(rc, distContext(length)) + 1;
      } else if (rc.decodeBit(m.isCursor, s) === 1) {
        d = p - (this.cursor + unzigzag(m.cursorOffset.decode(rc, 0)));
        length = m.matchLen.decode(rc, 1) + 2;
      } else {
        const negative = rc.decodeBit(m.nearSign, 0);
        const magnitude = m.nearMagnitude.decode(rc, 0) + 1;
        d = this.reps[0]! + (negative === 1 ? -magnitude : magnitude);
        length = m.matchLen.decode(rc, 1) + 2;
      }
      this.reps.copyWithin(1, 0, 3);
      this.reps[0] = d;
      this.copy(d, length);
      this.state = afterMatch(s);
      return;
    }
    if (rc.decodeBit(m.isRepG0, s) === 0) {
      if (rc.decodeBit(m.isRep0Long, s) === 0) {
        this.copy(this.reps[0]!, 1);
        this.state = afterShortRep(s);
        return;
      }
    } else {
      let k = 1;
      if (rc.decodeBit(m.isRepG1, s) === 1) k = rc.decodeBit(m.isRepG2, s) === 0 ? 2 : 3;
      const d = this.reps[k]!;
      this.reps.copyWithin(1, 0, k);
      this.reps[0] = d;
    }
    this.copy(this.reps[0]!, m.repLen.decode(rc, 0) + 2);
    this.state = afterRep(s);
  }

  private reserve(length: number): void {
    const need = this.pos + length;
    if (need > this.size) throw corrupt(`an operation ends past the declared size (${this.size} bytes)`);
    if (need <= this.out.length) return;
    const grown = new Uint8Array(Math.min(this.size, Math.max(need, this.out.length * 2)));
    grown.set(this.out.subarray(0, this.pos));
    this.out = grown;
  }

  /** Copies `length` bytes from `distance` back in the window; the source may overlap the copy. */
  private copy(distance: number, length: number): void {
    const p = this.oldLen + this.pos;
    if (distance < 1 || distance > p) throw corrupt(`a distance (${distance}) reaches before the start of the old file`);
    this.reserve(length);
    if (length >= CURSOR_MIN_LEN) this.cursor = p - distance + length;
    const out = this.out;
    let src = p - distance;
    let dst = this.pos;
    let left = length;
    if (src < this.oldLen) {
      const fromOld = Math.min(left, this.oldLen - src);
      if (fromOld >= 32) out.set(this.old.subarray(src, src + fromOld), dst);
      else for (let q = 0; q < fromOld; q++) out[dst + q] = this.old[src + q]!;
      dst += fromOld;
      src += fromOld;
      left -= fromOld;
    }
    if (left > 0) {
      let from = src - this.oldLen;
      if (from + left <= dst && left >= 32) out.copyWithin(dst, from, from + left);
      else {
        const stop = dst + left;
        while (dst < stop) out[dst++] = out[from++]!;
      }
    }
    this.pos += length;
  }
}
