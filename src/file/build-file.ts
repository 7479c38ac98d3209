/**
 * Building the index of a file on disk, streaming: the file is read once, in large
 * sequential pieces, and the index is written as it is computed. Large files are hashed
 * on worker threads: the main thread reads each piece and feeds the whole-file SHA-256,
 * then moves the piece to a worker, which hashes its blocks and moves it back.
 *
 * @module
 */
import { open, stat, type FileHandle } from '../util/fs-promises.js';
import { ErrorCodes, SyncError, ioError, throwIfAborted } from '../core/errors.js';
import { IndexBuilder, type IndexBuilderOptions } from '../core/index/builder.js';
import { MAX_BLOCK_SIZE, defaultBlockSize } from '../core/index/params.js';
import type { Codec, PublishedForms } from '../core/index/published.js';
import { READ_SIZE } from '../core/read-size.js';
import { CODEC_LEVELS, sampleRatio, writeFrames, writeWhole } from '../forms/compressed-forms.js';
import { writeBaseDelta } from '../forms/base-delta.js';
import type { DeltaKind } from '../forms/delta-file.js';
import { AtomicFile } from '../localfs/atomic-file.js';
import { IN_PLACE_MAX, readFileInPlace } from '../localfs/file-chunks.js';
import { PARALLEL_MIN_SIZE, WorkerPool, defaultThreads } from '../workers/worker-pool.js';
import type { RecordsResult, RecordsTask } from '../workers/tasks.js';
import { builtin } from '../util/builtin.js';

const { basename } = builtin('node:path');

/** Options of {@link buildIndexFile}. */
export interface BuildFileOptions extends Omit<IndexBuilderOptions, 'fileSize'> {
  signal?: AbortSignal;
  /** Called with bytes hashed so far and the file size. */
  onProgress?: (done: number, total: number) => void;
  /** Worker threads for hashing (default: every core; 1 hashes on the calling thread). */
  threads?: number;
  /**
   * Also publish compressed forms (index format version 2): `<index>z`, the reference in
   * independently decompressible frames, and `<index>.br`, the whole reference as one
   * brotli stream (`<index>.zst` when zstd). Without it only the index is written. The
   * CLI passes {@link PUBLISH_DEFAULTS} (zstd frames, no whole stream above 32 MiB, no
   * forms for an incompressible file) unless `--no-compress`, with `level`, `frameBytes`,
   * `whole: false` and `bases` from `--level`, `--frame-size`, `--no-whole` and `--base`.
   */
  compress?: CompressOptions;
}

/** How the compressed forms are made. */
export interface CompressOptions {
  /** Codec of the frames (default brotli; the CLI passes zstd). */
  codec?: Codec;
  /**
   * Level of the frames: a brotli quality 0–11 or a zstd level 1–22, by `codec` (default
   * brotli 9 up to 64 MiB, else 5; zstd 19 up to 16 MiB, 9 up to 64 MiB, else 5).
   */
  level?: number;
  /** Codec of the whole-file stream (default brotli). */
  wholeCodec?: Codec;
  /** Level of the whole-file stream (default brotli 11, zstd 19), and brotli quality of deltas (default 11). */
  wholeLevel?: number;
  /** Uncompressed bytes per frame, rounded to whole blocks (default 1 MiB). */
  frameBytes?: number;
  /** Write the whole-file stream too (default true, up to `wholeMaxSize`). */
  whole?: boolean;
  /** The largest file that gets a whole-file stream (default: any; the CLI passes 32 MiB). */
  wholeMaxSize?: number;
  /**
   * Write no frames and no whole stream when a sample of the file does not compress, so
   * that its build runs at hashing speed (default false; the CLI passes true).
   */
  skipIncompressible?: boolean;
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
  frames?: { path: string; bytes: number; count: number; frameBytes: number; codec: Codec; level: number };
  whole?: { path: string; bytes: number; codec: Codec; level: number };
  /** Set when compressed forms were asked for but a sample of the file did not compress: none were written. */
  incompressible?: true;
  bases?: {
    path: string;
    bytes: number;
    baseSize: number;
    /** The kind of delta kept (the smallest), and the size of every kind made. */
    kind: DeltaKind;
    sizes: Partial<Record<DeltaKind, number>>;
  }[];
  seconds: number;
}

