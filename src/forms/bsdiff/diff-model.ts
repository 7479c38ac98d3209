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
 *
 * The coder runs as WebAssembly, compiled from AssemblyScript (`asm/diff-model.ts`, by `npm run
 * build:wasm`), fed 64 KiB at a time: the same arithmetic as the JavaScript it replaced, whose
 * output it matched byte for byte (esbuild's 97,009-byte stream and 300 random streams before
 * the JavaScript was removed); esbuild's 10 MB of differences coded in 0.59-0.63 s instead of
 * 0.94-0.95 s, decoded in 0.61 s instead of 0.96 s. The tables are computed here (Math.exp and
 * Math.log) and handed to the module, so both sides use the very same numbers. Each side adds a
 * copy of the coded stream (the decoder) and 128 KiB of buffers to the tables.
 */
import { ErrorCodes, SyncError } from '../../core/errors.js';
import { instanceMaker, wasmApi, type WasmMemory } from '../../core/wasm.js';
import { DIFF_MODEL_WASM_BASE64 } from './diff-model-wasm.js';

const MAX_TABLE_BITS = 18;

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

/** The exports of asm/diff-model.ts. */
interface DiffModelExports {
  memory: WasmMemory;
  alloc(size: number): number;
  init(bits: number, stretch: number, squash: number, squash12: number): void;
  encode(diff: number, old: number, length: number): void;
  finish(): number;
  outLength(): number;
  decodeStart(coded: number, length: number): number;
  decodeAdd(old: number, out: number, length: number): number;
  decodeAtEnd(): number;
}

/** Bytes handed to the module per call (its scratch buffers' size). */
const PIECE = 64 * 1024;

const modelModule = instanceMaker<DiffModelExports>(DIFF_MODEL_WASM_BASE64, 'diff model');

/** A fresh instance of the module with the tables and a model of `tableBits`, and its scratch buffers. */
function modelInstance(tableBits: number): { e: DiffModelExports; a: number; b: number } {
  const e = modelModule();
  const stretch = e.alloc(STRETCH.byteLength);
  const squash = e.alloc(SQUASH.byteLength);
  const squash12 = e.alloc(SQUASH_12.byteLength);
  const a = e.alloc(PIECE);
  const b = e.alloc(PIECE);
  e.init(tableBits, stretch, squash, squash12);
  new Float64Array(e.memory.buffer, stretch, STRETCH.length).set(STRETCH);
  new Float64Array(e.memory.buffer, squash, SQUASH.length).set(SQUASH);
  new Uint16Array(e.memory.buffer, squash12, SQUASH_12.length).set(SQUASH_12);
  return { e, a, b };
}

/** Encodes difference bytes, each with the old byte it applies to. */
export class DiffModelEncoder {
  private readonly e: DiffModelExports;
  private readonly diffAt: number;
  private readonly oldAt: number;

  /** `tableBits` from {@link diffModelTableBits}, the same on both sides. */
  constructor(tableBits: number) {
    const { e, a, b } = modelInstance(tableBits);
    this.e = e;
    this.diffAt = a;
    this.oldAt = b;
  }

  /** Codes `length` differences from `diff[diffFrom]`, each over the byte at the same index from `old[oldFrom]`. */
  encode(diff: Uint8Array, diffFrom: number, old: Uint8Array, oldFrom: number, length: number): void {
    const e = this.e;
    for (let i = 0; i < length; i += PIECE) {
      const n = Math.min(PIECE, length - i);
      const memory = new Uint8Array(e.memory.buffer);
      memory.set(diff.subarray(diffFrom + i, diffFrom + i + n), this.diffAt);
      memory.set(old.subarray(oldFrom + i, oldFrom + i + n), this.oldAt);
      e.encode(this.diffAt, this.oldAt, n);
    }
  }

  /** The coded bytes (after this, the encoder is done). */
  finish(): Uint8Array {
    const at = this.e.finish() >>> 0;
    return new Uint8Array(this.e.memory.buffer, at, this.e.outLength()).slice();
  }
}

function endsEarly(): SyncError {
  return new SyncError(ErrorCodes.DELTA_CORRUPT, 'Cannot apply the bsdiff delta: the diff stream ends early');
}

/** Decodes what {@link DiffModelEncoder} coded, given the same old bytes in the same order. */
export class DiffModelDecoder {
  private readonly e: DiffModelExports;
  private readonly oldAt: number;
  private readonly outAt: number;

  constructor(input: Uint8Array, tableBits: number) {
    const { e, a, b } = modelInstance(tableBits);
    this.e = e;
    this.oldAt = a;
    this.outAt = b;
    let coded: number;
    try {
      coded = e.alloc(input.length) >>> 0;
    } catch (cause) {
      // The module's memory cannot hold the stream (4 GiB in all): no real delta's diff stream.
      if (!(cause instanceof wasmApi().RuntimeError)) throw cause;
      throw new SyncError(ErrorCodes.DELTA_CORRUPT, `Cannot apply the bsdiff delta: a diff stream of ${input.length} bytes is too large`, {
        cause,
      });
    }
    new Uint8Array(e.memory.buffer, coded, input.length).set(input);
    if (!e.decodeStart(coded, input.length)) throw endsEarly();
  }

  /** Writes `length` bytes to `out[at]`: each byte from `base[from]` on plus its decoded difference. */
  add(out: Uint8Array, at: number, base: Uint8Array, from: number, length: number): void {
    const e = this.e;
    for (let i = 0; i < length; i += PIECE) {
      const n = Math.min(PIECE, length - i);
      new Uint8Array(e.memory.buffer, this.oldAt, n).set(base.subarray(from + i, from + i + n));
      if (!e.decodeAdd(this.oldAt, this.outAt, n)) throw endsEarly();
      out.set(new Uint8Array(e.memory.buffer, this.outAt, n), at + i);
    }
  }

  /** True when every input byte was used, as the encoder wrote them. */
  atEnd(): boolean {
    return this.e.decodeAtEnd() !== 0;
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
    encoder.encode(diff, diffPos, old, oldPos, add);
    diffPos += add;
    oldPos += add + seek;
  }
  return encoder.finish();
}
