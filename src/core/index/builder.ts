/**
 * Streaming index builder: push the reference's bytes in any chunking, get the encoded
 * gosync index out piece by piece (header, records as blocks complete, trailer).
 * Nothing but one block of carry-over is buffered.
 *
 * @module
 */
import { crc32 } from 'node:zlib';
import { ErrorCodes, SyncError, throwIfAborted } from '../errors.js';
import { sha256 } from '../hashing/strong-hash.js';
import { FULL_HASH_BYTES, writeBlockRecords } from './block-records.js';
import {
  VERSION,
  VERSION_DIGEST,
  VERSION_SUMMARY,
  VERSION_SUMMARY_DIGEST,
  encodeExtension,
  encodeHeader,
  encodeSummaryTrailer,
  encodeTrailer,
  hasBlockDigest,
  layoutOf,
  type IndexHeader,
} from './format.js';
import { encodePublished, type PublishedForms } from './published.js';
import { defaultBlockSize, defaultHashLengths, type HashLengths } from './params.js';

/** Options of {@link IndexBuilder}. */
export interface IndexBuilderOptions {
  /** Exact length of the reference; `end()` fails if a different amount was pushed. */
  fileSize: number;
  /** Block size (a power of two); default {@link defaultBlockSize}. */
  blockSize?: number;
  /** Reference URL to record in the index. */
  url?: string;
  /** Override the stored hash lengths (default {@link defaultHashLengths}). */
  hashLengths?: Partial<HashLengths>;
  /** Published forms will be passed to `end()`: write a version 6 index (forms and summary), 3 without `blockDigest`. */
  published?: boolean;
  /**
   * Record the block digest, so that clients verify their result in one pass (format
   * version 5, or 6 with `published`; default true). False writes version 1 or 3, which
   * gosync releases before the block digest also read.
   */
  blockDigest?: boolean;
}

/** Resolves builder options into the header an index will have. */
export function planIndexHeader(options: IndexBuilderOptions): IndexHeader {
  const { fileSize } = options;
  if (!Number.isSafeInteger(fileSize) || fileSize < 0)
    throw new RangeError(`Cannot build an index: file size ${fileSize} is not a non-negative safe integer`);
  const blockSize = options.blockSize ?? defaultBlockSize(fileSize);
  const lengths = { ...defaultHashLengths(fileSize, blockSize), ...options.hashLengths };
  return {
    fileSize,
    blockSize,
    ...lengths,
    ...(options.url ? { url: options.url } : {}),
    version:
      options.blockDigest === false
        ? options.published
          ? VERSION_SUMMARY
          : VERSION
        : options.published
          ? VERSION_SUMMARY_DIGEST
          : VERSION_DIGEST,
  };
}

/**
 * Builds a gosync v1 index from a stream of bytes.
 *
 * @example
 * ```ts
 * const b = new IndexBuilder({ fileSize: data.length });
 * const parts = [b.headerBytes(), b.push(data), b.end()];
 * ```
 */
export class IndexBuilder {
  /** The header this index will have. */
  readonly header: IndexHeader;
  readonly #record: number;
  readonly #carry: Uint8Array;
  #carried = 0;
  #pushed = 0;
  #crc = 0;
  #headerDone = false;
  readonly #fileHash = sha256.create();
  /** The block digest's running hash (over each block's full SHA-256), or undefined without one. */
  readonly #blockHash: ReturnType<typeof sha256.create> | undefined;
  /** Blocks given to {@link feedWholeBlocks} whose records have not come back, per call. */
  readonly #fed: number[] = [];

  constructor(options: IndexBuilderOptions) {
    this.header = planIndexHeader(options);
    this.#record = this.header.weakBytes + this.header.strongBytes;
    this.#carry = new Uint8Array(this.header.blockSize);
    this.#blockHash = hasBlockDigest(this.header.version ?? VERSION) ? sha256.create() : undefined;
  }

