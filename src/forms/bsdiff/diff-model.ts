/**
 * A context-mixing coder for the diff stream, in place of a general-purpose compressor.
 *
 * The difference bytes of relinked code are zeros with scattered small changes (displacements
 * of calls and jumps, addresses). Whether a byte changes depends mostly on the old bytes
 * around it (the opcode before a displacement) and on the changes just before, which bzip2
 * or zstd cannot see since they do not have the old file. Both sides do here: the encoder
 * walks the control triples, the decoder is given each old byte before decoding the
 * difference at that position. Each byte is coded as a "changed" bit, then its 8 bits when
 * it changed, each bit's probability mixed (logistic mixing, as in PAQ/lpaq) from five
 * hashed contexts, and coded by a 32-bit binary arithmetic coder.
 *
 * Memory: 5 tables of 2^bits 16-bit counters on each side, bits growing with the new file's
 * size (given to both sides) up to 18: at most 2.5 MiB, whatever the file size. Larger tables
 * are slower than they are worth, every lookup missing the caches (esbuild 0.25.0 → 0.25.1,
 * 10 MB of differences: 93,326 B at 22 bits, 3.1 MB/s; 97,008 B at 18 bits, 4.5 MB/s; with the
 * squash tables below, 10 MB/s).
 */
import { ErrorCodes, SyncError } from '../../core/errors.js';

const INPUTS = 5;
const MAX_TABLE_BITS = 18;
const MIXER_SETS = 512;
const LEARNING_RATE = 0.02;

/**
 * 1 / (1 + e^-x) for x from -20.48 to 20.48 in steps of 0.01, and the same as a 12-bit
 * probability: tables instead of Math.exp, which took half the time of the decoder.
 */
const SQUASH_SCALE = 100;
const SQUASH = new Float64Array(4097);
const SQUASH_12 = new Uint16Array(4097);
for (let i = 0; i <= 4096; i++) {
  const p = 1 / (1 + Math.exp(-(i - 2048) / SQUASH_SCALE));
  SQUASH[i] = p;
  SQUASH_12[i] = Math.min(4095, Math.max(1, Math.round(p * 4096)));
}

/** ln(p / (1 - p)) for 12-bit probabilities. */
const STRETCH = new Float64Array(4096);
for (let i = 0; i < 4096; i++) {
  const p = (i + 0.5) / 4096;
  STRETCH[i] = Math.log(p / (1 - p));
}

/** The table size (log2) for a new file of `newSize` bytes: tables much larger than the data only cost time. */
export function diffModelTableBits(newSize: number): number {
  return Math.min(MAX_TABLE_BITS, Math.max(12, Math.ceil(Math.log2(newSize + 1)) + 1));
}

/** The model shared by the encoder and the decoder: same state, same updates. */
class DiffModel {
  private readonly tableBits: number;
  private readonly hashShift: number;
  private readonly counters: Uint16Array;
  private readonly weights = new Float64Array(MIXER_SETS * INPUTS).fill(0.3);
  private readonly stretched = new Float64Array(INPUTS);
  private readonly slots = new Int32Array(INPUTS);
  private readonly contexts = new Int32Array(INPUTS);
  private mixerBase = 0;
  private probability = 0.5;
  /** Changed-or-not of the last 32 positions, one bit each. */
  history = 0;
  old1 = 0;
  old2 = 0;
  diff1 = 0;
  lastChange = 0;

  constructor(tableBits: number) {
    this.tableBits = tableBits;
    this.hashShift = 32 - tableBits;
    this.counters = new Uint16Array(INPUTS << tableBits).fill(32768);
  }

  private hash(x: number): number {
    return (Math.imul(x, 0x9e3779b1) >>> 0) >>> this.hashShift;
  }

