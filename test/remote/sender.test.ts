/**
 * The sending end driven one step at a time, the test playing the receiver over an
 * in-memory pipe: the file list it sends; a first signature answered with a REFINE of
 * the old file's unused ranges (the delta held), and the refined signature answered with
 * one delta that rebuilds the new file with less literal data than the first round; a
 * final signature, or none, answered with the delta at once; signatures and FINISH that
 * come when they may not.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError, type ErrorCode } from '../../src/core/errors.js';
import { LibrsyncDeltaParser, applyLibrsyncDelta, encodeLibrsyncDelta } from '../../src/formats/librsync-delta.js';
import { Sender } from '../../src/remote/sender.js';
import { listSource } from '../../src/remote/source-list.js';
import { memoryPipe } from '../../src/remote/transport.js';
import { ByteReader } from '../../src/remote/wire/binary.js';
import { Channel } from '../../src/remote/wire/channel.js';
import { decodeFileBatch } from '../../src/remote/wire/file-list.js';
import { FrameType, type Frame } from '../../src/remote/wire/frames.js';
import { encodeJson } from '../../src/remote/wire/handshake.js';
import { decodeRefine, rangeBytes } from '../../src/remote/wire/refine.js';
import {
  SIG_FINAL,
  SIG_REFINED,
  SignatureAssembler,
  SignatureMaker,
  encodeSignature,
  refineSpec,
  signatureSpec,
} from '../../src/remote/wire/signature.js';
import { concat, randomBytes } from '../helpers/data.js';
import { makeTree, tempDir } from './trees.js';

let dir: string;
let cleanup: () => Promise<void>;
before(async () => {
  ({ dir, cleanup } = await tempDir('gosync-sender-'));
});
after(() => cleanup());

const T0 = Date.UTC(2024, 3, 4, 5, 6, 7, 890);

let n = 0;
/** A source folder made from `spec`, a sender of it, and the receiver's end of the pipe. */
async function sender(spec: Parameters<typeof makeTree>[1]): Promise<{ s: Sender; rc: Channel; src: string }> {
  n++;
  const src = join(dir, `src${n}`);
  await makeTree(src, spec);
  const [a, b] = memoryPipe();
  const s = new Sender(new Channel(a, { peer: 'the receiver' }), src, await listSource(src));
  return { s, rc: new Channel(b, { peer: 'the sender' }), src };
}

/** Hands a signature to the sender as its SIG and SIG_MORE frames. */
function giveSignature(s: Sender, index: number, flags: number, basis: Uint8Array, spec = signatureSpec(basis.length)): void {
  const m = new SignatureMaker(spec);
  m.push(basis);
  const { first, more } = encodeSignature(index, flags, m.end());
  assert.equal(s.handleFrame({ type: FrameType.SIG, payload: first }), undefined);
  for (const p of more) assert.equal(s.handleFrame({ type: FrameType.SIG_MORE, payload: p }), undefined);
}

/** Reads one whole delta (DELTA … DELTA_END) from the sender. */
async function readDelta(rc: Channel): Promise<{ index: number; delta: Uint8Array; size: number; sha256: Uint8Array }> {
  const begin = await rc.next();
  assert.equal(begin?.type, FrameType.DELTA);
  const index = new ByteReader(begin!.payload, 'DELTA').varint('index');
  const parts: Uint8Array[] = [];
  for (;;) {
    const f = (await rc.next())!;
    if (f.type === FrameType.DELTA_DATA) parts.push(f.payload);
    else {
      assert.equal(f.type, FrameType.DELTA_END);
      const r = new ByteReader(f.payload, 'DELTA_END');
      return { index, delta: concat(...parts), size: r.varint('size'), sha256: r.bytes(32, 'sha') };
    }
  }
}

function literalBytes(delta: Uint8Array): number {
  const p = new LibrsyncDeltaParser();
  p.push(delta);
  p.end();
  return p.stats.literalBytes;
}

function isCode(code: ErrorCode, re?: RegExp) {
  return (err: unknown) => SyncError.is(err) && err.code === code && (re === undefined || re.test(err.message));
}

