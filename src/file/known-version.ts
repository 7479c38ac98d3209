/**
 * Patching a known version from an index URL, reading only the index's summary: a client
 * whose local file is exactly an earlier version the publisher named (`build --base`)
 * needs neither the block records nor a scan. It fetches the last bytes of the index
 * (version 3's summary: the new size and SHA-256, and the first bytes of each base's
 * SHA-256), hashes its local file meanwhile (on a thread of its own) and asks for the delta
 * its version would have as soon as the digest names it, beside the summary; when the
 * summary lists its version it applies that delta as it arrives (else the request is
 * dropped); the result is checked against the summary's
 * SHA-256 before it replaces anything. A local file that already is the new version (its
 * size and SHA-256 are the summary's) is copied to the output (or left as it is), with nothing
 * fetched but the summary. In every other case (an older index, another local version, a
 * failed or damaged delta) it reports why not, and the caller patches from the whole index as
 * usual; a whole index a server sent in place of the summary is handed over.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { open, realpath, stat, unlink } from '../util/fs-promises.js';
import { ErrorCodes, SyncError, throwIfAborted } from '../core/errors.js';
import {
  BASE_PREFIX_BYTES,
  SUMMARY_FIXED_SIZE,
  baseDeltaName,
  isArchiveTail,
  readIndexSummary,
  type IndexSummary,
} from '../core/index/format.js';
import { checkResult } from '../core/verify.js';
import type { DeltaKind } from '../forms/delta-file.js';
import { AtomicFile, staleTempFiles } from '../localfs/atomic-file.js';
import { fileStamp, stampOf } from '../localfs/stamp.js';
import { publicUrl } from './load-index.js';
import type { Dispatcher } from 'undici';
import type { HttpGetOptions } from '../sources/http/http-get.js';
import type { HttpStreamResult } from '../sources/http/http-stream.js';
import type { Sha256Thread } from '../workers/sha256-thread.js';
import { builtin } from '../util/builtin.js';

const { availableParallelism } = builtin('node:os');

/**
 * The size from which a local file asks for its delta before the summary says it exists:
 * a version the index does not list then costs a 404 (nginx: 153 bytes of body, a few
 * hundred with the headers), about 1% of the index such a client goes on to read and less
 * for larger files (bun's 107 MB: an index of 184 kB); on a small file it would not be
 * small (jquery.js, 284 kB: 61,730 bytes moved for another version, 61,883 with the 404,
 * over zsync's 61,754).
 */
export const EARLY_DELTA_MIN_SIZE = 16 * 1024 * 1024;

/**
 * The size from which a file is hashed on a thread of its own ({@link Sha256Thread}); a
 * smaller one is hashed on the calling thread. 16 MiB take 9 ms at the 1.8 GB/s SHA-256 of
 * this machine, while a thread costs 50 ms of CPU to start (hyperfine: a Worker of an empty
 * script, user + system) and on a patch of jquery.js (284 kB) through nginx the known-version
 * attempt with a thread took 100 ms more CPU than `--raw` without it.
 */
export const HASH_THREAD_MIN_SIZE = 16 * 1024 * 1024;

/**
 * Up to this many cores a large local file's digest waits for the summary (see
 * LocalDigest.startSoon). The identical 256 MiB patch of the bench through nginx on loopback,
 * where the summary names no base: 413 ms with the thread started at once, 374 ms without
 * the summary attempt at all (hyperfine, 20 runs each, 2 cores).
 */
const LAZY_DIGEST_CORES = 2;

/**
 * A summary slower than this starts a large local file's digest while it is awaited. The
 * first request of the process took 14-20 ms on loopback (the connection and undici's
 * parser, timestamps in the process); through the bench's emulated link (50 ms round trips)
 * it takes two (connect, request), 100 ms and more.
 */
const SLOW_SUMMARY_MS = 40;

