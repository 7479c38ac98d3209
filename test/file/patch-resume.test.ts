import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { BlockSource, ByteRange } from '../../src/core/block-source.js';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { diffFile, patchFile } from '../../src/file/patch-file.js';
import { isTempNameOf, tempPath } from '../../src/localfs/staging.js';
import { MemorySource } from '../../src/sources/memory-source.js';
import { concat, indexOf, randomBytes } from '../helpers/data.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-resume-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const BS = 1024;

/** An old and a new version sharing the first quarter only, and a fresh folder. */
async function setup(name: string) {
  const folder = join(dir, name);
  await mkdir(folder);
  const oldData = randomBytes(200_000, 11);
  const newData = concat(oldData.subarray(0, 50_000), randomBytes(150_000, 12));
  const index = await indexOf(newData, { blockSize: BS });
  const local = join(folder, 'app.bin');
  await writeFile(local, oldData);
  return { folder, local, oldData, newData, index };
}

async function temps(folder: string): Promise<string[]> {
  return (await readdir(folder)).filter((n) => isTempNameOf(n, 'app.bin'));
}

/** A source that fails every read, counting the calls. */
class FailingSource implements BlockSource {
  readonly name = 'failing';
  calls = 0;
  // biome-ignore lint/correctness/useYield: it fails before it yields.
  async *read(_ranges: readonly ByteRange[]): AsyncGenerator<Uint8Array> {
    this.calls++;
    throw new SyncError(ErrorCodes.NETWORK, 'Cannot read: the test source fails');
  }
  async close() {}
}

test('a stale temporary file of the target is one more seed: its verified prefix is not fetched again, and it is removed', async () => {
  const { folder, local, newData, index } = await setup('prefix');
  // What a run killed at 60% left: the output's first 120,000 bytes, torn in mid-block
  // with garbage, as a write cut short could leave it.
  const stale = tempPath(local);
  await writeFile(stale, concat(newData.subarray(0, 120_000), randomBytes(700, 99)));
  const diff = await diffFile({ local, index, threads: 1 });
  assert.ok(diff.files.includes(stale), 'diff reads the stale file too');
  // The first 50,000 bytes are in the local file; 120,000 in the stale one; the rest is missing.
  const missing = newData.length - 120_000;
  assert.ok(diff.fetchBytes >= missing && diff.fetchBytes <= missing + BS, `diff would fetch ${diff.fetchBytes}`);
  assert.deepEqual(await temps(folder), [stale.slice(folder.length + 1)], 'diff removes nothing');

  const source = new MemorySource(newData);
  const report = await patchFile({ local, index, source, threads: 1 });
  assert.deepEqual(await readFile(local), Buffer.from(newData));
  assert.equal(report.fetchedBytes, diff.fetchBytes);
  assert.equal(source.stats.bytes, diff.fetchBytes);
  assert.deepEqual(await temps(folder), []);
});

test('several stale temporary files: those that add nothing are removed, the rest are read, and all are gone after the run', async () => {
  const { folder, local, newData, index } = await setup('several');
  const a = tempPath(local);
  const b = tempPath(local);
  const c = tempPath(local);
  await writeFile(a, newData.subarray(0, 30_000));
  await writeFile(b, newData.subarray(0, 90_000));
  await writeFile(c, Buffer.alloc(0));
  const source = new MemorySource(newData);
  const report = await patchFile({ local, index, source, threads: 1 });
  assert.deepEqual(await readFile(local), Buffer.from(newData));
  assert.ok(report.fetchedBytes <= newData.length - 90_000 + BS, `fetched ${report.fetchedBytes}`);
  assert.deepEqual(await temps(folder), []);
});

test('with -o, the stale temporary files of the output are the ones read and removed', async () => {
  const { folder, local, oldData, newData, index } = await setup('output');
  const out = join(folder, 'out.bin');
  const ofOutput = tempPath(out);
  const ofLocal = tempPath(local);
  await writeFile(ofOutput, newData.subarray(0, 150_000));
  await writeFile(ofLocal, newData);
  const source = new MemorySource(newData);
  const report = await patchFile({ local, output: out, index, source, threads: 1 });
  assert.deepEqual(await readFile(out), Buffer.from(newData));
  assert.deepEqual(await readFile(local), Buffer.from(oldData));
  assert.ok(report.fetchedBytes <= newData.length - 150_000 + BS, `fetched ${report.fetchedBytes}`);
  await assert.rejects(lstat(ofOutput), { code: 'ENOENT' });
  // The local file's own temporary file is not this run's business.
  assert.ok((await lstat(ofLocal)).isFile());
});

test('a failed run removes the stale temporary files too, and leaves the target as it was', async () => {
  const { folder, local, oldData, newData, index } = await setup('failed');
  const stale = tempPath(local);
  await writeFile(stale, newData.subarray(0, 80_000));
  const source = new FailingSource();
  await assert.rejects(patchFile({ local, index, source, threads: 1 }), (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.NETWORK);
  assert.ok(source.calls > 0);
  assert.deepEqual(await readFile(local), Buffer.from(oldData));
  assert.deepEqual(await temps(folder), []);
  assert.deepEqual((await readdir(folder)).sort(), ['app.bin']);
});

test('files that only look like stale temporary files are neither read nor removed', async () => {
  const { folder, local, newData, index } = await setup('lookalikes');
  // The whole new version under names that are not the target's temporary files, and
  // behind a link with the exact name: reading any of them would fetch nothing.
  const secret = join(folder, 'secret');
  await writeFile(secret, newData);
  const lookalikes = [
    join(folder, '.app.bin.0123456789AB.gosync-tmp'),
    join(folder, '.app.bin.01234567.gosync-tmp'),
    join(folder, '.app.bin2.0123456789ab.gosync-tmp'),
    join(folder, 'app.bin.0123456789ab.gosync-tmp'),
  ];
  for (const l of lookalikes) await writeFile(l, newData);
  const link = tempPath(local);
  await symlink(secret, link);
  const fifo = tempPath(local);
  execFileSync('mkfifo', [fifo]);
  const before = (await readdir(folder)).sort();
  const source = new MemorySource(newData);
  const report = await patchFile({ local, index, source, threads: 1 });
  assert.deepEqual(await readFile(local), Buffer.from(newData));
  assert.ok(report.fetchedBytes >= newData.length - 50_000, `fetched ${report.fetchedBytes}: a look-alike was read`);
  assert.deepEqual((await readdir(folder)).sort(), before);
  assert.ok((await lstat(link)).isSymbolicLink());
  assert.ok((await lstat(fifo)).isFIFO());
});

test('an output that is a FIFO or a directory is refused before the source is read, and stays as it was', async () => {
  const { folder, local, oldData, newData, index } = await setup('special');
  const fifo = join(folder, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const sub = join(folder, 'sub');
  await mkdir(sub);
  for (const [output, what] of [
    [fifo, /a FIFO/],
    [sub, /a directory/],
  ] as const) {
    const source = new MemorySource(newData);
    await assert.rejects(
      patchFile({ local, output, index, source, threads: 1 }),
      (e: unknown) =>
        SyncError.is(e) &&
        e.code === ErrorCodes.IO &&
        e.path === output &&
        /^Cannot replace .*not a regular file/.test(e.message) &&
        what.test(e.message),
    );
    assert.equal(source.stats.requests, 0);
  }
  assert.ok((await lstat(fifo)).isFIFO());
  assert.ok((await lstat(sub)).isDirectory());
  assert.deepEqual(await readFile(local), Buffer.from(oldData));
  assert.deepEqual((await readdir(folder)).sort(), ['app.bin', 'fifo', 'sub']);
});
