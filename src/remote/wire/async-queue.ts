/**
 * A queue between two tasks of a session: the producer awaits `push` (backpressure once
 * `highWater` is reached, measured by `sizeOf`), the consumer awaits `shift` or iterates.
 * `fail(err)` makes every waiting and later call reject with `err`, so no task is left
 * waiting when the session stops.
 *
 * @module
 */

export class AsyncQueue<T> implements AsyncIterable<T> {
  readonly #items: T[] = [];
  readonly #highWater: number;
  readonly #sizeOf: (item: T) => number;
  #size = 0;
  #closed = false;
  #error: { err: unknown } | undefined;
  #takers: { resolve: (v: T | undefined) => void; reject: (e: unknown) => void }[] = [];
  #pushers: { resolve: () => void; reject: (e: unknown) => void }[] = [];

  constructor(options: { highWater?: number; sizeOf?: (item: T) => number } = {}) {
    this.#highWater = options.highWater ?? Number.POSITIVE_INFINITY;
    this.#sizeOf = options.sizeOf ?? (() => 1);
  }

  /** Items waiting. */
  get length(): number {
    return this.#items.length;
  }

  /** Adds an item; resolves once the queue is below its high-water mark. */
  push(item: T): Promise<void> {
    if (this.#error) return Promise.reject(this.#error.err);
    if (this.#closed) return Promise.reject(new Error('Cannot push to a closed queue'));
    const taker = this.#takers.shift();
    if (taker) {
      taker.resolve(item);
      return Promise.resolve();
    }
    this.#items.push(item);
    this.#size += this.#sizeOf(item);
    if (this.#size < this.#highWater) return Promise.resolve();
    return new Promise((resolve, reject) => this.#pushers.push({ resolve, reject }));
  }

  /** No more items: consumers get `undefined` once the queue is empty. */
  close(): void {
    this.#closed = true;
    for (const t of this.#takers.splice(0)) t.resolve(undefined);
  }

  /** Every waiting and later call rejects with `err`. */
  fail(err: unknown): void {
    if (this.#error) return;
    this.#error = { err };
    this.#items.length = 0;
    this.#size = 0;
    for (const t of this.#takers.splice(0)) t.reject(err);
    for (const p of this.#pushers.splice(0)) p.reject(err);
  }

  /** The next item, or `undefined` when closed and empty. */
  shift(): Promise<T | undefined> {
    if (this.#error) return Promise.reject(this.#error.err);
    if (this.#items.length > 0) {
      const item = this.#items.shift()!;
      this.#size -= this.#sizeOf(item);
      while (this.#pushers.length > 0 && this.#size < this.#highWater) this.#pushers.shift()!.resolve();
      return Promise.resolve(item);
    }
    if (this.#closed) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => this.#takers.push({ resolve, reject }));
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      const item = await this.shift();
      if (item === undefined) return;
      yield item;
    }
  }
}