/** Options of {@link patchKnownVersion}. */
export interface KnownVersionOptions {
  /** The local file, perhaps an earlier version the index lists. */
  local: string;
  /** The index's http(s) URL. */
  indexUrl: string;
  /** The output file (default: `local`, replaced atomically). */
  output?: string;
  /** Flush the result to disk before the rename (default false). */
  fsync?: boolean;
  /** Extra HTTP request headers. */
  headers?: Record<string, string>;
  /** The undici dispatcher of every request (a CA to trust, a proxy); default undici's global one. */
  dispatcher?: Dispatcher;
  /**
   * Local files of at least this size ask for their delta beside the summary, before they
   * know it exists (default {@link EARLY_DELTA_MIN_SIZE}).
   */
  earlyDeltaMinSize?: number;
  /**
   * Files (the local one, the result) of at least this size are hashed on a thread of their
   * own, smaller ones on the calling thread (default {@link HASH_THREAD_MIN_SIZE}).
   */
  hashThreadMinSize?: number;
  /**
   * Start the digest of a local file of {@link hashThreadMinSize} or more at once, while the
   * summary is on its way (default: with more than two cores); else only once the summary
   * is slow to come or shows that the digest is needed.
   */
  eagerDigest?: boolean;
  /**
   * Called once the summary shows that no delta applies, while the whole index is on its
   * way: the caller may load what its block patch needs meanwhile.
   */
  onMiss?: () => void;
  signal?: AbortSignal;
}

/** A patch made from a delta found through the summary, or a local file found to be the new version. */
export interface KnownVersionPatch {
  applied: true;
  output: string;
  fileSize: number;
  sha256: Uint8Array;
  /** The delta's kind, and its bytes; `identical` (no delta) when the local file already was the new version. */
  kind: DeltaKind | 'identical';
  /** For `identical`: the output is the local file, left untouched. */
  upToDate?: boolean;
  deltaBytes: number;
  /** Bytes of the index read (the summary). */
  indexBytes: number;
  /** HTTP requests made. */
  requests: number;
  seconds: number;
}

/** Why no delta was applied; `index` holds the whole index when a server sent it already. */
export interface KnownVersionMiss {
  applied: false;
  reason: string;
  /** The whole index and its final URL, when the summary request brought it. */
  index?: { body: Uint8Array; url: string };
  /** Bytes of the index read so far. */
  indexBytes: number;
}

/**
 * Tries to patch `local` (into `output`) from a delta the index's summary lists for its
 * exact version. Resolves with what was done, or with why not; throws only ABORTED.
 */
