/**
 * Writing the compressed forms of a reference that an index of version 2 lists: the
 * frames file (independently decompressible frames of whole blocks, zstd or brotli) and
 * the whole file as one stream. Compression runs on libuv's thread pool (node:zlib's
 * async API), several frames at once, beside the index hashing.
 *
 * @module
 */
import { open, type FileHandle } from '../util/fs-promises.js';
import { pipeline } from 'node:stream/promises';
import {
  BrotliCompress,
  ZstdCompress,
  brotliCompress,
  constants as zc,
  createBrotliCompress,
  createZstdCompress,
  zstdCompress,
  zstdCompressSync,
} from 'node:zlib';
import { ErrorCodes, SyncError, ioError, throwIfAborted } from '../core/errors.js';
import type { Codec } from '../core/index/published.js';
import { AtomicFile } from '../localfs/atomic-file.js';
import { IN_PLACE_MAX } from '../localfs/file-chunks.js';
import { builtin } from '../util/builtin.js';

const { createReadStream } = builtin('node:fs');
const { Writable } = builtin('node:stream');
const { promisify } = builtin('node:util');

const brotli = promisify(brotliCompress);
const zstd = promisify(zstdCompress);

/** The levels each codec takes: brotli qualities 0–11, zstd levels 1–22. */
export const CODEC_LEVELS: Record<Codec, { min: number; max: number }> = { brotli: { min: 0, max: 11 }, zstd: { min: 1, max: 22 } };

/** Brotli parameters for a given quality (0–11) and input size. */
export function brotliParams(level: number, sizeHint: number): Record<number, number> {
  return {
    [zc.BROTLI_PARAM_QUALITY]: level,
    // 16 MiB window: long-range repeats in large files are found (brotli's maximum
    // without the large-window extension).
    [zc.BROTLI_PARAM_LGWIN]: 24,
    [zc.BROTLI_PARAM_SIZE_HINT]: Math.min(sizeHint, 2 ** 31 - 1),
  };
}

/**
 * The largest window a zstd stream of gosync's asks of a decoder (16 MiB, brotli's own
 * maximum): clients refuse larger ones (see inflate.ts), so memory stays bounded.
 */
export const ZSTD_MAX_WINDOW_LOG = 24;

/**
 * zstd parameters for a given level (1–22). No checksum: every block is verified against
 * the index anyway. zstd sizes its window from the pledged input size, so a frame decodes
 * with a window no larger than itself; levels 20–22 would ask for up to 128 MiB on large
 * inputs, so the window is capped at {@link ZSTD_MAX_WINDOW_LOG}.
 *
 * For an input of `size` bytes up to {@link SMALL_TABLES_MAX} at level
 * {@link SMALL_TABLES_LEVEL} or above, the match finder's hash and chain tables are capped at
 * half the window (2^(window log − 1) entries each): zstd sizes them by the level and caps
 * them only at twice the window, and clears them before the first byte, touching each page
 * once. jquery.js (284 kB) at level 12, the frame of a build with a base, one fresh process
 * each: 79,769 B in 29 ms with 1,422 page faults, capped 79,866 B in 20 ms with 462 faults
 * (level 17: 74,705 B, 104 ms, 2,198 faults; capped 74,936 B, 72 ms, 661 faults; the bench
 * machine takes about 5 µs a fault). Over 1 MiB frames of typescript.js the cap cost 1.2%.
 */
export function zstdParams(level: number, size?: number): Record<number, number> {
  const tableLog =
    size !== undefined && size <= SMALL_TABLES_MAX && level >= SMALL_TABLES_LEVEL
      ? Math.max(ZSTD_MIN_TABLE_LOG, Math.ceil(Math.log2(Math.max(size, 1))) - 1)
      : undefined;
  return {
    [zc.ZSTD_c_compressionLevel]: level,
    [zc.ZSTD_c_checksumFlag]: 0,
    ...(level >= 20 ? { [zc.ZSTD_c_windowLog]: ZSTD_MAX_WINDOW_LOG } : {}),
    ...(tableLog !== undefined ? { [zc.ZSTD_c_hashLog]: tableLog, [zc.ZSTD_c_chainLog]: tableLog } : {}),
  };
}

