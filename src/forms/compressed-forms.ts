/**
 * Writing the compressed forms of a reference that an index of version 2 lists: the
 * frames file (independently decompressible brotli frames of whole blocks) and the whole
 * file as one brotli stream. Compression runs on libuv's thread pool (node:zlib's async
 * API), several frames at once, beside the index hashing.
 *
 * @module
 */
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { brotliCompress, constants as zc, createBrotliCompress } from 'node:zlib';
import { promisify } from 'node:util';
import { ErrorCodes, SyncError, ioError, throwIfAborted } from '../core/errors.js';
import { AtomicFile } from '../localfs/atomic-file.js';

const compress = promisify(brotliCompress);

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

/** What writing the frames produced. */
export interface FramesResult {
  frameSizes: Uint32Array;
  bytes: number;
}

/**
 * Compresses `input` in frames of `frameBytes` (a multiple of the block size) into
 * `output`, keeping up to `concurrency` frames in flight, written in order.
 */
export async function writeFrames(
  input: string,
  output: string,
  options: { frameBytes: number; level: number; concurrency: number; fileSize: number; signal?: AbortSignal },
): Promise<FramesResult> {
  const { frameBytes, level, concurrency, fileSize, signal } = options;
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
      inFlight.push(compress(buf, { params: brotliParams(level, len) }));
      while (inFlight.length >= concurrency) await drain();
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

/** Compresses the whole of `input` as one brotli stream into `output`; resolves with its size. */
export async function writeWhole(
  input: string,
  output: string,
  options: { level: number; fileSize: number; signal?: AbortSignal },
): Promise<number> {
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
      createBrotliCompress({ params: brotliParams(options.level, options.fileSize) }),
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
