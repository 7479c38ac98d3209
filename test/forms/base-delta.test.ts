/**
 * The publish side of base deltas (writeBaseDelta) read back through the fetch side
 * (findBase, patchFromBase), without HTTP: every kind, the smallest kept, and the deltas
 * version 2 indexes list (librsync + brotli) still applied.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import type { BlockIndex } from '../../src/core/index/block-index.js';
import type { BaseDeltaForm } from '../../src/core/index/published.js';
import { brotliCompressSync } from 'node:zlib';
import { defaultDeltaKinds, deltaKindsFor, isExecutable, isText, writeBaseDelta } from '../../src/forms/base-delta.js';
import { baseBlockLength } from '../../src/forms/librsync-base-delta.js';
import { BSDIFF_MAX, DELTA_KINDS, IN_MEMORY_MAX, type DeltaKind } from '../../src/forms/delta-file.js';
import { LibrsyncDeltaGenerator } from '../../src/formats/librsync-delta.js';
import { LibrsyncSignatureBuilder, decodeLibrsyncSignature, librsyncSignatureMagic } from '../../src/formats/librsync-signature.js';
import { findBase, patchFromBase } from '../../src/forms/patch-from-base.js';
import { MemorySource } from '../../src/sources/memory-source.js';
import { concat, indexOf, randomBytes } from '../helpers/data.js';

const oldData = randomBytes(300_000, 7);
// Edits here and there: most of the old file is reused.
const newData = concat(
  oldData.subarray(0, 50_000),
  randomBytes(3000, 8),
  oldData.subarray(60_000, 250_000),
  randomBytes(500, 9),
  oldData.subarray(250_000),
);

let dir: string;
let base: string;
let input: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-base-'));
  base = join(dir, 'v1.bin');
  input = join(dir, 'v2.bin');
  await writeFile(base, oldData);
  await writeFile(input, newData);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha256 = (d: Uint8Array) => new Uint8Array(createHash('sha256').update(d).digest());

async function publish(
  kinds?: DeltaKind[],
): Promise<{ index: BlockIndex; form: BaseDeltaForm; delta: Uint8Array; kind: DeltaKind; sizes: Partial<Record<DeltaKind, number>> }> {
  const r = await writeBaseDelta(base, input, join(dir, 'v2.bin.gosyncd-'), { level: 9, ...(kinds ? { kinds } : {}) });
  assert.equal(r.baseSize, oldData.length);
  assert.deepEqual(r.baseSha256, sha256(oldData));
  assert.equal(basename(r.path), `v2.bin.gosyncd-${Buffer.from(r.baseSha256.subarray(0, 8)).toString('hex')}`);
  const delta = new Uint8Array(await readFile(r.path));
  assert.equal(r.size, delta.length);
  assert.equal(r.codec, 'gosync');
  assert.equal(delta[0], DELTA_KINDS[r.kind], 'the first byte names the kind');
  const form: BaseDeltaForm = { baseSize: r.baseSize, baseSha256: r.baseSha256, codec: r.codec, size: r.size, name: basename(r.path) };
  const index: BlockIndex = { ...(await indexOf(newData)), published: { bases: [form] } };
  return { index, form, delta, kind: r.kind, sizes: r.sizes };
}

/** A librsync delta compressed with brotli, as version 2 indexes list (codec `brotli`). */
function legacyDelta(): Uint8Array {
  const sb = new LibrsyncSignatureBuilder({
    magic: librsyncSignatureMagic('md4', 'rollsum'),
    hash: 'md4',
    rollsum: 'rollsum',
    blockLength: 32,
    strongLength: 8,
  });
  const signature = decodeLibrsyncSignature(Buffer.concat([sb.header(), sb.push(oldData), sb.end()]));
  const g = new LibrsyncDeltaGenerator(signature);
  g.push(newData);
  const first = g.take();
  g.end();
  return new Uint8Array(brotliCompressSync(Buffer.concat([first, g.take()])));
}

