/**
 * zstd frames and whole streams: written by compressed-forms, read back through
 * PlanSource and WholeSource by the codec the index names; damaged or hostile zstd data
 * is refused (a frame is fetched raw instead, a stream fails with FRAME_CORRUPT).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import { BrotliCompress, ZstdCompress, brotliDecompressSync, constants as zc, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import type { BlockSource, ByteRange } from '../../src/core/block-source.js';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import type { BlockIndex } from '../../src/core/index/block-index.js';
import { compressBuffer, sampleRatio, writeFrames, writeWhole } from '../../src/forms/compressed-forms.js';
import { inflateFrame, inflated } from '../../src/forms/inflate.js';
import { IN_PLACE_MAX } from '../../src/localfs/file-chunks.js';
import { PlanSource } from '../../src/forms/plan-source.js';
import { WholeSource } from '../../src/forms/whole-source.js';
import { MemorySource } from '../../src/sources/memory-source.js';
import { indexOf, randomBytes } from '../helpers/data.js';
import { BLOCKS_PER_FRAME, BS, FRAME_BYTES, RecordingSource, readAll, wordsText } from './forms-fixture.js';

const FRAMES = 11;
const data = wordsText(5);

let dir: string;
let input: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-zstd-forms-'));
  input = join(dir, 'ref.txt');
  await writeFile(input, data);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * `bytes` as one zstd frame whose header declares a window of 2^`log` bytes (zstd itself
 * would shrink the window to the input's size): no content size, so the header holds a
 * window descriptor, rewritten here. The data still decodes with the larger window.
 */
function withWindow(bytes: Uint8Array, log: number): Uint8Array {
  const z = Uint8Array.from(zstdCompressSync(bytes, { params: { [zc.ZSTD_c_contentSizeFlag]: 0 } }));
  assert.equal(z[4]! & 0x20, 0, 'not single-segment: the header holds a window descriptor');
  z[5] = (log - 10) << 3;
  return z;
}

const frameOf = (f: number) => data.subarray(f * FRAME_BYTES, Math.min(data.length, (f + 1) * FRAME_BYTES));

async function publishZstdFrames(name: string) {
  const output = join(dir, name);
  const result = await writeFrames(input, output, {
    frameBytes: FRAME_BYTES,
    level: 19,
    codec: 'zstd',
    concurrency: 3,
    fileSize: data.length,
  });
  const index: BlockIndex = {
    ...(await indexOf(data, { blockSize: BS })),
    published: { frames: { codec: 'zstd', blocksPerFrame: BLOCKS_PER_FRAME, frameSizes: result.frameSizes, name: basename(output) } },
  };
  return { result, index, packed: new Uint8Array(await readFile(output)) };
}

test('zstd frames: each is one zstd frame of its blocks, and PlanSource reads them back by the codec the index names', async () => {
  const { result, index, packed } = await publishZstdFrames('frames-a');
  assert.equal(result.frameSizes.length, FRAMES);
  assert.ok(result.bytes < data.length / 3, `${result.bytes} bytes: the frames are compressed`);
  let at = 0;
  for (let f = 0; f < FRAMES; f++) {
    const frame = packed.subarray(at, at + result.frameSizes[f]!);
    at += frame.length;
    assert.deepEqual([...frame.subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd], `frame ${f} starts with zstd's magic`);
    assert.deepEqual(new Uint8Array(zstdDecompressSync(frame)), frameOf(f));
  }
  const raw = new RecordingSource(data);
  const chosen = new Uint8Array(FRAMES).fill(1);
  chosen[4] = 0;
  const all: ByteRange[] = [{ start: 0, end: data.length }];
  assert.deepEqual(await readAll(new PlanSource(index, chosen, raw, new MemorySource(packed)), all), data);
  assert.deepEqual(raw.asked, [{ start: 4 * FRAME_BYTES, end: 5 * FRAME_BYTES }], 'only the frame planned raw came raw');
});

