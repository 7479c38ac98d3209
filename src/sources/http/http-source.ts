/**
 * The HTTP block source: fetches byte ranges of a published reference with `Range`
 * requests, over several keep-alive connections, coping with the servers found in the wild
 * (multi-range answers in every shape, servers that ignore `Range`, redirects to CDNs,
 * flaky connections, references replaced mid-read).
 *
 * @module
 */

import type { Dispatcher } from 'undici';
import { ErrorCodes, SyncError, throwIfAborted } from '../../core/errors.js';
import { assertRanges, type BlockSource, type ByteRange, type ReadRangesOptions, type SourceStats } from '../../core/block-source.js';
import {
  DEFAULT_MAX_REDIRECTS,
  DEFAULT_TIMEOUT_MS,
  DRAIN_LIMIT,
  baseHeaders,
  contentLength,
  discardBody,
  headerValue,
  networkFailure,
  redactUrl,
  ResponseBody,
  sendRequest,
  statusFailure,
  statusLine,
  toHttpUrl,
  type HttpResponse,
} from './http-request.js';
import { SINGLE_RANGE_CONNECTIONS, createHttpDispatcher } from './dispatcher.js';
import { type HostProfile, hostProfile, mergeGapLimit } from './host-profile.js';
import { MultipartByteRangesParser, multipartBoundary } from './multipart.js';
import { formatRangeHeader, formatRangeSpec, parseContentRange, parseUnsatisfiedRange } from './range-headers.js';
import { type Job, Piece, RangeScheduler } from './range-scheduler.js';
import { TokenBucket } from '../../util/token-bucket.js';
import { DEFAULT_RETRY_POLICY, isRetryable, retryDelayMs, sleep, type RetryPolicy } from './retry-policy.js';

export { httpGet, type HttpGetOptions, type HttpGetResult } from './http-get.js';
export { createHttpDispatcher } from './dispatcher.js';

/** Options of {@link HttpSource}. */
export interface HttpSourceOptions {
  /** Concurrent keep-alive connections (and requests in flight). Default 4. */
  connections?: number;
  /** Ranges per request (`Range: bytes=a-b,c-d,...`); 1 disables multi-range. Default 16. */
  maxRangesPerRequest?: number;
  /**
   * Requests in flight once the host proved to take one range per request (S3, GitHub,
   * Node static servers): each request then carries one range, so more of them overlap their
   * round trips. Default `connections` when set, else 64 (docs/hosting.md has the measurement).
   */
  singleRangeConnections?: number;
  /**
   * For hosts that take one range per request: the largest gap between two ranges that one
   * request may span (its bytes are fetched and dropped), while the spanned gaps stay within
   * a quarter of the bytes asked for. Default 0: never span a gap (docs/hosting.md).
   */
  mergeGap?: number;
  /** Bound on bytes received but not yet consumed (out-of-order results). Default 32 MiB. */
  maxBytesInFlight?: number;
  /** Larger ranges are split into requests of at most this many bytes, so one big range still uses every connection. Default 4 MiB. */
  maxRequestBytes?: number;
  /** Timeout for the response headers, and idle timeout while reading a body. Default 30 000 ms. */
  timeoutMs?: number;
  /** Retries of a request after a transient failure (reset, timeout, 5xx, 429). Default 5. */
  retries?: number;
  /** Backoff before the first retry, doubled per retry, with jitter. Default 200 ms. */
  retryDelayMs?: number;
  /** Cap of the backoff (a longer `Retry-After` is still honoured, up to 60 s). Default 10 000 ms. */
  maxRetryDelayMs?: number;
  /** Redirects followed per request (301/302/303/307/308, http and https only). Default 5. */
  maxRedirects?: number;
  /** Download cap in bytes per second, shared by all connections (for `--bwlimit`). */
  bytesPerSecond?: number;
  /**
   * A limiter shared with other sources (a folder patch's files: one `--bwlimit` for all),
   * used instead of one of `bytesPerSecond`.
   */
  limiter?: TokenBucket;
  /** Extra request headers, e.g. `Authorization` (dropped on redirects to another origin). */
  headers?: Record<string, string>;
  /** The reference length, if known (from the index): a different length reported by the server is SOURCE_CHANGED. */
  expectedSize?: number;
  /**
   * The undici dispatcher to use instead of a private one (then `close()` leaves it open), e.g.
   * from `createHttpDispatcher`. A plain undici 7 `Agent` works, but once one of its
   * connections drops it may stop reusing connections (nodejs/undici#5022; see `dispatcher.ts`).
   */
  dispatcher?: Dispatcher;
  /**
   * Offer HTTP/2 to https origins, with the private dispatcher (the server chooses). Default
   * `HTTP2_DEFAULT` of `dispatcher.ts` (docs/hosting.md has the measurement).
   */
  http2?: boolean;
  /** The User-Agent header. Default `gosync`. */
  userAgent?: string;
}

