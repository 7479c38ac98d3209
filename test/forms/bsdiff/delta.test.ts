/** bsdiff-class deltas: round trips through the streaming apply, and damaged deltas refused. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { constants, zstdCompressSync } from 'node:zlib';
import fc from 'fast-check';
import { ErrorCodes, SyncError } from '../../../src/core/errors.js';
import { type ApplyBsdiffOptions, applyBsdiffDelta, type OldFileReader } from '../../../src/forms/bsdiff/apply.js';
import { bsdiffStreams } from '../../../src/forms/bsdiff/diff.js';
import { encodeDiffStream } from '../../../src/forms/bsdiff/diff-model.js';
import { DIFF_MODEL_WASM_BASE64 } from '../../../src/forms/bsdiff/diff-model-wasm.js';
import { BSDIFF_HEADER_SIZE, decodeBsdiffDelta, encodeBsdiffDelta } from '../../../src/forms/bsdiff/format.js';
import { encodeRuns } from '../../../src/forms/bsdiff/runs.js';
import { concat, randomBytes } from '../../helpers/data.js';
import { compiledAssemblyScript } from '../../helpers/wat.js';

function reader(old: Uint8Array): OldFileReader {
  return {
    size: old.length,
    read: async (position, length) => {
      assert.ok(position >= 0 && position + length <= old.length, `read ${length} at ${position}`);
      return old.slice(position, position + length);
    },
  };
}

/** The chunks produced before the end or the error, and the error. */
async function run(delta: Uint8Array, old: Uint8Array, options: ApplyBsdiffOptions = {}): Promise<{ out: Uint8Array; error?: unknown }> {
  const parts: Uint8Array[] = [];
  try {
    for await (const chunk of applyBsdiffDelta(delta, reader(old), options)) parts.push(chunk);
  } catch (error) {
    return { out: concat(...parts), error };
  }
  return { out: concat(...parts) };
}

async function roundTrip(old: Uint8Array, next: Uint8Array, chunkSize?: number): Promise<Uint8Array> {
  const options = chunkSize === undefined ? {} : { chunkSize };
  for (const diffCodec of ['zstd', 'runs'] as const) {
    const coded = encodeBsdiffDelta(old, next, { level: 3, diffCodec });
    assert.equal(decodeBsdiffDelta(coded).diffCodec, diffCodec);
    const viaZstd = await run(coded, old, options);
    assert.equal(viaZstd.error, undefined, diffCodec);
    assert.deepEqual(viaZstd.out, next, diffCodec);
  }
  const delta = encodeBsdiffDelta(old, next, { level: 3 });
  assert.equal(decodeBsdiffDelta(delta).diffCodec, 'model');
  const { out, error } = await run(delta, old, options);
  assert.equal(error, undefined);
  assert.deepEqual(out, next);
  return delta;
}

function isCorrupt(error: unknown): boolean {
  return SyncError.is(error) && error.code === ErrorCodes.DELTA_CORRUPT;
}

test('round trips: empty, one byte, identical, unrelated', async () => {
  const data = randomBytes(50_000, 3);
  await roundTrip(new Uint8Array(0), new Uint8Array(0));
  await roundTrip(new Uint8Array(0), Uint8Array.of(7));
  await roundTrip(Uint8Array.of(7), new Uint8Array(0));
  await roundTrip(Uint8Array.of(7), Uint8Array.of(7));
  await roundTrip(Uint8Array.of(7), Uint8Array.of(8));
  const same = await roundTrip(data, data, 4096);
  assert.ok(same.length < 200, `an identical file costs ${same.length} bytes`);
  await roundTrip(data, randomBytes(40_000, 4));
});

test('a relinked-like change (many small differences) is mostly the diff stream of zeros', async () => {
  const old = randomBytes(200_000, 5);
  const next = old.slice();
  for (let i = 100; i < next.length; i += 97) next[i] = next[i]! + 1;
  const streams = bsdiffStreams(old, next);
  assert.ok(streams.extra.length < 100, `extra ${streams.extra.length}`);
  assert.ok(streams.diff.length > 190_000);
  const delta = await roundTrip(old, next, 10_000);
  assert.ok(delta.length < 20_000, `delta ${delta.length}`);
});