  /** Records of `count` blocks at `data[start]` into `out` at `o`; their full hashes into the block digest. */
  #records(data: Uint8Array, start: number, count: number, out: Uint8Array, o: number): void {
    if (this.#blockHash === undefined || count === 0) {
      writeBlockRecords(data, start, count, this.header, out, o);
      return;
    }
    const hashes = new Uint8Array(count * FULL_HASH_BYTES);
    writeBlockRecords(data, start, count, this.header, out, o, hashes, 0);
    this.#blockHash.update(hashes);
  }

  /** The encoded header. Call it first, once. */
  headerBytes(): Uint8Array {
    if (this.#headerDone) throw new Error('Cannot encode the index header: it was already taken');
    this.#headerDone = true;
    const h = encodeHeader(this.header);
    this.#crc = crc32(h, this.#crc);
    return h;
  }

  /** Pushes the next bytes of the reference; returns the records of the blocks completed. */
  push(chunk: Uint8Array): Uint8Array {
    if (!this.#headerDone) throw new Error('Cannot push data: take headerBytes() first');
    const bs = this.header.blockSize;
    if (this.#pushed + chunk.length > this.header.fileSize) {
      throw new SyncError(
        ErrorCodes.SOURCE_CHANGED,
        `Cannot build the index: the input is longer than the ${this.header.fileSize} bytes announced (it changed while being read)`,
      );
    }
    this.#pushed += chunk.length;
    this.#fileHash.update(chunk);
    let p = 0;
    const completed = Math.floor((this.#carried + chunk.length) / bs);
    const out = new Uint8Array(completed * this.#record);
    let o = 0;
    if (this.#carried > 0) {
      const take = Math.min(bs - this.#carried, chunk.length);
      this.#carry.set(chunk.subarray(0, take), this.#carried);
      this.#carried += take;
      p = take;
      if (this.#carried < bs) return out;
      this.#records(this.#carry, 0, 1, out, o);
      o += this.#record;
      this.#carried = 0;
    }
    const whole = Math.floor((chunk.length - p) / bs);
    this.#records(chunk, p, whole, out, o);
    p += whole * bs;
    if (p < chunk.length) {
      this.#carry.set(chunk.subarray(p), 0);
      this.#carried = chunk.length - p;
    }
    this.#crc = crc32(out, this.#crc);
    return out;
  }

  /**
   * For builders that hash blocks elsewhere (worker threads): accounts for `chunk`, whose
   * length is a multiple of the block size, in the whole-file hash and the length. Its
   * records must then be handed to {@link IndexBuilder.takeRecords}, in order, before
   * any other push. For an index with a block digest, each block's full SHA-256 (32 bytes)
   * must follow the records in the same array, as {@link runRecords} returns them.
   */
  feedWholeBlocks(chunk: Uint8Array): void {
    if (!this.#headerDone) throw new Error('Cannot push data: take headerBytes() first');
    if (this.#carried !== 0 || chunk.length % this.header.blockSize !== 0) {
      throw new RangeError('Cannot feed whole blocks: the data does not start and end on block boundaries');
    }
    if (this.#pushed + chunk.length > this.header.fileSize) {
      throw new SyncError(
        ErrorCodes.SOURCE_CHANGED,
        `Cannot build the index: the input is longer than the ${this.header.fileSize} bytes announced (it changed while being read)`,
      );
    }
    this.#pushed += chunk.length;
    this.#fileHash.update(chunk);
    this.#fed.push(chunk.length / this.header.blockSize);
  }

  /**
   * Records computed elsewhere for data given to {@link IndexBuilder.feedWholeBlocks}, in
   * the order it was given; returns the records to write (without the full hashes).
   */
  takeRecords(records: Uint8Array): Uint8Array {
    const count = this.#fed.shift();
    if (count === undefined) throw new RangeError('Cannot take records: no blocks were fed for them');
    const size = count * this.#record;
    if (this.#blockHash !== undefined) {
      if (records.length !== count * (this.#record + FULL_HASH_BYTES))
        throw new RangeError('Cannot take records: the full block hashes the block digest needs are missing');
      this.#blockHash.update(records.subarray(size));
    } else if (records.length !== size && records.length !== count * (this.#record + FULL_HASH_BYTES)) {
      throw new RangeError(`Cannot take records: ${records.length} bytes for ${count} blocks`);
    }
    const own = records.subarray(0, size);
    this.#crc = crc32(own, this.#crc);
    return own;
  }

  /**
   * Finishes: the last (zero-padded) block's record, the published forms (for a builder
   * made with `published: true`) and the trailer.
   */
  end(published?: PublishedForms): Uint8Array {
    if (!this.#headerDone) throw new Error('Cannot end the index: take headerBytes() first');
    if (this.#pushed !== this.header.fileSize) {
      throw new SyncError(
        ErrorCodes.SOURCE_CHANGED,
        `Cannot build the index: read ${this.#pushed} bytes but the input was announced as ${this.header.fileSize} (it changed while being read)`,
      );
    }
    let last = new Uint8Array(0);
    if (this.#carried > 0) {
      this.#carry.fill(0, this.#carried);
      last = new Uint8Array(this.#record);
      this.#records(this.#carry, 0, 1, last, 0);
      this.#crc = crc32(last, this.#crc);
      this.#carried = 0;
    }
    if (this.#fed.length > 0) throw new Error('Cannot end the index: records of fed blocks were not taken');
    const blockDigest = this.#blockHash?.digest() ?? new Uint8Array(0);
    this.#crc = crc32(blockDigest, this.#crc);
    if ((published !== undefined) !== (layoutOf(this.header.version ?? VERSION) === VERSION_SUMMARY)) {
      throw new Error('Cannot end the index: published forms go with a builder made with `published: true`, and only with one');
    }
    const ext = published
      ? encodeExtension(encodePublished(published, Math.ceil(this.header.fileSize / this.header.blockSize)))
      : new Uint8Array(0);
    this.#crc = crc32(ext, this.#crc);
    const digest = this.#fileHash.digest();
    const trailer = published
      ? encodeSummaryTrailer(
          this.header.fileSize,
          digest,
          (published.bases ?? []).map((b) => b.baseSha256),
          this.#crc,
        )
      : encodeTrailer(digest, this.#crc);
    return new Uint8Array(Buffer.concat([last, blockDigest, ext, trailer]));
  }
}

/**
 * Builds a whole index in memory from bytes or an async iterable of chunks.
 *
 * @example
 * ```ts
 * const bytes = await buildIndex(createReadStream('v2.bin'), { fileSize: (await stat('v2.bin')).size });
 * ```
 */
export async function buildIndex(
  input: Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: IndexBuilderOptions & { signal?: AbortSignal },
): Promise<Uint8Array> {
  const b = new IndexBuilder(options);
  const parts: Uint8Array[] = [b.headerBytes()];
  if (input instanceof Uint8Array) parts.push(b.push(input));
  else {
    for await (const chunk of input) {
      throwIfAborted(options.signal);
      parts.push(b.push(chunk));
    }
  }
  parts.push(b.end());
  return Buffer.concat(parts);
}
