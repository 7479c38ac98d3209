/**
 * push/pull --checksum: files are compared by the SHA-256 of their content, not by size and
 * mtime (rsync's -c). A file changed without a change of size or mtime is left alone by
 * the quick check and updated with --checksum; a file whose content is the same is not
 * sent, whatever its mtime (its mtime is set at the commit). A server too old to compare
 * by content is refused with a clear error.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { pull, push } from '../../src/remote/push-pull.js';
import { FileListEncoder, decodeFileBatch } from '../../src/remote/wire/file-list.js';
import { runCli } from '../helpers/cli.js';
import { describe, makeTree, serveCommand, tempDir } from './trees.js';

let dir: string;
let cleanup: () => Promise<void>;
before(async () => {
  ({ dir, cleanup } = await tempDir('gosync-remote-checksum-'));
});
after(() => cleanup());

const T = Date.UTC(2024, 0, 2, 3, 4, 5);
let n = 0;

/** A source and a destination whose a.txt differ in content only (same size, same mtime); b.txt differs in mtime only. */
async function pair(): Promise<{ src: string; dst: string }> {
  n++;
  const src = join(dir, `src${n}`);
  const dst = join(dir, `dst${n}`);
  await makeTree(src, { 'a.txt': { data: 'new content!', mtime: T }, 'sub/b.txt': { data: 'same', mtime: T + 5000 } });
  await makeTree(dst, { 'a.txt': { data: 'old content!', mtime: T }, 'sub/b.txt': { data: 'same', mtime: T } });
  return { src, dst };
}

test('push: a file changed without a change of size or mtime is not sent without --checksum, sent with it', async () => {
  const { src, dst } = await pair();
  const quick = await push(src, dst);
  // The quick check: a.txt looks unchanged; b.txt differs in mtime and is sent.
  assert.deepEqual(quick.changedPaths, ['sub/b.txt']);
  assert.equal(await readFile(join(dst, 'a.txt'), 'utf8'), 'old content!');
  const dry = await push(src, dst, { checksum: true, dryRun: true });
  assert.deepEqual(dry.changedPaths, ['a.txt']);
  assert.equal(await readFile(join(dst, 'a.txt'), 'utf8'), 'old content!');
  const r = await push(src, dst, { checksum: true });
  assert.equal(r.files, 2);
  assert.deepEqual(r.changedPaths, ['a.txt']);
  assert.deepEqual(await describe(dst), await describe(src));
  const again = await push(src, dst, { checksum: true });
  assert.equal(again.changed, 0);
});

test('push --checksum: a file with the same content and another mtime is not sent; its mtime is set', async () => {
  const { src, dst } = await pair();
  const r = await push(src, dst, { checksum: true });
  assert.deepEqual(r.changedPaths, ['a.txt']);
  assert.deepEqual(await describe(dst), await describe(src));
});

test('pull --checksum through a serve --stdio child (the server lists the sums)', async () => {
  const { src, dst } = await pair();
  const quick = await pull(src, dst, { localCommand: serveCommand });
  assert.deepEqual(quick.changedPaths, ['sub/b.txt']);
  assert.equal(await readFile(join(dst, 'a.txt'), 'utf8'), 'old content!');
  const r = await pull(src, dst, { checksum: true, localCommand: serveCommand });
  assert.deepEqual(r.changedPaths, ['a.txt']);
  assert.deepEqual(await describe(dst), await describe(src));
});

test('the CLI: push -c', async () => {
  const { src, dst } = await pair();
  const r = await runCli(['push', '-c', '--json', src, dst]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).changedPaths, ['a.txt']);
  assert.deepEqual(await describe(dst), await describe(src));
});

/** A server of an older gosync: it greets, answers WELCOME without "checksum", then waits for the client to go. */
const OLD_SERVER = `
const greeting = Buffer.from([0x89, 0x47, 0x4f, 0x53, 0x59, 0x4e, 0x43, 0x0a, 0, 2, 0, 1, 2, 0, 0, 0]);
const body = Buffer.from(JSON.stringify({ readOnly: false, filters: true }));
const head = Buffer.alloc(5);
head[0] = 0x02;
head.writeUInt32BE(body.length, 1);
process.stdout.write(Buffer.concat([greeting, head, body]));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`;

test('a server too old for --checksum is refused with a clear error (push and pull)', async () => {
  const { src, dst } = await pair();
  const localCommand = [process.execPath, '-e', OLD_SERVER];
  for (const run of [() => push(src, dst, { checksum: true, localCommand }), () => pull(src, dst, { checksum: true, localCommand })]) {
    await assert.rejects(
      run(),
      (err: unknown) => SyncError.is(err) && err.code === ErrorCodes.REFUSED && /Cannot use --checksum with .*too old/.test(err.message),
    );
  }
  assert.equal(await readFile(join(dst, 'a.txt'), 'utf8'), 'old content!');
});

test('the file list carries a file SHA-256 (flag bit 4); one on a folder is refused', () => {
  const sha = new Uint8Array(32).map((_, i) => i);
  const enc = new FileListEncoder();
  enc.add({ path: '', type: 'dir', mode: 0o755, mtime: T, size: 0 });
  enc.add({ path: 'a', type: 'file', mode: 0o644, mtime: T, size: 3, sha256: sha });
  enc.add({ path: 'b', type: 'file', mode: 0o644, mtime: T, size: 3 });
  const batch = decodeFileBatch(enc.take()!);
  assert.deepEqual(batch[1]!.sha256, sha);
  assert.equal(batch[2]!.sha256, undefined);
  // A folder entry with bit 4 set: count 1, flags 0x11, path '' (0 shared, 0 bytes), mode, mtime.
  const bad = Uint8Array.from([1, 0x11, 0, 0, 0x80, 0x01, 0]);
  assert.throws(
    () => decodeFileBatch(bad),
    (err: unknown) => SyncError.is(err) && err.code === ErrorCodes.PROTOCOL,
  );
});