  /** The 12-bit probability that the next bit is 1, in contexts set by the caller. */
  predict(mixerSet: number): number {
    const base = mixerSet * INPUTS;
    let dot = 0;
    for (let k = 0; k < INPUTS; k++) {
      const slot = (k << this.tableBits) | this.contexts[k]!;
      this.slots[k] = slot;
      const s = STRETCH[this.counters[slot]! >>> 4]!;
      this.stretched[k] = s;
      dot += this.weights[base + k]! * s;
    }
    this.mixerBase = base;
    if (dot > 20) dot = 20;
    else if (dot < -20) dot = -20;
    const at = (dot * SQUASH_SCALE + 2048.5) | 0;
    this.probability = SQUASH[at]!;
    return SQUASH_12[at]!;
  }

  update(bit: number): void {
    const err = (bit - this.probability) * LEARNING_RATE;
    const base = this.mixerBase;
    for (let k = 0; k < INPUTS; k++) {
      this.weights[base + k]! += err * this.stretched[k]!;
      const slot = this.slots[k]!;
      const c = this.counters[slot]!;
      this.counters[slot] = bit ? c + ((65535 - c) >>> 4) : c - (c >>> 4);
    }
  }

  /** Contexts of the "changed" bit of the byte over old byte `old0`. */
  changeContexts(old0: number): void {
    const h = this.history;
    const c = this.contexts;
    c[0] = this.hash(0x1000000 | (h & 0xffff));
    c[1] = this.hash(0x2000000 | ((h & 0xf) << 16) | (this.old1 << 8) | old0);
    c[2] = this.hash(0x3000000 | (this.old2 << 16) | (this.old1 << 8) | old0);
    c[3] = this.hash(0x4000000 | ((h & 0xff) << 8) | old0);
    c[4] = this.hash(0x5000000 | ((h & 3) << 16) | (this.diff1 << 8) | this.old1);
  }

  /** Contexts of one bit of a changed byte; `node` is 1 followed by the bits so far. */
  valueContexts(node: number, old0: number): void {
    const c = this.contexts;
    c[0] = this.hash(0x6000000 | (node << 8) | this.diff1);
    c[1] = this.hash(0x7000000 | (node << 8) | old0);
    c[2] = this.hash(0x8000000 | (node << 16) | (this.lastChange << 8) | this.old1);
    c[3] = this.hash(0x9000000 | (node << 16) | (this.old1 << 8) | old0);
    c[4] = this.hash(0xa000000 | node);
  }

  /** Moves past a byte: `diff` coded over `old0`. */
  advance(diff: number, old0: number): void {
    const changed = diff === 0 ? 0 : 1;
    this.history = ((this.history << 1) | changed) >>> 0;
    if (changed) this.lastChange = diff;
    this.old2 = this.old1;
    this.old1 = old0;
    this.diff1 = diff;
  }
}

/** Encodes difference bytes, each with the old byte it applies to. */
export class DiffModelEncoder {
  private readonly model: DiffModel;
  private low = 0;
  private high = 0xffffffff;
  private out = new Uint8Array(1 << 16);
  private length = 0;

  /** `tableBits` from {@link diffModelTableBits}, the same on both sides. */
  constructor(tableBits: number) {
    this.model = new DiffModel(tableBits);
  }

  private put(byte: number): void {
    if (this.length === this.out.length) {
      const grown = new Uint8Array(this.out.length * 2);
      grown.set(this.out);
      this.out = grown;
    }
    this.out[this.length++] = byte;
  }

  private bit(bit: number, mixerSet: number): void {
    const p = this.model.predict(mixerSet);
    const mid = this.low + ((this.high - this.low) >>> 12) * p;
    if (bit) this.high = mid;
    else this.low = mid + 1;
    this.model.update(bit);
    while (((this.low ^ this.high) & 0xff000000) === 0) {
      this.put(this.high >>> 24);
      this.low = (this.low << 8) >>> 0;
      this.high = ((this.high << 8) | 0xff) >>> 0;
    }
  }

