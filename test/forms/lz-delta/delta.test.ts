/** lz-delta: round trips over edited text-like data, and damaged or hostile deltas refused. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ErrorCodes, SyncError } from '../../../src/core/errors.js';
import { applyLzDelta, encodeLzDelta } from '../../../src/forms/lz-delta/mod.js';
import { LZ_DELTA_WASM_BASE64 } from '../../../src/forms/lz-delta/lz-delta-wasm.js';
import { concat, randomBytes } from '../../helpers/data.js';
import { compiledAssemblyScript } from '../../helpers/wat.js';

const WORDS = [
  'function',
  'return',
  'const',
  'this',
  'value',
  'length',
  'if',
  'else',
  '(',
  ')',
  '{',
  '}',
  ';',
  'node',
  'elem',
  '===',
  'var',
  'i',
];

/** Seeded source-code-like text: words, spaces, newlines and indentation. */
function textLike(length: number, seed: number): Uint8Array {
  const noise = randomBytes(length + 16, seed);
  let text = '';
  let k = 0;
  while (text.length < length) {
    const r = noise[k++ % noise.length]!;
    text += WORDS[r % WORDS.length]!;
    text += r % 7 === 0 ? '\n\t' : ' ';
    if (r % 31 === 0) text += `${r * 7919}`;
  }
  return new TextEncoder().encode(text.slice(0, length));
}

/** DELTA_CORRUPT, its message naming `reason` when given (the decoder's own words for what it found). */
function expectCorrupt(fn: () => unknown, what: string, reason?: RegExp): void {
  assert.throws(
    fn,
    (error: unknown) =>
      SyncError.is(error) && error.code === ErrorCodes.DELTA_CORRUPT && (reason === undefined || reason.test(error.message)),
    what,
  );
}

function roundTrip(old: Uint8Array, next: Uint8Array): Uint8Array {
  const delta = encodeLzDelta(old, next);
  assert.deepEqual(applyLzDelta(old, delta), next);
  // Version 1 (the literal model primed bit by bit), still read.
  assert.deepEqual(applyLzDelta(old, encodeLzDelta(old, next, { version: 1 }), { version: 1 }), next, 'version 1');
  return delta;
}

type Edit = { kind: 'insert' | 'delete' | 'overwrite' | 'move'; at: number; size: number; to: number; seed: number };

function applyEdit(data: Uint8Array, edit: Edit): Uint8Array {
  const at = Math.min(edit.at, data.length);
  const end = Math.min(data.length, at + edit.size);
  const fresh = textLike(edit.size, edit.seed);
  switch (edit.kind) {
    case 'insert':
      return concat(data.subarray(0, at), fresh, data.subarray(at));
    case 'delete':
      return concat(data.subarray(0, at), data.subarray(end));
    case 'overwrite':
      return concat(data.subarray(0, at), fresh.subarray(0, end - at), data.subarray(end));
    case 'move': {
      const block = data.subarray(at, end);
      const rest = concat(data.subarray(0, at), data.subarray(end));
      const to = Math.min(edit.to, rest.length);
      return concat(rest.subarray(0, to), block, rest.subarray(to));
    }
  }
}

const editArb = fc.record({
  kind: fc.constantFrom('insert' as const, 'delete' as const, 'overwrite' as const, 'move' as const),
  at: fc.nat({ max: 6000 }),
  size: fc.integer({ min: 1, max: 700 }),
  to: fc.nat({ max: 6000 }),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
});

test('lz-delta: edited text round-trips (insertions, deletions, overwrites, moved blocks)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 6000 }),
      fc.integer({ min: 1, max: 1000 }),
      fc.array(editArb, { maxLength: 8 }),
      (size, seed, edits) => {
        const old = textLike(size, seed);
        const next = edits.reduce(applyEdit, old);
        roundTrip(old, next);
      },
    ),
    { numRuns: 80 },
  );
});

test('lz-delta: random binary data with random edits round-trips', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), fc.array(editArb, { maxLength: 4 }), (old, edits) => {
      roundTrip(old, edits.reduce(applyEdit, old));
    }),
    { numRuns: 60 },
  );
});

