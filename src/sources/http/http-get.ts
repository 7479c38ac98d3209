/**
 * GET of a whole small resource (the index file), with redirects, retries and a size cap.
 *
 * @module
 */

import type { Dispatcher } from 'undici';
import { defaultHttpDispatcher } from './dispatcher.js';
import { abortError, ErrorCodes, SyncError, throwIfAborted } from '../../core/errors.js';
import {
  DEFAULT_MAX_REDIRECTS,
  DEFAULT_TIMEOUT_MS,
  baseHeaders,
  connectionReleased,
  contentLength,
  discardBody,
  headerValue,
  networkFailure,
  redactUrl,
  sendRequest,
  statusFailure,
  toHttpUrl,
  type HttpResponse,
} from './http-request.js';
import { DEFAULT_RETRY_POLICY, isRetryable, retryDelayMs, sleep, type RetryPolicy } from './retry-policy.js';

/** Options of {@link httpGet}. */
export interface HttpGetOptions {
  /** Largest body accepted, in bytes. Default 256 MiB. */
  maxBytes?: number;
  /** Cancels the request (and waits between retries); rejects with ABORTED. */
  signal?: AbortSignal;
  /** Timeout for the response headers, and idle timeout while reading the body. Default 30 000 ms. */
  timeoutMs?: number;
  /** Retries after a transient failure (reset, timeout, 5xx, 429). Default 5. */
  retries?: number;
  /** Backoff before the first retry, doubled per retry, with jitter. Default 200 ms. */
  retryDelayMs?: number;
  /** Cap of the backoff. Default 10 000 ms. */
  maxRetryDelayMs?: number;
  /** Redirects followed. Default 5. */
  maxRedirects?: number;
  /** Extra request headers, e.g. `Authorization` (dropped on redirects to another origin). */
  headers?: Record<string, string>;
  /** The undici dispatcher to use. Default: undici's global dispatcher, or one through the proxy the environment names. */
  dispatcher?: Dispatcher;
  /** The User-Agent header. Default `gosync`. */
  userAgent?: string;
  /**
   * A `Range` header value, e.g. `bytes=-57` (the last 57 bytes). A 206 answer is then
   * accepted and reported as `partial`; a server that ignores ranges answers 200 with the
   * whole body, which is returned as it is.
   */
  range?: string;
  /**
   * Checks the first `bytes` bytes of the body (all of it when shorter) as soon as they are
   * in, before the rest is downloaded: `check` throws to refuse the body (e.g. not an index,
   * or an index declaring a size over the limit), and the connection is dropped.
   */
  head?: { bytes: number; check(head: Uint8Array): void };
}

/** The answer of {@link httpGet}. */
export interface HttpGetResult {
  /** The whole body. */
  body: Uint8Array;
  /** The final URL after redirects (resolve relative URLs found in the body against it). */
  url: string;
  /** The ETag header, if any. */
  etag?: string;
  /** The Last-Modified header, if any. */
  lastModified?: string;
  /** True when the body is the requested range (a 206 answer), not the whole resource. */
  partial?: boolean;
  /** For a 206 answer: the whole resource's size, from Content-Range (`*` gives none). */
  totalSize?: number;
}

/**
 * GETs a whole small resource (used for the index file), following redirects, with retries.
 * A body over `maxBytes` is rejected before it is buffered: by its Content-Length when the
 * server sends one, else as soon as the count passes the limit (HTTP_RESPONSE).
 * Permanent statuses reject with HTTP_STATUS, exhausted retries with NETWORK, too many
 * redirects with REDIRECT, an aborted `signal` with ABORTED.
 *
 * @example
 * ```ts
 * const { body, url } = await httpGet('https://example.com/big.iso.gosync', { maxBytes: 64 << 20 });
 * ```
 */
