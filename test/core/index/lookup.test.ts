/**
 * The lookup's twin lists (blocks with identical weak and strong hashes): right for any
 * index, and linear even for an index a peer built to defeat them (blocks sharing the weak
 * sum and the first strong bytes, different after).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { BlockIndex } from '../../../src/core/index/block-index.js';
import { findTwins } from '../../../src/core/index/lookup.js';

function indexOf(weak: number[], strong: Uint8Array, strongBytes: number): BlockIndex {
  return {
    fileSize: weak.length * 1024,
    blockSize: 1024,
    blockCount: weak.length,
    seqMatches: 1,
    weakBytes: 4,
    strongBytes,
    weak: Uint32Array.from(weak),
    strong,
  } as unknown as BlockIndex;
}

/** The twin list of each block, as sorted arrays. */
function lists(dupNext: Int32Array): number[][] {
  return Array.from(dupNext, (_, i) => {
    const seen = [i];
    for (let j = dupNext[i]!; j !== i; j = dupNext[j]!) seen.push(j);
    return seen.sort((a, b) => a - b);
  });
}

test('twins are exactly the blocks with the same weak sum and strong bytes (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 })), { maxLength: 60 }), (blocks) => {
      const strongBytes = 6;
      const strong = new Uint8Array(blocks.length * strongBytes);
      blocks.forEach(([, s], i) => {
        strong[i * strongBytes + 5] = s;
      });
      const got = lists(
        findTwins(
          indexOf(
            blocks.map(([w]) => w),
            strong,
            strongBytes,
          ),
        ),
      );
      blocks.forEach(([w, s], i) => {
        const want = blocks.flatMap(([w2, s2], j) => (w2 === w && s2 === s ? [j] : []));
        assert.deepEqual(got[i], want);
      });
    }),
  );
});

test('blocks sharing the weak sum and first strong bytes, different after, cost a few probes each', () => {
  const n = 32_768;
  const strongBytes = 8;
  const strong = new Uint8Array(n * strongBytes);
  const view = new DataView(strong.buffer);
  for (let i = 0; i < n; i++) view.setUint32(i * strongBytes + 4, i);
  const stats = { probes: 0 };
  const dupNext = findTwins(indexOf(new Array(n).fill(7), strong, strongBytes), stats);
  assert.ok(
    dupNext.every((next, i) => next === i),
    'no twins',
  );
  // Linear probing at a load of at most 1/2: a few probes per block on average; the old
  // key (weak sum and first 4 strong bytes) made it n²/2.
  assert.ok(stats.probes < 4 * n, `${stats.probes} probes for ${n} blocks`);
});
