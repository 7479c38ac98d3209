/**
 * Building the index of a file on disk, streaming: the file is read once, in large
 * sequential pieces, and the index is written as it is computed. Large files are hashed
 * on worker threads: the main thread reads each piece and feeds the whole-file SHA-256,
 * then moves the piece to a worker, which hashes its blocks and moves it back.
 *
 * @module
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { ErrorCodes, SyncError, ioError, throwIfAborted } from '../core/errors.js';
import { IndexBuilder, type IndexBuilderOptions } from '../core/index/builder.js';
import type { PublishedForms } from '../core/index/published.js';
import { READ_SIZE } from '../core/read-size.js';
import { writeFrames, writeWhole } from '../forms/compressed-forms.js';
import { writeBaseDelta } from '../forms/base-delta.js';
import { AtomicFile } from '../localfs/atomic-file.js';
import { PARALLEL_MIN_SIZE, WorkerPool, defaultThreads } from '../workers/worker-pool.js';
import type { RecordsResult, RecordsTask } from '../workers/tasks.js';

/** Options of {@link buildIndexFile}. */
export interface BuildFileOptions extends Omit<IndexBuilderOptions, 'fileSize'> {
  signal?: AbortSignal;
  /** Called with bytes hashed so far and the file size. */
  onProgress?: (done: number, total: number) => void;
  /** Worker threads for hashing (default: every core; 1 hashes on the calling thread). */
  threads?: number;
  /**
   * Also publish compressed forms (index format version 2): `<index>z`, the reference in
   * independently decompressible brotli frames, and `<index>.br`, the whole reference as
   * one brotli stream.
   */
  compress?: CompressOptions;
}

/** How the compressed forms are made. */
export interface CompressOptions {
  /** Brotli quality of the frames, 0–11 (default 9 up to 64 MiB, else 5). */
  level?: number;
  /** Brotli quality of the whole-file stream and deltas (default 11 up to 32 MiB, else `level`). */
  wholeLevel?: number;
  /** Uncompressed bytes per frame, rounded to whole blocks (default 1 MiB). */
  frameBytes?: number;
  /** Write the whole-file stream too (default true). */
  whole?: boolean;
  /**
   * Earlier versions of the file: for each, a compressed delta that rebuilds the new
   * file from it (`<index>d-<SHA-256 prefix of the base>`), for clients that have it.
   */
  bases?: readonly string[];
}

/** What was built. */
export interface BuildReport {
  /** Path of the index written. */
  index: string;
  fileSize: number;
  blockSize: number;
  blockCount: number;
  /** Size of the index in bytes. */
  indexBytes: number;
  /** Paths and sizes of the compressed forms written, when asked for. */
  frames?: { path: string; bytes: number; count: number; frameBytes: number; level: number };
  whole?: { path: string; bytes: number; level: number };
  bases?: { path: string; bytes: number; baseSize: number }[];
  seconds: number;
}

/** Default uncompressed bytes per frame. */
const DEFAULT_FRAME_BYTES = 1024 * 1024;
/** Up to this size the whole-file stream gets brotli's best (and slowest) quality. */
const BEST_WHOLE_MAX = 32 * 1024 * 1024;
/**
 * Above this size frames get quality 5: on this project's corpus quality 9 ran at
 * 6–19 MB/s per core and quality 5 at 33–78 MB/s, for 1–4% larger frames; a 107 MB
 * binary took 105 s to publish at 9. Large files are where base deltas matter more.
 */
const FAST_FRAMES_MIN = 64 * 1024 * 1024;

/**
 * Writes the gosync index of `input` to `output` (atomically).
 *
 * @example
 * ```ts
 * await buildIndexFile('dist/app.bin', 'dist/app.bin.gosync', { url: 'https://cdn.example.com/app.bin' });
 * ```
 */
