/**
 * The refinement round (docs/protocol.md#refinement). A first signature with large
 * blocks costs few bytes, and finds where the old and new files agree; where they do not,
 * a large block is lost to a small edit. So when a first delta has both matches and
 * literal data, the sender asks for a second signature, with small blocks, of only the
 * parts of the old file that no copy used (REFINE: a list of byte ranges); the receiver
 * signs those ranges laid end to end (a "virtual" basis); the sender matches the literal
 * parts of the new file, laid end to end, against it, and splices the two deltas into
 * one ordinary librsync delta against the real old file, which the receiver applies as
 * any other.
 *
 * Everything here is pure: parsing a delta into operations, the ranges no copy used,
 * the REFINE payload, and the splice.
 *
 * @module
 */
import { type LibrsyncDeltaEncoder, LibrsyncDeltaParser } from '../../formats/librsync-delta.js';
import { ByteReader, ByteWriter, protocolError } from './binary.js';

/** One operation of a delta, at its place in the new file. */
export type DeltaOp = { kind: 'copy'; at: number; from: number; length: number } | { kind: 'literal'; at: number; length: number };

/** A byte range `[start, start + length)`. */
export interface Range {
  start: number;
  length: number;
}

/** Most ranges a REFINE may name (more are merged by the sender; refused by the receiver). */
export const MAX_REFINE_RANGES = 1 << 16;

/**
 * Reads a delta as it is produced: `push` the delta bytes; each operation is handed to
 * `onOp` at its place in the new file, literal runs with their bytes (a view, valid
 * during the call), in pieces as they come.
 */
export class DeltaOpsReader {
  readonly #parser = new LibrsyncDeltaParser();
  readonly #onOp: (op: DeltaOp, data?: Uint8Array) => void;
  literalBytes = 0;
  copyBytes = 0;
  /** New-file bytes described so far. */
  at = 0;

  constructor(onOp: (op: DeltaOp, data?: Uint8Array) => void) {
    this.#onOp = onOp;
  }

  push(delta: Uint8Array): void {
    for (const e of this.#parser.push(delta)) {
      if (e.type === 'literal') {
        this.#onOp({ kind: 'literal', at: this.at, length: e.data.length }, e.data);
        this.at += e.data.length;
        this.literalBytes += e.data.length;
      } else if (e.type === 'copy') {
        this.#onOp({ kind: 'copy', at: this.at, from: e.offset, length: e.length });
        this.at += e.length;
        this.copyBytes += e.length;
      }
    }
  }

  end(): void {
    this.#parser.end();
  }
}

/**
 * The parts of a basis of `basisSize` bytes that no copy (`[from, length]`) reads, at least `minLength`
 * bytes long (a shorter gap cannot hold a block of the finer signature), at most
 * {@link MAX_REFINE_RANGES} (the closest are merged).
 */
export function unusedRanges(copies: readonly (readonly [from: number, length: number])[], basisSize: number, minLength: number): Range[] {
  const used = copies.map(([from, length]) => [from, from + length] as const);
  used.sort((a, b) => a[0] - b[0]);
  let ranges: Range[] = [];
  let at = 0;
  for (const [s, e] of used) {
    if (s > at && s - at >= minLength) ranges.push({ start: at, length: s - at });
    at = Math.max(at, e);
  }
  if (basisSize > at && basisSize - at >= minLength) ranges.push({ start: at, length: basisSize - at });
  while (ranges.length > MAX_REFINE_RANGES) {
    // Merge each pair: fewer, larger ranges (the matched bytes between are signed again, harmlessly).
    const merged: Range[] = [];
    for (let i = 0; i < ranges.length; i += 2) {
      const a = ranges[i]!;
      const b = ranges[i + 1];
      merged.push(b ? { start: a.start, length: b.start + b.length - a.start } : a);
    }
    ranges = merged;
  }
  return ranges;
}

/** Bytes in `ranges`. */
export function rangeBytes(ranges: readonly Range[]): number {
  return ranges.reduce((a, r) => a + r.length, 0);
}

/** A REFINE payload: `varint file index, varint count`, then per range `varint gap from the previous range's end, varint length`. */
export function encodeRefine(index: number, ranges: readonly Range[]): Uint8Array {
  const w = new ByteWriter(16 + ranges.length * 6).varint(index).varint(ranges.length);
  let end = 0;
  for (const r of ranges) {
    w.varint(r.start - end).varint(r.length);
    end = r.start + r.length;
  }
  return w.finish();
}

/**
 * Reads a REFINE payload, checking that the ranges are in order, do not overlap, are not
 * empty, and lie within `[0, basisSize)` of the basis the receiver signed.
 */
