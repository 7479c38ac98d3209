/**
 * The patcher core: writes the reference, in order, from local spans and fetched ranges.
 *
 * It knows no paths and no transport: local files are {@link LocalReader}s, fetched data
 * comes from a {@link BlockSource}, the result goes to an {@link OutputSink}. Every fetched
 * block is verified against its strong hash before it is written, and the whole output
 * against the index's length and whole-file digest at the end.
 *
 * @module
 */
import { ErrorCodes, SyncError, throwIfAborted } from './errors.js';
import type { BlockIndex } from './index/block-index.js';
import { NO_FILE_DIGEST, blockLength } from './index/block-index.js';
import type { PlannedRange } from './planner.js';
import type { BlockSource } from './block-source.js';
import { READ_SIZE } from './read-size.js';
import { BlockVerifier, FileVerifier, canCheckBlockDigest, checkBlockDigest } from './verify.js';

/** Random-access reads of a local file. */
export interface LocalReader {
  /** Reads up to `target.length` bytes at `position`; resolves with the count read. */
  readInto(target: Uint8Array, position: number): Promise<number>;
}

/** Where the result goes. `write` must be done with `data` when it resolves. */
export interface OutputSink {
  write(data: Uint8Array): Promise<void>;
  /**
   * Optional, for a sink that can take a whole source by itself (a local file copied in
   * the kernel by {@link BlockSource.copyTo}): before any write, makes the output the first
   * `length` bytes of `source` and resolves with a reader of what it then holds, which the
   * patcher reads back to verify; undefined when it cannot (nothing was written).
   */
  copyWhole?(source: BlockSource, length: number): Promise<CopiedOutput | undefined>;
}

/** The output after {@link OutputSink.copyWhole}: read back to be verified. */
export interface CopiedOutput extends LocalReader {
  /** Empties the output again (it failed its check and is written the ordinary way). */
  reset(): Promise<void>;
  /** Releases the reader; the output stays. */
  close(): Promise<void>;
}

/** Progress of a patch, reported as it goes. */
export interface PatchProgress {
  phase: 'scan' | 'fetch';
  /** Bytes done in this phase. */
  done: number;
  /** Bytes in this phase. */
  total: number;
}

/** What the patcher needs. */
export interface AssembleOptions {
  index: BlockIndex;
  /** Local file id per block (-1 = fetch), as left by the matcher. */
  foundSource: Int32Array;
  /** Offset in that local file per block. */
  foundOffset: Float64Array;
  /** Readers by local file id. */
  locals: readonly LocalReader[];
  /** Ranges to fetch; they must cover every block whose `foundSource` is -1. */
  ranges: readonly PlannedRange[];
  source: BlockSource;
  sink: OutputSink;
  /**
   * The full strong hash (32 bytes) of every local block as the scan computed it
   * (`BlockMatcher.fullHashes`): with an index that has a block digest, the result is then
   * checked by that digest (the fetched blocks' hashes are computed as they are verified)
   * instead of by hashing the whole output again. Give it only when the local files still
   * hold what the scan read (the caller checks they did not change, and re-checks the result
   * by its SHA-256 otherwise).
   */
  localHashes?: Uint8Array;
  signal?: AbortSignal;
  /** Called as bytes are written. */
  onProgress?: (p: PatchProgress) => void;
}

/** What was written. */
export interface AssembleResult {
  /** Bytes copied from local files. */
  reusedBytes: number;
  /** Bytes taken from the source. */
  fetchedBytes: number;
}

/**
 * Output is written in 4 MiB pieces, double-buffered: one piece is written while the next
 * fills, so reading the local file, hashing and writing overlap. (On the benchmark VM this
 * changed little: a 256 MiB identical-file patch stayed at about 1.2 s, most of it the
 * file system allocating the new file — a plain Node loop writing 256 MiB to a new file
 * takes 0.84 s there, 0.19 s when rewriting one.) Local spans are read in pieces of
 * {@link READ_SIZE}.
 */
const WRITE_BUFFER = 4 * 1024 * 1024;

/** The piece of a copied output read back at a time (see checkCopied). */
const READ_BACK = 1024 * 1024;

/**
 * Reads of one fetched block before giving up on it: data damaged on the way (a middlebox,
 * a cache, a flipped bit) fails the block's strong hash, and the source is asked again from
 * that block on. Every re-read of a patch counts against {@link MAX_REREADS}.
 */
const MAX_BLOCK_READS = 3;
/** Re-reads of damaged data in one patch, over all its blocks. */
const MAX_REREADS = 16;

