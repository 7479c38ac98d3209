/**
 * lz-delta: a delta codec for text-like files, an LZ77 parse of the new file over the window
 * old‖new-so-far coded by an adaptive binary range coder (the design of LZMA, written from its
 * published description), with one delta-specific match kind.
 *
 * Format (the caller's container names the kind; there is no magic):
 *
 *     varint  new size   (LEB128, at most 8 bytes; refused above `maxNewSize`)
 *     varint  old size   (must equal the old file's length)
 *     body    range-coded operations until the new size is reached, then the coder's
 *             five-byte flush; nothing may follow it
 *
 * Operations (bits coded with adaptive probabilities unless said otherwise; `state` is LZMA's
 * twelve-state summary of the last operations; window positions count the old file first):
 *
 *     isMatch[state]=0                     literal: 8 bits, context = previous byte; after a
 *                                          match, coded against the byte at rep0 (the old text
 *                                          usually goes on after an edit)
 *     1, isRep=0, isNear=0, len, dist      match at an explicit distance (1..window)
 *     1, isRep=0, isNear=1, sign, |δ|, len match at rep0 + δ (δ ≠ 0): the displacement after an
 *                                          insertion or deletion of |δ| bytes
 *     1, isRep=1, G0=0, rep0Long=0         one byte at rep0
 *     1, isRep=1, G0=0, rep0Long=1, len    match at rep0
 *     1, isRep=1, G0=1, G1, [G2], len      match at rep1..rep3 (moved to the front)
 *
 * Numbers (lengths − 2, distances − 1, |δ| − 1) are coded as the bit length of value+1 (5-bit
 * tree), the next six bits by a tree per bit length, the rest as direct bits. The repeat
 * distances start at the old file's length (the new file's first byte lines up with the old
 * file's first byte) and the state at "after a match" when there is an old file.
 *
 * The cursor is where the source of the last match of 64 bytes or more ended: after an inserted
 * passage the old text goes on at the cursor (offset 0), after a replaced or deleted one a few
 * bytes further. Before coding, the plain literal probabilities are trained on the last MiB of
 * the old file (both sides do it), in one of two ways, which the container tells apart (delta
 * files: kind byte 5 for version 2, 3 for version 1):
 *
 *     version 2  each probability from the count of its bit's zeros there (asm/lz-delta.ts,
 *                primeCounted); what gosync makes
 *     version 1  updated bit by bit as if those bytes were coded as literals; read only
 *
 * Version 2 took the priming from eight dependent updates per byte to one count (jquery.js's
 * 283 kB: 7.8 → 1.5 ms of the encoder in a fresh process; the decoder primes with the same
 * function), and the deltas a little smaller
 * (the table below is version 1's; version 2's figures are beside primeCounted in
 * asm/lz-delta.ts).
 *
 * Measured (Node 24, on a shared 2-core machine; sizes in bytes; `encodeLzDelta` in one process):
 *
 *     pair                                  lz-delta   zstd 22 dict   zstd -19 --patch-from
 *     jquery.js 1.11.1 → 1.11.2 (283 kB)        940          1,099          1,107
 *     typescript.js 5.5.4 → 5.6.2 (8.9 MB)   25,321         32,174         33,828
 *     typescript package tar (22.5 MB)      123,036        139,568        159,216
 *
 * Encoding (WebAssembly, encode.ts) took 23-33 ms for jquery.js in a fresh process, 0.7-0.8 s for
 * typescript.js (11-13 MB/s of new data), 2.7-3.1 s for the tar (7-8 MB/s). It holds the window
 * (old+new) and its hash chains in WebAssembly memory, 7-8.5 bytes per byte of old+new: peak
 * 364 MiB RSS for the 44.5 MB tar pair with Node and the inputs. Decoding runs at over 100 MB/s
 * of output (typescript.js, the tar; copies of long matches dominate) and holds the output and
 * under 1 MiB of model tables.
 */
import { ErrorCodes, SyncError, throwIfAborted } from '../../core/errors.js';
import { corrupt, decodeLzBody } from './decode.js';
import { encodeLzBody } from './encode.js';

/** The largest new file `applyLzDelta` builds unless told otherwise: 1 GiB. */
export const DEFAULT_MAX_NEW_SIZE = 2 ** 30;
/**
 * The encoder's window (old + new) is at most 512 MiB: it runs in a 32-bit WebAssembly memory
 * (4 GiB) holding the window and its hash chains, 5.5 bytes per byte.
 */
const MAX_WINDOW = 2 ** 29;

/** The format's versions: how the literal model is primed (above). */
export type LzDeltaVersion = 1 | 2;

/** The version {@link encodeLzDelta} writes unless told otherwise. */
export const LZ_DELTA_VERSION: LzDeltaVersion = 2;

export interface EncodeLzDeltaOptions {
  /** Default {@link LZ_DELTA_VERSION}; version 1 is written for tests of its reader. */
  version?: LzDeltaVersion;
  signal?: AbortSignal;
}

export interface ApplyLzDeltaOptions {
  /** The version the delta was written in (its container says; default {@link LZ_DELTA_VERSION}). */
  version?: LzDeltaVersion;
  /** Refuse a delta declaring a larger new file (default 1 GiB). */
  maxNewSize?: number;
  signal?: AbortSignal;
}

/** A delta that rebuilds `next` from `old` with `applyLzDelta`. */
export function encodeLzDelta(old: Uint8Array, next: Uint8Array, options: EncodeLzDeltaOptions = {}): Uint8Array {
  if (old.length + next.length > MAX_WINDOW) throw new RangeError('Cannot encode an lz delta: old and new together exceed 512 MiB');
  throwIfAborted(options.signal);
  const header = new Uint8Array(20);
  let at = writeVarint(header, 0, next.length);
  at = writeVarint(header, at, old.length);
  const body = encodeLzBody(old, next, (options.version ?? LZ_DELTA_VERSION) === 2, options.signal);
  const delta = new Uint8Array(at + body.length);
  delta.set(header.subarray(0, at));
  delta.set(body, at);
  return delta;
}

/** Rebuilds the new file from `old` and a delta of `encodeLzDelta`; DELTA_CORRUPT for any damaged delta. */
export function applyLzDelta(old: Uint8Array, delta: Uint8Array, options: ApplyLzDeltaOptions = {}): Uint8Array {
  const maxNewSize = options.maxNewSize ?? DEFAULT_MAX_NEW_SIZE;
  throwIfAborted(options.signal);
  const newSize = readVarint(delta, 0);
  if (newSize.value > maxNewSize) throw corrupt(`it declares a new file of ${newSize.value} bytes, more than ${maxNewSize}`);
  const oldSize = readVarint(delta, newSize.next);
  if (oldSize.value !== old.length) {
    throw new SyncError(
      ErrorCodes.DELTA_CORRUPT,
      `Cannot apply the delta: it was made from a ${oldSize.value}-byte file, not ${old.length} bytes`,
    );
  }
  return decodeLzBody(old, newSize.value, delta, oldSize.next, (options.version ?? LZ_DELTA_VERSION) === 2, options.signal);
}

function writeVarint(buf: Uint8Array, at: number, value: number): number {
  let v = value;
  while (v >= 0x80) {
    buf[at++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[at++] = v;
  return at;
}

function readVarint(buf: Uint8Array, at: number): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 8; i++) {
    const byte = buf[at + i];
    if (byte === undefined) throw corrupt('the header is truncated');
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      if (byte === 0 && i > 0) throw corrupt('the header holds a padded number');
      return { value, next: at + i + 1 };
    }
    scale *= 0x80;
  }
  throw corrupt('the header holds a number longer than 8 bytes');
}
