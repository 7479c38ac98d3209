/**
 * A small pool of `worker_threads` running gosync's worker entry (`worker-main.ts`).
 *
 * Tasks are plain messages; buffers travel in the transfer list (moved, not copied),
 * so a caller's `ArrayBuffer` given to `run()` is unusable afterwards. Workers start
 * lazily, run one task at a time, and are terminated by `close()`.
 *
 * @module
 */
import type { Transferable, Worker } from 'node:worker_threads';
import { ErrorCodes, SyncError, abortError, type ErrorCode } from '../core/errors.js';
import { builtin } from '../util/builtin.js';

const { availableParallelism } = builtin('node:os');

/**
 * Work on a file below this size stays on the calling thread (hashing it for an index,
 * scanning it for blocks). Not tuned by a benchmark: a cold worker (start-up plus JIT
 * warm-up) costs on the order of 0.1–0.3 s, about what hashing or scanning 16 MiB takes
 * on one core. On the 2-vCPU benchmark VM worker threads gave no speed-up at any size
 * (its vCPUs share one core's throughput; see BENCHMARKS.md), so this needs re-measuring
 * on a machine with two real cores.
 */
export const PARALLEL_MIN_SIZE = 16 * 1024 * 1024;

/** Default thread count: every core. */
export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

/**
 * Default thread count of the scan of a local file of `size` bytes (the patch's, the
 * diff's): every core, except on two cores or fewer below {@link SCAN_THREADS_MIN_SIZE},
 * where one thread scans. A worker starts, loads the matcher, builds its own lookup table
 * and warms up: ~0.15 s, about what the WebAssembly scan of 100 MiB of unrelated data takes
 * (3.3 ns/byte, bench micro), so a second thread pays only on larger files. Measured on the
 * 2-vCPU benchmark VM (hyperfine medians, load 1.2-1.9, `-t 1` against `-t 2`): the
 * unrelated 256 MiB file, `gosync diff` 1.156 vs 0.865 s and `gosync patch` via nginx 1.987
 * vs 1.661 s; the bun update (107 MB) via nginx 1.196 vs 1.269 s. Without a size: one
 * thread up to two cores.
 * Index builds keep {@link defaultThreads}: the whole-file SHA-256 and the block hashes are
 * two passes that do run side by side.
 */
export function defaultScanThreads(size = 0): number {
  const cores = availableParallelism();
  return cores > 2 || size >= SCAN_THREADS_MIN_SIZE ? cores : 1;
}

/** The file size from which {@link defaultScanThreads} scans with every core on two cores or fewer. */
export const SCAN_THREADS_MIN_SIZE = 128 * 1024 * 1024;

interface Slot {
  worker: Worker;
  busy: boolean;
}

interface Pending {
  message: unknown;
  transfer: Transferable[];
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  /** While the task runs: its slot, and how to stop listening to its worker. */
  running?: { slot: Slot; detach: () => void } | undefined;
}

/** What a worker posts back for a task (see worker-main.ts). */
export type WorkerAnswer = { ok: true; value: unknown } | { ok: false; error: WorkerFailure };

/** A task's failure as it crosses threads: a SyncError's code and path survive, the rest is the message. */
export interface WorkerFailure {
  message: string;
  code?: ErrorCode;
  path?: string;
}

/** The error a task failed with, rebuilt on this side. */
function taskError(e: WorkerFailure): Error {
  if (e.code === undefined) return new Error(e.message);
  return new SyncError(e.code, e.message, e.path === undefined ? {} : { path: e.path });
}

/** Runs tasks on up to `size` worker threads. */
export class WorkerPool {
  readonly size: number;
  readonly #slots: Slot[] = [];
  readonly #queue: Pending[] = [];
  /** Workers terminated for an aborted task, until they are gone. */
  readonly #terminating = new Set<Promise<number>>();
  #closed = false;

  constructor(size = defaultThreads()) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`Cannot create a worker pool: size ${size} is not a positive integer`);
    this.size = size;
  }

  /**
   * Runs one task; resolves with the worker's answer. When `signal` fires, the task
   * rejects with the ABORTED error at once: a queued task is dropped, a running one's
   * worker is terminated (a new one starts when a task needs it).
   */
  run<T>(message: unknown, transfer: Transferable[] = [], signal?: AbortSignal): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('Cannot run a task: the worker pool is closed'));
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => this.#abort(task, abortError(signal!));
      const task: Pending = {
        message,
        transfer,
        resolve: (value) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(value as T);
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(task);
      this.#pump();
    });
  }

  #abort(task: Pending, err: unknown): void {
    const i = this.#queue.indexOf(task);
    if (i >= 0) {
      this.#queue.splice(i, 1);
      task.reject(err);
      return;
    }
    const running = task.running;
    if (!running) return;
    running.detach();
    this.#drop(running.slot);
    const { worker } = running.slot;
    // Nothing listens to this worker any more; an error while it stops is of no interest.
    worker.on('error', () => {});
    const gone = worker.terminate();
    this.#terminating.add(gone);
    void gone.finally(() => this.#terminating.delete(gone)).catch(() => {});
    task.reject(err);
    // After every abort listener of this signal has run, so that its queued tasks are
    // gone before a replacement worker is started for them.
    queueMicrotask(() => this.#pump());
  }

  #pump(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      let slot = this.#slots.find((s) => !s.busy);
      if (!slot && this.#slots.length < this.size) {
        // node:worker_threads is loaded when a worker is first started: most builds and patches
        // of small files start none, and its ESM namespace pulls in Web Locks
        // (`node:internal/locks`, about 1.3 ms of CPU in a profile of the build command's loading).
        const { Worker } = builtin('node:worker_threads');
        slot = {
          worker: new Worker(new URL('./worker-main.js', import.meta.url)),
          busy: false,
        };
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
    const detach = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      task.running = undefined;
    };
    const done = () => {
      detach();
      slot.busy = false;
      this.#pump();
    };
    const onMessage = (answer: WorkerAnswer) => {
      done();
      if (answer.ok) task.resolve(answer.value);
      else task.reject(taskError(answer.error));
    };
    const onError = (cause: Error) => {
      this.#drop(slot);
      done();
      task.reject(new SyncError(ErrorCodes.WORKER, `Cannot finish a task: a worker thread failed (${cause.message})`, { cause }));
    };
    const onExit = (code: number) => {
      this.#drop(slot);
      done();
      task.reject(new SyncError(ErrorCodes.WORKER, `Cannot finish a task: a worker thread exited with code ${code}`));
    };
    worker.on('message', onMessage);
    worker.once('error', onError);
    worker.once('exit', onExit);
    task.running = { slot, detach };
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
    await Promise.all([...slots.map((s) => s.worker.terminate()), ...[...this.#terminating].map((p) => p.catch(() => 0))]);
  }
}
