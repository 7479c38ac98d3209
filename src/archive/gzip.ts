/**
 * Looking inside a gzip file (a `.gz`, an npm `.tgz`): its header, its deflate stream
 * inflated, and the zlib parameters that deflate the payload back to exactly the same
 * bytes, when there are any (docs/archives.md).
 *
 * Everything streams: the payload goes to a writer as it is inflated, the search for the
 * parameters compares each candidate's output with the published stream as it comes and
 * stops at its first differing byte, and recompression writes as it deflates. Memory is
 * bounded by the read size whatever the file declares; the payload's size is capped by
 * the caller (a gzip bomb is refused, not inflated to the end).
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { open } from '../util/fs-promises.js';
import { pipeline } from 'node:stream/promises';
import { constants, createDeflateRaw, createInflateRaw, crc32 } from 'node:zlib';
import { SyncError, ioError, throwIfAborted } from '../core/errors.js';
import type { GzipArchive } from '../core/index/published.js';
import { MAX_GZIP_HEADER } from '../core/index/published.js';
import { builtin } from '../util/builtin.js';

const { createReadStream } = builtin('node:fs');

/** Bytes of a gzip trailer: CRC-32 and size mod 2^32 of the payload. */
export const GZIP_TRAILER = 8;
const READ_SIZE = 1024 * 1024;
const SEARCH_PIECE = 64 * 1024;
const FHCRC = 2;
const FEXTRA = 4;
const FNAME = 8;
const FCOMMENT = 16;
const RESERVED_FLAGS = 0xe0;

/** True when `head` starts like a gzip member with deflate (`1f 8b 08`). */
export function isGzip(head: Uint8Array): boolean {
  return head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 8;
}

/**
 * The length of the gzip header at the start of `head` (RFC 1952: 10 bytes, then the
 * optional extra field, name, comment and header CRC), or why it is not one this code
 * reads: reserved flags, or a header longer than {@link MAX_GZIP_HEADER} or than `head`.
 */
export function gzipHeaderLength(head: Uint8Array): number | { problem: string } {
  if (head.length < 10 || !isGzip(head)) return { problem: 'it is not a gzip file' };
  const flags = head[3]!;
  if ((flags & RESERVED_FLAGS) !== 0) return { problem: 'its gzip header has reserved flags set' };
  let at = 10;
  if (flags & FEXTRA) {
    if (head.length < at + 2) return { problem: 'its gzip header is truncated' };
    at += 2 + (head[at]! | (head[at + 1]! << 8));
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if ((flags & flag) === 0) continue;
    const end = head.indexOf(0, at);
    if (end < 0) return { problem: `its gzip header's ${flag === FNAME ? 'name' : 'comment'} is unterminated or too long` };
    at = end + 1;
  }
  if (flags & FHCRC) at += 2;
  if (at > head.length || at > MAX_GZIP_HEADER) return { problem: 'its gzip header is truncated or too long' };
  return at;
}

/** What {@link inflateGzip} found in a gzip file whose payload it wrote. */
export interface InflatedGzip {
  fileSize: number;
  header: Uint8Array;
  trailer: Uint8Array;
  /** Bytes of the deflate stream (from the header's end to the trailer). */
  deflateSize: number;
  payloadSize: number;
}

/** Options of {@link inflateGzip}. */
export interface InflateGzipOptions {
  /** The payload may be at most this many bytes (a larger one is refused: a bomb, or just too large). */
  maxPayload: number;
  signal?: AbortSignal | undefined;
}

/**
 * Inflates the single gzip member in `path` into `write`, checking its CRC-32 and size.
 * Resolves with what it found, or with `{ problem }` when the file is not one gzip member
 * this code can rebuild (damaged, several members or trailing bytes, a CRC or size that
 * does not match, a payload over `maxPayload`): then what was written is to be discarded.
 * Rejects only with an IO error on `path`, an error of `write`, or ABORTED.
 */