test('moved blocks, insertions and deletions are copied from the old file', async () => {
  const old = randomBytes(300_000, 6);
  const next = concat(old.subarray(200_000), randomBytes(1000, 9), old.subarray(0, 100_000), old.subarray(150_000, 200_000));
  const delta = await roundTrip(old, next, 65_536);
  assert.ok(delta.length < 5000, `delta ${delta.length}`);
});

test('round trips on random edits (property)', async () => {
  const edit = fc.record({
    kind: fc.constantFrom('insert', 'delete', 'overwrite', 'move'),
    at: fc.nat(),
    length: fc.nat({ max: 300 }),
    seed: fc.integer({ min: 1, max: 1 << 30 }),
  });
  await fc.assert(
    fc.asyncProperty(
      fc.nat({ max: 5000 }),
      fc.integer({ min: 1, max: 256 }),
      fc.array(edit, { maxLength: 8 }),
      async (size, alphabet, edits) => {
        const old = randomBytes(size, size + 1).map((v) => v % alphabet);
        let next: Uint8Array = old.slice();
        for (const e of edits) {
          const at = next.length === 0 ? 0 : e.at % next.length;
          const piece = randomBytes(e.length, e.seed).map((v) => v % alphabet);
          if (e.kind === 'insert') next = concat(next.subarray(0, at), piece, next.subarray(at));
          else if (e.kind === 'delete') next = concat(next.subarray(0, at), next.subarray(at + e.length));
          else if (e.kind === 'overwrite')
            next = concat(next.subarray(0, at), piece.subarray(0, next.length - at), next.subarray(at + e.length));
          else next = concat(next.subarray(at, at + e.length), next.subarray(0, at), next.subarray(at + e.length));
        }
        await roundTrip(old, next, 1 + (size % 700));
      },
    ),
    { numRuns: 150 },
  );
});

// Hand-built deltas, to reach every check of the apply.
function uvarint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

function triples(...entries: [add: number, extra: number, seek: number][]): Uint8Array {
  const out: number[] = [];
  for (const [add, extra, seek] of entries) out.push(...uvarint(add), ...uvarint(extra), ...uvarint(seek < 0 ? -2 * seek - 1 : 2 * seek));
  return Uint8Array.from(out);
}

function zstd(data: Uint8Array): Uint8Array {
  return new Uint8Array(zstdCompressSync(data, { params: { [constants.ZSTD_c_compressionLevel]: 3 } }));
}

function assemble(oldSize: number, newSize: number, control: Uint8Array, diff: Uint8Array, extra: Uint8Array, compress = zstd): Uint8Array {
  return assembleCoded(oldSize, newSize, 0, compress(control), compress(diff), compress(extra));
}

function assembleCoded(oldSize: number, newSize: number, codec: number, ...streams: Uint8Array[]): Uint8Array {
  const header = new Uint8Array(BSDIFF_HEADER_SIZE);
  const view = new DataView(header.buffer);
  header.set(Buffer.from('GSBD', 'latin1'));
  header[4] = 1;
  header[5] = codec;
  for (const [i, value] of [oldSize, newSize, ...streams.map((s) => s.length)].entries()) view.setBigUint64(6 + 8 * i, BigInt(value), true);
  return concat(header, ...streams);
}

const old = randomBytes(1000, 11);

test('a hand-built delta applies (the builder used below is right)', async () => {
  const delta = assemble(1000, 30, triples([10, 5, 90], [15, 0, 0]), new Uint8Array(25), Uint8Array.of(1, 2, 3, 4, 5));
  const { out, error } = await run(delta, old);
  assert.equal(error, undefined);
  assert.deepEqual(out, concat(old.subarray(0, 10), Uint8Array.of(1, 2, 3, 4, 5), old.subarray(100, 115)));
});

