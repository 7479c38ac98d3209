/**
 * Several indexes as one: the files laid end to end, each padded to whole blocks, so one
 * scan of the local files looks for the blocks of all of them at once (a folder's files
 * reuse data from any local file: renamed, moved, copied or concatenated ones).
 *
 * @module
 */
import type { BlockIndex } from './block-index.js';
import { blockLength } from './block-index.js';
import { weakMask } from '../rollsum.js';

/** The combined index, and where each part's blocks start in it. */
export interface ConcatenatedIndex {
  index: BlockIndex;
  /** First block of part `i` in the combined index. */
  firstBlock: number[];
}

/**
 * Concatenates indexes of one block size and one block hash (gosync indexes with padded
 * last blocks and the rollsum weak checksum). Weak checksums and strong hashes are cut
 * to the shortest lengths among the parts, pairs are used if any part uses them. The
 * result has no whole-file digest of its own: it is for scanning, and each file is
 * verified against its own index.
 */
export function concatIndexes(parts: readonly BlockIndex[]): ConcatenatedIndex {
  if (parts.length === 0) throw new RangeError('Cannot concatenate: no indexes');
  const first = parts[0]!;
  let weakBytes = 4;
  let strongBytes = 32;
  let seqMatches: 1 | 2 = 1;
  let blockCount = 0;
  for (const p of parts) {
    if (p.blockSize !== first.blockSize)
      throw new RangeError(`Cannot concatenate indexes of block sizes ${first.blockSize} and ${p.blockSize}`);
    if (p.strongHash.name !== first.strongHash.name)
      throw new RangeError(`Cannot concatenate indexes of block hashes ${first.strongHash.name} and ${p.strongHash.name}`);
    if (p.paddedLastBlock === false || (p.weakAlgorithm ?? 'rollsum') !== 'rollsum')
      throw new RangeError('Cannot concatenate: only indexes with padded last blocks and rollsum checksums can be');
    weakBytes = Math.min(weakBytes, p.weakBytes);
    strongBytes = Math.min(strongBytes, p.strongBytes);
    if (p.seqMatches === 2) seqMatches = 2;
    blockCount += p.blockCount;
  }
  const weak = new Uint32Array(blockCount);
  const strong = new Uint8Array(blockCount * strongBytes);
  const lengths = new Uint32Array(blockCount);
  const firstBlock: number[] = [];
  const mask = weakMask(weakBytes);
  let at = 0;
  for (const p of parts) {
    firstBlock.push(at);
    for (let i = 0; i < p.blockCount; i++) {
      weak[at + i] = (p.weak[i]! & mask) >>> 0;
      strong.set(p.strong.subarray(i * p.strongBytes, i * p.strongBytes + strongBytes), (at + i) * strongBytes);
      lengths[at + i] = blockLength(p, i);
    }
    at += p.blockCount;
  }
  const index: BlockIndex = {
    fileSize: blockCount * first.blockSize,
    blockSize: first.blockSize,
    blockCount,
    seqMatches,
    weakBytes,
    strongBytes,
    strongHash: first.strongHash,
    weak,
    strong,
    fileDigest: { algorithm: 'none', digest: new Uint8Array(0) },
    lengths,
  };
  return { index, firstBlock };
}
