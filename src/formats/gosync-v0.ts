/**
 * The index files of go-sync (github.com/Redundancy/go-sync), the Go library gosync
 * carries on, in the form its `gosync build` tool writes them (format "0.2.0", written by
 * the tool as version 0.2.1). Read from go-sync's source (`gosync/common.go` writeHeaders,
 * `filechecksum` GenerateChecksums, `rollsum/rollsum_32_base.go`, `chunks`):
 *
 *     offset  size  field (all little-endian)
 *     0       6     magic "G0S9NC"
 *     6       6     version: major, minor, patch as 3 × uint16 (0, 2, 1)
 *     12      8     file size, int64
 *     20      4     block size, uint32
 *     24      20·N  per block, from the start: rolling checksum (4 bytes), MD5 (16 bytes)
 *
 * `N = ⌈size / block size⌉`: the records simply run to the end of the file (go-sync's
 * reader counts them); there is no whole-file hash, no URL and no trailer.
 *
 * The rolling checksum is the same sum as gosync's (`a = Σ x`, `b = Σ (n − i)·x`, mod 2^16,
 * go-sync keeps them in uint32s and masks on output) but serialised as the little-endian
 * uint32 `a | b << 16`, the halves swapped compared with gosync's `(a << 16) | b`.
 *
 * The difference that matters: go-sync hashes the **last block unpadded** (both sums over
 * its real length), where gosync and zsync pad it with zeros to the block size. The weak
 * checksum converts (`b' = b + (B − m)·a` for a last block of `m` bytes) but its MD5 does
 * not, so mapping an index onto a {@link BlockIndex} needs the last block's bytes; and with
 * no whole-file hash, it needs the file's digest from elsewhere. See
 * {@link goSyncV0ToBlockIndex} and docs/formats.md.
 *
 * @module
 */
import { createHash, hash as oneShotHash } from 'node:crypto';
import { ErrorCodes, SyncError, throwIfAborted } from '../core/errors.js';
import { bytesEqual, nodeHash } from '../core/hashing/strong-hash.js';
import { NO_FILE_DIGEST, type BlockIndex, type FileDigest } from '../core/index/block-index.js';
import { DEFAULT_MAX_INDEX_BYTES } from '../core/index/format.js';
import { MAX_BLOCK_SIZE, blockCountOf } from '../core/index/params.js';
import { weakChecksum } from '../core/rollsum.js';
import type { BlockSource } from '../core/block-source.js';

import { GO_SYNC_MAGIC, isGoSyncV0Index } from './index-magic.js';
import { gatherFields } from '../core/index/fields.js';

// The magic and its test live with the other formats' (index-magic.ts: no codec to load).
export { GO_SYNC_MAGIC, isGoSyncV0Index } from './index-magic.js';
/** Bytes before the first record. */
export const GO_SYNC_HEADER_SIZE = 24;
/** Bytes per block record: rolling checksum (4) + MD5 (16). */
export const GO_SYNC_RECORD_SIZE = 20;
/** The version go-sync's tool writes (its `gosync/main.go` constants). */
export const GO_SYNC_WRITTEN_VERSION: readonly [number, number, number] = [0, 2, 1];

/** A decoded go-sync index, as go-sync computed it. */
export interface GoSyncV0Index {
  /** major, minor, patch (0.2.x). */
  version: [number, number, number];
  fileSize: number;
  blockSize: number;
  blockCount: number;
  /**
   * Each block's rolling checksum in gosync's `(a << 16) | b` form (the stored halves
   * swapped). The last block's is over its real length, unpadded, as go-sync computes it.
   */
  weak: Uint32Array;
  /** MD5 of each block, 16 bytes per block; the last block's over its real length. */
  md5: Uint8Array;
}

/** Options of {@link decodeGoSyncV0Index}. */
export interface DecodeGoSyncOptions {
  /** Refuse indexes larger than this many bytes (default 1 GiB). */
  maxBytes?: number;
}

function corrupt(reason: string): SyncError {
  return new SyncError(ErrorCodes.INDEX_CORRUPT, `Cannot read the go-sync index: ${reason}`);
}