export async function buildIndexFile(input: string, output: string, options: BuildFileOptions = {}): Promise<BuildReport> {
  const started = performance.now();
  const { signal, onProgress, threads = defaultThreads(), compress, ...builderOptions } = options;
  throwIfAborted(signal);
  const fileSize = await regularFileSize(input, 'index');
  const builder = new IndexBuilder({ ...builderOptions, fileSize, published: compress !== undefined });
  const { header } = builder;
  // Bad options and missing bases fail here, before anything is written.
  const formsPlan = compress ? await planCompressedForms(compress, fileSize, header.blockSize) : undefined;
  let fh: FileHandle;
  try {
    fh = await open(input, 'r');
  } catch (cause) {
    throw ioError('open', input, cause);
  }
  // The first failure (of the hashing or of a compressed form) stops the rest, and is what
  // the build rejects with once everything has stopped and its temporary files are gone.
  const stop = new AbortController();
  const stopSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  let failure: { error: unknown } | undefined;
  const fail = (error: unknown) => {
    failure ??= { error };
    stop.abort(error);
  };
  let out: AtomicFile | undefined;
  let forms: ReturnType<typeof writeCompressedForms> | undefined;
  let published: Awaited<NonNullable<typeof forms>> | undefined;
  try {
    out = await AtomicFile.create(output);
    // The compressed forms are written on libuv's thread pool while the index is hashed.
    forms = formsPlan ? writeCompressedForms(input, output, formsPlan, threads, stopSignal) : undefined;
    // Handled now, so that a failure while the index is still hashed stops the hashing
    // instead of being an unhandled rejection; awaited below.
    forms?.catch(fail);
    await out.write(builder.headerBytes());
    const progress = (done: number) => onProgress?.(done, fileSize);
    const reader = { fh, path: input };
    if (threads > 1 && fileSize >= PARALLEL_MIN_SIZE) await hashParallel(reader, builder, out, threads, stopSignal, progress);
    else await hashSerial(reader, builder, out, stopSignal, progress);
    published = forms ? await forms : undefined;
    const tail = builder.end(published?.forms);
    await out.write(tail);
    await out.commit();
  } catch (err) {
    fail(err);
    await out?.abort();
    await forms?.catch(() => {});
    throw failure!.error;
  } finally {
    await fh.close();
  }
  const indexBytes = (await stat(output).catch((cause: unknown) => Promise.reject(ioError('read', output, cause)))).size;
  return {
    index: output,
    fileSize,
    blockSize: header.blockSize,
    blockCount: Math.ceil(fileSize / header.blockSize),
    indexBytes,
    ...(published?.frames ? { frames: published.frames } : {}),
    ...(published?.whole ? { whole: published.whole } : {}),
    ...(published?.bases ? { bases: published.bases } : {}),
    seconds: (performance.now() - started) / 1000,
  };
}

/** The compressed forms to write, with every option checked. */
interface FormsPlan {
  level: number;
  wholeLevel: number;
  blocksPerFrame: number;
  frameBytes: number;
  whole: boolean;
  bases: readonly string[];
  fileSize: number;
}

/**
 * Checks the compression options (RangeError for a quality outside 0..11) and that every
 * base is a readable regular file (an IO SyncError otherwise), before anything is written.
 */
async function planCompressedForms(options: CompressOptions, fileSize: number, blockSize: number): Promise<FormsPlan> {
  const level = options.level ?? (fileSize > FAST_FRAMES_MIN ? 5 : 9);
  const wholeLevel = options.wholeLevel ?? (fileSize <= BEST_WHOLE_MAX ? 11 : level);
  for (const [name, v] of [
    ['level', level],
    ['wholeLevel', wholeLevel],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 11) throw new RangeError(`Cannot compress: ${name} ${v} is not a brotli quality 0..11`);
  }
  const bases = options.bases ?? [];
  for (const base of bases) await regularFileSize(base, 'make a delta from the base');
  const blocksPerFrame = Math.max(1, Math.round((options.frameBytes ?? DEFAULT_FRAME_BYTES) / blockSize));
  return { level, wholeLevel, blocksPerFrame, frameBytes: blocksPerFrame * blockSize, whole: options.whole ?? true, bases, fileSize };
}

