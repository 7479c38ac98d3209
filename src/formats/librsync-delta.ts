/**
 * librsync deltas (`rdiff delta`, `rdiff patch`): the command encoder and the streaming
 * parser, and the delta generator that drives the {@link BlockMatcher} (delta mode) over
 * the new file. Checked against rdiff 2.3.2 (librsync).
 *
 *     magic 0x72730236, then commands, each an opcode byte and big-endian parameters:
 *     0x00            END (must be last)
 *     0x01 – 0x40     LITERAL of 1 – 64 bytes (the opcode is the length), then the bytes
 *     0x41 – 0x44     LITERAL, length in 1 / 2 / 4 / 8 bytes, then the bytes
 *     0x45 – 0x54     COPY from the basis: k = op − 0x45, offset in [1,2,4,8][k >> 2]
 *                     bytes, then length in [1,2,4,8][k & 3] bytes
 *     0x55 – 0xff     reserved
 *
 * A COPY offset is an absolute position in the basis. There is no header besides the
 * magic, no output length and no checksum of the result.
 *
 * @module
 */
import { ErrorCodes, SyncError } from '../core/errors.js';
import { BlockMatcher, type ScanStats, type Scanner } from '../core/matcher.js';
import {
  RS_DELTA_MAGIC,
  describeLibrsyncMagic,
  librsyncTailMatch,
  librsyncToBlockIndex,
  type LibrsyncSignature,
} from './librsync-signature.js';

/** Longest literal command written, as librsync's `max_miss` (32 KiB). */
export const LIBRSYNC_MAX_LITERAL = 32 * 1024;
/** Literals up to this length use the immediate opcodes 0x01 – 0x40. */
const MAX_IMMEDIATE_LITERAL = 64;

const OP_END = 0x00;
const OP_LITERAL_N1 = 0x41;
const OP_COPY = 0x45;
const OP_RESERVED = 0x55;

/** Bytes needed for `n` as librsync chooses them: 1, 2, 4 or 8. */
function widthOf(n: number): number {
  if (n < 0x100) return 1;
  if (n < 0x10000) return 2;
  if (n < 0x100000000) return 4;
  return 8;
}

const WIDTH_CODE: Record<number, number> = { 1: 0, 2: 1, 4: 2, 8: 3 };
const CODE_WIDTH = [1, 2, 4, 8] as const;

/** Delta command counts, as `rdiff -s` prints them. */
export interface DeltaStats {
  literalCommands: number;
  literalBytes: number;
  /** Bytes of literal command headers (opcode and length). */
  literalCommandBytes: number;
  copyCommands: number;
  copyBytes: number;
  /** Bytes of copy commands. */
  copyCommandBytes: number;
}

function emptyStats(): DeltaStats {
  return { literalCommands: 0, literalBytes: 0, literalCommandBytes: 0, copyCommands: 0, copyBytes: 0, copyCommandBytes: 0 };
}

/** A growable byte buffer for the encoder's output. */
class ByteSink {
  buf = new Uint8Array(64 * 1024);
  len = 0;

  reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.buf.subarray(0, this.len));
    this.buf = bigger;
  }

  byte(v: number): void {
    this.reserve(1);
    this.buf[this.len++] = v;
  }

  /** Writes `v` big-endian in `width` bytes. */
  uint(v: number, width: number): void {
    this.reserve(width);
    let x = v;
    for (let i = width - 1; i >= 0; i--) {
      this.buf[this.len + i] = x % 256;
      x = Math.floor(x / 256);
    }
    this.len += width;
  }

  bytes(data: Uint8Array): void {
    this.reserve(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
  }

  take(): Uint8Array {
    const out = this.buf.slice(0, this.len);
    this.len = 0;
    if (this.buf.length > 4 * 1024 * 1024) this.buf = new Uint8Array(64 * 1024);
    return out;
  }
}

/**
 * Writes delta commands. A COPY that continues the previous one in the basis is merged
 * into it (as librsync does); literals longer than `maxLiteral` are split. Output
 * accumulates until `take()`.
 *
 * @example
 * ```ts
 * const e = new LibrsyncDeltaEncoder();
 * e.copy(0, 16); e.literal(new TextEncoder().encode('hello, ')); e.copy(16, 48); e.end();
 * e.take(); // 72730236 450010 0768656c6c6f2c20 451030 00
 * ```
 */
