/**
 * One HTTP request through undici, following redirects by hand (so the final URL is known and
 * the scheme of every hop is checked), plus the header and error helpers shared by
 * {@link HttpSource} and {@link httpGet}.
 *
 * @module
 */

import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import { ErrorCodes, SyncError } from '../../core/errors.js';
import { parseRetryAfter, TransientStatusError, isTransientStatus } from './retry-policy.js';
import { builtin } from '../../util/builtin.js';

/** The User-Agent sent unless the caller sets one. */
export const USER_AGENT = 'gosync';

/** A response whose status is not a redirect; the body is not consumed yet. */
export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Dispatcher.ResponseData['body'];
  /** The URL that answered (after redirects). */
  readonly url: URL;
}

/** Options of {@link sendRequest}. */
export interface SendOptions {
  /** Default GET. */
  readonly method?: 'GET' | 'HEAD';
  readonly dispatcher: Dispatcher;
  /** Request headers, names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal | undefined;
  /** Headers timeout and body idle timeout. */
  readonly timeoutMs: number;
  readonly maxRedirects: number;
  /** Called before each request goes out (redirect hops included), for counters. */
  readonly onRequest?: (() => void) | undefined;
}

/** Default headers timeout and body idle timeout of every request. */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** Default number of redirects a request follows. */
export const DEFAULT_MAX_REDIRECTS = 5;
/**
 * Bytes of an unwanted body still read so that its keep-alive connection can carry the next
 * request: an error page, or the rest of an answer once a request has every byte it needs
 * (a multipart closing boundary, the tail of a coalesced or whole answer). A longer body is
 * cut off with the connection, which costs a handshake instead.
 */
export const DRAIN_LIMIT = 64 * 1024;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Headers that must not follow a redirect to another origin. */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

/**
 * Sends a GET (or HEAD), following 301/302/303/307/308 up to `maxRedirects` times (relative
 * `Location`s are resolved; only http and https targets; credentials are dropped when a
 * redirect leaves the origin). Throws a REDIRECT SyncError on a loop, too many hops or a bad
 * target; undici's network errors propagate as they are.
 */
export async function sendRequest(url: URL, options: SendOptions): Promise<HttpResponse> {
  const visited = new Set<string>([url.href]);
  let current = url;
  let headers = options.headers;
  for (let hops = 0; ; hops++) {
    options.onRequest?.();
    const method = options.method ?? 'GET';
    const response = await options.dispatcher.request({
      origin: current.origin,
      path: `${current.pathname}${current.search}`,
      method,
      // A copy: undici's proxy agent adds a Host header to the object it is given.
      headers: { ...withUrlCredentials(headers, current) },
      ...(options.signal ? { signal: options.signal } : {}),
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      // undici sends every HEAD with `Connection: close` unless told otherwise (a guard against
      // servers that send a body after a HEAD answer), which costs the next request a new
      // connection. With `reset: false` it keeps the connection only when the answer says
      // `Connection: keep-alive` explicitly, so that guard still holds for odd servers.
      ...(method === 'HEAD' ? { reset: false } : {}),
    });
    // Destroying an unread undici body emits an error; the readers see errors through
    // iteration, so this listener only keeps an abandoned body from crashing the process.
    response.body.on('error', ignore);
    if (!REDIRECT_STATUSES.has(response.statusCode)) {
      return { statusCode: response.statusCode, headers: response.headers, body: response.body, url: current };
    }
    await discardBody(response.body);
    const next = redirectTarget(current, response.statusCode, headerValue(response.headers, 'location'));
    if (hops >= options.maxRedirects) {
      throw new SyncError(ErrorCodes.REDIRECT, `Cannot fetch ${redactUrl(url)}: more than ${options.maxRedirects} redirects`, {
        url: redactUrl(url),
      });
    }
    if (visited.has(next.href)) {
      throw new SyncError(ErrorCodes.REDIRECT, `Cannot fetch ${redactUrl(url)}: the redirects form a loop at ${redactUrl(next)}`, {
        url: redactUrl(url),
      });
    }
    visited.add(next.href);
    if (next.origin !== current.origin) headers = withoutCredentials(headers);
    current = next;
  }
}