/** go-sync's `a | b << 16` ⇄ gosync's `(a << 16) | b` (the same swap both ways). */
export function swapHalves(v: number): number {
  return (((v & 0xffff) << 16) | (v >>> 16)) >>> 0;
}

/**
 * Decodes a go-sync index. Throws INDEX_CORRUPT when it is truncated, has a partial
 * record, or its record count disagrees with its file and block sizes; INDEX_UNSUPPORTED
 * for a version other than 0.2.x or a block size over 16 MiB.
 *
 * @example
 * ```ts
 * const g = decodeGoSyncV0Index(await readFile('app.gosync'));
 * console.log(g.blockCount, g.blockSize);
 * ```
 */
export function decodeGoSyncV0Index(data: Uint8Array, options: DecodeGoSyncOptions = {}): GoSyncV0Index {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_INDEX_BYTES;
  if (data.length > maxBytes) throw corrupt(`it is ${data.length} bytes, over the limit of ${maxBytes}`);
  if (!isGoSyncV0Index(data)) throw corrupt('the magic number is wrong (not a go-sync index)');
  if (data.length < GO_SYNC_HEADER_SIZE) throw corrupt(`it is ${data.length} bytes, shorter than the ${GO_SYNC_HEADER_SIZE}-byte header`);
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const version: [number, number, number] = [buf.readUInt16LE(6), buf.readUInt16LE(8), buf.readUInt16LE(10)];
  if (version[0] !== 0 || version[1] !== 2) {
    throw new SyncError(
      ErrorCodes.INDEX_UNSUPPORTED,
      `Cannot read the go-sync index: version ${version.join('.')} is not supported (gosync reads go-sync's 0.2.x indexes)`,
    );
  }
  const size = buf.readBigInt64LE(12);
  if (size < 0n) throw corrupt(`the file size ${size} is negative`);
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(`the file size ${size} is over 2^53 − 1 bytes`);
  const fileSize = Number(size);
  const blockSize = buf.readUInt32LE(20);
  if (blockSize === 0) throw corrupt('the block size is 0');
  if (blockSize > MAX_BLOCK_SIZE) {
    throw new SyncError(
      ErrorCodes.INDEX_UNSUPPORTED,
      `Cannot use the go-sync index: its block size ${blockSize} is over the ${MAX_BLOCK_SIZE} bytes gosync handles`,
    );
  }
  const blockCount = blockCountOf(fileSize, blockSize);
  const expected = GO_SYNC_HEADER_SIZE + blockCount * GO_SYNC_RECORD_SIZE;
  if (expected > maxBytes) throw corrupt(`it declares ${blockCount} blocks, ${expected} bytes in all, over the limit of ${maxBytes} bytes`);
  const recordBytes = data.length - GO_SYNC_HEADER_SIZE;
  if (recordBytes % GO_SYNC_RECORD_SIZE !== 0)
    throw corrupt(`its last record is partial (${recordBytes % GO_SYNC_RECORD_SIZE} of ${GO_SYNC_RECORD_SIZE} bytes)`);
  if (data.length !== expected) {
    throw corrupt(
      `it has ${recordBytes / GO_SYNC_RECORD_SIZE} block records but a ${fileSize}-byte file in ${blockSize}-byte blocks has ${blockCount}`,
    );
  }
  const weak = new Uint32Array(blockCount);
  const md5 = new Uint8Array(blockCount * 16);
  for (let i = 0, p = GO_SYNC_HEADER_SIZE; i < blockCount; i++, p += GO_SYNC_RECORD_SIZE) weak[i] = swapHalves(buf.readUInt32LE(p));
  gatherFields(data, GO_SYNC_HEADER_SIZE + 4, GO_SYNC_RECORD_SIZE, 16, blockCount, md5);
  return { version, fileSize, blockSize, blockCount, weak, md5 };
}

/**
 * Writes the go-sync index of `data` exactly as go-sync's `gosync build` does (blocks
 * hashed unpadded, version 0.2.1). In memory: for tests, tooling and fixtures.
 *
 * @example
 * ```ts
 * await writeFile('app.gosync', encodeGoSyncV0Index(await readFile('app.bin'), 8192));
 * ```
 */