  /** Codes `diff` (new − old) over old byte `old0`. */
  encode(diff: number, old0: number): void {
    const model = this.model;
    model.changeContexts(old0);
    const changed = diff === 0 ? 0 : 1;
    this.bit(changed, model.history & 0xff);
    if (changed) {
      let node = 1;
      for (let k = 7; k >= 0; k--) {
        const b = (diff >>> k) & 1;
        model.valueContexts(node, old0);
        this.bit(b, 256 + node);
        node = (node << 1) | b;
      }
    }
    model.advance(diff, old0);
  }

  /** The coded bytes (after this, the encoder is done). */
  finish(): Uint8Array {
    const x = this.low;
    this.put(x >>> 24);
    this.put((x >>> 16) & 0xff);
    this.put((x >>> 8) & 0xff);
    this.put(x & 0xff);
    return this.out.subarray(0, this.length);
  }
}

/** Decodes what {@link DiffModelEncoder} coded, given the same old bytes in the same order. */
export class DiffModelDecoder {
  private readonly model: DiffModel;
  private low = 0;
  private high = 0xffffffff;
  private x = 0;
  private position = 0;

  constructor(
    private readonly input: Uint8Array,
    tableBits: number,
  ) {
    this.model = new DiffModel(tableBits);
    for (let i = 0; i < 4; i++) this.x = ((this.x << 8) | this.next()) >>> 0;
  }

  private next(): number {
    if (this.position >= this.input.length) {
      throw new SyncError(ErrorCodes.DELTA_CORRUPT, 'Cannot apply the bsdiff delta: the diff stream ends early');
    }
    return this.input[this.position++]!;
  }

  private bit(mixerSet: number): number {
    const p = this.model.predict(mixerSet);
    const mid = this.low + ((this.high - this.low) >>> 12) * p;
    let bit: number;
    if (this.x <= mid) {
      bit = 1;
      this.high = mid;
    } else {
      bit = 0;
      this.low = mid + 1;
    }
    this.model.update(bit);
    while (((this.low ^ this.high) & 0xff000000) === 0) {
      this.low = (this.low << 8) >>> 0;
      this.high = ((this.high << 8) | 0xff) >>> 0;
      this.x = ((this.x << 8) | this.next()) >>> 0;
    }
    return bit;
  }

  /** The next difference byte, over old byte `old0`. */
  decode(old0: number): number {
    const model = this.model;
    model.changeContexts(old0);
    let diff = 0;
    if (this.bit(model.history & 0xff)) {
      let node = 1;
      for (let k = 7; k >= 0; k--) {
        model.valueContexts(node, old0);
        node = (node << 1) | this.bit(256 + node);
      }
      diff = node & 0xff;
    }
    model.advance(diff, old0);
    return diff;
  }

  /** True when every input byte was used, as the encoder wrote them. */
  atEnd(): boolean {
    return this.position === this.input.length;
  }
}

/** One LEB128 varint of `bytes` at `at[0]`, moving `at[0]` past it. */
function readUvarint(bytes: Uint8Array, at: [number]): number {
  let value = 0;
  let scale = 1;
  for (;;) {
    const b = bytes[at[0]++]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) return value;
    scale *= 0x80;
  }
}

/**
 * The diff stream coded by the model: walks the control triples (as written by diff.ts) to
 * pair each difference byte with the old byte it applies to.
 */
export function encodeDiffStream(old: Uint8Array, control: Uint8Array, diff: Uint8Array, newSize: number): Uint8Array {
  const encoder = new DiffModelEncoder(diffModelTableBits(newSize));
  const at: [number] = [0];
  let oldPos = 0;
  let diffPos = 0;
  while (at[0] < control.length) {
    const add = readUvarint(control, at);
    readUvarint(control, at);
    const zigzag = readUvarint(control, at);
    const seek = zigzag % 2 === 1 ? -(zigzag + 1) / 2 : zigzag / 2;
    for (let i = 0; i < add; i++) encoder.encode(diff[diffPos + i]!, old[oldPos + i]!);
    diffPos += add;
    oldPos += add + seek;
  }
  return encoder.finish();
}