test('sendList: the source first, then folder by folder in name order, and FILES_END with the count', async () => {
  const { s, rc } = await sender({
    'b.txt': { data: 'b', mtime: T0 },
    'a/z.txt': { data: 'zz', mtime: T0 },
    'a/y': { link: '../b.txt' },
    c: { dir: true, mtime: T0 },
  });
  await s.sendList();
  const listed: [string, string][] = [];
  let f: Frame | undefined;
  for (f = await rc.next(); f?.type === FrameType.FILES; f = await rc.next())
    for (const e of decodeFileBatch(f.payload)) listed.push([e.path, e.type]);
  assert.equal(f?.type, FrameType.FILES_END);
  assert.equal(new ByteReader(f!.payload, 'FILES_END').varint('count'), 6);
  assert.deepEqual(listed, [
    ['', 'dir'],
    ['a', 'dir'],
    ['b.txt', 'file'],
    ['c', 'dir'],
    ['a/y', 'symlink'],
    ['a/z.txt', 'file'],
  ]);
});

test("a sender's answer to a REFINE: the delta is held for the finer signature, then one spliced delta rebuilds the file with less literal data", async () => {
  const old = randomBytes(300_000, 21);
  // Small edits scattered through the file: each costs a whole large block in the first round.
  const next = concat(
    old.subarray(0, 50_000),
    Buffer.from('edit one'),
    old.subarray(50_010, 150_000),
    Buffer.from('edit two'),
    old.subarray(150_000, 230_000),
    old.subarray(230_020, 300_000),
  );
  const { s, rc } = await sender({ f: { data: next, mtime: T0 } });
  const spec = signatureSpec(old.length);
  giveSignature(s, 1, 0, old, spec);
  const first = await s.nextRequest();
  assert.equal(first?.index, 1);
  assert.equal(await s.answer(first!), true);

  // The first thing the receiver gets is the REFINE, no delta yet.
  const refine = await rc.next();
  assert.equal(refine?.type, FrameType.REFINE);
  const { index, ranges } = decodeRefine(refine!.payload, () => old.length);
  assert.equal(index, 1);
  assert.ok(ranges.length > 0);
  for (const r of ranges) assert.ok(r.start >= 0 && r.start + r.length <= old.length);
  // The ranges hold the bytes the edits replaced (no copy used them).
  for (const at of [50_005, 230_010])
    assert.ok(
      ranges.some((r) => r.start <= at && at < r.start + r.length),
      `${at} is asked for`,
    );

  // FINISH now would be early: a refinement is due.
  assert.throws(
    () => s.handleFrame({ type: FrameType.FINISH, payload: encodeJson({}) }),
    isCode(ErrorCodes.PROTOCOL, /refinements were due/),
  );

  const virtual = concat(...ranges.map((r) => old.subarray(r.start, r.start + r.length)));
  giveSignature(s, 1, SIG_REFINED | SIG_FINAL, virtual, refineSpec(rangeBytes(ranges), spec.blockLength));
  const second = await s.nextRequest();
  assert.equal(second?.flags, SIG_REFINED | SIG_FINAL);
  assert.equal(await s.answer(second!), true);
  const d = await readDelta(rc);
  assert.equal(d.index, 1);
  assert.deepEqual(applyLibrsyncDelta(old, d.delta), next);
  assert.equal(d.size, next.length);
  assert.deepEqual(Buffer.from(d.sha256), createHash('sha256').update(next).digest());

  // The first round alone would have sent whole blocks around each edit.
  const m = new SignatureMaker(spec);
  m.push(old);
  const sig = new SignatureAssembler().first(encodeSignature(1, 0, m.end()).first);
  const firstRound = sig ? literalBytes(encodeLibrsyncDelta(sig.signature, next)) : Number.NaN;
  const spliced = literalBytes(d.delta);
  assert.ok(spliced < firstRound, `refined: ${spliced} literal bytes, first round: ${firstRound}`);
});

test('a final signature, or an empty one, is answered with the delta at once', async () => {
  const old = randomBytes(100_000, 22);
  const next = concat(old.subarray(0, 60_000), randomBytes(2_000, 23), old.subarray(60_000));
  const fresh = randomBytes(20_000, 24);
  const { s, rc } = await sender({ f: { data: next, mtime: T0 }, g: { data: fresh, mtime: T0 } });
  giveSignature(s, 1, SIG_FINAL, old);
  giveSignature(s, 2, SIG_FINAL, new Uint8Array(0));
  for (const [index, basis, data] of [
    [1, old, next],
    [2, new Uint8Array(0), fresh],
  ] as const) {
    const req = await s.nextRequest();
    assert.equal(req?.index, index);
    assert.equal(await s.answer(req!), true);
    const d = await readDelta(rc);
    assert.equal(d.index, index);
    assert.deepEqual(applyLibrsyncDelta(basis, d.delta), data);
  }
});

