/**
 * Hashing whole blocks into index records: the work of the index builder, shared by
 * the streaming builder and the worker threads that build large indexes in parallel.
 *
 * @module
 */
import { sha256 } from '../hashing/strong-hash.js';
import { weakChecksumBlocks, weakMask } from '../rollsum.js';
import { encodeRecord } from './format.js';

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
 * digest buffer and one array of weak sums per call.
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
  const digest = new Uint8Array(FULL_HASH_BYTES);
  // Every block's weak sum first, in one pass of WebAssembly SIMD (see weakChecksumBlocks).
  const weaks = new Uint32Array(count);
  weakChecksumBlocks(data, start, count, blockSize, weaks);
  for (let k = 0; k < count; k++) {
    const p = start + k * blockSize;
    const weak = weaks[k]! & mask;
    sha256.hashInto(data, p, blockSize, digest, 0, FULL_HASH_BYTES);
    encodeRecord(out, outOffset + k * record, weak, weakBytes, digest, 0, strongBytes);
    hashes?.set(digest, hashesOffset + k * FULL_HASH_BYTES);
  }
}