test('baseBlockLength is 32 bytes, doubled until the base has at most 4 Mi blocks', () => {
  assert.equal(baseBlockLength(0), 32);
  assert.equal(baseBlockLength(32 * 4 * 1024 * 1024), 32);
  assert.equal(baseBlockLength(32 * 4 * 1024 * 1024 + 1), 64);
  assert.equal(baseBlockLength(5 * 1024 ** 3), 2048);
});

test('every kind asked for is made and checked, the smallest is kept, and it rebuilds the new file exactly', async () => {
  const { index, form, delta, kind, sizes } = await publish(['zstd', 'lz', 'bsdiff']);
  assert.deepEqual(Object.keys(sizes).sort(), ['bsdiff', 'lz', 'zstd']);
  assert.equal(delta.length, Math.min(...Object.values(sizes)), `${kind} of ${JSON.stringify(sizes)}`);
  assert.ok(delta.length < 10_000, `${delta.length} bytes for 3.5 kB of new data`);
  const out = join(dir, 'rebuilt.bin');
  const r = await patchFromBase(index, form, new MemorySource(delta), base, out);
  assert.deepEqual(new Uint8Array(await readFile(out)), newData);
  assert.equal(r.deltaBytes, delta.length);
});

test('each kind on its own rebuilds the new file, the librsync fallback included', async () => {
  for (const only of ['zstd', 'lz', 'bsdiff', 'librsync'] as const) {
    const { index, form, delta, kind } = await publish([only]);
    assert.equal(kind, only);
    assert.ok(delta.length < 12_000, `${only}: ${delta.length} bytes`);
    const out = join(dir, `rebuilt-${only}.bin`);
    await patchFromBase(index, form, new MemorySource(delta), base, out);
    assert.deepEqual(new Uint8Array(await readFile(out)), newData, only);
  }
});

test('a delta made from the new version in memory is the one made from its file, and the file is then not read', async () => {
  const fromFile = await publish(['lz']);
  const r = await writeBaseDelta(base, join(dir, 'absent.bin'), join(dir, 'mem.gosyncd-'), { level: 9, kinds: ['lz'], next: newData });
  assert.deepEqual(new Uint8Array(await readFile(r.path)), fromFile.delta);
  assert.equal(r.kind, 'lz');
});

test('the kinds made depend on the sizes: in-memory kinds up to 64 MiB, bsdiff up to 512 MiB, then librsync', () => {
  assert.deepEqual(deltaKindsFor(IN_MEMORY_MAX, 10), ['zstd', 'lz', 'bsdiff', 'librsync']);
  assert.deepEqual(deltaKindsFor(10, IN_MEMORY_MAX + 1), ['bsdiff', 'librsync']);
  assert.deepEqual(deltaKindsFor(BSDIFF_MAX + 1, 10), ['librsync']);
});

test('by default zstd is not made (LZ does its work better), nor LZ for executables (bsdiff wins there), nor bsdiff for text (LZ wins there)', () => {
  const text = Buffer.from('function f() { return 1; }\n');
  assert.deepEqual(defaultDeltaKinds(100, 100, text), ['lz', 'librsync']);
  const binary = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) & 0xff);
  assert.deepEqual(defaultDeltaKinds(100, 100, binary), ['lz', 'bsdiff', 'librsync']);
  const elf = Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]);
  assert.deepEqual(defaultDeltaKinds(100, 100, elf), ['bsdiff', 'librsync']);
  assert.deepEqual(defaultDeltaKinds(IN_MEMORY_MAX + 1, 100, text), ['bsdiff', 'librsync']);
  for (const magic of [
    [0xcf, 0xfa, 0xed, 0xfe],
    [0xfe, 0xed, 0xfa, 0xce],
    [0xca, 0xfe, 0xba, 0xbe],
    [0x4d, 0x5a, 0x90, 0],
    [0, 0x61, 0x73, 0x6d],
  ]) {
    assert.ok(isExecutable(Uint8Array.from(magic)), magic.join(' '));
  }
  assert.ok(!isExecutable(text) && !isExecutable(Uint8Array.from([0x7f, 0x45])));
});

