/**
 * A worker thread that makes one kind of delta: the kinds of a base delta are independent
 * and each takes seconds on large files, so base-delta.ts makes them side by side.
 *
 * @module
 */
import { parentPort } from 'node:worker_threads';
import { encodeDeltaPayload, type EncodedKind } from './delta-encode.js';

/** A request: the kind, and the old and new versions (copied into the worker). */
export interface DeltaWorkerTask {
  kind: EncodedKind;
  old: Uint8Array;
  next: Uint8Array;
}

parentPort?.on('message', async (task: DeltaWorkerTask) => {
  try {
    const payload = await encodeDeltaPayload(task.kind, task.old, task.next);
    // A view of Node's pool cannot be moved: copy it into memory of its own first.
    const own = payload.byteOffset === 0 && payload.byteLength === payload.buffer.byteLength ? payload : Uint8Array.from(payload);
    parentPort!.postMessage({ payload: own }, [own.buffer as ArrayBuffer]);
  } catch (error) {
    parentPort!.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
});