test('damaged files are DELTA_CORRUPT before anything is produced', async () => {
  const good = encodeBsdiffDelta(old, concat(old.subarray(500), randomBytes(100, 12)));
  const cases: [string, Uint8Array][] = [
    ['truncated', good.subarray(0, good.length - 1)],
    ['shorter than a header', good.subarray(0, 20)],
    ['empty', new Uint8Array(0)],
    ['trailing garbage', concat(good, Uint8Array.of(0))],
    ['wrong magic', concat(Buffer.from('GSBE'), good.subarray(4))],
    ['wrong version', concat(good.subarray(0, 4), Uint8Array.of(2), good.subarray(5))],
    ['unknown diff codec', concat(good.subarray(0, 5), Uint8Array.of(3), good.subarray(6))],
    [
      'absurd stream length',
      (() => {
        const bad = good.slice();
        new DataView(bad.buffer).setBigUint64(6 + 16, 2n ** 62n, true);
        return bad;
      })(),
    ],
  ];
  for (const [name, delta] of cases) {
    const { out, error } = await run(delta, old);
    assert.ok(isCorrupt(error), `${name}: ${String(error)}`);
    assert.equal(out.length, 0, name);
  }
  assert.throws(() => decodeBsdiffDelta(good, { maxNewSize: 100 }), isCorrupt);
});

test('an old file of another size is refused', async () => {
  const delta = encodeBsdiffDelta(old, old);
  const { out, error } = await run(delta, old.subarray(1));
  assert.ok(isCorrupt(error), String(error));
  assert.equal(out.length, 0);
});

test('hostile control entries are refused before the bytes they describe', async () => {
  const first = old.subarray(0, 10);
  const cases: [string, Uint8Array, Uint8Array][] = [
    ['seek before 0', assemble(1000, 20, triples([10, 0, 0], [10, 0, -21]), new Uint8Array(20), new Uint8Array(0)), first],
    ['seek past the end', assemble(1000, 20, triples([10, 0, 0], [10, 0, 981]), new Uint8Array(20), new Uint8Array(0)), first],
    ['read past the end', assemble(1000, 20, triples([10, 0, 980], [20, 0, 0]), new Uint8Array(30), new Uint8Array(0)), first],
    ['add longer than the new size', assemble(1000, 20, triples([10, 0, 0], [11, 0, 0]), new Uint8Array(21), new Uint8Array(0)), first],
    ['extra longer than the new size', assemble(1000, 20, triples([10, 0, 0], [0, 11, 0]), new Uint8Array(10), new Uint8Array(11)), first],
    ['huge add', assemble(1000, 20, triples([10, 0, 0], [2 ** 50, 0, 0]), new Uint8Array(10), new Uint8Array(0)), first],
    [
      'a number too long',
      assemble(1000, 20, concat(triples([10, 0, 0]), new Uint8Array(9).fill(0xff)), new Uint8Array(10), new Uint8Array(0)),
      first,
    ],
  ];
  for (const [name, delta, produced] of cases) {
    const { out, error } = await run(delta, old, { chunkSize: 4 });
    assert.ok(isCorrupt(error), `${name}: ${String(error)}`);
    assert.deepEqual(out, produced, name);
  }
});

