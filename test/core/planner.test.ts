import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planRanges, rangesBytes } from '../../src/core/planner.js';

test('adjacent missing spans become one range, clipped at the end of file', () => {
  const r = planRanges([{ firstBlock: 2, blockCount: 3 }], { fileSize: 4500, blockSize: 1000 });
  assert.deepEqual(r, [{ start: 2000, end: 4500, firstBlock: 2, blockCount: 3 }]);
});

test('gaps up to gapBytes are bridged, larger ones are not', () => {
  const missing = [
    { firstBlock: 0, blockCount: 1 },
    { firstBlock: 2, blockCount: 1 },
    { firstBlock: 6, blockCount: 1 },
  ];
  const r = planRanges(missing, { fileSize: 10_000, blockSize: 1000, gapBytes: 1000 });
  assert.deepEqual(
    r.map((x) => [x.start, x.end]),
    [
      [0, 3000],
      [6000, 7000],
    ],
  );
  assert.equal(rangesBytes(r), 4000);
  const none = planRanges(missing, { fileSize: 10_000, blockSize: 1000 });
  assert.equal(none.length, 3);
});

test('maxRanges bridges the smallest gaps first', () => {
  const missing = [
    { firstBlock: 0, blockCount: 1 },
    { firstBlock: 5, blockCount: 1 }, // gap 4
    { firstBlock: 7, blockCount: 1 }, // gap 1
    { firstBlock: 20, blockCount: 1 }, // gap 12
  ];
  const r = planRanges(missing, { fileSize: 100_000, blockSize: 10, maxRanges: 2 });
  assert.deepEqual(
    r.map((x) => [x.firstBlock, x.blockCount]),
    [
      [0, 8],
      [20, 1],
    ],
  );
});

test('no missing spans plan no ranges', () => {
  assert.deepEqual(planRanges([], { fileSize: 100, blockSize: 10 }), []);
});