const MiB = 1024 * 1024;
/**
 * Default of {@link HttpSourceOptions.mergeGap}: none. Same bench: spanning gaps of up to
 * 8-32 KiB (a quarter to 0.4 of the bytes) moved 1.31-1.57x the bytes and, with 64 requests
 * in flight, did not take less time (1.9x against 1.4x, within the noise of a shared machine).
 */
const MERGE_GAP = 0;
/** Spanned gaps of one read stay within this share of the bytes asked for. */
const MERGE_BUDGET = 0.25;
/** Times one request is sent again to the original URL after its redirect target expired (403). */
const MAX_REDIRECT_RENEWALS = 2;
/**
 * Statuses with which servers refuse a multi-range request that they would answer one range
 * at a time: 400 and 416 (Cloudflare for more ranges than it takes or out-of-order ones), 501
 * (GitHub release assets, as electron-updater and zsync2 found: both turn multi-range off
 * there). Such an answer switches the source to single ranges instead of failing.
 */
const REFUSES_MULTI_RANGE: ReadonlySet<number> = new Set([400, 416, 501]);

/** Longest wait for the answer to the multi-range probe. */
const PROBE_TIMEOUT_MS = 5000;
/** Keep `Range` headers below this many characters (servers limit header lines to 4–8 KiB). */
const MAX_RANGE_HEADER_CHARS = 4000;
/** Longest wait for such a rest to come in. */
const DRAIN_TIMEOUT_MS = 5000;
/**
 * Bytes a multipart part may carry beyond those asked for: the gaps between asked ranges that
 * a server merged into one part. A part is held in memory until its end; a server merging
 * larger gaps gets single-range requests instead (as for any unusable multipart answer).
 */
const MAX_PART_EXTRA = 64 * 1024;

/** What identifies the version of the reference that answered first. */
interface Identity {
  readonly etag: string | undefined;
  readonly lastModified: string | undefined;
}

/**
 * A {@link BlockSource} reading byte ranges of a URL.
 *
 * - Ranges are cut into requests of up to `maxRangesPerRequest` ranges and `maxRequestBytes`
 *   bytes, run on up to `connections` connections, and delivered in order within
 *   `maxBytesInFlight` of buffered memory.
 * - Before its first multi-range GET, the source asks with one HEAD whether the server
 *   answers several ranges with 206 (if not, a GET would bring the whole file).
 * - Multi-range answers are matched by each part's `Content-Range`; merged or coalesced parts
 *   are fine. If a server mangles multi-range answers (or refuses them), the source switches to
 *   one range per request for the rest of its life.
 * - If a server ignores `Range` and sends the whole body (200), the needed bytes are picked
 *   from the stream, and from then on the rest of each read is picked from one full GET.
 * - The first answer's strong ETag (else Last-Modified) is sent as `If-Range` afterwards; any
 *   sign that the reference changed (other ETag, other length, a 200 to an `If-Range`) is a
 *   SOURCE_CHANGED SyncError, so bytes of two versions are never mixed.
 * - Transient failures are retried with backoff, resuming only the missing bytes; permanent
 *   statuses fail at once with HTTP_STATUS.
 * - Connections are kept alive across requests and reads: a request stops reading once it
 *   has its bytes, but a short rest of the answer (a multipart closing boundary, a small tail)
 *   is still read so the connection stays usable; only a long unwanted rest, an error or an
 *   abort closes it.
 *
 * @example
 * ```ts
 * const source = new HttpSource('https://example.com/big.iso', { expectedSize: 4_700_000_000 });
 * try {
 *   for await (const chunk of source.read([{ start: 0, end: 4096 }, { start: 1 << 20, end: (1 << 20) + 4096 }])) write(chunk);
 * } finally {
 *   await source.close();
 * }
 * ```
 */
export class HttpSource implements BlockSource {
  /** The URL as given, without credentials. */
  readonly name: string;
  /** Requests sent (retries and redirect hops included) and body bytes received (multipart headers included). */
  readonly stats: SourceStats = { requests: 0, bytes: 0 };

