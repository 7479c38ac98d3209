/**
 * Building the index of a file on disk, streaming: the file is read once, in large
 * sequential pieces, and the index is written as it is computed. Large files are hashed
 * on worker threads: the main thread reads each piece and feeds the whole-file SHA-256,
 * then moves the piece to a worker, which hashes its blocks and moves it back.
 *
 * @module
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { ErrorCodes, SyncError, throwIfAborted } from './errors.js';
import { IndexBuilder, type IndexBuilderOptions } from './index/builder.js';
import { indexSize } from './index/format.js';
import { AtomicFile } from './util/atomic-file.js';
import { WorkerPool, defaultThreads } from './workers/worker-pool.js';
import type { RecordsResult, RecordsTask } from './workers/tasks.js';

/** Options of {@link buildIndexFile}. */
export interface BuildFileOptions extends Omit<IndexBuilderOptions, 'fileSize'> {
  signal?: AbortSignal;
  /** Called with bytes hashed so far and the file size. */
  onProgress?: (done: number, total: number) => void;
  /** Worker threads for hashing (default: every core; 1 hashes on the calling thread). */
  threads?: number;
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
  seconds: number;
}

/** Size of each sequential read. */
const READ_SIZE = 4 * 1024 * 1024;
/**
 * Below this size the index is hashed on the calling thread: starting workers costs
 * about as much as hashing 16 MiB (bench/run.ts, "build index").
 */
const PARALLEL_MIN_SIZE = 16 * 1024 * 1024;

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
  const { signal, onProgress, threads = defaultThreads(), ...builderOptions } = options;
  throwIfAborted(signal);
  let fileSize: number;
  try {
    const st = await stat(input);
    if (!st.isFile()) throw new Error('not a regular file');
    fileSize = st.size;
  } catch (cause) {
    throw new SyncError(ErrorCodes.IO, `Cannot index ${input}: ${(cause as Error).message}`, { cause, path: input });
  }
  const builder = new IndexBuilder({ ...builderOptions, fileSize });
  const fh = await open(input, 'r');
  const out = await AtomicFile.create(output);
  try {
    await out.write(builder.headerBytes());
    const progress = (done: number) => onProgress?.(done, fileSize);
    if (threads > 1 && fileSize >= PARALLEL_MIN_SIZE) await hashParallel(fh, builder, out, threads, signal, progress);
    else await hashSerial(fh, builder, out, signal, progress);
    await out.write(builder.end());
    await out.commit();
  } catch (err) {
    await out.abort();
    throw err;
  } finally {
    await fh.close();
  }
  const { header } = builder;
  return {
    index: output,
    fileSize,
    blockSize: header.blockSize,
    blockCount: Math.ceil(fileSize / header.blockSize),
    indexBytes: indexSize(header),
    seconds: (performance.now() - started) / 1000,
  };
}

async function hashSerial(fh: FileHandle, builder: IndexBuilder, out: AtomicFile, signal: AbortSignal | undefined, progress: (done: number) => void) {
  const buf = Buffer.allocUnsafeSlow(READ_SIZE);
  let done = 0;
  for (;;) {
    throwIfAborted(signal);
    const { bytesRead } = await fh.read(buf, 0, buf.length, null);
    if (bytesRead === 0) break;
    await out.write(builder.push(buf.subarray(0, bytesRead)));
    done += bytesRead;
    progress(done);
  }
}

/** Reads `length` bytes (fewer only at end of file) into `buf`. */
async function readFull(fh: FileHandle, buf: Uint8Array, length: number): Promise<number> {
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, null);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

async function hashParallel(
  fh: FileHandle,
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
      const n = await readFull(fh, view, chunkSize);
      if (n === 0) break;
      const whole = n - (n % bs);
      if (whole > 0) {
        builder.feedWholeBlocks(view.subarray(0, whole));
        const task: RecordsTask = { kind: 'records', shape: { blockSize: bs, weakBytes: shape.weakBytes, strongBytes: shape.strongBytes }, buffer, length: whole };
        inFlight.push(pool.run<RecordsResult>(task, [buffer], signal));
      }
      done += n;
      progress(done);
      if (whole < n) {
        // The last, partial block: finish everything in order, then push it here.
        while (inFlight.length > 0) await drainOne();
        const tail = whole > 0 ? Buffer.from(await readBack(fh, done - (n - whole), n - whole)) : view.subarray(0, n);
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
async function readBack(fh: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const buf = Buffer.allocUnsafe(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  if (bytesRead !== length) throw new SyncError(ErrorCodes.SOURCE_CHANGED, 'Cannot build the index: the input changed while being read');
  return buf;
}
