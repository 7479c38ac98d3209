/**
 * pull -i/--seed: a file the destination does not have is signed against other local
 * files (the seeds, end to end), so the blocks it shares with them are not sent.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { pull, push } from '../../src/remote/push-pull.js';
import { runCli } from '../helpers/cli.js';
import { concat, randomBytes } from '../helpers/data.js';
import { describe, makeTree, serveCommand, tempDir } from './trees.js';

let dir: string;
let cleanup: () => Promise<void>;
before(async () => {
  ({ dir, cleanup } = await tempDir('gosync-remote-seeds-'));
});
after(() => cleanup());

const MiB = 1024 * 1024;

test('pull -i: a new file reuses the blocks of one seed; without it the file is sent whole', async () => {
  const data = randomBytes(2 * MiB, 51);
  const src = join(dir, 'one-src');
  // The new version: the seed with 1000 bytes changed in the middle and 5000 added at the end.
  const edited = concat(data.subarray(0, MiB), randomBytes(1000, 52), data.subarray(MiB + 1000), randomBytes(5000, 53));
  await makeTree(src, { 'big.bin': edited });
  const seed = join(dir, 'one-seed.bin');
  await writeFile(seed, data);
  const plain = await pull(src, join(dir, 'one-plain'), { localCommand: serveCommand });
  assert.equal(plain.matchedBytes, 0);
  const dst = join(dir, 'one-dst');
  const r = await pull(src, dst, { seeds: [seed], localCommand: serveCommand });
  assert.equal(r.changed, 1);
  assert.ok(r.matchedBytes >= 2 * MiB - 64 * 1024, `matched ${r.matchedBytes}`);
  assert.ok(r.bytesReceived < 100_000, `received ${r.bytesReceived}`);
  assert.ok(plain.bytesReceived > 2 * MiB);
  assert.deepEqual(await describe(dst), await describe(src));
});

test('pull --seed with two seeds: a file made of both (and new bytes) is rebuilt from them, exact', async () => {
  const a = randomBytes(MiB, 61);
  const b = randomBytes(MiB, 62);
  const seedA = join(dir, 'two-a.bin');
  const seedB = join(dir, 'two-b.bin');
  await writeFile(seedA, a);
  await writeFile(seedB, b);
  const src = join(dir, 'two-src');
  await makeTree(src, {
    'sub/joined.bin': concat(b.subarray(200_000), randomBytes(3000, 63), a.subarray(0, 700_000)),
    'tiny.txt': 'too small for the seeds: sent whole',
  });
  const dst = join(dir, 'two-dst');
  const r = await pull(src, dst, { seeds: [seedA, seedB] });
  assert.equal(r.changed, 2);
  assert.ok(r.matchedBytes >= 1_500_000, `matched ${r.matchedBytes}`);
  assert.ok(r.literalBytes < 100_000, `literal ${r.literalBytes}`);
  assert.deepEqual(await describe(dst), await describe(src));
  // The seeds are read, never written.
  assert.deepEqual(await readFile(seedA), Buffer.from(a));
});

test('the CLI: pull -i; a missing seed is refused', async () => {
  const data = randomBytes(MiB, 71);
  const seed = join(dir, 'cli-seed.bin');
  await writeFile(seed, data);
  const src = join(dir, 'cli-src');
  await makeTree(src, { 'f.bin': concat(data, randomBytes(100, 72)) });
  const dst = join(dir, 'cli-dst');
  const r = await runCli(['pull', '-i', seed, '--json', src, dst]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(JSON.parse(r.stdout).matchedBytes >= MiB - 64 * 1024);
  assert.deepEqual(await describe(dst), await describe(src));
  await assert.rejects(
    pull(src, join(dir, 'cli-missing'), { seeds: [join(dir, 'no-such-seed')] }),
    (err: unknown) => SyncError.is(err) && err.code === ErrorCodes.IO && /no-such-seed/.test(err.message),
  );
});

test('push -i: the seeds are files of the receiving end; a new file there reuses their blocks', async () => {
  const data = randomBytes(2 * MiB, 81);
  const seed = join(dir, 'push-seed.bin');
  await writeFile(seed, data);
  const src = join(dir, 'push-src');
  await makeTree(src, { 'big.bin': concat(data.subarray(0, MiB), randomBytes(2000, 82), data.subarray(MiB)) });
  const dst = join(dir, 'push-dst');
  // Through a server process (its path as the destination's is given: absolute here).
  const r = await push(src, dst, { seeds: [seed], localCommand: serveCommand });
  assert.equal(r.changed, 1);
  assert.ok(r.bytesSent < 100_000, `sent ${r.bytesSent}`);
  assert.deepEqual(await describe(dst), await describe(src));
  // The CLI takes it for push too; a missing seed fails cleanly.
  const cli = await runCli(['push', '-i', seed, '--json', src, join(dir, 'push-cli')]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.ok(JSON.parse(cli.stdout).sentBytes < 100_000, cli.stdout);
  assert.deepEqual(await describe(join(dir, 'push-cli')), await describe(src));
  const missing = await runCli(['push', '-i', join(dir, 'no-such-seed'), src, join(dir, 'push-missing')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no-such-seed/);
});