  #url: URL;
  /** The URL as given: redirects are followed from it again when their target expires. */
  readonly #start: URL;
  readonly #connections: number;
  readonly #singleConnections: number;
  readonly #mergeGap: number;
  readonly #maxRangesPerRequest: number;
  readonly #maxBytesInFlight: number;
  readonly #maxRequestBytes: number;
  readonly #timeoutMs: number;
  readonly #maxRedirects: number;
  readonly #retry: RetryPolicy;
  readonly #headers: Record<string, string>;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #limiter: TokenBucket | undefined;
  /** What this origin's answers taught (shared with the sources of the same dispatcher). */
  readonly #profile: HostProfile;
  /** The reference length: expected, or learned from the first answer. */
  #size: number | undefined;
  #identity: Identity | undefined;
  #closing: Promise<void> | undefined;

  /**
   * @param url an absolute http or https URL (TypeError otherwise)
   * @param options see {@link HttpSourceOptions}; out-of-range values throw RangeError
   */
  constructor(url: string | URL, options: HttpSourceOptions = {}) {
    this.#url = toHttpUrl(url);
    this.#start = this.#url;
    this.name = redactUrl(this.#url);
    this.#connections = positiveInteger('connections', options.connections, 4);
    this.#maxRangesPerRequest = positiveInteger('maxRangesPerRequest', options.maxRangesPerRequest, 16);
    // Connections set by the caller cap the single-range requests too, unless set apart.
    this.#singleConnections = positiveInteger(
      'singleRangeConnections',
      options.singleRangeConnections,
      options.connections ?? SINGLE_RANGE_CONNECTIONS,
    );
    this.#mergeGap = nonNegativeInteger('mergeGap', options.mergeGap, MERGE_GAP);
    this.#maxBytesInFlight = positiveInteger('maxBytesInFlight', options.maxBytesInFlight, 32 * MiB);
    this.#maxRequestBytes = positiveInteger('maxRequestBytes', options.maxRequestBytes, 4 * MiB);
    this.#timeoutMs = positiveInteger('timeoutMs', options.timeoutMs, DEFAULT_TIMEOUT_MS);
    this.#maxRedirects = nonNegativeInteger('maxRedirects', options.maxRedirects, DEFAULT_MAX_REDIRECTS);
    this.#retry = {
      retries: nonNegativeInteger('retries', options.retries, DEFAULT_RETRY_POLICY.retries),
      baseDelayMs: nonNegativeInteger('retryDelayMs', options.retryDelayMs, DEFAULT_RETRY_POLICY.baseDelayMs),
      maxDelayMs: nonNegativeInteger('maxRetryDelayMs', options.maxRetryDelayMs, DEFAULT_RETRY_POLICY.maxDelayMs),
    };
    if (options.expectedSize !== undefined) this.#size = nonNegativeInteger('expectedSize', options.expectedSize, 0);
    this.#headers = baseHeaders(options.headers, options.userAgent);
    // Range and If-Range are the source's own business.
    delete this.#headers.range;
    delete this.#headers['if-range'];
    this.#limiter = options.limiter ?? (options.bytesPerSecond === undefined ? undefined : new TokenBucket(options.bytesPerSecond));
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#dispatcher =
      options.dispatcher ??
      // Keep-alive pools per origin (the reference's, and a CDN's after a redirect), through
      // the environment's proxy.
      createHttpDispatcher({
        connections: Math.max(this.#connections, this.#singleConnections),
        timeoutMs: this.#timeoutMs,
        ...(options.http2 === undefined ? {} : { http2: options.http2 }),
      });
    this.#profile = hostProfile(this.#dispatcher, this.#url.origin);
  }

