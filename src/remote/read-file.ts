/**
 * Reading the files a session sends or uses as a basis: opened without following a
 * link in the last component (`O_NOFOLLOW`), checked to be a regular file on the open
 * handle, read front to back in large pieces with the next piece read ahead.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { open, type FileHandle } from '../util/fs-promises.js';
import type { Stats } from 'node:fs';
import { ioError, throwIfAborted } from '../core/errors.js';
import { builtin } from '../util/builtin.js';

const { constants } = builtin('node:fs');

const READ_SIZE = 1024 * 1024;

/** An open regular file. */
export interface OpenFile {
  fh: FileHandle;
  size: number;
  path: string;
}

/** Opens `path` for reading; an IO error when it is missing, a link, or not a regular file. */
export async function openRegularFile(path: string): Promise<OpenFile> {
  const fh = await open(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0)).catch((cause: unknown) => {
    // O_NOFOLLOW fails with ELOOP on a link: say so rather than "too many symbolic links".
    const link = (cause as NodeJS.ErrnoException).code === 'ELOOP';
    throw ioError('read', path, link ? new Error('it is a symbolic link', { cause }) : cause);
  });
  let st: Stats;
  try {
    st = await fh.stat();
  } catch (cause) {
    await fh.close().catch(() => {});
    throw ioError('read', path, cause);
  }
  if (!st.isFile()) {
    await fh.close().catch(() => {});
    throw ioError('read', path, new Error('it is not a regular file'));
  }
  return { fh, size: st.size, path };
}

/**
 * Yields the bytes of `[start, end)` of an open file (default: all of it) in pieces; each
 * piece is valid until the next is asked for. Stops early at the end of the file.
 */
export async function* fileRange(
  file: OpenFile,
  options: { start?: number; end?: number; signal?: AbortSignal } = {},
): AsyncGenerator<Uint8Array> {
  let position = options.start ?? 0;
  const end = options.end ?? Number.POSITIVE_INFINITY;
  // Buffers as big as the range (plus one byte, to see the end in one read), at most READ_SIZE.
  const size = Math.max(1, Math.min(READ_SIZE, Math.min(end, file.size) - position + 1));
  const bufs = [Buffer.allocUnsafeSlow(size), Buffer.allocUnsafeSlow(size)] as const;
  const readAt = (buf: Buffer, at: number): Promise<number> => {
    const want = Math.min(buf.length, end - at);
    if (want <= 0) return Promise.resolve(0);
    const p = file.fh.read(buf, 0, want, at).then(
      (r) => r.bytesRead,
      (cause: unknown) => {
        throw ioError('read', file.path, cause);
      },
    );
    p.catch(() => {}); // handled where awaited
    return p;
  };
  let k = 0;
  let pending = readAt(bufs[0], position);
  for (;;) {
    throwIfAborted(options.signal);
    const n = await pending;
    if (n === 0) return;
    const current = bufs[k]!;
    position += n;
    k ^= 1;
    pending = readAt(bufs[k]!, position);
    yield current.subarray(0, n);
  }
}

/** The SHA-256 of a regular file's content (opened as {@link openRegularFile} does). */
export async function sha256OfFile(path: string, signal?: AbortSignal): Promise<Uint8Array> {
  const file = await openRegularFile(path);
  try {
    const hash = createHash('sha256');
    for await (const chunk of fileRange(file, signal ? { signal } : {})) hash.update(chunk);
    return new Uint8Array(hash.digest());
  } finally {
    await file.fh.close().catch(() => {});
  }
}