test('a first delta of mostly literal data is sent at once, without a second round', async () => {
  const old = randomBytes(200_000, 27);
  // A fifth of the old file kept, the rest new: 4 times as much literal data as copies.
  const next = concat(old.subarray(0, 40_000), randomBytes(160_000, 28));
  const { s, rc } = await sender({ f: { data: next, mtime: T0 } });
  giveSignature(s, 1, 0, old);
  const req = await s.nextRequest();
  assert.equal(await s.answer(req!), true);
  const d = await readDelta(rc);
  assert.equal(d.index, 1);
  assert.deepEqual(applyLibrsyncDelta(old, d.delta), next);
  assert.ok(literalBytes(d.delta) > 150_000);
});

test('a large file of mostly new data streams its delta while it is scanned, instead of holding it for a second round', async () => {
  // 72 MiB (a streaming file, 64 MiB and more): its first MiB is the old file, the rest new.
  const old = randomBytes(1024 * 1024, 25);
  const next = concat(old, randomBytes(71 * 1024 * 1024, 26));
  n++;
  const src = join(dir, `src${n}`);
  await makeTree(src, { f: { data: next, mtime: T0 } });
  const [a, b] = memoryPipe();
  let scanned = 0;
  const s = new Sender(new Channel(a, { peer: 'the receiver' }), src, await listSource(src), {
    onProgress: (p) => (scanned = p.done),
  });
  const rc = new Channel(b, { peer: 'the sender' });
  giveSignature(s, 1, 0, old);
  const req = await s.nextRequest();
  const answered = s.answer(req!);
  const begin = await rc.next();
  assert.equal(begin?.type, FrameType.DELTA);
  // Delta data (a copy, then literal data: a chunk's worth) comes out long before the scan
  // ends; held, it came once 64 MiB of literal data were.
  let f = await rc.next();
  assert.equal(f?.type, FrameType.DELTA_DATA);
  assert.ok(scanned < 32 * 1024 * 1024, `the first delta data came after ${scanned} bytes were scanned`);
  const parts = [f!.payload];
  for (f = await rc.next(); f?.type === FrameType.DELTA_DATA; f = await rc.next()) parts.push(f.payload);
  assert.equal(f?.type, FrameType.DELTA_END);
  assert.equal(await answered, true);
  assert.deepEqual(Buffer.from(applyLibrsyncDelta(old, concat(...parts))).equals(next), true);
});

test('signatures that may not come now, and a FINISH inside a signature, are protocol errors', async () => {
  const data = randomBytes(40_000, 25);
  const { s } = await sender({ d: { dir: true, mtime: T0 }, f: { data, mtime: T0 } });
  // Entries: '' (0), d (1), f (2).
  assert.throws(() => giveSignature(s, 1, 0, data), isCode(ErrorCodes.PROTOCOL, /entry 1, which is not a file of the list/));
  assert.throws(() => giveSignature(s, 2, SIG_REFINED | SIG_FINAL, data), isCode(ErrorCodes.PROTOCOL, /before it was asked for/));
  giveSignature(s, 2, 0, data);
  assert.throws(() => giveSignature(s, 2, 0, data), isCode(ErrorCodes.PROTOCOL, /when it may not/));

  const { s: t } = await sender({ f: { data, mtime: T0 } });
  const spec = signatureSpec(data.length);
  const m = new SignatureMaker(spec);
  m.push(data);
  const { first, more } = encodeSignature(1, 0, m.end());
  assert.equal(more.length, 0);
  // A signature short of its last record: the rest would come in SIG_MORE, but FINISH comes.
  const record = 4 + spec.strongLength;
  assert.equal(t.handleFrame({ type: FrameType.SIG, payload: first.subarray(0, first.length - record) }), undefined);
  assert.throws(
    () => t.handleFrame({ type: FrameType.FINISH, payload: encodeJson({}) }),
    isCode(ErrorCodes.PROTOCOL, /inside a signature/),
  );
});
