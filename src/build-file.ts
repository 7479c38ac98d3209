/**
 * Building the index of a file on disk, streaming: the file is read once, in large
 * sequential pieces, and the index is written as it is computed.
 *
 * @module
 */
import { open, stat } from 'node:fs/promises';
import { ErrorCodes, SyncError, throwIfAborted } from './errors.js';
import { IndexBuilder, type IndexBuilderOptions } from './index/builder.js';
import { indexSize } from './index/format.js';
import { AtomicFile } from './util/atomic-file.js';

/** Options of {@link buildIndexFile}. */
export interface BuildFileOptions extends Omit<IndexBuilderOptions, 'fileSize'> {
  signal?: AbortSignal;
  /** Called with bytes hashed so far and the file size. */
  onProgress?: (done: number, total: number) => void;
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

const READ_SIZE = 4 * 1024 * 1024;

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
  const { signal, onProgress, ...builderOptions } = options;
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
    const buf = Buffer.allocUnsafeSlow(READ_SIZE);
    let done = 0;
    for (;;) {
      throwIfAborted(signal);
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      await out.write(builder.push(buf.subarray(0, bytesRead)));
      done += bytesRead;
      onProgress?.(done, fileSize);
    }
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
