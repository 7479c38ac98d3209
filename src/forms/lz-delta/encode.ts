/**
 * The lz-delta encoder: a price-driven parse of the new file over the window old‖new-so-far.
 *
 * Candidates at each position: the four repeat distances, the last distance shifted by up to
 * ±NEAR_SCAN bytes (an insertion or deletion just before), the cursor moved by −CURSOR_BACK to
 * +CURSOR_FORWARD bytes (the old text going on after an inserted or replaced passage), the
 * matches a hash chain of 4-byte hashes over the whole window finds, and those of a sparser
 * chain of 16-byte hashes (LONG_BYTES, see there for what it replaced). Each explicit match is priced as the cheapest of its distance, its shift of rep0 and its cursor
 * offset. A forward dynamic programme over up to MAX_SEGMENT positions picks the cheapest path
 * with prices read from the adaptive model at the segment's start (LZMA's "optimal" parse); a
 * candidate of NICE bytes or more ends the segment and is taken whole, which keeps long delta
 * matches cheap to find. Measured on typescript.js 5.5.4 → 5.6.2: hash chain depth 160 without
 * the suffix array gave 29,177 bytes at 0.8 MB/s, depth 32 with it 25,682 at 1.1 MB/s; depth 32
 * with the long hash 25.3–25.7 kB at 4.5–6 MB/s.
 */
import { throwIfAborted } from '../../core/errors.js';
import {
  afterLiteral,
  afterMatch,
  afterRep,
  afterShortRep,
  distContext,
  encodeLiteral,
  literalBase,
  literalPrice,
  Model,
  primeLiterals,
  OP_LITERAL,
  OP_MATCH,
  OP_NEAR,
  OP_REP0,
  OP_SHORT_REP,
  OP_CURSOR,
  CURSOR_MIN_LEN,
  zigzag,
  usesMatchedLiteral,
} from './model.js';
import { bitPrice, RangeEncoder } from './range-coder.js';

/** A candidate this long is taken without comparing paths. */
const NICE = 192;
const MAX_SEGMENT = 4096;
const NODES = MAX_SEGMENT + NICE + 2;
/** Hash chain entries followed per position. */
const CHAIN_DEPTH = 32;
/**
 * The long hash: {@link LONG_BYTES} bytes, inserted at every {@link LONG_STRIDE}th window position,
 * up to {@link LONG_DEPTH} entries followed. It finds the old copy of a passage after an edit, where
 * the 4-byte chain is lost among common 4-grams. It replaced a suffix array of the window (the
 * longest earlier match at every position), which took three quarters of the encoder's time.
 * `encodeLzDelta` alone, CPU seconds on a loaded 2-core machine (one process, runs interleaved):
 * typescript.js 5.5.4 → 5.6.2 suffix array 24,160 B in 7.3 s; hash chain alone 27,891 B in
 * 1.3–1.9 s; with the long hash (16 bytes, stride 8) 25,263–25,676 B in 1.5–2.0 s (stride 1:
 * 24,992 B in 2.9–3.6 s; 32 bytes: 26,037 B). The typescript package tar: 114,501 B in 16.9 s,
 * 135,225 B in 5.9 s, 125,775 B in 5.7 s. jquery.js 1.11.1 → 1.11.2: 923 B in 0.32 s, 948 B in
 * 0.05 s, 940 B in 0.05 s.
 */
const LONG_BYTES = 16;
const LONG_STRIDE = 8;
const LONG_DEPTH = 8;
/** The shifts of the last distance tried at every position. */
const NEAR_SCAN = 24;
/** The offsets from the cursor tried at every position (a deletion moves the source forward). */
const CURSOR_BACK = 8;
const CURSOR_FORWARD = 160;
/** An explicit distance this close to the last one may be coded as a shift of it. */
const NEAR_MAX = 1 << 16;
const MIN_HASH_MATCH = 4;
const MAX_CANDIDATES = 64;
const INF = 0x3fffffff;

