import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { openLocalReaders, scanLocalFiles } from '../../src/file/local-scan.js';
import { indexOf, randomBytes } from '../helpers/data.js';

let dir: string;
const data = randomBytes(64 * 1024, 5);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-scan-'));
  await writeFile(join(dir, 'a'), data);
  await writeFile(join(dir, 'b'), data.subarray(0, 1000));
  await mkdir(join(dir, 'folder'));
  await symlink('b', join(dir, 'link-to-b'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Open file descriptors of this process (Linux). */
function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

const isIo = (pattern: RegExp) => (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.IO && pattern.test(e.message);

test('openLocalReaders closes the files it opened when a later one cannot be opened', { skip: process.platform !== 'linux' }, async () => {
  const paths = [join(dir, 'a'), join(dir, 'b'), join(dir, 'missing'), join(dir, 'a')];
  const before = openFds();
  await assert.rejects(openLocalReaders(paths), isIo(/^Cannot open the local file .*missing: /));
  assert.equal(openFds(), before, 'no file descriptor is left open');
  // The same list without the missing file opens every file, and close() releases them.
  const ok = await openLocalReaders([paths[0]!, paths[1]!, paths[3]!]);
  assert.equal(openFds(), before + 3);
  await ok.close();
  assert.equal(openFds(), before);
});

test('openLocalReaders reads each file at any position; a failed read is an IO error naming the file', async () => {
  const { readers, close } = await openLocalReaders([join(dir, 'a'), join(dir, 'b')]);
  try {
    const target = new Uint8Array(100);
    assert.equal(await readers[0]!.readInto(target, 5000), 100);
    assert.deepEqual(target, data.subarray(5000, 5100));
    assert.equal(await readers[1]!.readInto(target, 950), 50, 'a short read at the end of the file');
    assert.deepEqual(target.subarray(0, 50), data.subarray(950, 1000));
    assert.equal(await readers[1]!.readInto(target, 1000), 0);
  } finally {
    await close();
  }
  await assert.rejects(readers[0]!.readInto(new Uint8Array(10), 0), isIo(/^Cannot read the local file .*a: /));
});

test('scanLocalFiles skips missing files and files listed twice, and refuses what is not a regular file', async () => {
  const index = await indexOf(data, { blockSize: 4096 });
  const paths = [join(dir, 'missing'), join(dir, 'b'), join(dir, 'link-to-b'), join(dir, 'a'), join(dir, 'a')];
  const scan = await scanLocalFiles(index, paths, { threads: 1 });
  assert.deepEqual(scan.files, [join(dir, 'b'), join(dir, 'a')]);
  assert.equal(scan.matcher.complete, true);
  // Every block is in `a`, none whole in the 1000 bytes of `b`.
  assert.ok(Array.from(scan.matcher.foundSource).every((s) => s === 1));
  await assert.rejects(
    scanLocalFiles(index, [join(dir, 'a'), join(dir, 'folder')], { threads: 1 }),
    isIo(/^Cannot read the local file .*folder: it is not a regular file$/),
  );
});
