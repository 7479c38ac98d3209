import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { AtomicFile } from '../../src/localfs/atomic-file.js';
import { isStagingNameOf } from '../../src/localfs/staging.js';
import { modeOf, withUmask } from '../helpers/modes.js';

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
