/**
 * Worker threads for the scan of local files, started before the scan and made ready
 * (modules loaded, WebAssembly compiled) while the caller waits for something else: an
 * index coming over a long link. The scan takes them once they are ready
 * (`scanLocalFiles`' `workers`, `patchFile`'s `scanWorkers`), their start paid already;
 * until then it runs as if there were none.
 *
 * @module
 */
import { WorkerPool, defaultThreads } from './worker-pool.js';

const pools = new WeakMap<ScanWorkers, WorkerPool>();

/**
 * Scan workers started now.
 *
 * @example
 * ```ts
 * const workers = new ScanWorkers();
 * try {
 *   const index = await fetchIndexSomehow();
 *   await patchFile({ local, index, source, scanWorkers: workers });
 * } finally {
 *   await workers.close();
 * }
 * ```
 */
export class ScanWorkers {
  /** How many workers. */
  readonly size: number;
  /** Resolves once every worker is ready ({@link ready}) or could not be made so; never rejects. */
  readonly started: Promise<void>;

  /** Starts `threads` workers (default: one per core). */
  constructor(threads = defaultThreads()) {
    const pool = new WorkerPool(threads);
    this.size = pool.size;
    pools.set(this, pool);
    this.started = pool.warm();
  }

  /** True once every worker is ready to scan. */
  get ready(): boolean {
    return pools.get(this)!.warmed;
  }

  /** Stops the workers. Idempotent. */
  close(): Promise<void> {
    return pools.get(this)!.close();
  }
}

/** The pool behind `workers` (for the scan; not part of the public API). */
export function poolOf(workers: ScanWorkers): WorkerPool {
  return pools.get(workers)!;
}
