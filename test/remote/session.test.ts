/**
 * push and pull between two local paths: both ends in one process over the in-memory
 * pipe, speaking the same protocol as over ssh. Files (new, changed, identical), trees
 * with folders, links and empty folders, modes and mtimes, --delete, --dry-run, and
 * what the destination becomes whatever it was before.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { lstat, mkdir, readFile, readdir, readlink, symlink, utimes, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { pull, push } from '../../src/remote/push-pull.js';
import { partName } from '../../src/localfs/staging.js';
import { AtomicFile } from '../../src/localfs/atomic-file.js';
import { CLI } from '../helpers/cli.js';
import { concat, randomBytes } from '../helpers/data.js';
import { describe, leftovers, makeTree, tempDir } from './trees.js';

let dir: string;
let cleanup: () => Promise<void>;
before(async () => {
  ({ dir, cleanup } = await tempDir());
});
after(() => cleanup());

let n = 0;
/** A fresh pair of paths inside the test folder. */
function paths(): { src: string; dst: string } {
  n++;
  return { src: join(dir, `src${n}`), dst: join(dir, `dst${n}`) };
}

const T0 = Date.UTC(2024, 0, 2, 3, 4, 5, 678);

test('push a new file: created with its content, mode and mtime', async () => {
  const { src, dst } = paths();
  await makeTree(src, { 'a.bin': { data: randomBytes(200_000, 1), mode: 0o640, mtime: T0 } });
  const r = await push(join(src, 'a.bin'), dst);
  assert.deepEqual(await describe(dst), await describe(join(src, 'a.bin')));
  assert.equal(r.files, 1);
  assert.equal(r.changed, 1);
  assert.equal(r.literalBytes, 200_000);
  assert.equal(r.matchedBytes, 0);
  assert.ok(r.bytesSent > 200_000 && r.bytesSent < 202_000, `random data costs about its size: ${r.bytesSent}`);
  assert.ok(r.bytesReceived < 1000);
  assert.ok(r.seconds > 0);
  assert.deepEqual(r.changedPaths, ['']);
  assert.deepEqual(await leftovers(dir), []);
});

test('push a changed file (insertions, a deletion): only the new bytes cross, and the result is exact', async () => {
  const { src, dst } = paths();
  const old = randomBytes(1_000_000, 2);
  const next = concat(
    old.subarray(0, 100_000),
    Buffer.from('inserted here'),
    old.subarray(100_000, 600_000),
    old.subarray(610_000),
    randomBytes(3000, 3),
  );
  await makeTree(src, { f: { data: next, mtime: T0 } });
  await makeTree(dst, { f: { data: old, mtime: T0 - 5000 } });
  const r = await push(join(src, 'f'), join(dst, 'f'));
  assert.deepEqual(await readFile(join(dst, 'f')), Buffer.from(next));
  assert.equal(Math.round((await lstat(join(dst, 'f'))).mtimeMs), T0);
  assert.equal(r.changed, 1);
  assert.equal(r.literalBytes + r.matchedBytes, next.length);
  assert.ok(r.literalBytes < 10_000, `literal bytes ${r.literalBytes}`);
  assert.ok(r.bytesSent < 15_000, `sent ${r.bytesSent}`);
  assert.ok(r.bytesReceived < 20_000, `received ${r.bytesReceived} (the signature)`);
});

test('identical content with another mtime: all of it matched, only the time changes; same size and mtime: not read at all', async () => {
  const { src, dst } = paths();
  const data = randomBytes(300_000, 4);
  await makeTree(src, { f: { data, mtime: T0 } });
  await makeTree(dst, { f: { data, mtime: T0 + 60_000 } });
  const r = await push(join(src, 'f'), join(dst, 'f'));
  assert.equal(r.changed, 1);
  assert.equal(r.literalBytes, 0);
  assert.equal(r.matchedBytes, 300_000);
  assert.ok(r.bytesSent < 1000, `sent ${r.bytesSent}`);
  assert.equal(Math.round((await lstat(join(dst, 'f'))).mtimeMs), T0);
  const again = await push(join(src, 'f'), join(dst, 'f'));
  assert.equal(again.changed, 0);
  assert.equal(again.matchedBytes, 0);
  assert.ok(again.bytesReceived < 300);
});

