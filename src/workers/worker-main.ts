/**
 * Entry point of gosync's worker threads: runs the tasks of `tasks.ts` and answers
 * `{ ok: true, value }` or `{ ok: false, error }`, moving result buffers back.
 *
 * @module
 */
import { parentPort } from 'node:worker_threads';
import { SyncError } from '../core/errors.js';
import { runRecords, runScan, type RecordsTask, type ScanTask } from './tasks.js';

const port = parentPort;
if (!port) throw new Error('Cannot start: worker-main.js must run in a worker thread');

port.on('message', (task: RecordsTask | ScanTask) => {
  void (async () => {
    try {
      if (task.kind === 'records') {
        const r = runRecords(task);
        port.postMessage({ ok: true, value: r }, [r.records, r.buffer]);
      } else {
        const r = await runScan(task);
        const transfer = [r.foundSource.buffer, r.foundOffset.buffer, r.direct.buffer] as ArrayBuffer[];
        port.postMessage({ ok: true, value: r }, transfer);
      }
    } catch (err) {
      port.postMessage({ ok: false, error: { message: (err as Error).message, ...(SyncError.is(err) ? { code: err.code } : {}) } });
    }
  })();
});
