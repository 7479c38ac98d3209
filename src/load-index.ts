/**
 * Loading an index from a path or an http(s) URL, with a size cap, and working out
 * where the reference it describes can be fetched.
 *
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { ErrorCodes, SyncError, throwIfAborted } from './errors.js';
import type { BlockIndex } from './index/block-index.js';
import { DEFAULT_MAX_INDEX_BYTES, decodeIndex } from './index/format.js';
import { httpGet } from './sources/http-source.js';

/** Options of {@link loadIndex}. */
export interface LoadIndexOptions {
  signal?: AbortSignal;
  /** Refuse indexes larger than this (default 1 GiB). */
  maxBytes?: number;
  /** Extra HTTP request headers. */
  headers?: Record<string, string>;
}

/** A loaded index and where it came from. */
export interface LoadedIndex {
  index: BlockIndex;
  /** The final URL the index was fetched from (after redirects), if it came over HTTP. */
  url?: string;
  /** The local path, if it was read from disk. */
  path?: string;
  /** Size of the encoded index in bytes. */
  bytes: number;
}

/** True for `http:` and `https:` URLs. */
export function isHttpUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/**
 * Loads and decodes an index from a local path or an http(s) URL.
 *
 * @example
 * ```ts
 * const { index, url } = await loadIndex('https://cdn.example.com/app.bin.gosync');
 * ```
 */
export async function loadIndex(location: string, options: LoadIndexOptions = {}): Promise<LoadedIndex> {
  throwIfAborted(options.signal);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_INDEX_BYTES;
  if (isHttpUrl(location)) {
    const got = await httpGet(location, {
      maxBytes,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.headers ? { headers: options.headers } : {}),
    });
    return { index: decodeIndex(got.body, { maxBytes }), url: got.url, bytes: got.body.length };
  }
  let data: Uint8Array;
  try {
    const st = await stat(location);
    if (st.size > maxBytes) {
      throw new SyncError(ErrorCodes.INDEX_CORRUPT, `Cannot read the index ${location}: it is ${st.size} bytes, over the limit of ${maxBytes}`, { path: location });
    }
    data = await readFile(location, options.signal ? { signal: options.signal } : {});
  } catch (cause) {
    if (SyncError.is(cause)) throw cause;
    throwIfAborted(options.signal);
    throw new SyncError(ErrorCodes.IO, `Cannot read the index ${location}: ${(cause as Error).message}`, { cause, path: location });
  }
  return { index: decodeIndex(data, { maxBytes }), path: location, bytes: data.length };
}

/**
 * Where to fetch the reference: the explicit argument, else the URL in the index
 * (resolved against the index URL when relative), else the index URL without its
 * `.gosync` suffix. Throws NO_REFERENCE when none applies.
 */
export function resolveReference(loaded: LoadedIndex, explicit?: string): string {
  if (explicit) return explicit;
  const fromIndex = loaded.index.url;
  if (fromIndex) {
    if (isHttpUrl(fromIndex)) return fromIndex;
    if (loaded.url) return new URL(fromIndex, loaded.url).href;
  }
  if (loaded.url) {
    const u = new URL(loaded.url);
    if (u.pathname.endsWith('.gosync')) {
      u.pathname = u.pathname.slice(0, -'.gosync'.length);
      return u.href;
    }
  }
  throw new SyncError(
    ErrorCodes.NO_REFERENCE,
    'Cannot patch: no reference URL (give one as an argument, build the index with --url, or fetch the index from a URL ending in .gosync)',
  );
}
