/** SA-IS against a naive sort of the suffixes, on random and highly repetitive inputs. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { suffixArray } from '../../../src/forms/bsdiff/suffix-array.js';

function naiveSuffixArray(text: Uint8Array): number[] {
  const positions = Array.from(text.keys());
  positions.sort((a, b) => Buffer.compare(Buffer.from(text.subarray(a)), Buffer.from(text.subarray(b))));
  return positions;
}

function check(text: Uint8Array): void {
  assert.deepEqual(Array.from(suffixArray(text)), naiveSuffixArray(text));
}

test('empty and one byte', () => {
  assert.equal(suffixArray(new Uint8Array(0)).length, 0);
  assert.deepEqual(Array.from(suffixArray(Uint8Array.of(42))), [0]);
});

test('all zeros, a suffix being a prefix of the longer ones', () => {
  check(new Uint8Array(1000));
  assert.deepEqual(Array.from(suffixArray(new Uint8Array(5))), [4, 3, 2, 1, 0]);
});

test('periodic inputs (deep recursion on the reduced strings)', () => {
  for (const period of [1, 2, 3, 7, 64]) {
    const text = new Uint8Array(2000);
    for (let i = 0; i < text.length; i++) text[i] = (i % period) * 37;
    check(text);
  }
  const fib: number[] = [0];
  let a = [0];
  let b = [0, 1];
  while (b.length < 3000) [a, b] = [b, [...b, ...a]];
  fib.push(...b);
  check(Uint8Array.from(fib));
});

test('decreasing and increasing runs (no LMS suffix, one name per suffix)', () => {
  check(Uint8Array.from({ length: 256 }, (_, i) => 255 - i));
  check(Uint8Array.from({ length: 256 }, (_, i) => i));
});

test('random inputs over small and full alphabets match a naive sort', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 256 }), fc.array(fc.nat(), { maxLength: 400 }), (alphabet, values) => {
      check(Uint8Array.from(values, (v) => v % alphabet));
    }),
    { numRuns: 300 },
  );
});

test('random inputs with long repeated blocks match a naive sort', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.array(fc.nat({ max: 3 }), { maxLength: 30 }), (block, edits) => {
      const parts: number[] = [];
      for (const e of edits) parts.push(...block, ...block.subarray(0, e));
      check(Uint8Array.from(parts));
    }),
    { numRuns: 200 },
  );
});
