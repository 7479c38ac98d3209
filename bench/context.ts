/**
 * What every benchmark group gets: folders, options, peers, the nginx server, results
 * shared between groups, and small helpers (gosync commands, output checks, a cache of
 * slow one-off reference numbers).
 *
 * @module
 */
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Peer } from './peers.js';
import type { BenchServer } from './server.js';
import { GOSYNC_CLI, log, run, sha256File, type RunResult, type Spec } from './util.js';

export interface Options {
  /** Size of the generated pairs (cases 1–4). */
  size: number;
  runs: number;
  /** Runs of the 4 GiB cases. */
  runs4g: number;
  quick: boolean;
  no4g: boolean;
  keep: boolean;
  install: boolean;
  only: Set<string> | undefined;
}

/** Numbers one group hands to another (e.g. the 256 MiB throughput the 4 GiB case compares with). */
export interface Shared {
  buildMBps?: number;
  buildSize?: number;
  patchEditedMBps?: number;
  patchEditedVia?: string;
}

export interface Ctx {
  opts: Options;
  /** `.bench/` (absolute). */
  bench: string;
  /** `.bench/www`: what nginx serves. */
  www: string;
  /** `.bench/work`: outputs of the runs. */
  work: string;
  peers: Map<string, Peer>;
  server: BenchServer | undefined;
  shared: Shared;
}

export function hasPeer(ctx: Ctx, name: string): boolean {
  return ctx.peers.get(name)?.path !== undefined;
}

/** A `gosync …` command, run through its CLI as a user would. */
export function gosync(name: string, args: string[], extra: Partial<Spec> = {}): Spec {
  return { name, cmd: process.execPath, args: [GOSYNC_CLI, ...args], ...extra };
}

/** Runs gosync once (untimed), for set-up steps such as publishing an index. */
export async function gosyncOnce(args: string[]): Promise<RunResult> {
  return run(process.execPath, [GOSYNC_CLI, ...args]);
}

