/**
 * Shared helpers of the benchmark suite: running a command under `/usr/bin/time -v`
 * (wall time, CPU time, peak RSS), medians, formatting, sizes.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The compiled tree this file belongs to: `dist/` after `npm run build`, or the private
 * snapshot `.bench/snapshot/dist/` that `npm run bench` compiles, so that a rebuild of
 * `dist/` by someone else during a long run does not change the code under test.
 */
export const COMPILED = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function findRepo(from: string): string {
  for (let d = from; ; d = dirname(d)) {
    if (existsSync(join(d, 'bench', 'run.ts')) && existsSync(join(d, 'package.json'))) return d;
    if (dirname(d) === d) return resolve(from, '..');
  }
}

/** The repository root. */
export const REPO = findRepo(COMPILED);
/** The gosync CLI of the same compiled tree, run as a user would run it. */
export const GOSYNC_CLI = join(COMPILED, 'bundle', 'cli', 'main.cjs');

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** `256M`, `4G`, `4G+1M`, `1000` → bytes. */
export function parseSize(s: string): number {
  let total = 0;
  for (const part of s.split('+')) {
    const m = /^(\d+)([KMG]?)$/i.exec(part.trim());
    if (!m) throw new Error(`bad size ${s}`);
    total += Number(m[1]) * 1024 ** ' KMG'.indexOf((m[2] || ' ').toUpperCase());
  }
  return total;
}

export function sizeLabel(bytes: number): string {
  if (bytes % GiB === 0) return `${bytes / GiB} GiB`;
  if (bytes > GiB && (bytes % GiB) % MiB === 0) return `${Math.floor(bytes / GiB)} GiB + ${(bytes % GiB) / MiB} MiB`;
  if (bytes % MiB === 0) return `${bytes / MiB} MiB`;
  return fmtBytes(bytes);
}

