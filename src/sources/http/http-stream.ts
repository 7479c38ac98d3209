/**
 * GET of a resource whose body is used as it arrives (a delta applied while it downloads),
 * with the redirects, retries and size cap of {@link httpGet} up to the response headers.
 *
 * @module
 */

import { abortError, ErrorCodes, SyncError } from '../../core/errors.js';
import { getWithRetries, type HttpGetOptions } from './http-get.js';
import { contentLength, networkFailure, redactUrl, toHttpUrl, type HttpResponse } from './http-request.js';

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
 * Failures before the body starts are retried as by {@link httpGet} (getWithRetries, an
 * expired signed redirect included); a failure while the
 * body is read is not (the reader has used what came: it decides), and rejects the
 * iteration with NETWORK; a body over `maxBytes` (default 256 MiB) with HTTP_RESPONSE, by
 * its Content-Length before any byte or as soon as the count passes the limit.
 */
export async function httpGetStream(url: string | URL, options: HttpGetOptions = {}): Promise<HttpStreamResult> {
  const maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
  const { range: _, ...whole } = options;
  return getWithRetries(url, whole, async (response) => {
    const size = contentLength(response.headers);
    if (size !== undefined && size > maxBytes) {
      response.body.destroy();
      throw tooLarge(response, maxBytes, `${size} bytes`);
    }
    return {
      body: chunksOf(response, maxBytes, toHttpUrl(url), options.signal),
      url: response.url.href,
      ...(size === undefined ? {} : { size }),
    };
  });
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