const treeSpec = {
  'README.md': { data: 'hello\n', mode: 0o644, mtime: T0 },
  'bin/tool': { data: randomBytes(50_000, 5), mode: 0o755, mtime: T0 + 1 },
  'lib/a/deep/x.js': { data: 'x'.repeat(10_000), mtime: T0 + 2 },
  'lib/a/deep': { dir: true as const, mode: 0o750, mtime: T0 + 3 },
  'lib/a': { dir: true as const, mtime: T0 + 4 },
  lib: { dir: true as const, mtime: T0 + 5 },
  bin: { dir: true as const, mtime: T0 + 6 },
  'empty/nothing': { dir: true as const, mode: 0o700, mtime: T0 + 7 },
  empty: { dir: true as const, mtime: T0 + 8 },
  'link-to-readme': { link: 'README.md' },
  dangling: { link: '../../somewhere/else' },
  'zero.txt': { data: '', mtime: T0 + 9 },
};

test('push a tree into a missing folder: folders, empty folders, files, links, modes and mtimes', async () => {
  const { src, dst } = paths();
  await makeTree(src, treeSpec);
  await utimes(src, new Date(T0 + 10), new Date(T0 + 10));
  const r = await push(src, dst);
  const want = await describe(src);
  const got = await describe(dst);
  assert.deepEqual(got, want);
  assert.equal(r.files, 4);
  assert.equal(r.changed, 4);
  assert.equal(await readlink(join(dst, 'dangling')), '../../somewhere/else');
  // A second run finds nothing to do.
  const again = await push(src, dst);
  assert.equal(again.changed, 0);
  assert.deepEqual(await describe(dst), want);
  assert.deepEqual(await leftovers(dst), []);
});

test('pull a tree: the same, the other way', async () => {
  const { src, dst } = paths();
  await makeTree(src, treeSpec);
  await makeTree(dst, { 'README.md': 'old readme that is longer', 'bin/tool': randomBytes(50_000, 6) });
  const r = await pull(src, dst);
  assert.deepEqual(await describe(dst), await describe(src));
  assert.equal(r.changed, 4);
  assert.ok(r.bytesReceived > 50_000, 'the random tool came in full');
});

test('an update of a tree: changed, added and (with --delete) removed entries', async () => {
  const { src, dst } = paths();
  const big = randomBytes(400_000, 7);
  await makeTree(dst, {
    'keep.txt': { data: 'same', mtime: T0 },
    'big.bin': { data: big, mtime: T0 },
    'gone.txt': 'to be deleted',
    'gone-dir/inner/file': 'deleted with its folder',
    'was-dir/child': 'a folder becomes a file',
    'was-file': 'a file becomes a folder',
  });
  const bigNext = concat(big.subarray(0, 200_000), randomBytes(1000, 8), big.subarray(200_000));
  await makeTree(src, {
    'keep.txt': { data: 'same', mtime: T0 },
    'big.bin': { data: bigNext, mtime: T0 + 1000 },
    'new/file.txt': 'new',
    'was-dir': 'now a file',
    'was-file/child': 'now inside a folder',
  });
  // Without --delete: a non-empty folder where a file goes is a conflict; nothing is changed.
  const before = await describe(dst);
  await assert.rejects(
    push(src, dst),
    (err: unknown) =>
      SyncError.is(err) && err.code === ErrorCodes.TREE_CONFLICT && /was-dir: it is a folder that is not empty/.test(err.message),
  );
  assert.deepEqual(await describe(dst), before);
  assert.deepEqual(await leftovers(dst), []);
  const r = await push(src, dst, { delete: true });
  assert.deepEqual(await describe(dst), await describe(src));
  assert.equal(r.deleted, 2);
  assert.deepEqual(r.deletedPaths.sort(), ['gone-dir', 'gone.txt']);
  assert.ok(r.literalBytes < 20_000, `literal ${r.literalBytes}`);
  assert.deepEqual(await leftovers(dst), []);
});

test('without --delete, extraneous entries stay', async () => {
  const { src, dst } = paths();
  await makeTree(src, { 'a.txt': 'a' });
  await makeTree(dst, { 'extra.txt': 'stays', 'a.txt': 'old a' });
  const r = await push(src, dst);
  assert.equal(r.deleted, 0);
  assert.equal(await readFile(join(dst, 'extra.txt'), 'utf8'), 'stays');
  assert.equal(await readFile(join(dst, 'a.txt'), 'utf8'), 'a');
});