export async function inflateGzip(
  path: string,
  write: (chunk: Uint8Array) => Promise<void>,
  options: InflateGzipOptions,
): Promise<InflatedGzip | { problem: string }> {
  const { signal, maxPayload } = options;
  throwIfAborted(signal);
  const fh = await open(path, 'r').catch((cause: unknown) => Promise.reject(ioError('read', path, cause)));
  let fileSize: number;
  let head: Buffer;
  try {
    fileSize = (await fh.stat()).size;
    head = Buffer.alloc(Math.min(fileSize, MAX_GZIP_HEADER + 16));
    await fh.read(head, 0, head.length, 0);
  } catch (cause) {
    throw ioError('read', path, cause);
  } finally {
    await fh.close();
  }
  const headerLength = gzipHeaderLength(head);
  if (typeof headerLength !== 'number') return headerLength;
  const inflate = createInflateRaw({ chunkSize: 64 * 1024 });
  let payloadSize = 0;
  let crc = 0;
  let overLimit = false;
  const stop = new AbortController();
  const pipeSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  try {
    await pipeline(
      createReadStream(path, { start: headerLength, highWaterMark: READ_SIZE }),
      inflate,
      async (chunks: AsyncIterable<Buffer>) => {
        for await (const chunk of chunks) {
          payloadSize += chunk.length;
          if (payloadSize > maxPayload) {
            overLimit = true;
            stop.abort();
            return;
          }
          crc = crc32(chunk, crc);
          await write(chunk);
        }
      },
      { signal: pipeSignal },
    );
  } catch (cause) {
    throwIfAborted(signal);
    if (overLimit) return { problem: `its payload is over ${maxPayload} bytes` };
    if (SyncError.is(cause)) throw cause;
    const code = (cause as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('Z_')) return { problem: `its deflate stream is damaged (${code})` };
    throw ioError('read', path, cause);
  }
  if (overLimit) return { problem: `its payload is over ${maxPayload} bytes` };
  const deflateSize = inflate.bytesWritten;
  const trailerAt = headerLength + deflateSize;
  if (fileSize !== trailerAt + GZIP_TRAILER) {
    return {
      problem:
        fileSize < trailerAt + GZIP_TRAILER ? 'its gzip trailer is truncated' : 'bytes follow its first gzip member (several members)',
    };
  }
  const trailer = Buffer.alloc(GZIP_TRAILER);
  const th = await open(path, 'r').catch((cause: unknown) => Promise.reject(ioError('read', path, cause)));
  try {
    await th.read(trailer, 0, GZIP_TRAILER, trailerAt);
  } catch (cause) {
    throw ioError('read', path, cause);
  } finally {
    await th.close();
  }
  if (trailer.readUInt32LE(0) !== crc >>> 0) return { problem: "its payload's CRC-32 does not match the gzip trailer" };
  if (trailer.readUInt32LE(4) !== payloadSize % 2 ** 32) return { problem: "its payload's size does not match the gzip trailer" };
  return { fileSize, header: Uint8Array.from(head.subarray(0, headerLength)), trailer, deflateSize, payloadSize };
}

/** zlib's deflate parameters. */
export interface DeflateParams {
  level: number;
  memLevel: number;
  strategy: number;
  windowBits: number;
}

/**
 * The parameters tried, likeliest first: level 9 then 6 with memLevel 8 (npm's tarballs:
 * 9 for typescript and esbuild, 6 for a large native package, docs/archives.md), then
 * every other level with memLevel 8, every level with the other memLevels, and the
 * filtered strategy. Each wrong candidate costs only the input it takes to emit its first
 * differing byte (one deflate block, tens of kilobytes).
 */
export function deflateCandidates(): DeflateParams[] {
  const out: DeflateParams[] = [];
  const add = (level: number, memLevel: number, strategy = constants.Z_DEFAULT_STRATEGY) => {
    if (!out.some((p) => p.level === level && p.memLevel === memLevel && p.strategy === strategy))
      out.push({ level, memLevel, strategy, windowBits: 15 });
  };
  add(9, 8);
  add(6, 8);
  for (let level = 1; level <= 9; level++) add(level, 8);
  for (const memLevel of [9, 7, 6, 5, 4, 3, 2, 1]) for (let level = 1; level <= 9; level++) add(level, memLevel);
  add(9, 8, constants.Z_FILTERED);
  add(6, 8, constants.Z_FILTERED);
  return out;
}

