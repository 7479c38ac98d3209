/**
 * Fail-closed verification of fetched blocks and of the whole result.
 *
 * A fetched block passes only when its strong hash equals the one the index expects;
 * a block with no expected hash is an error, never a pass.
 *
 * @module
 */
import { createHash, hash as oneShotHash, type Hash } from 'node:crypto';
import { ErrorCodes, SyncError } from './errors.js';
import type { BlockIndex } from './index/block-index.js';
import { NO_FILE_DIGEST, blockLength, strongHashLength } from './index/block-index.js';
import { bytesEqual, toHex } from './hashing/strong-hash.js';

/**
 * Verifies reference blocks against an index. Keeps one scratch block for the
 * zero-padded last block, so verification allocates nothing per block.
 */
export class BlockVerifier {
  readonly #index: BlockIndex;
  readonly #digest: Uint8Array;
  readonly #padded: Uint8Array;

  constructor(index: BlockIndex) {
    this.#index = index;
    this.#digest = new Uint8Array(Math.max(index.strongBytes, index.strongHash.digestLength, 1));
    this.#padded = new Uint8Array(index.blockSize);
  }

  /**
   * Checks that `data[start, start + blockLength(i))` is block `i`. Throws BLOCK_MISMATCH
   * when it is not, NO_EXPECTED_HASH when the index has no hash to compare with. With
   * `full`, the block's full strong hash is written there at `fullAt` (for the block digest).
   */
  verify(i: number, data: Uint8Array, start: number, full?: Uint8Array, fullAt = 0): void {
    const index = this.#index;
    const sb = index.strongBytes;
    if (!(sb > 0) || i < 0 || i >= index.blockCount || (i + 1) * sb > index.strong.length) {
      throw new SyncError(ErrorCodes.NO_EXPECTED_HASH, `Cannot verify block ${i}: the index has no strong hash for it`, { blockIndex: i });
    }
    const len = blockLength(index, i);
    const hashed = strongHashLength(index, i);
    let buf = data;
    let at = start;
    if (hashed < index.blockSize) {
      // An unpadded last block (go-sync): hashed as it is.
    } else if (len < index.blockSize) {
      this.#padded.fill(0);
      this.#padded.set(data.subarray(start, start + len));
      buf = this.#padded;
      at = 0;
    }
    const dl = full === undefined ? sb : index.strongHash.digestLength;
    index.strongHash.hashInto(buf, at, hashed, this.#digest, 0, dl);
    full?.set(this.#digest.subarray(0, dl), fullAt);
    if (!bytesEqual(this.#digest, 0, index.strong, i * sb, sb)) {
      throw new SyncError(
        ErrorCodes.BLOCK_MISMATCH,
        `Cannot use block ${i} (bytes ${i * index.blockSize}..${i * index.blockSize + len}): its ${index.strongHash.name} hash does not match the index (the source sent wrong data)`,
        { blockIndex: i, offset: i * index.blockSize },
      );
    }
  }
}

/** Incremental check of the whole result: exact length and whole-file digest. */
export class FileVerifier {
  readonly #index: Pick<BlockIndex, 'fileSize' | 'fileDigest'>;
  readonly #hash: Hash;
  #length = 0;

  readonly #none: boolean;

  constructor(index: Pick<BlockIndex, 'fileSize' | 'fileDigest'>) {
    this.#index = index;
    // An index without a whole-file digest: only the length is checked here; the
    // patcher then verifies every block of the output (see assemble).
    this.#none = index.fileDigest.algorithm === NO_FILE_DIGEST;
    this.#hash = createHash(this.#none ? 'sha256' : index.fileDigest.algorithm);
  }

  update(data: Uint8Array): void {
    this.#length += data.length;
    if (!this.#none) this.#hash.update(data);
  }

  /** Throws FILE_MISMATCH unless everything passed to `update` is exactly the reference. */
  finish(): void {
    const got = new Uint8Array(this.#hash.digest());
    checkResult(this.#index, this.#length, this.#none ? undefined : got);
  }
}

/**
 * Throws FILE_MISMATCH unless a result of `length` bytes whose digest (by the index's
 * whole-file algorithm) is `digest` is exactly the reference; `digest` undefined checks the
 * length alone. For results hashed elsewhere (another thread) than by a {@link FileVerifier}.
 */
export function checkResult(index: Pick<BlockIndex, 'fileSize' | 'fileDigest'>, length: number, digest: Uint8Array | undefined): void {
  const { fileSize, fileDigest } = index;
  if (length !== fileSize) {
    throw new SyncError(ErrorCodes.FILE_MISMATCH, `Cannot accept the result: it is ${length} bytes, the index says ${fileSize}`);
  }
  if (digest === undefined) return;
  if (digest.length !== fileDigest.digest.length || !bytesEqual(digest, 0, fileDigest.digest, 0, digest.length)) {
    throw new SyncError(
      ErrorCodes.FILE_MISMATCH,
      `Cannot accept the result: its ${fileDigest.algorithm} is ${toHex(digest)}, the index says ${toHex(fileDigest.digest)}`,
    );
  }
}

/**
 * Throws FILE_MISMATCH unless `hashes` (the full SHA-256 of every block of a result, 32
 * bytes each, in order) hash to the index's block digest: the one-pass check of a result
 * whose every block hash is known (index format versions 5 and 6, docs/format.md).
 */
export function checkBlockDigest(index: Pick<BlockIndex, 'blockDigest' | 'blockCount'>, hashes: Uint8Array): void {
  const expected = index.blockDigest;
  if (expected === undefined) throw new RangeError('Cannot check the block digest: the index has none');
  if (hashes.length !== index.blockCount * 32) throw new RangeError('Cannot check the block digest: one 32-byte hash per block is needed');
  const got = oneShotHash('sha256', hashes, 'buffer') as unknown as Uint8Array;
  if (!bytesEqual(got, 0, expected, 0, expected.length) || got.length !== expected.length) {
    throw new SyncError(
      ErrorCodes.FILE_MISMATCH,
      `Cannot accept the result: the SHA-256 of its block hashes is ${toHex(got)}, the index says ${toHex(expected)}`,
    );
  }
}

/** True when a result can be checked by {@link checkBlockDigest}: the index has a block digest over 32-byte SHA-256 block hashes. */
export function canCheckBlockDigest(index: Pick<BlockIndex, 'blockDigest' | 'strongHash' | 'lengths' | 'paddedLastBlock'>): boolean {
  return (
    index.blockDigest !== undefined &&
    index.strongHash.name === 'sha256' &&
    index.strongHash.digestLength === 32 &&
    index.lengths === undefined &&
    index.paddedLastBlock !== false
  );
}
