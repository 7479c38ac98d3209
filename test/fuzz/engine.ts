/**
 * A small mutation fuzzer: inputs are valid encodings (seeds) with bit flips, bytes and
 * integer fields set to boundary values, truncations, deletions, insertions, duplicated
 * slices and splices of two seeds; a target may repair an integrity check (a CRC) on
 * half of them so that the decoder's deeper checks are reached too. Input `i` of a run
 * depends only on the run's seed and `i`, so a finding can be replayed.
 *
 * Each input must decode or fail with a SyncError; anything else thrown, an input slower
 * than the time bound, or a resident-memory jump over the memory bound is a finding.
 */
import { SyncError } from '../../src/core/errors.js';

export interface FuzzTarget {
  name: string;
  /** Valid encodings to mutate. */
  seeds: Uint8Array[];
  /** Decodes (and uses) one input; resolves, or rejects with a SyncError. */
  run(input: Uint8Array): unknown;
  /** Repairs an integrity check after a mutation (applied to half of the inputs). */
  fix?(input: Uint8Array): Uint8Array;
  /** This target's own bound on resident-memory growth during one input (the lower of it and the run's applies). */
  memoryBoundBytes?: number;
}

export interface Finding {
  target: string;
  kind: 'exception' | 'slow' | 'memory';
  /** The input's number in the run (replay: the same seed and number). */
  input: number;
  detail: string;
  /** The input, hex (at most 512 bytes of it). */
  hex: string;
  length: number;
}

export interface FuzzOptions {
  count: number;
  /** The run's seed (default 1). */
  seed?: number;
  /** One input taking longer than this is a finding (default 2000 ms). */
  timeBoundMs?: number;
  /** Resident memory growing by more than this during one input is a finding (default 256 MiB). */
  memoryBoundBytes?: number;
  /** Called every 500 inputs with the number done. */
  onProgress?(done: number): void;
  /** At most this many findings are kept per kind of message (default 3). */
  keepPerMessage?: number;
}

export interface FuzzResult {
  target: string;
  inputs: number;
  /** Inputs that decoded without an error. */
  accepted: number;
  /** Inputs refused with a SyncError, by code. */
  refused: Record<string, number>;
  findings: Finding[];
  /** Findings by distinct message (findings keeps only a few of each). */
  distinct: Record<string, number>;
  seconds: number;
  slowestMs: number;
  /** Resident memory growth over the run. */
  rssGrowth: number;
}

/** xorshift32: a fast, seeded source of numbers. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let s = this.#s;
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    this.#s = s;
    return s;
  }
  /** An integer in [0, n). */
  below(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }
  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }
}

const BYTE_VALUES = [0, 1, 0x7f, 0x80, 0xfe, 0xff, 0x0a, 0x0d, 0x20, 0x2d, 0x30, 0x3a];
const INT_VALUES = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];

/** One mutation of `data` (a new array; `data` is not changed). */
function mutateOnce(data: Uint8Array, rng: Rng, seeds: readonly Uint8Array[]): Uint8Array {
  const n = data.length;
  const op = rng.below(11);
  const out = (): Uint8Array => Uint8Array.from(data);
  switch (op) {
    case 0:
    case 1: {
      if (n === 0) return rng.bytes(1 + rng.below(8));
      const o = out();
      o[rng.below(n)]! ^= 1 << rng.below(8);
      return o;
    }
    case 2: {
      if (n === 0) return Uint8Array.of(BYTE_VALUES[rng.below(BYTE_VALUES.length)]!);
      const o = out();
      o[rng.below(n)] = rng.chance(0.5) ? BYTE_VALUES[rng.below(BYTE_VALUES.length)]! : rng.next() & 0xff;
      return o;
    }
    case 3: {
      // An integer field (1, 2, 4 or 8 bytes, either byte order) set to a boundary value.
      const width = [1, 2, 4, 8][rng.below(4)]!;
      if (n < width) return out();
      const o = Buffer.from(out());
      const at = rng.below(n - width + 1);
      let v = INT_VALUES[rng.below(INT_VALUES.length)]!;
      if (rng.chance(0.3)) v = rng.below(n * 4 + 2);
      const big = rng.chance(0.5);
      for (let k = 0; k < width; k++) {
        const byte = k < 4 ? (v >>> (8 * k)) & 0xff : v > 0xffffffff ? 0xff : 0;
        o[big ? at + width - 1 - k : at + k] = byte;
      }
      return new Uint8Array(o);
    }
    case 4:
      return data.subarray(0, rng.below(n + 1)).slice();
    case 5: {
      if (n === 0) return out();
      const a = rng.below(n);
      const len = 1 + rng.below(Math.min(64, n - a));
      return concat2(data.subarray(0, a), data.subarray(a + len));
    }
    case 6: {
      const at = rng.below(n + 1);
      return concat2(concat2(data.subarray(0, at), rng.bytes(1 + rng.below(16))), data.subarray(at));
    }
    case 7: {
      // A slice repeated (a record or a line twice).
      if (n === 0) return out();
      const a = rng.below(n);
      const len = 1 + rng.below(Math.min(256, n - a));
      const at = rng.below(n + 1);
      return concat2(concat2(data.subarray(0, at), data.subarray(a, a + len)), data.subarray(at));
    }
    case 8: {
      const other = seeds[rng.below(seeds.length)]!;
      return concat2(data.subarray(0, rng.below(n + 1)), other.subarray(rng.below(other.length + 1)));
    }
    case 9:
      return concat2(data, rng.bytes(1 + rng.below(32)));
    default: {
      // A run of bytes overwritten with one value (zeros, 0xff).
      if (n === 0) return out();
      const o = out();
      const a = rng.below(n);
      o.fill(rng.chance(0.5) ? 0 : 0xff, a, Math.min(n, a + 1 + rng.below(32)));
      return o;
    }
  }
}

