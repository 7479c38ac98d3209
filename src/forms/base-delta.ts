/**
 * Deltas from known earlier versions ("bases"): the publisher, who has the versions it
 * published before, writes for each the smallest delta file (delta-file.ts) that rebuilds
 * the new file from it: a zstd dictionary delta, an LZ delta and a bsdiff-class delta are
 * made where their size limits allow, each checked by applying it, and the smallest kept;
 * bases over the bsdiff limit get a librsync delta over small blocks (brotli-compressed),
 * checked the same way (librsync-base-delta.ts, loaded only then). A client whose local
 * file is exactly such a version (same size and SHA-256) fetches that delta instead of
 * scanning and fetching blocks.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from '../util/fs-promises.js';
import { ErrorCodes, SyncError, ioError, throwIfAborted } from '../core/errors.js';
import { BSDIFF_MAX, IN_MEMORY_MAX, applyDeltaFile, deltaFile, type DeltaKind } from './delta-file.js';
import { encodeDeltaPayloads } from './delta-encode.js';
import { AtomicFile } from '../localfs/atomic-file.js';
import { IN_PLACE_MAX, readFileInPlace } from '../localfs/file-chunks.js';
import { builtin } from '../util/builtin.js';

const { availableParallelism } = builtin('node:os');

/** What a base delta is, as the index lists it. */
export interface BaseDeltaResult {
  baseSize: number;
  baseSha256: Uint8Array;
  /** Size of the delta file. */
  size: number;
  /** Where it was written: `<prefix><first 16 hex digits of the base's SHA-256>`. */
  path: string;
  /** Always `gosync`: a delta file whose first byte names its kind. */
  codec: 'gosync';
  /** The kind that was smallest. */
  kind: DeltaKind;
  /** Every kind made and checked, with its size in bytes (for reports). */
  sizes: Partial<Record<DeltaKind, number>>;
}

/** Options of {@link writeBaseDelta}. */
export interface BaseDeltaOptions {
  /** Brotli quality of a librsync delta (the kind for bases over the bsdiff limit). */
  level: number;
  /** Only these kinds, when the sizes allow them (default: {@link defaultDeltaKinds}). */
  kinds?: readonly DeltaKind[];
  /** Kinds made at once on worker threads (default: every core; 1 makes them here, one by one). */
  threads?: number;
  /** The bytes of `input`, when the caller has read them already (they are then not read again). */
  next?: Uint8Array;
  signal?: AbortSignal;
}

/**
 * Writes the smallest checked delta file that turns `base` into `input`, to
 * `<prefix><hex>` (named by the base's SHA-256, so versions can share a publish folder).
 * A kind whose check fails is dropped (an encoder bug must not reach a client); if none is
 * left the build fails with DELTA_CORRUPT.
 */