  /** The URL requests currently go to (the final one after redirects), without credentials. */
  get url(): string {
    return redactUrl(this.#url);
  }

  /**
   * Yields the bytes of `ranges` in order (see {@link BlockSource.read}). Rejects with
   * OUT_OF_RANGE for bad ranges, HTTP_STATUS, HTTP_RESPONSE, NETWORK, REDIRECT or
   * SOURCE_CHANGED for fetch failures, and ABORTED when `signal` fires. Stopping the
   * iteration early cancels the requests in flight.
   */
  read(ranges: readonly ByteRange[], options: ReadRangesOptions = {}): AsyncIterable<Uint8Array> {
    return this.#read(ranges, options);
  }

  /** Closes the connections (only those of the private dispatcher). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#ownsDispatcher ? this.#dispatcher.close() : Promise.resolve();
    return this.#closing;
  }

  async *#read(ranges: readonly ByteRange[], { signal, onBytes }: ReadRangesOptions): AsyncGenerator<Uint8Array, void, undefined> {
    if (this.#closing !== undefined) throw new TypeError(`Cannot read from ${this.name}: the source is closed`);
    throwIfAborted(signal);
    assertRanges(ranges, this.#size);
    await this.#probeFirst(ranges, signal);
    const read: ReadState = { onBytes, streamer: undefined, gapLimit: undefined, scheduler: undefined };
    const pieces = this.#split(ranges);
    const source = this;
    const scheduler = new RangeScheduler(
      pieces,
      {
        // Read at each start: the host's answers change how many requests may overlap.
        get concurrency() {
          return source.#inFlight();
        },
        maxBytesInFlight: this.#maxBytesInFlight,
        plan: (all, first) => this.#plan(all, first, read),
        run: (job) => this.#runJob(job, read),
      },
      signal,
    );
    read.scheduler = scheduler;
    try {
      yield* scheduler.chunks();
    } finally {
      await scheduler.close();
    }
  }

  /**
   * The multi-range probe now (see {@link BlockSource.prepare}), while the caller scans its
   * local files, instead of as the first read's first round trip.
   */
  async prepare(ranges: readonly ByteRange[], options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#probeFirst(ranges, options.signal).catch(() => {});
  }

  /**
   * Before the first read of several ranges from a host: the multi-range probe, so that
   * requests are formed for what the host takes (one range per request, or several).
   */
  async #probeFirst(ranges: readonly ByteRange[], signal: AbortSignal | undefined): Promise<void> {
    if (this.#maxRangesPerRequest === 1 || ranges.length < 2 || this.#profile.ignoresRange) return;
    if (this.#profile.probe === undefined) {
      const controller = new AbortController();
      const abort = (): void => controller.abort(signal?.reason);
      signal?.addEventListener('abort', abort, { once: true });
      this.#profile.probe = this.#probeMultiRange(ranges.slice(0, this.#maxRangesPerRequest), controller.signal).finally(() =>
        signal?.removeEventListener('abort', abort),
      );
    }
    await this.#profile.probe;
    throwIfAborted(signal);
  }