test('lz-delta: empty, one-byte, identical and unrelated files round-trip', () => {
  const text = textLike(20_000, 7);
  const cases: [string, Uint8Array, Uint8Array][] = [
    ['both empty', new Uint8Array(0), new Uint8Array(0)],
    ['empty old', new Uint8Array(0), text],
    ['empty new', text, new Uint8Array(0)],
    ['one byte each', Uint8Array.of(7), Uint8Array.of(9)],
    ['one byte new', text, Uint8Array.of(0x41)],
    ['one byte old', Uint8Array.of(0x41), text.subarray(0, 500)],
    ['identical', text, text],
    ['unrelated', text, randomBytes(20_000, 99)],
    ['long runs', new Uint8Array(5000).fill(1), new Uint8Array(70_000).fill(1)],
  ];
  for (const [name, old, next] of cases) {
    const delta = encodeLzDelta(old, next);
    assert.deepEqual(applyLzDelta(old, delta), next, name);
  }
});

test('lz-delta: a few edits to a text cost a small fraction of it; an identical file costs a few bytes', () => {
  const old = textLike(200_000, 3);
  const edits: Edit[] = [
    { kind: 'insert', at: 1000, size: 40, to: 0, seed: 5 },
    { kind: 'delete', at: 50_000, size: 120, to: 0, seed: 6 },
    { kind: 'overwrite', at: 90_000, size: 8, to: 0, seed: 7 },
    { kind: 'move', at: 120_000, size: 3000, to: 20_000, seed: 8 },
  ];
  const next = edits.reduce(applyEdit, old);
  const delta = roundTrip(old, next);
  assert.ok(delta.length < 400, `${delta.length} bytes for four edits`);
  const same = roundTrip(old, old);
  assert.ok(same.length < 24, `${same.length} bytes for an identical file`);
});

test('lz-delta: versions 1 and 2 prime the literal model differently; each delta needs its own version to decode', () => {
  const old = textLike(60_000, 11);
  const next = concat(old.subarray(0, 20_000), textLike(3000, 12), old.subarray(20_000));
  const v1 = encodeLzDelta(old, next, { version: 1 });
  const v2 = encodeLzDelta(old, next);
  assert.deepEqual(encodeLzDelta(old, next, { version: 2 }), v2, 'version 2 is the default');
  assert.notDeepEqual(v1, v2, 'the literals of the inserted text are coded with other probabilities');
  assert.deepEqual(applyLzDelta(old, v1, { version: 1 }), next);
  assert.deepEqual(applyLzDelta(old, v2, { version: 2 }), next);
  // Read with the other version's priming, the range decoder goes astray: an error or other bytes.
  for (const [delta, version] of [
    [v1, 2],
    [v2, 1],
  ] as const) {
    let out: Uint8Array | undefined;
    try {
      out = applyLzDelta(old, delta, { version });
    } catch (error) {
      assert.ok(SyncError.is(error) && error.code === ErrorCodes.DELTA_CORRUPT, String(error));
    }
    if (out) assert.notDeepEqual(out, next, `version ${3 - version}'s delta read as version ${version}`);
  }
});

test('lz-delta: a truncated delta is DELTA_CORRUPT at every length', () => {
  const old = textLike(3000, 11);
  const next = applyEdit(applyEdit(old, { kind: 'insert', at: 700, size: 50, to: 0, seed: 2 }), {
    kind: 'delete',
    at: 2000,
    size: 30,
    to: 0,
    seed: 0,
  });
  const delta = roundTrip(old, next);
  for (let length = 0; length < delta.length; length++) {
    expectCorrupt(
      () => applyLzDelta(old, delta.subarray(0, length)),
      `truncated to ${length} of ${delta.length}`,
      /truncated|does not end as it was flushed|does not start/,
    );
  }
});

test('lz-delta: trailing bytes after the coded body are DELTA_CORRUPT', () => {
  const old = textLike(3000, 12);
  const delta = roundTrip(old, applyEdit(old, { kind: 'overwrite', at: 100, size: 20, to: 0, seed: 3 }));
  for (const tail of [Uint8Array.of(0), Uint8Array.of(0x55, 0xaa), new Uint8Array(64)]) {
    expectCorrupt(
      () => applyLzDelta(old, concat(delta, tail)),
      `${tail.length} trailing bytes`,
      /bytes follow the end|does not end as it was flushed/,
    );
  }
});

test('lz-delta: a flipped byte is DELTA_CORRUPT or decodes to different bytes, never anything else', () => {
  const old = textLike(4000, 13);
  const next = applyEdit(applyEdit(old, { kind: 'move', at: 200, size: 400, to: 3000, seed: 0 }), {
    kind: 'insert',
    at: 50,
    size: 90,
    to: 0,
    seed: 4,
  });
  const delta = roundTrip(old, next);
  const flips = randomBytes(delta.length, 17);
  let corrupt = 0;
  for (let i = 0; i < delta.length; i++) {
    const damaged = delta.slice();
    damaged[i] = damaged[i]! ^ (flips[i]! | 1);
    try {
      const out = applyLzDelta(old, damaged, { maxNewSize: 1 << 20 });
      assert.notDeepEqual(out, next, `flip at ${i} gave back the new file`);
    } catch (error) {
      assert.ok(SyncError.is(error) && error.code === ErrorCodes.DELTA_CORRUPT, `flip at ${i}: ${String(error)}`);
      corrupt++;
    }
  }
  assert.ok(corrupt > 0);
});