/**
 * Writes the frames, the whole-file stream and the base deltas; resolves with what the
 * index lists. The first of them to fail stops the others, and the promise rejects with
 * its error once all have stopped (and removed their temporary files).
 */
async function writeCompressedForms(input: string, indexPath: string, plan: FormsPlan, threads: number, signal: AbortSignal) {
  const { level, wholeLevel, blocksPerFrame, frameBytes, fileSize } = plan;
  const framesPath = `${indexPath}z`;
  const wholePath = `${indexPath}.br`;
  const stop = new AbortController();
  const jobSignal = AbortSignal.any([signal, stop.signal]);
  let failure: { error: unknown } | undefined;
  // A system error (a file gone or unreadable meanwhile) becomes an IO SyncError.
  const watched = <T>(job: Promise<T>, action: string, path: string): Promise<T> =>
    job.catch((cause: unknown) => {
      const error = cause instanceof RangeError ? cause : ioError(action, path, cause);
      failure ??= { error };
      stop.abort(error);
      throw error;
    });
  const jobs = [
    watched(
      writeFrames(input, framesPath, { frameBytes, level, concurrency: Math.max(2, threads * 2), fileSize, signal: jobSignal }),
      'compress',
      input,
    ),
    watched(
      plan.whole ? writeWhole(input, wholePath, { level: wholeLevel, fileSize, signal: jobSignal }) : Promise.resolve(undefined),
      'compress',
      input,
    ),
    // Deltas one after the other: each holds a signature of its base in memory.
    (async () => {
      const out = [];
      for (const base of plan.bases) {
        out.push(
          await watched(
            writeBaseDelta(base, input, `${indexPath}d-`, { level: wholeLevel, signal: jobSignal }),
            'make a delta from the base',
            base,
          ),
        );
      }
      return out;
    })(),
  ] as const;
  await Promise.allSettled(jobs);
  if (failure) throw failure.error;
  const [framesResult, wholeBytes, bases] = await Promise.all(jobs);
  const forms: PublishedForms = {
    frames: { codec: 'brotli', blocksPerFrame, frameSizes: framesResult.frameSizes, name: basename(framesPath) },
    ...(wholeBytes !== undefined ? { whole: { codec: 'brotli' as const, size: wholeBytes, name: basename(wholePath) } } : {}),
    ...(bases.length > 0
      ? {
          bases: bases.map((b) => ({
            baseSize: b.baseSize,
            baseSha256: b.baseSha256,
            codec: 'brotli' as const,
            size: b.size,
            name: basename(b.path),
          })),
        }
      : {}),
  };
  return {
    forms,
    frames: { path: framesPath, bytes: framesResult.bytes, count: framesResult.frameSizes.length, frameBytes, level },
    ...(wholeBytes !== undefined ? { whole: { path: wholePath, bytes: wholeBytes, level: wholeLevel } } : {}),
    ...(bases.length > 0 ? { bases: bases.map((b) => ({ path: b.path, bytes: b.size, baseSize: b.baseSize })) } : {}),
  };
}

/** The input file, open for reading, and its path for messages. */
interface Input {
  fh: FileHandle;
  path: string;
}

/** The size of `path`; an IO error ("Cannot <action> <path>: …") when it is missing or not a regular file. */
async function regularFileSize(path: string, action: string): Promise<number> {
  const st = await stat(path).catch((cause: unknown) => Promise.reject(ioError(action, path, cause)));
  if (!st.isFile()) throw ioError(action, path, 'not a regular file');
  return st.size;
}