export function decodeRefine(payload: Uint8Array, basisSizeOf: (index: number) => number | undefined): { index: number; ranges: Range[] } {
  const r = new ByteReader(payload, 'a REFINE frame');
  const index = r.varint('file index');
  const basisSize = basisSizeOf(index);
  if (basisSize === undefined) throw protocolError('read a REFINE frame', `entry ${index} has no signature to refine`);
  const count = r.varint('range count', Math.min(MAX_REFINE_RANGES, Math.floor(payload.length / 2)));
  if (count === 0) throw protocolError('read a REFINE frame', 'it names no range');
  const ranges: Range[] = [];
  let end = 0;
  for (let i = 0; i < count; i++) {
    const start = end + r.varint('range gap');
    const length = r.varint('range length');
    if (length === 0 || start + length > basisSize)
      throw protocolError(
        'read a REFINE frame',
        `range ${i} [${start}, ${start + length}) is empty or outside the ${basisSize}-byte basis`,
      );
    ranges.push({ start, length });
    end = start + length;
  }
  r.end();
  return { index, ranges };
}

/**
 * Maps offsets of ranges laid end to end ("virtual" offsets) back to real ones. Pieces
 * that cross a range boundary are split.
 */
export class RangeMap {
  readonly #starts: number[] = [];
  readonly #ranges: readonly Range[];
  readonly size: number;

  constructor(ranges: readonly Range[]) {
    this.#ranges = ranges;
    let v = 0;
    for (const r of ranges) {
      this.#starts.push(v);
      v += r.length;
    }
    this.size = v;
  }

  /** Calls `each(real, length)` for the real pieces of virtual `[v, v + length)`. */
  pieces(v: number, length: number, each: (real: number, length: number) => void): void {
    let lo = 0;
    let hi = this.#starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#starts[mid]! <= v) lo = mid;
      else hi = mid - 1;
    }
    let left = length;
    let at = v;
    for (let k = lo; left > 0 && k < this.#ranges.length; k++) {
      const r = this.#ranges[k]!;
      const off = at - this.#starts[k]!;
      const n = Math.min(left, r.length - off);
      each(r.start + off, n);
      left -= n;
      at += n;
    }
    if (left > 0)
      throw protocolError('splice the refined delta', `a copy of ${length} bytes at ${v} goes past the ${this.size}-byte refined basis`);
  }
}

/**
 * Splices the first delta's operations with the second delta (made against the unused
 * ranges of the basis, over the literal runs of the first laid end to end) into `out`,
 * a delta against the real basis.
 */
export class DeltaSplicer {
  readonly #ops: readonly DeltaOp[];
  readonly #basis: RangeMap;
  readonly #out: LibrsyncDeltaEncoder;
  readonly #parser = new LibrsyncDeltaParser();
  /** Next first-delta operation to emit. */
  #op = 0;
  /** Position in the literal runs laid end to end (of the second delta's output). */
  #v = 0;
  /** Where the current first-delta literal run ends, in laid-end-to-end terms. */
  #runEnd = 0;

  constructor(ops: readonly DeltaOp[], ranges: readonly Range[], out: LibrsyncDeltaEncoder) {
    this.#ops = ops;
    this.#basis = new RangeMap(ranges);
    this.#out = out;
  }

  /** Emits first-delta copies up to the next literal run; returns false at the end. */
  #nextRun(): boolean {
    while (this.#op < this.#ops.length) {
      const o = this.#ops[this.#op++]!;
      if (o.kind === 'copy') this.#out.copy(o.from, o.length);
      else {
        this.#runEnd = this.#v + o.length;
        return true;
      }
    }
    return false;
  }

  /** Emits `[v, v + n)` of the runs laid end to end, `emit(v, n)` per piece, with first-delta copies between runs. */
  #walk(n: number, emit: (v: number, n: number) => void): void {
    let left = n;
    while (left > 0) {
      if (this.#v === this.#runEnd && !this.#nextRun())
        throw protocolError('splice the refined delta', 'the second delta is longer than the literal data of the first');
      const take = Math.min(left, this.#runEnd - this.#v);
      emit(this.#v, take);
      this.#v += take;
      left -= take;
    }
  }

  /** The next bytes of the second delta. */
  push(delta: Uint8Array): void {
    for (const e of this.#parser.push(delta)) {
      if (e.type === 'literal') {
        let p = 0;
        this.#walk(e.data.length, (_v, n) => {
          this.#out.literal(e.data.subarray(p, p + n));
          p += n;
        });
      } else if (e.type === 'copy') {
        let from = e.offset;
        this.#walk(e.length, (_v, n) => {
          this.#basis.pieces(from, n, (real, len) => this.#out.copy(real, len));
          from += n;
        });
      }
    }
  }

  /** The second delta ended: the rest of the first (copies after the last run). */
  end(): void {
    this.#parser.end();
    if (this.#v !== this.#runEnd)
      throw protocolError('splice the refined delta', 'the second delta is shorter than the literal data of the first');
    while (this.#nextRun()) {
      if (this.#runEnd !== this.#v)
        throw protocolError('splice the refined delta', 'the second delta is shorter than the literal data of the first');
    }
  }
}