export async function writeBaseDelta(base: string, input: string, prefix: string, options: BaseDeltaOptions): Promise<BaseDeltaResult> {
  const { signal } = options;
  throwIfAborted(signal);
  const baseSize = (await stat(base).catch((cause: unknown) => Promise.reject(ioError('make a delta from the base', base, cause)))).size;
  const inputSize =
    options.next?.length ??
    (await stat(input).catch((cause: unknown) => Promise.reject(ioError('make a delta from the base', input, cause)))).size;
  const allowed = deltaKindsFor(baseSize, inputSize);
  const wanted = (k: DeltaKind): k is Exclude<DeltaKind, 'librsync'> => k !== 'librsync' && (options.kinds?.includes(k) ?? true);
  if (!allowed.some(wanted) || Math.max(baseSize, inputSize) > BSDIFF_MAX)
    return (await import('./librsync-base-delta.js')).writeLibrsyncDelta(base, input, prefix, options);
  const old = await readBase(base, baseSize);
  const next: Uint8Array =
    options.next ?? (await readFile(input).catch((cause: unknown) => Promise.reject(ioError('make a delta from the base', input, cause))));
  const kinds = (options.kinds === undefined ? defaultDeltaKinds(baseSize, inputSize, next) : allowed).filter(wanted);
  const baseSha256 = new Uint8Array(createHash('sha256').update(old).digest());
  const sizes: Partial<Record<DeltaKind, number>> = {};
  let best: { kind: DeltaKind; file: Uint8Array } | undefined;
  const payloads = await encodeDeltaPayloads(kinds, old, next, {
    threads: options.threads ?? availableParallelism(),
    ...(signal ? { signal } : {}),
  });
  for (const [i, kind] of kinds.entries()) {
    throwIfAborted(signal);
    const file = deltaFile(kind, payloads[i]!);
    if (!(await appliesTo(file, old, next))) continue;
    sizes[kind] = file.length;
    if (best === undefined || file.length < best.file.length) best = { kind, file };
  }
  if (best === undefined)
    throw new SyncError(ErrorCodes.DELTA_CORRUPT, `Cannot make a delta from ${base}: no delta rebuilt the new version`);
  const path = `${prefix}${Buffer.from(baseSha256.subarray(0, 8)).toString('hex')}`;
  if (best.file.length <= IN_PLACE_MAX) AtomicFile.writeSync(path, [best.file]);
  else {
    const out = await AtomicFile.create(path);
    try {
      await out.write(best.file);
      await out.commit();
    } catch (err) {
      await out.abort();
      throw err;
    }
  }
  return { baseSize, baseSha256, size: best.file.length, path, codec: 'gosync', kind: best.kind, sizes };
}

/** The bytes of `base` (`size` bytes when it was stat'ed): in place when small. */
async function readBase(base: string, size: number): Promise<Uint8Array> {
  if (size <= IN_PLACE_MAX) return readFileInPlace(base, 'make a delta from the base');
  return readFile(base).catch((cause: unknown) => Promise.reject(ioError('make a delta from the base', base, cause)));
}

/**
 * The kinds that can be made for a base and a new version of these sizes (delta-file.ts's
 * limits); librsync, last, is made only when nothing else can be (or when asked for).
 */
export function deltaKindsFor(baseSize: number, inputSize: number): DeltaKind[] {
  const largest = Math.max(baseSize, inputSize);
  if (largest <= IN_MEMORY_MAX) return ['zstd', 'lz', 'bsdiff', 'librsync'];
  if (largest <= BSDIFF_MAX) return ['bsdiff', 'librsync'];
  return ['librsync'];
}

/**
 * The kinds made when none are named: of those the sizes allow, the ones that can be the
 * smallest. Measured per kind on the bench pairs (bytes, seconds of CPU on a loaded 2-core
 * machine; `encodeDeltaPayload` of each kind on the two versions):
 *
 * | pair | zstd | LZ | bsdiff |
 * |---|---:|---:|---:|
 * | jquery 1.11.1 → 1.11.2 | 1,103 (0.1 s) | 940 (0.05 s) | 1,443 (0.2 s) |
 * | typescript.js 5.5.4 → 5.6.2 | 32,178 (7.2 s) | 25,321 (1.5–2.3 s) | 43,518 (2.4 s) |
 * | typescript 5.5.4 → 5.6.2 package tar | 139,572 (18.0 s) | 125,775 (5.7 s) | 196,894 (7.3 s) |
 * | esbuild 0.25.0 → 0.25.1 | 570 k (10.8 s) | 522 k (30.8 s) | 112,862 (3.3 s) |
 *
 * LZ (the old version as a prefix, an optimal parse, a model primed on the old bytes) is what
 * the zstd dictionary delta is, done more thoroughly: it was smaller on every pair, so zstd is
 * made only when asked for. On executables (ELF, Mach-O, PE, WebAssembly: recognised by their
 * first bytes) bsdiff wins by far, relinked code being small differences at many places, and
 * LZ took ten times as long: only bsdiff is made for them. On text ({@link isText}) bsdiff was
 * 1.5–1.7 times LZ's size on every pair, for as much CPU or more: only LZ is made (bsdiff where
 * LZ cannot be, over {@link IN_MEMORY_MAX}). Other data
 * (compressed archives, images, unknown binaries) gets both.
 */