export class LzDeltaEncoder {
  private readonly win: Uint8Array;
  private readonly oldLen: number;
  private readonly n: number;
  private readonly model = new Model();
  private readonly rc: RangeEncoder;
  private readonly hashBits: number;
  private readonly head: Int32Array;
  private readonly chain: Int32Array;
  /** The long hash's heads (window positions) and chain (by position ÷ {@link LONG_STRIDE}). */
  private readonly head2: Int32Array;
  private readonly chain2: Int32Array;
  private inserted = 0;
  // the coder's state at the next position
  private state: number;
  private readonly reps: Int32Array;
  private pos = 0;
  private cursor = 0;
  private segStart = 0;
  // the cheapest coding of a distance (bestCoding's result)
  private codingKind = 0;
  private codingArg = 0;
  // the nodes of the dynamic programme
  private readonly price = new Int32Array(NODES);
  private readonly from = new Int32Array(NODES);
  private readonly kind = new Uint8Array(NODES);
  private readonly len = new Int32Array(NODES);
  private readonly arg = new Int32Array(NODES);
  private readonly nodeState = new Uint8Array(NODES);
  private readonly nodeReps = new Int32Array(NODES * 4);
  private readonly nodeCursor = new Int32Array(NODES);
  private readonly candLen = new Int32Array(MAX_CANDIDATES);
  private readonly candDist = new Int32Array(MAX_CANDIDATES);
  private readonly matchLenPrice = new Int32Array(NICE + 1);
  private readonly shiftLenPrice = new Int32Array(NICE + 1);
  private readonly repLenPrice = new Int32Array(NICE + 1);
  private readonly opKind = new Uint8Array(NODES);
  private readonly opLen = new Int32Array(NODES);
  private readonly opArg = new Int32Array(NODES);

  constructor(old: Uint8Array, next: Uint8Array) {
    this.oldLen = old.length;
    this.n = next.length;
    this.win = new Uint8Array(old.length + next.length);
    this.win.set(old);
    this.win.set(next, old.length);
    this.rc = new RangeEncoder(1024 + (next.length >> 4));
    this.hashBits = Math.min(22, Math.max(10, Math.ceil(Math.log2(this.win.length + 1))));
    this.head = new Int32Array(1 << this.hashBits).fill(-1);
    this.chain = new Int32Array(this.win.length);
    this.head2 = new Int32Array(1 << this.hashBits).fill(-1);
    this.chain2 = new Int32Array(Math.ceil(this.win.length / LONG_STRIDE));
    const start = Math.max(1, old.length);
    this.reps = Int32Array.of(start, start, start, start);
    this.state = old.length > 0 ? 7 : 0;
    primeLiterals(this.model, old);
  }

  encode(signal: AbortSignal | undefined): Uint8Array {
    while (this.pos < this.n) {
      throwIfAborted(signal);
      this.segment();
    }
    return this.rc.finish();
  }

  private insertUpTo(p: number): void {
    const win = this.win;
    const limit = Math.min(p, win.length - 3);
    const shift = 32 - this.hashBits;
    for (let q = this.inserted; q < limit; q++) {
      const h = Math.imul(win[q]! | (win[q + 1]! << 8) | (win[q + 2]! << 16) | (win[q + 3]! << 24), 0x9e3779b1) >>> shift;
      this.chain[q] = this.head[h]!;
      this.head[h] = q;
    }
    const limit2 = Math.min(p, win.length - LONG_BYTES);
    for (let q = Math.ceil(this.inserted / LONG_STRIDE) * LONG_STRIDE; q < limit2; q += LONG_STRIDE) {
      const h = this.longHash(q);
      this.chain2[q / LONG_STRIDE] = this.head2[h]!;
      this.head2[h] = q;
    }
    if (limit > this.inserted) this.inserted = limit;
  }

  /** The hash of the {@link LONG_BYTES} bytes at `q`. */
  private longHash(q: number): number {
    const win = this.win;
    let h = 0;
    for (let k = 0; k < LONG_BYTES; k += 4) {
      h = Math.imul(h ^ (win[q + k]! | (win[q + k + 1]! << 8) | (win[q + k + 2]! << 16) | (win[q + k + 3]! << 24)), 0x9e3779b1);
      h ^= h >>> 15;
    }
    return Math.imul(h, 0x85ebca6b) >>> (32 - this.hashBits);
  }

  private matchLen(a: number, b: number, max: number): number {
    const win = this.win;
    let l = 0;
    while (l < max && win[a + l] === win[b + l]) l++;
    return l;
  }

