import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import type { RecordsTask, ScanTask } from '../../src/workers/tasks.js';
import { shareIndex } from '../../src/workers/tasks.js';
import { SCAN_THREADS_MIN_SIZE, WorkerPool, defaultScanThreads } from '../../src/workers/worker-pool.js';
import { indexOf, randomBytes } from '../helpers/data.js';

const BS = 4096;
const records = (): RecordsTask => ({
  kind: 'records',
  shape: { blockSize: BS, weakBytes: 4, strongBytes: 8 },
  buffer: new ArrayBuffer(BS),
  length: BS,
});

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-pool-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `fn` while every worker's postMessage is replaced by `instead` (the task never reaches the thread). */
async function withPostMessage(instead: (worker: Worker) => void, fn: () => Promise<void>): Promise<void> {
  const original = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (this: Worker) {
    instead(this);
  };
  try {
    await fn();
  } finally {
    Worker.prototype.postMessage = original;
  }
}

test('a worker that exits before answering fails its task with WORKER, and the pool goes on with a new worker', async () => {
  const pool = new WorkerPool(1);
  try {
    await withPostMessage(
      (worker) => void worker.terminate(),
      () =>
        assert.rejects(
          pool.run(records()),
          (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.WORKER && /a worker thread exited with code \d+$/.test(e.message),
        ),
    );
    const r = await pool.run<{ records: ArrayBuffer }>(records());
    assert.equal(r.records.byteLength, 12 + 32, "one record, then its block's full SHA-256");
  } finally {
    await pool.close();
  }
});

test('a worker that fails (an uncaught error in the thread) fails its task with WORKER, the error as its cause', async () => {
  const pool = new WorkerPool(1);
  const crash = new Error('out of memory');
  try {
    await withPostMessage(
      (worker) => {
        worker.emit('error', crash);
        void worker.terminate();
      },
      () =>
        assert.rejects(
          pool.run(records()),
          (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.WORKER && e.cause === crash && /out of memory/.test(e.message),
        ),
    );
    const r = await pool.run<{ records: ArrayBuffer }>(records());
    assert.equal(r.records.byteLength, 12 + 32, "one record, then its block's full SHA-256");
  } finally {
    await pool.close();
  }
});

test("a task's SyncError crosses the thread with its code, message and path", async () => {
  const index = await indexOf(randomBytes(64 * 1024, 3), { blockSize: BS });
  const missing = join(dir, 'missing');
  const scan: ScanTask = {
    kind: 'scan',
    index: shareIndex(index, 'pool-test'),
    path: missing,
    source: 0,
    sections: [[0, 1]],
    fileSize: 1,
    known: new Uint8Array(0),
  };
  const pool = new WorkerPool(1);
  try {
    await assert.rejects(
      pool.run(scan),
      (e: unknown) =>
        SyncError.is(e) && e.code === ErrorCodes.IO && e.path === missing && /^Cannot open the local file .*missing: /.test(e.message),
    );
    // A folder opens but cannot be read: the read's IO error.
    await assert.rejects(
      pool.run({ ...scan, path: dir, fileSize: 10, sections: [[0, 10]] }),
      (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.IO && e.path === dir && /^Cannot read the local file /.test(e.message),
    );
  } finally {
    await pool.close();
  }
});

test('a closed pool refuses new tasks', async () => {
  const pool = new WorkerPool(1);
  await pool.close();
  await assert.rejects(pool.run(records()), /the worker pool is closed/);
});

test('defaultScanThreads: every core for large files; on two cores or fewer, one thread below SCAN_THREADS_MIN_SIZE', () => {
  const cores = availableParallelism();
  assert.equal(defaultScanThreads(SCAN_THREADS_MIN_SIZE), cores);
  assert.equal(defaultScanThreads(SCAN_THREADS_MIN_SIZE - 1), cores > 2 ? cores : 1);
  assert.equal(defaultScanThreads(), cores > 2 ? cores : 1);
});