/**
 * The compression options the CLI passes (`gosync build` file and folder, and
 * `buildTree`): zstd frames, a whole-file stream up to {@link WHOLE_MAX}, nothing for an
 * incompressible file. See the measurements at each constant below.
 */
export const PUBLISH_DEFAULTS: Readonly<CompressOptions> = Object.freeze({
  codec: 'zstd',
  wholeMaxSize: 32 * 1024 * 1024,
  skipIncompressible: true,
});

/** Default uncompressed bytes per frame. */
const DEFAULT_FRAME_BYTES = 1024 * 1024;
/**
 * Up to this size a whole-file stream is written by default, at brotli quality 11. On this
 * project's corpus brotli 11 beat zstd -19 on size on every file (jquery.js 70,528 vs
 * 74,131 B, typescript.js 1,099,606 vs 1,120,590, esbuild 3,453,228 vs 3,653,459) and
 * decodes at 37–160 MB/s, fast enough; zstd wins decoding speed only. Above this size it
 * is not written: at 0.2–1 MB/s it would dominate the build, and a client that lacks
 * everything fetches every frame as one range instead.
 */
const WHOLE_MAX = 32 * 1024 * 1024;
/**
 * The whole-file stream and the frames when deltas from earlier versions are published:
 * clients holding such a version fetch their delta, so the other forms serve only the
 * others, and they cost the build most of its time. The whole stream is zstd -19 (when no
 * codec is named: three times faster to make than brotli 11 for 0.2–6% more bytes), and it
 * is not written at all where the frames are zstd {@link BASE_FRAMES_LEVEL} or above (the
 * default up to 16 MiB): a client that lacks everything then fetches every frame as one
 * range, within 2–17% of the brotli whole stream (jquery.js 74 vs 70.5 kB; esbuild 3,868,294
 * vs 3,453,228 B; typescript.js 1,290,071 vs 1,099,606), and a client holding another
 * version mostly fetches frames anyway. Frames of 1 MiB, CPU seconds, one process on a
 * loaded 2-core machine, zstd level: size (s):
 *
 * | file | 19 | 18 | 17 | 16 | 15 |
 * |---|---:|---:|---:|---:|---:|
 * | typescript.js 5.6.2 | 1,275,667 (3.83) | 1,280,263 (3.42) | 1,290,071 (2.45) | 1,300,902 (2.06) | 1,380,674 (1.49) |
 * | esbuild 0.25.1 | 3,742,170 (4.07) | 3,744,328 (3.39) | 3,868,294 (2.62) | 3,936,536 (2.24) | 4,068,597 (1.18) |
 *
 * The whole stream of typescript.js took 12.2 s at brotli 11 and 5.8 s at zstd -19, the LZ
 * delta 1.7–2.2 s, `bsdiff` 3.0–3.4 s: with a whole stream and frames at 19 the build used
 * 6.2 s of CPU or more, and could not take under twice bsdiff's time on two cores (bench
 * case 5, "publishing with --base"). Larger files have frames of level 9 or 5, and the
 * whole stream at zstd -19 is written beside them.
 */
