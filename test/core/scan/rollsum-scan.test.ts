import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import type { BlockIndex } from '../../../src/core/index/block-index.js';
import { BlockMatcher } from '../../../src/core/matcher.js';
import { rabinKarpChecksum } from '../../../src/core/rabin-karp.js';
import { ROLLSUM_SCAN_WASM_BASE64 } from '../../../src/core/scan/rollsum-scan-wasm.js';
import { useWasmScan, WASM_MIN_WINDOWS } from '../../../src/core/scan/rollsum-scan.js';
import { chunked, concat, indexOf, randomBytes } from '../../helpers/data.js';
import { assembledWat } from '../../helpers/wat.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../../..');

test('the committed WebAssembly is rollsum-scan.wat assembled (npm run build:wasm)', async () => {
  assert.equal(ROLLSUM_SCAN_WASM_BASE64, await assembledWat('rollsum-scan'), 'run npm run build:wasm after editing the .wat');
});

/** Everything a scan decides, for comparing two scans. */
function outcome(m: BlockMatcher): unknown {
  return {
    foundSource: Array.from(m.foundSource),
    foundOffset: Array.from(m.foundOffset),
    direct: Array.from(m.direct),
    stats: m.stats,
  };
}

/** Scans `locals` (one scanner each, pushed in `splits`) with the WebAssembly scan from `fromWindows` windows, or in JavaScript. */
function scan(index: BlockIndex, locals: readonly Uint8Array[], splits: readonly number[], wasm: boolean, fromWindows = 0): BlockMatcher {
  useWasmScan(wasm, fromWindows);
  try {
    const m = new BlockMatcher(index);
    locals.forEach((data, id) => {
      const s = m.scanner(id);
      for (const c of chunked(data, splits)) s.push(c);
      s.end();
    });
    return m;
  } finally {
    useWasmScan(true);
  }
}

/**
 * A local file made of the reference's blocks at shifted offsets, some of them edited,
 * with random bytes between them and a few blocks that repeat.
 */
const caseArb = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  blockSize: fc.constantFrom(64, 128, 256, 1024, 2048),
  blocks: fc.integer({ min: 1, max: 120 }),
  weakBytes: fc.constantFrom(2, 3, 4),
  seqMatches: fc.constantFrom(1 as const, 2 as const),
  pieces: fc.array(
    fc.record({ from: fc.nat(), length: fc.integer({ min: 1, max: 9000 }), gap: fc.integer({ min: 0, max: 3000 }), flip: fc.nat() }),
    { minLength: 1, maxLength: 12 },
  ),
  splits: fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 4 }),
  fromWindows: fc.constantFrom(0, 1, 100, 5000),
  rabinKarp: fc.boolean(),
});

/** `index` with RabinKarp weak sums (as librsync's signatures have), single-block matches. */
function asRabinKarp(index: BlockIndex, data: Uint8Array): BlockIndex {
  const bs = index.blockSize;
  const weak = new Uint32Array(index.blockCount);
  const block = new Uint8Array(bs);
  for (let i = 0; i < index.blockCount; i++) {
    block.fill(0);
    block.set(data.subarray(i * bs, (i + 1) * bs));
    weak[i] = rabinKarpChecksum(block);
  }
  return { ...index, weak, weakAlgorithm: 'rabinkarp' };
}

test('the WebAssembly scan finds exactly what the JavaScript scan finds (random data with planted blocks; rollsum and RabinKarp sums)', async () => {
  await fc.assert(
    fc.asyncProperty(caseArb, async (c) => {
      const size = c.blocks * c.blockSize - (c.seed % c.blockSize);
      const reference = randomBytes(Math.max(1, size), c.seed);
      const built = await indexOf(reference, {
        blockSize: c.blockSize,
        hashLengths: c.rabinKarp ? { weakBytes: 4, seqMatches: 1 } : { weakBytes: c.weakBytes, seqMatches: c.seqMatches },
      });
      const index = c.rabinKarp ? asRabinKarp(built, reference) : built;
      const parts: Uint8Array[] = [];
      c.pieces.forEach((p, k) => {
        parts.push(randomBytes(p.gap, c.seed + k + 1));
        const from = p.from % reference.length;
        const piece = Uint8Array.from(reference.subarray(from, from + p.length));
        if (p.flip % 3 === 0 && piece.length > 0) piece[p.flip % piece.length]! ^= 0x5a;
        parts.push(piece);
      });
      const local = concat(...parts);
      const js = scan(index, [local, reference.subarray(0, reference.length >> 1)], c.splits, false);
      const wasm = scan(index, [local, reference.subarray(0, reference.length >> 1)], c.splits, true, c.fromWindows);
      assert.deepEqual(outcome(wasm), outcome(js));
    }),
    { numRuns: 80 },
  );
});