  /** Matches at window position `p` of increasing length into candLen/candDist; their count. */
  private findMatches(p: number, maxLen: number): number {
    if (maxLen < MIN_HASH_MATCH || p + 4 > this.win.length) return 0;
    const win = this.win;
    const h = Math.imul(win[p]! | (win[p + 1]! << 8) | (win[p + 2]! << 16) | (win[p + 3]! << 24), 0x9e3779b1) >>> (32 - this.hashBits);
    let c = this.head[h]!;
    let best = MIN_HASH_MATCH - 1;
    let count = 0;
    for (let depth = 0; depth < CHAIN_DEPTH && c >= 0; depth++) {
      if (win[c + best] === win[p + best]) {
        const l = this.matchLen(c, p, maxLen);
        if (l > best) {
          best = l;
          this.candLen[count] = l;
          this.candDist[count] = p - c;
          count++;
          if (l >= NICE || l === maxLen || count === MAX_CANDIDATES) break;
        }
      }
      c = this.chain[c]!;
    }
    if (best < NICE && best < maxLen && maxLen >= LONG_BYTES && count < MAX_CANDIDATES) {
      let c2 = this.head2[this.longHash(p)]!;
      for (let depth = 0; depth < LONG_DEPTH && c2 >= 0; depth++) {
        if (win[c2 + best] === win[p + best]) {
          const l = this.matchLen(c2, p, maxLen);
          if (l > best) {
            best = l;
            this.candLen[count] = l;
            this.candDist[count] = p - c2;
            count++;
            if (l >= NICE || l === maxLen || count === MAX_CANDIDATES) break;
          }
        }
        c2 = this.chain2[c2 / LONG_STRIDE]!;
      }
    }
    return count;
  }

  private prepareLengthPrices(): void {
    for (let l = 2; l <= NICE; l++) {
      this.matchLenPrice[l] = this.model.matchLen.price(0, l - 2);
      this.shiftLenPrice[l] = this.model.matchLen.price(1, l - 2);
      this.repLenPrice[l] = this.model.repLen.price(0, l - 2);
    }
  }

  /** The price of the match kind's flags and its distance or shift, without the length. */
  private repHeaderPrice(s: number, k: number): number {
    const m = this.model;
    let price = bitPrice(m.isMatch[s]!, 1) + bitPrice(m.isRep[s]!, 1);
    if (k === 0) return price + bitPrice(m.isRepG0[s]!, 0) + bitPrice(m.isRep0Long[s]!, 1);
    price += bitPrice(m.isRepG0[s]!, 1);
    if (k === 1) return price + bitPrice(m.isRepG1[s]!, 0);
    price += bitPrice(m.isRepG1[s]!, 1);
    return price + bitPrice(m.isRepG2[s]!, k === 2 ? 0 : 1);
  }

  private nearPrice(s: number, delta: number): number {
    const m = this.model;
    return (
      bitPrice(m.isMatch[s]!, 1) +
      bitPrice(m.isRep[s]!, 0) +
      bitPrice(m.isNear[s]!, 1) +
      bitPrice(m.isCursor[s]!, 0) +
      bitPrice(m.nearSign[0]!, delta < 0 ? 1 : 0) +
      m.nearMagnitude.price(0, Math.abs(delta) - 1)
    );
  }

  private cursorPrice(s: number, delta: number): number {
    const m = this.model;
    return (
      bitPrice(m.isMatch[s]!, 1) +
      bitPrice(m.isRep[s]!, 0) +
      bitPrice(m.isNear[s]!, 1) +
      bitPrice(m.isCursor[s]!, 1) +
      m.cursorOffset.price(0, zigzag(delta))
    );
  }

  /** The cheapest of explicit, shifted and cursor codings of distance d (length ctx l); kind and argument in codingKind/codingArg. */
  private bestCoding(s: number, d: number, l: number, r0: number, cursor: number, p: number): number {
    let best = this.matchHeaderPrice(s) + this.model.dist.price(distContext(l), d - 1);
    this.codingKind = OP_MATCH;
    this.codingArg = d;
    const delta = d - r0;
    if (delta !== 0 && Math.abs(delta) <= NEAR_MAX) {
      const price = this.nearPrice(s, delta);
      if (price < best) {
        best = price;
        this.codingKind = OP_NEAR;
        this.codingArg = delta;
      }
    }
    const offset = p - d - cursor;
    {
      const price = this.cursorPrice(s, offset);
      if (price < best) {
        best = price;
        this.codingKind = OP_CURSOR;
        this.codingArg = offset;
      }
    }
    return best;
  }

