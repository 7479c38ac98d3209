/**
 * The receiving end driven one step at a time, the test playing the sender over an
 * in-memory pipe: what it asks for (signatures of changed files only, in list order),
 * what it stages (verified parts next to their targets, the destination untouched) and
 * what the commit makes of the destination; a file that fails its check asked for again
 * with full sums, and refused the second time; a REFINE answered with the signature of
 * the ranges named; a dry run; a single file; frames that come when they may not.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError, type ErrorCode } from '../../src/core/errors.js';
import { LibrsyncDeltaEncoder, encodeLibrsyncDelta } from '../../src/formats/librsync-delta.js';
import { TreeRoot } from '../../src/localfs/tree-path.js';
import { Receiver, type ReceiverOptions } from '../../src/remote/receiver.js';
import { memoryPipe } from '../../src/remote/transport.js';
import { ByteWriter } from '../../src/remote/wire/binary.js';
import { Channel } from '../../src/remote/wire/channel.js';
import { FileListEncoder, type ListEntry } from '../../src/remote/wire/file-list.js';
import { FrameType } from '../../src/remote/wire/frames.js';
import { encodeRefine } from '../../src/remote/wire/refine.js';
import { parseFinish } from '../../src/remote/wire/report.js';
import {
  SIG_FINAL,
  SIG_REDO,
  SIG_REFINED,
  SignatureAssembler,
  SignatureMaker,
  encodeSignature,
  refineSpec,
  type SignatureRequest,
} from '../../src/remote/wire/signature.js';
import { concat, randomBytes } from '../helpers/data.js';
import { describe, leftovers, makeTree, tempDir } from './trees.js';

let dir: string;
let cleanup: () => Promise<void>;
before(async () => {
  ({ dir, cleanup } = await tempDir('gosync-receiver-'));
});
after(() => cleanup());

const T0 = Date.UTC(2024, 2, 3, 4, 5, 6, 789);

let n = 0;
/**
 * A fresh container folder holding `spec`, a receiver writing to `name` in it, and the
 * sender's end of the pipe.
 */
async function receiverAt(
  name: string,
  spec: Parameters<typeof makeTree>[1],
  options: ReceiverOptions = {},
): Promise<{ r: Receiver; sc: Channel; root: string; dst: string }> {
  n++;
  const root = join(dir, `c${n}`);
  await makeTree(root, spec);
  const [a, b] = memoryPipe();
  const r = await Receiver.open(new Channel(a, { peer: 'the sender' }), { container: new TreeRoot(root), name }, options);
  return { r, sc: new Channel(b, { peer: 'the receiver' }), root, dst: join(root, name) };
}

/** A receiver into the folder `dst` made from `spec`. */
function receiverInto(spec: Parameters<typeof makeTree>[1], options: ReceiverOptions = {}) {
  return receiverAt('dst', Object.fromEntries(Object.entries(spec).map(([k, v]) => [`dst/${k}`, v])), options);
}

function file(path: string, data: Uint8Array, mtime: number, mode = 0o644): ListEntry {
  return { path, type: 'file', mode, mtime, size: data.length };
}

function folder(path: string, mtime: number, mode = 0o755): ListEntry {
  return { path, type: 'dir', mode, mtime, size: 0 };
}

/** The list as FILES payloads, then the FILES_END payload. */
function listFrames(list: ListEntry[]): { files: Uint8Array[]; end: Uint8Array } {
  const enc = new FileListEncoder();
  const files: Uint8Array[] = [];
  for (const e of list) {
    const full = enc.add(e);
    if (full) files.push(full);
  }
  const last = enc.take();
  if (last) files.push(last);
  return { files, end: new ByteWriter(8).varint(list.length).finish() };
}

/** Feeds the whole list, and sends the signatures it plans. */
async function feedList(r: Receiver, list: ListEntry[]): Promise<void> {
  const { files, end } = listFrames(list);
  for (const f of files) await r.receiveFiles(f);
  r.endFileList(end);
  await r.sendSignatures();
}

