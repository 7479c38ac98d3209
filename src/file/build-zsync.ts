/**
 * Writing the `.zsync` control file of a file on disk: the file is read once, in large
 * sequential pieces, and the result replaces the output atomically.
 *
 * @module
 */
import { open, stat, type FileHandle } from '../util/fs-promises.js';
import { ioError, throwIfAborted } from '../core/errors.js';
import { READ_SIZE } from '../core/read-size.js';
import type { BuildReport } from './build-file.js';
import { AtomicFile } from '../localfs/atomic-file.js';
import { ZsyncBuilder, type ZsyncBuilderOptions } from '../formats/zsync-control.js';
import { builtin } from '../util/builtin.js';

const { basename } = builtin('node:path');

/** Options of {@link buildZsyncFile}. */
export interface BuildZsyncFileOptions extends Omit<ZsyncBuilderOptions, 'fileSize' | 'urls' | 'filename' | 'mtime'> {
  /**
   * `URL` headers. Default: the input's file name, a URL relative to the `.zsync` (which is
   * then published in the same folder), as zsyncmake does without `-u`.
   */
  urls?: readonly string[];
  /** `Filename` header; default the input's file name. `null` leaves it out. */
  filename?: string | null;
  /** `MTime` header; default the input's modification time. `null` leaves it out. */
  mtime?: Date | null;
  signal?: AbortSignal;
  /** Called with bytes hashed so far and the file size. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Writes the `.zsync` of `input` to `output` (atomically), as zsyncmake 0.6.2 would: same
 * parameters, same layout, accepted by the zsync client. Refuses an empty file
 * (INDEX_UNSUPPORTED: zsync clients reject `Length: 0`).
 *
 * @example
 * ```ts
 * await buildZsyncFile('dist/app.bin', 'dist/app.bin.zsync', { urls: ['https://cdn.example.com/app.bin'] });
 * ```
 */
export async function buildZsyncFile(input: string, output: string, options: BuildZsyncFileOptions = {}): Promise<BuildReport> {
  const started = performance.now();
  const { signal, onProgress, urls, filename, mtime, ...rest } = options;
  throwIfAborted(signal);
  const st = await stat(input).catch((cause: unknown) => Promise.reject(ioError('index', input, cause)));
  if (!st.isFile()) throw ioError('index', input, 'not a regular file');
  const fileSize = st.size;
  const modified = st.mtime;
  const name = basename(input);
  const builder = new ZsyncBuilder({
    ...rest,
    fileSize,
    urls: urls ?? [name],
    ...(filename === null ? {} : { filename: filename ?? name }),
    ...(mtime === null ? {} : { mtime: mtime ?? modified }),
  });
  let fh: FileHandle;
  try {
    fh = await open(input, 'r');
  } catch (cause) {
    throw ioError('index', input, cause);
  }
  let out: AtomicFile | undefined;
  let bytes: Uint8Array;
  try {
    const buf = Buffer.allocUnsafeSlow(READ_SIZE);
    let done = 0;
    for (;;) {
      throwIfAborted(signal);
      let bytesRead: number;
      try {
        ({ bytesRead } = await fh.read(buf, 0, buf.length, null));
      } catch (cause) {
        throw ioError('read', input, cause);
      }
      if (bytesRead === 0) break;
      builder.push(buf.subarray(0, bytesRead));
      done += bytesRead;
      onProgress?.(done, fileSize);
    }
    bytes = builder.end();
    out = await AtomicFile.create(output);
    await out.write(bytes);
    await out.commit();
  } catch (err) {
    await out?.abort();
    throw err;
  } finally {
    await fh.close();
  }
  const { plan } = builder;
  return {
    index: output,
    fileSize,
    blockSize: plan.blockSize,
    blockCount: plan.blockCount,
    indexBytes: bytes.length,
    seconds: (performance.now() - started) / 1000,
  };
}