  private matchHeaderPrice(s: number): number {
    const m = this.model;
    return bitPrice(m.isMatch[s]!, 1) + bitPrice(m.isRep[s]!, 0) + bitPrice(m.isNear[s]!, 0);
  }

  /** Sets node j's state and repeat distances from the operation that reached it. */
  private deriveNode(j: number): void {
    const f = this.from[j]!;
    const reps = this.nodeReps;
    const s = this.nodeState[f]!;
    let r0 = reps[f * 4]!;
    let r1 = reps[f * 4 + 1]!;
    let r2 = reps[f * 4 + 2]!;
    let r3 = reps[f * 4 + 3]!;
    const k = this.kind[j]!;
    const pf = this.oldLen + this.segStart + f;
    let cursor = this.nodeCursor[f]!;
    let src = -1;
    let next: number;
    if (k === OP_LITERAL) next = afterLiteral(s);
    else if (k === OP_SHORT_REP) next = afterShortRep(s);
    else if (k === OP_MATCH || k === OP_NEAR || k === OP_CURSOR) {
      const a = this.arg[j]!;
      const d = k === OP_MATCH ? a : k === OP_NEAR ? r0 + a : pf - (cursor + a);
      src = pf - d;
      r3 = r2;
      r2 = r1;
      r1 = r0;
      r0 = d;
      next = afterMatch(s);
    } else {
      const r = k - OP_REP0;
      if (r === 1) [r0, r1] = [r1, r0];
      else if (r === 2) [r0, r1, r2] = [r2, r0, r1];
      else if (r === 3) [r0, r1, r2, r3] = [r3, r0, r1, r2];
      src = pf - r0;
      next = afterRep(s);
    }
    const l = this.len[j]!;
    if (src >= 0 && l >= CURSOR_MIN_LEN) cursor = src + l;
    this.nodeCursor[j] = cursor;
    this.nodeState[j] = next;
    reps[j * 4] = r0;
    reps[j * 4 + 1] = r1;
    reps[j * 4 + 2] = r2;
    reps[j * 4 + 3] = r3;
  }