const BASE_WHOLE_CODEC: Codec = 'zstd';
/** The zstd frame level up to 16 MiB with bases; at it or above no whole stream is written (see above). */
const BASE_FRAMES_LEVEL = 17;
/**
 * The zstd level of a file that is a single frame (up to the frame size, 1 MiB by default),
 * published with bases. Its one frame is compressed on one core while the delta is made on
 * the other, and at level 17 it took longer than the delta: jquery.js (284 kB) compresses to
 * 74,705 B in 35 ms at 17, 75,569 in 34 ms at 16, 78,917 in 18 ms at 15, 79,106 in 16 ms at
 * 13 and 79,769 in 7 ms at 12 (`zstdCompressSync`, medians of 5, one process), against 22-25
 * ms for its LZ delta in a fresh process. `gosync build --base` of the jquery pair took 121
 * ms with frames at 17 and 107 ms at 12 (hyperfine, 30 runs; bench case 5, "publishing with
 * --base", against bsdiff's 39-42 ms). The frame is then 7% larger for clients that hold no
 * base; no whole stream is written beside it, as the frame is the whole file.
 */
const BASE_SINGLE_FRAME_LEVEL = 12;
/**
 * Frame levels by file size, zstd (1 MiB frames, one core, on a loaded 2-core machine;
 * `tmp measure script`: frames of the corpus files at each level):
 * - up to 16 MiB, level 19: typescript.js 1,275,667 B at 0.8 MB/s (brotli q9: 1,373,794 at
 *   1.7 MB/s, q5 1,460,667); esbuild 3,742,170 (brotli q5: 3,965,213). Smaller than
 *   brotli's frames and decodes 2–5× faster; a 16 MiB file takes ≈ 10 s on two cores.
 * - up to 64 MiB, level 9: typescript.js 1,447,422 B at 15 MB/s, esbuild 4,102,630 at 13 MB/s.
 * - above, level 5: bun (107 MB) 48,838,572 B at 42 MB/s per core (level 3: 50,687,914 at
 *   47 MB/s; 6: 48,184,158 at 34 MB/s; brotli q5: 46,864,575 at 8.6 MB/s). A client
 *   holding bun 1.4.4 then fetches 39,204,940 B of frames (`gosync diff --json`), under
 *   the 40,953,055 of `zstd -19` of the whole file; at level 3 it was 40,851,902, over it
 *   once the index is added. The build takes ≈ 4 CPU-seconds with the hashing: ≥ 30 MB/s
 *   on two cores.
 */
const ZSTD_FRAME_LEVELS: readonly (readonly [maxSize: number, level: number])[] = [
  [16 * 1024 * 1024, 19],
  [64 * 1024 * 1024, 9],
  [Number.POSITIVE_INFINITY, 5],
];
/** Brotli frame qualities by size, when brotli frames are asked for (the earlier defaults). */
const BROTLI_FRAME_LEVELS: readonly (readonly [maxSize: number, level: number])[] = [
  [64 * 1024 * 1024, 9],
  [Number.POSITIVE_INFINITY, 5],
];
/**
 * A file whose sample shrinks to more than this fraction with zstd -1 gets no compressed
 * forms: random data measures 1.0000 (256 MiB from /dev/urandom), the least compressible
 * corpus file (bun) 0.52, so compression would cost the build time (zstd -3 passes random
 * data at ≈ 250 MB/s per core) and the server space for nothing a client could use.
 */
const INCOMPRESSIBLE_RATIO = 0.97;
/**
 * Inputs whose sample compresses to this share or less (zstd -1) get blocks twice the
 * default size from {@link DOUBLE_BLOCKS_MIN} bytes on: their clients mostly fetch
 * compressed frames or the whole stream, where the index is pure overhead. typescript.js
 * 5.6.2 (8.9 MB, sample ratio 0.21): the index went from 26,363 to about 13 kB, and the
 * update from another version (the whole brotli stream plus the index) from 1,125,969 B,
 * over `zstd -19`'s 1,123,364 B, to below it. The binaries of the bench (esbuild 0.45,
 * bun 0.51) and jquery (284 kB) keep the default.
 */
const DOUBLE_BLOCKS_RATIO = 0.3;
const DOUBLE_BLOCKS_MIN = 4 * 1024 * 1024;

