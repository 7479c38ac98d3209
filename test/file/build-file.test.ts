/**
 * buildIndexFile's compressed forms: the defaults (zstd frames, a brotli whole stream),
 * what the index lists, patches that use them, and incompressible input (no forms).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { zstdDecompressSync } from 'node:zlib';
import type { BlockSource } from '../../src/core/block-source.js';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { readIndexSummary } from '../../src/core/index/format.js';
import { PUBLISH_DEFAULTS, buildIndexFile } from '../../src/file/build-file.js';
import { loadIndex } from '../../src/file/load-index.js';
import { patchFile } from '../../src/file/patch-file.js';
import { FileSource } from '../../src/sources/file-source.js';
import { randomBytes } from '../helpers/data.js';

let dir: string;
/** 300 kB of text-like data: five frames of 64 KiB. */
let text: Buffer;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-build-file-'));
  const words = ['function ', 'return ', 'const ', 'value', '(', ') ', '{\n', '}\n', 'index ', 'length ', '= ', '+ 1;\n'];
  text = Buffer.from(Array.from(randomBytes(100_000, 11), (b) => words[b % words.length]).join('')).subarray(0, 300_000);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A reference source that must not be read: the patch must use the compressed forms. */
const untouchable = (size: number): BlockSource => ({
  name: 'plain reference',
  // biome-ignore lint/correctness/useYield: it fails on first use
  read: async function* () {
    throw new SyncError(ErrorCodes.NETWORK, `Cannot fetch the plain reference (${size} B): this test forbids it`);
  },
  close: async () => {},
});

test('PUBLISH_DEFAULTS write zstd frames and a brotli whole stream, listed in the index; a patch uses them', async () => {
  const input = join(dir, 'app.js');
  await writeFile(input, text);
  const index = join(dir, 'app.js.gosync');
  const r = await buildIndexFile(input, index, { compress: { ...PUBLISH_DEFAULTS, frameBytes: 64 * 1024 } });
  assert.equal(r.frames?.codec, 'zstd');
  assert.equal(r.frames?.level, 19, 'zstd 19 for a file under 16 MiB');
  assert.equal(r.frames?.count, 5);
  assert.equal(r.whole?.codec, 'brotli');
  assert.equal(r.whole?.level, 11);
  assert.equal(r.incompressible, undefined);
  assert.equal(r.whole?.path, `${index}.br`);
  const loaded = await loadIndex(index);
  const forms = loaded.index.published!;
  assert.equal(forms.frames?.codec, 'zstd');
  assert.equal(forms.frames?.name, 'app.js.gosyncz');
  assert.equal(forms.whole?.codec, 'brotli');
  // The first frame is a zstd frame of the first 64 KiB.
  const packed = await readFile(`${index}z`);
  assert.deepEqual(zstdDecompressSync(packed.subarray(0, forms.frames!.frameSizes[0]!)), text.subarray(0, 64 * 1024));

  // Nothing local: the whole stream. Half of it local: frames for the rest, raw for nothing.
  const openForm = (name: string) => new FileSource(join(dir, name));
  const empty = join(dir, 'empty.js');
  await writeFile(empty, '');
  const whole = await patchFile({
    local: empty,
    output: join(dir, 'out-whole.js'),
    index: loaded.index,
    source: untouchable(text.length),
    openForm,
  });
  assert.equal(whole.plan, 'whole');
  assert.deepEqual(await readFile(join(dir, 'out-whole.js')), text);
  const half = join(dir, 'half.js');
  await writeFile(half, Buffer.concat([text.subarray(0, 128 * 1024), randomBytes(100_000, 12)]));
  const framed = await patchFile({
    local: half,
    output: join(dir, 'out-frames.js'),
    index: loaded.index,
    source: untouchable(text.length),
    openForm,
  });
  assert.equal(framed.plan, 'frames');
  assert.deepEqual(await readFile(join(dir, 'out-frames.js')), text);
});

test('with skipIncompressible (as the CLI passes), incompressible input gets no compressed forms, its index a summary; without it, it does', async () => {
  // Read whole (up to 1 MiB) under the sample size and over it, then read in pieces under the
  // sample size (sampled whole) and over it (sampled in pieces).
  for (const size of [40 * 1024 + 3, 300 * 1024 + 1, 3 * 1024 * 1024 + 5, 5 * 1024 * 1024 + 7]) {
    const input = join(dir, 'random.bin');
    await writeFile(input, randomBytes(size, 13));
    const index = join(dir, 'random.bin.gosync');
    const r = await buildIndexFile(input, index, { compress: PUBLISH_DEFAULTS });
    assert.equal(r.incompressible, true);
    assert.equal(r.frames, undefined);
    assert.equal(r.whole, undefined);
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.startsWith('random.bin.gosync')),
      ['random.bin.gosync'],
    );
    // No forms listed, and the summary a client reads alone (the size and SHA-256 of the file).
    const published = (await loadIndex(index)).index.published;
    assert.deepEqual([published?.frames, published?.whole, published?.bases], [undefined, undefined, undefined]);
    const bytes = await readFile(index);
    const summary = readIndexSummary(bytes.subarray(bytes.length - 57));
    assert.ok(summary !== undefined && !('need' in summary));
    assert.equal(summary.fileSize, size);
    assert.deepEqual(
      Buffer.from(summary.sha256),
      createHash('sha256')
        .update(await readFile(input))
        .digest(),
    );
  }
  const input = join(dir, 'random.bin');
  const forced = await buildIndexFile(input, join(dir, 'forced.gosync'), { compress: { codec: 'zstd', level: 1, whole: false } });
  assert.equal(forced.frames?.count, 6);
  assert.equal(forced.incompressible, undefined);
  assert.equal((await loadIndex(join(dir, 'forced.gosync'))).index.published?.frames?.codec, 'zstd');
});