  // biome-ignore lint/complexity/noExcessiveLinesPerFunction: the parse's hot loop, kept in one piece so it allocates nothing and calls little
  private segment(): void {
    const win = this.win;
    const m = this.model;
    const price = this.price;
    const i0 = this.pos;
    this.prepareLengthPrices();
    price[0] = 0;
    this.nodeState[0] = this.state;
    this.nodeReps.set(this.reps, 0);
    this.nodeCursor[0] = this.cursor;
    this.segStart = i0;
    let last = 0;
    let end = 0;
    let longKind = -1;
    let longLen = 0;
    let longArg = 0;
    const relax = (t: number, cost: number, kind: number, l: number, a: number, j: number): void => {
      if (t > last) {
        for (let q = last + 1; q <= t; q++) price[q] = INF;
        last = t;
      }
      if (cost < price[t]!) {
        price[t] = cost;
        this.from[t] = j;
        this.kind[t] = kind;
        this.len[t] = l;
        this.arg[t] = a;
      }
    };
    for (let j = 0; ; j++) {
      if (j > 0) this.deriveNode(j);
      const i = i0 + j;
      if (i >= this.n || j >= MAX_SEGMENT) {
        end = j;
        break;
      }
      const p = this.oldLen + i;
      const maxLen = this.n - i;
      const s = this.nodeState[j]!;
      const base = price[j]!;
      const r0 = this.nodeReps[j * 4]!;
      this.insertUpTo(p);
      // repeat distances
      let rep0Len = 0;
      let bestRep = -1;
      let bestRepLen = 1;
      for (let k = 0; k < 4; k++) {
        const d = this.nodeReps[j * 4 + k]!;
        if (d > p) continue;
        let dup = false;
        for (let q = 0; q < k; q++) if (this.nodeReps[j * 4 + q] === d) dup = true;
        if (dup) continue;
        const l = this.matchLen(p - d, p, maxLen);
        if (k === 0) rep0Len = l;
        if (l > bestRepLen) {
          bestRepLen = l;
          bestRep = k;
        }
        if (l < 2) continue;
        if (l >= NICE) continue;
        const head = this.repHeaderPrice(s, k);
        for (let t = 2; t <= l; t++) relax(j + t, base + head + this.repLenPrice[t]!, OP_REP0 + k, t, k, j);
      }
      if (bestRepLen >= NICE) {
        end = j;
        longKind = OP_REP0 + bestRep;
        longLen = bestRepLen;
        break;
      }
      // shifts of the last distance, offsets from the cursor
      let bestShiftLen = 1;
      let bestShiftKind = OP_NEAR;
      let bestShift = 0;
      if (rep0Len < NICE) {
        for (let delta = -NEAR_SCAN; delta <= NEAR_SCAN; delta++) {
          const d = r0 + delta;
          if (delta === 0 || d < 1 || d > p || win[p - d] !== win[p]) continue;
          const l = this.matchLen(p - d, p, maxLen);
          if (l < 2) continue;
          if (l > bestShiftLen) {
            bestShiftLen = l;
            bestShiftKind = OP_NEAR;
            bestShift = delta;
          }
          if (l >= NICE) continue;
          const head = this.nearPrice(s, delta);
          for (let t = 2; t <= l; t++) relax(j + t, base + head + this.shiftLenPrice[t]!, OP_NEAR, t, delta, j);
        }
        const cursor = this.nodeCursor[j]!;
        for (let off = -CURSOR_BACK; off <= CURSOR_FORWARD; off++) {
          const src = cursor + off;
          if (src < 0 || src >= p || win[src] !== win[p]) continue;
          const l = this.matchLen(src, p, maxLen);
          if (l < 2) continue;
          if (l > bestShiftLen) {
            bestShiftLen = l;
            bestShiftKind = OP_CURSOR;
            bestShift = off;
          }
          if (l >= NICE) continue;
          const head = this.cursorPrice(s, off);
          for (let t = 2; t <= l; t++) relax(j + t, base + head + this.shiftLenPrice[t]!, OP_CURSOR, t, off, j);
        }
      }
      const count = this.findMatches(p, maxLen);
      const longest = count > 0 ? this.candLen[count - 1]! : 0;
      if (bestShiftLen >= NICE || longest >= NICE) {
        end = j;
        if (bestShiftLen + 8 >= longest) {
          longKind = bestShiftKind;
          longLen = bestShiftLen;
          longArg = bestShift;
        } else {
          this.bestCoding(s, this.candDist[count - 1]!, longest, r0, this.nodeCursor[j]!, p);
          longKind = this.codingKind;
          longLen = longest;
          longArg = this.codingArg;
        }
        break;
      }
      // literal and short rep
      const byte = win[p]!;
      const matchByte = r0 <= p ? win[p - r0]! : 0;
      const lit =
        bitPrice(m.isMatch[s]!, 0) + literalPrice(m.literal, literalBase(p > 0 ? win[p - 1]! : 0), byte, matchByte, usesMatchedLiteral(s));
      relax(j + 1, base + lit, OP_LITERAL, 1, 0, j);
      if (r0 <= p && matchByte === byte) {
        const short = bitPrice(m.isMatch[s]!, 1) + bitPrice(m.isRep[s]!, 1) + bitPrice(m.isRepG0[s]!, 0) + bitPrice(m.isRep0Long[s]!, 0);
        relax(j + 1, base + short, OP_SHORT_REP, 1, 0, j);
      }
      // explicit distances
      let prevLen = MIN_HASH_MATCH - 1;
      let lastCost = 0;
      const cursor = this.nodeCursor[j]!;
      for (let c = 0; c < count; c++) {
        const l = this.candLen[c]!;
        const d = this.candDist[c]!;
        const r = this.nodeReps;
        if (d === r[j * 4] || d === r[j * 4 + 1] || d === r[j * 4 + 2] || d === r[j * 4 + 3]) {
          prevLen = l;
          continue;
        }
        for (let t = prevLen + 1; t <= l; t++) {
          // the distance context changes only up to length 5
          const cost = t <= 5 || t === prevLen + 1 ? this.bestCoding(s, d, t, r0, cursor, p) : lastCost;
          relax(
            j + t,
            base + cost + (this.codingKind === OP_MATCH ? this.matchLenPrice : this.shiftLenPrice)[t]!,
            this.codingKind,
            t,
            this.codingArg,
            j,
          );
          lastCost = cost;
        }
        prevLen = l;
      }
    }
    this.emitPath(end);
    if (longKind >= 0) {
      this.encodeOp(longKind, longLen, longKind >= OP_REP0 && longKind < OP_SHORT_REP ? longKind - OP_REP0 : longArg);
    }
  }

