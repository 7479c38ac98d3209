/**
 * Loading an index from a path or an http(s) URL, with a size cap, and working out
 * where the reference it describes can be fetched.
 *
 * The format is told by the first bytes: a gosync index (`GOSYNCIX`), a zsync control
 * file (`zsync:`), or a go-sync index (`G0S9NC`: it records no whole-file hash, so a result
 * patched from it is verified block by block against its MD5s, and its length). See
 * src/formats/detect.ts.
 *
 * @module
 */
import { readFile, stat } from '../util/fs-promises.js';
import { ErrorCodes, SyncError, ioError, throwIfAborted } from '../core/errors.js';
import type { DecodedAnyIndex } from '../formats/detect.js';
import { type IndexFormat, detectIndexFormat } from '../formats/index-magic.js';
import type { ZsyncControl } from '../formats/zsync-control.js';
import type { BlockIndex } from '../core/index/block-index.js';
import { DEFAULT_MAX_INDEX_BYTES, HEADER_SIZE, decodeIndex, isGosyncIndex, readIndexHeader } from '../core/index/format.js';

/**
 * Fetches of an index over HTTP before giving up on damaged data (a flipped byte, a body cut
 * short that fails to decode): middleboxes and caches occasionally hand back damaged bytes.
 */
const MAX_INDEX_FETCHES = 3;
/** Bytes of an index checked before the rest is downloaded: the format's magic and, for a gosync index, its declared size. */
const INDEX_HEAD_BYTES = HEADER_SIZE;

/**
 * Decodes any known index. gosync's own is decoded directly; the other formats' codecs
 * (and the WASM hashes zsync needs) are loaded only when such an index turns up.
 */
async function decodeAny(data: Uint8Array, options: { maxBytes: number; name: string }): Promise<DecodedAnyIndex> {
  if (isGosyncIndex(data)) return { format: 'gosync', index: decodeIndex(data, { maxBytes: options.maxBytes }) };
  const { decodeAnyIndex } = await import('../formats/detect.js');
  return decodeAnyIndex(data, options);
}

/** Options of {@link loadIndex}. */
export interface LoadIndexOptions {
  signal?: AbortSignal;
  /** Refuse indexes larger than this (default 1 GiB). */
  maxBytes?: number;
  /** Extra HTTP request headers. */
  headers?: Record<string, string>;
  /** The undici dispatcher for HTTP (e.g. from `createHttpDispatcher` with a `ca`). Default undici's global one. */
  dispatcher?: import('undici').Dispatcher;
  /** The index's bytes, fetched already from `url` (a server that answered a range request whole). */
  prefetched?: { body: Uint8Array; url: string };
}

/** A loaded index and where it came from. */
export interface LoadedIndex {
  index: BlockIndex;
  /**
   * The URL the index was fetched from, if it came over HTTP: the final one after redirects,
   * or the one asked for when a redirect led to another origin or a signed (query) URL.
   */
  url?: string;
  /** The local path, if it was read from disk. */
  path?: string;
  /** Size of the encoded index in bytes. */
  bytes: number;
  /** The index's format: `gosync`, `zsync` or `go-sync`. */
  format?: IndexFormat;
  /** For a `.zsync`: the whole control file (every URL, Filename, MTime, headers). */
  zsync?: ZsyncControl;
}

/** True for `http:` and `https:` URLs. */
export function isHttpUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/**
 * Loads and decodes an index from a local path or an http(s) URL: a gosync index or a
 * `.zsync` control file (zsync 0.6.2's, or the newer form with `File-Hash`), or a go-sync
 * index. A go-sync index has no whole-file hash: it is mapped with `goSyncV0AsBlockIndex`,
 * and the patched result is then verified block by block against its MD5s (every block,
 * local ones included) and its length.
 *
 * @example
 * ```ts
 * const { index, url } = await loadIndex('https://cdn.example.com/app.bin.gosync');
 * ```
 */
export async function loadIndex(location: string, options: LoadIndexOptions = {}): Promise<LoadedIndex> {
  throwIfAborted(options.signal);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_INDEX_BYTES;
  if (isHttpUrl(location)) return loadRemoteIndex(location, maxBytes, options);
  const failed = (cause: unknown) => {
    throwIfAborted(options.signal);
    return Promise.reject(ioError('read the index', location, cause));
  };
  const st = await stat(location).catch(failed);
  if (st.size > maxBytes) {
    throw new SyncError(
      ErrorCodes.INDEX_CORRUPT,
      `Cannot read the index ${location}: it is ${st.size} bytes, over the limit of ${maxBytes}`,
      {
        path: location,
      },
    );
  }
  const data: Uint8Array = await readFile(location, options.signal ? { signal: options.signal } : {}).catch(failed);
  const decoded = await decodeAny(data, { maxBytes, name: location });
  return { index: decoded.index, path: location, bytes: data.length, ...described(decoded) };
}

/**
 * An index over HTTP: its first bytes are checked before the rest is downloaded (a 50 MB
 * error page or a wrong file is refused after 32 bytes, an index declaring more than
 * `maxBytes` before it is buffered), and an index that fails to decode (damaged on the way)
 * is fetched again, up to {@link MAX_INDEX_FETCHES} times.
 */
