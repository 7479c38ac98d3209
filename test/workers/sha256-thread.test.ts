import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SyncError } from '../../src/core/errors.js';
import { Sha256Thread } from '../../src/workers/sha256-thread.js';

const sha = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());

test('the SHA-256 thread hashes whole files, and a file as it is written', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gosync-sha-'));
  const hasher = new Sha256Thread();
  try {
    const data = randomBytes(3 * (1 << 20) + 12345);
    const path = join(dir, 'a');
    await writeFile(path, data);
    assert.deepEqual(await hasher.hashFile(path), sha(data));
    await writeFile(join(dir, 'empty'), '');
    assert.deepEqual(await hasher.hashFile(join(dir, 'empty')), sha(new Uint8Array(0)));
    // A missing file is an IO error, and the thread goes on working.
    await assert.rejects(hasher.hashFile(join(dir, 'missing')), (err: unknown) => SyncError.is(err) && err.code === 'GOSYNC_ERR_IO');

    // Followed while written, in uneven pieces; bytes past the last advance are not hashed.
    const out = join(dir, 'out');
    const fh = await open(out, 'w');
    hasher.follow(out);
    let at = 0;
    for (const n of [1, 65536, 1 << 20, 777, data.length - 1 - 65536 - (1 << 20) - 777]) {
      await fh.write(data, at, n, at);
      at += n;
      hasher.advance(at);
    }
    await fh.write(Buffer.from('not hashed'), 0, 10, at);
    assert.deepEqual(await hasher.digest(), sha(data));
    // A second file followed afterwards starts from zero.
    hasher.follow(path);
    hasher.advance(100);
    assert.deepEqual(await hasher.digest(), sha(data.subarray(0, 100)));
    // Advancing past the file's end fails at digest().
    hasher.follow(join(dir, 'empty'));
    hasher.advance(10);
    await assert.rejects(hasher.digest(), (err: unknown) => SyncError.is(err) && err.code === 'GOSYNC_ERR_IO');
    await fh.close();
  } finally {
    await hasher.close();
    await rm(dir, { recursive: true, force: true });
  }
  // Closed: every later request is refused.
  await assert.rejects(hasher.hashFile('x'), (err: unknown) => SyncError.is(err) && err.code === 'GOSYNC_ERR_WORKER');
});

test('an aborted signal rejects hashFile with ABORTED', async () => {
  const hasher = new Sha256Thread();
  try {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      hasher.hashFile('x', { signal: controller.signal }),
      (err: unknown) => SyncError.is(err) && err.code === 'GOSYNC_ERR_ABORTED',
    );
  } finally {
    await hasher.close();
  }
});

test('the SHA-256 thread hashes the blocks of a range of a file, the short last one zero-padded', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gosync-sha-'));
  const hasher = new Sha256Thread();
  try {
    const bs = 4096;
    const data = randomBytes(300 * bs + 1000);
    const path = join(dir, 'a');
    await writeFile(path, data);
    const block = (i: number) => {
      const b = new Uint8Array(bs);
      b.set(data.subarray(i * bs, (i + 1) * bs));
      return sha(b);
    };
    // A middle range, and the end with its short block; more blocks than one read holds.
    const mid = await hasher.hashBlocks(path, bs, 10 * bs, 13 * bs);
    assert.deepEqual(mid, Uint8Array.from([...block(10), ...block(11), ...block(12)]));
    const tail = await hasher.hashBlocks(path, bs, 0, data.length);
    assert.equal(tail.length, 301 * 32);
    assert.deepEqual(tail.subarray(300 * 32), block(300));
    assert.deepEqual(tail.subarray(299 * 32, 300 * 32), block(299));
    await assert.rejects(
      hasher.hashBlocks(path, bs, 0, data.length + bs),
      (err: unknown) => SyncError.is(err) && err.code === 'GOSYNC_ERR_IO',
    );
  } finally {
    await hasher.close();
    await rm(dir, { recursive: true, force: true });
  }
});
