/** SA-IS against a naive sort of the suffixes, on random and highly repetitive inputs. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { suffixArray } from '../../../src/forms/bsdiff/suffix-array.js';
import { MATCHER_WASM_BASE64 } from '../../../src/forms/bsdiff/matcher-wasm.js';
import { compiledAssemblyScript } from '../../helpers/wat.js';

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

test('a text over the warm-up size matches a sort of its suffixes', () => {
  // Over WARM_MIN (4 MiB) the module first sorts a prefix in an instance of its own; the
  // result must be the whole text's. Checked by the order of neighbours, not a naive sort.
  const text = new Uint8Array(4 * 1024 * 1024 + 17);
  let x = 1;
  for (let i = 0; i < text.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    text[i] = i % 4096 < 2048 ? (x >>> 28) % 3 : text[i - 2048]!; // repeated halves: long common prefixes
  }
  const sa = suffixArray(text);
  assert.equal(sa.length, text.length);
  const seen = new Uint8Array(text.length);
  for (const p of sa) {
    assert.equal(seen[p], 0);
    seen[p] = 1;
  }
  const t = Buffer.from(text.buffer, text.byteOffset, text.length);
  for (let i = 1; i < sa.length; i += 997) assert.ok(t.subarray(sa[i - 1]!).compare(t.subarray(sa[i]!)) < 0, `order at ${i}`);
});

test('bsdiff matcher: the committed module is asm/matcher.ts compiled', async () => {
  assert.equal(
    MATCHER_WASM_BASE64,
    await compiledAssemblyScript('src/forms/bsdiff/asm/matcher.ts'),
    'run npm run build:wasm after editing the AssemblyScript',
  );
});