function redirectTarget(from: URL, status: number, location: string | undefined): URL {
  const fail = (reason: string): SyncError =>
    new SyncError(ErrorCodes.REDIRECT, `Cannot fetch ${redactUrl(from)}: ${reason}`, { url: redactUrl(from), status });
  if (location === undefined || location.trim() === '') throw fail(`the server answered ${statusLine(status)} without a Location`);
  let next: URL;
  try {
    next = new URL(location.trim(), from);
  } catch {
    throw fail(`the server redirected to an invalid URL (${JSON.stringify(location)})`);
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:')
    throw fail(`the server redirected to an unsupported scheme (${next.protocol})`);
  next.hash = '';
  return next;
}

/**
 * A response body read one chunk at a time, so that a reader can stop as soon as it has the
 * bytes it wants and then {@link ResponseBody.release} the rest without losing the
 * connection: undici reuses a keep-alive connection only once the whole response has come in,
 * and destroying a body (or aborting its request) before that closes the connection.
 */
export class ResponseBody {
  readonly #body: HttpResponse['body'];
  /** The Content-Length, if known. */
  readonly #length: number | undefined;
  #iterator: AsyncIterator<Buffer> | undefined;
  #received = 0;
  #ended = false;

  constructor(response: HttpResponse) {
    this.#body = response.body;
    this.#length = contentLength(response.headers);
  }

  /** The next chunk, or undefined once the body has ended. Rejects on network errors. */
  async next(): Promise<Buffer | undefined> {
    if (this.#ended) return undefined;
    this.#iterator ??= (this.#body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    const step = await this.#iterator.next();
    if (step.done === true) {
      this.#ended = true;
      return undefined;
    }
    this.#received += step.value.length;
    return step.value;
  }

  /** Drops the rest of the body now (closing the connection unless the whole answer is already in). */
  destroy(): void {
    this.#body.destroy();
  }

  /**
   * Done with the body, which may not have ended yet. If at most `limit` more bytes are to
   * come (by Content-Length; a body of unknown length is read up to `limit` more bytes), they
   * are read and dropped in the background, for at most `timeoutMs`, so the connection can
   * carry the next request; a longer rest is not worth it, and the body is destroyed at once.
   */
  release(limit: number, timeoutMs: number): void {
    if (this.#ended) return;
    const left = this.#length === undefined ? undefined : this.#length - this.#received;
    if (left !== undefined && left > limit) {
      this.destroy();
      return;
    }
    void this.#drain(this.#received + limit, timeoutMs);
  }

  async #drain(maxReceived: number, timeoutMs: number): Promise<void> {
    const timer = setTimeout(() => this.destroy(), timeoutMs);
    try {
      while ((await this.next()) !== undefined) {
        if (this.#received > maxReceived) {
          this.destroy();
          break;
        }
      }
    } catch {
      // Destroyed, or the connection failed: nothing was wanted from it any more.
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Resolves once undici may hand the connection of an answer just read to its end to the next
 * request. It frees a kept-alive HTTP/1.1 connection one turn of the event loop after the
 * answer ends (a setImmediate queued while parsing, so before this one); a request sent
 * sooner opens another connection. Awaited by httpGet after a whole answer: the rest of an
 * index after its summary, and the multi-range probe, take the summary's connection (the
 * jquery.js patch through nginx: 2 connections instead of 3; strace, and a relay counting
 * them in test/cli/http-patch-startup.test.ts).
 */
export function connectionReleased(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Reads and drops a small body so the connection can be reused (or closes it). */
export async function discardBody(body: HttpResponse['body']): Promise<void> {
  try {
    await body.dump({ limit: DRAIN_LIMIT });
  } catch {
    // The connection is closed instead; nothing else to do.
  }
}

/**
 * The error for a non-retryable status (or the retryable marker for a transient one, which
 * the retry loop turns into a NETWORK error once retries run out).
 */
export function statusFailure(response: HttpResponse, requested: URL): SyncError | TransientStatusError {
  const status = response.statusCode;
  const message = `Cannot fetch ${redactUrl(requested)}: the server answered ${statusLine(status)}`;
  if (isTransientStatus(status)) {
    return new TransientStatusError(message, status, parseRetryAfter(headerValue(response.headers, 'retry-after')));
  }
  return new SyncError(ErrorCodes.HTTP_STATUS, message, { url: redactUrl(requested), status });
}

/** The NETWORK SyncError reported when retries are exhausted (or a failure is not retryable). */
export function networkFailure(url: URL, cause: unknown, attempts: number): SyncError {
  const status = cause instanceof TransientStatusError ? cause.status : undefined;
  const reason = cause instanceof TransientStatusError ? `the server answered ${statusLine(cause.status)}` : describeError(cause);
  const tries = attempts === 1 ? '1 attempt' : `${attempts} attempts`;
  return new SyncError(ErrorCodes.NETWORK, `Cannot fetch ${redactUrl(url)}: ${reason} (gave up after ${tries})`, {
    cause,
    url: redactUrl(url),
    ...(status === undefined ? {} : { status }),
  });
}

/** `404 Not Found` style text for a status. */
export function statusLine(status: number): string {
  // Loaded here, when a status needs its text (util/builtin.ts: why not an import).
  const text = builtin('node:http').STATUS_CODES[status];
  return text === undefined ? String(status) : `${status} ${text}`;
}

/** The first value of a response header, or undefined. */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The Content-Length of a response, or undefined when absent or malformed. */
export function contentLength(headers: IncomingHttpHeaders): number | undefined {
  const value = headerValue(headers, 'content-length');
  if (value === undefined || !/^\d{1,16}$/.test(value.trim())) return undefined;
  return Number(value);
}

/**
 * A URL for messages, reports and logs: without user name and password (`https://user:pass@host/x`
 * becomes `https://host/x`). A string that is not an absolute URL (a path) is returned as it is.
 */
export function redactUrl(url: URL | string): string {
  let copy: URL;
  try {
    copy = new URL(url);
  } catch {
    return String(url);
  }
  if (copy.username === '' && copy.password === '') return typeof url === 'string' ? url : url.href;
  copy.username = '';
  copy.password = '';
  return copy.href;
}

/**
 * Builds request headers: defaults (User-Agent, `Accept-Encoding: identity`) then the
 * caller's, all names in lower case.
 */
export function baseHeaders(extra: Readonly<Record<string, string>> | undefined, userAgent = USER_AGENT): Record<string, string> {
  const headers: Record<string, string> = { 'user-agent': userAgent };
  for (const [name, value] of Object.entries(extra ?? {})) headers[name.toLowerCase()] = value;
  headers['accept-encoding'] = 'identity';
  return headers;
}

/** Checks that a URL is absolute http(s); throws TypeError otherwise. */
export function toHttpUrl(url: string | URL): URL {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new TypeError(`Cannot use ${redactUrl(parsed)}: only http and https URLs are supported`);
  }
  parsed.hash = '';
  return parsed;
}

function withoutCredentials(headers: Readonly<Record<string, string>>): Record<string, string> {
  const copy = { ...headers };
  for (const name of CREDENTIAL_HEADERS) delete copy[name];
  return copy;
}

/** Adds Basic credentials from `user:pass@` in the URL unless an Authorization is set. */
function withUrlCredentials(headers: Readonly<Record<string, string>>, url: URL): Readonly<Record<string, string>> {
  if ((url.username === '' && url.password === '') || headers.authorization !== undefined) return headers;
  const pair = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  return { ...headers, authorization: `Basic ${Buffer.from(pair).toString('base64')}` };
}

function ignore(): void {}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
}
