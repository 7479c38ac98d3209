/**
 * A token-bucket rate limiter for download bandwidth (`--bwlimit`), shared by every
 * connection of a source, or by every file of a folder patch or a push/pull.
 *
 * @module
 */

import { sleep } from './sleep.js';

/**
 * Limits throughput to `bytesPerSecond` on average. `take(n)` is called after `n` bytes were
 * received and waits until the budget has caught up, so the reader stops pulling from the
 * socket and TCP flow control slows the sender. The bucket holds at most 20 ms worth of
 * tokens, so a burst after an idle spell stays small. Concurrent takers queue up fairly:
 * each one's debt includes the earlier ones'.
 *
 * @example
 * ```ts
 * const limiter = new TokenBucket(1_000_000);
 * for await (const chunk of body) { use(chunk); await limiter.take(chunk.length, signal); }
 * ```
 */
export class TokenBucket {
  readonly #bytesPerMs: number;
  readonly #capacity: number;
  #tokens: number;
  #last: number;

  /** @param bytesPerSecond the average rate; a positive finite number. */
  constructor(bytesPerSecond: number) {
    if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) throw new RangeError('bytesPerSecond must be a positive number');
    this.#bytesPerMs = bytesPerSecond / 1000;
    this.#capacity = bytesPerSecond / 50;
    this.#tokens = this.#capacity;
    this.#last = performance.now();
  }

  /** Spends `bytes` tokens, waiting (abortably) while the bucket is in debt. */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = performance.now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#last) * this.#bytesPerMs);
    this.#last = now;
    this.#tokens -= bytes;
    if (this.#tokens < 0) await sleep(-this.#tokens / this.#bytesPerMs, signal);
  }
}
