import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { AtomicFile } from '../../src/localfs/atomic-file.js';
import { FileSource } from '../../src/sources/file-source.js';
import { MemorySource } from '../../src/sources/memory-source.js';
import { isStagingNameOf } from '../../src/localfs/staging.js';
import { modeOf, withUmask } from '../helpers/modes.js';
import { indexOf, randomBytes } from '../helpers/data.js';
import { missingSpansOf } from '../../src/core/matcher.js';
import { assemble } from '../../src/core/patcher.js';
import { planRanges } from '../../src/core/planner.js';

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-atomic-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const mode = modeOf;

test('until commit the target is untouched; the temporary file sits next to it, private, under a staging name', async () => {
  const target = join(dir, 'kept.bin');
  await writeFile(target, 'old');
  const f = await AtomicFile.create(target);
  await f.write(Buffer.from('new '));
  await f.write(Buffer.from('content'));
  assert.equal(dirname(f.tempPath), dir);
  assert.ok(isStagingNameOf(basename(f.tempPath), 'kept.bin'), basename(f.tempPath));
  assert.equal(await mode(f.tempPath), 0o600);
  assert.equal(await readFile(target, 'utf8'), 'old');
  await f.commit();
  assert.equal(await readFile(target, 'utf8'), 'new content');
  await assert.rejects(stat(f.tempPath), { code: 'ENOENT' });
});

test('a new file gets 0o644 less the umask; the temporary file is 0o600 meanwhile', async () => {
  for (const [mask, want] of [
    [0o022, 0o644],
    [0o027, 0o640],
    [0o077, 0o600],
    [0o002, 0o644],
  ] as const) {
    const target = join(dir, `new-${mask.toString(8)}`);
    await withUmask(mask, async () => {
      const f = await AtomicFile.create(target);
      assert.equal(await mode(f.tempPath), 0o600, `umask ${mask.toString(8)}: the temporary file`);
      await f.write(Buffer.from('x'));
      await f.commit();
    });
    assert.equal(await mode(target), want, `umask ${mask.toString(8)}`);
  }
});

test('an existing target keeps its mode, whatever the umask', async () => {
  for (const want of [0o600, 0o755, 0o640, 0o444]) {
    const target = join(dir, `existing-${want.toString(8)}`);
    await writeFile(target, 'old');
    await chmod(target, want);
    await withUmask(0o077, async () => {
      const f = await AtomicFile.create(target);
      await f.write(Buffer.from('new'));
      await f.commit({ fsync: true });
    });
    assert.equal(await mode(target), want);
    assert.equal(await readFile(target, 'utf8'), 'new');
  }
});

test('abort removes the temporary file and leaves the target as it was; it may be called again', async () => {
  const target = join(dir, 'aborted');
  await writeFile(target, 'old');
  const f = await AtomicFile.create(target);
  await f.write(Buffer.from('half'));
  await f.abort();
  await f.abort();
  assert.equal(await readFile(target, 'utf8'), 'old');
  assert.deepEqual(
    (await readdir(dir)).filter((n) => isStagingNameOf(n, 'aborted')),
    [],
  );
  await assert.rejects(f.commit(), /already committed or aborted/);
});

test('a file that cannot be created or replaced is an IO error naming the target, and nothing is left behind', async () => {
  const nowhere = join(dir, 'no-such-folder', 'file');
  await assert.rejects(
    AtomicFile.create(nowhere),
    (e: unknown) =>
      SyncError.is(e) && e.code === ErrorCodes.IO && e.path === nowhere && /^Cannot create a temporary file for /.test(e.message),
  );
  // The target's name is taken by a non-empty folder once the file is being written:
  // the commit refuses it (a folder there from the start is refused by create).
  const blocked = join(dir, 'blocked');
  const f = await AtomicFile.create(blocked);
  await mkdir(join(blocked, 'inside'), { recursive: true });
  await f.write(Buffer.from('data'));
  await assert.rejects(
    f.commit(),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.IO && e.path === blocked && /^Cannot replace /.test(e.message),
  );
  assert.deepEqual(
    (await readdir(dir)).filter((n) => isStagingNameOf(n, 'blocked')),
    [],
  );
});