test('text is data with at most 1% control bytes: UTF-8 and a tar of text files are, binary data is not', () => {
  const line = Buffer.from('const π = 3.14;\tlet s = "naïve";\r\n');
  assert.ok(isText(Buffer.concat(Array.from({ length: 100 }, () => line))));
  // A tar: a 512-byte header, mostly NUL, before 64 KiB of text.
  const header = Buffer.alloc(512);
  header.write('package/lib/typescript.js\x000000644\x00');
  assert.ok(isText(Buffer.concat([header, Buffer.alloc(65_536, 'x')])));
  assert.ok(!isText(Buffer.concat([header, Buffer.alloc(4096, 'x')])));
  assert.ok(!isText(Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) & 0xff)));
  assert.ok(isText(new Uint8Array(0)));
});

test('isText counts the same bytes on both of its paths: exactly 1% is text, one more is not', () => {
  // Every byte value once: which ones count is the same below and above the pattern's limit.
  const controls = Array.from({ length: 256 }, (_, b) => b).filter((b) => b < 0x20 && (b < 0x09 || (b > 0x0d && b !== 0x1b)));
  assert.equal(controls.length, 26);
  for (const size of [100_000, 2 * 1024 * 1024]) {
    const data = Buffer.alloc(size, 'a');
    const limit = Math.floor(size / 100);
    for (let i = 0; i < limit; i++) data[i * 97] = controls[i % controls.length]!;
    // Tab, line feed, form feed, carriage return and escape never count.
    for (const b of [0x09, 0x0a, 0x0c, 0x0d, 0x1b, 0x20, 0x7f, 0xff]) data[size - 1 - b] = b;
    assert.ok(isText(data), `${size}: ${limit} control bytes`);
    data[size - 300] = 0;
    assert.ok(!isText(data), `${size}: ${limit + 1} control bytes`);
  }
});

test('a delta made with the default kinds lists the sizes of LZ and bsdiff only', async () => {
  const prefix = join(dir, 'default-kinds.gosyncd-');
  const r = await writeBaseDelta(base, input, prefix, { level: 9 });
  assert.deepEqual(Object.keys(r.sizes).sort(), ['bsdiff', 'lz']);
});

test('a librsync delta compressed with brotli (what version 2 indexes list) is still applied', async () => {
  const delta = legacyDelta();
  const form: BaseDeltaForm = {
    baseSize: oldData.length,
    baseSha256: sha256(oldData),
    codec: 'brotli',
    size: delta.length,
    name: 'legacy',
  };
  const index: BlockIndex = { ...(await indexOf(newData)), published: { bases: [form] } };
  const out = join(dir, 'rebuilt-legacy.bin');
  const r = await patchFromBase(index, form, new MemorySource(delta), base, out);
  assert.deepEqual(new Uint8Array(await readFile(out)), newData);
  assert.equal(r.copiedBytes + r.literalBytes, newData.length);
  assert.ok(r.literalBytes < 4000, `${r.literalBytes} literal bytes`);
});

test('findBase finds the delta for exactly the base, and nothing for another file of the same size', async () => {
  const { index, form } = await publish();
  assert.equal(await findBase(index, base), form);
  const sameSize = join(dir, 'same-size.bin');
  const other = Uint8Array.from(oldData);
  other[123_456]! ^= 1;
  await writeFile(sameSize, other);
  assert.equal(await findBase(index, sameSize), undefined);
  assert.equal(await findBase(index, input), undefined);
  assert.equal(await findBase(index, join(dir, 'missing')), undefined);
  assert.equal(await findBase(index, dir), undefined, 'a folder');
  assert.equal(await findBase({ ...index, published: {} }, base), undefined);
});