/** The next signature the receiver sent, as the sender reads it, with its raw payloads. */
async function nextSignature(sc: Channel): Promise<{ req: SignatureRequest; payloads: Uint8Array[] }> {
  const assembler = new SignatureAssembler();
  const payloads: Uint8Array[] = [];
  for (;;) {
    const f = await sc.next();
    assert.ok(f && (f.type === FrameType.SIG || f.type === FrameType.SIG_MORE), `a signature frame, got ${f?.type}`);
    payloads.push(f.payload);
    const req = f.type === FrameType.SIG ? assembler.first(f.payload) : assembler.more(f.payload);
    if (req) return { req, payloads };
  }
}

function sha256(data: Uint8Array): Uint8Array {
  return createHash('sha256').update(data).digest();
}

/** DELTA, DELTA_DATA and DELTA_END of one file, as steps; `digest` defaults to the right one. */
async function feedDelta(r: Receiver, index: number, delta: Uint8Array, data: Uint8Array, digest = sha256(data)): Promise<void> {
  await r.beginDelta(new ByteWriter(8).varint(index).finish());
  await r.deltaData(delta);
  r.endDelta(new ByteWriter(48).varint(data.length).bytes(digest).finish());
}

/** A delta of literal data only (for a file without an old version). */
function literalDelta(data: Uint8Array): Uint8Array {
  const enc = new LibrsyncDeltaEncoder();
  enc.literal(data);
  enc.end();
  return enc.take();
}

function isCode(code: ErrorCode, re?: RegExp) {
  return (err: unknown) => SyncError.is(err) && err.code === code && (re === undefined || re.test(err.message));
}

test('a tree: only changed files are asked for, each delta is staged as a verified part, the commit makes the destination the source', async () => {
  const oldData = randomBytes(120_000, 11);
  const changed = concat(oldData.subarray(0, 60_000), Buffer.from('an insertion'), oldData.subarray(60_000));
  const created = randomBytes(5_000, 12);
  const { r, sc, dst } = await receiverInto({
    'old.txt': { data: oldData, mtime: T0 - 60_000 },
    'same.txt': { data: 'same', mtime: T0 },
    'extra.txt': { data: 'extra', mtime: T0 },
  });
  const list: ListEntry[] = [
    folder('', T0 + 10),
    file('new.txt', created, T0 + 1, 0o640),
    file('old.txt', changed, T0 + 2),
    file('same.txt', Buffer.from('same'), T0),
    folder('sub', T0 + 3, 0o700),
    { path: 'sub/link', type: 'symlink', mode: 0o777, mtime: T0 + 4, size: 0, target: '../new.txt' },
  ];
  await feedList(r, list);

  // Signatures in list order: an empty one (final: nothing to refine) for the new file, one of the old version for the changed one.
  const first = await nextSignature(sc);
  const second = await nextSignature(sc);
  assert.deepEqual(
    [first.req, second.req].map((q) => [q.index, q.flags, q.basisSize]),
    [
      [1, SIG_FINAL, 0],
      [2, 0, oldData.length],
    ],
  );

  await feedDelta(r, 1, literalDelta(created), created);
  await feedDelta(r, 2, encodeLibrsyncDelta(second.req.signature, changed), changed);
  await r.whenStaged();

  // Staged: parts next to their targets, with content, mode and mtime; the targets untouched.
  const staged = [...r.staged].sort((a, b) => (a.path < b.path ? -1 : 1));
  assert.deepEqual(
    staged.map((s) => s.path),
    ['new.txt', 'old.txt'],
  );
  for (const [s, data, mode, mtime] of [
    [staged[0]!, created, 0o640, T0 + 1],
    [staged[1]!, changed, 0o644, T0 + 2],
  ] as const) {
    assert.match(s.part, new RegExp(`^\\.${s.path.replace('.', '\\.')}\\.[0-9a-f]+\\.gosync-part$`));
    assert.deepEqual(await readFile(join(dst, s.part)), Buffer.from(data));
    const st = await lstat(join(dst, s.part));
    assert.equal(st.mode & 0o777, mode);
    assert.equal(Math.round(st.mtimeMs), mtime);
  }
  assert.deepEqual(await readFile(join(dst, 'old.txt')), Buffer.from(oldData));
  await assert.rejects(lstat(join(dst, 'new.txt')), { code: 'ENOENT' });

  // The commit: parts in place, the link and folder made, the unchanged file kept, nothing removed without delete.
  assert.deepEqual(await r.commit(), []);
  assert.deepEqual(await readFile(join(dst, 'new.txt')), Buffer.from(created));
  assert.deepEqual(await readFile(join(dst, 'old.txt')), Buffer.from(changed));
  assert.equal(await readlink(join(dst, 'sub/link')), '../new.txt');
  assert.equal((await lstat(join(dst, 'sub'))).mode & 0o777, 0o700);
  assert.equal(Math.round((await lstat(dst)).mtimeMs), T0 + 10);
  assert.deepEqual((await readdir(dst)).sort(), ['extra.txt', 'new.txt', 'old.txt', 'same.txt', 'sub']);
  assert.deepEqual(await leftovers(dst), []);

  // FINISH: what changed, as the sender reads it; then the receiver's output ends.
  const report = await r.finish([]);
  assert.equal(report.files, 3);
  assert.equal(report.changed, 2);
  assert.deepEqual(report.changedPaths, ['new.txt', 'old.txt']);
  assert.equal(report.transferredFileBytes, created.length + changed.length);
  assert.equal(report.literalBytes + report.matchedBytes, created.length + changed.length);
  assert.ok(report.matchedBytes >= 100_000, `the old version was used: ${report.matchedBytes} bytes matched`);
  const finish = await sc.next();
  assert.equal(finish?.type, FrameType.FINISH);
  assert.deepEqual(parseFinish(finish!.payload), report);
  assert.equal(await sc.next(), undefined);
});

