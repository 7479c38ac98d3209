/**
 * A receiver (a read-only pull client of `serve --stdio`) cannot make the sender use
 * memory its files do not need. The review sent, for a 9-byte file, a signature of 1-byte
 * blocks with 1-byte sums within the 256 MiB limit: the server built it whole (339 MB at
 * 32 MiB, 2.3 GB at 256 MiB), and each session added as much. Now the sender decides from
 * a signature's header, before anything is allocated, whether it is worth keeping; one
 * that is not is read and dropped and its file sent whole; kept signatures count against
 * a per-session and a shared budget. What is asserted is what is kept, never memory or time.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { LibrsyncDeltaParser, applyLibrsyncDelta } from '../../src/formats/librsync-delta.js';
import { Sender } from '../../src/remote/sender.js';
import { listSource } from '../../src/remote/source-list.js';
import { memoryPipe } from '../../src/remote/transport.js';
import { ByteReader, ByteWriter } from '../../src/remote/wire/binary.js';
import { Channel } from '../../src/remote/wire/channel.js';
import { FrameType, MAX_FRAME_PAYLOAD } from '../../src/remote/wire/frames.js';
import {
  KEEP_BLOCKS_FLOOR,
  SIG_FINAL,
  SIG_RABINKARP_MD4,
  SIG_REFINED,
  SignatureBudget,
  SignatureMaker,
  encodeSignature,
  refineSpec,
  signatureSpec,
  worthKeeping,
  type SignatureHead,
} from '../../src/remote/wire/signature.js';
import { concat, randomBytes } from '../helpers/data.js';
import { makeTree, tempDir } from './trees.js';

let dir: string;
let cleanup: () => Promise<void>;
before(async () => {
  ({ dir, cleanup } = await tempDir('gosync-siglimits-'));
});
after(() => cleanup());

let n = 0;
async function sender(
  spec: Parameters<typeof makeTree>[1],
  options: ConstructorParameters<typeof Sender>[3] = {},
): Promise<{ s: Sender; rc: Channel }> {
  n++;
  const src = join(dir, `src${n}`);
  await makeTree(src, spec);
  const [a, b] = memoryPipe();
  return {
    s: new Sender(new Channel(a, { peer: 'the receiver' }), src, await listSource(src), options),
    rc: new Channel(b, { peer: 'the sender' }),
  };
}

/** A SIG header claiming `basisSize` bytes in `blockLength`-byte blocks with `strongLength`-byte sums. */
function sigHead(index: number, flags: number, basisSize: number, blockLength: number, strongLength: number): Uint8Array {
  return new ByteWriter(32).varint(index).u8(flags).u8(SIG_RABINKARP_MD4).varint(basisSize).varint(blockLength).u8(strongLength).finish();
}

/** Feeds a whole hostile signature of `blocks` records (zero bytes) in frames of at most 1 MiB. */
function feedHostile(s: Sender, index: number, blocks: number, blockLength: number, strongLength: number): void {
  const rec = 4 + strongLength;
  const perFrame = Math.floor((MAX_FRAME_PAYLOAD - 64) / rec);
  const chunk = new Uint8Array(perFrame * rec);
  assert.equal(
    s.handleFrame({ type: FrameType.SIG, payload: sigHead(index, SIG_FINAL, blocks * blockLength, blockLength, strongLength) }),
    undefined,
  );
  assert.equal(s.keptSignatureBytes, 0, 'nothing is kept for it, from its header on');
  for (let left = blocks; left > 0; left -= perFrame) {
    const payload = left >= perFrame ? chunk : chunk.subarray(0, left * rec);
    s.handleFrame({ type: FrameType.SIG_MORE, payload });
    assert.equal(s.keptSignatureBytes, 0);
  }
}

function giveSignature(s: Sender, index: number, flags: number, basis: Uint8Array, spec = signatureSpec(basis.length)): void {
  const m = new SignatureMaker(spec);
  m.push(basis);
  const { first, more } = encodeSignature(index, flags, m.end());
  assert.equal(s.handleFrame({ type: FrameType.SIG, payload: first }), undefined);
  for (const p of more) assert.equal(s.handleFrame({ type: FrameType.SIG_MORE, payload: p }), undefined);
}

async function readDelta(rc: Channel): Promise<{ delta: Uint8Array; size: number }> {
  assert.equal((await rc.next())?.type, FrameType.DELTA);
  const parts: Uint8Array[] = [];
  for (;;) {
    const f = (await rc.next())!;
    if (f.type === FrameType.DELTA_DATA) parts.push(f.payload);
    else {
      assert.equal(f.type, FrameType.DELTA_END);
      return { delta: concat(...parts), size: new ByteReader(f.payload, 'DELTA_END').varint('size') };
    }
  }
}

function stats(delta: Uint8Array): { literal: number; copied: number } {
  const p = new LibrsyncDeltaParser();
  p.push(delta);
  p.end();
  return { literal: p.stats.literalBytes, copied: p.stats.copyBytes };
}

