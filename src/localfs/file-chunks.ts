/**
 * Reading a file front to back in large pieces, or a small one whole in place.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { open } from '../util/fs-promises.js';
import { ioError, throwIfAborted } from '../core/errors.js';
import { READ_SIZE } from '../core/read-size.js';
import { builtin } from '../util/builtin.js';

const { readFileSync } = builtin('node:fs');

/**
 * Yields the file's bytes in pieces of up to `readSize` (default {@link READ_SIZE}, 4 MiB).
 * Each piece is a view of one reused buffer: it is valid until the next one is asked for.
 */
export async function* fileChunks(path: string, options: { signal?: AbortSignal; readSize?: number } = {}): AsyncGenerator<Uint8Array> {
  const fh = await open(path, 'r').catch((cause: unknown) => {
    throw ioError('open', path, cause);
  });
  try {
    const buf = Buffer.allocUnsafeSlow(options.readSize ?? READ_SIZE);
    for (;;) {
      throwIfAborted(options.signal);
      let bytesRead: number;
      try {
        ({ bytesRead } = await fh.read(buf, 0, buf.length, null));
      } catch (cause) {
        throw ioError('read', path, cause);
      }
      if (bytesRead === 0) return;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

/** The SHA-256 of a file, read front to back once. */
export async function fileSha256(path: string, options: { signal?: AbortSignal } = {}): Promise<Buffer> {
  const h = createHash('sha256');
  for await (const chunk of fileChunks(path, options)) h.update(chunk);
  return h.digest();
}

/**
 * Files up to this size are read whole with {@link readFileInPlace}, and contents up to it
 * already in memory are written with `AtomicFile.writeSync`: system calls made in place, where
 * each asynchronous one is a trip through libuv's thread pool that waits for this thread to be
 * free (a read is three: open, read, close; a replaced file nine). A larger file would hold
 * this thread as long as the disk does. The jquery.js build with a base (bench case 5) reads
 * two such files and writes three.
 */
export const IN_PLACE_MAX = 1 << 20;

/** The whole file at `path` (at most {@link IN_PLACE_MAX} bytes, by its caller's stat), read in place; an IO error names `action`. */
export function readFileInPlace(path: string, action: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw ioError(action, path, cause);
  }
}