/** The block size of a published file of `fileSize` bytes whose sample compresses to `ratio`. */
function publishedBlockSize(fileSize: number, ratio: number | undefined): number {
  const base = defaultBlockSize(fileSize);
  if (ratio === undefined || ratio > DOUBLE_BLOCKS_RATIO || fileSize < DOUBLE_BLOCKS_MIN) return base;
  return Math.min(MAX_BLOCK_SIZE, base * 2);
}

/** The sample: this many pieces of {@link SAMPLE_PIECE} bytes, spread evenly over the file. */
const SAMPLE_PIECES = 16;
const SAMPLE_PIECE = 256 * 1024;
/**
 * The pieces of an input read whole (up to IN_PLACE_MAX, 1 MiB), whose sample decides only
 * whether it compresses at all (its blocks are never doubled): 16 of 4 KiB. zstd -1 of all of
 * jquery.js (284 kB) took 2.9 ms after the first call, of 64 KiB 0.8 ms (one process, medians
 * of 3); the ratios 0.339 and 0.351, random data 1.0 either way.
 */
const MEMORY_SAMPLE_PIECE = 4 * 1024;

/**
 * Writes the gosync index of `input` to `output` (atomically).
 *
 * @example
 * ```ts
 * await buildIndexFile('dist/app.bin', 'dist/app.bin.gosync', { url: 'https://cdn.example.com/app.bin' });
 * ```
 */
export async function buildIndexFile(input: string, output: string, options: BuildFileOptions = {}): Promise<BuildReport> {
  // Date.now(), not performance.now(): the `performance` global's first use loads node:perf_hooks,
  // 1.3-2.3 ms of a build that otherwise never needs it (a fresh process on the bench machine).
  const started = Date.now();
  const { signal, onProgress, threads = defaultThreads(), compress, ...builderOptions } = options;
  throwIfAborted(signal);
  const fileSize = await regularFileSize(input, 'index');
  // A small input is read once, here; its sample, frames, deltas and hashes come from memory.
  const data = fileSize <= IN_PLACE_MAX ? readWhole(input, fileSize) : undefined;
  // Bad options and missing bases fail here, before anything is written.
  // The sample that decides whether the input compresses also sizes its blocks.
  const ratio =
    compress?.skipIncompressible === true
      ? data
        ? sampleRatio(memorySample(data))
        : await sampledRatio(input, fileSize, signal)
      : undefined;
  const blockSize = builderOptions.blockSize ?? publishedBlockSize(fileSize, ratio);
  const formsPlan = compress ? await planCompressedForms(compress, fileSize, blockSize, ratio) : undefined;
  const builder = new IndexBuilder({
    ...builderOptions,
    blockSize,
    fileSize,
    published: formsPlan !== undefined,
    blockDigest: builderOptions.blockDigest ?? fileSize >= BLOCK_DIGEST_MIN_SIZE,
  });
  const { header } = builder;
  // The first failure (of the hashing or of a compressed form) stops the rest, and is what
  // the build rejects with once everything has stopped and its temporary files are gone.
  const stop = new AbortController();
  const stopSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  let failure: { error: unknown } | undefined;
  const fail = (error: unknown) => {
    failure ??= { error };
    stop.abort(error);
  };
  // The compressed forms are written on libuv's thread pool while the index is hashed; they
  // start first, as they take longest (jquery.js with a base, when its frame was zstd 17: the
  // frame ended the build, and began 3-4 ms sooner this way). Handled now, so that a failure
  // while the index is still hashed stops the hashing instead of being an unhandled rejection;
  // awaited below.
  const forms = formsPlan ? writeCompressedForms(input, output, formsPlan, threads, stopSignal, data) : undefined;
  forms?.catch(fail);
  let fh: FileHandle | undefined;
  try {
    if (!data) fh = await open(input, 'r');
  } catch (cause) {
    fail(ioError('open', input, cause));
    await forms?.catch(() => {});
    throw failure!.error;
  }
  let out: AtomicFile | undefined;
  let published: Awaited<NonNullable<typeof forms>> | undefined;
  let indexBytes: number | undefined;
  try {
    const progress = (done: number) => onProgress?.(done, fileSize);
    if (data) {
      // A small input's index is made in memory and written in one go once the forms are done.
      const head = builder.headerBytes();
      const records = builder.push(data);
      progress(fileSize);
      published = forms ? await forms : undefined;
      const tail = builder.end(published?.forms);
      AtomicFile.writeSync(output, [head, records, tail]);
      indexBytes = head.length + records.length + tail.length;
    } else {
      out = await AtomicFile.create(output);
      await out.write(builder.headerBytes());
      const reader = { fh: fh!, path: input };
      if (threads > 1 && fileSize >= PARALLEL_MIN_SIZE) await hashParallel(reader, builder, out, threads, stopSignal, progress);
      else await hashSerial(reader, builder, out, stopSignal, progress);
      published = forms ? await forms : undefined;
      await out.write(builder.end(published?.forms));
      await out.commit();
    }
  } catch (err) {
    fail(err);
    await out?.abort();
    await forms?.catch(() => {});
    throw failure!.error;
  } finally {
    await fh?.close();
  }
  indexBytes ??= (await stat(output).catch((cause: unknown) => Promise.reject(ioError('read', output, cause)))).size;
  return {
    index: output,
    fileSize,
    blockSize: header.blockSize,
    blockCount: Math.ceil(fileSize / header.blockSize),
    indexBytes,
    ...(published?.frames ? { frames: published.frames } : {}),
    ...(published?.whole ? { whole: published.whole } : {}),
    ...(published?.bases ? { bases: published.bases } : {}),
    ...(formsPlan?.incompressible ? { incompressible: true as const } : {}),
    seconds: (Date.now() - started) / 1000,
  };
}

