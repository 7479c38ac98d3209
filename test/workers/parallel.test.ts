import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildIndexFile } from '../../src/file/build-file.js';
import { decodeIndex } from '../../src/core/index/format.js';
import { scanLocalFiles } from '../../src/file/local-scan.js';
import { patchFile } from '../../src/file/patch-file.js';
import { FileSource } from '../../src/sources/file-source.js';
import { PARALLEL_MIN_SIZE, WorkerPool } from '../../src/workers/worker-pool.js';
import { shareIndex } from '../../src/workers/tasks.js';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { concat, randomBytes } from '../helpers/data.js';

let dir: string;
// 40 MiB: above the size at which building and scanning go to worker threads.
const oldData = randomBytes(40 * 1024 * 1024 + 1234, 77);
const edits = [3_000_000, 17_000_000, 33_554_432, 39_000_000];
const newData = concat(
  oldData.subarray(0, edits[0]!),
  randomBytes(999, 1),
  oldData.subarray(edits[0]!, edits[1]!),
  oldData.subarray(edits[1]! + 5000, edits[2]!),
  randomBytes(70_000, 2),
  oldData.subarray(edits[2]! + 70_000, edits[3]!),
  oldData.subarray(edits[3]! + 1),
);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-par-'));
  await writeFile(join(dir, 'old'), oldData);
  await writeFile(join(dir, 'new'), newData);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('an index built on worker threads is byte-identical to one built on one thread', async () => {
  assert.ok(newData.length >= PARALLEL_MIN_SIZE, `${newData.length} bytes would be hashed on the calling thread`);
  await buildIndexFile(join(dir, 'new'), join(dir, 'new.par.gosync'), { threads: 2 });
  await buildIndexFile(join(dir, 'new'), join(dir, 'new.one.gosync'), { threads: 1 });
  const par = await readFile(join(dir, 'new.par.gosync'));
  assert.deepEqual(par, await readFile(join(dir, 'new.one.gosync')));
  assert.deepEqual(Buffer.from(decodeIndex(par).fileDigest.digest), createHash('sha256').update(newData).digest());
});

test('a scan on worker threads finds what a serial scan finds, and the patch is exact', async () => {
  await buildIndexFile(join(dir, 'new'), join(dir, 'new.gosync'), { threads: 1 });
  const index = decodeIndex(await readFile(join(dir, 'new.gosync')));
  assert.ok(oldData.length >= PARALLEL_MIN_SIZE, `${oldData.length} bytes would be scanned on the calling thread`);
  const serial = await scanLocalFiles(index, [join(dir, 'old')], { threads: 1 });
  const parallel = await scanLocalFiles(index, [join(dir, 'old')], { threads: 2 });
  // Section boundaries may cost a block or two of resynchronisation, never more.
  assert.ok(parallel.matcher.foundCount >= serial.matcher.foundCount - 8, `${parallel.matcher.foundCount} vs ${serial.matcher.foundCount}`);
  assert.ok(serial.matcher.foundCount >= index.blockCount - 80);
  assert.equal(parallel.matcher.stats.bytesScanned >= oldData.length, true);
  // The workers' full block hashes come back with their blocks: the same as the serial scan's.
  const [sh, ph] = [serial.matcher.fullHashes, parallel.matcher.fullHashes];
  assert.ok(sh && ph, 'both scans keep the full block hashes (the index has a block digest)');
  let compared = 0;
  for (let i = 0; i < index.blockCount; i++) {
    if (serial.matcher.foundSource[i]! < 0 || parallel.matcher.foundSource[i]! < 0) continue;
    assert.deepEqual(ph.subarray(i * 32, (i + 1) * 32), sh.subarray(i * 32, (i + 1) * 32), `block ${i}`);
    compared++;
  }
  assert.ok(compared > index.blockCount / 2, `${compared} blocks compared`);
  const out = join(dir, 'out');
  const source = new FileSource(join(dir, 'new'));
  const report = await patchFile({ local: join(dir, 'old'), output: out, index, source, threads: 2 }).finally(() => source.close());
  assert.deepEqual(await readFile(out), Buffer.from(newData));
  assert.ok(report.fetchedBytes < 200_000, `fetched ${report.fetchedBytes}`);
});

test('a worker pool moves buffers and reports worker errors', async () => {
  const pool = new WorkerPool(2);
  try {
    const buffer = new ArrayBuffer(8192);
    new Uint8Array(buffer).fill(7);
    const r = await pool.run<{ records: ArrayBuffer; buffer: ArrayBuffer }>(
      { kind: 'records', shape: { blockSize: 4096, weakBytes: 4, strongBytes: 8 }, buffer, length: 8192 },
      [buffer],
    );
    assert.equal(buffer.byteLength, 0, 'the buffer was moved, not copied');
    assert.equal(r.records.byteLength, 2 * (12 + 32), "two records, then their blocks' full SHA-256");
    assert.equal(r.buffer.byteLength, 8192);
    const index = decodeIndex(await readFile(join(dir, 'new.par.gosync')));
    await assert.rejects(
      pool.run({
        kind: 'scan',
        index: shareIndex(index, 'x'),
        path: join(dir, 'missing'),
        source: 0,
        sections: [[0, 1]],
        fileSize: 1,
        known: new Uint8Array(0),
      }),
      (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.IO && /Cannot open the local file .*missing/.test(e.message),
    );
  } finally {
    await pool.close();
  }
});