export function defaultDeltaKinds(baseSize: number, inputSize: number, next: Uint8Array): DeltaKind[] {
  const allowed = deltaKindsFor(baseSize, inputSize);
  const executable = isExecutable(next);
  const lzOnly = !executable && allowed.includes('lz') && isText(next);
  return allowed.filter((k) => k !== 'zstd' && !(executable && k === 'lz') && !(lzOnly && k === 'bsdiff'));
}

/**
 * At most this share of a text's bytes are control characters other than tab, line feed,
 * form feed, carriage return and escape. A tar of text files is text: its headers and padding
 * (the typescript package: 0.4% NUL bytes) stay well under it; executables and compressed
 * data have 5–20%.
 */
const TEXT_MAX_CONTROL = 0.01;

/**
 * Up to this size {@link isText} counts with a regular expression over the bytes as Latin-1:
 * the byte loop runs before the JIT has optimised it there (jquery.js's 284 kB: 2.8-7.7 ms in
 * a fresh process, the expression 0.85 ms). Above it the loop, at 2.5-3 ns per byte once
 * optimised, is the faster of the two (esbuild's 10 MB: 25 ms; the expression, which stops at
 * the limit, 19-22 ms on binaries but a 10 MB string first).
 */
const TEXT_PATTERN_MAX = 1024 * 1024;
/** The control characters {@link isText} counts. */
const CONTROL = /[\x00-\x08\x0e-\x1a\x1c-\x1f]/g;

/** True when `data` looks like text (UTF-8 or any ASCII-compatible encoding): few control bytes. */
export function isText(data: Uint8Array): boolean {
  const limit = data.length * TEXT_MAX_CONTROL;
  if (data.length <= TEXT_PATTERN_MAX) {
    const latin1 = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
    CONTROL.lastIndex = 0;
    let count = 0;
    while (CONTROL.exec(latin1) !== null) if (++count > limit) return false;
    return true;
  }
  let control = 0;
  for (let i = 0; i < data.length; i++) {
    const b = data[i]!;
    if (b < 0x20 && (b < 0x09 || (b > 0x0d && b !== 0x1b))) control++;
  }
  return control <= data.length * TEXT_MAX_CONTROL;
}

/** Executable formats by their magic numbers: ELF, Mach-O (32/64 bits, either order, fat), PE (MZ), WebAssembly. */
export function isExecutable(data: Uint8Array): boolean {
  if (data.length < 4) return false;
  const m = ((data[0]! << 24) | (data[1]! << 16) | (data[2]! << 8) | data[3]!) >>> 0;
  if (m === 0x7f454c46 || m === 0x0061736d) return true;
  if (m === 0xfeedface || m === 0xfeedfacf || m === 0xcefaedfe || m === 0xcffaedfe || m === 0xcafebabe) return true;
  return data[0] === 0x4d && data[1] === 0x5a;
}

/**
 * True when the delta file rebuilds `next` from `old` exactly, applied by the same code a
 * client runs ({@link applyDeltaFile}).
 */
async function appliesTo(file: Uint8Array, old: Uint8Array, next: Uint8Array): Promise<boolean> {
  let at = 0;
  let same = true;
  const compare = {
    async write(chunk: Uint8Array) {
      if (same && !Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).equals(next.subarray(at, at + chunk.length))) same = false;
      at += chunk.length;
    },
  };
  try {
    await applyDeltaFile(file, old, compare, { newSize: next.length });
  } catch (err) {
    if (SyncError.is(err) && err.code === ErrorCodes.DELTA_CORRUPT) return false;
    throw err;
  }
  return same && at === next.length;
}