test('--dry-run reports what would change and writes nothing', async () => {
  const { src, dst } = paths();
  await makeTree(src, { 'a.txt': 'new a', 'sub/b.txt': 'b', 'c.txt': { data: 'same', mtime: T0 } });
  await makeTree(dst, { 'a.txt': 'old a!', 'c.txt': { data: 'same', mtime: T0 }, 'extra/x': 'x' });
  const before = await describe(dst);
  for (const run of [() => push(src, dst, { dryRun: true, delete: true }), () => pull(src, dst, { dryRun: true, delete: true })]) {
    const r = await run();
    assert.equal(r.dryRun, true);
    assert.equal(r.changed, 2);
    assert.deepEqual(r.changedPaths.sort(), ['a.txt', 'sub/b.txt']);
    assert.equal(r.deleted, 1);
    assert.deepEqual(r.deletedPaths, ['extra']);
    assert.equal(r.literalBytes, 0);
    assert.deepEqual(await describe(dst), before);
  }
  const missing = join(dir, 'never-created');
  await push(src, missing, { dryRun: true });
  await assert.rejects(lstat(missing));
});

test('the destination becomes the source whatever it was: a link is replaced, never followed', async () => {
  const { src, dst } = paths();
  const outside = join(dir, `outside${n}`);
  await makeTree(outside, { 'victim.txt': 'untouched' });
  await makeTree(src, { 'victim.txt': 'pushed' });
  await symlink(outside, dst);
  await push(src, dst);
  assert.ok((await lstat(dst)).isDirectory(), 'the link was replaced by a folder');
  assert.equal(await readFile(join(outside, 'victim.txt'), 'utf8'), 'untouched');
  assert.equal(await readFile(join(dst, 'victim.txt'), 'utf8'), 'pushed');

  // A link inside the destination where the source has a folder: replaced, not written through.
  const { src: src2, dst: dst2 } = paths();
  await makeTree(src2, { 'sub/victim.txt': 'pushed' });
  await mkdir(dst2);
  await symlink(outside, join(dst2, 'sub'));
  await push(src2, dst2);
  assert.ok((await lstat(join(dst2, 'sub'))).isDirectory());
  assert.equal(await readFile(join(outside, 'victim.txt'), 'utf8'), 'untouched');
});

test('a file source over a folder: refused when the folder has content, replaced with --delete', async () => {
  const { src, dst } = paths();
  await makeTree(src, { f: 'the file' });
  await makeTree(dst, { inside: 'content' });
  await assert.rejects(push(join(src, 'f'), dst), (err: unknown) => SyncError.is(err) && err.code === ErrorCodes.TREE_CONFLICT);
  assert.equal(await readFile(join(dst, 'inside'), 'utf8'), 'content');
  await push(join(src, 'f'), dst, { delete: true });
  assert.equal(await readFile(dst, 'utf8'), 'the file');
});

test("a file pushed over a stopped run: its parts and temporary files go, a sibling's stay (long names too)", async () => {
  for (const name of ['a', 'x'.repeat(150)]) {
    const { src, dst } = paths();
    // `a.b` begins like `a`: its leftovers are not those of `a`.
    const sibling = `${name}.b`;
    await makeTree(src, { [name]: { data: 'new content', mtime: T0 } });
    await makeTree(dst, { [name]: 'old', [sibling]: 'sibling' });
    /** The temporary file AtomicFile leaves next to `target` when its run stops. */
    const temp = async (target: string): Promise<string> => {
      const f = await AtomicFile.create(join(dst, target));
      await f.abort();
      await writeFile(f.tempPath, 'temp');
      return basename(f.tempPath);
    };
    /** A part a stopped run staged for `target`. */
    const part = async (target: string, tag: string): Promise<string> => {
      await writeFile(join(dst, partName(target, tag)), 'part');
      return partName(target, tag);
    };
    const mine = [await part(name, '0123abcd'), await temp(name)];
    // The temporary file of a part (only a short name's: a long one is named after a hash).
    if (name === 'a') mine.push(await temp(partName(name, '4567cdef')));
    const theirs = [await part(sibling, '89abcdef'), await temp(sibling), await temp(partName(sibling, 'fedcba98'))];
    assert.equal(new Set([...mine, ...theirs]).size, mine.length + theirs.length);
    await push(join(src, name), join(dst, name));
    assert.equal(await readFile(join(dst, name), 'utf8'), 'new content');
    assert.equal(await readFile(join(dst, sibling), 'utf8'), 'sibling');
    assert.deepEqual((await readdir(dst)).sort(), [name, sibling, ...theirs].sort(), name.slice(0, 10));
  }
});

test('a link as the source is copied as a link', async () => {
  const { src, dst } = paths();
  await mkdir(src);
  await symlink('target/of/link', join(src, 'l'));
  await writeFile(dst, 'a file that becomes a link');
  await push(join(src, 'l'), dst);
  assert.equal(await readlink(dst), 'target/of/link');
});

