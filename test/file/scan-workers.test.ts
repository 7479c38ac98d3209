/**
 * Scan workers started ahead (ScanWorkers) scan a large local file once they are ready, and
 * stay open for their owner; workers not ready yet are not used. The known-version patch
 * tells its caller when the summary is slow to come (onSlowLink), the moment the CLI starts
 * such workers.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Transferable } from 'node:worker_threads';
import { buildIndexFile } from '../../src/file/build-file.js';
import { patchKnownVersion } from '../../src/file/known-version.js';
import { scanLocalFiles } from '../../src/file/local-scan.js';
import { ScanWorkers, poolOf } from '../../src/workers/scan-workers.js';
import { concat, indexOf, randomBytes } from '../helpers/data.js';
import { startFaultServer } from '../helpers/fault-server.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-scan-workers-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Scan workers, and how many scan tasks their pool was given. */
function counted(): { workers: ScanWorkers; scans: () => number } {
  const workers = new ScanWorkers(2);
  const pool = poolOf(workers);
  const run = pool.run.bind(pool);
  let scans = 0;
  pool.run = ((message: unknown, transfer?: Transferable[], signal?: AbortSignal) => {
    if ((message as { kind?: string }).kind === 'scan') scans++;
    return run(message, transfer, signal);
  }) as typeof pool.run;
  return { workers, scans: () => scans };
}

const reference = randomBytes(20 * 1024 * 1024, 61);
// Below the size from which two cores scan with workers by default (128 MiB).
const localData = concat(randomBytes(3000, 62), reference.subarray(0, 9_000_000), randomBytes(2000, 63), reference.subarray(9_100_000));

test('a warmed pool scans a large local file, finds what one thread finds, and stays open', async () => {
  const index = await indexOf(reference);
  const local = join(dir, 'warm.bin');
  await writeFile(local, localData);
  const serial = await scanLocalFiles(index, [local], { threads: 1 });
  const { workers, scans } = counted();
  try {
    await workers.started;
    assert.equal(workers.ready, true);
    const scan = await scanLocalFiles(index, [local], { workers });
    assert.ok(scans() >= 2, `scan tasks: ${scans()}`);
    assert.deepEqual(scan.matcher.foundSource, serial.matcher.foundSource);
    assert.deepEqual(scan.matcher.foundOffset, serial.matcher.foundOffset);
    // Still the caller's: they scan again after the scan.
    const again = await scanLocalFiles(index, [local], { workers });
    assert.ok(scans() >= 4, `scan tasks: ${scans()}`);
    assert.deepEqual(again.matcher.foundSource, serial.matcher.foundSource);
  } finally {
    await workers.close();
  }
});

test('a pool not warmed yet, or threads given, leaves the scan as it was', async () => {
  const index = await indexOf(reference);
  const local = join(dir, 'cold.bin');
  await writeFile(local, localData);
  const { workers, scans } = counted();
  try {
    // Just started: not ready before the scan is done on this thread.
    assert.equal(workers.ready, false);
    const scan = await scanLocalFiles(index, [local], { workers });
    assert.equal(scans(), 0);
    await workers.started;
    const one = await scanLocalFiles(index, [local], { workers, threads: 1 });
    assert.equal(scans(), 0);
    assert.deepEqual(one.matcher.foundSource, scan.matcher.foundSource);
  } finally {
    await workers.close();
  }
});

test('onSlowLink: called once when the summary comes late, and the patch goes on as without it', async () => {
  const next = randomBytes(300_000, 64);
  const path = join(dir, 'next.bin');
  await writeFile(path, next);
  await buildIndexFile(path, `${path}.gosync`, { compress: {} });
  const body = await readFile(`${path}.gosync`);
  for (const delayMs of [80, 0]) {
    const server = await startFaultServer({ resource: { body }, reply: () => (delayMs > 0 ? { delayMs } : {}) });
    const local = join(dir, `old-${delayMs}.bin`);
    await writeFile(local, next.subarray(1000));
    let calls = 0;
    try {
      const r = await patchKnownVersion({ local, indexUrl: server.url('/next.bin.gosync'), onSlowLink: () => calls++ });
      assert.equal(r.applied, false);
      assert.ok(!r.applied && r.index !== undefined && Buffer.from(r.index.body).equals(body), 'the whole index came with the miss');
      if (delayMs > 0) assert.equal(calls, 1);
    } finally {
      await server.close();
    }
  }
});