/** Bytes with thousands separators: `1,234,567`. */
export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Human bytes: `1.23 MB` (decimal units, as MB/s). */
export function fmtBytes(n: number): string {
  if (n < 1e3) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(2)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

export function fmtSec(s: number): string {
  if (!Number.isFinite(s)) return '–';
  return s < 10 ? s.toFixed(3) : s.toFixed(2);
}

export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return '–';
  return r >= 10 ? r.toFixed(1) : r.toFixed(2);
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/** Prints progress to stderr (stdout carries the tables). */
export function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

/** One finished command. */
export interface RunResult {
  code: number;
  /** Wall time in seconds, spawn to exit, measured here. */
  wall: number;
  /** User and system CPU seconds of the command and its children (from `time -v`). */
  user: number;
  sys: number;
  /** Peak resident set size in bytes (`time -v` "Maximum resident set size"), NaN without `time`. */
  maxRss: number;
  stdout: string;
  stderr: string;
}

let timeBinary: string | undefined | null = null;

/** `/usr/bin/time` when present (GNU time, which has `-v`). */
export function gnuTime(): string | undefined {
  if (timeBinary === null) timeBinary = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
  return timeBinary;
}

export function resetGnuTimeCache(): void {
  timeBinary = null;
}

export interface RunOptions {
  cwd?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Kill the command after this many ms (default 30 min). */
  timeoutMs?: number;
  /** Throw unless the exit code is 0 (default true). */
  check?: boolean;
  /** Keep at most this many bytes of stdout (default 1 MiB); the rest is discarded. */
  maxOutput?: number;
}

let timeDir: string | undefined;

/**
 * Runs `cmd args` under `/usr/bin/time -v` (when installed) and measures it. Stdout and
 * stderr are captured (bounded), never inherited, so that a terminal does not slow a tool.
 */
export async function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const time = gnuTime();
  timeDir ??= await mkdtemp(join(tmpdir(), 'gosync-bench-time-'));
  const timeFile = join(timeDir, `t-${process.pid}-${Math.random().toString(36).slice(2)}.txt`);
  const argv = time ? ([time, ['-v', '-o', timeFile, cmd, ...args]] as const) : ([cmd, args] as const);
  const max = options.maxOutput ?? MiB;
  const started = performance.now();
  const result = await new Promise<{ code: number; stdout: string; stderr: string; ended: number }>((done, fail) => {
    const child = spawn(argv[0], argv[1], { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    child.stdout.on('data', (b: Buffer) => {
      if (outLen < max) out.push(b);
      outLen += b.length;
    });
    child.stderr.on('data', (b: Buffer) => {
      if (errLen < 64 * 1024) err.push(b);
      errLen += b.length;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30 * 60_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      fail(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      done({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ended: performance.now(),
      });
    });
  });
  const wall = (result.ended - started) / 1000;
  let user = NaN;
  let sys = NaN;
  let maxRss = NaN;
  let code = result.code;
  if (time) {
    const text = await readFile(timeFile, 'utf8').catch(() => '');
    await rm(timeFile, { force: true });
    user = Number(/User time \(seconds\): ([\d.]+)/.exec(text)?.[1] ?? NaN);
    sys = Number(/System time \(seconds\): ([\d.]+)/.exec(text)?.[1] ?? NaN);
    maxRss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(text)?.[1] ?? NaN) * 1024;
    const status = /Exit status: (\d+)/.exec(text)?.[1];
    if (status !== undefined) code = Number(status);
    // time -v reports "Command terminated by signal" / "Command exited with non-zero status" on stderr of its own.
  }
  const r: RunResult = { code, wall, user, sys, maxRss, stdout: result.stdout, stderr: result.stderr };
  if ((options.check ?? true) && code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited with ${code}\n${r.stderr.slice(-2000)}${r.stdout.slice(-500)}`);
  }
  return r;
}

/** Runs a command for its output only (no timing), e.g. a version query. */
export async function capture(
  cmd: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 10 * 60_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      done({ code: 127, stdout: '', stderr: String(e) });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      done({ code: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** SHA-256 of a file, hex. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(8 * MiB);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

/** Reads a file once so that it sits in the page cache (the same for every tool). */
export async function warmCache(...paths: string[]): Promise<void> {
  const buf = Buffer.allocUnsafe(8 * MiB);
  for (const p of paths) {
    const fh = await open(p, 'r');
    try {
      while ((await fh.read(buf, 0, buf.length, null)).bytesRead > 0);
    } finally {
      await fh.close();
    }
  }
}

/**
 * One benchmarked command. `prep` and `after` run outside the timed region; `after` may
 * return extra per-run metrics (bytes on the wire, sizes), whose medians are kept.
 */
export interface Spec {
  name: string;
  cmd: string;
  args: string[];
  cwd?: string;
  prep?: () => Promise<void>;
  after?: (r: RunResult, runIndex: number) => Promise<Record<string, number> | undefined>;
}

/** Medians over the timed runs of one {@link Spec}. */
export interface Measured {
  name: string;
  runs: number;
  wall: number;
  walls: number[];
  cpu: number;
  maxRss: number;
  metrics: Record<string, number>;
  /** The last run's result (stdout for `--json` reports). */
  last: RunResult;
}

/**
 * Measures several commands on the same inputs: one untimed warm-up run of each, then
 * `runs` rounds in which every command runs once, in turn (interleaved, so that a noisy
 * moment of the shared machine hits every tool alike rather than one tool's whole series).
 */
export async function measure(
  specs: readonly Spec[],
  runs: number,
  options: { warmup?: boolean; label?: string } = {},
): Promise<Measured[]> {
  const samples = specs.map(() => ({
    walls: [] as number[],
    cpus: [] as number[],
    rss: [] as number[],
    metrics: new Map<string, number[]>(),
    last: undefined as RunResult | undefined,
  }));
  const once = async (i: number, runIndex: number): Promise<RunResult> => {
    const s = specs[i]!;
    await s.prep?.();
    const r = await run(s.cmd, s.args, { cwd: s.cwd });
    const extra = (await s.after?.(r, runIndex)) ?? {};
    if (runIndex >= 0) {
      const acc = samples[i]!;
      acc.walls.push(r.wall);
      acc.cpus.push(r.user + r.sys);
      acc.rss.push(r.maxRss);
      for (const [k, v] of Object.entries(extra)) {
        if (!acc.metrics.has(k)) acc.metrics.set(k, []);
        acc.metrics.get(k)!.push(v);
      }
      acc.last = r;
    }
    return r;
  };
  if (options.warmup ?? true) {
    for (let i = 0; i < specs.length; i++) await once(i, -1);
  }
  for (let k = 0; k < runs; k++) {
    for (let i = 0; i < specs.length; i++) {
      const r = await once(i, k);
      log(`  ${options.label ? `${options.label}: ` : ''}${specs[i]!.name} run ${k + 1}/${runs}: ${r.wall.toFixed(3)} s`);
    }
  }
  return specs.map((s, i) => {
    const acc = samples[i]!;
    const metrics: Record<string, number> = {};
    for (const [k, v] of acc.metrics) metrics[k] = median(v);
    return {
      name: s.name,
      runs,
      wall: median(acc.walls),
      walls: acc.walls,
      cpu: median(acc.cpus),
      maxRss: Math.max(...acc.rss),
      metrics,
      last: acc.last!,
    };
  });
}

/** `min–max` of the timed runs, for the tables. */
export function spread(m: Measured): string {
  if (m.walls.length < 2) return '–';
  return `${Math.min(...m.walls).toFixed(2)}–${Math.max(...m.walls).toFixed(2)}`;
}

/** Parses the JSON report a `gosync … --json` run printed. */
export function gosyncJson(r: RunResult): Record<string, unknown> {
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`gosync printed no JSON report: ${r.stdout.slice(0, 300)} ${r.stderr.slice(-500)}`);
  }
}