/**
 * Files below this size get no block digest from {@link buildFile} by default: their second
 * pass (the output's SHA-256) costs under a millisecond (1.8 GB/s here), while the digest's
 * 32 bytes count in the smallest updates: jquery.js 1.11.1 -> 1.11.2 at defaults moved
 * 61,762 B with it against zsync's 61,754 (test/integration/real-world.test.ts), 61,730 B
 * without. `blockDigest: true` writes it anyway.
 */
export const BLOCK_DIGEST_MIN_SIZE = 1024 * 1024;

/** The compressed forms to write, with every option checked. */
interface FormsPlan {
  codec: Codec;
  level: number;
  wholeCodec: Codec;
  wholeLevel: number;
  /** Brotli quality of a librsync base delta. */
  deltaLevel: number;
  blocksPerFrame: number;
  frameBytes: number;
  frames: boolean;
  whole: boolean;
  bases: readonly string[];
  fileSize: number;
  incompressible: boolean;
}

/** The default frame level of `codec` for a file of `fileSize` bytes, in frames of `frameBytes`. */
function frameLevel(codec: Codec, fileSize: number, frameBytes: number, bases: boolean): number {
  if (bases && codec === 'zstd' && fileSize <= frameBytes) return BASE_SINGLE_FRAME_LEVEL;
  if (bases && codec === 'zstd' && fileSize <= ZSTD_FRAME_LEVELS[0]![0]) return BASE_FRAMES_LEVEL;
  const table = codec === 'zstd' ? ZSTD_FRAME_LEVELS : BROTLI_FRAME_LEVELS;
  return table.find(([max]) => fileSize <= max)![1];
}

function checkLevel(name: string, codec: Codec, v: number): void {
  const { min, max } = CODEC_LEVELS[codec] ?? { min: 0, max: -1 };
  if (!Number.isInteger(v) || v < min || v > max)
    throw new RangeError(`Cannot compress: ${name} ${v} is not a ${codec} level ${min}..${max}`);
}