test('streams that end early, go on too long, or do not decompress are refused', async () => {
  const control = triples([10, 5, 0]);
  const cases: [string, Uint8Array][] = [
    [
      'more output than the new size',
      assemble(1000, 15, concat(control, triples([1, 0, 0])), new Uint8Array(11), Uint8Array.of(1, 2, 3, 4, 5)),
    ],
    ['control ends early', assemble(1000, 16, control, new Uint8Array(10), Uint8Array.of(1, 2, 3, 4, 5))],
    ['control ends inside a number', assemble(1000, 15, Uint8Array.of(10, 5, 0x80), new Uint8Array(10), Uint8Array.of(1, 2, 3, 4, 5))],
    ['diff ends early', assemble(1000, 15, control, new Uint8Array(9), Uint8Array.of(1, 2, 3, 4, 5))],
    ['diff goes on', assemble(1000, 15, control, new Uint8Array(11), Uint8Array.of(1, 2, 3, 4, 5))],
    ['extra ends early', assemble(1000, 15, control, new Uint8Array(10), Uint8Array.of(1, 2, 3, 4))],
    ['extra goes on', assemble(1000, 15, control, new Uint8Array(10), Uint8Array.of(1, 2, 3, 4, 5, 6))],
    [
      'a stream that is not zstd',
      assemble(1000, 15, control, new Uint8Array(10), Uint8Array.of(1, 2, 3, 4, 5), (s) => concat(Uint8Array.of(1, 2, 3, 4), s)),
    ],
    [
      'a damaged zstd frame',
      (() => {
        const bad = assemble(1000, 15, control, new Uint8Array(10), Uint8Array.of(1, 2, 3, 4, 5));
        bad[BSDIFF_HEADER_SIZE + 5] = bad[BSDIFF_HEADER_SIZE + 5]! ^ 0xff;
        return bad;
      })(),
    ],
  ];
  for (const [name, delta] of cases) {
    const { out, error } = await run(delta, old);
    assert.ok(isCorrupt(error), `${name}: ${String(error)}`);
    assert.ok(out.length <= 15, name);
  }
});

test('a diff stream of the model that ends early or goes on is refused', async () => {
  const control = triples([10, 0, 0], [10, 0, 0]);
  const diff = Uint8Array.from({ length: 20 }, (_, i) => (i % 3 === 0 ? i : 0));
  const coded = encodeDiffStream(old, control, diff, 20);
  const expected = Uint8Array.from(old.subarray(0, 20), (b, i) => b + diff[i]!);
  const good = assembleCoded(1000, 20, 1, zstd(control), coded, zstd(new Uint8Array(0)));
  const ok = await run(good, old);
  assert.equal(ok.error, undefined);
  assert.deepEqual(ok.out, expected);
  const cases: [string, Uint8Array][] = [
    ['goes on', assembleCoded(1000, 20, 1, zstd(control), concat(coded, Uint8Array.of(0)), zstd(new Uint8Array(0)))],
    ['ends early', assembleCoded(1000, 20, 1, zstd(control), coded.subarray(0, coded.length - 1), zstd(new Uint8Array(0)))],
    ['shorter than its first bytes', assembleCoded(1000, 20, 1, zstd(control), coded.subarray(0, 3), zstd(new Uint8Array(0)))],
  ];
  for (const [name, delta] of cases) {
    const { out, error } = await run(delta, old, { chunkSize: 5 });
    assert.ok(isCorrupt(error), `${name}: ${String(error)}`);
    assert.ok(out.length <= 20, name);
    assert.deepEqual(out, expected.subarray(0, out.length), name);
  }
});

test('the runs form: zero runs and non-zero bytes as varint pairs', () => {
  assert.deepEqual(encodeRuns(new Uint8Array(0)), new Uint8Array(0));
  assert.deepEqual(encodeRuns(Uint8Array.of(0, 0, 0)), Uint8Array.of(3, 0));
  assert.deepEqual(encodeRuns(Uint8Array.of(5, 6, 0, 0, 7)), Uint8Array.of(0, 2, 5, 6, 2, 1, 7));
  const long = new Uint8Array(300);
  long[299] = 9;
  assert.deepEqual(encodeRuns(long), Uint8Array.of(0xab, 0x02, 1, 9));
  const alternating = Uint8Array.from({ length: 1001 }, (_, i) => (i % 2 === 0 ? 1 : 0));
  assert.equal(encodeRuns(alternating).length, 1 + 1 + 1 + 500 * 3);
});

