/**
 * Case 8: in-process micro-benchmarks of the library's hot parts, so that a regression
 * shows up even when process start-up and I/O hide it in the CLI cases: the rolling
 * checksum, block checksums, the in-memory index build, the lookup-table build, the
 * matcher scan on unrelated and identical data, the rolling scan's ns/byte in JavaScript
 * and in WebAssembly on random and on real data (the bun binaries of the npm case when
 * they are in .bench/npm, and this Node binary), and (kept from the first bench script)
 * the file-level index build and scans of the generated pair.
 *
 * Uses the library's public API (`../src/mod.js` and `../src/core/mod.js`), compiled to
 * `dist/bench/`, and `useWasmScan` of src/core/scan to time the JavaScript scan.
 *
 * @module
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BlockMatcher, RollingChecksum, buildIndex, buildLookup, decodeIndex, weakChecksum, type BlockIndex } from '../src/core/mod.js';
import { buildIndexFile, scanLocalFiles } from '../src/mod.js';
import { useWasmScan } from '../src/core/scan/rollsum-scan.js';
import type { Ctx } from './context.js';
import type { MainInputs } from './cases-local.js';
import { KeyStream } from './inputs.js';
import { newSection, type Section } from './report.js';
import { MiB, fmtInt, log, median } from './util.js';

async function timed(runs: number, fn: () => unknown): Promise<{ seconds: number; all: number[] }> {
  await fn(); // warm-up: JIT and caches
  const all: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    all.push((performance.now() - t) / 1000);
  }
  return { seconds: median(all), all };
}

function scan(index: BlockIndex, data: Uint8Array, lookup = buildLookup(index)): BlockMatcher {
  const m = new BlockMatcher(index, { lookup });
  const sc = m.scanner(0);
  for (let i = 0; i < data.length; i += 4 * MiB) sc.push(data.subarray(i, i + 4 * MiB));
  sc.end();
  return m;
}

export async function caseMicro(ctx: Ctx, main: MainInputs | undefined): Promise<Section> {
  const s = newSection('micro', '8. Micro-benchmarks (in process)');
  const runs = Math.max(3, ctx.opts.runs);
  const size = ctx.opts.quick ? 16 * MiB : 64 * MiB;
  s.intro.push(
    `In-memory data: ${size / MiB} MiB of random bytes (A) and an unrelated ${size / MiB} MiB (B). Median of ${runs} runs after one warm-up run, in the bench process (no start-up, no I/O unless stated).`,
  );
  const a = new KeyStream('micro-a').next(size);
  const b = new KeyStream('micro-b').next(size);
  const rows: string[][] = [];
  const add = (name: string, bytes: number | undefined, t: { seconds: number }, extra = ''): void => {
    rows.push([
      name,
      (t.seconds * 1000).toFixed(t.seconds < 0.01 ? 2 : 1),
      bytes === undefined ? '–' : (bytes / 1e6 / t.seconds).toFixed(0),
      extra,
    ]);
    log(`  micro: ${name}: ${t.seconds.toFixed(4)} s`);
  };

  add(
    'rolling checksum: RollingChecksum.roll, 4 KiB window',
    size,
    await timed(runs, () => {
      const r = new RollingChecksum(4096).init(a, 0);
      for (let x = 4096; x < a.length; x++) r.roll(a[x - 4096]!, a[x]!);
      return r.value;
    }),
  );
  add(
    'block checksums: weakChecksum of every 4 KiB block',
    size,
    await timed(runs, () => {
      let acc = 0;
      for (let i = 0; i < a.length; i += 4096) acc ^= weakChecksum(a, i, 4096);
      return acc;
    }),
  );
  let indexBytes: Uint8Array = new Uint8Array();
  add(
    'index build in memory: buildIndex (default block size)',
    size,
    await timed(runs, async () => {
      indexBytes = await buildIndex(a, { fileSize: a.length });
    }),
  );
  const index = decodeIndex(indexBytes);
  const lookupT = await timed(runs, () => buildLookup(index));
  add(
    `lookup-table build: buildLookup, ${fmtInt(index.blockCount)} blocks`,
    undefined,
    lookupT,
    `${((lookupT.seconds * 1e9) / index.blockCount).toFixed(0)} ns/block`,
  );
  const small = decodeIndex(await buildIndex(a, { fileSize: a.length, blockSize: 64 }));
  const lookupBig = await timed(runs, () => buildLookup(small));
  add(
    `lookup-table build: buildLookup, ${fmtInt(small.blockCount)} blocks (64 B blocks)`,
    undefined,
    lookupBig,
    `${((lookupBig.seconds * 1e9) / small.blockCount).toFixed(0)} ns/block`,
  );
  const lookup = buildLookup(index);
  let unrelated: BlockMatcher | undefined;
  add(
    `matcher scan, unrelated data (B against the index of A; ${index.blockSize} B blocks)`,
    size,
    await timed(runs, () => {
      unrelated = scan(index, b, lookup);
    }),
    `found ${unrelated!.foundCount} blocks; ${fmtInt(unrelated!.stats.weakHits)} weak hits, ${fmtInt(unrelated!.stats.falseMatches)} false`,
  );
  let same: BlockMatcher | undefined;
  add(
    'matcher scan, identical data (A against its own index)',
    size,
    await timed(runs, () => {
      same = scan(index, a, lookup);
    }),
    `found ${fmtInt(same!.foundCount)} of ${fmtInt(index.blockCount)} blocks`,
  );

  // The rolling scan alone, JavaScript against WebAssembly, in ns per byte scanned.
  const engines = async (label: string, idx: BlockIndex, data: Uint8Array): Promise<void> => {
    const lk = buildLookup(idx);
    for (const engine of ['JavaScript', 'WebAssembly']) {
      useWasmScan(engine === 'WebAssembly');
      try {
        let m: BlockMatcher | undefined;
        const t = await timed(runs, () => {
          m = scan(idx, data, lk);
        });
        add(
          `scan in ${engine}: ${label}`,
          data.length,
          t,
          `${((t.seconds * 1e9) / data.length).toFixed(2)} ns/byte; ${fmtInt(m!.stats.weakHits)} weak hits, found ${fmtInt(m!.foundCount)} of ${fmtInt(idx.blockCount)} blocks`,
        );
      } finally {
        useWasmScan(true);
      }
    }
  };
  await engines(`random data, ${size / MiB} MiB unrelated (B against the index of A)`, index, b);
  const bun = (await readdir(join(ctx.bench, 'npm')).catch(() => [] as string[])).filter((d) => d.startsWith('@oven_bun-')).sort();
  const node = new Uint8Array((await readFile(process.execPath)).subarray(0, size));
  if (bun.length >= 2) {
    const binary = (d: string) => readFile(join(ctx.bench, 'npm', d, 'package/bin/bun'));
    const [older, newer] = [await binary(bun[0]!), await binary(bun[bun.length - 1]!)];
    const bunIndex = decodeIndex(await buildIndex(newer, { fileSize: newer.length }));
    await engines(`real data, ${bun[0]} against the index of ${bun[bun.length - 1]} (the npm case's scan)`, bunIndex, older);
    await engines(`real data, unrelated: the first ${node.length / MiB} MiB of this Node binary against the same index`, bunIndex, node);
  } else {
    const nodeIndex = decodeIndex(await buildIndex(node, { fileSize: node.length }));
    await engines(
      `real data, unrelated: random data B against the index of this Node binary's first ${node.length / MiB} MiB`,
      nodeIndex,
      b,
    );
  }

  if (main) {
    const idx = join(ctx.work, 'micro.gosync');
    add(
      `file: buildIndexFile of ${main.label} (includes reading the file)`,
      main.nextSize,
      await timed(runs, () => buildIndexFile(main.next, idx)),
    );
    const fileIndex = decodeIndex(await readFile(main.index));
    await rm(idx, { force: true });
    let edited: number | undefined;
    add(
      `file: scanLocalFiles, edited pair (${main.edits.edits} edits)`,
      main.size,
      await timed(runs, async () => {
        edited = (await scanLocalFiles(fileIndex, [main.base])).matcher.foundBytes;
      }),
      `reuses ${((100 * edited!) / main.nextSize).toFixed(2)}%`,
    );
    add('file: scanLocalFiles, identical', main.nextSize, await timed(runs, () => scanLocalFiles(fileIndex, [main.identical])));
    add(
      'file: scanLocalFiles, unrelated (every offset rolled)',
      main.size,
      await timed(runs, () => scanLocalFiles(fileIndex, [main.other])),
    );
  }
  s.tables.push({ headers: ['micro-benchmark', 'median ms', 'MB/s', 'notes'], rows });
  return s;
}