export async function patchKnownVersion(options: KnownVersionOptions): Promise<KnownVersionPatch | KnownVersionMiss> {
  const started = performance.now();
  const { signal } = options;
  throwIfAborted(signal);
  const localStat = await stat(options.local, { bigint: true }).catch(() => undefined);
  if (!localStat?.isFile()) return { applied: false, reason: 'there is no local file', indexBytes: 0 };
  const size = Number(localStat.size);
  const get = getOptions(options);
  // The local digest: see LocalDigest.startSoon. A large result is hashed on a thread of its
  // own as it is written, a small one here.
  const hashing = new Hashing(options.hashThreadMinSize ?? HASH_THREAD_MIN_SIZE);
  let indexBytes = 0;
  let requests = 0;
  let stopSpeculation = () => {};
  let summaryCame = () => {};
  try {
    const [{ httpGet }, { httpGetStream }] = await Promise.all([
      import('../sources/http/http-get.js'),
      import('../sources/http/http-stream.js'),
    ]);
    const local = new LocalDigest(options, size, hashing, (url, at) => {
      requests++;
      return httpGetStream(url, { ...get, signal: at, maxBytes: Number.MAX_SAFE_INTEGER });
    });
    stopSpeculation = () => local.stop();
    summaryCame = local.startSoon();
    let got = await httpGet(options.indexUrl, { ...get, range: `bytes=-${SUMMARY_FIXED_SIZE + BASE_PREFIX_BYTES}`, maxBytes: 1 << 30 });
    summaryCame();
    requests++;
    indexBytes += got.body.length;
    if (!got.partial)
      return { applied: false, reason: 'the server sent the whole index', index: { body: got.body, url: got.url }, indexBytes };
    // The index's last bytes so far; on a miss they are the end of the whole index. Later
    // requests and the delta's name use the index's public URL: a signed URL a redirect led
    // to (GitHub's release assets) expires within minutes, the URL asked for does not.
    const tail: Tail = {
      bytes: got.body,
      url: publicUrl(options.indexUrl, got.url),
      ...(got.totalSize !== undefined ? { total: got.totalSize } : {}),
      ...(got.etag ? { etag: got.etag } : {}),
    };
    let summary = readIndexSummary(tail.bytes);
    if (summary !== undefined && 'need' in summary) {
      // More bases than the first request covered: fetch just the bytes before it.
      const opts = before(tail, summary.need);
      got = await httpGet(tail.url, { ...get, ...opts, headers: { ...get.headers, ...opts.headers }, maxBytes: 1 << 30 });
      requests++;
      indexBytes += got.body.length;
      if (!got.partial)
        return { applied: false, reason: 'the index changed meanwhile', index: { body: got.body, url: got.url }, indexBytes };
      tail.bytes = tail.total === undefined ? got.body : Buffer.concat([got.body, tail.bytes]);
      summary = readIndexSummary(tail.bytes);
    }
    const miss = (reason: string): Promise<KnownVersionMiss> => {
      stopSpeculation();
      const whole = wholeIndexMiss(reason, tail, get, indexBytes);
      // Two turns of the event loop: the request is on its way (httpGet sends it after one).
      if (options.onMiss) setImmediate(() => setImmediate(() => options.onMiss?.()));
      return whole;
    };
    // An archive published by its payload (version 4) has its own summary: file/known-archive.ts.
    // (Its code, and the archive code it loads, only then: 15-20 ms of loading before the
    // whole index was asked for, identical 256 MiB patch of the bench, module load times.)
    if (summary === undefined && isArchiveTail(tail.bytes)) {
      // Archive deltas are named by the base's payload, not its file: the early request was no use.
      stopSpeculation();
      const { patchKnownArchive } = await import('./known-archive.js');
      return await patchKnownArchive({ options, tail, get, digest: local.start(), started, indexBytes, requests, miss });
    }
    if (summary === undefined || 'need' in summary) return await miss('the index has no summary (an older version)');
    const sameSize = summary.fileSize === size;
    // No base listed and another size: no need to wait for the local digest (~0.1 s for 100 MB).
    if (summary.bases.length === 0 && !sameSize) return await miss('the index lists no delta');
    // Of the new version's size, the local file may be it, which its digest tells; on a link
    // that answered the summary at once (no digest started meanwhile) the rest of the index
    // comes sooner than a large file's digest would.
    if (summary.bases.length === 0 && !local.started) return await miss('the index lists no delta');
    const waited = await digestOrIndex(local.start(), summary.bases.length === 0, tail, get, indexBytes);
    if (!('local' in waited)) return waited;
    const { fallback } = waited;
    if (sameSize && waited.local.equals(summary.sha256)) {
      stopSpeculation();
      waited.stop();
      const done = await identicalPatch(options, localStat, summary, { indexBytes, requests, started });
      return done ?? (await miss('the local file changed while it was hashed'));
    }
    if (fallback) return await fallback;
    const base = summary.bases.find((b) => waited.local.subarray(0, BASE_PREFIX_BYTES).equals(b));
    if (base === undefined) return await miss('the index lists no delta from this local version');
    const deltaUrl = deltaUrlOf(tail.url, base);
    // A delta larger than its result would never be published: that bounds the download
    // (applyDeltaChunks counts the bytes of the early request against it).
    const maxDeltaBytes = summary.fileSize + 4096;
    // Applied as it arrives: over a slow link the apply is done about when the download is.
    // The early request serves when it asked for this URL and got an answer; else (a redirect
    // to another index URL, a failure) the delta is asked for again.
    let delta = await local.earlyDelta(deltaUrl);
    if (delta === undefined) {
      delta = await httpGetStream(deltaUrl, { ...get, maxBytes: maxDeltaBytes });
      requests++;
    }
    const counted = countedChunks(delta.body);
    const output = options.output ?? options.local;
    const kind = await applyInto(counted, maxDeltaBytes, options.local, output, summary, await hashing.result(summary.fileSize), options);
    return {
      applied: true,
      output,
      fileSize: summary.fileSize,
      sha256: summary.sha256,
      kind,
      deltaBytes: counted.bytes,
      indexBytes,
      requests,
      seconds: (performance.now() - started) / 1000,
    };
  } catch (err) {
    if (SyncError.is(err) && err.code === ErrorCodes.ABORTED) throw err;
    return { applied: false, reason: `the delta did not apply (${(err as Error).message})`, indexBytes };
  } finally {
    summaryCame();
    stopSpeculation();
    await hashing.close();
  }
}