test('frames taken from the input in memory are those read from its file, byte for byte', async () => {
  const fromFile = await publishZstdFrames('frames-file');
  const output = join(dir, 'frames-memory');
  const result = await writeFrames(join(dir, 'not-read'), output, {
    frameBytes: FRAME_BYTES,
    level: 19,
    codec: 'zstd',
    concurrency: 3,
    fileSize: data.length,
    data,
  });
  assert.deepEqual(result, fromFile.result);
  assert.deepEqual(new Uint8Array(await readFile(output)), fromFile.packed);
  // More than is written in place: refused, nothing written.
  const large = new Uint8Array(IN_PLACE_MAX + 1);
  const refused = join(dir, 'frames-too-large');
  await assert.rejects(
    writeFrames(join(dir, 'not-read'), refused, {
      frameBytes: FRAME_BYTES,
      level: 1,
      codec: 'zstd',
      concurrency: 3,
      fileSize: large.length,
      data: large,
    }),
    RangeError,
  );
  await assert.rejects(readFile(refused), { code: 'ENOENT' });
});

test('a damaged zstd frame is fetched raw instead; with the raw source failing too, FRAME_CORRUPT', async () => {
  const { index, packed } = await publishZstdFrames('frames-b');
  const sizes = index.published!.frames!.frameSizes;
  const damaged = Uint8Array.from(packed);
  const f2 = sizes[0]! + sizes[1]!;
  damaged.fill(0x5a, f2 + 6, f2 + sizes[2]! - 2); // frame 2's blocks, header intact
  const raw = new RecordingSource(data);
  const all: ByteRange[] = [{ start: 0, end: data.length }];
  assert.deepEqual(await readAll(new PlanSource(index, new Uint8Array(FRAMES).fill(1), raw, new MemorySource(damaged)), all), data);
  assert.deepEqual(raw.asked, [{ start: 2 * FRAME_BYTES, end: 3 * FRAME_BYTES }], 'frame 2, and only it, came raw');
  const failing: BlockSource = {
    name: 'failing',
    read: () => ({
      [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new SyncError(ErrorCodes.NETWORK, 'Cannot fetch: offline')) }),
    }),
    close: async () => {},
  };
  await assert.rejects(
    readAll(new PlanSource(index, new Uint8Array(FRAMES).fill(1), failing, new MemorySource(damaged)), all),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.FRAME_CORRUPT && /compressed frame 2/.test(e.message),
  );
});

test('inflateFrame refuses a zstd frame that inflates past its blocks, or asks for a window larger than them', async () => {
  const block = frameOf(0);
  const good = zstdCompressSync(block);
  assert.deepEqual(Uint8Array.from((await inflateFrame('zstd', good, block.length))!), block);
  // A bomb: 64 MiB of zeros in a few kB, announced as a frame of 16 KiB. Decoding stops one byte past the size.
  const bomb = zstdCompressSync(Buffer.alloc(64 * 1024 * 1024));
  assert.ok(bomb.length < 64 * 1024);
  assert.equal(await inflateFrame('zstd', bomb, block.length), undefined);
  // Too short, garbage, truncated.
  assert.equal(await inflateFrame('zstd', good, block.length + 1), undefined);
  assert.equal(await inflateFrame('zstd', new Uint8Array(64).fill(7), block.length), undefined);
  assert.equal(await inflateFrame('zstd', good.subarray(0, good.length - 4), block.length), undefined);
  // The same frame declaring an 8 MiB window asks for more memory than a 16 KiB frame needs.
  const wide = withWindow(block, 23);
  assert.deepEqual(new Uint8Array(zstdDecompressSync(wide)), block, 'a valid frame otherwise');
  assert.equal(await inflateFrame('zstd', wide, block.length), undefined);
  // The codec named is the one used: a zstd frame is not brotli.
  assert.equal(await inflateFrame('brotli', good, block.length), undefined);
});