export class LibrsyncDeltaEncoder {
  readonly stats: DeltaStats = emptyStats();
  readonly maxLiteral: number;
  /** Bytes of delta produced so far (taken or not). */
  bytesOut = 0;
  readonly #out = new ByteSink();
  #copyOffset = 0;
  #copyLength = 0;
  #ended = false;

  constructor(options: { maxLiteral?: number } = {}) {
    this.maxLiteral = options.maxLiteral ?? LIBRSYNC_MAX_LITERAL;
    if (!Number.isSafeInteger(this.maxLiteral) || this.maxLiteral < 1)
      throw new RangeError(`Cannot encode a delta: maxLiteral ${this.maxLiteral} is not a positive integer`);
    this.#out.uint(RS_DELTA_MAGIC, 4);
  }

  #check(): void {
    if (this.#ended) throw new Error('Cannot add to a delta after end()');
  }

  #flushCopy(): void {
    if (this.#copyLength === 0) return;
    const ow = widthOf(this.#copyOffset);
    const lw = widthOf(this.#copyLength);
    this.#out.byte(OP_COPY + 4 * WIDTH_CODE[ow]! + WIDTH_CODE[lw]!);
    this.#out.uint(this.#copyOffset, ow);
    this.#out.uint(this.#copyLength, lw);
    this.stats.copyCommands++;
    this.stats.copyBytes += this.#copyLength;
    this.stats.copyCommandBytes += 1 + ow + lw;
    this.#copyLength = 0;
  }

  /** Appends literal bytes (one command per `maxLiteral` bytes). */
  literal(data: Uint8Array): void {
    this.#check();
    if (data.length === 0) return;
    this.#flushCopy();
    for (let p = 0; p < data.length; p += this.maxLiteral) {
      const piece = data.subarray(p, Math.min(data.length, p + this.maxLiteral));
      const n = piece.length;
      let header: number;
      if (n <= MAX_IMMEDIATE_LITERAL) {
        this.#out.byte(n);
        header = 1;
      } else {
        const w = widthOf(n);
        this.#out.byte(OP_LITERAL_N1 + WIDTH_CODE[w]!);
        this.#out.uint(n, w);
        header = 1 + w;
      }
      this.#out.bytes(piece);
      this.stats.literalCommands++;
      this.stats.literalBytes += n;
      this.stats.literalCommandBytes += header;
    }
  }

  /** Appends a copy of `length` basis bytes from `offset` (merged into the previous copy when it continues it). */
  copy(offset: number, length: number): void {
    this.#check();
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0)
      throw new RangeError(`Cannot encode a copy of ${length} bytes at ${offset}`);
    if (length === 0) return;
    if (this.#copyLength > 0 && this.#copyOffset + this.#copyLength === offset) {
      this.#copyLength += length;
      return;
    }
    this.#flushCopy();
    this.#copyOffset = offset;
    this.#copyLength = length;
  }

  /** Writes END. */
  end(): void {
    this.#check();
    this.#flushCopy();
    this.#out.byte(OP_END);
    this.#ended = true;
  }

  /** The delta bytes produced since the last `take()`. */
  take(): Uint8Array {
    const out = this.#out.take();
    this.bytesOut += out.length;
    return out;
  }

  /** Bytes waiting to be taken. */
  get pending(): number {
    return this.#out.len;
  }
}

/**
 * Makes the delta from a signature to a new file: the new file's bytes are pushed in
 * any chunking, matched by the {@link BlockMatcher} in delta mode (every occurrence of a
 * basis block, in file order), and turned into COPY commands for the matches and LITERAL
 * commands (at most 32 KiB each) for the bytes between. Only the bytes not yet written
 * are kept (about 32 KiB plus a few blocks), so memory does not grow with the file.
 *
 * The signature does not record the basis length: its last block is matched as a full
 * block, and a short last block is found where librsync finds it, at the very end of
 * the new file ({@link librsyncTailMatch}).
 *
 * @example
 * ```ts
 * const g = new LibrsyncDeltaGenerator(decodeLibrsyncSignature(sigBytes));
 * for await (const chunk of createReadStream('new.bin')) { g.push(chunk); await out.write(g.take()); }
 * g.end();
 * await out.write(g.take());
 * ```
 */
export class LibrsyncDeltaGenerator {
  readonly signature: LibrsyncSignature;
  readonly encoder: LibrsyncDeltaEncoder;
  /** The matcher's counters (bytes scanned, weak hits, strong hashes, false matches). */
  readonly scanStats: ScanStats | undefined;
  readonly #scanner: Scanner | undefined;
  readonly #bs: number;
  /** New-file bytes from #pendBase on; [#emitted, #pushed) is not yet in the delta. */
  #pend = new Uint8Array(256 * 1024);
  #pendBase = 0;
  #emitted = 0;
  #pushed = 0;
  #ended = false;