/**
 * Checks the compression options (RangeError for a level outside the codec's range) and
 * that every base is a readable regular file (an IO SyncError otherwise), before
 * anything is written; plans no frames and no whole stream when the input's sample (`ratio`,
 * taken when `skipIncompressible` is set) does not compress (see {@link INCOMPRESSIBLE_RATIO}).
 */
async function planCompressedForms(
  options: CompressOptions,
  fileSize: number,
  blockSize: number,
  ratio: number | undefined,
): Promise<FormsPlan> {
  const codec = options.codec ?? 'brotli';
  const bases = options.bases ?? [];
  const wholeCodec = options.wholeCodec ?? (bases.length > 0 ? BASE_WHOLE_CODEC : 'brotli');
  const blocksPerFrame = Math.max(1, Math.round((options.frameBytes ?? DEFAULT_FRAME_BYTES) / blockSize));
  const frameBytes = blocksPerFrame * blockSize;
  const level = options.level ?? frameLevel(codec, fileSize, frameBytes, bases.length > 0);
  // Brotli's whole stream at 11 up to 32 MiB, at the frames' quality above (as before).
  const wholeLevel = options.wholeLevel ?? (wholeCodec === 'zstd' ? 19 : fileSize <= WHOLE_MAX || codec !== 'brotli' ? 11 : level);
  checkLevel('level', codec, level);
  checkLevel('wholeLevel', wholeCodec, wholeLevel);
  // librsync deltas are brotli streams at the whole stream's quality when it is brotli, else 11.
  const deltaLevel = wholeCodec === 'brotli' ? wholeLevel : 11;
  if (bases.length > 0) checkLevel('wholeLevel', 'brotli', deltaLevel);
  for (const base of bases) await regularFileSize(base, 'make a delta from the base');
  const compressible = ratio === undefined || ratio <= INCOMPRESSIBLE_RATIO;
  // With bases, no whole stream by default beside zstd frames of BASE_FRAMES_LEVEL or above,
  // or beside a single frame at its default level (see each).
  const framesAsGood =
    bases.length > 0 &&
    codec === 'zstd' &&
    wholeCodec === 'zstd' &&
    (level >= BASE_FRAMES_LEVEL || (fileSize <= frameBytes && options.level === undefined));
  const whole = compressible && (options.whole ?? !framesAsGood) && fileSize <= (options.wholeMaxSize ?? Number.POSITIVE_INFINITY);
  // An incompressible file gets no forms, but its index still ends in the summary (the
  // version 6 layout, with no forms listed): a client whose local file already is this
  // version (same size and SHA-256) then reads 57 bytes of the index and nothing else.
  return {
    codec,
    level,
    wholeCodec,
    wholeLevel,
    deltaLevel,
    blocksPerFrame,
    frameBytes,
    frames: compressible,
    whole,
    bases,
    fileSize,
    incompressible: !compressible,
  };
}

/**
 * The whole of `input` (`size` bytes, from its stat, at most `IN_PLACE_MAX`), read once and in
 * place; SOURCE_CHANGED when it is no longer that size. A small input is read whole instead of
 * once each by the sample, the hashing, the frames and the deltas: each read was a few trips
 * through libuv's thread pool, answered only when the thread that makes the delta was free.
 * jquery.js (284 kB) with a base (`performance.now()` in the process, medians of 8 alternating
 * runs; bench case 5, "publishing with --base"): from the input's stat to the delta's inputs in
 * hand 12.9 → 6.5 ms, to the index committed 69.6 → 47.1 ms (with the single frame at level 12,
 * BASE_SINGLE_FRAME_LEVEL).
 */
function readWhole(input: string, size: number): Uint8Array {
  const data = readFileInPlace(input, 'read');
  if (data.length !== size)
    throw new SyncError(ErrorCodes.SOURCE_CHANGED, `Cannot index ${input}: it changed while being read`, { path: input });
  return data;
}

