import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chown, link, lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { AtomicFile, checkReplaceable, staleTempFiles } from '../../src/localfs/atomic-file.js';
import { isStagingName, isTempNameOf, tempPath } from '../../src/localfs/staging.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-atomic-special-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Asserts `p` is refused as "not a regular file", naming what it is. */
async function refused(p: Promise<unknown>, target: string, what: RegExp): Promise<void> {
  await assert.rejects(
    p,
    (e: unknown) =>
      SyncError.is(e) &&
      e.code === ErrorCodes.IO &&
      e.path === target &&
      /^Cannot replace .*not a regular file/.test(e.message) &&
      what.test(e.message),
  );
}

async function staging(): Promise<string[]> {
  return (await readdir(dir)).filter(isStagingName);
}

test('a FIFO, a socket, a directory or a device at the target is refused by create, nothing is created, and it stays what it was', async () => {
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  await refused(AtomicFile.create(fifo), fifo, /a FIFO/);
  assert.ok((await lstat(fifo)).isFIFO());

  const folder = join(dir, 'folder');
  await mkdir(folder);
  await refused(AtomicFile.create(folder), folder, /a directory/);
  await refused(AtomicFile.create(folder, { mode: 0o600 }), folder, /a directory/);
  assert.ok((await lstat(folder)).isDirectory());

  const sock = join(dir, 'sock');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  try {
    await refused(AtomicFile.create(sock), sock, /a socket/);
    assert.ok((await lstat(sock)).isSocket());
  } finally {
    server.close();
  }
  assert.deepEqual(await staging(), []);
});

test('a device node at the target is refused and kept (root only: mknod)', { skip: !isRoot && 'needs root for mknod' }, async () => {
  const dev = join(dir, 'full');
  // Major 1, minor 7 is /dev/full on Linux.
  execFileSync('mknod', [dev, 'c', '1', '7']);
  await refused(AtomicFile.create(dev), dev, /a device/);
  await refused(checkReplaceable(dev), dev, /a device/);
  assert.ok((await lstat(dev)).isCharacterDevice());
  assert.deepEqual(await staging(), []);
});

test('a FIFO put at the target while the file is written is refused at commit; the temporary file is removed', async () => {
  const target = join(dir, 'late-fifo');
  const f = await AtomicFile.create(target);
  await f.write(Buffer.from('data'));
  execFileSync('mkfifo', [target]);
  await refused(f.commit(), target, /a FIFO/);
  assert.ok((await lstat(target)).isFIFO());
  assert.deepEqual(await staging(), []);
});

test('a regular file, a link or nothing may be replaced; a link is replaced, not followed', async () => {
  assert.equal(await checkReplaceable(join(dir, 'nothing')), undefined);
  const real = join(dir, 'real');
  await writeFile(real, 'kept');
  const ln = join(dir, 'ln');
  await symlink(real, ln);
  assert.ok((await checkReplaceable(ln))?.isSymbolicLink());
  const f = await AtomicFile.create(ln);
  await f.write(Buffer.from('new'));
  await f.commit();
  assert.ok((await lstat(ln)).isFile());
  assert.equal(await readFile(ln, 'utf8'), 'new');
  assert.equal(await readFile(real, 'utf8'), 'kept');
});

test('isTempNameOf matches only the exact temporary names of the file itself', () => {
  const t = basename(tempPath(join(dir, 'app.bin')));
  assert.ok(isTempNameOf(t, 'app.bin'));
  assert.ok(!isTempNameOf(t, 'app'));
  assert.ok(!isTempNameOf(t, 'app.bin.x'));
  assert.ok(!isTempNameOf('.app.bin.0123456789ab.gosync-tmp.x', 'app.bin'));
  assert.ok(!isTempNameOf('.app.bin.0123456789AB.gosync-tmp', 'app.bin'));
  assert.ok(!isTempNameOf('.app.bin.0123456789a.gosync-tmp', 'app.bin'));
  assert.ok(!isTempNameOf('.app.bin.0123456789abc.gosync-tmp', 'app.bin'));
  assert.ok(!isTempNameOf('.app.bin.x.0123456789ab.gosync-tmp', 'app.bin'));
  // A part's temporary file is not the file's own.
  assert.ok(!isTempNameOf(basename(tempPath(join(dir, '.app.bin.abcd.gosync-part'))), 'app.bin'));
  const long = 'n'.repeat(200);
  assert.ok(isTempNameOf(basename(tempPath(join(dir, long))), long));
  assert.ok(!isTempNameOf(basename(tempPath(join(dir, long))), `${long}x`));
});

test('staleTempFiles: the exact temporary names of the target only, regular files with one link owned by the user, under the size cap, largest first', async () => {
  const sub = await mkdtemp(join(dir, 'stale-'));
  const target = join(sub, 'app.bin');
  const small = tempPath(target);
  const large = tempPath(target);
  await writeFile(small, Buffer.alloc(10));
  await writeFile(large, Buffer.alloc(100));
  // Not the target's: a sibling's, a part's, wrong hex, a link, a FIFO, a hard link, too big.
  await writeFile(tempPath(join(sub, 'app.bin2')), 'x');
  await writeFile(tempPath(join(sub, '.app.bin.abcd.gosync-part')), 'x');
  await writeFile(join(sub, '.app.bin.XYZ.gosync-tmp'), 'x');
  await writeFile(join(sub, 'secret'), 'secret');
  await symlink(join(sub, 'secret'), tempPath(target));
  execFileSync('mkfifo', [tempPath(target)]);
  await link(join(sub, 'secret'), tempPath(target));
  const huge = tempPath(target);
  await writeFile(huge, Buffer.alloc(1000));
  const other = tempPath(target);
  await writeFile(other, Buffer.alloc(50));
  if (isRoot) await chown(other, 12345, 12345);
  const found = await staleTempFiles(target, { maxSize: 500 });
  assert.deepEqual(found, isRoot ? [large, small] : [large, other, small]);
  assert.deepEqual(await staleTempFiles(join(sub, 'none')), []);
  assert.deepEqual(await staleTempFiles(join(sub, 'no-folder', 'x')), []);
  // Nothing was removed or changed by looking.
  assert.equal((await readdir(sub)).length, 11);
});
