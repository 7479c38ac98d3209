/**
 * The publish side of the compressed forms (frames, the whole stream) read back through
 * the fetch side (PlanSource, WholeSource), without HTTP.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import { brotliDecompressSync } from 'node:zlib';
import type { BlockSource, ByteRange } from '../../src/core/block-source.js';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import type { BlockIndex } from '../../src/core/index/block-index.js';
import { writeFrames, writeWhole } from '../../src/forms/compressed-forms.js';
import { PlanSource } from '../../src/forms/plan-source.js';
import { WholeSource } from '../../src/forms/whole-source.js';
import { MemorySource } from '../../src/sources/memory-source.js';
import { indexOf } from '../helpers/data.js';
import { BLOCKS_PER_FRAME, BS, FRAME_BYTES, RecordingSource, readAll, wordsText } from './forms-fixture.js';

const data = wordsText(3);

let dir: string;
let input: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-forms-'));
  input = join(dir, 'ref.txt');
  await writeFile(input, data);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const expected = (ranges: readonly ByteRange[]) => new Uint8Array(Buffer.concat(ranges.map((r) => data.subarray(r.start, r.end))));

/** A memory source that records the ranges asked of it. */

async function publishFrames(name: string) {
  const output = join(dir, name);
  const result = await writeFrames(input, output, { frameBytes: FRAME_BYTES, level: 5, concurrency: 3, fileSize: data.length });
  const index: BlockIndex = {
    ...(await indexOf(data, { blockSize: BS })),
    published: { frames: { codec: 'brotli', blocksPerFrame: BLOCKS_PER_FRAME, frameSizes: result.frameSizes, name: basename(output) } },
  };
  return { output, result, index, packed: new Uint8Array(await readFile(output)) };
}

test('writeFrames writes independently decompressible frames of whole blocks, back to back', async () => {
  const { result, packed } = await publishFrames('frames-a');
  assert.equal(result.frameSizes.length, 11);
  assert.equal(result.bytes, packed.length);
  assert.equal(
    result.frameSizes.reduce((a, b) => a + b, 0),
    packed.length,
  );
  assert.ok(result.bytes < data.length / 3, `${result.bytes} bytes: the frames are compressed`);
  let at = 0;
  for (let f = 0; f < result.frameSizes.length; f++) {
    const frame = packed.subarray(at, at + result.frameSizes[f]!);
    at += frame.length;
    assert.deepEqual(
      new Uint8Array(brotliDecompressSync(frame)),
      data.subarray(f * FRAME_BYTES, Math.min(data.length, (f + 1) * FRAME_BYTES)),
    );
  }
});

test('frames read back through PlanSource give the reference, mixing compressed frames and raw ranges', async () => {
  const { index, packed } = await publishFrames('frames-b');
  const chosen = new Uint8Array(11);
  for (const f of [0, 1, 2, 5, 10]) chosen[f] = 1;
  const raw = new RecordingSource(data);
  const frames = new RecordingSource(packed);
  const ranges: ByteRange[] = [
    { start: 100, end: 2 * FRAME_BYTES + 10 }, // frames 0, 1 and the start of 2
    { start: 3 * FRAME_BYTES + 5, end: 3 * FRAME_BYTES + 50 }, // raw
    { start: 5 * FRAME_BYTES + 7, end: 6 * FRAME_BYTES + 9 }, // frame 5, then raw
    { start: data.length - 30, end: data.length }, // the short last frame
  ];
  const source = new PlanSource(index, chosen, raw, frames);
  assert.deepEqual(await readAll(source, ranges), expected(ranges));
  // Raw ranges for the frames fetched raw only; the compressed ones as runs of frames.
  assert.deepEqual(raw.asked, [
    { start: 3 * FRAME_BYTES + 5, end: 3 * FRAME_BYTES + 50 },
    { start: 6 * FRAME_BYTES, end: 6 * FRAME_BYTES + 9 },
  ]);
  const offsets = [0];
  for (const s of index.published!.frames!.frameSizes) offsets.push(offsets.at(-1)! + s);
  assert.deepEqual(frames.asked, [
    { start: 0, end: offsets[3]! },
    { start: offsets[5]!, end: offsets[6]! },
    { start: offsets[10]!, end: offsets[11]! },
  ]);
});

test('a damaged frame is fetched raw instead, never trusted', async () => {
  const { index, packed } = await publishFrames('frames-c');
  const damaged = Uint8Array.from(packed);
  const sizes = index.published!.frames!.frameSizes;
  const frame1 = sizes[0]!;
  damaged[frame1 + 2]! ^= 0xff; // inside frame 1
  damaged.fill(0, frame1 + 5, frame1 + sizes[1]!);
  const raw = new RecordingSource(data);
  const all: ByteRange[] = [{ start: 0, end: data.length }];
  const source = new PlanSource(index, new Uint8Array(11).fill(1), raw, new MemorySource(damaged));
  assert.deepEqual(await readAll(source, all), data);
  assert.deepEqual(raw.asked, [{ start: FRAME_BYTES, end: 2 * FRAME_BYTES }], 'frame 1, and only it, came raw');
  // With the raw source failing too, the read fails with FRAME_CORRUPT.
  const failing: BlockSource = {
    name: 'failing',
    read: () => ({
      [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new SyncError(ErrorCodes.NETWORK, 'Cannot fetch: offline')) }),
    }),
    close: async () => {},
  };
  await assert.rejects(
    readAll(new PlanSource(index, new Uint8Array(11).fill(1), failing, new MemorySource(damaged)), all),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.FRAME_CORRUPT && /compressed frame 1/.test(e.message),
  );
});

