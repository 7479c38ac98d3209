/**
 * Reading a file front to back in large pieces.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { ioError, throwIfAborted } from '../core/errors.js';
import { READ_SIZE } from '../core/read-size.js';

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