/** Pulls exact byte counts out of a chunk stream. */
class ChunkReader {
  readonly #it: AsyncIterator<Uint8Array>;
  #chunk: Uint8Array = new Uint8Array(0);
  #pos = 0;
  readonly #scratch: Uint8Array;

  constructor(it: AsyncIterator<Uint8Array>, maxTake: number) {
    this.#it = it;
    this.#scratch = new Uint8Array(maxTake);
  }

  /** The next `n` bytes (n ≤ maxTake): a view of the current chunk, or the scratch copy. */
  async take(n: number): Promise<Uint8Array> {
    if (this.#chunk.length - this.#pos >= n) {
      const v = this.#chunk.subarray(this.#pos, this.#pos + n);
      this.#pos += n;
      return v;
    }
    let filled = 0;
    while (filled < n) {
      if (this.#pos === this.#chunk.length) {
        const r = await this.#it.next();
        if (r.done)
          throw new SyncError(ErrorCodes.HTTP_RESPONSE, 'Cannot read fetched data: the source ended before delivering every range');
        this.#chunk = r.value;
        this.#pos = 0;
        continue;
      }
      const k = Math.min(n - filled, this.#chunk.length - this.#pos);
      this.#scratch.set(this.#chunk.subarray(this.#pos, this.#pos + k), filled);
      this.#pos += k;
      filled += k;
    }
    return this.#scratch.subarray(0, n);
  }

  /** Checks that the source yielded nothing beyond the ranges. */
  async finish(): Promise<void> {
    if (this.#pos < this.#chunk.length)
      throw new SyncError(ErrorCodes.HTTP_RESPONSE, 'Cannot read fetched data: the source sent more bytes than asked for');
    const r = await this.#it.next();
    if (!r.done && r.value.length > 0)
      throw new SyncError(ErrorCodes.HTTP_RESPONSE, 'Cannot read fetched data: the source sent more bytes than asked for');
  }

  async cancel(): Promise<void> {
    await this.#it.return?.();
  }
}

/**
 * Writes the reference to `sink`. A fetched block that fails its hash is read again from
 * the source (up to 3 reads per block, 16 re-reads per patch); BLOCK_MISMATCH when it stays
 * wrong, FILE_MISMATCH when the result does not match the index; the caller discards the
 * output in both cases.
 */
export async function assemble(options: AssembleOptions): Promise<AssembleResult> {
  throwIfAborted(options.signal);
  const { index, ranges, sink, source } = options;
  // Everything is fetched, from a source the sink can copy by itself: the copy, then a
  // read back to verify it. The unrelated 256 MiB file from a local reference (bench
  // `unrelated`): writing 256 MiB from this process took 0.5-0.8 s of system time on the
  // benchmark VM, the kernel copy 0.18-0.21 s wall (0.11 s CPU) and the read back 0.05 s.
  const r0 = ranges[0];
  if (
    sink.copyWhole &&
    ranges.length === 1 &&
    r0!.start === 0 &&
    r0!.end === index.fileSize &&
    r0!.firstBlock === 0 &&
    r0!.blockCount === index.blockCount
  ) {
    const copied = await sink.copyWhole(source, index.fileSize);
    if (copied !== undefined) {
      let ok = false;
      try {
        ok = await checkCopied(options, copied);
        if (!ok) await copied.reset();
      } finally {
        await copied.close();
      }
      if (ok) return { reusedBytes: 0, fetchedBytes: index.fileSize };
    }
  }
  return assembleStreamed(options);
}

/**
 * Verifies an output that the sink copied whole from the source: every block against its
 * strong hash (read back in pieces, the next piece read while this one is hashed), then
 * the whole result as {@link assembleStreamed} does. False when a block does not match
 * (then the output is written the ordinary way, whose re-reads say whether the source is
 * damaged); FILE_MISMATCH when the blocks match but the whole does not.
 */
async function checkCopied(options: AssembleOptions, copied: CopiedOutput): Promise<boolean> {
  const { index, signal, onProgress } = options;
  const bs = index.blockSize;
  const verifier = new BlockVerifier(index);
  const hashes =
    options.index.fileDigest.algorithm !== NO_FILE_DIGEST && canCheckBlockDigest(index) ? new Uint8Array(index.blockCount * 32) : undefined;
  const whole = resultVerifier(index, hashes);
  // Read back in 1 MiB pieces: reads of 1 MiB from the page cache cost no more per byte
  // than 4 MiB ones, and two 4 MiB buffers added 6 MiB to the peak RSS.
  const piece = Math.max(bs, Math.floor(READ_BACK / bs) * bs);
  let cur = new Uint8Array(piece);
  let next = new Uint8Array(piece);
  const size = index.fileSize;
  const readAt = async (buf: Uint8Array, pos: number) => {
    const view = buf.subarray(0, Math.min(piece, size - pos));
    await readFully(copied, view, pos);
    return view;
  };
  let ahead: Promise<Uint8Array> | undefined = readAt(cur, 0);
  try {
    for (let pos = 0; pos < size; ) {
      throwIfAborted(signal);
      const view: Uint8Array = await ahead!;
      const end: number = pos + view.length;
      ahead = end < size ? readAt(next, end) : undefined;
      ahead?.catch(() => {});
      for (let off = 0, j = pos / bs; off < view.length; off += bs, j++) {
        try {
          verifier.verify(j, view, off, hashes, j * 32);
        } catch (err) {
          if (SyncError.is(err) && err.code === ErrorCodes.BLOCK_MISMATCH) return false;
          throw err;
        }
      }
      whole.update(view);
      onProgress?.({ phase: 'fetch', done: end, total: size });
      [cur, next] = [next, cur];
      pos = end;
    }
  } finally {
    await ahead?.catch(() => {});
  }
  // Nothing past the reference's length.
  if ((await copied.readInto(next.subarray(0, 1), size)) !== 0) return false;
  whole.finish();
  if (hashes !== undefined) checkBlockDigest(index, hashes);
  return true;
}

/** {@link assemble} through the sink's writes. */
async function assembleStreamed(options: AssembleOptions): Promise<AssembleResult> {
  const { index, foundSource, foundOffset, locals, ranges, source, sink, signal, onProgress } = options;
  const bs = index.blockSize;
  const n = index.blockCount;
  const verifier = new BlockVerifier(index);
  const verifyLocal = index.fileDigest.algorithm === NO_FILE_DIGEST;
  const hashes = verifyLocal ? undefined : oneShotHashes(index, options.localHashes);
  const whole = resultVerifier(index, hashes);
  // Two output buffers: `out` fills while the other one's write is in flight.
  let out = new Uint8Array(Math.max(WRITE_BUFFER, bs));
  let spare = new Uint8Array(out.length);
  let pending: Promise<void> | undefined;
  let outLen = 0;
  let written = 0;
  const result: AssembleResult = { reusedBytes: 0, fetchedBytes: 0 };

  const flush = async () => {
    if (outLen === 0) return;
    const view = out.subarray(0, outLen);
    whole.update(view);
    await pending; // the other buffer is free again once its write is done
    const bytes = outLen;
    pending = sink.write(view).then(() => {
      written += bytes;
      onProgress?.({ phase: 'fetch', done: written, total: index.fileSize });
    });
    // Keep a failed write from being an unhandled rejection until it is awaited.
    pending.catch(() => {});
    [out, spare] = [spare, out];
    outLen = 0;
  };
  const put = async (data: Uint8Array) => {
    for (let p = 0; p < data.length; ) {
      if (outLen === out.length) await flush();
      const k = Math.min(data.length - p, out.length - outLen);
      out.set(data.subarray(p, p + k), outLen);
      outLen += k;
      p += k;
    }
  };

  const stream = ranges.length > 0 ? source.read(ranges, { signal }) : emptyStream();
  let reader = new ChunkReader(stream[Symbol.asyncIterator](), bs);
  let rereads = 0;
  /**
   * The bytes of fetched block `j` (in range `r`), verified. Damaged data (the block's hash
   * does not match, or a compressed form that does not decompress) is read again through the
   * source from that block on, a bounded number of times; the transport is the source's
   * business, so this works for any BlockSource.
   */
  const takeVerified = async (j: number, r: number): Promise<Uint8Array> => {
    const len = blockLength(index, j);
    for (let reads = 1; ; reads++) {
      try {
        const data = await reader.take(len);
        verifier.verify(j, data, 0, hashes, j * 32);
        return data;
      } catch (err) {
        const damaged = SyncError.is(err) && (err.code === ErrorCodes.BLOCK_MISMATCH || err.code === ErrorCodes.FRAME_CORRUPT);
        if (!damaged || reads >= MAX_BLOCK_READS || ++rereads > MAX_REREADS) throw err;
        throwIfAborted(signal);
        await reader.cancel().catch(() => {});
        const rest = [{ start: j * bs, end: ranges[r]!.end }, ...ranges.slice(r + 1).map(({ start, end }) => ({ start, end }))];
        reader = new ChunkReader(source.read(rest, { signal })[Symbol.asyncIterator](), bs);
      }
    }
  };
  // Local spans are read straight into the output buffer (no copy through a buffer of
  // their own); only the block-by-block check of an index without a whole-file digest
  // reads them apart, into this one.
  let localBuf: Uint8Array | undefined;
  const putLocal = async (local: LocalReader, position: number, length: number) => {
    for (let done = 0; done < length; ) {
      if (outLen === out.length) await flush();
      const want = Math.min(length - done, out.length - outLen);
      await readFully(local, out.subarray(outLen, outLen + want), position + done);
      outLen += want;
      done += want;
    }
  };
  try {
    let r = 0;
    for (let i = 0; i < n; ) {
      throwIfAborted(signal);
      const range = ranges[r];
      if (range && range.firstBlock === i) {
        for (let j = i; j < i + range.blockCount; j++) {
          const data = await takeVerified(j, r);
          await put(data);
          result.fetchedBytes += data.length;
        }
        i += range.blockCount;
        r++;
        continue;
      }
      // A run of local blocks, contiguous in one local file, up to the next range.
      const src = foundSource[i]!;
      if (src < 0 || src >= locals.length) {
        throw new RangeError(`Cannot assemble: block ${i} is neither found locally nor covered by a planned range`);
      }
      const stop = range ? range.firstBlock : n;
      let j = i + 1;
      while (j < stop && foundSource[j] === src && foundOffset[j] === foundOffset[i]! + (j - i) * bs) j++;
      const bytes = (j - i - 1) * bs + blockLength(index, j - 1);
      if (verifyLocal) {
        // No whole-file digest: every local block is checked against its strong hash.
        for (let k = i; k < j; k++) {
          const len = blockLength(index, k);
          localBuf ??= new Uint8Array(Math.max(READ_SIZE, bs));
          await copyLocal(locals[src]!, foundOffset[i]! + (k - i) * bs, len, localBuf, async (d) => {
            verifier.verify(k, d, 0);
            await put(d);
          });
        }
      } else {
        await putLocal(locals[src]!, foundOffset[i]!, bytes);
      }
      result.reusedBytes += bytes;
      i = j;
    }
    await reader.finish();
    await flush();
    await pending;
  } catch (err) {
    await reader.cancel().catch(() => {});
    await pending?.catch(() => {});
    throw err;
  }
  whole.finish();
  if (hashes !== undefined) checkBlockDigest(index, hashes);
  return result;
}

async function* emptyStream(): AsyncGenerator<Uint8Array> {}

/**
 * The check of the whole result: its length and whole-file digest, or its length only when
 * the blocks' `hashes` are checked against the block digest instead (one pass).
 */
function resultVerifier(index: BlockIndex, hashes: Uint8Array | undefined): FileVerifier {
  return new FileVerifier(
    hashes === undefined ? index : { fileSize: index.fileSize, fileDigest: { algorithm: NO_FILE_DIGEST, digest: new Uint8Array(0) } },
  );
}

/**
 * One pass: the hashes the block digest is checked over, the local blocks' from the scan
 * (the fetched ones' are computed as they are verified); undefined when the index has no
 * block digest or the scan gave no hashes (then the output is hashed as it is written).
 */
function oneShotHashes(index: BlockIndex, localHashes: Uint8Array | undefined): Uint8Array | undefined {
  if (localHashes === undefined || localHashes.length !== index.blockCount * 32 || !canCheckBlockDigest(index)) return undefined;
  return Uint8Array.from(localHashes);
}

/** Fills `view` from `local` at `position`; SOURCE_CHANGED when the file ends first. */
async function readFully(local: LocalReader, view: Uint8Array, position: number): Promise<void> {
  for (let got = 0; got < view.length; ) {
    const k = await local.readInto(view.subarray(got), position + got);
    if (k === 0) {
      throw new SyncError(
        ErrorCodes.SOURCE_CHANGED,
        `Cannot copy from the local file at ${position + got}: it ended early (it changed during the patch)`,
        { offset: position + got },
      );
    }
    got += k;
  }
}

async function copyLocal(
  local: LocalReader,
  position: number,
  length: number,
  buf: Uint8Array,
  put: (d: Uint8Array) => Promise<void>,
): Promise<void> {
  for (let done = 0; done < length; ) {
    const want = Math.min(buf.length, length - done);
    const view = buf.subarray(0, want);
    await readFully(local, view, position + done);
    await put(view);
    done += want;
  }
}