  private emitPath(end: number): void {
    let count = 0;
    for (let j = end; j > 0; j = this.from[j]!) {
      this.opKind[count] = this.kind[j]!;
      this.opLen[count] = this.len[j]!;
      this.opArg[count] = this.arg[j]!;
      count++;
    }
    for (let c = count - 1; c >= 0; c--) this.encodeOp(this.opKind[c]!, this.opLen[c]!, this.opArg[c]!);
  }

  private encodeOp(kind: number, length: number, arg: number): void {
    const m = this.model;
    const rc = this.rc;
    const s = this.state;
    const p = this.oldLen + this.pos;
    const reps = this.reps;
    if (kind === OP_LITERAL) {
      rc.encodeBit(m.isMatch, s, 0);
      const matchByte = reps[0]! <= p ? this.win[p - reps[0]!]! : 0;
      encodeLiteral(rc, m.literal, literalBase(p > 0 ? this.win[p - 1]! : 0), this.win[p]!, matchByte, usesMatchedLiteral(s));
      this.state = afterLiteral(s);
      this.pos += 1;
      return;
    }
    rc.encodeBit(m.isMatch, s, 1);
    if (kind === OP_MATCH || kind === OP_NEAR || kind === OP_CURSOR) {
      rc.encodeBit(m.isRep, s, 0);
      rc.encodeBit(m.isNear, s, kind === OP_MATCH ? 0 : 1);
      let d = arg;
      if (kind === OP_CURSOR) {
        rc.encodeBit(m.isCursor, s, 1);
        m.cursorOffset.encode(rc, 0, zigzag(arg));
        d = p - (this.cursor + arg);
        m.matchLen.encode(rc, 1, length - 2);
      } else if (kind === OP_NEAR) {
        rc.encodeBit(m.isCursor, s, 0);
        rc.encodeBit(m.nearSign, 0, arg < 0 ? 1 : 0);
        m.nearMagnitude.encode(rc, 0, Math.abs(arg) - 1);
        d = reps[0]! + arg;
        m.matchLen.encode(rc, 1, length - 2);
      } else {
        m.matchLen.encode(rc, 0, length - 2);
        m.dist.encode(rc, distContext(length), d - 1);
      }
      reps.copyWithin(1, 0, 3);
      reps[0] = d;
      if (length >= CURSOR_MIN_LEN) this.cursor = p - d + length;
      this.state = afterMatch(s);
      this.pos += length;
      return;
    }
    rc.encodeBit(m.isRep, s, 1);
    if (kind === OP_SHORT_REP) {
      rc.encodeBit(m.isRepG0, s, 0);
      rc.encodeBit(m.isRep0Long, s, 0);
      this.state = afterShortRep(s);
      this.pos += 1;
      return;
    }
    this.encodeRep(kind - OP_REP0, length);
  }

  private encodeRep(k: number, length: number): void {
    const m = this.model;
    const rc = this.rc;
    const s = this.state;
    const reps = this.reps;
    if (k === 0) {
      rc.encodeBit(m.isRepG0, s, 0);
      rc.encodeBit(m.isRep0Long, s, 1);
    } else {
      rc.encodeBit(m.isRepG0, s, 1);
      if (k === 1) rc.encodeBit(m.isRepG1, s, 0);
      else {
        rc.encodeBit(m.isRepG1, s, 1);
        rc.encodeBit(m.isRepG2, s, k === 2 ? 0 : 1);
      }
      const d = reps[k]!;
      reps.copyWithin(1, 0, k);
      reps[0] = d;
    }
    m.repLen.encode(rc, 0, length - 2);
    if (length >= CURSOR_MIN_LEN) this.cursor = this.oldLen + this.pos - reps[0]! + length;
    this.state = afterRep(s);
    this.pos += length;
  }
}
