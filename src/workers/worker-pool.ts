/**
 * A small pool of `worker_threads` running gosync's worker entry (`worker-main.ts`).
 *
 * Tasks are plain messages; buffers travel in the transfer list (moved, not copied),
 * so a caller's `ArrayBuffer` given to `run()` is unusable afterwards. Workers start
 * lazily, run one task at a time, and are terminated by `close()`.
 *
 * @module
 */
import { availableParallelism } from 'node:os';
import { Worker, type Transferable } from 'node:worker_threads';
import { ErrorCodes, SyncError, abortError } from '../errors.js';

/** Default thread count: every core. */
export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

interface Slot {
  worker: Worker;
  busy: boolean;
}

interface Pending {
  message: unknown;
  transfer: Transferable[];
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** Runs tasks on up to `size` worker threads. */
export class WorkerPool {
  readonly size: number;
  readonly #slots: Slot[] = [];
  readonly #queue: Pending[] = [];
  #closed = false;

  constructor(size = defaultThreads()) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`Cannot create a worker pool: size ${size} is not a positive integer`);
    this.size = size;
  }

  /** Runs one task; resolves with the worker's answer. */
  run<T>(message: unknown, transfer: Transferable[] = [], signal?: AbortSignal): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('Cannot run a task: the worker pool is closed'));
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ message, transfer, resolve: resolve as (v: unknown) => void, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      let slot = this.#slots.find((s) => !s.busy);
      if (!slot && this.#slots.length < this.size) {
        slot = { worker: new Worker(new URL('./worker-main.js', import.meta.url)), busy: false };
        this.#slots.push(slot);
      }
      if (!slot) return;
      const task = this.#queue.shift()!;
      this.#start(slot, task);
    }
  }

  #start(slot: Slot, task: Pending): void {
    slot.busy = true;
    const { worker } = slot;
    const done = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      slot.busy = false;
      this.#pump();
    };
    const onMessage = (answer: { ok: true; value: unknown } | { ok: false; error: { code?: string; message: string } }) => {
      done();
      if (answer.ok) task.resolve(answer.value);
      else task.reject(answer.error.code ? new SyncError(answer.error.code as never, answer.error.message) : new Error(answer.error.message));
    };
    const onError = (err: Error) => {
      this.#drop(slot);
      done();
      task.reject(err);
    };
    const onExit = (code: number) => {
      this.#drop(slot);
      done();
      task.reject(new SyncError(ErrorCodes.IO, `Cannot finish a task: a worker thread exited with code ${code}`));
    };
    worker.on('message', onMessage);
    worker.once('error', onError);
    worker.once('exit', onExit);
    worker.postMessage(task.message, task.transfer);
  }

  #drop(slot: Slot): void {
    const i = this.#slots.indexOf(slot);
    if (i >= 0) this.#slots.splice(i, 1);
  }

  /** Terminates every worker; queued tasks are rejected. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#queue.splice(0)) t.reject(new Error('Cannot run a task: the worker pool was closed'));
    const slots = this.#slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}