  constructor(signature: LibrsyncSignature, options: { maxLiteral?: number } = {}) {
    this.signature = signature;
    this.encoder = new LibrsyncDeltaEncoder(options);
    this.#bs = signature.blockLength;
    if (signature.blockCount > 0) {
      // Every block is a whole block here: a signature does not say how long the basis's
      // last block is (librsyncToBlockIndex without lastBlockLength), so matches are bs long.
      const index = librsyncToBlockIndex(signature);
      const matcher = new BlockMatcher(index, { repeat: true, onMatch: (block, offset) => this.#onMatch(block, offset) });
      this.scanStats = matcher.stats;
      this.#scanner = matcher.scanner(0);
    }
  }

  /** New-file bytes consumed so far. */
  get bytesIn(): number {
    return this.#pushed;
  }

  #onMatch(block: number, offset: number): void {
    const end = offset + this.#bs;
    if (end <= this.#emitted) return; // already written (never happens with the current matcher)
    const start = Math.max(offset, this.#emitted);
    this.#literalUpTo(start);
    this.encoder.copy(block * this.#bs + (start - offset), end - start);
    this.#emitted = end;
  }

  /** Writes the pending bytes before file offset `to` as literals. */
  #literalUpTo(to: number): void {
    if (to <= this.#emitted) return;
    this.encoder.literal(this.#pend.subarray(this.#emitted - this.#pendBase, to - this.#pendBase));
    this.#emitted = to;
  }

  #append(chunk: Uint8Array): void {
    let used = this.#pushed - this.#pendBase;
    if (used + chunk.length > this.#pend.length && this.#emitted > this.#pendBase) {
      // Drop the bytes already written.
      this.#pend.copyWithin(0, this.#emitted - this.#pendBase, used);
      this.#pendBase = this.#emitted;
      used = this.#pushed - this.#pendBase;
    }
    if (used + chunk.length > this.#pend.length) {
      let size = this.#pend.length * 2;
      while (size < used + chunk.length) size *= 2;
      const bigger = new Uint8Array(size);
      bigger.set(this.#pend.subarray(0, used));
      this.#pend = bigger;
    }
    this.#pend.set(chunk, used);
    this.#pushed += chunk.length;
  }

  /** Consumes the next bytes of the new file. */
  push(chunk: Uint8Array): void {
    if (this.#ended) throw new Error('Cannot push to a delta generator after end()');
    if (chunk.length === 0) return;
    this.#append(chunk);
    if (this.#scanner) this.#scanner.push(chunk);
    // No match can start before the scan position, which trails the data pushed by at
    // most two blocks: whole 32 KiB literals before that are final. (Were a match ever
    // reported earlier, #onMatch would trim it: the output stays right.)
    const safe = this.#pushed - 3 * this.#bs;
    const max = this.encoder.maxLiteral;
    while (this.#emitted + max <= safe) this.#literalUpTo(this.#emitted + max);
    // Give memory back after a long literal run.
    if (this.#pend.length > 8 * 1024 * 1024 && this.#pushed - this.#emitted < 1024 * 1024) {
      const rest = this.#pend.slice(this.#emitted - this.#pendBase, this.#pushed - this.#pendBase);
      this.#pend = new Uint8Array(Math.max(256 * 1024, rest.length * 2));
      this.#pend.set(rest);
      this.#pendBase = this.#emitted;
    }
  }

  /** Ends the new file: the last matches, the tail, END. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#scanner?.end();
    const sig = this.signature;
    const rest = this.#pushed - this.#emitted;
    if (sig.blockCount > 0 && rest > 0) {
      const m = librsyncTailMatch(sig, this.#pend, this.#emitted - this.#pendBase, this.#pushed - this.#pendBase);
      if (m > 0) {
        this.#literalUpTo(this.#pushed - m);
        this.encoder.copy((sig.blockCount - 1) * this.#bs, m);
        this.#emitted = this.#pushed;
      }
    }
    this.#literalUpTo(this.#pushed);
    this.encoder.end();
  }

  /** The delta bytes produced since the last `take()`. */
  take(): Uint8Array {
    return this.encoder.take();
  }
}

/**
 * The delta from a signature to `newData`, in memory (rdiff's `delta`): applicable by
 * `rdiff patch` and {@link applyLibrsyncDelta}.
 */
export function encodeLibrsyncDelta(signature: LibrsyncSignature, newData: Uint8Array, options: { maxLiteral?: number } = {}): Uint8Array {
  const g = new LibrsyncDeltaGenerator(signature, options);
  g.push(newData);
  g.end();
  return g.take();
}

// ---------------------------------------------------------------------------------------
// Parsing

/** A parsed delta command; literal data may arrive in several pieces (`literal` events). */
export type DeltaEvent =
  | { readonly type: 'literal'; readonly data: Uint8Array }
  | { readonly type: 'copy'; readonly offset: number; readonly length: number }
  | { readonly type: 'end' };

function deltaCorrupt(reason: string, offset?: number): SyncError {
  return new SyncError(ErrorCodes.DELTA_CORRUPT, `Cannot read the librsync delta: ${reason}`, offset === undefined ? {} : { offset });
}

enum State {
  Magic,
  Opcode,
  Params,
  LiteralData,
  Done,
}

/**
 * A push-style delta parser: `push(chunk)` returns the commands the chunk completes
 * (literal data as it arrives, sliced from the chunk without copying), `end()` checks
 * the delta was complete. Throws DELTA_CORRUPT (with the byte `offset` in the delta) for
 * a wrong magic, a reserved opcode, a command of length 0 (librsync refuses them too), a
 * length over 2^53 − 1, bytes after END (librsync ignores them), or a truncated delta.
 */
export class LibrsyncDeltaParser {
  /** Delta bytes consumed. */
  position = 0;
  /** Commands parsed so far. */
  readonly stats: DeltaStats = emptyStats();
  #state = State.Magic;
  readonly #param = new Uint8Array(16);
  #paramNeed = 0;
  #paramHave = 0;
  #op = 0;
  #commandAt = 0;
  /** Literal bytes still to come. */
  #literalLeft = 0;

  /** True once END was read. */
  get done(): boolean {
    return this.#state === State.Done;
  }

  #readUint(from: number, width: number, what: string): number {
    let v = 0;
    for (let i = 0; i < width; i++) v = v * 256 + this.#param[from + i]!;
    if (!Number.isSafeInteger(v))
      throw deltaCorrupt(`the ${what} of the command at byte ${this.#commandAt} is over 2^53 − 1`, this.#commandAt);
    return v;
  }

  /** Parses the next delta bytes. */
  push(chunk: Uint8Array): DeltaEvent[] {
    const events: DeltaEvent[] = [];
    let p = 0;
    while (p < chunk.length) {
      switch (this.#state) {
        case State.Magic: {
          const take = Math.min(4 - this.#paramHave, chunk.length - p);
          this.#param.set(chunk.subarray(p, p + take), this.#paramHave);
          this.#paramHave += take;
          p += take;
          if (this.#paramHave === 4) {
            const magic = this.#readUint(0, 4, 'magic');
            if (magic !== RS_DELTA_MAGIC) {
              const what = describeLibrsyncMagic(magic)
                ? 'a librsync signature, not a delta'
                : `not a librsync delta (magic 0x${magic.toString(16).padStart(8, '0')}, expected 0x72730236)`;
              throw deltaCorrupt(`it is ${what}`, 0);
            }
            this.#state = State.Opcode;
          }
          break;
        }
        case State.Opcode: {
          const op = chunk[p]!;
          this.#commandAt = this.position + p;
          p++;
          if (op === OP_END) {
            this.#state = State.Done;
            events.push({ type: 'end' });
          } else if (op < OP_LITERAL_N1) {
            this.#literalLeft = op;
            this.#state = State.LiteralData;
            this.stats.literalCommands++;
            this.stats.literalCommandBytes++;
            this.stats.literalBytes += op;
          } else if (op >= OP_RESERVED) {
            throw deltaCorrupt(`byte ${this.#commandAt} holds the reserved opcode 0x${op.toString(16)}`, this.#commandAt);
          } else {
            this.#op = op;
            this.#paramHave = 0;
            if (op < OP_COPY) this.#paramNeed = CODE_WIDTH[op - OP_LITERAL_N1]!;
            else this.#paramNeed = CODE_WIDTH[(op - OP_COPY) >> 2]! + CODE_WIDTH[(op - OP_COPY) & 3]!;
            this.#state = State.Params;
          }
          break;
        }
        case State.Params: {
          const take = Math.min(this.#paramNeed - this.#paramHave, chunk.length - p);
          this.#param.set(chunk.subarray(p, p + take), this.#paramHave);
          this.#paramHave += take;
          p += take;
          if (this.#paramHave < this.#paramNeed) break;
          if (this.#op < OP_COPY) {
            this.#literalLeft = this.#readUint(0, this.#paramNeed, 'literal length');
            if (this.#literalLeft === 0) throw deltaCorrupt(`the LITERAL at byte ${this.#commandAt} has length 0`, this.#commandAt);
            this.#state = State.LiteralData;
            this.stats.literalCommands++;
            this.stats.literalCommandBytes += 1 + this.#paramNeed;
            this.stats.literalBytes += this.#literalLeft;
          } else {
            const ow = CODE_WIDTH[(this.#op - OP_COPY) >> 2]!;
            const lw = CODE_WIDTH[(this.#op - OP_COPY) & 3]!;
            const offset = this.#readUint(0, ow, 'copy offset');
            const length = this.#readUint(ow, lw, 'copy length');
            if (length === 0) throw deltaCorrupt(`the COPY at byte ${this.#commandAt} has length 0`, this.#commandAt);
            if (!Number.isSafeInteger(offset + length))
              throw deltaCorrupt(`the copy at byte ${this.#commandAt} ends past 2^53 − 1`, this.#commandAt);
            events.push({ type: 'copy', offset, length });
            this.#state = State.Opcode;
            this.stats.copyCommands++;
            this.stats.copyCommandBytes += 1 + this.#paramNeed;
            this.stats.copyBytes += length;
          }
          break;
        }
        case State.LiteralData: {
          const take = Math.min(this.#literalLeft, chunk.length - p);
          events.push({ type: 'literal', data: chunk.subarray(p, p + take) });
          this.#literalLeft -= take;
          p += take;
          if (this.#literalLeft === 0) this.#state = State.Opcode;
          break;
        }
        case State.Done:
          throw deltaCorrupt(`${chunk.length - p} or more bytes follow the END command at byte ${this.#commandAt}`, this.position + p);
      }
    }
    this.position += chunk.length;
    return events;
  }

  /** Checks that the delta ended with END; throws DELTA_CORRUPT when it is truncated. */
  end(): void {
    switch (this.#state) {
      case State.Done:
        return;
      case State.Magic:
        throw deltaCorrupt(`it is ${this.position} bytes, shorter than the 4-byte magic number`, this.position);
      case State.Opcode:
        throw deltaCorrupt(`it ends at byte ${this.position} without an END command (truncated)`, this.position);
      case State.Params:
        throw deltaCorrupt(`it ends at byte ${this.position} inside the command at byte ${this.#commandAt} (truncated)`, this.position);
      case State.LiteralData:
        throw deltaCorrupt(
          `it ends at byte ${this.position} with ${this.#literalLeft} bytes of the literal at byte ${this.#commandAt} missing (truncated)`,
          this.position,
        );
    }
  }
}

/** Every command of a whole delta in memory (each literal as one event, as the delta is one chunk). */
export function decodeLibrsyncDelta(delta: Uint8Array): DeltaEvent[] {
  const p = new LibrsyncDeltaParser();
  const events = p.push(delta);
  p.end();
  return events;
}

/**
 * Applies a delta to a basis in memory (rdiff's `patch`). Throws DELTA_CORRUPT for a
 * malformed delta or a COPY past the end of the basis.
 */
export function applyLibrsyncDelta(basis: Uint8Array, delta: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of decodeLibrsyncDelta(delta)) {
    if (e.type === 'literal') parts.push(e.data);
    else if (e.type === 'copy') {
      if (e.offset + e.length > basis.length)
        throw deltaCorrupt(`a COPY of ${e.length} bytes at ${e.offset} goes past the end of the ${basis.length}-byte basis`);
      parts.push(basis.subarray(e.offset, e.offset + e.length));
    }
  }
  return new Uint8Array(Buffer.concat(parts));
}

/** The magic number a delta starts with, for callers telling files apart. */
export function isLibrsyncDelta(data: Uint8Array): boolean {
  return data.length >= 4 && ((data[0]! << 24) | (data[1]! << 16) | (data[2]! << 8) | data[3]!) >>> 0 === RS_DELTA_MAGIC;
}