/** The command line a reader would type, for the tables (paths shortened to their names). */
export function commandText(spec: Spec): string {
  const args =
    spec.cmd === process.execPath
      ? spec.args[0] === GOSYNC_CLI
        ? ['gosync', ...spec.args.slice(1)]
        : ['node', ...spec.args]
      : [spec.cmd, ...spec.args];
  return args
    .map((a) => (a.includes('/') && !a.startsWith('http') ? basename(a) : a.replace(/^http:\/\/127\.0\.0\.1:\d+\//, 'http://…/')))
    .join(' ');
}

const verified = new Map<string, string>();

/** SHA-256 of a reference file (memoised by path, size and mtime). */
export async function expectedHash(path: string): Promise<string> {
  const st = await stat(path);
  const key = `${path}:${st.size}:${st.mtimeMs}`;
  let h = verified.get(key);
  if (h === undefined) {
    h = await sha256File(path);
    verified.set(key, h);
  }
  return h;
}

/** Fails when `output` is not byte-identical to `reference` (compared by SHA-256). */
export async function checkOutput(tool: string, output: string, reference: string): Promise<void> {
  const [a, b] = await Promise.all([sha256File(output), expectedHash(reference)]);
  if (a !== b) throw new Error(`${tool} produced a wrong result: ${output} differs from ${reference}`);
}

export async function removeQuietly(...paths: string[]): Promise<void> {
  for (const p of paths) await rm(p, { force: true, recursive: true });
}

/**
 * A cache of slow reference numbers that depend only on their inputs (zstd -19 sizes,
 * xdelta3 sizes of the npm pairs): `.bench/cache.json`, keyed by the inputs' names, sizes
 * and SHA-256 and the tool's version.
 */
export async function cached<T>(ctx: Ctx, keyParts: (string | number)[], inputs: string[], compute: () => Promise<T>): Promise<T> {
  const file = join(ctx.bench, 'cache.json');
  let data: Record<string, unknown> = {};
  try {
    data = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch {}
  // Keyed by content, so that re-copying an input (new mtime) does not redo the work.
  const stamps = await Promise.all(
    inputs.map(async (p) => `${basename(p)}@${(await stat(p)).size}@${(await expectedHash(p)).slice(0, 16)}`),
  );
  const key = [...keyParts, ...stamps].join('|');
  if (key in data) return data[key] as T;
  const value = await compute();
  try {
    data = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch {}
  data[key] = value;
  await writeFile(file, `${JSON.stringify(data, null, 1)}\n`);
  return value;
}

/** `zstd -19` of a file: compressed size and the seconds it took (one run, cached). */
export async function zstdSize(ctx: Ctx, path: string): Promise<{ bytes: number; seconds: number } | undefined> {
  if (!hasPeer(ctx, 'zstd')) return undefined;
  const version = ctx.peers.get('zstd')?.versionText ?? '';
  return cached(ctx, ['zstd-19', version], [path], async () => {
    log(`  zstd -19 ${basename(path)} (once; cached in .bench/cache.json)…`);
    const out = join(ctx.work, `${basename(path)}.zst`);
    await mkdir(ctx.work, { recursive: true });
    const r = await run('zstd', ['-19', '-q', '-f', '-o', out, path]);
    const bytes = (await stat(out)).size;
    await rm(out, { force: true });
    return { bytes, seconds: r.wall };
  });
}

/** `xdelta3 -e -s old new` delta size and seconds (one run, cached). */
export async function xdeltaSize(
  ctx: Ctx,
  oldPath: string,
  newPath: string,
): Promise<{ bytes: number; seconds: number; maxRss: number } | undefined> {
  if (!hasPeer(ctx, 'xdelta3')) return undefined;
  const version = ctx.peers.get('xdelta3')?.versionText ?? '';
  return cached(ctx, ['xdelta3-e', version], [oldPath, newPath], async () => {
    log(`  xdelta3 -e -s ${basename(oldPath)} ${basename(newPath)} (once; cached)…`);
    const out = join(ctx.work, `${basename(newPath)}.xd3`);
    await mkdir(ctx.work, { recursive: true });
    const r = await run('xdelta3', ['-e', '-f', '-s', oldPath, newPath, out]);
    const bytes = (await stat(out)).size;
    await rm(out, { force: true });
    return { bytes, seconds: r.wall, maxRss: r.maxRss };
  });
}

/** What one delta tool made of a pair: delta bytes, seconds and peak RSS (one run, cached). */
export interface DeltaToolResult {
  bytes: number;
  seconds: number;
  maxRss: number;
}

/** The state-of-the-art delta tools a known-version update is held against. */
export interface DeltaTools {
  /** `xdelta3 -9 -e -s old new`. */
  xdelta3?: DeltaToolResult | undefined;
  /** `zstd -19 --long=27 --patch-from=old new`. */
  zstdPatch?: DeltaToolResult | undefined;
  /** `bsdiff old new delta` (bsdiff 4.3: bzip2 streams). */
  bsdiff?: DeltaToolResult | undefined;
}

async function deltaTool(
  ctx: Ctx,
  peer: string,
  key: string,
  oldPath: string,
  newPath: string,
  argv: (out: string) => [string, string[]],
): Promise<DeltaToolResult | undefined> {
  if (!hasPeer(ctx, peer)) return undefined;
  const version = ctx.peers.get(peer)?.versionText ?? '';
  return cached(ctx, [key, version], [oldPath, newPath], async () => {
    const out = join(ctx.work, `${basename(newPath)}.${peer}-delta`);
    const [cmd, args] = argv(out);
    log(`  ${cmd} ${args.join(' ')} (once; cached in .bench/cache.json)…`);
    await mkdir(ctx.work, { recursive: true });
    const r = await run(cmd, args);
    const bytes = (await stat(out)).size;
    await rm(out, { force: true });
    return { bytes, seconds: r.wall, maxRss: r.maxRss };
  });
}

/** The three delta tools' results for a pair (each once, cached; missing tools are undefined). */
export async function deltaToolSizes(ctx: Ctx, oldPath: string, newPath: string): Promise<DeltaTools> {
  return {
    xdelta3: await deltaTool(ctx, 'xdelta3', 'xdelta3-9', oldPath, newPath, (out) => [
      'xdelta3',
      ['-9', '-e', '-f', '-s', oldPath, newPath, out],
    ]),
    zstdPatch: await deltaTool(ctx, 'zstd', 'zstd-19-long27-patch-from', oldPath, newPath, (out) => [
      'zstd',
      ['-19', '--long=27', '-q', '-f', `--patch-from=${oldPath}`, '-o', out, newPath],
    ]),
    bsdiff: await deltaTool(ctx, 'bsdiff', 'bsdiff', oldPath, newPath, (out) => ['bsdiff', [oldPath, newPath, out]]),
  };
}

/** The smallest of the delta tools' results, or undefined when none ran. */
export function smallestDelta(tools: DeltaTools): { name: string; bytes: number } | undefined {
  const named: [string, DeltaToolResult | undefined][] = [
    ['xdelta3 -9', tools.xdelta3],
    ['zstd --patch-from', tools.zstdPatch],
    ['bsdiff', tools.bsdiff],
  ];
  let best: { name: string; bytes: number } | undefined;
  for (const [name, r] of named) if (r && (!best || r.bytes < best.bytes)) best = { name, bytes: r.bytes };
  return best;
}

export function mbps(bytes: number, seconds: number): number {
  return bytes / 1e6 / seconds;
}

export function rssText(bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / 1024 / 1024).toFixed(0)} MiB` : '–';
}