test('writeWhole with zstd: one zstd stream that WholeSource reads back in ranges; damaged or truncated is FRAME_CORRUPT', async () => {
  const output = join(dir, 'whole.zst');
  const size = await writeWhole(input, output, { level: 19, codec: 'zstd', fileSize: data.length });
  const packed = new Uint8Array(await readFile(output));
  assert.equal(size, packed.length);
  assert.deepEqual(new Uint8Array(zstdDecompressSync(packed)), data);
  const index: BlockIndex = {
    ...(await indexOf(data, { blockSize: BS })),
    published: { whole: { codec: 'zstd', size, name: 'whole.zst' } },
  };
  const ranges: ByteRange[] = [
    { start: 0, end: 10 },
    { start: 5000, end: 70_000 },
    { start: data.length - 1, end: data.length },
  ];
  const want = new Uint8Array(Buffer.concat(ranges.map((r) => data.subarray(r.start, r.end))));
  assert.deepEqual(await readAll(new WholeSource(index, new MemorySource(packed)), ranges), want);
  const damaged = Uint8Array.from(packed);
  damaged.fill(0xab, 20, 60);
  for (const [what, bytes] of [
    ['damaged', damaged],
    ['truncated', packed.subarray(0, packed.length >> 1)],
    ['brotli named zstd', new Uint8Array(64).fill(1)],
  ] as const) {
    const i: BlockIndex = { ...index, published: { whole: { codec: 'zstd', size: bytes.length, name: 'whole.zst' } } };
    await assert.rejects(
      readAll(new WholeSource(i, new MemorySource(bytes)), [{ start: 0, end: data.length }]),
      (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.FRAME_CORRUPT,
      what,
    );
  }
});

test('a zstd stream asking for a window over 16 MiB is refused with FRAME_CORRUPT, before it allocates it', async () => {
  const huge = withWindow(data, 27);
  assert.deepEqual(new Uint8Array(zstdDecompressSync(huge)), data, 'a valid stream otherwise');
  const chunks: Uint8Array[] = [];
  await assert.rejects(
    (async () => {
      for await (const c of inflated(new MemorySource(huge), huge.length, 'zstd')) chunks.push(c);
    })(),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.FRAME_CORRUPT,
  );
  assert.equal(chunks.length, 0);
  // The same data with a window of its own size inflates.
  const fine = zstdCompressSync(data);
  const out: Uint8Array[] = [];
  for await (const c of inflated(new MemorySource(fine), fine.length, 'zstd')) out.push(Uint8Array.from(c));
  assert.deepEqual(new Uint8Array(Buffer.concat(out)), data);
});

test('sampleRatio: random data does not shrink, text does', () => {
  assert.ok(sampleRatio(randomBytes(1 << 20, 9)) > 0.99);
  assert.ok(sampleRatio(data) < 0.5);
  assert.equal(sampleRatio(new Uint8Array(0)), 1);
});

test('compressBuffer: the same bytes, decompressing to the input, with _processChunk and through the stream API where zlib has none', async () => {
  const data = wordsText(5);
  for (const codec of ['zstd', 'brotli'] as const) {
    const direct = await compressBuffer(codec, 5, data);
    const engine = codec === 'zstd' ? ZstdCompress : BrotliCompress;
    const proto = engine.prototype as { _processChunk?: unknown };
    assert.equal(typeof proto._processChunk, 'function', 'zlib streams have _processChunk');
    assert.ok(!Object.hasOwn(proto, '_processChunk'), 'inherited, so shadowing it here is undone by deleting it');
    // Shadowed on the codec's own prototype for the fallback's sake, then removed again.
    Object.defineProperty(proto, '_processChunk', { value: undefined, configurable: true, writable: true });
    let fallback: Buffer;
    try {
      assert.equal(typeof (new engine() as unknown as { _processChunk?: unknown })._processChunk, 'undefined');
      fallback = await compressBuffer(codec, 5, data);
    } finally {
      delete proto._processChunk;
    }
    assert.equal(typeof (new engine() as unknown as { _processChunk?: unknown })._processChunk, 'function');
    assert.deepEqual(direct, fallback, codec);
    const back = codec === 'zstd' ? zstdDecompressSync(direct) : brotliDecompressSync(direct);
    assert.deepEqual(new Uint8Array(back), new Uint8Array(data), codec);
  }
});
