/**
 * Case 5: real file versions from the npm registry, fetched at bench time with
 * `npm pack` (cached in `.bench/npm/`), published in `.bench/www/npm/` and patched through
 * nginx by zsync and gosync at their defaults.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  checkOutput,
  deltaToolSizes,
  gosync,
  gosyncOnce,
  hasPeer,
  removeQuietly,
  rssText,
  smallestDelta,
  type DeltaToolResult,
  xdeltaSize,
  zstdSize,
  type Ctx,
} from './context.js';
import { loadNote, newSection, type Section } from './report.js';
import { fmtInt, fmtRatio, fmtSec, gosyncJson, log, type Measured, measure, run, warmCache, type Spec } from './util.js';

const exec = promisify(execFile);

export interface NpmPair {
  name: string;
  pkg: string;
  from: string;
  to: string;
  /** Path inside the package, or '' for the whole package as an uncompressed tar. */
  path: string;
}

/**
 * The large native binary: bun's Linux x64 executable (about 107 MB unpacked), two
 * adjacent releases. Chosen with `npm view @oven/bun-linux-x64 versions` (the registry
 * here reports no `dist.unpackedSize` for it); the candidates of the issue
 * (`@next/swc-linux-x64-gnu`, `@biomejs/cli-linux-x64`, …) are smaller or similar.
 */
export const LARGE_PAIR: NpmPair = { name: 'bun', pkg: '@oven/bun-linux-x64', from: '1.4.4', to: '1.4.5', path: 'bin/bun' };

export const NPM_PAIRS: NpmPair[] = [
  { name: 'jquery.js', pkg: 'jquery', from: '1.11.1', to: '1.11.2', path: 'dist/jquery.js' },
  { name: 'typescript.js', pkg: 'typescript', from: '5.5.4', to: '5.6.2', path: 'lib/typescript.js' },
  { name: 'typescript.tar', pkg: 'typescript', from: '5.5.4', to: '5.6.2', path: '' },
  { name: 'esbuild', pkg: '@esbuild/linux-x64', from: '0.25.0', to: '0.25.1', path: 'bin/esbuild' },
  LARGE_PAIR,
];

export function pairLabel(p: NpmPair): string {
  return `${p.pkg} ${p.from} → ${p.to}, ${p.path || 'whole package as tar'}`;
}