test('PlanSource takes and decodes the next frame while the caller still holds the one before', async () => {
  const { index, packed } = await publishFrames('frames-ahead');
  const offsets = [0];
  for (const s of index.published!.frames!.frameSizes) offsets.push(offsets.at(-1)! + s);
  /** Hands out the frames in 100-byte chunks, counting what was taken. */
  let pulled = 0;
  const frames: BlockSource = {
    name: 'frames',
    async *read(ranges) {
      for (const r of ranges)
        for (let p = r.start; p < r.end; p += 100) {
          const c = packed.subarray(p, Math.min(r.end, p + 100));
          pulled += c.length;
          yield c;
        }
    },
    close: async () => {},
  };
  const all: ByteRange[] = [{ start: 0, end: data.length }];
  const it = new PlanSource(index, new Uint8Array(11).fill(1), new MemorySource(data), frames).read(all)[Symbol.asyncIterator]();
  const first = await it.next();
  assert.deepEqual(Uint8Array.from(first.value!), data.subarray(0, FRAME_BYTES));
  // Suspended on frame 0's bytes: frame 1's compressed bytes are fetched meanwhile.
  for (let i = 0; i < 1000 && pulled < offsets[2]!; i++) await new Promise((r) => setImmediate(r));
  assert.ok(pulled >= offsets[2]!, `${pulled} compressed bytes taken while frame 0 is in use, frame 1 ends at ${offsets[2]}`);
  assert.ok(pulled < offsets[3]!, 'no more than one frame ahead');
  const parts = [Uint8Array.from(first.value!)];
  for (let r = await it.next(); !r.done; r = await it.next()) parts.push(Uint8Array.from(r.value));
  assert.deepEqual(new Uint8Array(Buffer.concat(parts)), data);
  // Stopping early with a frame in flight settles it and ends the read cleanly.
  const early = new PlanSource(index, new Uint8Array(11).fill(1), new MemorySource(data), new MemorySource(packed)).read(all);
  for await (const c of early) {
    assert.deepEqual(Uint8Array.from(c), data.subarray(0, FRAME_BYTES));
    break;
  }
});

test('writeWhole writes one brotli stream that WholeSource reads back in ranges', async () => {
  const output = join(dir, 'whole.br');
  const size = await writeWhole(input, output, { level: 9, fileSize: data.length });
  const packed = new Uint8Array(await readFile(output));
  assert.equal(size, packed.length);
  assert.deepEqual(new Uint8Array(brotliDecompressSync(packed)), data);
  const index: BlockIndex = {
    ...(await indexOf(data, { blockSize: BS })),
    published: { whole: { codec: 'brotli', size, name: 'whole.br' } },
  };
  const ranges: ByteRange[] = [
    { start: 0, end: 10 },
    { start: 5000, end: 70_000 },
    { start: data.length - 1, end: data.length },
  ];
  assert.deepEqual(await readAll(new WholeSource(index, new MemorySource(packed)), ranges), expected(ranges));
  // Damaged or truncated: FRAME_CORRUPT, never wrong bytes.
  const damaged = Uint8Array.from(packed);
  damaged.fill(0xab, 20, 60);
  const truncated = packed.subarray(0, packed.length >> 1);
  for (const [what, bytes] of [
    ['damaged', damaged],
    ['truncated', truncated],
  ] as const) {
    const shortIndex: BlockIndex = { ...index, published: { whole: { codec: 'brotli', size: bytes.length, name: 'whole.br' } } };
    await assert.rejects(
      readAll(new WholeSource(shortIndex, new MemorySource(bytes)), [{ start: 0, end: data.length }]),
      (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.FRAME_CORRUPT,
      what,
    );
  }
});

test('an aborted write leaves no temporary file and no output', async () => {
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(
    writeFrames(input, join(dir, 'aborted-frames'), {
      frameBytes: FRAME_BYTES,
      level: 5,
      concurrency: 2,
      fileSize: data.length,
      signal: ac.signal,
    }),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.ABORTED,
  );
  await assert.rejects(
    writeWhole(input, join(dir, 'aborted-whole'), { level: 5, fileSize: data.length, signal: ac.signal }),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.ABORTED,
  );
  const left = (await readdir(dir)).filter((n) => n.includes('aborted'));
  assert.deepEqual(left, []);
});

test('an input shorter than announced is SOURCE_CHANGED', async () => {
  await assert.rejects(
    writeFrames(input, join(dir, 'short-frames'), { frameBytes: FRAME_BYTES, level: 5, concurrency: 2, fileSize: data.length + 100 }),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.SOURCE_CHANGED,
  );
  assert.deepEqual(
    (await readdir(dir)).filter((n) => n.includes('short-frames')),
    [],
  );
});