/** One read of the input into `buf` at `position` (null: the current position). */
async function readInput(input: Input, buf: Uint8Array, offset: number, length: number, position: number | null): Promise<number> {
  try {
    return (await input.fh.read(buf, offset, length, position)).bytesRead;
  } catch (cause) {
    throw ioError('read', input.path, cause);
  }
}

async function hashSerial(
  input: Input,
  builder: IndexBuilder,
  out: AtomicFile,
  signal: AbortSignal | undefined,
  progress: (done: number) => void,
) {
  const buf = Buffer.allocUnsafeSlow(READ_SIZE);
  let done = 0;
  for (;;) {
    throwIfAborted(signal);
    const bytesRead = await readInput(input, buf, 0, buf.length, null);
    if (bytesRead === 0) break;
    await out.write(builder.push(buf.subarray(0, bytesRead)));
    done += bytesRead;
    progress(done);
  }
}

/** Reads `length` bytes (fewer only at end of file) into `buf`. */
async function readFull(input: Input, buf: Uint8Array, length: number): Promise<number> {
  let got = 0;
  while (got < length) {
    const bytesRead = await readInput(input, buf, got, length - got, null);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

async function hashParallel(
  input: Input,
  builder: IndexBuilder,
  out: AtomicFile,
  threads: number,
  signal: AbortSignal | undefined,
  progress: (done: number) => void,
) {
  const shape = builder.header;
  const bs = shape.blockSize;
  const chunkSize = Math.max(1, Math.floor(READ_SIZE / bs)) * bs;
  const pool = new WorkerPool(threads);
  // Two chunks per worker in flight: one being hashed, one queued behind it.
  const inFlight: Promise<RecordsResult>[] = [];
  const spare: ArrayBuffer[] = [];
  let done = 0;
  const drainOne = async () => {
    const r = await inFlight.shift()!;
    await out.write(builder.takeRecords(new Uint8Array(r.records)));
    spare.push(r.buffer);
  };
  try {
    for (;;) {
      throwIfAborted(signal);
      // Transferable memory must be owned outright: a fresh ArrayBuffer, never Node's pool.
      const buffer = spare.pop() ?? new ArrayBuffer(chunkSize);
      const view = new Uint8Array(buffer);
      const n = await readFull(input, view, chunkSize);
      if (n === 0) break;
      const whole = n - (n % bs);
      if (whole > 0) {
        builder.feedWholeBlocks(view.subarray(0, whole));
        const task: RecordsTask = {
          kind: 'records',
          shape: { blockSize: bs, weakBytes: shape.weakBytes, strongBytes: shape.strongBytes },
          buffer,
          length: whole,
        };
        const hashed = pool.run<RecordsResult>(task, [buffer], signal);
        // Awaited in order by drainOne; an abort may reject every task at once meanwhile.
        hashed.catch(() => {});
        inFlight.push(hashed);
      }
      done += n;
      progress(done);
      if (whole < n) {
        // The last, partial block: finish everything in order, then push it here.
        while (inFlight.length > 0) await drainOne();
        const tail = whole > 0 ? Buffer.from(await readBack(input, done - (n - whole), n - whole)) : view.subarray(0, n);
        await out.write(builder.push(tail));
        break;
      }
      while (inFlight.length >= 2 * threads) await drainOne();
    }
    while (inFlight.length > 0) await drainOne();
  } finally {
    // Settle everything before the pool goes, so no rejection is left unhandled.
    await Promise.allSettled(inFlight);
    await pool.close();
  }
}

/** Re-reads `length` bytes at `position` (the tail of a chunk whose buffer has moved). */
async function readBack(input: Input, position: number, length: number): Promise<Uint8Array> {
  const buf = Buffer.allocUnsafe(length);
  const bytesRead = await readInput(input, buf, 0, length, position);
  if (bytesRead !== length) throw new SyncError(ErrorCodes.SOURCE_CHANGED, 'Cannot build the index: the input changed while being read');
  return buf;
}
