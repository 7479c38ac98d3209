/**
 * Hashing whole blocks into index records: the work of the index builder, shared by
 * the streaming builder and the worker threads that build large indexes in parallel.
 *
 * @module
 */
import { sha256 } from '../hashing/strong-hash.js';
import { weakChecksumBlocks, weakMask } from '../rollsum.js';

/** The header fields that shape a record. */
export interface RecordShape {
  blockSize: number;
  weakBytes: number;
  strongBytes: number;
}

/** Bytes of a block's full SHA-256, as {@link writeBlockRecords} keeps them for the block digest. */
export const FULL_HASH_BYTES = 32;

/**
 * Writes the records of `count` whole blocks starting at `data[start]` into `out` at
 * `outOffset` (record after record), and, with `hashes`, each block's full SHA-256 into
 * it at `hashesOffset` (32 bytes per block, for the index's block digest). Allocates one
 * array of weak sums per call (and a digest buffer without `hashes`).
 */
export function writeBlockRecords(
  data: Uint8Array,
  start: number,
  count: number,
  shape: RecordShape,
  out: Uint8Array,
  outOffset: number,
  hashes?: Uint8Array,
  hashesOffset = 0,
): void {
  const { blockSize, weakBytes, strongBytes } = shape;
  const mask = weakMask(weakBytes);
  const record = weakBytes + strongBytes;
  // Each full hash goes straight to `hashes` when there is one, else to this buffer.
  const own = hashes === undefined ? new Uint8Array(FULL_HASH_BYTES) : undefined;
  // Every block's weak sum first, in one pass of WebAssembly SIMD (see weakChecksumBlocks).
  const weaks = new Uint32Array(count);
  weakChecksumBlocks(data, start, count, blockSize, weaks);
  for (let k = 0; k < count; k++) {
    const full = own ?? hashes!;
    const at = own ? 0 : hashesOffset + k * FULL_HASH_BYTES;
    sha256.hashInto(data, start + k * blockSize, blockSize, full, at, FULL_HASH_BYTES);
    // The record as encodeRecord writes it (weak sum little-endian, then the strong hash's
    // first bytes), without a subarray per block.
    const o = outOffset + k * record;
    const weak = weaks[k]! & mask;
    for (let j = 0; j < weakBytes; j++) out[o + j] = (weak >>> (8 * j)) & 0xff;
    for (let j = 0; j < strongBytes; j++) out[o + weakBytes + j] = full[at + j]!;
  }
}