/**
 * Inputs up to this size get capped tables ({@link zstdParams}): below 1 MiB the cap is under
 * the table sizes of every level from {@link SMALL_TABLES_LEVEL} (2^20 entries and more), so
 * it never enlarges them.
 */
const SMALL_TABLES_MAX = 1024 * 1024 - 1;
const SMALL_TABLES_LEVEL = 9;
/** The least capped table log: 2^10 entries, as zstd's least window (a few bytes get no smaller tables). */
const ZSTD_MIN_TABLE_LOG = 10;

/**
 * Compresses one buffer with `codec` at `level` on the thread pool, in one piece of work: the
 * output buffer (`chunkSize`) holds the whole result of any compressible input. At zlib's
 * default (16 KiB) the pool thread stops at every full buffer until the main thread takes
 * it, so a frame compressed beside a busy main thread (the lz delta's encoder) waited for it:
 * jquery.js at zstd 17 beside a main thread busy for 60 ms was done 91 ms after the start
 * with 16 KiB, 67 ms with a buffer of the input's size (40 ms alone).
 *
 * The input goes in with the flag that ends the stream (zlib's `_processChunk`, kept by Node
 * for this use): `zstdCompress` writes it as a stream, whose end is a second trip through the
 * pool and the main thread. Beside a main thread busy for 40 ms, jquery.js at zstd 12 was
 * done 5-8 ms after the main thread was free that way, 1 ms this way (the same bytes).
 */
export function compressBuffer(codec: Codec, level: number, data: Uint8Array): Promise<Buffer> {
  const chunkSize = Math.max(16 * 1024, data.length + (data.length >> 6) + 1024);
  const engine: ZlibBase =
    codec === 'zstd'
      ? new ZstdCompress({ params: zstdParams(level, data.length), pledgedSrcSize: data.length, chunkSize })
      : new BrotliCompress({ params: brotliParams(level, data.length), chunkSize });
  if (typeof engine._processChunk !== 'function') {
    engine.close();
    return codec === 'zstd'
      ? zstd(data, { params: zstdParams(level, data.length), pledgedSrcSize: data.length, chunkSize })
      : brotli(data, { params: brotliParams(level, data.length), chunkSize });
  }
  return new Promise((resolve, reject) => {
    engine.once('error', reject);
    engine._processChunk!(data, codec === 'zstd' ? zc.ZSTD_e_end : zc.BROTLI_OPERATION_FINISH, () => {
      const parts: Buffer[] = [];
      for (let c = engine.read() as Buffer | null; c !== null; c = engine.read() as Buffer | null) parts.push(c);
      engine.close();
      resolve(Buffer.concat(parts));
    });
  });
}

/** A zlib stream, with the method that compresses one chunk to the end in one piece of work. */
type ZlibBase = (ZstdCompress | BrotliCompress) & { _processChunk?: (chunk: Uint8Array, flush: number, cb: () => void) => void };

/**
 * How much `sample` shrinks with zstd at level 1 (compressed ÷ original, 1 or more when it
 * does not): a quick test, run on the calling thread, of whether compressed forms of a
 * file are worth writing. zstd's level 1 passes incompressible data at several hundred
 * MB/s, so the test costs a few milliseconds per MiB sampled.
 */
export function sampleRatio(sample: Uint8Array): number {
  if (sample.length === 0) return 1;
  return zstdCompressSync(sample, { params: zstdParams(1), pledgedSrcSize: sample.length }).length / sample.length;
}

/** What writing the frames produced. */
export interface FramesResult {
  frameSizes: Uint32Array;
  bytes: number;
}

/**
 * Compresses `input` in frames of `frameBytes` (a multiple of the block size) into
 * `output`, keeping up to `concurrency` frames in flight, written in order. With `data` (the
 * whole input, already read, at most `IN_PLACE_MAX` bytes) the frames are taken from it, all
 * compressed at once, and written in place in one go.
 */