test("a push to the container itself (the server's root) leaves the root's mode and times as they were", async () => {
  const { r, root } = await receiverAt('', { 'kept.txt': { data: 'kept', mtime: T0 } });
  const { chmod, utimes } = await import('node:fs/promises');
  await chmod(root, 0o750);
  await utimes(root, new Date(T0 - 5000), new Date(T0 - 5000));
  await feedList(r, [folder('', T0 + 10, 0o777), folder('made', T0 + 3, 0o700)]);
  await r.whenStaged();
  assert.deepEqual(await r.commit(), []);
  assert.equal((await lstat(join(root, 'made'))).mode & 0o777, 0o700, 'the folders under it are made');
  const st = await lstat(root);
  assert.equal(st.mode & 0o777, 0o750, 'mode unchanged (the source said 0777)');
  assert.notEqual(Math.round(st.mtimeMs), T0 + 10, "the source's mtime is not applied");
  await r.finish([]);
});

test('a file that fails its check is asked for again with full sums, and the second delta is staged', async () => {
  const oldData = randomBytes(50_000, 13);
  const next = concat(oldData.subarray(0, 20_000), randomBytes(1000, 14), oldData.subarray(20_000));
  const { r, sc, dst } = await receiverInto({ f: { data: oldData, mtime: T0 } });
  await feedList(r, [folder('', T0), file('f', next, T0 + 1)]);
  const { req } = await nextSignature(sc);
  assert.equal(req.flags, 0);
  await feedDelta(r, 1, encodeLibrsyncDelta(req.signature, next), next, sha256(Buffer.from('something else')));
  const redo = await nextSignature(sc);
  assert.equal(redo.req.index, 1);
  assert.equal(redo.req.flags, SIG_FINAL | SIG_REDO);
  assert.equal(redo.req.signature.strongLength, 16, 'full-length sums');
  assert.equal(redo.req.signature.blockLength, req.signature.blockLength);
  assert.equal(r.staged.length, 0);
  await feedDelta(r, 1, encodeLibrsyncDelta(redo.req.signature, next), next);
  await r.whenStaged();
  assert.equal(r.staged.length, 1);
  await r.commit();
  assert.deepEqual(await readFile(join(dst, 'f')), Buffer.from(next));
  assert.deepEqual(await leftovers(dst), []);
});