async function loadRemoteIndex(location: string, maxBytes: number, options: LoadIndexOptions): Promise<LoadedIndex> {
  const { httpGet } = await import('../sources/http/http-get.js');
  const check = (head: Uint8Array): void => {
    if (detectIndexFormat(head) === undefined) {
      throw new SyncError(ErrorCodes.INDEX_CORRUPT, `Cannot read the index ${redact(location)}: it is not an index (unknown first bytes)`, {
        url: redact(location),
      });
    }
    if (isGosyncIndex(head) && head.length >= HEADER_SIZE) readIndexHeader(head, { maxBytes });
  };
  let prefetched = options.prefetched && options.prefetched.body.length <= maxBytes ? options.prefetched : undefined;
  for (let fetches = 1; ; fetches++) {
    try {
      const got =
        prefetched ??
        (await httpGet(location, {
          maxBytes,
          head: { bytes: INDEX_HEAD_BYTES, check },
          ...(options.signal ? { signal: options.signal } : {}),
          ...(options.headers ? { headers: options.headers } : {}),
          ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
        }));
      const decoded = await decodeAny(got.body, { maxBytes, name: got.url });
      return { index: decoded.index, url: publicUrl(location, got.url), bytes: got.body.length, ...described(decoded) };
    } catch (error) {
      if (!(SyncError.is(error) && error.code === ErrorCodes.INDEX_CORRUPT) || fetches >= MAX_INDEX_FETCHES) throw error;
      throwIfAborted(options.signal);
      prefetched = undefined;
    }
  }
}

/**
 * The URL that names the index for resolving the reference and its forms: the final URL after
 * redirects, unless the redirect went to another origin or added a query (a signed object URL
 * that expires within minutes, as GitHub release assets answer): then the URL as asked,
 * whose neighbours are published under the same stable names.
 */
export function publicUrl(asked: string, final: string): string {
  const a = new URL(asked);
  const f = new URL(final);
  return f.origin !== a.origin || (f.search !== '' && f.search !== a.search) ? asked : final;
}

/** A URL for messages, without credentials. */
function redact(location: string): string {
  const url = new URL(location);
  url.username = '';
  url.password = '';
  return url.href;
}

function described(decoded: DecodedAnyIndex): Pick<LoadedIndex, 'format' | 'zsync'> {
  return { format: decoded.format, ...(decoded.zsync ? { zsync: decoded.zsync } : {}) };
}

/** Suffixes stripped from an index URL to find the reference when the index names none. */
const INDEX_SUFFIXES = ['.gosync', '.zsync'];

/**
 * Where to fetch the reference: the explicit argument, else the URL in the index
 * (resolved against the index URL when relative), else the index URL without its
 * `.gosync` or `.zsync` suffix. Throws NO_REFERENCE when none applies, in particular for
 * an index read from a local file that names the reference by a relative URL: as with
 * zsync, that URL is relative to where the index is published, which a local copy does
 * not know, so the reference must be given.
 *
 * A reference taken from an index fetched over HTTP is always an http(s) URL: whoever
 * serves the index must not choose which local file is read. A URL of another scheme
 * (`file:`, `ftp:`, a Windows drive such as `c:/x`, which parses as the scheme `c:`)
 * or with a backslash (a UNC path `\\server\share`) is refused with NO_REFERENCE. Only
 * the explicit argument may be a local path.
 */
export function resolveReference(loaded: LoadedIndex, explicit?: string): string {
  if (explicit) return explicit;
  const fromIndex = loaded.index.url;
  if (fromIndex) {
    if (isHttpUrl(fromIndex)) return fromIndex;
    if (loaded.url) return remoteReference(fromIndex, loaded.url);
    throw new SyncError(
      ErrorCodes.NO_REFERENCE,
      `Cannot patch: the index names the reference "${fromIndex}", relative to the URL the index is published at, but it was read from ${loaded.path ?? 'a local file'}; ` +
        'give the reference URL (or a local path) as an argument, or load the index from its URL',
      loaded.path ? { path: loaded.path } : {},
    );
  }
  if (loaded.url) {
    const u = new URL(loaded.url);
    const suffix = INDEX_SUFFIXES.find((s) => u.pathname.endsWith(s));
    if (suffix) {
      u.pathname = u.pathname.slice(0, -suffix.length);
      return u.href;
    }
  }
  throw new SyncError(
    ErrorCodes.NO_REFERENCE,
    'Cannot patch: no reference URL (give one as an argument, build the index with --url, or fetch the index from a URL ending in .gosync or .zsync)',
  );
}

/**
 * The reference named by an index fetched from `indexUrl` by a URL that is not an
 * absolute http(s) one: `named` resolved against it, which must give an http(s) URL. A
 * backslash is refused before parsing, since the URL parser reads it as a slash and a
 * Windows path (`\\server\share`, `c:\x`) must not pass for a URL.
 */
function remoteReference(named: string, indexUrl: string): string {
  const refuse = (why: string) =>
    new SyncError(
      ErrorCodes.NO_REFERENCE,
      `Cannot patch: the index fetched from ${indexUrl} names the reference "${named}", ${why}; ` +
        'a remote index may only name an http(s) URL (absolute, or relative to the index URL); give the reference as an argument',
      { url: indexUrl },
    );
  if (named.includes('\\')) throw refuse('which holds a backslash (a local path, not a URL)');
  let resolved: URL;
  try {
    resolved = new URL(named, indexUrl);
  } catch {
    throw refuse('which is not a valid URL');
  }
  if (resolved.protocol !== 'http:' && resolved.protocol !== 'https:') throw refuse(`whose scheme "${resolved.protocol}" is not http(s)`);
  return resolved.href;
}