function concat2(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Input `i` of a run with `seed` over `target`. */
export function makeInput(target: FuzzTarget, seed: number, i: number): Uint8Array {
  const rng = new Rng((seed * 0x9e3779b1) ^ (i * 0x85ebca6b) ^ 0x27d4eb2f);
  rng.next();
  const seeds = target.seeds;
  const base = seeds[rng.below(seeds.length)]!;
  // A few inputs are the seeds themselves or noise.
  if (i < seeds.length) return seeds[i]!;
  if (rng.chance(0.01)) return rng.bytes(rng.below(256));
  let data = base;
  const rounds = 1 + (rng.chance(0.5) ? 0 : rng.below(6));
  for (let k = 0; k < rounds; k++) data = mutateOnce(data, rng, seeds);
  if (target.fix && rng.chance(0.5) && data.length > 0) data = target.fix(data);
  return data;
}

function hexOf(data: Uint8Array): string {
  return Buffer.from(data.subarray(0, 512)).toString('hex');
}

/** The message of an error with its varying numbers blanked, to group findings. */
function shapeOf(err: unknown): string {
  const e = err as Error;
  const first = (e?.stack ?? '').split('\n')[1]?.trim() ?? '';
  return `${e?.name ?? typeof err}: ${String(e?.message ?? err).replace(/\d+/g, 'N')} ${first.replace(/:\d+:\d+\)?$/, '')}`;
}

/** Runs `count` inputs through `target`. */
export async function fuzz(target: FuzzTarget, options: FuzzOptions): Promise<FuzzResult> {
  const seed = options.seed ?? 1;
  const timeBound = options.timeBoundMs ?? 2000;
  const memoryBound = Math.min(options.memoryBoundBytes ?? 256 * 1024 * 1024, target.memoryBoundBytes ?? Infinity);
  const keep = options.keepPerMessage ?? 3;
  const result: FuzzResult = {
    target: target.name,
    inputs: 0,
    accepted: 0,
    refused: {},
    findings: [],
    distinct: {},
    seconds: 0,
    slowestMs: 0,
    rssGrowth: 0,
  };
  const started = performance.now();
  const rssStart = process.memoryUsage.rss();
  const record = (kind: Finding['kind'], i: number, input: Uint8Array, detail: string, shape: string): void => {
    const seen = result.distinct[shape] ?? 0;
    result.distinct[shape] = seen + 1;
    if (seen < keep) result.findings.push({ target: target.name, kind, input: i, detail, hex: hexOf(input), length: input.length });
  };
  for (let i = 0; i < options.count; i++) {
    const input = makeInput(target, seed, i);
    const rssBefore = process.memoryUsage.rss();
    const t0 = performance.now();
    try {
      await target.run(input);
      result.accepted++;
    } catch (err) {
      if (SyncError.is(err)) result.refused[err.code] = (result.refused[err.code] ?? 0) + 1;
      else record('exception', i, input, String((err as Error)?.stack ?? err), shapeOf(err));
    }
    const ms = performance.now() - t0;
    if (ms > result.slowestMs) result.slowestMs = ms;
    if (ms > timeBound) record('slow', i, input, `${ms.toFixed(0)} ms`, 'slow');
    const grown = process.memoryUsage.rss() - rssBefore;
    if (grown > memoryBound) record('memory', i, input, `resident memory grew by ${grown} bytes`, 'memory');
    result.inputs++;
    if (options.onProgress && (i + 1) % 500 === 0) options.onProgress(i + 1);
  }
  result.seconds = (performance.now() - started) / 1000;
  result.rssGrowth = process.memoryUsage.rss() - rssStart;
  return result;
}