test("the review's signature (1-byte blocks, 1-byte sums, 32 MiB) for a 9-byte file is read and dropped; the file goes whole", async () => {
  const { s, rc } = await sender({ f: 'nine byte' });
  const blocks = Math.floor((32 * 1024 * 1024) / 5);
  feedHostile(s, 1, blocks, 1, 1);
  const req = await s.nextRequest();
  assert.equal(req?.signature.blockCount, 0, 'no block of it is kept');
  assert.ok(await s.answer(req!));
  const d = await readDelta(rc);
  assert.equal(d.size, 9);
  assert.deepEqual(stats(d.delta), { literal: 9, copied: 0 });
  assert.equal(s.keptSignatureBytes, 0);
});

test('1-byte blocks with 2-byte sums, and 128-byte blocks for a 256 MiB basis, are not kept either', async () => {
  const { s } = await sender({ f: 'nine byte', g: 'another' });
  feedHostile(s, 1, 1_000_000, 1, 2);
  const r1 = await s.nextRequest();
  assert.equal(r1?.signature.blockCount, 0);
  // Within the 256 MiB limit (2 Mi blocks of 6 bytes), but a 256 MiB basis has 32 KiB blocks.
  assert.equal(s.handleFrame({ type: FrameType.SIG, payload: sigHead(2, 0, 2 ** 28, 128, 2) }), undefined);
  assert.equal(s.keptSignatureBytes, 0);
});

test('what a gosync receiver sends is kept, whatever the sizes', () => {
  for (const size of [0, 1, 9, 700, 100_000, 490_000, 10_000_000, 1e9, 2 ** 34, 1e12]) {
    for (const kind of ['normal', 'redo'] as const) {
      const spec = signatureSpec(size, kind);
      const head = headOf(kind === 'redo' ? SIG_FINAL : 0, size, spec);
      assert.ok(worthKeeping(head, size), `${kind} signature of a ${size}-byte basis against a file as large`);
      if (head.blockCount <= KEEP_BLOCKS_FLOOR)
        assert.ok(worthKeeping(head, 1), `${kind} signature of a ${size}-byte basis against 1 byte`);
      const refined = refineSpec(size, spec.blockLength);
      assert.ok(worthKeeping(headOf(SIG_REFINED, size, refined), size), `refined signature of ${size} bytes`);
    }
  }
});

function headOf(flags: number, basisSize: number, spec: { blockLength: number; strongLength: number }): SignatureHead {
  const blockCount = Math.ceil(basisSize / spec.blockLength);
  return { index: 1, flags, basisSize, ...spec, blockCount, bytes: blockCount * (4 + spec.strongLength) };
}

test('a session keeps at most its budget of signatures: one over it is answered whole, correctly', async () => {
  const a = randomBytes(60_000, 1);
  const b = randomBytes(60_000, 2);
  const { s, rc } = await sender({ a, b }, { sessionSignatureBytes: 400 });
  // Each signature of a 60 kB basis: 43 blocks of 1,400 bytes with 2-byte sums, 258 bytes.
  giveSignature(s, 1, SIG_FINAL, a);
  const kept = s.keptSignatureBytes;
  assert.equal(kept, 258);
  giveSignature(s, 2, SIG_FINAL, b);
  assert.equal(s.keptSignatureBytes, kept, 'the second is over the budget: not kept');
  const r1 = (await s.nextRequest())!;
  assert.ok(r1.signature.blockCount > 0);
  await s.answer(r1);
  const d1 = await readDelta(rc);
  assert.deepEqual(stats(d1.delta), { literal: 0, copied: a.length });
  assert.deepEqual(Buffer.from(applyLibrsyncDelta(a, d1.delta)), Buffer.from(a));
  assert.equal(s.keptSignatureBytes, 0);
  const r2 = (await s.nextRequest())!;
  assert.equal(r2.signature.blockCount, 0);
  await s.answer(r2);
  const d2 = await readDelta(rc);
  assert.deepEqual(stats(d2.delta), { literal: b.length, copied: 0 });
  // The next signature fits again.
  giveSignature(s, 1, SIG_FINAL | 4, a);
  assert.ok(s.keptSignatureBytes > 0);
});

test('sessions share a budget: what one keeps, another cannot, until it is released', async () => {
  const data = randomBytes(60_000, 3);
  const shared = new SignatureBudget(400);
  const one = await sender({ f: data }, { signatureBudget: shared });
  const two = await sender({ f: data }, { signatureBudget: shared });
  giveSignature(one.s, 1, SIG_FINAL, data);
  assert.ok(shared.used > 0);
  giveSignature(two.s, 1, SIG_FINAL, data);
  assert.equal(two.s.keptSignatureBytes, 0, 'the shared budget is taken');
  one.s.releaseSignatures();
  assert.equal(shared.used, 0);
  const r = (await two.s.nextRequest())!;
  assert.equal(r.signature.blockCount, 0);
  await two.s.answer(r);
  assert.deepEqual(stats((await readDelta(two.rc)).delta), { literal: data.length, copied: 0 });
});