test('a file that is random except for a compressible part still gets its forms', async () => {
  const input = join(dir, 'mixed.bin');
  await writeFile(input, Buffer.concat([randomBytes(5 * 1024 * 1024, 14), Buffer.concat(Array(10).fill(text))]));
  const r = await buildIndexFile(input, join(dir, 'mixed.gosync'), { compress: { ...PUBLISH_DEFAULTS, level: 3, whole: false } });
  assert.equal(r.incompressible, undefined);
  assert.equal(r.frames?.codec, 'zstd');
});

test('brotli frames and a zstd whole stream when asked; a level outside the codec range is a RangeError, before anything is written', async () => {
  const input = join(dir, 'other.js');
  await writeFile(input, text.subarray(0, 300_000));
  const index = join(dir, 'other.js.gosync');
  // The library's defaults are brotli frames (as before zstd existed); the CLI passes zstd.
  const r = await buildIndexFile(input, index, { compress: { wholeCodec: 'zstd' } });
  assert.equal(r.frames?.codec, 'brotli');
  assert.equal(r.frames?.level, 9);
  assert.equal(r.whole?.codec, 'zstd');
  assert.equal(r.whole?.path, `${index}.zst`);
  const loaded = await loadIndex(index);
  assert.equal(loaded.index.published?.whole?.codec, 'zstd');
  const empty = join(dir, 'empty2.js');
  await writeFile(empty, '');
  const p = await patchFile({
    local: empty,
    output: join(dir, 'other-out.js'),
    index: loaded.index,
    source: untouchable(300_000),
    openForm: (name) => new FileSource(join(dir, name)),
  });
  assert.equal(p.plan, 'whole');
  assert.deepEqual(await readFile(join(dir, 'other-out.js')), text.subarray(0, 300_000));

  for (const compress of [
    { codec: 'zstd' as const, level: 23 },
    { codec: 'zstd' as const, level: 0 },
    { level: 12 },
    { wholeLevel: 12 },
    { level: 2.5 },
  ]) {
    const out = join(dir, 'bad.gosync');
    await assert.rejects(buildIndexFile(input, out, { compress }), RangeError, JSON.stringify(compress));
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.startsWith('bad.gosync')),
      [],
    );
  }
});

test('with a base: zstd 17 frames (12 for a single frame) and no whole stream up to 16 MiB, a zstd 19 one beside lower frames, brotli when named; the delta kept', async () => {
  const input = join(dir, 'based.js');
  await writeFile(input, text);
  const base = join(dir, 'based-old.js');
  await writeFile(base, Buffer.concat([text.subarray(0, 100_000), Buffer.from('inserted\n'), text.subarray(100_500)]));
  const top = await buildIndexFile(input, join(dir, 'based.gosync'), { compress: { ...PUBLISH_DEFAULTS, bases: [base] } });
  assert.ok(text.length <= 1024 * 1024, 'one frame of the default size');
  assert.equal(top.frames?.count, 1);
  assert.equal(top.frames?.level, 12);
  assert.equal(top.whole, undefined);
  const framed = await buildIndexFile(input, join(dir, 'based-framed.gosync'), {
    compress: { ...PUBLISH_DEFAULTS, frameBytes: 64 * 1024, bases: [base] },
  });
  assert.ok((framed.frames?.count ?? 0) > 1);
  assert.equal(framed.frames?.level, 17);
  assert.equal(framed.whole, undefined);
  assert.equal(top.bases?.length, 1);
  assert.equal(top.bases?.[0]?.kind, 'lz', 'text: LZ only');
  assert.deepEqual(Object.keys(top.bases?.[0]?.sizes ?? {}), ['lz']);
  assert.equal((await loadIndex(join(dir, 'based.gosync'))).index.published?.whole, undefined);
  assert.ok(!(await readdir(dir)).some((n) => n.startsWith('based.gosync.')));

  const lower = await buildIndexFile(input, join(dir, 'based9.gosync'), { compress: { ...PUBLISH_DEFAULTS, level: 9, bases: [base] } });
  assert.equal(lower.whole?.codec, 'zstd');
  assert.equal(lower.whole?.level, 19);
  assert.equal(lower.whole?.path, join(dir, 'based9.gosync.zst'));
  assert.deepEqual(zstdDecompressSync(await readFile(lower.whole!.path)), text);

  const named = await buildIndexFile(input, join(dir, 'based-br.gosync'), {
    compress: { ...PUBLISH_DEFAULTS, wholeCodec: 'brotli', whole: true, bases: [base] },
  });
  assert.equal(named.whole?.codec, 'brotli');
  assert.equal(named.whole?.level, 11);

  const top19 = await buildIndexFile(input, join(dir, 'based19.gosync'), { compress: { ...PUBLISH_DEFAULTS, level: 19, bases: [base] } });
  assert.equal(top19.frames?.level, 19);
  assert.equal(top19.whole, undefined);

  // Without a base the defaults are unchanged: zstd 19 frames and a brotli 11 whole stream.
  const plain = await buildIndexFile(input, join(dir, 'unbased.gosync'), { compress: PUBLISH_DEFAULTS });
  assert.equal(plain.frames?.level, 19);
  assert.equal(plain.whole?.codec, 'brotli');
});