export function encodeGoSyncV0Index(
  data: Uint8Array,
  blockSize: number,
  version: readonly [number, number, number] = GO_SYNC_WRITTEN_VERSION,
): Uint8Array {
  if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > 0xffffffff)
    throw new RangeError(`Cannot encode a go-sync index: block size ${blockSize} is not a positive uint32`);
  const blockCount = blockCountOf(data.length, blockSize);
  const out = Buffer.alloc(GO_SYNC_HEADER_SIZE + blockCount * GO_SYNC_RECORD_SIZE);
  out.set(GO_SYNC_MAGIC, 0);
  for (const [k, v] of version.entries()) out.writeUInt16LE(v, 6 + 2 * k);
  out.writeBigInt64LE(BigInt(data.length), 12);
  out.writeUInt32LE(blockSize, 20);
  for (let i = 0, p = GO_SYNC_HEADER_SIZE; i < blockCount; i++, p += GO_SYNC_RECORD_SIZE) {
    const block = data.subarray(i * blockSize, Math.min(data.length, (i + 1) * blockSize));
    out.writeUInt32LE(swapHalves(weakChecksum(block)), p);
    out.set(oneShotHash('md5', block, 'buffer') as unknown as Uint8Array, p + 4);
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/**
 * Maps a go-sync index onto a {@link BlockIndex} as it stands, with no outside help:
 * MD5 (all 16 bytes) as the strong hash, the last block's weak checksum moved to padded
 * form (`b' = b + (B − m)·a`, exact), its MD5 kept over its real bytes
 * (`paddedLastBlock: false`), and no whole-file digest (`NO_FILE_DIGEST`): the patcher
 * then checks every block of the result, local ones included, against its MD5, and the
 * exact length. That is what `gosync patch` uses for a go-sync index.
 */
export function goSyncV0AsBlockIndex(g: GoSyncV0Index, url?: string): BlockIndex {
  const { blockSize, blockCount, fileSize } = g;
  const weak = g.weak.slice();
  const last = blockCount - 1;
  const m = fileSize - last * blockSize;
  if (blockCount > 0 && m < blockSize) {
    const a = weak[last]! >>> 16;
    const b = weak[last]! & 0xffff;
    weak[last] = ((a << 16) | ((b + (blockSize - m) * a) & 0xffff)) >>> 0;
  }
  return {
    fileSize,
    blockSize,
    blockCount,
    seqMatches: 1,
    weakBytes: 4,
    strongBytes: 16,
    strongHash: md5,
    weak,
    strong: g.md5.slice(),
    fileDigest: { algorithm: NO_FILE_DIGEST, digest: new Uint8Array(0) },
    paddedLastBlock: false,
    ...(url ? { url } : {}),
  };
}

/** Options of {@link goSyncV0ToBlockIndex}. */
export interface GoSyncV0ToBlockIndexOptions {
  /**
   * The reference's whole-file digest, from a source you trust (a published SHA-256, a
   * checksum list). Required: go-sync records none, and gosync never accepts a result it
   * cannot check as a whole.
   */
  fileDigest: FileDigest;
  /** The reference's last block (its last `size mod blockSize` bytes), when that block is short. */
  lastBlock?: Uint8Array;
  /** Where to read the short last block from when `lastBlock` is not given (one small range). */
  source?: BlockSource;
  /** The reference URL to record in the index. */
  url?: string;
  signal?: AbortSignal;
}

const md5: ReturnType<typeof nodeHash> = nodeHash('md5', 16);

/**
 * Maps a go-sync index onto a {@link BlockIndex} the matcher and patcher use: MD5 as the
 * strong hash (all 16 bytes), 4-byte weak checksums, one block per match.
 *
 * Two gaps of go-sync's format are closed here, never papered over:
 * - **No whole-file hash.** `fileDigest` must be given; the patched result is checked
 *   against it like any other.
 * - **Unpadded last block.** When the file's length is not a multiple of the block size,
 *   go-sync's MD5 of the last block cannot be turned into the zero-padded one gosync
 *   checks. The block's bytes are taken from `lastBlock` or read from `source`, checked
 *   against go-sync's MD5 and rolling checksum (BLOCK_MISMATCH if they differ), and hashed
 *   padded.
 *
 * @example
 * ```ts
 * const g = decodeGoSyncV0Index(await readFile('app.gosync'));
 * const source = new HttpSource('https://example.com/app.bin');
 * const index = await goSyncV0ToBlockIndex(g, { fileDigest: { algorithm: 'sha256', digest: publishedSha256 }, source });
 * await patchFile({ local: 'app.bin', index, source });
 * ```
 */
export async function goSyncV0ToBlockIndex(g: GoSyncV0Index, options: GoSyncV0ToBlockIndexOptions): Promise<BlockIndex> {
  const { fileDigest } = options;
  if (!fileDigest || typeof fileDigest.algorithm !== 'string' || !(fileDigest.digest instanceof Uint8Array)) {
    throw new TypeError(
      'Cannot use a go-sync index without options.fileDigest: go-sync records no whole-file hash, and gosync does not accept a result it cannot verify',
    );
  }
  let digestLength: number;
  try {
    digestLength = createHash(fileDigest.algorithm).digest().length;
  } catch {
    throw new RangeError(`Cannot use a go-sync index: "${fileDigest.algorithm}" is not a hash algorithm Node.js knows`);
  }
  if (fileDigest.digest.length !== digestLength) {
    throw new RangeError(
      `Cannot use a go-sync index: a ${fileDigest.algorithm} digest is ${digestLength} bytes, not ${fileDigest.digest.length}`,
    );
  }
  const { blockSize, blockCount, fileSize } = g;
  const weak = g.weak.slice();
  const strong = g.md5.slice();
  const last = blockCount - 1;
  const lastLength = fileSize - last * blockSize;
  if (blockCount > 0 && lastLength < blockSize) {
    const start = fileSize - lastLength;
    let bytes = options.lastBlock;
    if (bytes === undefined) {
      if (!options.source)
        throw new TypeError(
          'Cannot use this go-sync index without options.lastBlock or options.source: its last block is short and go-sync hashed it unpadded',
        );
      bytes = await readRange(options.source, start, fileSize, options.signal);
    }
    const expected = g.md5.subarray(last * 16, last * 16 + 16);
    const got = oneShotHash('md5', bytes, 'buffer') as unknown as Uint8Array;
    if (bytes.length !== lastLength || !bytesEqual(got, 0, expected, 0, 16)) {
      throw new SyncError(
        ErrorCodes.BLOCK_MISMATCH,
        `Cannot use the last block of the reference (bytes ${start}..${fileSize}): it does not match the go-sync index's MD5`,
        { blockIndex: last, offset: start },
      );
    }
    if (weakChecksum(bytes) !== g.weak[last])
      throw corrupt('the rolling checksum of the last block does not match its MD5 (the index is inconsistent)');
    const padded = new Uint8Array(blockSize);
    padded.set(bytes);
    weak[last] = weakChecksum(padded);
    md5.hashInto(padded, 0, blockSize, strong, last * 16, 16);
  }
  return {
    fileSize,
    blockSize,
    blockCount,
    seqMatches: 1,
    weakBytes: 4,
    strongBytes: 16,
    strongHash: md5,
    weak,
    strong,
    fileDigest: { algorithm: fileDigest.algorithm, digest: fileDigest.digest.slice() },
    ...(options.url ? { url: options.url } : {}),
  };
}

async function readRange(source: BlockSource, start: number, end: number, signal: AbortSignal | undefined): Promise<Uint8Array> {
  throwIfAborted(signal);
  const out = new Uint8Array(end - start);
  let n = 0;
  for await (const chunk of source.read([{ start, end }], signal ? { signal } : {})) {
    if (n + chunk.length > out.length)
      throw new SyncError(
        ErrorCodes.HTTP_RESPONSE,
        `Cannot read the last block from ${source.name}: the source sent more bytes than asked for`,
      );
    out.set(chunk, n);
    n += chunk.length;
  }
  if (n !== out.length)
    throw new SyncError(
      ErrorCodes.HTTP_RESPONSE,
      `Cannot read the last block from ${source.name}: the source sent ${n} of ${out.length} bytes`,
    );
  return out;
}
