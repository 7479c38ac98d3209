/**
 * How gosync sizes blocks and stored hash lengths from the file size.
 *
 * The index is downloaded by every client, so its size is part of the bytes moved:
 * `index ≈ (size / blockSize) · (weakBytes + strongBytes)`, while every changed region
 * costs about one block of fetched data. Small blocks find more of the local file but make
 * the index larger. See docs/format.md, "Choosing the parameters".
 *
 * @module
 */

/** Smallest and largest block sizes the gosync index format accepts. */
export const MIN_BLOCK_SIZE = 16;
export const MAX_BLOCK_SIZE = 16 * 1024 * 1024;

/** Block size for files up to 64 MiB: the same 2 KiB zsync uses below 100 MB. */
const SMALL_FILE_BLOCK_SIZE = 2048;
/** Default cap: a 1 TiB file still gets an index of about 8 MiB. */
const MAX_DEFAULT_BLOCK_SIZE = 1024 * 1024;

/**
 * Default block size for a file of `fileSize` bytes: 2048 up to 64 MiB, then the power
 * of two at or above √size / 4, up to 1 MiB.
 *
 * Why: with `E` edit sites and `r` index bytes per block the bytes moved,
 * `size·r/bs + E·bs`, are smallest at `bs = √(size·r/E)`; `√size / 4` is that optimum for
 * about 110 scattered edits with r = 7, which keeps us at zsync's block sizes where zsync
 * is tuned (up to ~100 MB) and keeps the index growing as √size instead of size beyond.
 */
export function defaultBlockSize(fileSize: number): number {
  if (fileSize <= 64 * 1024 * 1024) return SMALL_FILE_BLOCK_SIZE;
  let bs = SMALL_FILE_BLOCK_SIZE;
  const target = Math.sqrt(fileSize) / 4;
  while (bs < target && bs < MAX_DEFAULT_BLOCK_SIZE) bs *= 2;
  return bs;
}

/** The hash lengths an index stores. */
export interface HashLengths {
  /** 2 when a match must be confirmed by two consecutive blocks, else 1. */
  seqMatches: 1 | 2;
  /** Stored bytes of the weak checksum, 1..4. */
  weakBytes: number;
  /** Stored bytes of the strong hash. */
  strongBytes: number;
}

/**
 * Hash lengths for a file, chosen as zsync 0.6.2 chooses them (its formulas aim at a false
 * match probability around 2^-20 per file), so that a gosync index is no larger than a
 * `.zsync` at the same block size. Requiring two consecutive blocks to match lets each
 * stored hash be about half as long. The whole-file SHA-256 in the index still guarantees
 * the result; a false block match is caught there and repaired by refetching.
 */
export function defaultHashLengths(fileSize: number, blockSize: number): HashLengths {
  const seqMatches: 1 | 2 = fileSize > blockSize ? 2 : 1;
  const len = Math.max(fileSize, 1);
  const blocks = Math.floor(len / blockSize);
  const weakBits = (Math.log(len) + Math.log(blockSize)) / Math.LN2 - 8.6;
  const weakBytes = Math.min(4, Math.max(2, Math.ceil(weakBits / seqMatches / 8)));
  const strongA = Math.ceil((20 + (Math.log(len) + Math.log(1 + blocks)) / Math.LN2) / seqMatches / 8);
  const strongB = Math.floor((7.9 + 20 + Math.log(1 + blocks) / Math.LN2) / 8);
  const strongBytes = Math.min(32, Math.max(strongA, strongB, 3));
  return { seqMatches, weakBytes: seqMatches === 1 ? Math.max(weakBytes, 2) : weakBytes, strongBytes };
}

/** Number of blocks of a file: ⌈size / blockSize⌉. */
export function blockCountOf(fileSize: number, blockSize: number): number {
  return Math.ceil(fileSize / blockSize);
}
