/**
 * When and how long to wait before retrying an HTTP request: which failures are transient,
 * exponential backoff with jitter, and `Retry-After`.
 *
 * @module
 */

/** Retry settings. */
export interface RetryPolicy {
  /** Retries after the first attempt (so `retries + 1` attempts in all). */
  readonly retries: number;
  /** Backoff before the first retry, doubled for each further one. */
  readonly baseDelayMs: number;
  /** Upper bound of the exponential backoff. */
  readonly maxDelayMs: number;
}

/** The default policy: 5 retries, 200 ms doubling up to 10 s. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 5, baseDelayMs: 200, maxDelayMs: 10_000 };

/** The longest `Retry-After` honoured; a server asking for more ends the retries at once. */
export const MAX_RETRY_AFTER_MS = 60_000;

/**
 * A transient HTTP status answer (5xx, 429, 408): retried, and if retries run out, reported
 * as a NETWORK SyncError carrying the status.
 */
export class TransientStatusError extends Error {
  override name = 'TransientStatusError';
  /**
   * @param status the HTTP status
   * @param retryAfterMs the wait the server asked for (`Retry-After`), if any
   */
  constructor(
    message: string,
    readonly status: number,
    readonly retryAfterMs: number | undefined,
  ) {
    super(message);
  }
}

/** True for statuses worth retrying: 408, 425, 429 and 5xx except 501 and 505. */
export function isTransientStatus(status: number): boolean {
  if (status === 408 || status === 425 || status === 429) return true;
  return status >= 500 && status <= 599 && status !== 501 && status !== 505;
}

/**
 * True when a failed request may succeed if tried again: a transient status, or a network
 * error (reset, refused, timeout, closed mid-body). TLS certificate failures, unknown host
 * names and misuse of the HTTP client are not retried.
 */
export function isRetryable(error: unknown): boolean {
  if (error instanceof TransientStatusError) return error.retryAfterMs === undefined || error.retryAfterMs <= MAX_RETRY_AFTER_MS;
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return true;
  if (code === 'ENOTFOUND' || code.includes('CERT') || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL')) return false;
  return !['UND_ERR_INVALID_ARG', 'UND_ERR_DESTROYED', 'UND_ERR_CLOSED', 'UND_ERR_NOT_SUPPORTED', 'ERR_INVALID_URL'].includes(code);
}

/**
 * The wait before retry number `attempt` (1 for the first retry): exponential backoff with
 * "equal jitter" (between half and all of `base * 2^(attempt-1)`, capped), but never less
 * than a `Retry-After` the server sent.
 */
export function retryDelayMs(attempt: number, policy: RetryPolicy, error: unknown, random: () => number = Math.random): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const backoff = exponential / 2 + (random() * exponential) / 2;
  const retryAfter = error instanceof TransientStatusError ? (error.retryAfterMs ?? 0) : 0;
  return Math.max(backoff, retryAfter);
}

/**
 * Parses a `Retry-After` value (delay seconds or an HTTP date) into milliseconds from `now`.
 * Returns undefined when absent or unparseable; a date in the past gives 0.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

export { sleep } from '../../util/sleep.js';