/** Downloads (once) and unpacks `pkg@version`; returns the unpacked folder. */
export async function unpacked(ctx: Ctx, pkg: string, version: string): Promise<string> {
  const work = join(ctx.bench, 'npm', `${pkg.replace('/', '_')}-${version}`);
  const done = join(work, 'package');
  try {
    if ((await stat(done)).isDirectory()) return done;
  } catch {}
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  log(`npm pack ${pkg}@${version}…`);
  await exec('npm', ['pack', `${pkg}@${version}`, '--silent', '--pack-destination', work], {
    cwd: work,
    timeout: 600_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  const tgz = (await readdir(work)).find((f) => f.endsWith('.tgz'));
  if (!tgz) throw new Error(`npm pack ${pkg}@${version} produced no tarball`);
  await exec('tar', ['xzf', tgz, '-C', work], { cwd: work });
  await rm(join(work, tgz));
  return done;
}

/** The file of `pair` at `version`, copied to `into` (or the package as a tar). */
async function materialise(ctx: Ctx, pair: NpmPair, version: string, into: string): Promise<void> {
  const pkgDir = await unpacked(ctx, pair.pkg, version);
  if (pair.path) await copyFile(join(pkgDir, pair.path), into);
  else
    await exec('tar', ['cf', into, '--sort=name', '--mtime=2000-01-01', '--owner=0', '--group=0', 'package'], { cwd: join(pkgDir, '..') });
}

export interface PreparedPair {
  pair: NpmPair;
  old: string;
  /** Published new version in www/npm/. */
  next: string;
  nextSize: number;
  /** Wall seconds of `gosync build <new>` at its defaults (one run, Node's start included). */
  buildSeconds: number;
  indexUrl: string;
  zsyncUrl: string;
}

export async function preparePair(ctx: Ctx, pair: NpmPair): Promise<PreparedPair> {
  const dir = join(ctx.bench, 'npm');
  const pub = join(ctx.www, 'npm');
  await mkdir(pub, { recursive: true });
  const old = join(dir, `${pair.name}.old`);
  const next = join(pub, pair.name);
  await materialise(ctx, pair, pair.from, old);
  await materialise(ctx, pair, pair.to, next);
  // `gosync build` at its defaults (compressed forms, no base): timed for the publishing target.
  const built = await gosyncOnce(['build', '-q', next]);
  if (hasPeer(ctx, 'zsync')) await run('zsyncmake', ['-u', pair.name, '-o', `${next}.zsync`, next]);
  return {
    pair,
    old,
    next,
    nextSize: (await stat(next)).size,
    buildSeconds: built.wall,
    indexUrl: `${ctx.server!.url}npm/${pair.name}.gosync`,
    zsyncUrl: `${ctx.server!.url}npm/${pair.name}.zsync`,
  };
}

/** bsdiff runs longer than this (cached seconds) are not timed again: the bun pair's takes minutes. */
const BSDIFF_TIMED_MAX_SECONDS = 60;
/**
 * Pairs whose bsdiff takes under a second (jquery.js: 0.04-0.08 s) are timed in at least this
 * many rounds: a run of a tenth of a second moves with the shared host by 20-30% from one
 * run to the next, and three rounds' median moved with it; 21 rounds cost a few seconds.
 */
const SHORT_PAIR_ROUNDS = 21;

/**
 * `gosync build --base <old>` and `bsdiff <old> <new>` timed in turn, `runs` rounds (at least
 * {@link SHORT_PAIR_ROUNDS} for a short pair; medians), for the
 * publishing target: both in the same run on the same load, rather than gosync's single build against
 * bsdiff's cached single run. Skipped (undefined) without bsdiff or when its cached run took longer than
 * {@link BSDIFF_TIMED_MAX_SECONDS}.
 */
async function timeBaseBuild(
  ctx: Ctx,
  p: PreparedPair,
  bsdiff: DeltaToolResult | undefined,
): Promise<{ gosync: Measured; bsdiff: Measured; rounds: number } | undefined> {
  if (!bsdiff || bsdiff.seconds > BSDIFF_TIMED_MAX_SECONDS || !hasPeer(ctx, 'bsdiff')) return undefined;
  const rounds = bsdiff.seconds < 1 ? Math.max(ctx.opts.runs, SHORT_PAIR_ROUNDS) : ctx.opts.runs;
  const dir = join(ctx.work, `npm-base-${p.pair.name}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const next = join(dir, p.pair.name);
  await copyFile(p.next, next);
  const patch = join(dir, 'bsdiff.patch');
  try {
    const [g, b] = await measure(
      [
        { ...gosync('gosync build --base', ['build', '-q', '--base', p.old, next]), prep: () => removeQuietly(`${next}.gosync`) },
        { name: 'bsdiff', cmd: 'bsdiff', args: [p.old, p.next, patch], prep: () => removeQuietly(patch) },
      ],
      rounds,
      { warmup: false, label: `${p.pair.name} publishing` },
    );
    return { gosync: g!, bsdiff: b!, rounds };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The new version published with a delta from the old one, `gosync build --base <old>` (www/npm-z/). */
export interface CompressedPair {
  indexUrl: string;
  /** Seconds `gosync build --base old` took, its peak RSS, and what it wrote. */
  buildSeconds: number;
  buildRss: number;
  build: Record<string, unknown>;
}

export async function prepareCompressed(ctx: Ctx, p: PreparedPair): Promise<CompressedPair> {
  const pub = join(ctx.www, 'npm-z');
  await mkdir(pub, { recursive: true });
  const next = join(pub, p.pair.name);
  await copyFile(p.next, next);
  const started = performance.now();
  const r = await gosyncOnce(['build', '-q', '--json', '--base', p.old, next]);
  const buildSeconds = (performance.now() - started) / 1000;
  return {
    indexUrl: `${ctx.server!.url}npm-z/${p.pair.name}.gosync`,
    buildSeconds,
    buildRss: r.maxRss,
    build: JSON.parse(r.stdout) as Record<string, unknown>,
  };
}

export async function caseNpm(ctx: Ctx): Promise<Section> {
  const s = newSection('npm', '5. Real-world pairs from the npm registry');
  s.intro.push(
    'Fetched at bench time with `npm pack` (cached in `.bench/npm/`). The whole package as a tar is `tar cf --sort=name --mtime=2000-01-01 --owner=0 --group=0 package`. ' +
      'Both tools run at their defaults through nginx on 127.0.0.1, seeded with the old version; bytes are counted at nginx (`$body_bytes_sent`: the index or `.zsync` plus every range response). ' +
      `Median of ${ctx.opts.runs} timed run${ctx.opts.runs === 1 ? '' : 's'} after a warm-up run, interleaved. zstd -19, xdelta3 (its default level and -9), zstd --patch-from and bsdiff are single runs, cached in \`.bench/cache.json\`. ${loadNote()}`,
  );
  if (!ctx.server || !hasPeer(ctx, 'npm')) {
    s.notes.push('Skipped: needs nginx and npm.');
    return s;
  }
  const rows: string[][] = [];
  const zrows: string[][] = [];
  let allFewer = true;
  let allUnderZstd = true;
  /** Per pair: gosync's compressed bytes against the smallest delta of xdelta3 -9, zstd --patch-from and bsdiff. */
  const knownVersion: { pair: string; gosync: number; best: { name: string; bytes: number } }[] = [];
  /** Per pair: publishing times at defaults and with --base, against bsdiff's. */
  const publishing: {
    pair: string;
    size: number;
    seconds: number;
    base: number;
    rss: number;
    bsdiff: DeltaToolResult | undefined;
    /** Rounds when both were timed in this run (medians, interleaved), not gosync's single run against bsdiff's cached one. */
    rounds: number | undefined;
  }[] = [];
  const unknownVersion: { pair: string; gosync: number; zstd: number }[] = [];
  let sumZsync = 0;
  let sumCompressed = 0;
  for (const pair of NPM_PAIRS) {
    let p: PreparedPair;
    try {
      p = await preparePair(ctx, pair);
    } catch (err) {
      s.notes.push(`${pairLabel(pair)}: could not fetch (${(err as Error).message.split('\n')[0]})`);
      continue;
    }
    const c = await prepareCompressed(ctx, p);
    const out = join(ctx.work, `npm-${pair.name}.out`);
    const cout = join(ctx.work, `npm-${pair.name}.cout`);
    const zout = join(ctx.work, `npm-${pair.name}.zout`);
    const mark = async (): Promise<void> => {
      await removeQuietly(out, cout, zout, `${zout}.part`, `${zout}.zs-old`);
      await ctx.server!.mark();
    };
    const specs: Spec[] = [
      {
        ...gosync('gosync', ['patch', '-q', '--json', p.old, p.indexUrl, '-o', out]),
        prep: mark,
        after: async (r, i) => {
          const t = await ctx.server!.since();
          if (i <= 0) await checkOutput('gosync', out, p.next);
          const j = gosyncJson(r);
          return { wire: t.bytes, requests: t.requests, reused: Number(j.reusedBytes), index: Number(j.indexBytes) };
        },
      },
    ];
    specs.push({
      ...gosync('gosync (known version)', ['patch', '-q', '--json', p.old, c.indexUrl, '-o', cout]),
      prep: mark,
      after: async (_r, i) => {
        const t = await ctx.server!.since();
        if (i <= 0) await checkOutput('gosync (known version)', cout, p.next);
        return { wire: t.bytes, requests: t.requests };
      },
    });
    if (hasPeer(ctx, 'zsync')) {
      specs.push({
        name: 'zsync',
        cmd: 'zsync',
        args: ['-q', '-i', p.old, '-o', zout, p.zsyncUrl],
        cwd: ctx.work,
        prep: mark,
        after: async (_r, i) => {
          const t = await ctx.server!.since();
          if (i <= 0) await checkOutput('zsync', zout, p.next);
          return { wire: t.bytes, requests: t.requests };
        },
      });
    }
    await warmCache(p.old, p.next);
    const res = await measure(specs, ctx.opts.runs, { label: pair.name });
    await removeQuietly(out, cout, zout);
    const g = res[0]!;
    const gz = res[1]!;
    const z = res[2];
    const zstd = await zstdSize(ctx, p.next);
    const xd = await xdeltaSize(ctx, p.old, p.next);
    const tools = await deltaToolSizes(ctx, p.old, p.next);
    const best = smallestDelta(tools);
    if (zstd) unknownVersion.push({ pair: pair.name, gosync: g.metrics.wire!, zstd: zstd.bytes });
    if (best) knownVersion.push({ pair: pair.name, gosync: gz.metrics.wire!, best });
    if (z && g.metrics.wire! > z.metrics.wire!) allFewer = false;
    if (zstd && g.metrics.wire! > zstd.bytes) allUnderZstd = false;
    const timedBase = await timeBaseBuild(ctx, p, tools.bsdiff);
    publishing.push({
      pair: pair.name,
      size: p.nextSize,
      seconds: p.buildSeconds,
      base: timedBase?.gosync.wall ?? c.buildSeconds,
      rss: timedBase?.gosync.maxRss ?? c.buildRss,
      bsdiff: timedBase ? { ...tools.bsdiff!, seconds: timedBase.bsdiff.wall, maxRss: timedBase.bsdiff.maxRss } : tools.bsdiff,
      rounds: timedBase?.rounds,
    });
    if (z) {
      sumZsync += z.metrics.wire!;
      sumCompressed += gz.metrics.wire!;
    }
    const built = c.build as { frames?: { bytes: number }; whole?: { bytes: number }; bases?: { bytes: number }[] };
    zrows.push([
      pairLabel(pair),
      fmtInt(p.nextSize),
      zstd ? fmtInt(zstd.bytes) : '–',
      tools.xdelta3 ? fmtInt(tools.xdelta3.bytes) : '–',
      tools.zstdPatch ? fmtInt(tools.zstdPatch.bytes) : '–',
      tools.bsdiff ? fmtInt(tools.bsdiff.bytes) : '–',
      z ? fmtInt(z.metrics.wire!) : '–',
      fmtInt(g.metrics.wire!),
      fmtInt(gz.metrics.wire!),
      best ? fmtRatio(gz.metrics.wire! / best.bytes) : '–',
      // The plan of the last run (a category: no median); every run sees the same index.
      String(gosyncJson(gz.last).plan ?? '?'),
      zstd ? fmtRatio(gz.metrics.wire! / zstd.bytes) : '–',
      z ? fmtRatio(gz.metrics.wire! / z.metrics.wire!) : '–',
      `${fmtInt(built.frames?.bytes ?? 0)} / ${fmtInt(built.whole?.bytes ?? 0)} / ${fmtInt(built.bases?.[0]?.bytes ?? 0)}`,
      `${fmtSec(c.buildSeconds)} (${(p.nextSize / 1e6 / c.buildSeconds).toFixed(1)} MB/s)`,
      fmtSec(gz.wall),
    ]);
    rows.push([
      pairLabel(pair),
      fmtInt(p.nextSize),
      z ? fmtInt(z.metrics.wire!) : '–',
      fmtInt(g.metrics.wire!),
      z ? fmtRatio(g.metrics.wire! / z.metrics.wire!) : '–',
      `${((100 * g.metrics.reused!) / p.nextSize).toFixed(1)}%`,
      z ? fmtSec(z.wall) : '–',
      fmtSec(g.wall),
      z ? `${fmtRatio(z.wall / g.wall)}×` : '–',
      `${rssText(g.maxRss)} / ${z ? rssText(z.maxRss) : '–'}`,
      zstd ? fmtInt(zstd.bytes) : '–',
      xd ? fmtInt(xd.bytes) : '–',
    ]);
    if (pair === LARGE_PAIR) {
      s.notes.push(`Large binary: \`${pair.pkg}\` ${pair.from} → ${pair.to} \`${pair.path}\`, ${fmtInt(p.nextSize)} B (≥ 50 MB).`);
    }
  }
  s.tables.push({
    headers: [
      'pair',
      'new size',
      'zsync bytes',
      'gosync bytes',
      'gosync ÷ zsync bytes',
      'gosync reused',
      'zsync s',
      'gosync s',
      'gosync speed ÷ zsync',
      'peak RSS gosync / zsync',
      'zstd -19',
      'xdelta3',
    ],
    rows,
  });
  if (hasPeer(ctx, 'zsync'))
    s.notes.push(
      `gosync moved ${allFewer ? 'no more' : 'MORE'} bytes than zsync on ${allFewer ? 'every' : 'at least one'} pair (no target is set for this case).`,
    );
  s.tables.push({
    headers: [
      'pair',
      'new size',
      'zstd -19',
      'xdelta3 -9',
      'zstd -19 --long=27 --patch-from',
      'bsdiff',
      'zsync bytes',
      'gosync bytes (defaults, unknown version)',
      'gosync bytes (known version)',
      'known ÷ best delta tool',
      'plan chosen',
      'known ÷ zstd -19',
      'known ÷ zsync',
      'published: frames / whole / base delta',
      'build --base (s)',
      'known-version patch s',
    ],
    rows: zrows,
  });
  s.notes.push(
    'Known version: the new version published with `gosync build --base <old version>` (compressed forms, and the smallest checked delta from the old version: zstd dictionary, LZ or bsdiff-class), ' +
      'patched with `gosync patch <old> <index URL>` at its defaults: the client reads the index summary (the last 57 bytes) and the delta for its exact version, nothing else. ' +
      '"defaults, unknown version": the new version published with `gosync build <new>` (no base), patched from the old version. Bytes are counted at nginx: the index (or its summary) plus every response body.',
  );
  if (knownVersion.length > 0) {
    s.targets.push({
      case: '5. known version',
      target:
        'every pair ≤ the smallest of xdelta3 -9, zstd -19 --long=27 --patch-from and bsdiff (gosync build --base <old>, index included)',
      measured: knownVersion.map((k) => `${k.pair} ${fmtInt(k.gosync)} vs ${k.best.name} ${fmtInt(k.best.bytes)} B`).join('; '),
      met: knownVersion.every((k) => k.gosync <= k.best.bytes),
    });
  }
  if (unknownVersion.length > 0) {
    s.targets.push({
      case: '5. unknown version',
      target: 'every pair at defaults (gosync build <new>, the client has another version) ≤ zstd -19 of the new file',
      measured: unknownVersion.map((k) => `${k.pair} ${fmtInt(k.gosync)} vs ${fmtInt(k.zstd)} B`).join('; '),
      met: hasPeer(ctx, 'zstd') ? allUnderZstd : undefined,
    });
  }
  const large = publishing.find((p) => p.pair === LARGE_PAIR.name);
  if (large) {
    s.targets.push({
      case: '5. publishing',
      target: `gosync build at defaults (no --base) ≥ 30 MB/s on the ${fmtInt(large.size)} B binary`,
      measured: `${(large.size / 1e6 / large.seconds).toFixed(1)} MB/s (${fmtSec(large.seconds)} s, Node's start included)`,
      met: large.size / 1e6 / large.seconds >= 30,
    });
  }
  const withBsdiff = publishing.filter((p) => p.bsdiff !== undefined);
  if (withBsdiff.length > 0) {
    s.targets.push({
      case: '5. publishing with --base',
      target: "every pair ≤ 2× bsdiff's time; peak memory stated",
      measured: withBsdiff
        .map(
          (p) =>
            `${p.pair} ${fmtSec(p.base)} s vs bsdiff ${fmtSec(p.bsdiff!.seconds)} s (${fmtRatio(p.base / p.bsdiff!.seconds)}×${p.rounds !== undefined ? `, medians of ${p.rounds} interleaved` : ', single runs, bsdiff cached'}), ${rssText(p.rss)} vs ${rssText(p.bsdiff!.maxRss)}`,
        )
        .join('; '),
      met: withBsdiff.every((p) => p.base <= 2 * p.bsdiff!.seconds),
    });
  }
  if (sumZsync > 0) {
    s.targets.push({
      case: '5. compressed',
      target: 'summed over the corpus ≤ 0.4× the bytes zsync moves (known version)',
      measured: `${fmtInt(sumCompressed)} vs ${fmtInt(sumZsync)} B (${fmtRatio(sumCompressed / sumZsync)}×)`,
      met: sumCompressed <= 0.4 * sumZsync,
    });
  }
  return s;
}