test('lz-delta: a delta for another old size, or applied to a shorter old file, is DELTA_CORRUPT', () => {
  const old = textLike(5000, 14);
  const delta = roundTrip(old, applyEdit(old, { kind: 'insert', at: 2500, size: 10, to: 0, seed: 9 }));
  expectCorrupt(() => applyLzDelta(old.subarray(0, 4999), delta), 'old file one byte short');
  expectCorrupt(() => applyLzDelta(concat(old, Uint8Array.of(1)), delta), 'old file one byte long');
  // the same body declared for an empty old file: its first match reaches before the window
  const relabelled = concat(delta.subarray(0, 2), Uint8Array.of(0), delta.subarray(4));
  assert.equal(delta[2]! | (delta[3]! << 7), 5000 | 0x80);
  expectCorrupt(() => applyLzDelta(new Uint8Array(0), relabelled), 'distance before the window', /reaches before the start/);
});

test('lz-delta: declared sizes above the limit, or smaller than the operations, are DELTA_CORRUPT', () => {
  const old = textLike(2000, 15);
  const next = applyEdit(old, { kind: 'insert', at: 1000, size: 30, to: 0, seed: 10 });
  const delta = roundTrip(old, next);
  expectCorrupt(() => applyLzDelta(old, delta, { maxNewSize: next.length - 1 }), 'over maxNewSize');
  const absurd = concat(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), delta.subarray(2));
  expectCorrupt(() => applyLzDelta(old, absurd), 'an absurd declared size');
  const tooLong = concat(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), delta.subarray(2));
  expectCorrupt(() => applyLzDelta(old, tooLong), 'a varint over 8 bytes');
  // the new size is two bytes of varint (2030 bytes): declare fewer, the last operation overruns it
  assert.equal(delta[0]! | ((delta[1]! & 0x7f) << 7), next.length);
  const smaller = concat(Uint8Array.of(((next.length - 5) & 0x7f) | 0x80, (next.length - 5) >> 7), delta.subarray(2));
  expectCorrupt(() => applyLzDelta(old, smaller), 'declared size smaller than the operations', /past the declared size/);
  const larger = concat(Uint8Array.of(((next.length + 5) & 0x7f) | 0x80, (next.length + 5) >> 7), delta.subarray(2));
  expectCorrupt(() => applyLzDelta(old, larger), 'declared size larger than the operations');
});

test('lz-delta: an aborted signal stops encoding and applying', () => {
  const old = textLike(1000, 16);
  const delta = encodeLzDelta(old, old);
  const signal = AbortSignal.abort();
  assert.throws(
    () => encodeLzDelta(old, old, { signal }),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.ABORTED,
  );
  assert.throws(
    () => applyLzDelta(old, delta, { signal }),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.ABORTED,
  );
});

test('lz-delta: random bodies behind a valid header end in DELTA_CORRUPT or some output of the declared size', () => {
  const old = textLike(3000, 18);
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 5000 }),
      fc.uint8Array({ minLength: 0, maxLength: 200 }),
      fc.boolean(),
      (size, body, zeroFirst) => {
        const header = concat(Uint8Array.of((size & 0x7f) | 0x80, size >> 7), Uint8Array.of((3000 & 0x7f) | 0x80, 3000 >> 7));
        const coded = zeroFirst && body.length > 0 ? concat(Uint8Array.of(0), body.subarray(1)) : body;
        try {
          const out = applyLzDelta(old, concat(header, coded));
          assert.equal(out.length, size);
        } catch (error) {
          assert.ok(SyncError.is(error) && error.code === ErrorCodes.DELTA_CORRUPT, String(error));
        }
      },
    ),
    { numRuns: 400 },
  );
});

test('lz-delta: the committed module is asm/lz-delta.ts compiled', async () => {
  assert.equal(
    LZ_DELTA_WASM_BASE64,
    await compiledAssemblyScript('src/forms/lz-delta/asm/lz-delta.ts'),
    'run npm run build:wasm after editing the AssemblyScript',
  );
});
