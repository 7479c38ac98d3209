/**
 * SHA-256 on a thread of its own, of a file or of a file as it is being written, while the
 * calling thread goes on. The known-version patch (file/known-version.ts)
 * hashes its local file this way while it loads its HTTP client and waits for the index's
 * summary, and hashes the result as the delta's apply writes it: a 107 MB result is about
 * 0.1 s of hashing that no longer delays the apply (`node --cpu-prof` of the bun update over
 * the emulated WAN link: `update` of node:crypto was 182 of the 1,120 ms on the main thread).
 *
 * The result is not sent to the thread (a copy of 107 MB cost the main thread more than the
 * hashing): the thread reads it back from the file as it is written ({@link Sha256Thread.follow}).
 *
 * @module
 */
import { Worker } from 'node:worker_threads';
import { ErrorCodes, SyncError, abortError, ioError } from '../core/errors.js';

type Answer = { digest: Uint8Array } | { error: { message: string; code?: string } };

/** A thread that computes SHA-256 digests; `close()` it when done. */
export class Sha256Thread {
  readonly #worker: Worker;
  /** Waiters for `digest` answers, in the order asked. */
  readonly #digests: { resolve: (d: Uint8Array) => void; reject: (e: unknown) => void; path?: string }[] = [];
  #failure: unknown;
  #followed = '';

  constructor() {
    this.#worker = new Worker(new URL('./sha256-worker.js', import.meta.url));
    // Not a reason to keep the process alive.
    this.#worker.unref();
    this.#worker.on('message', (answer: Answer) => {
      const waiter = this.#digests.shift();
      if (!waiter) return;
      if ('digest' in answer) waiter.resolve(new Uint8Array(answer.digest));
      else waiter.reject(ioError('read', waiter.path ?? '', Object.assign(new Error(answer.error.message), { code: answer.error.code })));
    });
    this.#worker.on('error', (err) => this.#fail(err));
    this.#worker.on('exit', () => this.#fail(new SyncError(ErrorCodes.WORKER, 'Cannot hash: the SHA-256 thread stopped')));
  }

  #fail(err: unknown): void {
    this.#failure ??= err;
    for (const w of this.#digests.splice(0)) w.reject(this.#failure);
  }

  #ask(message: unknown, path?: string): Promise<Uint8Array> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#digests.push({ resolve, reject, ...(path === undefined ? {} : { path }) });
      this.#worker.postMessage(message);
    });
  }

  /** The SHA-256 of the file at `path`, read on the thread. */
  hashFile(path: string, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const digest = this.#ask({ file: path }, path);
    if (!signal) return digest;
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(abortError(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      digest.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /**
   * Follows a file being written at `path` from its start: the thread reads back and hashes
   * (from the page cache) what {@link advance} says is written, while this thread goes on.
   */
  follow(path: string): void {
    this.#followed = path;
    this.#worker.postMessage({ follow: path });
  }

  /** The followed file holds its final bytes up to `length`. */
  advance(length: number): void {
    this.#worker.postMessage({ upTo: length });
  }

  /** The SHA-256 of the followed file's bytes up to the last {@link advance}; stops following. */
  digest(): Promise<Uint8Array> {
    return this.#ask({ end: true }, this.#followed);
  }

  /**
   * The SHA-256 of each `blockSize` block of the file at `path` in `[start, end)` (a short
   * last block zero-padded, as an index hashes it), 32 bytes each, read and hashed on the thread.
   */
  hashBlocks(path: string, blockSize: number, start: number, end: number): Promise<Uint8Array> {
    return this.#ask({ blocks: path, blockSize, start, upTo: end }, path);
  }

  /** Stops the thread. */
  async close(): Promise<void> {
    this.#failure ??= new SyncError(ErrorCodes.WORKER, 'Cannot hash: the SHA-256 thread is closed');
    await this.#worker.terminate();
  }
}
