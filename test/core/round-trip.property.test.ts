/**
 * Property tests of the whole engine: for random files and random edits, patching the
 * old file with the new file's index reproduces the new file exactly, whatever the
 * chunking of the scan.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { concat, indexOf } from '../helpers/data.js';
import { patchMemory } from '../helpers/memory-patch.js';

type Edit =
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'overwrite'; at: number; bytes: Uint8Array }
  | { kind: 'move'; from: number; length: number; to: number }
  | { kind: 'duplicate'; from: number; length: number; to: number };

const edit = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 300 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 300 }) }),
  fc.record({ kind: fc.constant('overwrite' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 100 }) }),
  fc.record({ kind: fc.constant('move' as const), from: fc.nat(), length: fc.integer({ min: 1, max: 2000 }), to: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate' as const), from: fc.nat(), length: fc.integer({ min: 1, max: 2000 }), to: fc.nat() }),
);

function apply(data: Uint8Array, e: Edit): Uint8Array {
  const n = data.length;
  const pos = (p: number) => (n === 0 ? 0 : p % (n + 1));
  switch (e.kind) {
    case 'insert': {
      const at = pos(e.at);
      return concat(data.subarray(0, at), e.bytes, data.subarray(at));
    }
    case 'delete': {
      const at = pos(e.at);
      return concat(data.subarray(0, at), data.subarray(Math.min(n, at + e.length)));
    }
    case 'overwrite': {
      const at = pos(e.at);
      const out = Uint8Array.from(data);
      out.set(e.bytes.subarray(0, Math.max(0, n - at)), at);
      return out;
    }
    case 'move':
    case 'duplicate': {
      const from = pos(e.from);
      const piece = data.subarray(from, Math.min(n, from + e.length));
      const rest = e.kind === 'move' ? concat(data.subarray(0, from), data.subarray(from + piece.length)) : data;
      const to = rest.length === 0 ? 0 : e.to % (rest.length + 1);
      return concat(rest.subarray(0, to), piece, rest.subarray(to));
    }
  }
}

// Random bytes with some repetition, so that identical blocks occur.
const base = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 6000 }),
  fc
    .tuple(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.integer({ min: 1, max: 40 }))
    .map(([b, k]) => concat(...Array.from({ length: k }, () => b))),
);

test('patching an edited file reproduces it exactly, whole and in random splits', async () => {
  await fc.assert(
    fc.asyncProperty(
      base,
      fc.array(edit, { maxLength: 6 }),
      fc.constantFrom(16, 32, 64, 256, 1024),
      fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 5 }),
      async (oldFile, edits, blockSize, splits) => {
        const newFile = edits.reduce(apply, oldFile);
        const index = await indexOf(newFile, { blockSize });
        const whole = await patchMemory(index, [oldFile], newFile);
        assert.deepEqual(Buffer.from(whole.output), Buffer.from(newFile));
        const split = await patchMemory(index, [oldFile], newFile, { splits });
        assert.deepEqual(Buffer.from(split.output), Buffer.from(newFile));
        // Chunking never changes what is found.
        assert.deepEqual(split.matcher.foundSource, whole.matcher.foundSource);
        assert.deepEqual(split.matcher.foundOffset, whole.matcher.foundOffset);
        assert.deepEqual(split.ranges, whole.ranges);
      },
    ),
    { numRuns: 300 },
  );
});

test('a file patched from itself fetches nothing', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 5000 }), fc.constantFrom(16, 64, 512), async (data, blockSize) => {
      const index = await indexOf(data, { blockSize });
      const r = await patchMemory(index, [data], data);
      assert.deepEqual(Buffer.from(r.output), Buffer.from(data));
      assert.equal(r.result.fetchedBytes, 0, 'nothing fetched');
      assert.equal(r.ranges.length, 0);
    }),
    { numRuns: 200 },
  );
});

test('byte-by-byte feeding finds the same blocks as whole feeding', async () => {
  await fc.assert(
    fc.asyncProperty(base, fc.array(edit, { maxLength: 4 }), async (oldFile, edits) => {
      const newFile = edits.reduce(apply, oldFile);
      const index = await indexOf(newFile, { blockSize: 32 });
      const whole = await patchMemory(index, [oldFile], newFile);
      const bytewise = await patchMemory(index, [oldFile], newFile, { splits: [1] });
      assert.deepEqual(bytewise.matcher.foundSource, whole.matcher.foundSource);
      assert.deepEqual(bytewise.matcher.foundOffset, whole.matcher.foundOffset);
      assert.deepEqual(Buffer.from(bytewise.output), Buffer.from(newFile));
    }),
    { numRuns: 60 },
  );
});
