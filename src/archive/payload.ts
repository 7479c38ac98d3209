/**
 * The payload of a local gzip file as a scratch file: what a publisher's bases and a
 * client's old version and seeds are compared as, since the index describes payloads.
 *
 * @module
 */
import { closeFd, open, openFd, readFd } from '../util/fs-promises.js';
import { ioError } from '../core/errors.js';
import { AtomicFile } from '../localfs/atomic-file.js';
import { type InflatedGzip, inflateGzip, isGzip } from './gzip.js';
import { zipToScratch } from './zip.js';

/**
 * A payload may be at most this many times its gzip file, and always up to
 * {@link MIN_PAYLOAD_CAP}: npm's tarballs inflate 2.4× (esbuild) to 5.4× (typescript),
 * while a gzip bomb inflates up to deflate's limit of about 1032×. Over it, the file is
 * treated as opaque bytes (published as it is, or not reused by a client).
 */
export const MAX_PAYLOAD_RATIO = 100;
/** The payload cap for small files (a bomb of a few kilobytes still stops here). */
export const MIN_PAYLOAD_CAP = 64 * 1024 * 1024;

/** The most a payload of a gzip file of `size` bytes may hold. */
export function payloadCap(size: number, ratio = MAX_PAYLOAD_RATIO): number {
  return Math.max(MIN_PAYLOAD_CAP, size * ratio);
}

/** The first bytes of `path` (fewer when it is shorter); an IO error when it cannot be read. */
export async function readHead(path: string, length: number): Promise<Uint8Array> {
  // A file descriptor rather than a FileHandle: every build reads a head, and opening a
  // FileHandle loads node:fs/promises (util/fs-promises.ts).
  let fd: number | undefined;
  try {
    fd = await openFd(path, 'r');
    const buf = Buffer.alloc(length);
    const { bytesRead } = await readFd(fd, buf, 0, length, 0);
    return buf.subarray(0, bytesRead);
  } catch (cause) {
    throw ioError('read', path, cause);
  } finally {
    if (fd !== undefined) await closeFd(fd);
  }
}

/** A payload written to a temporary file next to `near`, removed by `discard()`. */
export interface ScratchPayload {
  path: string;
  /** Size of the archive the payload came from. */
  archiveSize: number;
  /** For a gzip file: what inflating it found. */
  inflated?: InflatedGzip;
  /** The temporary file (not committed; committing it publishes the payload at its target). */
  file: AtomicFile;
  discard(): Promise<void>;
}

/**
 * Inflates the gzip file at `path` into a temporary file next to `near`. Undefined (and
 * nothing left behind) when `path` is not a gzip file this code rebuilds, with the reason
 * in `problem`; a missing file is not an error here either (a client may have none).
 */
export async function inflateToScratch(
  path: string,
  near: string,
  options: { signal?: AbortSignal | undefined; maxPayloadRatio?: number } = {},
): Promise<ScratchPayload | { problem: string }> {
  let size: number;
  let head: Uint8Array;
  try {
    const fh = await open(path, 'r');
    try {
      const st = await fh.stat();
      if (!st.isFile()) return { problem: 'it is not a regular file' };
      size = st.size;
      head = Buffer.alloc(3);
      await fh.read(head, 0, 3, 0);
    } finally {
      await fh.close();
    }
  } catch {
    return { problem: 'it cannot be read' };
  }
  if (!isGzip(head)) return { problem: 'it is not a gzip file' };
  const file = await AtomicFile.create(near);
  try {
    const inflated = await inflateGzip(path, (c) => file.write(c), {
      maxPayload: payloadCap(size, options.maxPayloadRatio),
      signal: options.signal,
    });
    if ('problem' in inflated) {
      await file.abort();
      return inflated;
    }
    return { path: file.tempPath, archiveSize: inflated.fileSize, inflated, file, discard: () => file.abort() };
  } catch (err) {
    await file.abort();
    throw err;
  }
}

/** The payload of a local file as an archive of `kind` (what a client's old version and seeds are compared as). */
export function scratchFor(
  kind: 'gzip' | 'zip',
  path: string,
  near: string,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<ScratchPayload | { problem: string }> {
  return kind === 'gzip' ? inflateToScratch(path, near, options) : zipToScratch(path, near, options);
}
