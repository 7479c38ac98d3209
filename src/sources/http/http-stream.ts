/**
 * GET of a resource whose body is used as it arrives (a delta applied while it downloads),
 * with the redirects, retries and size cap of {@link httpGet} up to the response headers.
 *
 * @module
 */

import { getGlobalDispatcher } from 'undici';
import { abortError, ErrorCodes, SyncError, throwIfAborted } from '../../core/errors.js';
import type { HttpGetOptions } from './http-get.js';
import {
  DEFAULT_MAX_REDIRECTS,
  DEFAULT_TIMEOUT_MS,
  baseHeaders,
  contentLength,
  discardBody,
  networkFailure,
  redactUrl,
  sendRequest,
  statusFailure,
  toHttpUrl,
  type HttpResponse,
} from './http-request.js';
import { DEFAULT_RETRY_POLICY, isRetryable, retryDelayMs, sleep, type RetryPolicy } from './retry-policy.js';

/** The answer of {@link httpGetStream}: the body still to be read. */
export interface HttpStreamResult {
  /** The body's chunks; an error while they arrive rejects the iteration with a SyncError. */
  body: AsyncIterable<Uint8Array>;
  /** The final URL after redirects. */
  url: string;
  /** The Content-Length, when the server sent one. */
  size?: number;
}

/**
 * GETs `url` (a 2xx answer other than 206) and hands over its body to be read as it comes.
 * Failures before the body starts are retried as by {@link httpGet}; a failure while the
 * body is read is not (the reader has used what came: it decides), and rejects the
 * iteration with NETWORK; a body over `maxBytes` (default 256 MiB) with HTTP_RESPONSE, by
 * its Content-Length before any byte or as soon as the count passes the limit.
 */
export async function httpGetStream(url: string | URL, options: HttpGetOptions = {}): Promise<HttpStreamResult> {
  const start = toHttpUrl(url);
  const maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
  const policy: RetryPolicy = {
    retries: options.retries ?? DEFAULT_RETRY_POLICY.retries,
    baseDelayMs: options.retryDelayMs ?? DEFAULT_RETRY_POLICY.baseDelayMs,
    maxDelayMs: options.maxRetryDelayMs ?? DEFAULT_RETRY_POLICY.maxDelayMs,
  };
  const { signal } = options;
  const dispatcher = options.dispatcher ?? getGlobalDispatcher();
  const headers = baseHeaders(options.headers, options.userAgent);
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
      if (response.statusCode < 200 || response.statusCode > 299 || response.statusCode === 206) {
        await discardBody(response.body);
        throw statusFailure(response, response.url);
      }
      const size = contentLength(response.headers);
      if (size !== undefined && size > maxBytes) {
        response.body.destroy();
        throw tooLarge(response, maxBytes, `${size} bytes`);
      }
      return { body: chunksOf(response, maxBytes, start, signal), url: response.url.href, ...(size === undefined ? {} : { size }) };
    } catch (error) {
      if (signal?.aborted) throw abortError(signal);
      if (SyncError.is(error)) throw error;
      if (!isRetryable(error) || attempt > policy.retries) throw networkFailure(start, error, attempt);
      await sleep(retryDelayMs(attempt, policy, error), signal);
    }
  }
}

function tooLarge(response: HttpResponse, maxBytes: number, size: string): SyncError {
  return new SyncError(
    ErrorCodes.HTTP_RESPONSE,
    `Cannot fetch ${redactUrl(response.url)}: the body is ${size}, more than the limit of ${maxBytes} bytes`,
    { url: redactUrl(response.url) },
  );
}

async function* chunksOf(
  response: HttpResponse,
  maxBytes: number,
  start: URL,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array> {
  let total = 0;
  try {
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > maxBytes) throw tooLarge(response, maxBytes, 'larger');
      yield chunk;
    }
  } catch (error) {
    if (signal?.aborted) throw abortError(signal);
    throw SyncError.is(error) ? error : networkFailure(start, error, 1);
  } finally {
    // A reader that stops early (or fails) closes the connection instead of reading the rest.
    if (!response.body.readableEnded) response.body.destroy();
  }
}
