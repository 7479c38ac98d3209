/**
 * A byte budget shared by concurrent tasks: a semaphore weighted in bytes. Each task takes
 * what it may hold before it starts and gives it back when done, so the tasks together
 * never hold more than the budget. The folder patch bounds the block indexes it buffers at
 * once with one.
 *
 * @module
 */
import { abortError } from '../core/errors.js';

interface Waiter {
  bytes: number;
  resolve: () => void;
}

/** Bytes shared by concurrent tasks, taken first come, first served. */
export class ByteBudget {
  readonly limit: number;
  #used = 0;
  readonly #waiting: Waiter[] = [];

  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`Cannot make a byte budget of ${limit} bytes`);
    this.limit = limit;
  }

  /** Bytes taken and not yet given back. */
  get used(): number {
    return this.#used;
  }

  /**
   * Takes `bytes` once they fit, after those asked for earlier. A request over the whole
   * budget takes all of it (it runs alone, once nothing else is held); give back what was
   * taken: `Math.min(bytes, limit)`. Rejects with ABORTED, taking nothing, when `signal`
   * aborts first.
   */
  acquire(bytes: number, signal?: AbortSignal): Promise<void> {
    const want = Math.min(Math.max(0, bytes), this.limit);
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.#waiting.length === 0 && this.#used + want <= this.limit) {
      this.#used += want;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        bytes: want,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        const k = this.#waiting.indexOf(waiter);
        if (k < 0) return;
        this.#waiting.splice(k, 1);
        reject(abortError(signal!));
        this.#wake();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  /** Gives back `bytes` taken by {@link acquire}, and lets waiting requests that now fit go. */
  release(bytes: number): void {
    this.#used = Math.max(0, this.#used - Math.min(Math.max(0, bytes), this.limit));
    this.#wake();
  }

  #wake(): void {
    while (this.#waiting.length > 0 && this.#used + this.#waiting[0]!.bytes <= this.limit) {
      const w = this.#waiting.shift()!;
      this.#used += w.bytes;
      w.resolve();
    }
  }
}