test('on large files with few matches, both scans agree (buffer growth, compaction, 4 MiB pushes)', async () => {
  const reference = randomBytes(3_000_000, 91);
  const index = await indexOf(reference, { blockSize: 2048 });
  const local = concat(
    randomBytes(5_000_000, 92),
    reference.subarray(100_000, 180_000),
    randomBytes(1_234_567, 93),
    reference.subarray(2_000_003, 2_900_000),
  );
  for (const splits of [[4 * 1024 * 1024], [65_537, 1_000_000]]) {
    const js = scan(index, [local], splits, false);
    const wasm = scan(index, [local], splits, true, WASM_MIN_WINDOWS);
    assert.deepEqual(outcome(wasm), outcome(js));
    assert.ok(wasm.foundCount > 400, `found ${wasm.foundCount}`);
  }
});

test('both scans agree once the strong-hash budget is spent (runs of zeros against an index of zero blocks)', async () => {
  const bs = 1024;
  const reference = concat(randomBytes(100 * bs, 61), new Uint8Array(40 * bs), randomBytes(60 * bs, 62));
  const rollsum = await indexOf(reference, { blockSize: bs });
  const rabinKarp = asRabinKarp(await indexOf(reference, { blockSize: bs, hashLengths: { weakBytes: 4, seqMatches: 1 } }), reference);
  // Zeros first: every window's key is the zero blocks', hashed at each offset until the
  // budget is spent; then the reference's blocks, shifted, found by prediction only.
  const zeros = 1_500_000;
  const local = concat(new Uint8Array(zeros), randomBytes(13, 63), reference, new Uint8Array(50_000), reference.subarray(5_000));
  for (const [index, splits] of [
    [rollsum, [1 << 20]],
    [rollsum, [70_001, 3_333]],
    [rabinKarp, [1 << 20]],
  ] as const) {
    const js = scan(index, [local], splits, false);
    const wasm = scan(index, [local], splits, true, 0);
    assert.deepEqual(outcome(wasm), outcome(js));
    // Hashed up to the budget (16 MiB plus 4 bytes per byte scanned), then no more
    // lookups: far fewer hashes than windows of zeros.
    const hashed = js.stats.strongHashes * bs;
    assert.ok(hashed > 16 * 1024 * 1024 && js.stats.strongHashes < zeros / 4, `${js.stats.strongHashes} strong hashes`);
    assert.ok(js.foundCount >= 40, `found ${js.foundCount}`);
  }
});

test('loading the matcher compiles no WebAssembly; an index build compiles the weak sums module; scans of large files compile the scan module once', () => {
  const dist = join(root, 'dist/src/core/');
  const script = `
    let modules = 0;
    const real = WebAssembly.Module;
    WebAssembly.Module = new Proxy(real, { construct(t, a) { modules++; return Reflect.construct(t, a); } });
    const { BlockMatcher } = await import(${JSON.stringify(`${dist}matcher.js`)});
    const { buildIndex } = await import(${JSON.stringify(`${dist}index/builder.js`)});
    const { decodeIndex } = await import(${JSON.stringify(`${dist}index/format.js`)});
    const seen = [modules];
    const data = new Uint8Array(300000).map((_, i) => (i * 2654435761) >>> 24);
    const index = decodeIndex(await buildIndex(data, { fileSize: data.length, blockSize: 1024 }));
    seen.push(modules);
    const small = new BlockMatcher(index).scanner(0);
    small.push(data.subarray(0, 3000)); // 952 windows: under WASM_MIN_WINDOWS
    small.end();
    seen.push(modules);
    for (let k = 0; k < 2; k++) {
      const s = new BlockMatcher(index).scanner(0);
      s.push(data);
      s.end();
    }
    seen.push(modules);
    console.log(JSON.stringify(seen));
  `;
  const seen = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as unknown;
  assert.deepEqual(seen, [0, 1, 1, 2]);
});