  /** Cuts ranges into pieces of at most `maxRequestBytes`. */
  #split(ranges: readonly ByteRange[]): Piece[] {
    const pieces: Piece[] = [];
    for (const range of ranges) {
      for (let start = range.start; start < range.end; start += this.#maxRequestBytes) {
        pieces.push(new Piece(start, Math.min(range.end, start + this.#maxRequestBytes)));
      }
    }
    return pieces;
  }

  /** Ranges one request may carry now. */
  #maxRanges(): number {
    return Math.min(this.#maxRangesPerRequest, this.#profile.maxRanges);
  }

  /**
   * Requests in flight. One until the host answered a range request with a 206: a host that
   * ignores Range sends every request the whole body, so the first answer decides (then one
   * streaming request serves the whole read). More for a host taking one range per request.
   */
  #inFlight(): number {
    if (!this.#profile.honoursRange) return 1;
    return this.#maxRanges() > 1 ? this.#connections : Math.max(this.#connections, this.#singleConnections);
  }

  /** For single-range requests: the largest gap one request spans in this read. */
  #gapLimit(read: ReadState, pieces: readonly ByteRange[]): number {
    read.gapLimit ??= mergeGapLimit(pieces, this.#mergeGap, MERGE_BUDGET);
    return read.gapLimit;
  }

  /** Forms the next request: one streaming job in whole-body mode, else a run of ranges. */
  #plan(pieces: readonly Piece[], first: number, read: ReadState): { count: number; streaming: boolean } {
    if (this.#profile.ignoresRange) return { count: pieces.length - first, streaming: true };
    const maxRanges = this.#maxRanges();
    if (maxRanges === 1) return { count: this.#spanCount(pieces, first, this.#gapLimit(read, pieces)), streaming: false };
    let count = 0;
    let bytes = 0;
    let headerChars = 'bytes='.length;
    for (let i = first; i < pieces.length && count < maxRanges; i++) {
      const piece = pieces[i]!;
      const chars = formatRangeSpec(piece).length + 1;
      if (count > 0 && (bytes + piece.end - piece.start > this.#maxRequestBytes || headerChars + chars > MAX_RANGE_HEADER_CHARS)) break;
      count++;
      bytes += piece.end - piece.start;
      headerChars += chars;
    }
    return { count, streaming: false };
  }

  /**
   * How many pieces from `first` on one single-range request spans: consecutive ones whose
   * gaps are at most `gapLimit` (pieces of one split range are never joined again), up to
   * `maxRequestBytes`.
   */
  #spanCount(pieces: readonly ByteRange[], first: number, gapLimit: number): number {
    const start = pieces[first]!.start;
    let count = 1;
    for (let i = first + 1; i < pieces.length; i++) {
      const gap = pieces[i]!.start - pieces[i - 1]!.end;
      if (gap <= 0 || gap > gapLimit || pieces[i]!.end - start > this.#maxRequestBytes) break;
      count++;
    }
    return count;
  }

  /** Fetches a job's bytes, retrying transient failures and resuming where it stopped. */
  async #runJob(job: Job, read: ReadState): Promise<void> {
    let attempts = 0;
    let failures = 0;
    let badAnswers = 0;
    let renewals = 0;
    while (!job.complete) {
      if (this.#maxRangesPerRequest > 1 && !job.streaming && this.#profile.probe === undefined) {
        // One probe per host, before its first request for several ranges; every request
        // waits for it.
        const missing = job.missing();
        if (missing.length > 1) this.#profile.probe = this.#probeMultiRange(missing.slice(0, this.#maxRangesPerRequest), job.signal);
      }
      await this.#profile.probe;
      const ranges = this.#rangesFor(job, read);
      const before = job.received;
      attempts++;
      try {
        await this.#fetch(job, ranges, read);
      } catch (error) {
        if (job.signal.aborted) throw error;
        if (error instanceof RedirectExpired && ++renewals <= MAX_REDIRECT_RENEWALS) continue;
        if (SyncError.is(error)) {
          if (error.code !== ErrorCodes.HTTP_RESPONSE) throw error;
          if (ranges.length > 1) {
            // Multi-range answers are unusable here (a 200, 400, 416 or 501, or an answer holding
            // only some of the ranges): one range per request from now on.
            this.#profile.limitRanges(1);
            continue;
          }
          if (++badAnswers > 1) throw error;
          continue;
        }
        if (job.received > before) failures = 0;
        failures++;
        if (!isRetryable(error) || failures > this.#retry.retries) throw networkFailure(this.#url, error, attempts);
        await sleep(retryDelayMs(failures, this.#retry, error), job.signal);
      }
    }
  }

  /**
   * Asks once, with a HEAD carrying the first multi-range `Range`, whether the server answers
   * several ranges with 206. Servers that limit ranges (nginx `max_ranges`, some CDNs) or
   * ignore them answer 200, and a GET would then send the whole file, which a client cannot
   * stop in time. A failed or odd probe (HEAD refused, timeout) changes nothing.
   */
  async #probeMultiRange(ranges: readonly ByteRange[], signal: AbortSignal): Promise<void> {
    try {
      const response = await sendRequest(this.#url, {
        method: 'HEAD',
        dispatcher: this.#dispatcher,
        headers: { ...this.#headers, range: formatRangeHeader(ranges) },
        signal,
        timeoutMs: Math.min(this.#timeoutMs, PROBE_TIMEOUT_MS),
        maxRedirects: this.#maxRedirects,
        onRequest: () => this.stats.requests++,
      });
      // The GET that follows opens a connection of its own (undici frees this one a turn of
      // the event loop later; see connectionReleased): on a reused connection nginx's
      // multipart answer often ended 40 ms late (its last boundary held until the client's
      // delayed ACK; 1 run in 3 of the jquery.js patch), which a new connection, in Linux's
      // quick-ACK mode, does not wait for.
      await discardBody(response.body);
      const profile = this.#profile;
      if (response.statusCode === 206) {
        profile.honoursRange = true;
        // One part that does not span every range asked for: the first range only
        // (http-server, serve, some S3-compatible stores).
        const sent = parseContentRange(headerValue(response.headers, 'content-range'));
        const multipart = multipartBoundary(headerValue(response.headers, 'content-type')) !== undefined;
        const spans = sent !== undefined && sent.start <= ranges[0]!.start && sent.end >= ranges[ranges.length - 1]!.end;
        if (!multipart && !spans) profile.limitRanges(1);
      } else if (response.statusCode === 200 || REFUSES_MULTI_RANGE.has(response.statusCode)) {
        profile.limitRanges(1);
      }
    } catch {
      // No answer: find out with the GETs. After an abort, let a later read ask again.
      if (signal.aborted) this.#profile.probe = undefined;
    }
  }

  /**
   * The ranges to request next for a job, given what the host takes: its missing ranges (as
   * many as one request may carry), or for one range per request a span over the first of
   * them whose gaps are small enough.
   */
  #rangesFor(job: Job, read: ReadState): ByteRange[] {
    if (job.streaming) return [job.span()];
    const missing = job.missing();
    const maxRanges = this.#maxRanges();
    if (maxRanges > 1) return missing.length > maxRanges ? missing.slice(0, maxRanges) : missing;
    const gapLimit = read.gapLimit ?? 0;
    let count = 1;
    while (count < missing.length) {
      const gap = missing[count]!.start - missing[count - 1]!.end;
      if (gap <= 0 || gap > gapLimit || missing[count]!.end - missing[0]!.start > this.#maxRequestBytes) break;
      count++;
    }
    return [count === 1 ? missing[0]! : { start: missing[0]!.start, end: missing[count - 1]!.end }];
  }

  /** One request for `ranges`, its answer written into the job. */
  async #fetch(job: Job, ranges: readonly ByteRange[], read: ReadState): Promise<void> {
    const headers: Record<string, string> = { ...this.#headers, range: formatRangeHeader(ranges) };
    const ifRange = this.#ifRange();
    if (ifRange !== undefined) headers['if-range'] = ifRange;
    const response = await sendRequest(this.#url, {
      dispatcher: this.#dispatcher,
      headers,
      signal: job.signal,
      timeoutMs: this.#timeoutMs,
      maxRedirects: this.#maxRedirects,
      onRequest: () => this.stats.requests++,
    });
    if (response.statusCode === 403 && this.#url.href !== this.#start.href) {
      // The redirect target (a signed URL valid for minutes: GitHub release assets) expired:
      // follow the redirects from the start again.
      await discardBody(response.body);
      this.#url = this.#start;
      throw new RedirectExpired();
    }
    this.#url = response.url;
    const reader: BodyReader = { job, read, url: response.url, body: new ResponseBody(response) };
    try {
      if (response.statusCode === 206) await this.#readPartial(reader, ranges, response);
      else if (response.statusCode === 200 && ranges.length > 1) this.#refuseWhole(response, ranges, ifRange);
      else if (response.statusCode === 200) await this.#readWhole(reader, response, ifRange);
      else {
        await discardBody(response.body);
        throw this.#statusError(response, ranges);
      }
    } catch (error) {
      reader.body.destroy();
      throw error;
    }
    // The job has its bytes; the readers stop there. Let the rest of the answer come in (if
    // short) without holding up the job: the job's signal no longer aborts once it is complete.
    reader.body.release(DRAIN_LIMIT, Math.min(this.#timeoutMs, DRAIN_TIMEOUT_MS));
  }

  /** The host answered a range request with a 206: more requests may run at once from now on. */
  #honoured(read: ReadState): void {
    if (this.#profile.honoursRange) return;
    this.#profile.honoursRange = true;
    read.scheduler?.refresh();
  }

  /** A 206 answer: one part, or multipart/byteranges. */
  async #readPartial(reader: BodyReader, ranges: readonly ByteRange[], response: HttpResponse): Promise<void> {
    this.#checkEncoding(response);
    this.#checkIdentity(response);
    const boundary = multipartBoundary(headerValue(response.headers, 'content-type'));
    if (boundary !== undefined) return this.#readMultipart(reader, ranges, boundary);
    const header = headerValue(response.headers, 'content-range');
    const sent = parseContentRange(header);
    if (sent === undefined) throw badAnswer(reader.url, `the 206 answer has ${header === undefined ? 'no' : 'an invalid'} Content-Range`);
    this.#checkSize(sent.total, reader.url);
    const first = ranges[0]!.start;
    const last = ranges[ranges.length - 1]!.end;
    // One range must come back exactly; several may come back coalesced into one covering range.
    const fits = ranges.length === 1 ? sent.start === first && sent.end === last : sent.start <= first && sent.end >= last;
    // Several ranges answered with a part from the first one on that stops short: the first
    // range only (http-server, serve). Its bytes are kept; the rest is asked again.
    const short = ranges.length > 1 && sent.start === first && sent.end < last;
    if (!fits && !short) {
      throw badAnswer(reader.url, `asked for bytes ${first}-${last - 1} but the server sent ${sent.start}-${sent.end - 1}`);
    }
    this.#honoured(reader.read);
    const length = contentLength(response.headers);
    if (length !== undefined && length !== sent.end - sent.start) {
      throw badAnswer(reader.url, `the Content-Length ${length} does not match the Content-Range ${sent.start}-${sent.end - 1}`);
    }
    let offset = sent.start;
    for (let chunk = await reader.body.next(); chunk !== undefined; chunk = await reader.body.next()) {
      await this.#count(reader, chunk.length);
      if (offset + chunk.length > sent.end)
        throw badAnswer(reader.url, `the body is longer than its Content-Range ${sent.start}-${sent.end - 1}`);
      reader.job.write(offset, chunk);
      offset += chunk.length;
      // Stop once every asked byte is in (a coalesced answer may span large gaps after it).
      if (reader.job.complete) return;
      if (reader.job.streaming) await reader.job.waitForRoom();
    }
    if (offset < sent.end)
      throw badAnswer(reader.url, `the body ended at byte ${offset}, before the end of its Content-Range ${sent.start}-${sent.end - 1}`);
    if (short) throw badAnswer(reader.url, `the server answered ${ranges.length} ranges with bytes ${sent.start}-${sent.end - 1} only`);
  }

  /** A multipart/byteranges answer: parts are matched by their Content-Range. */
  async #readMultipart(reader: BodyReader, ranges: readonly ByteRange[], boundary: string): Promise<void> {
    this.#honoured(reader.read);
    // A part is held until its end: one declared outside the span asked for, or longer than
    // the bytes asked for and a few merged gaps, is refused from its headers, so a server
    // cannot make the client buffer more than that.
    const within = { start: ranges[0]!.start, end: ranges[ranges.length - 1]!.end };
    const asked = ranges.reduce((n, r) => n + r.end - r.start, 0);
    const parser = new MultipartByteRangesParser(boundary, redactUrl(reader.url), { within, maxPartBytes: asked + MAX_PART_EXTRA });
    for (let chunk = await reader.body.next(); chunk !== undefined; chunk = await reader.body.next()) {
      await this.#count(reader, chunk.length);
      for (const part of parser.push(chunk)) {
        this.#checkSize(part.total, reader.url);
        let offset = part.start;
        for (const bytes of part.chunks) {
          reader.job.write(offset, bytes);
          offset += bytes.length;
        }
      }
      // Every asked part is in (each one checked against the boundary after it): the closing
      // boundary may still be on its way.
      if (reader.job.complete) return;
    }
    const missing = ranges.filter((range) => !reader.job.has(range));
    if (missing.length > 0) {
      parser.finish();
      const list = missing.slice(0, 3).map(formatRangeSpec).join(', ');
      throw badAnswer(
        reader.url,
        `the multipart answer lacks ${missing.length} of the ${ranges.length} ranges asked for (${list}${missing.length > 3 ? ', ...' : ''})`,
      );
    }
  }

  /**
   * A 200 answer to a multi-range request. Servers that honour single ranges often answer
   * too many ranges this way (nginx `max_ranges`, some CDNs), so rather than download up to
   * the last range, drop it and go on with single ranges; a 200 to those means the server
   * really ignores `Range`.
   */
  #refuseWhole(response: HttpResponse, ranges: readonly ByteRange[], ifRange: string | undefined): never {
    this.#checkEncoding(response);
    this.#checkIdentity(response);
    this.#checkValidatorEcho(response, ifRange);
    throw badAnswer(response.url, `the server answered a request for ${ranges.length} ranges with the whole body (200)`);
  }

  /**
   * A 200 answer to a range request: the server ignores `Range`. Pick the needed bytes from
   * the stream, and let this download also serve every range not started yet.
   */
  async #readWhole(reader: BodyReader, response: HttpResponse, ifRange: string | undefined): Promise<void> {
    this.#checkEncoding(response);
    this.#checkIdentity(response);
    this.#checkValidatorEcho(response, ifRange);
    this.#checkSize(contentLength(response.headers), reader.url);
    if (this.#profile.honoursRange) {
      // The host answered ranges before: this whole body is a fluke (a cache or a middlebox
      // dropping Range), not the host's way. Drop it and ask again.
      throw new RangeIgnored(`Cannot fetch ${redactUrl(reader.url)}: the server ignored Range once (200 with the whole body)`);
    }
    this.#profile.ignoresRange = true;
    const { job, read } = reader;
    const streamer = read.streamer;
    if (streamer?.active && !job.streaming && streamer.job !== job && streamer.offset <= job.missing()[0]!.start) {
      // Another request of this read is already streaming the body from before our bytes.
      job.handOverTo(streamer.job);
      return;
    }
    job.absorbRemaining();
    const me: Streamer = { job, offset: 0, active: true };
    read.streamer = me;
    try {
      for (let chunk = await reader.body.next(); chunk !== undefined; chunk = await reader.body.next()) {
        await this.#count(reader, chunk.length);
        job.write(me.offset, chunk);
        me.offset += chunk.length;
        if (job.complete) {
          me.active = false; // before leaving: nothing may be handed over any more
          return; // the rest of the body is dropped by #fetch (read first if short)
        }
        if (job.streaming) await job.waitForRoom();
      }
    } finally {
      me.active = false;
    }
    throw badAnswer(reader.url, `the body ended at byte ${me.offset}, before the bytes asked for`);
  }

  /** The error for a status other than 200/206 (redirects are already followed). */
  #statusError(response: HttpResponse, ranges: readonly ByteRange[]): Error {
    const status = response.statusCode;
    if (ranges.length > 1 && REFUSES_MULTI_RANGE.has(status)) {
      return badAnswer(response.url, `the server refused a request for ${ranges.length} ranges with ${statusLine(status)}`, status);
    }
    if (status === 416) {
      const total = parseUnsatisfiedRange(headerValue(response.headers, 'content-range'));
      if (total !== undefined && this.#size !== undefined && total !== this.#size) return sizeChanged(response.url, total, this.#size);
    }
    return statusFailure(response, response.url);
  }

  /** Byte offsets are meaningless in a compressed body (sent despite `Accept-Encoding: identity`). */
  #checkEncoding(response: HttpResponse): void {
    const encoding = headerValue(response.headers, 'content-encoding')?.trim().toLowerCase();
    if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
      throw badAnswer(response.url, `the server sent a ${encoding}-encoded body although asked for identity`);
    }
  }

  /** Compares the answer's ETag / Last-Modified with the first answer's. */
  #checkIdentity(response: HttpResponse): void {
    const etag = headerValue(response.headers, 'etag');
    const lastModified = headerValue(response.headers, 'last-modified');
    const known = this.#identity;
    if (known === undefined) {
      this.#identity = { etag, lastModified };
      return;
    }
    if (known.etag !== undefined && etag !== undefined) {
      if (etag !== known.etag) throw changed(response.url, `its ETag is ${etag} now, was ${known.etag}`);
    } else if (known.lastModified !== undefined && lastModified !== undefined && lastModified !== known.lastModified) {
      throw changed(response.url, `its Last-Modified is ${lastModified} now, was ${known.lastModified}`);
    }
  }

  /**
   * A 200 to a request with If-Range means the validator no longer matches, unless the 200
   * carries that very validator (then the server just ignores Range and If-Range).
   */
  #checkValidatorEcho(response: HttpResponse, ifRange: string | undefined): void {
    if (ifRange === undefined) return;
    if (ifRange === headerValue(response.headers, 'etag') || ifRange === headerValue(response.headers, 'last-modified')) return;
    throw changed(response.url, `the server answered 200 with the whole body to If-Range: ${ifRange}`);
  }