test('progress reports bytes as they go', async () => {
  const { src, dst } = paths();
  await makeTree(src, { a: randomBytes(300_000, 9), b: randomBytes(300_000, 10) });
  const seen: number[] = [];
  await pull(src, dst, { onProgress: (p) => p.phase === 'transfer' && seen.push(p.done) });
  assert.ok(seen.length >= 2);
  assert.equal(seen[seen.length - 1], 600_000);
});

test('an aborted session leaves the destination as it was', async () => {
  const { src, dst } = paths();
  await makeTree(src, { a: randomBytes(2_000_000, 11) });
  await makeTree(dst, { a: 'old' });
  const ac = new AbortController();
  const p = push(src, dst, { signal: ac.signal, onProgress: () => ac.abort(new Error('stop')) });
  await assert.rejects(p, (err: unknown) => SyncError.is(err) && err.code === ErrorCodes.ABORTED);
  assert.equal(await readFile(join(dst, 'a'), 'utf8'), 'old');
  assert.deepEqual(await leftovers(dst), []);
});

test('the far end as a local command (gosync serve --stdio in a child process)', async () => {
  const { src, dst } = paths();
  await makeTree(src, { 'a.bin': randomBytes(100_000, 12), 'sub/b.txt': 'b' });
  const localCommand = [process.execPath, CLI, 'serve', '--stdio'];
  const r = await push(src, dst, { localCommand });
  assert.equal(r.changed, 2);
  assert.deepEqual(await describe(dst), await describe(src));
  const back = join(dir, `back${n}`);
  await pull(dst, back, { localCommand });
  assert.deepEqual(await describe(back), await describe(src));
});

/**
 * Runs `op` (push or pull, the local form) in a child process whose files may not grow past
 * a few MiB (`ulimit -f`: writes past it fail with EFBIG, as on a full disk), so writing a
 * bigger file fails while the receiver goes on reading delta data. Returns the exit code and what the child printed.
 */
function runWithFileSizeLimit(
  op: 'push' | 'pull',
  src: string,
  dst: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const module = new URL('../../src/remote/push-pull.js', import.meta.url).href;
  const script = `
    const { ${op} } = await import(${JSON.stringify(module)});
    try {
      await ${op}(process.argv[1], process.argv[2]);
      console.log(JSON.stringify({ ok: true }));
    } catch (err) {
      console.log(JSON.stringify({ name: err.name, code: err.code, message: err.message }));
    }`;
  // dash counts 512-byte blocks, bash 1024: 1 or 2 MiB, either way below the file's size.
  const argv = ['-c', 'ulimit -f 2048 && exec "$0" "$@"', process.execPath, '--input-type=module', '-e', script, src, dst];
  return new Promise((resolve) => {
    execFile('/bin/sh', argv, { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: unknown }).code as number | null) : 0, stdout, stderr });
    });
  });
}

test('a write that fails mid-file (a full disk) ends the session with an IO error, no uncaught exception', {
  skip: process.platform === 'win32' && 'needs ulimit',
}, async () => {
  const data = randomBytes(8_000_000, 21);
  // The receiver runs in the server end (push) or in the client (pull).
  for (const [op, basis] of [
    ['push', false],
    ['pull', false],
    ['pull', true],
  ] as const) {
    const { src, dst } = paths();
    await makeTree(src, { f: { data, mtime: T0 } });
    // With an old version the delta goes through rdiffPatch; without, the literal-only path.
    if (basis) await makeTree(dst, { f: { data: data.subarray(0, 300_000), mtime: T0 - 5000 } });
    const r = await runWithFileSizeLimit(op, join(src, 'f'), join(dst, 'f'));
    assert.equal(r.code, 0, `the ${op} process crashed: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /uncaught|Error/i, op);
    const out = JSON.parse(r.stdout) as { name?: string; code?: string; message?: string; ok?: boolean };
    assert.equal(out.name, 'SyncError', `${op}: ${r.stdout}`);
    assert.equal(out.code, ErrorCodes.IO, out.message);
    assert.match(out.message!, /Cannot write .*\.gosync-tmp: EFBIG/, op);
    if (basis) assert.deepEqual(await readFile(join(dst, 'f')), Buffer.from(data.subarray(0, 300_000)), 'the old file is intact');
    else await assert.rejects(lstat(join(dst, 'f')), { code: 'ENOENT' }, 'nothing was created');
    assert.deepEqual([...(await leftovers(src)), ...(await leftovers(dst))], [], op);
  }
});

test('misuse: push from a host, pull into a host', async () => {
  await assert.rejects(push('host:x', dir), TypeError);
  await assert.rejects(pull(dir, 'host:x'), TypeError);
});