/**
 * True when deflating the payload at `payloadPath` with `params` gives exactly the
 * `deflateSize` bytes at `offset` of `publishedPath`. Stops at the first differing byte.
 */
export async function reproduces(
  publishedPath: string,
  offset: number,
  deflateSize: number,
  payloadPath: string,
  params: DeflateParams,
  signal?: AbortSignal,
): Promise<boolean> {
  const fh = await open(publishedPath, 'r').catch((cause: unknown) => Promise.reject(ioError('read', publishedPath, cause)));
  const expected = Buffer.allocUnsafe(READ_SIZE);
  let at = 0;
  let differs = false;
  const stop = new AbortController();
  const pipeSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  try {
    await pipeline(
      // Small pieces: a wrong candidate shows its first differing block after tens of kilobytes.
      createReadStream(payloadPath, { highWaterMark: SEARCH_PIECE }),
      createDeflateRaw({ ...params, chunkSize: SEARCH_PIECE }),
      async (chunks: AsyncIterable<Buffer>) => {
        for await (const chunk of chunks) {
          if (at + chunk.length > deflateSize) differs = true;
          else {
            const { bytesRead } = await fh.read(expected, 0, chunk.length, offset + at);
            differs = bytesRead !== chunk.length || expected.compare(chunk, 0, chunk.length, 0, chunk.length) !== 0;
          }
          if (differs) {
            stop.abort();
            return;
          }
          at += chunk.length;
        }
      },
      { signal: pipeSignal },
    );
  } catch (cause) {
    throwIfAborted(signal);
    if (!differs) throw ioError('read', payloadPath, cause);
  } finally {
    await fh.close();
  }
  return !differs && at === deflateSize;
}

/**
 * The first of {@link deflateCandidates} that reproduces the stream, or undefined. Gives
 * up after `maxTries` candidates (default all of them).
 */
export async function findDeflateParams(
  publishedPath: string,
  inflated: InflatedGzip,
  payloadPath: string,
  options: { signal?: AbortSignal | undefined; maxTries?: number } = {},
): Promise<DeflateParams | undefined> {
  const candidates = deflateCandidates().slice(0, options.maxTries);
  for (const params of candidates) {
    if (await reproduces(publishedPath, inflated.header.length, inflated.deflateSize, payloadPath, params, options.signal)) return params;
  }
  return undefined;
}

/**
 * Writes the gzip file `archive` describes, from the payload at `payloadPath`: its header,
 * the payload deflated with its parameters, its trailer. Resolves with the size and
 * SHA-256 of what was written; the caller compares them with the archive's before it
 * uses the result.
 */
export async function writeGzip(
  payloadPath: string,
  archive: GzipArchive,
  write: (chunk: Uint8Array) => Promise<void>,
  signal?: AbortSignal,
): Promise<{ size: number; sha256: Uint8Array }> {
  throwIfAborted(signal);
  const hash = createHash('sha256');
  let size = 0;
  const emit = async (chunk: Uint8Array) => {
    hash.update(chunk);
    size += chunk.length;
    await write(chunk);
  };
  await emit(archive.header);
  const { level, memLevel, strategy, windowBits } = archive;
  try {
    await pipeline(
      createReadStream(payloadPath, { highWaterMark: READ_SIZE }),
      createDeflateRaw({ level, memLevel, strategy, windowBits, chunkSize: 256 * 1024 }),
      async (chunks: AsyncIterable<Buffer>) => {
        for await (const chunk of chunks) await emit(chunk);
      },
      { signal: signal ?? new AbortController().signal },
    );
  } catch (cause) {
    throwIfAborted(signal);
    if (SyncError.is(cause)) throw cause;
    throw ioError('read', payloadPath, cause);
  }
  await emit(archive.trailer);
  return { size, sha256: hash.digest() };
}
