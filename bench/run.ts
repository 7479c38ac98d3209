/**
 * `npm run bench`: index-build and scan throughput on a generated 256 MiB pair.
 *
 * Not part of the tests. Files go to `.bench/` (reused between runs). Each case runs
 * several times and the median is printed, because shared machines are noisy.
 *
 *     npm run bench                # 256 MiB, 5 runs
 *     npm run bench -- --size 64M --runs 3
 */
import { createHash } from 'node:crypto';
import { mkdir, open, stat } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildIndexFile } from '../src/build-file.js';
import { decodeIndex } from '../src/index/format.js';
import { scanLocalFiles } from '../src/local-scan.js';
import { RollingChecksum } from '../src/rollsum/rollsum.js';
import { readFile } from 'node:fs/promises';

const { values } = parseArgs({ options: { size: { type: 'string' }, runs: { type: 'string' }, dir: { type: 'string' } } });
const SIZE = parseSize(values.size ?? '256M');
const RUNS = Number(values.runs ?? 5);
const DIR = values.dir ?? '.bench';

function parseSize(s: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(s);
  if (!m) throw new Error(`bad size ${s}`);
  return Number(m[1]) * 1024 ** ' KMG'.indexOf((m[2] || ' ').toUpperCase());
}

/** Deterministic pseudo-random bytes (sha256 in counter mode: fast and reproducible). */
async function writeRandom(path: string, size: number, seed: string): Promise<void> {
  try {
    if ((await stat(path)).size === size) return;
  } catch {}
  const fh = await open(path, 'w');
  const block = 1 << 20;
  const buf = Buffer.alloc(block);
  for (let off = 0, n = 0; off < size; off += block, n++) {
    for (let i = 0; i < block; i += 32) createHash('sha256').update(`${seed}:${n}:${i}`).digest().copy(buf, i);
    await fh.write(buf, 0, Math.min(block, size - off));
  }
  await fh.close();
}

/** The "new" version: the old one with scattered insertions, deletions and overwrites. */
async function writeEdited(oldPath: string, newPath: string): Promise<void> {
  try {
    if ((await stat(newPath)).size > 0) return;
  } catch {}
  const old = await readFile(oldPath);
  const parts: Buffer[] = [];
  let pos = 0;
  const step = Math.floor(old.length / 30);
  for (let k = 0; k < 30; k++) {
    const at = k * step + 12345;
    parts.push(old.subarray(pos, at));
    const kind = k % 3;
    if (kind === 0) {
      parts.push(createHash('sha256').update(`ins${k}`).digest()); // insertion of 32 B
      pos = at;
    } else if (kind === 1) {
      pos = at + 777; // deletion
    } else {
      parts.push(Buffer.alloc(3000, k)); // overwrite
      pos = at + 3000;
    }
  }
  parts.push(old.subarray(pos));
  const fh = await open(newPath, 'w');
  for (const p of parts) await fh.write(p);
  await fh.close();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

async function main(): Promise<void> {
  await mkdir(DIR, { recursive: true });
  const oldPath = join(DIR, `old-${SIZE}.bin`);
  const newPath = join(DIR, `new-${SIZE}.bin`);
  const otherPath = join(DIR, `other-${SIZE}.bin`);
  await writeRandom(oldPath, SIZE, 'old');
  await writeRandom(otherPath, SIZE, 'other');
  await writeEdited(oldPath, newPath);
  const newSize = (await stat(newPath)).size;
  const indexPath = `${newPath}.gosync`;

  const rows: [string, number, number][] = [];
  const add = async (name: string, bytes: number, fn: () => Promise<unknown>) => {
    await fn(); // warm the page cache and the JIT
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) times.push(await time(fn));
    const t = median(times);
    rows.push([name, t, bytes / 1e6 / t]);
    process.stderr.write(`${name}: ${t.toFixed(3)} s\n`);
  };

  await add('build index (gosync build)', newSize, () => buildIndexFile(newPath, indexPath));
  const index = decodeIndex(await readFile(indexPath));
  await add('scan: local file edited (30 edits)', SIZE, () => scanLocalFiles(index, [oldPath]));
  await add('scan: local file identical', newSize, () => scanLocalFiles(index, [newPath]));
  await add('scan: local file unrelated (every offset rolled)', SIZE, () => scanLocalFiles(index, [otherPath]));
  const data = (await readFile(oldPath)).subarray(0, 64 << 20);
  await add('rolling checksum alone (64 MiB, 4 KiB window)', data.length, async () => {
    const r = new RollingChecksum(4096).init(data, 0);
    for (let x = 4096; x < data.length; x++) r.roll(data[x - 4096]!, data[x]!);
    return r.value;
  });

  const edited = await scanLocalFiles(index, [oldPath]);
  const lines = [
    `gosync benchmark: ${SIZE / 1024 / 1024} MiB files, median of ${RUNS} runs, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`,
    `index: ${index.blockCount} blocks of ${index.blockSize} B; edited pair reuses ${((100 * edited.matcher.foundBytes) / newSize).toFixed(2)}%`,
    '',
    '| case | seconds | MB/s |',
    '|---|---:|---:|',
    ...rows.map(([n, t, mbs]) => `| ${n} | ${t.toFixed(3)} | ${mbs.toFixed(0)} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