  /** The If-Range validator: the strong ETag, else Last-Modified (weak ETags cannot be used). */
  #ifRange(): string | undefined {
    const known = this.#identity;
    if (known === undefined) return undefined;
    if (known.etag !== undefined && !known.etag.startsWith('W/')) return known.etag;
    return known.lastModified;
  }

  /** Learns the reference length, or checks it against what is known. */
  #checkSize(total: number | undefined, url: URL): void {
    if (total === undefined) return;
    if (this.#size === undefined) this.#size = total;
    else if (total !== this.#size) throw sizeChanged(url, total, this.#size);
  }

  /** Counts a received body chunk, and waits for the bandwidth cap before it is used. */
  async #count(reader: BodyReader, bytes: number): Promise<void> {
    this.stats.bytes += bytes;
    reader.read.onBytes?.(bytes);
    if (this.#limiter !== undefined) await this.#limiter.take(bytes, reader.job.signal);
  }
}

/** State of one `read()` call shared by its requests. */
interface ReadState {
  readonly onBytes: ((bytes: number) => void) | undefined;
  /** The request currently streaming a whole (200) body, if any. */
  streamer: Streamer | undefined;
  /** For single-range requests: the largest gap one request spans (chosen once per read). */
  gapLimit: number | undefined;
  scheduler: RangeScheduler | undefined;
}