/**
 * The sample of an input in memory: all of it up to {@link SAMPLE_PIECES} ×
 * {@link MEMORY_SAMPLE_PIECE} bytes, else that many pieces spread evenly over it (never
 * overlapping).
 */
function memorySample(data: Uint8Array): Uint8Array {
  if (data.length <= SAMPLE_PIECES * MEMORY_SAMPLE_PIECE) return data;
  const sample = new Uint8Array(SAMPLE_PIECES * MEMORY_SAMPLE_PIECE);
  for (let i = 0; i < SAMPLE_PIECES; i++) {
    const at = Math.floor(((data.length - MEMORY_SAMPLE_PIECE) * i) / (SAMPLE_PIECES - 1));
    sample.set(data.subarray(at, at + MEMORY_SAMPLE_PIECE), i * MEMORY_SAMPLE_PIECE);
  }
  return sample;
}

/**
 * How much a sample of `input` shrinks ({@link sampleRatio}): the whole file up to
 * {@link SAMPLE_PIECES} × {@link SAMPLE_PIECE} bytes, else that many pieces spread evenly
 * over it (never overlapping: a piece read twice would look compressible).
 */
async function sampledRatio(input: string, fileSize: number, signal: AbortSignal | undefined): Promise<number> {
  throwIfAborted(signal);
  const whole = fileSize <= SAMPLE_PIECES * SAMPLE_PIECE;
  const pieces = whole ? 1 : SAMPLE_PIECES;
  const piece = whole ? fileSize : SAMPLE_PIECE;
  const sample = Buffer.allocUnsafe(pieces * piece);
  const fh = await open(input, 'r').catch((cause: unknown) => Promise.reject(ioError('read', input, cause)));
  try {
    const reader = { fh, path: input };
    let got = 0;
    for (let i = 0; i < pieces; i++) {
      const at = pieces === 1 ? 0 : Math.floor(((fileSize - piece) * i) / (pieces - 1));
      got += await readInput(reader, sample, got, piece, at);
    }
    return sampleRatio(sample.subarray(0, got));
  } finally {
    await fh.close();
  }
}

/**
 * Writes the frames, the whole-file stream and the base deltas; resolves with what the
 * index lists. The first of them to fail stops the others, and the promise rejects with
 * its error once all have stopped (and removed their temporary files).
 */
