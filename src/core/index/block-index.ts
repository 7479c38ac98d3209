/**
 * The in-memory index of a reference file: its length, whole-file hash and, per block,
 * a weak checksum and a truncated strong hash. Every index format (gosync v1, and the
 * codecs of other tools) decodes into this one shape, which is all the matcher and the
 * patcher know.
 *
 * @module
 */
import type { StrongHash } from '../hashing/strong-hash.js';
import type { PublishedForms } from './published.js';

/** A whole-file digest. */
export interface FileDigest {
  /** Algorithm name, e.g. `sha256`. */
  readonly algorithm: string;
  /** The digest bytes. */
  readonly digest: Uint8Array;
}

/** The index of a reference file. */
export interface BlockIndex {
  /** Exact length of the reference in bytes. */
  readonly fileSize: number;
  /** Block size in bytes; the last block may be shorter. */
  readonly blockSize: number;
  /** ⌈fileSize / blockSize⌉. */
  readonly blockCount: number;
  /** 2 when a match must be confirmed by two consecutive blocks, else 1. */
  readonly seqMatches: 1 | 2;
  /** Stored bytes of each weak checksum (1..4): the low bytes of `(a << 16 | b)`. */
  readonly weakBytes: number;
  /** Stored bytes of each strong hash (a prefix of the digest). */
  readonly strongBytes: number;
  /** The strong block hash. */
  readonly strongHash: StrongHash;
  /** Weak checksum per block, already masked to `weakBytes`. */
  readonly weak: Uint32Array;
  /** Strong hash prefixes, `strongBytes` per block, block after block. */
  readonly strong: Uint8Array;
  /** Whole-file digest of the reference. */
  readonly fileDigest: FileDigest;
  /**
   * SHA-256 of the full 32-byte SHA-256 of every block, in order, the last block zero-padded
   * (index format versions 5 and 6): a client holding every block's full hash checks its
   * whole result with it instead of hashing the result again. Only with `strongHash` SHA-256.
   */
  readonly blockDigest?: Uint8Array;
  /** Where the reference can be fetched, if the index names it. */
  readonly url?: string;
  /**
   * False when the last block's strong hash covers only its real bytes (go-sync) rather
   * than the block zero-padded to `blockSize` (gosync, zsync; the default). Its weak
   * checksum is always stored in padded form.
   */
  readonly paddedLastBlock?: boolean;
  /**
   * The rolling weak checksum: `rollsum` (a, b mod 2^16; gosync, zsync, go-sync,
   * librsync's legacy sum after conversion; the default) or `rabinkarp` (librsync's
   * default). Stored values are always those of the block zero-padded to `blockSize`.
   */
  readonly weakAlgorithm?: 'rollsum' | 'rabinkarp';
  /** Compressed and delta forms of the reference published besides it (format version 2). */
  readonly published?: PublishedForms;
  /**
   * Real length of every block, when blocks other than the last may be short: an index
   * of several files laid end to end, each padded to whole blocks (see `concatIndexes`).
   * Without it only the last block may be short.
   */
  readonly lengths?: Uint32Array;
}

/**
 * The whole-file digest algorithm of an index that has none (go-sync's). The result is
 * then checked block by block against full-length strong hashes, local blocks included.
 */
export const NO_FILE_DIGEST = 'none';

/** Bytes the strong hash of block `i` covers: the block size, or the real length of an unpadded last block. */
export function strongHashLength(index: Pick<BlockIndex, 'fileSize' | 'blockSize' | 'blockCount' | 'paddedLastBlock'>, i: number): number {
  if (index.paddedLastBlock === false && i === index.blockCount - 1) return index.fileSize - i * index.blockSize;
  return index.blockSize;
}

/** Length of block `i` of an index (the last block may be short). */
export function blockLength(index: Pick<BlockIndex, 'fileSize' | 'blockSize' | 'lengths'>, i: number): number {
  if (index.lengths !== undefined) return index.lengths[i]!;
  const start = i * index.blockSize;
  return Math.min(index.blockSize, index.fileSize - start);
}