/** The options of every request of a known-version patch. */
function getOptions(options: KnownVersionOptions): HttpGetOptions {
  return {
    ...(options.headers ? { headers: options.headers } : {}),
    ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
}

/** `body`'s chunks, passed on as they come, and how many bytes went by (`bytes`). */
function countedChunks(body: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> & { bytes: number } {
  const counted = {
    bytes: 0,
    async *[Symbol.asyncIterator]() {
      for await (const chunk of body) {
        counted.bytes += chunk.length;
        yield chunk;
      }
    },
  };
  return counted;
}

/**
 * The local file's digest, once it is known. With no base listed (`noBase`) the rest of the
 * index is asked for meanwhile and whichever comes first decides: the index (the miss, the
 * usual patch following as soon as without this check) or the digest (then the index may not
 * be needed: `stop` ends its request, `fallback` is the miss for when it is). With bases
 * listed the digest is waited for anyway. A digest that fails leaves the usual patch.
 */
async function digestOrIndex(
  digest: Promise<Uint8Array>,
  noBase: boolean,
  tail: Tail,
  get: HttpGetOptions,
  indexBytes: number,
): Promise<{ local: Buffer; fallback?: Promise<KnownVersionMiss>; stop: () => void } | KnownVersionMiss> {
  const rest = new AbortController();
  const stop = () => rest.abort();
  if (!noBase) return { local: Buffer.from(await digest), stop };
  const signal = get.signal ? AbortSignal.any([get.signal, rest.signal]) : rest.signal;
  const fallback = wholeIndexMiss('the index lists no delta', tail, { ...get, signal }, indexBytes);
  fallback.catch(() => {});
  const first = await Promise.race([digest.catch(() => fallback), fallback]);
  return first instanceof Uint8Array ? { local: Buffer.from(first), fallback, stop } : first;
}

/** The patch of a local file the summary says is the new version (see identicalInto); undefined when it changed meanwhile. */
async function identicalPatch(
  options: KnownVersionOptions,
  localStat: BigIntStats,
  summary: IndexSummary,
  counts: { indexBytes: number; requests: number; started: number },
): Promise<KnownVersionPatch | undefined> {
  const output = options.output ?? options.local;
  const upToDate = await identicalInto(options.local, output, localStat, options);
  if (upToDate === undefined) return undefined;
  return {
    applied: true,
    output,
    fileSize: summary.fileSize,
    sha256: summary.sha256,
    kind: 'identical',
    upToDate,
    deltaBytes: 0,
    indexBytes: counts.indexBytes,
    requests: counts.requests,
    seconds: (performance.now() - counts.started) / 1000,
  };
}

/**
 * Makes `output` the local file, which the summary's size and SHA-256 say is the new
 * version: nothing to do when it is the local file (true: up to date), else a copy in the
 * kernel (a reflink, or `copy_file_range`) renamed into place (false). Undefined, with
 * nothing written, when the local file changed since `hashed` (its state before it was hashed).
 */
async function identicalInto(
  local: string,
  output: string,
  hashed: BigIntStats,
  options: KnownVersionOptions,
): Promise<boolean | undefined> {
  const unchanged = async () => (await fileStamp(local)) === stampOf(hashed);
  const [a, b] = await Promise.all([realpath(output).catch(() => output), realpath(local).catch(() => local)]);
  if (a === b) return (await unchanged()) ? true : undefined;
  const stale = await staleTempFiles(output, { maxSize: Math.max(4 * Number(hashed.size), 64 << 20) });
  const file = await AtomicFile.create(output);
  try {
    await file.copyFrom(local);
    if (!(await unchanged())) {
      await file.abort();
      return undefined;
    }
    await file.commit({ fsync: options.fsync ?? false });
  } catch (err) {
    await file.abort();
    throw err;
  }
  await Promise.all(stale.map((path) => unlink(path).catch(() => {})));
  return false;
}

/** A miss, with the whole index (the bytes before the tail fetched now) when it can be had. */
async function wholeIndexMiss(reason: string, tail: Tail, get: HttpGetOptions, indexBytes: number): Promise<KnownVersionMiss> {
  const index = await wholeIndex(tail, get).catch((err: unknown) => {
    if (SyncError.is(err) && err.code === ErrorCodes.ABORTED) throw err;
    return undefined;
  });
  return {
    applied: false,
    reason,
    indexBytes: indexBytes + (index?.fetched ?? 0),
    ...(index ? { index: { body: index.body, url: tail.url } } : {}),
  };
}

/** The SHA-256 work of a patch: on a thread of its own for large files, on this one for small ones. */
class Hashing {
  /** The size from which a file is hashed on the thread. */
  readonly minSize: number;
  #thread: Sha256Thread | undefined;

  constructor(threadMinSize: number) {
    this.minSize = threadMinSize;
  }

  async #started(): Promise<Sha256Thread> {
    this.#thread ??= new (await import('../workers/sha256-thread.js')).Sha256Thread();
    return this.#thread;
  }

  /** The SHA-256 of the file at `path`, of `size` bytes. */
  async file(path: string, size: number, signal: AbortSignal | undefined, here = false): Promise<Uint8Array> {
    if (here || size < this.minSize) return hashFileHere(path, signal);
    return (await this.#started()).hashFile(path, signal ? { signal } : {});
  }

  /** A hasher of a result of `size` bytes as it is written. */
  async result(size: number): Promise<ResultHasher> {
    return size < this.minSize ? new FollowHere() : await this.#started();
  }

  async close(): Promise<void> {
    await this.#thread?.close();
  }
}

/**
 * The local file's digest, started on demand ({@link start}), and the delta from this exact
 * version, asked for as soon as the digest names it, beside the summary: a round trip less
 * over a long link. That answer is read only once the summary lists this version; otherwise
 * it is dropped ({@link stop}; a 404 costs a few bytes).
 */
class LocalDigest {
  readonly #options: KnownVersionOptions;
  readonly #size: number;
  readonly #hashing: Hashing;
  readonly #get: (url: string, signal: AbortSignal) => Promise<HttpStreamResult>;
  readonly #speculation = new AbortController();
  #digest: Promise<Uint8Array> | undefined;
  #early: Promise<{ url: string; response?: Promise<HttpStreamResult> }> | undefined;
  /** Hash on this thread even a file of the thread's size (see startSoon). */
  #here = false;

  constructor(
    options: KnownVersionOptions,
    size: number,
    hashing: Hashing,
    get: (url: string, signal: AbortSignal) => Promise<HttpStreamResult>,
  ) {
    this.#options = options;
    this.#size = size;
    this.#hashing = hashing;
    this.#get = get;
  }

  /** Whether the digest was started. */
  get started(): boolean {
    return this.#digest !== undefined;
  }

  /** The digest (started by the first call), and from {@link EARLY_DELTA_MIN_SIZE} the early request. */
  start(): Promise<Uint8Array> {
    if (this.#digest !== undefined) return this.#digest;
    const { signal } = this.#options;
    const digest = this.#hashing.file(this.#options.local, this.#size, signal, this.#here);
    digest.catch(() => {});
    this.#early = digest.then((local) => {
      if (this.#size < (this.#options.earlyDeltaMinSize ?? EARLY_DELTA_MIN_SIZE)) return { url: '' };
      const url = deltaUrlOf(this.#options.indexUrl, local.subarray(0, BASE_PREFIX_BYTES));
      const response = this.#get(url, signal ? AbortSignal.any([signal, this.#speculation.signal]) : this.#speculation.signal);
      response.catch(() => {});
      return { url, response };
    });
    this.#early.catch(() => {});
    this.#digest = digest;
    return digest;
  }

  /**
   * Starts the digest while the summary is awaited: a small file's at once (milliseconds,
   * on this thread); a large one (on a thread of its own: {@link Hashing.minSize}) at once where a
   * spare core makes it cheap, else only once the summary is seen to be slow (a long link,
   * where the digest then names the delta a round trip sooner; {@link SLOW_SUMMARY_MS}) or
   * to need it: a thread's start and the hashing are ~70 ms of CPU, on two cores taken from
   * the command's own start ({@link LAZY_DIGEST_CORES}). Returns what to call once the
   * summary came.
   */
  startSoon(): () => void {
    const lazy = this.#size >= this.#hashing.minSize && !(this.#options.eagerDigest ?? availableParallelism() > LAZY_DIGEST_CORES);
    if (!lazy) {
      this.start();
      return () => {};
    }
    // Then on this thread, idle while it waits: no thread's start to pay. Through the bench's
    // emulated link the bun known-version patch took 0.65 s with the thread started at once,
    // 0.70 s with a thread started after SLOW_SUMMARY_MS (medians of 7 alternating runs),
    // 0.68 s against 0.66 s hashed here (11 runs); on loopback 0.63 against 0.62 s.
    this.#here = true;
    const timer = setTimeout(() => this.start(), SLOW_SUMMARY_MS);
    return () => clearTimeout(timer);
  }

  /** The early answer, when it is for `url` and came. */
  async earlyDelta(url: string): Promise<HttpStreamResult | undefined> {
    const spec = await this.#early;
    return spec?.url === url ? await spec.response?.catch(() => undefined) : undefined;
  }

  /** Ends the early request. */
  stop(): void {
    this.#speculation.abort();
  }
}

/** Reads of 1 MiB when hashing on this thread. */
const HASH_READ_SIZE = 1 << 20;

/** SHA-256 of the first `length` bytes of the file at `path` (all of them by default), read here. */
async function hashFileHere(path: string, signal: AbortSignal | undefined, length = Number.POSITIVE_INFINITY): Promise<Uint8Array> {
  const hash = createHash('sha256');
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(HASH_READ_SIZE);
    for (let at = 0; at < length; ) {
      throwIfAborted(signal);
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, length - at), at);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      at += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return new Uint8Array(hash.digest());
}

/** What {@link applyInto} needs of a hasher that follows the result as it is written. */
type ResultHasher = Pick<Sha256Thread, 'follow' | 'advance' | 'digest'>;

/** A small result hashed here once written: read back from the page cache at the end. */
class FollowHere implements ResultHasher {
  #path = '';
  #length = 0;
  follow(path: string): void {
    this.#path = path;
  }
  advance(length: number): void {
    this.#length = length;
  }
  digest(): Promise<Uint8Array> {
    return hashFileHere(this.#path, undefined, this.#length);
  }
}

/** The URL of the delta from the base whose SHA-256 starts with `prefix`, next to the index at `indexUrl`. */
function deltaUrlOf(indexUrl: string, prefix: Uint8Array): string {
  const indexName = decodeURIComponent(new URL(indexUrl).pathname.split('/').pop() ?? '');
  return new URL(encodeURIComponent(baseDeltaName(indexName, prefix)), indexUrl).href;
}

/** The last bytes of the index read so far, and what the server said of the whole. */
interface Tail {
  bytes: Uint8Array;
  url: string;
  /** The index's size, from Content-Range. */
  total?: number;
  etag?: string;
}

/**
 * The request options for the `need` last bytes when `tail` holds the last ones already:
 * only the bytes before them, and (with an ETag) only if the index is still the same.
 */
function before(tail: Tail, need: number): Pick<HttpGetOptions, 'range' | 'headers'> {
  if (tail.total === undefined) return { range: `bytes=-${need}` };
  return {
    range: `bytes=${Math.max(0, tail.total - need)}-${tail.total - tail.bytes.length - 1}`,
    ...(tail.etag ? { headers: { 'if-range': tail.etag } } : {}),
  };
}

/**
 * The whole index, when the summary did not help: the bytes before the tail, so nothing
 * is fetched twice (an index that changed meanwhile comes whole: If-Range). Undefined when
 * the size is unknown.
 */
async function wholeIndex(tail: Tail, get: HttpGetOptions): Promise<{ body: Uint8Array; fetched: number } | undefined> {
  if (tail.total === undefined || tail.total < tail.bytes.length) return undefined;
  if (tail.total === tail.bytes.length) return { body: tail.bytes, fetched: 0 };
  const opts = before(tail, tail.total);
  const { httpGet } = await import('../sources/http/http-get.js');
  const got = await httpGet(tail.url, { ...get, ...opts, headers: { ...get.headers, ...opts.headers }, maxBytes: tail.total });
  return { body: got.partial ? Buffer.concat([got.body, tail.bytes]) : got.body, fetched: got.body.length };
}

/** Applies `delta` to `local`, writing `output` atomically once the result matches the summary. */
async function applyInto(
  delta: AsyncIterable<Uint8Array>,
  maxDeltaBytes: number,
  local: string,
  output: string,
  summary: IndexSummary,
  hasher: ResultHasher,
  options: KnownVersionOptions,
): Promise<DeltaKind> {
  // Loaded when a delta is applied (its formats: bsdiff's suffix array among them), not to
  // find out whether there is one.
  const { applyDeltaChunks } = await import('../forms/delta-file.js');
  // Temporary files stopped runs left beside the output: not needed here (the delta's base
  // is the local file), removed once the result is in place, as a block patch would.
  const stale = await staleTempFiles(output, { maxSize: Math.max(4 * summary.fileSize, 64 << 20) });
  const file = await AtomicFile.create(output);
  // The hashing thread reads the result back as it is written (sha256-thread.ts); a small
  // result is read back at the end.
  hasher.follow(file.tempPath);
  let length = 0;
  try {
    const { kind } = await applyDeltaChunks(
      delta,
      local,
      {
        async write(chunk) {
          await file.write(chunk);
          length += chunk.length;
          hasher.advance(length);
        },
      },
      { newSize: summary.fileSize, maxDeltaBytes, ...(options.signal ? { signal: options.signal } : {}) },
    );
    checkResult({ fileSize: summary.fileSize, fileDigest: { algorithm: 'sha256', digest: summary.sha256 } }, length, await hasher.digest());
    await file.commit({ fsync: options.fsync ?? false });
    await Promise.all(stale.map((path) => unlink(path).catch(() => {})));
    return kind;
  } catch (err) {
    await file.abort();
    throw err;
  }
}
