/**
 * A folder patch never replaces a FIFO, a device node or a socket: where the manifest
 * lists a file (or a link, or a folder) and the local folder has one of them, the patch is
 * refused with TREE_CONFLICT before anything is fetched or written, and the folder is left
 * as it was. (The single-file patch refuses such outputs too: localfs/atomic-file.ts.)
 * Each of them was replaced by the downloaded file before.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstat, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { buildTree } from '../../src/tree/build-tree.js';
import { patchTree } from '../../src/tree/patch-tree.js';
import { put, snapshot, tempDir } from './tree-fixtures.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

let base: string;
let manifest: string;
before(async () => {
  base = await tempDir('special');
  const src = join(base, 'src');
  await put(src, 'a/x.bin', 'new content of x\n'.repeat(100));
  await put(src, 'a/empty', '');
  await put(src, 'b.txt', 'b, new\n');
  const pub = join(base, 'pub');
  manifest = (await buildTree(src, pub)).manifest;
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

/** A target folder with the old files and `make(path)` at `rel`; returns it. */
async function target(name: string, rel: string, make: (path: string) => Promise<void> | void): Promise<string> {
  const dir = join(base, name);
  await put(dir, 'a/keep', 'kept\n');
  await put(dir, 'b.txt', 'b, old\n');
  await make(join(dir, ...rel.split('/')));
  return dir;
}

async function refusedUnchanged(dir: string, rel: string, what: RegExp): Promise<void> {
  const before = await snapshot(dir);
  await assert.rejects(
    patchTree(dir, manifest, { delete: true }),
    (e: unknown) =>
      SyncError.is(e) &&
      e.code === ErrorCodes.TREE_CONFLICT &&
      e.path === join(dir, ...rel.split('/')) &&
      what.test(e.message) &&
      /not a regular file/.test(e.message),
  );
  // Nothing written, nothing removed: not even b.txt, whose new content the manifest lists.
  assert.deepEqual(await snapshot(dir), before);
}

test('a FIFO where the manifest lists a file is refused with TREE_CONFLICT; the folder is left as it was', async (t) => {
  if (process.platform === 'win32') return t.skip('no FIFOs');
  const dir = await target('fifo', 'a/x.bin', (p) => {
    execFileSync('mkfifo', [p]);
  });
  await refusedUnchanged(dir, 'a/x.bin', /a FIFO/);
  assert.ok((await lstat(join(dir, 'a/x.bin'))).isFIFO());
});

test('a FIFO where the manifest lists an empty file is refused', async (t) => {
  if (process.platform === 'win32') return t.skip('no FIFOs');
  const dir = await target('fifo-empty', 'a/empty', (p) => {
    execFileSync('mkfifo', [p]);
  });
  await refusedUnchanged(dir, 'a/empty', /a FIFO/);
  assert.ok((await lstat(join(dir, 'a/empty'))).isFIFO());
});

test('a socket where the manifest lists a file is refused', async (t) => {
  if (process.platform === 'win32') return t.skip('no Unix sockets');
  const server = createServer();
  t.after(() => server.close());
  const dir = await target('socket', 'b.txt', async (p) => {
    await rm(p);
    await new Promise<void>((resolve) => server.listen(p, resolve));
  });
  await refusedUnchanged(dir, 'b.txt', /a socket/);
  assert.ok((await lstat(join(dir, 'b.txt'))).isSocket());
});

test('a device node where the manifest lists a file is refused (root only: mknod)', {
  skip: !isRoot && 'needs root for mknod',
}, async () => {
  const dir = await target('device', 'a/x.bin', (p) => {
    execFileSync('mknod', [p, 'c', '1', '7']);
  });
  await refusedUnchanged(dir, 'a/x.bin', /a device/);
  assert.ok((await lstat(join(dir, 'a/x.bin'))).isCharacterDevice());
});