async function writeCompressedForms(
  input: string,
  indexPath: string,
  plan: FormsPlan,
  threads: number,
  signal: AbortSignal,
  data: Uint8Array | undefined,
) {
  const { codec, level, wholeCodec, wholeLevel, blocksPerFrame, frameBytes, fileSize } = plan;
  const framesPath = `${indexPath}z`;
  const wholePath = `${indexPath}${wholeCodec === 'zstd' ? '.zst' : '.br'}`;
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
  // Frames on libuv's thread pool, two per hashing thread in flight: they keep every core
  // busy beside the hashing workers. While deltas are made, one frame at a time: a delta is
  // the build's longest job, and with frames on every core it got a share of one.
  // @esbuild/linux-x64 0.25.0 -> 0.25.1 (10 MB, a bsdiff-class delta made on a worker),
  // marks in the process: the delta made at 10.4 s and checked at 12.2 s with four frames in
  // flight, at 8.1-8.9 s and 10.0-11.0 s with one (the frames done at 3.7 s instead of 2.1-2.5).
  let makingDeltas = plan.bases.length > 0;
  const fullConcurrency = Math.max(2, threads * 2);
  const concurrency = () => (makingDeltas ? 1 : fullConcurrency);
  const jobs = [
    watched(
      plan.frames
        ? writeFrames(input, framesPath, { frameBytes, level, codec, concurrency, fileSize, signal: jobSignal, ...(data ? { data } : {}) })
        : Promise.resolve(undefined),
      'compress',
      input,
    ),
    watched(
      plan.whole
        ? writeWhole(input, wholePath, { level: wholeLevel, codec: wholeCodec, fileSize, signal: jobSignal })
        : Promise.resolve(undefined),
      'compress',
      input,
    ),
    // Deltas one after the other: each holds a signature of its base in memory.
    (async () => {
      const out = [];
      try {
        for (const base of plan.bases) {
          out.push(
            await watched(
              writeBaseDelta(base, input, `${indexPath}d-`, { level: plan.deltaLevel, signal: jobSignal, ...(data ? { next: data } : {}) }),
              'make a delta from the base',
              base,
            ),
          );
        }
      } finally {
        makingDeltas = false;
      }
      return out;
    })(),
  ] as const;
  await Promise.allSettled(jobs);
  if (failure) throw failure.error;
  const [framesResult, wholeBytes, bases] = await Promise.all(jobs);
  const forms: PublishedForms = {
    ...(framesResult ? { frames: { codec, blocksPerFrame, frameSizes: framesResult.frameSizes, name: basename(framesPath) } } : {}),
    ...(wholeBytes !== undefined ? { whole: { codec: wholeCodec, size: wholeBytes, name: basename(wholePath) } } : {}),
    ...(bases.length > 0
      ? {
          bases: bases.map((b) => ({
            baseSize: b.baseSize,
            baseSha256: b.baseSha256,
            codec: b.codec,
            size: b.size,
            name: basename(b.path),
          })),
        }
      : {}),
  };
  return {
    forms,
    ...(framesResult
      ? { frames: { path: framesPath, bytes: framesResult.bytes, count: framesResult.frameSizes.length, frameBytes, codec, level } }
      : {}),
    ...(wholeBytes !== undefined ? { whole: { path: wholePath, bytes: wholeBytes, codec: wholeCodec, level: wholeLevel } } : {}),
    ...(bases.length > 0
      ? { bases: bases.map((b) => ({ path: b.path, bytes: b.size, baseSize: b.baseSize, kind: b.kind, sizes: b.sizes })) }
      : {}),
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
  // The calling thread hashes the whole file (SHA-256 of every byte) while the workers hash
  // the blocks, so it counts as one of `threads`: on the 2-core benchmark VM one worker beside
  // it built the 256 MiB index of `npm run bench -- --only build` in 0.60-0.69 s median wall
  // against 0.68-0.80 s with two, for less CPU (0.69-0.74 vs 0.76-0.84 s) and 17 MiB less RSS.
  const workers = Math.max(1, threads - 1);
  const pool = new WorkerPool(workers);
  // Two chunks per worker in flight: one being hashed, one queued behind it.
  const inFlight: Promise<RecordsResult>[] = [];
  const spare: ArrayBuffer[] = [];
  let done = 0;
  const drainOne = async () => {
    const r = await inFlight.shift()!;
    await out.write(builder.takeRecords(new Uint8Array(r.records)));
    spare.push(r.buffer);
  };
  // The next chunk is read while this one is hashed (the calling thread sat idle in every
  // read before: 0.70 vs 0.80 s median wall for the same 256 MiB build, same CPU).
  const readNext = async () => {
    // Transferable memory must be owned outright: a fresh ArrayBuffer, never Node's pool.
    const buffer = spare.pop() ?? new ArrayBuffer(chunkSize);
    const view = new Uint8Array(buffer);
    return { buffer, view, n: await readFull(input, view, chunkSize) };
  };
  let ahead: ReturnType<typeof readNext> | undefined;
  try {
    for (;;) {
      throwIfAborted(signal);
      const { buffer, view, n } = await (ahead ?? readNext());
      ahead = undefined;
      if (n === 0) break;
      const whole = n - (n % bs);
      if (whole === n && n === chunkSize) {
        ahead = readNext();
        ahead.catch(() => {});
      }
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
      while (inFlight.length >= 2 * workers) await drainOne();
    }
    while (inFlight.length > 0) await drainOne();
  } finally {
    // Settle everything before the pool goes, so no rejection is left unhandled.
    await ahead?.catch(() => {});
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