test('a file that fails its check twice is FILE_MISMATCH; discarding leaves the destination as it was', async () => {
  const oldData = randomBytes(30_000, 15);
  const next = randomBytes(30_000, 16);
  const { r, sc, dst } = await receiverInto({ f: { data: oldData, mtime: T0 } });
  await feedList(r, [folder('', T0), file('f', next, T0 + 1)]);
  const wrong = sha256(Buffer.from('wrong'));
  const { req } = await nextSignature(sc);
  await feedDelta(r, 1, encodeLibrsyncDelta(req.signature, next), next, wrong);
  const redo = await nextSignature(sc);
  await feedDelta(r, 1, encodeLibrsyncDelta(redo.req.signature, next), next, wrong);
  const err = await r.whenStaged().then(
    () => assert.fail('staged a file that did not match'),
    (e: unknown) => e,
  );
  assert.ok(isCode(ErrorCodes.FILE_MISMATCH, /twice the result did not match the sender's size and SHA-256/)(err), String(err));
  await r.discard(err);
  assert.deepEqual(await readFile(join(dst, 'f')), Buffer.from(oldData));
  assert.deepEqual(await leftovers(dst), []);
  assert.deepEqual(await readdir(dst), ['f']);
});

test('a REFINE is answered once with the signature of the ranges named, end to end, in smaller blocks', async () => {
  const oldData = randomBytes(100_000, 17);
  const next = concat(oldData.subarray(0, 40_000), randomBytes(500, 18), oldData.subarray(41_000));
  const { r, sc } = await receiverInto({ f: { data: oldData, mtime: T0 } });
  await feedList(r, [folder('', T0), file('f', next, T0 + 1)]);
  const { req } = await nextSignature(sc);
  const ranges = [
    { start: 1_000, length: 5_000 },
    { start: 50_000, length: 3_000 },
  ];
  await r.answerRefine(encodeRefine(1, ranges));
  const refined = await nextSignature(sc);
  const maker = new SignatureMaker(refineSpec(8_000, req.signature.blockLength));
  maker.push(oldData.subarray(1_000, 6_000));
  maker.push(oldData.subarray(50_000, 53_000));
  const want = encodeSignature(1, SIG_REFINED | SIG_FINAL, maker.end());
  assert.deepEqual(refined.payloads, [want.first, ...want.more]);
  assert.equal(refined.req.basisSize, 8_000);
  assert.ok(refined.req.signature.blockLength < req.signature.blockLength);
  // Once only, and only for a file asked for.
  await assert.rejects(r.answerRefine(encodeRefine(1, ranges)), isCode(ErrorCodes.PROTOCOL));
  await assert.rejects(r.answerRefine(encodeRefine(7, ranges)), isCode(ErrorCodes.PROTOCOL));
});

test('a dry run asks for nothing and writes nothing, but counts what would change and be removed', async () => {
  const { r, sc, dst } = await receiverInto(
    { f: { data: 'old', mtime: T0 }, gone: { data: 'x', mtime: T0 }, 'olddir/y': 'y' },
    { dryRun: true, delete: true },
  );
  const before = await describe(dst);
  await feedList(r, [folder('', T0), file('f', Buffer.from('new!'), T0 + 1), file('g', Buffer.from('g'), T0)]);
  await r.whenStaged();
  assert.deepEqual(r.staged, []);
  const removed = await r.commit();
  assert.deepEqual(removed.sort(), ['gone', 'olddir']);
  const report = await r.finish(removed);
  assert.equal(report.dryRun, true);
  assert.equal(report.changed, 2);
  assert.equal(report.deleted, 2);
  // Not a single signature: FINISH is the first frame.
  assert.equal((await sc.next())?.type, FrameType.FINISH);
  assert.deepEqual(await describe(dst), before);
});

test('a single file: staged next to the destination, which the commit replaces (a folder there included)', async () => {
  const { r, sc, root } = await receiverAt('file.bin', { 'file.bin/inside': 'x' }, { delete: true });
  const data = randomBytes(10_000, 19);
  await feedList(r, [file('', data, T0, 0o600)]);
  const { req } = await nextSignature(sc);
  assert.deepEqual([req.index, req.flags, req.basisSize], [0, SIG_FINAL, 0]);
  await feedDelta(r, 0, literalDelta(data), data);
  await r.whenStaged();
  assert.equal(r.staged.length, 1);
  assert.equal(r.staged[0]!.path, 'file.bin');
  assert.deepEqual(await readFile(join(root, r.staged[0]!.part)), Buffer.from(data));
  assert.ok((await lstat(join(root, 'file.bin'))).isDirectory(), 'untouched until the commit');
  await r.commit();
  const st = await lstat(join(root, 'file.bin'));
  assert.ok(st.isFile());
  assert.equal(st.mode & 0o777, 0o600);
  assert.equal(Math.round(st.mtimeMs), T0);
  assert.deepEqual(await readFile(join(root, 'file.bin')), Buffer.from(data));
  assert.deepEqual(await leftovers(root), []);
});

test('a non-empty folder where the source has a file is a conflict without delete, before anything is asked for', async () => {
  const { r, sc, dst } = await receiverInto({ 'd/inside': 'keep' });
  const { files } = listFrames([folder('', T0), file('d', Buffer.from('a file'), T0)]);
  await assert.rejects(r.receiveFiles(files[0]!), isCode(ErrorCodes.TREE_CONFLICT, /it is a folder that is not empty/));
  await r.discard(new Error('stopped'));
  assert.equal(await readFile(join(dst, 'd/inside'), 'utf8'), 'keep');
  await sc.abort();
});

test('frames that come when they may not are protocol errors', async () => {
  const { r, sc } = await receiverInto({ f: { data: 'same', mtime: T0 } });
  const list = [folder('', T0), file('f', Buffer.from('same'), T0), file('g', Buffer.from('new'), T0)];
  const { files, end } = listFrames(list);
  await r.receiveFiles(files[0]!);
  assert.throws(() => r.endFileList(new ByteWriter(8).varint(5).finish()), isCode(ErrorCodes.PROTOCOL, /FILES_END counts 5 entries, 3/));
  r.endFileList(end);
  await assert.rejects(r.receiveFiles(files[0]!), isCode(ErrorCodes.PROTOCOL, /a FILES frame follows FILES_END/));
  await r.sendSignatures();
  await nextSignature(sc);
  // f is unchanged: never asked for; g is.
  await assert.rejects(r.beginDelta(new ByteWriter(8).varint(1).finish()), isCode(ErrorCodes.PROTOCOL, /entry 1 was not asked for/));
  await assert.rejects(r.deltaData(new Uint8Array(4)), isCode(ErrorCodes.PROTOCOL, /no delta is in progress/));
  assert.throws(() => r.endDelta(new Uint8Array(33)), isCode(ErrorCodes.PROTOCOL, /no delta is in progress/));
  await r.beginDelta(new ByteWriter(8).varint(2).finish());
  await assert.rejects(r.beginDelta(new ByteWriter(8).varint(2).finish()), isCode(ErrorCodes.PROTOCOL, /before the previous one ended/));
  await assert.rejects(
    r.handleFrame({ type: FrameType.SIG, payload: new Uint8Array(0) }),
    isCode(ErrorCodes.PROTOCOL, /SIG frame is not expected/),
  );
  await r.discard(new Error('stopped'));
  await sc.abort();
});