/** The redirect target of the reference answered 403 (a signed URL that expired). */
class RedirectExpired extends Error {
  override name = 'RedirectExpired';
}

/** A host known to honour Range answered one request with the whole body: retried. */
class RangeIgnored extends Error {
  override name = 'RangeIgnored';
}

/** A request reading a whole body, and how far it got. */
interface Streamer {
  readonly job: Job;
  /** Offset of the next byte it will see. */
  offset: number;
  /** False once it stopped reading (done or failed). */
  active: boolean;
}

/** What the body readers of one response need. */
interface BodyReader {
  readonly job: Job;
  readonly read: ReadState;
  readonly url: URL;
  /** The response body; readers return as soon as the job is complete, leaving the rest. */
  readonly body: ResponseBody;
}

function badAnswer(url: URL, reason: string, status?: number): SyncError {
  return new SyncError(ErrorCodes.HTTP_RESPONSE, `Cannot fetch ${redactUrl(url)}: ${reason}`, {
    url: redactUrl(url),
    ...(status === undefined ? {} : { status }),
  });
}

function changed(url: URL, reason: string): SyncError {
  return new SyncError(
    ErrorCodes.SOURCE_CHANGED,
    `Cannot fetch ${redactUrl(url)}: the reference changed while it was being read (${reason})`,
    {
      url: redactUrl(url),
    },
  );
}

function sizeChanged(url: URL, total: number, expected: number): SyncError {
  return changed(url, `it is ${total} bytes long, not ${expected}`);
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

function nonNegativeInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  return value;
}