export async function writeFrames(
  input: string,
  output: string,
  options: {
    frameBytes: number;
    level: number;
    /** Frames in flight at most; a function is asked again before each frame is started. */
    concurrency: number | (() => number);
    fileSize: number;
    codec?: Codec;
    signal?: AbortSignal;
    data?: Uint8Array;
  },
): Promise<FramesResult> {
  const { frameBytes, level, concurrency, fileSize, codec = 'brotli', signal, data } = options;
  if (data) return writeFramesInPlace(output, data, frameBytes, level, codec, signal);
  const count = Math.ceil(fileSize / frameBytes);
  const sizes = new Uint32Array(count);
  const fh = await open(input, 'r').catch((cause: unknown) => Promise.reject(ioError('compress', input, cause)));
  const out = await AtomicFile.create(output).catch(async (err: unknown) => {
    await fh.close();
    throw err;
  });
  const inFlight: Promise<Buffer>[] = [];
  let written = 0;
  let total = 0;
  const drain = async () => {
    const c = await inFlight.shift()!;
    if (c.length > 0xffffffff) throw new RangeError('Cannot write a frame: it compressed to more than 4 GiB');
    sizes[written++] = c.length;
    total += c.length;
    await out.write(c);
  };
  try {
    for (let i = 0; i < count; i++) {
      throwIfAborted(signal);
      const len = Math.min(frameBytes, fileSize - i * frameBytes);
      const buf = Buffer.allocUnsafe(len);
      await readFull(fh, buf, i * frameBytes, input);
      inFlight.push(compressBuffer(codec, level, buf));
      while (inFlight.length >= (typeof concurrency === 'number' ? concurrency : concurrency())) await drain();
    }
    while (inFlight.length > 0) await drain();
    await out.commit();
  } catch (err) {
    await Promise.allSettled(inFlight);
    await out.abort();
    throw err;
  } finally {
    await fh.close();
  }
  return { frameSizes: sizes, bytes: total };
}

/** {@link writeFrames} of an input in memory: its frames compressed at once, then written in place. */
async function writeFramesInPlace(
  output: string,
  data: Uint8Array,
  frameBytes: number,
  level: number,
  codec: Codec,
  signal: AbortSignal | undefined,
): Promise<FramesResult> {
  if (data.length > IN_PLACE_MAX) throw new RangeError(`Cannot write frames in place: ${data.length} bytes is more than ${IN_PLACE_MAX}`);
  const frames = await Promise.all(
    Array.from({ length: Math.ceil(data.length / frameBytes) }, (_, i) =>
      compressBuffer(codec, level, data.subarray(i * frameBytes, (i + 1) * frameBytes)),
    ),
  );
  throwIfAborted(signal);
  AtomicFile.writeSync(output, frames);
  return { frameSizes: Uint32Array.from(frames, (c) => c.length), bytes: frames.reduce((sum, c) => sum + c.length, 0) };
}

/** Compresses the whole of `input` as one stream (brotli unless `codec` says) into `output`; resolves with its size. */
export async function writeWhole(
  input: string,
  output: string,
  options: { level: number; fileSize: number; codec?: Codec; signal?: AbortSignal },
): Promise<number> {
  const { level, fileSize } = options;
  const out = await AtomicFile.create(output);
  let bytes = 0;
  try {
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        out.write(chunk).then(() => cb(), cb);
      },
    });
    await pipeline(
      createReadStream(input, { highWaterMark: 1024 * 1024 }),
      options.codec === 'zstd'
        ? createZstdCompress({ params: zstdParams(level, fileSize), pledgedSrcSize: fileSize })
        : createBrotliCompress({ params: brotliParams(level, fileSize) }),
      sink,
      options.signal ? { signal: options.signal } : {},
    );
    await out.commit();
  } catch (err) {
    await out.abort();
    if ((err as Error).name === 'AbortError' && options.signal) throwIfAborted(options.signal);
    // Write failures are the output's IO errors already; anything else failed reading the input.
    throw ioError('compress', input, err);
  }
  return bytes;
}

async function readFull(fh: FileHandle, buf: Buffer, position: number, path: string): Promise<void> {
  for (let got = 0; got < buf.length; ) {
    let bytesRead: number;
    try {
      ({ bytesRead } = await fh.read(buf, got, buf.length - got, position + got));
    } catch (cause) {
      throw ioError('compress', path, cause);
    }
    if (bytesRead === 0)
      throw new SyncError(ErrorCodes.SOURCE_CHANGED, `Cannot compress ${path}: it ended early (it changed while being read)`, { path });
    got += bytesRead;
  }
}