export async function httpGet(url: string | URL, options: HttpGetOptions = {}): Promise<HttpGetResult> {
  const maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError(`maxBytes must be a non-negative integer, got ${maxBytes}`);
  return getWithRetries(url, options, async (response, partial) => {
    const body = await readAll(response, maxBytes, options.head);
    // A next request (the rest of an index after its summary) takes this connection.
    await connectionReleased();
    const etag = headerValue(response.headers, 'etag');
    const lastModified = headerValue(response.headers, 'last-modified');
    const total = partial ? /\/(\d+)\s*$/.exec(headerValue(response.headers, 'content-range') ?? '')?.[1] : undefined;
    return {
      body,
      url: response.url.href,
      ...(partial ? { partial } : {}),
      ...(total !== undefined && Number.isSafeInteger(Number(total)) ? { totalSize: Number(total) } : {}),
      ...(etag === undefined ? {} : { etag }),
      ...(lastModified === undefined ? {} : { lastModified }),
    };
  });
}

/**
 * Sends the GET of `options` (headers, `range`), following redirects, and hands a 2xx answer
 * to `use` (`partial`: a 206 to a range request; a 206 to anything else, like any other
 * status, is HTTP_STATUS). A redirect target that answers 403 (a signed URL that expired
 * before it was asked) is reached again through the redirects. Transient failures, of the
 * request or inside `use`, are retried by the options' policy; then NETWORK.
 */
export async function getWithRetries<T>(
  url: string | URL,
  options: HttpGetOptions,
  use: (response: HttpResponse, partial: boolean) => Promise<T>,
): Promise<T> {
  const start = toHttpUrl(url);
  const policy: RetryPolicy = {
    retries: options.retries ?? DEFAULT_RETRY_POLICY.retries,
    baseDelayMs: options.retryDelayMs ?? DEFAULT_RETRY_POLICY.baseDelayMs,
    maxDelayMs: options.maxRetryDelayMs ?? DEFAULT_RETRY_POLICY.maxDelayMs,
  };
  const { signal } = options;
  const dispatcher = options.dispatcher ?? defaultHttpDispatcher();
  const headers = baseHeaders(options.headers, options.userAgent);
  if (options.range !== undefined) headers.range = options.range;
  let renewals = 0;
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(signal);
    try {
      const response = await sendRequest(start, {
        dispatcher,
        headers,
        signal,
        timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        maxRedirects: options.maxRedirects ?? DEFAULT_MAX_REDIRECTS,
      });
      if (response.statusCode === 403 && response.url.href !== start.href && renewals++ < 2) {
        // The redirect target (a signed URL valid for minutes) expired before it was asked:
        // follow the redirects again.
        await discardBody(response.body);
        attempt--;
        continue;
      }
      const partial = response.statusCode === 206 && options.range !== undefined;
      if (response.statusCode < 200 || response.statusCode > 299 || (response.statusCode === 206 && !partial)) {
        await discardBody(response.body);
        throw statusFailure(response, response.url);
      }
      return await use(response, partial);
    } catch (error) {
      if (signal?.aborted) throw abortError(signal);
      if (SyncError.is(error)) throw error;
      if (!isRetryable(error) || attempt > policy.retries) throw networkFailure(start, error, attempt);
      await sleep(retryDelayMs(attempt, policy, error), signal);
    }
  }
}

/** Buffers a body of at most `maxBytes` bytes (destroying the stream when it is larger). */
async function readAll(response: HttpResponse, maxBytes: number, head: HttpGetOptions['head']): Promise<Uint8Array> {
  const tooLarge = (size: string): SyncError =>
    new SyncError(
      ErrorCodes.HTTP_RESPONSE,
      `Cannot fetch ${redactUrl(response.url)}: the body is ${size}, more than the limit of ${maxBytes} bytes`,
      {
        url: redactUrl(response.url),
      },
    );
  const declared = contentLength(response.headers);
  if (declared !== undefined && declared > maxBytes) {
    response.body.destroy();
    throw tooLarge(`${declared} bytes`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  let checked = head === undefined;
  try {
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > maxBytes) throw tooLarge('larger');
      chunks.push(chunk);
      if (!checked && total >= head!.bytes) {
        checked = true;
        head!.check(Buffer.concat(chunks, total).subarray(0, head!.bytes));
      }
    }
    if (!checked) head!.check(Buffer.concat(chunks, total));
  } catch (error) {
    response.body.destroy();
    throw error;
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}