test('a damaged or truncated delta, or the wrong base, is refused and the output is left as it was', async () => {
  const { index, form, delta } = await publish();
  const out = join(dir, 'kept.bin');
  await writeFile(out, 'previous');
  const refusedWith = (codes: string[]) => (e: unknown) => SyncError.is(e) && codes.includes(e.code);
  // A damaged stream may fail to inflate, inflate to a malformed delta, or to a wrong result.
  const damaged = Uint8Array.from(delta);
  damaged.fill(0x5a, delta.length >> 1, (delta.length >> 1) + 16);
  await assert.rejects(
    patchFromBase(index, form, new MemorySource(damaged), base, out),
    refusedWith([ErrorCodes.FRAME_CORRUPT, ErrorCodes.DELTA_CORRUPT, ErrorCodes.FILE_MISMATCH]),
  );
  const truncated = delta.subarray(0, delta.length - 10);
  await assert.rejects(
    patchFromBase(index, { ...form, size: truncated.length }, new MemorySource(truncated), base, out),
    refusedWith([ErrorCodes.DELTA_CORRUPT, ErrorCodes.FILE_MISMATCH]),
  );
  const unknownKind = Uint8Array.from(delta);
  unknownKind[0] = 99;
  await assert.rejects(patchFromBase(index, form, new MemorySource(unknownKind), base, out), refusedWith([ErrorCodes.DELTA_CORRUPT]));
  const trailing = Buffer.concat([delta, Buffer.from('garbage')]);
  await assert.rejects(
    patchFromBase(index, { ...form, size: trailing.length }, new MemorySource(trailing), base, out),
    refusedWith([ErrorCodes.DELTA_CORRUPT, ErrorCodes.FILE_MISMATCH]),
  );
  // A source that gives fewer bytes than the index says.
  await assert.rejects(patchFromBase(index, { ...form, size: delta.length + 5 }, new MemorySource(delta), base, out));
  // Another file of the base's size: a result of the right length and the wrong content.
  const wrongBase = join(dir, 'wrong-base.bin');
  await writeFile(wrongBase, randomBytes(oldData.length, 77));
  await assert.rejects(
    patchFromBase(index, form, new MemorySource(delta), wrongBase, out),
    refusedWith([ErrorCodes.FILE_MISMATCH, ErrorCodes.DELTA_CORRUPT]),
  );
  assert.equal(await readFile(out, 'utf8'), 'previous');
  assert.deepEqual(
    (await readdir(dir)).filter((n) => n.startsWith('.kept.bin.')),
    [],
    'no temporary file is left',
  );
});

test('a base that cannot be read is an IO error naming it, and nothing is written', async () => {
  const prefix = join(dir, 'nothing.gosyncd-');
  const missing = join(dir, 'no-base');
  await assert.rejects(
    writeBaseDelta(missing, input, prefix, { level: 5 }),
    (e: unknown) =>
      SyncError.is(e) && e.code === ErrorCodes.IO && e.path === missing && /^Cannot make a delta from the base /.test(e.message),
  );
  assert.deepEqual(
    (await readdir(dir)).filter((n) => n.includes('nothing')),
    [],
  );
});

test('large inputs are encoded on worker threads, with the same result as on the calling thread', async () => {
  const big = randomBytes(1_200_000, 90);
  const bigNext = concat(big.subarray(0, 600_000), randomBytes(2000, 91), big.subarray(600_000));
  const b = join(dir, 'big-v1.bin');
  const n = join(dir, 'big-v2.bin');
  await writeFile(b, big);
  await writeFile(n, bigNext);
  const threaded = await writeBaseDelta(b, n, join(dir, 'big-threads-'), { level: 5, threads: 2 });
  const inline = await writeBaseDelta(b, n, join(dir, 'big-inline-'), { level: 5, threads: 1 });
  assert.deepEqual(threaded.sizes, inline.sizes);
  assert.deepEqual(await readFile(threaded.path), await readFile(inline.path));
  const aborted = AbortSignal.abort();
  await assert.rejects(
    writeBaseDelta(b, n, join(dir, 'big-aborted-'), { level: 5, threads: 2, signal: aborted }),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.ABORTED,
  );
});