test("'auto' codes the diff stream with the model up to modelMaxNewSize bytes of new data, in runs above", async () => {
  const base = randomBytes(20_000, 21);
  const next = base.slice();
  for (let i = 7; i < next.length; i += 41) next[i] = next[i]! + 3;
  const small = encodeBsdiffDelta(base, next, { level: 3, modelMaxNewSize: next.length });
  const large = encodeBsdiffDelta(base, next, { level: 3, modelMaxNewSize: next.length - 1 });
  assert.equal(decodeBsdiffDelta(small).diffCodec, 'model');
  assert.equal(decodeBsdiffDelta(large).diffCodec, 'runs');
  assert.equal(decodeBsdiffDelta(encodeBsdiffDelta(base, next, { level: 3 })).diffCodec, 'model');
  for (const delta of [small, large]) {
    const { out, error } = await run(delta, base);
    assert.equal(error, undefined);
    assert.deepEqual(out, next);
  }
});

test('the old file is read in aligned 64 KiB blocks, read again once dropped from a small cache', async () => {
  const base = randomBytes(400_000, 31);
  // Pieces of the old file in an order that jumps back and forth between its blocks.
  const next = concat(
    base.subarray(300_000, 330_000),
    base.subarray(10_000, 40_000),
    base.subarray(310_000, 400_000),
    base.subarray(0, 200_000),
  );
  const delta = encodeBsdiffDelta(base, next, { level: 3, diffCodec: 'runs' });
  for (const [cache, maxReads] of [
    [1, 100],
    [64 << 20, 7],
  ] as const) {
    const reads: [number, number][] = [];
    const counting: OldFileReader = {
      size: base.length,
      read: async (position, length) => {
        reads.push([position, length]);
        return base.slice(position, position + length);
      },
    };
    const parts: Uint8Array[] = [];
    for await (const chunk of applyBsdiffDelta(delta, counting, { oldCacheSize: cache, chunkSize: 50_000 })) parts.push(chunk);
    assert.deepEqual(concat(...parts), next);
    for (const [position, length] of reads) {
      assert.equal(position % 65_536, 0);
      assert.equal(length, Math.min(65_536, base.length - position));
    }
    assert.ok(reads.length <= maxReads, `${reads.length} reads with a cache of ${cache}`);
    if (cache === 1) assert.ok(reads.length > 7, `${reads.length} reads with one block cached`);
    else assert.equal(new Set(reads.map(([p]) => p)).size, reads.length, 'a cached block is read once');
  }
});

test('small entries are coalesced into full chunks', async () => {
  const base = randomBytes(50_000, 41);
  const next = concat(
    base.subarray(1000, 1100),
    randomBytes(30, 42),
    base.subarray(20_000, 20_300),
    randomBytes(5, 43),
    base.subarray(0, 900),
  );
  const delta = encodeBsdiffDelta(base, next, { level: 3 });
  const chunks: Uint8Array[] = [];
  for await (const chunk of applyBsdiffDelta(delta, reader(base), { chunkSize: 256 })) chunks.push(chunk);
  assert.deepEqual(concat(...chunks), next);
  assert.deepEqual(
    chunks.map((c) => c.length),
    [256, 256, 256, 256, 256, next.length - 5 * 256],
  );
});