test('copyWhole takes a local file source in one copy, cut to the asked length; a shorter source or one that cannot copy gives undefined', async () => {
  const data = randomBytes(3 * 1024 * 1024 + 77, 9);
  const ref = join(dir, 'copy-ref.bin');
  await writeFile(ref, data);
  const source = new FileSource(ref);
  try {
    const f = await AtomicFile.create(join(dir, 'copy-out.bin'));
    const copied = await f.copyWhole(source, data.length - 77);
    assert.ok(copied);
    assert.deepEqual(source.stats, { requests: 1, bytes: data.length - 77 });
    const back = new Uint8Array(100);
    assert.equal(await copied.readInto(back, 1000), 100);
    assert.deepEqual(back, data.subarray(1000, 1100));
    assert.equal(await copied.readInto(back, data.length - 77), 0);
    await copied.close();
    await f.commit();
    assert.deepEqual(await readFile(join(dir, 'copy-out.bin')), Buffer.from(data.subarray(0, data.length - 77)));

    const g = await AtomicFile.create(join(dir, 'copy-short.bin'));
    assert.equal(await g.copyWhole(source, data.length + 1), undefined);
    assert.equal(await g.copyWhole(new MemorySource(data), data.length), undefined);
    assert.equal((await stat(g.tempPath)).size, 0);
    await g.abort();

    // reset empties the copy, and writes then start from its beginning.
    const h = await AtomicFile.create(join(dir, 'copy-reset.bin'));
    const c = await h.copyWhole(source, data.length);
    await c!.reset();
    await c!.close();
    await h.write(Buffer.from('after'));
    await h.commit();
    assert.equal(await readFile(join(dir, 'copy-reset.bin'), 'utf8'), 'after');
  } finally {
    await source.close();
  }
});

test('assemble from a local file source into an atomic file copies it in one request, every block checked', async () => {
  const data = randomBytes(3 * 1024 * 1024 + 500, 10);
  const ref = join(dir, 'assemble-ref.bin');
  await writeFile(ref, data);
  const index = await indexOf(data, { blockSize: 4096 });
  const none = new Int32Array(index.blockCount).fill(-1);
  const ranges = planRanges(missingSpansOf(none), { fileSize: index.fileSize, blockSize: 4096 });
  // Nothing found locally: every block comes from the source.
  const fromSource = (source: FileSource, sink: AtomicFile) =>
    assemble({ index, foundSource: none, foundOffset: new Float64Array(index.blockCount), locals: [], ranges, source, sink });
  const source = new FileSource(ref);
  const f = await AtomicFile.create(join(dir, 'assemble-out.bin'));
  try {
    const r = await fromSource(source, f);
    assert.deepEqual(r, { reusedBytes: 0, fetchedBytes: data.length });
    // Read in 1 MiB pieces this would be 4 requests.
    assert.deepEqual(source.stats, { requests: 1, bytes: data.length });
    await f.commit();
  } finally {
    await f.abort();
    await source.close();
  }
  assert.deepEqual(await readFile(join(dir, 'assemble-out.bin')), Buffer.from(data));

  // A reference that is not what the index describes fails its blocks' check, after the copy is emptied.
  const wrong = Uint8Array.from(data);
  wrong[5000]! ^= 1;
  await writeFile(ref, wrong);
  const source2 = new FileSource(ref);
  const g = await AtomicFile.create(join(dir, 'assemble-bad.bin'));
  try {
    await assert.rejects(fromSource(source2, g), (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.BLOCK_MISMATCH);
  } finally {
    await g.abort();
    await source2.close();
  }
});

test('writeSync: the same result as create, write and commit (content, a new file 0o644 less the umask, an existing mode kept), no temporary file left', async () => {
  const fresh = join(dir, 'sync-new');
  await withUmask(0o027, async () => {
    AtomicFile.writeSync(fresh, [Buffer.from('new '), Buffer.from('content'), new Uint8Array(0)]);
  });
  assert.equal(await readFile(fresh, 'utf8'), 'new content');
  assert.equal(await mode(fresh), 0o640);
  const kept = join(dir, 'sync-kept');
  await writeFile(kept, 'old');
  await chmod(kept, 0o755);
  await withUmask(0o077, async () => {
    AtomicFile.writeSync(kept, [Buffer.from('replaced')]);
  });
  assert.equal(await readFile(kept, 'utf8'), 'replaced');
  assert.equal(await mode(kept), 0o755);
  const given = join(dir, 'sync-given');
  AtomicFile.writeSync(given, [Buffer.from('x')], { mode: 0o600 });
  assert.equal(await mode(given), 0o600);
  const empty = join(dir, 'sync-empty');
  AtomicFile.writeSync(empty, []);
  assert.equal((await stat(empty)).size, 0);
  assert.deepEqual(
    (await readdir(dir)).filter((n) => ['sync-new', 'sync-kept', 'sync-given', 'sync-empty'].some((t) => isStagingNameOf(n, t))),
    [],
  );
});

test('writeSync: a folder at the target or no folder for it is an IO error naming the target, and nothing is left behind', async () => {
  const folder = join(dir, 'sync-folder');
  await mkdir(folder);
  assert.throws(
    () => AtomicFile.writeSync(folder, [Buffer.from('data')]),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.IO && e.path === folder && /a directory/.test(e.message),
  );
  assert.ok((await stat(folder)).isDirectory());
  const nowhere = join(dir, 'no-such-folder', 'file');
  assert.throws(
    () => AtomicFile.writeSync(nowhere, [Buffer.from('data')]),
    (e: unknown) =>
      SyncError.is(e) && e.code === ErrorCodes.IO && e.path === nowhere && /^Cannot create a temporary file for /.test(e.message),
  );
  assert.deepEqual(
    (await readdir(dir)).filter((n) => isStagingNameOf(n, 'sync-folder')),
    [],
  );
});
