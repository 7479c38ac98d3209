/**
 * Entry point of gosync's worker threads: runs the tasks of `tasks.ts` and answers
 * `{ ok: true, value }` or `{ ok: false, error }`, moving result buffers back.
 *
 * @module
 */
import { parentPort } from 'node:worker_threads';
import { SyncError } from '../core/errors.js';
import { runRecords, type RecordsTask } from './records.js';
import type { ScanTask } from './tasks.js';
import type { WorkerAnswer, WorkerFailure } from './worker-pool.js';

const port = parentPort;
if (!port) throw new Error('Cannot start: worker-main.js must run in a worker thread');

port.on('message', (task: RecordsTask | ScanTask) => {
  void (async () => {
    try {
      if (task.kind === 'records') {
        const r = runRecords(task);
        port.postMessage({ ok: true, value: r } satisfies WorkerAnswer, [r.records, r.buffer]);
      } else {
        // The scan's modules are loaded by the first scan task only (see records.ts).
        const { runScan } = await import('./tasks.js');
        const r = await runScan(task);
        const transfer = [r.foundSource.buffer, r.foundOffset.buffer, r.direct.buffer] as ArrayBuffer[];
        // The full block hashes (2 MiB for 65,536 blocks) move too instead of being copied.
        if (r.fullHashes !== undefined) transfer.push(r.fullHashes.buffer as ArrayBuffer);
        port.postMessage({ ok: true, value: r } satisfies WorkerAnswer, transfer);
      }
    } catch (err) {
      port.postMessage({ ok: false, error: failure(err) } satisfies WorkerAnswer);
    }
  })();
});

function failure(err: unknown): WorkerFailure {
  const message = (err as Error).message;
  if (!SyncError.is(err)) return { message };
  return { message, code: err.code, ...(err.path === undefined ? {} : { path: err.path }) };
}