test('a diff stream in runs that ends early, goes on or holds a number too long is refused', async () => {
  const control = triples([10, 0, 0], [10, 0, 0]);
  const diff = Uint8Array.of(0, 0, 4, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2);
  const expected = Uint8Array.from(old.subarray(0, 20), (b, i) => b + diff[i]!);
  const coded = (runs: Uint8Array): Uint8Array => assembleCoded(1000, 20, 2, zstd(control), zstd(runs), zstd(new Uint8Array(0)));
  const good = encodeRuns(diff);
  const ok = await run(coded(good), old);
  assert.equal(ok.error, undefined);
  assert.deepEqual(ok.out, expected);
  // A stream that ends early is refused before a wrong byte; one that goes on is known wrong only at its end.
  const cases: [string, Uint8Array, boolean][] = [
    ['ends inside literals', good.subarray(0, good.length - 1), true],
    ['ends inside a pair', Uint8Array.of(2, 1, 4, 6, 2, 1, 1, 8), true],
    ['ends after a pair', Uint8Array.of(2, 1, 4, 6, 2, 1, 1), true],
    ['a number too long', concat(Uint8Array.of(2, 1, 4), new Uint8Array(9).fill(0x80)), true],
    ['a zero run goes on', Uint8Array.of(2, 1, 4, 6, 2, 1, 1, 9, 1, 2), false],
    ['literals go on', Uint8Array.of(2, 1, 4, 6, 2, 1, 1, 8, 2, 2, 3), false],
    ['another pair', concat(good, Uint8Array.of(1, 0)), false],
  ];
  for (const [name, runs, early] of cases) {
    const { out, error } = await run(coded(runs), old, { chunkSize: 3 });
    assert.ok(isCorrupt(error), `${name}: ${String(error)}`);
    assert.ok(out.length <= 20, name);
    if (early) assert.deepEqual(out, expected.subarray(0, out.length), name);
  }
});

test('a delta damaged anywhere is DELTA_CORRUPT or a result of the right size, whatever the codec (property)', async () => {
  const base = randomBytes(3000, 51);
  const next = concat(base.subarray(0, 1000), randomBytes(50, 52), base.subarray(1500, 3000));
  for (let i = 0; i < next.length; i += 37) next[i] = next[i]! + 1;
  const deltas = (['zstd', 'runs', 'model'] as const).map((diffCodec) => encodeBsdiffDelta(base, next, { level: 3, diffCodec }));
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(0, 1, 2),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
      async (which, flips) => {
        const delta = deltas[which]!.slice();
        // Past the header's lengths, so that the streams themselves are damaged.
        for (const [at, mask] of flips) {
          const i = BSDIFF_HEADER_SIZE + (at % (delta.length - BSDIFF_HEADER_SIZE));
          delta[i] = delta[i]! ^ mask;
        }
        const { out, error } = await run(delta, base, { chunkSize: 512 });
        if (error === undefined) assert.equal(out.length, next.length);
        else assert.ok(isCorrupt(error), String(error));
        assert.ok(out.length <= next.length);
      },
    ),
    { numRuns: 200 },
  );
});

test('an old file reader with readInto gets the buffers of dropped blocks back', async () => {
  const base = randomBytes(400_000, 61);
  const next = concat(
    base.subarray(300_000, 330_000),
    base.subarray(10_000, 40_000),
    base.subarray(310_000, 400_000),
    base.subarray(0, 200_000),
  );
  const delta = encodeBsdiffDelta(base, next, { level: 3, diffCodec: 'runs' });
  const buffers = new Set<ArrayBufferLike>();
  let reads = 0;
  const into: OldFileReader = {
    size: base.length,
    read: async () => assert.fail('read is not used when readInto is given'),
    readInto: async (position, target) => {
      reads++;
      buffers.add(target.buffer);
      target.set(base.subarray(position, position + target.length));
      return target.length;
    },
  };
  const parts: Uint8Array[] = [];
  for await (const chunk of applyBsdiffDelta(delta, into, { oldCacheSize: 2 * 65_536 })) parts.push(chunk);
  assert.deepEqual(concat(...parts), next);
  assert.ok(reads > 2, `${reads} reads`);
  assert.equal(buffers.size, 2);
  const short: OldFileReader = { ...into, readInto: async (_position, target) => target.length - 1 };
  const refused: Uint8Array[] = [];
  await assert.rejects(async () => {
    for await (const chunk of applyBsdiffDelta(delta, short)) refused.push(chunk);
  }, isCorrupt);
  assert.equal(refused.length, 0);
});

test('diff model: the committed module is asm/diff-model.ts compiled', async () => {
  assert.equal(
    DIFF_MODEL_WASM_BASE64,
    await compiledAssemblyScript('src/forms/bsdiff/asm/diff-model.ts'),
    'run npm run build:wasm after editing the AssemblyScript',
  );
});
