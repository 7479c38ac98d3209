/**
 * Making the payload of one kind of delta held in memory (zstd, LZ, bsdiff-class), on the
 * calling thread or on worker threads side by side.
 *
 * @module
 */
import { ErrorCodes, SyncError, abortError } from '../core/errors.js';
import { builtin } from '../util/builtin.js';
import { encodeZstdDelta, type DeltaKind } from './delta-file.js';

/** The kinds made from the whole base and new version in memory. */
export type EncodedKind = Exclude<DeltaKind, 'librsync'>;

/**
 * The payload of `kind` turning `old` into `next`, made on this thread. Each kind's encoder is
 * loaded when first asked for: a build makes one or two kinds, and the bsdiff encoder's modules
 * alone are five.
 */
export async function encodeDeltaPayload(kind: EncodedKind, old: Uint8Array, next: Uint8Array): Promise<Uint8Array> {
  if (kind === 'zstd') return encodeZstdDelta(old, next);
  if (kind === 'lz') return (await import('./lz-delta/mod.js')).encodeLzDelta(old, next);
  return (await import('./bsdiff/format.js')).encodeBsdiffDelta(old, next);
}

/**
 * Below this many bytes of old plus new, the kinds are made one after the other here:
 * a worker's start (tens of milliseconds) and the copies cost more than they save.
 */
const WORKERS_MIN_BYTES = 2 * 1024 * 1024;

/**
 * The payload of every kind, in the order given: on up to `threads` worker threads at
 * once for large inputs (each worker gets its own copy of both versions), else here. A
 * single kind is made on a worker too: the build hashes the index and feeds the
 * compressed forms from the calling thread meanwhile, and a delta made here (seconds)
 * would stall them.
 */
export async function encodeDeltaPayloads(
  kinds: readonly EncodedKind[],
  old: Uint8Array,
  next: Uint8Array,
  options: { threads: number; signal?: AbortSignal },
): Promise<Uint8Array[]> {
  if (options.threads <= 1 || kinds.length === 0 || old.length + next.length < WORKERS_MIN_BYTES) {
    const payloads: Uint8Array[] = [];
    for (const kind of kinds) payloads.push(await encodeDeltaPayload(kind, old, next));
    return payloads;
  }
  const results: Uint8Array[] = new Array(kinds.length);
  let nextKind = 0;
  const lane = async () => {
    while (nextKind < kinds.length) {
      const i = nextKind++;
      results[i] = await inWorker(kinds[i]!, old, next, options.signal);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.threads, kinds.length) }, lane));
  return results;
}

async function inWorker(kind: EncodedKind, old: Uint8Array, next: Uint8Array, signal: AbortSignal | undefined): Promise<Uint8Array> {
  // Loaded here: a build of small files starts no worker.
  const { Worker } = builtin('node:worker_threads');
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./delta-worker.js', import.meta.url));
    const stop = () => {
      void worker.terminate();
      reject(abortError(signal!));
    };
    signal?.addEventListener('abort', stop, { once: true });
    const done = () => {
      signal?.removeEventListener('abort', stop);
      void worker.terminate();
    };
    worker.once('message', (m: { payload?: Uint8Array; error?: string }) => {
      done();
      if (m.payload) resolve(m.payload);
      else reject(new SyncError(ErrorCodes.WORKER, `Cannot make the ${kind} delta: ${m.error}`));
    });
    worker.once('error', (error) => {
      done();
      reject(new SyncError(ErrorCodes.WORKER, `Cannot make the ${kind} delta: ${error.message}`, { cause: error }));
    });
    // A worker that ends without an answer (out of memory, killed): settled here, once.
    worker.once('exit', (code) => {
      signal?.removeEventListener('abort', stop);
      reject(new SyncError(ErrorCodes.WORKER, `Cannot make the ${kind} delta: the worker stopped (exit code ${code})`));
    });
    worker.postMessage({ kind, old, next });
  });
}
