/**
 * gosync delta files: a delta that rebuilds a new version from one earlier version (a
 * "base"), in the smallest of several kinds. The file is one kind byte, then the kind's
 * payload:
 *
 *     1  zstd     one zstd frame compressed with the base as its (raw content) dictionary,
 *                 as `zstd --patch-from` does; window ≤ 2^27. Base and result are held in
 *                 memory: made only when both are at most {@link IN_MEMORY_MAX}.
 *     2  bsdiff   a bsdiff-class delta (src/forms/bsdiff/format.ts): suffix-sorted matches
 *                 extended across small differences. Applied streaming, with random reads
 *                 of the base and bounded memory. Made up to {@link BSDIFF_MAX}.
 *     5  lz       an LZ77 delta over base‖new with an adaptive range coder
 *                 (src/forms/lz-delta/, version 2: its literal model primed by counts).
 *                 In memory, up to {@link IN_MEMORY_MAX}.
 *     3  lz       the same, version 1 (the literal model primed bit by bit): read, no
 *                 longer written.
 *     4  librsync a librsync delta (rdiff's format) over small blocks, brotli-compressed,
 *                 then the brotli stream's length (u64 LE): the fallback for bases larger
 *                 than {@link BSDIFF_MAX} (made streaming, memory bounded by the base's
 *                 signature).
 *
 * Nothing may follow a payload: a zstd frame is measured (its blocks' headers) and must end
 * the file exactly, as the other kinds' own framing must.
 *
 * Which kind wins depends on the data (zstd and lz on text, bsdiff on executables); the
 * publisher makes each that applies, checks each by applying it, and keeps the smallest.
 * A client checks its base's size and SHA-256 before it fetches a delta, and the result's
 * SHA-256 before it replaces anything: a delta is never trusted, only its result.
 *
 * @module
 */
import { type FileHandle, open } from '../util/fs-promises.js';
import { constants as zc, createBrotliDecompress, createZstdDecompress, zstdCompressSync } from 'node:zlib';
import { ErrorCodes, SyncError, ioError, throwIfAborted } from '../core/errors.js';
import type { OldFileReader } from './bsdiff/apply.js';
import type { LzDeltaVersion } from './lz-delta/mod.js';
import { builtin } from '../util/builtin.js';

const { readSync } = builtin('node:fs');
const { Readable } = builtin('node:stream');

/** The kinds of delta, by the first byte each is written with. */
export const DELTA_KINDS = { zstd: 1, bsdiff: 2, lz: 5, librsync: 4 } as const;
export type DeltaKind = keyof typeof DELTA_KINDS;

/** First bytes read but no longer written: the kind each is, and the lz format's version. */
const READ_ONLY_KINDS: Readonly<Record<number, { kind: DeltaKind; lzVersion: LzDeltaVersion }>> = { 3: { kind: 'lz', lzVersion: 1 } };

/**
 * Base and new sizes up to which the in-memory kinds (zstd, lz) are made and applied:
 * a client applying one holds the base and the result in memory (2 × 64 MiB at most).
 */
export const IN_MEMORY_MAX = 64 * 1024 * 1024;
/**
 * Base size up to which a bsdiff-class delta is made: the publisher holds the base, its
 * suffix array (4 bytes per byte, beside copies of both versions in the module that makes it
 * and scans) and the new version in memory, about 11.6 bytes per byte of the base (1.2 GB for
 * the 107 MB bun pair). Larger bases get a librsync delta.
 */
export const BSDIFF_MAX = 512 * 1024 * 1024;
/** zstd's largest window a stock decoder accepts without being told (and the most a client allows). */
const ZSTD_WINDOW_LOG_MAX = 27;

function corrupt(state: string, cause?: unknown): SyncError {
  return new SyncError(ErrorCodes.DELTA_CORRUPT, `Cannot apply the delta: ${state}`, cause === undefined ? {} : { cause });
}

/** The kind of a delta file, by its first byte; DELTA_CORRUPT for anything else. */
export function deltaKindOf(delta: Uint8Array): DeltaKind {
  if (delta.length < 1) throw corrupt('it is empty');
  const kind = (Object.keys(DELTA_KINDS) as DeltaKind[]).find((k) => DELTA_KINDS[k] === delta[0]) ?? READ_ONLY_KINDS[delta[0]!]?.kind;
  if (kind === undefined) throw corrupt(`its kind ${delta[0]} is unknown (a newer gosync's delta?)`);
  return kind;
}

/** A delta file: the kind byte, then the payload. */
export function deltaFile(kind: DeltaKind, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 1);
  out[0] = DELTA_KINDS[kind];
  out.set(payload, 1);
  return out;
}

/**
 * The zstd dictionary delta of `next` from `old` (the payload of kind 1). Level 22 with a
 * window covering both: on typescript.js 5.5.4 → 5.6.2 level 22 gave 32,177 B against
 * 37,066 at 19, and on the whole typescript package tar 139,571 against 291,538.
 */
export function encodeZstdDelta(old: Uint8Array, next: Uint8Array): Uint8Array {
  const windowLog = Math.max(10, Math.min(ZSTD_WINDOW_LOG_MAX, Math.ceil(Math.log2(old.length + next.length + 1))));
  const out = zstdCompressSync(next, {
    dictionary: old,
    params: {
      [zc.ZSTD_c_compressionLevel]: 22,
      [zc.ZSTD_c_windowLog]: windowLog,
      [zc.ZSTD_c_enableLongDistanceMatching]: 1,
      [zc.ZSTD_c_checksumFlag]: 0,
      [zc.ZSTD_c_contentSizeFlag]: 1,
      [zc.ZSTD_c_dictIDFlag]: 0,
    },
  });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Where a delta's result goes, chunk by chunk, in order. */
export interface DeltaSink {
  /** `chunk` is the sink's only until the promise settles: the applier reuses its memory after. */
  write(chunk: Uint8Array): Promise<void>;
}

/** Options of {@link applyDeltaFile}. */
export interface ApplyDeltaOptions {
  /** The size the result must have (from the index): more output is refused early. */
  newSize: number;
  signal?: AbortSignal;
}

/** What applying a delta did. */
export interface ApplyDeltaReport {
  kind: DeltaKind;
  bytes: number;
}

/**
 * Rebuilds the new version from the base (the file at `basis`, or its bytes; a librsync
 * delta needs the file) and the delta file `delta`,
 * writing it to `sink` in order. Throws DELTA_CORRUPT for a damaged or hostile delta (wrong
 * kind, undecodable payload, output past `newSize` or short of it); the caller still checks
 * the result's SHA-256 before using it.
 */
export async function applyDeltaFile(
  delta: Uint8Array,
  basis: string | Uint8Array,
  sink: DeltaSink,
  options: ApplyDeltaOptions,
): Promise<ApplyDeltaReport> {
  throwIfAborted(options.signal);
  const kind = deltaKindOf(delta);
  const payload = delta.subarray(1);
  const counted = countedSink(sink, options.newSize);
  if (kind === 'zstd') await applyZstd(payload, await readBase(basis), counted, options);
  else if (kind === 'lz') await applyLz(payload, READ_ONLY_KINDS[delta[0]!]?.lzVersion ?? 2, await readBase(basis), counted, options);
  else if (kind === 'bsdiff') await applyBsdiff(payload, basis, counted, options);
  else if (typeof basis === 'string') await applyLibrsync(payload, basis, counted, options);
  // The kind is the delta's first byte, from elsewhere: a SyncError, not a RangeError.
  else throw corrupt('it is a librsync delta, which is applied to a base file only, and the base was given in memory');
  return { kind, bytes: counted.finish() };
}

/** `sink`, refusing more than `newSize` bytes; finish() refuses fewer. */
function countedSink(sink: DeltaSink, newSize: number): DeltaSink & { finish(): number } {
  let bytes = 0;
  return {
    async write(chunk) {
      bytes += chunk.length;
      if (bytes > newSize) throw corrupt(`it makes more than the ${newSize} bytes expected`);
      await sink.write(chunk);
    },
    finish() {
      if (bytes !== newSize) throw corrupt(`it made ${bytes} bytes, not the ${newSize} expected`);
      return bytes;
    },
  };
}

/**
 * {@link applyDeltaFile} for a delta still arriving in `chunks` (a download) of at most
 * `maxDeltaBytes` bytes: a bsdiff-class delta to a base on disk is applied as its bytes
 * come (bsdiff/apply.ts), so the apply overlaps the download; other kinds are gathered
 * first. An error of `chunks` rejects the apply as it is.
 */
export async function applyDeltaChunks(
  chunks: AsyncIterable<Uint8Array>,
  basis: string,
  sink: DeltaSink,
  options: ApplyDeltaOptions & { maxDeltaBytes: number },
): Promise<ApplyDeltaReport> {
  throwIfAborted(options.signal);
  const input = chunks[Symbol.asyncIterator]();
  let first: Uint8Array = new Uint8Array(0);
  let received = 0;
  const next = async (): Promise<IteratorResult<Uint8Array>> => {
    const step = await input.next();
    if (!step.done) {
      received += step.value.length;
      if (received > options.maxDeltaBytes) throw corrupt(`it is larger than the ${options.maxDeltaBytes} bytes allowed`);
    }
    return step;
  };
  try {
    while (first.length === 0) {
      const step = await next();
      if (step.done) break;
      first = step.value;
    }
    const kind = deltaKindOf(first);
    if (kind !== 'bsdiff') {
      const parts: Uint8Array[] = [first];
      for (let step = await next(); !step.done; step = await next()) parts.push(step.value);
      return await applyDeltaFile(Buffer.concat(parts), basis, sink, options);
    }
    const payload = (async function* () {
      if (first.length > 1) yield first.subarray(1);
      for (let step = await next(); !step.done; step = await next()) yield step.value;
    })();
    const counted = countedSink(sink, options.newSize);
    const fh = await open(basis, 'r').catch((cause: unknown) => Promise.reject(ioError('read', basis, cause)));
    try {
      const { size } = await fh.stat();
      const old = fileReader(fh, size, basis);
      const { applyBsdiffDeltaChunks } = await import('./bsdiff/apply.js');
      const produced = applyBsdiffDeltaChunks(payload, old, {
        maxNewSize: options.newSize,
        reuseChunks: true,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      for await (const chunk of produced) await counted.write(chunk);
    } finally {
      await fh.close();
    }
    return { kind, bytes: counted.finish() };
  } finally {
    // Stops the download if the apply ended first (a refused delta).
    await Promise.resolve(input.return?.()).catch(() => {});
  }
}

/** The whole base, for the in-memory kinds; refused above {@link IN_MEMORY_MAX}. */
async function readBase(basis: string | Uint8Array): Promise<Uint8Array> {
  if (typeof basis !== 'string') {
    if (basis.length > IN_MEMORY_MAX) throw corrupt(`its kind is for bases up to ${IN_MEMORY_MAX} bytes, this one has ${basis.length}`);
    return basis;
  }
  const fh = await open(basis, 'r').catch((cause: unknown) => Promise.reject(ioError('read', basis, cause)));
  try {
    const { size } = await fh.stat();
    if (size > IN_MEMORY_MAX) throw corrupt(`its kind is for bases up to ${IN_MEMORY_MAX} bytes, this one has ${size}`);
    return await fh.readFile().catch((cause: unknown) => Promise.reject(ioError('read', basis, cause)));
  } finally {
    await fh.close();
  }
}

/**
 * The length of the zstd frame at the start of `data`, from its header and block headers
 * (RFC 8878, 3.1.1); DELTA_CORRUPT when it is not one whole frame.
 */
export function zstdFrameLength(data: Uint8Array): number {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 6 || view.getUint32(0, true) !== 0xfd2fb528) throw corrupt('its zstd frame has no magic number');
  const fhd = data[4]!;
  if (fhd & 0x08) throw corrupt('its zstd frame sets a reserved bit');
  const singleSegment = (fhd >> 5) & 1;
  const fcsField = [singleSegment, 2, 4, 8][fhd >> 6]!;
  const dictField = [0, 1, 2, 4][fhd & 3]!;
  let at = 5 + (singleSegment ? 0 : 1) + dictField + fcsField;
  for (;;) {
    if (at + 3 > data.length) throw corrupt('its zstd frame is truncated');
    const header = data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16);
    const type = (header >> 1) & 3;
    if (type === 3) throw corrupt('its zstd frame has a reserved block type');
    at += 3 + (type === 1 ? 1 : header >>> 3);
    if (header & 1) break;
  }
  at += fhd & 0x04 ? 4 : 0;
  if (at > data.length) throw corrupt('its zstd frame is truncated');
  return at;
}

async function applyZstd(payload: Uint8Array, base: Uint8Array, sink: DeltaSink, options: ApplyDeltaOptions): Promise<void> {
  const frame = zstdFrameLength(payload);
  if (frame !== payload.length) throw corrupt(`${payload.length - frame} bytes follow its zstd frame`);
  const z = createZstdDecompress({ dictionary: base, params: { [zc.ZSTD_d_windowLogMax]: ZSTD_WINDOW_LOG_MAX } });
  z.on('error', () => {});
  const inflated = Readable.from([payload], { objectMode: false }).pipe(z);
  try {
    for await (const chunk of inflated as AsyncIterable<Buffer>) {
      throwIfAborted(options.signal);
      await sink.write(chunk);
    }
  } catch (cause) {
    if (SyncError.is(cause)) throw cause;
    throw corrupt('its zstd frame does not decompress', cause);
  } finally {
    z.destroy();
  }
}

async function applyLz(
  payload: Uint8Array,
  version: LzDeltaVersion,
  base: Uint8Array,
  sink: DeltaSink,
  options: ApplyDeltaOptions,
): Promise<void> {
  const { applyLzDelta } = await import('./lz-delta/mod.js');
  const out = applyLzDelta(base, payload, { version, maxNewSize: options.newSize, ...(options.signal ? { signal: options.signal } : {}) });
  for (let at = 0; at < out.length; at += 1 << 20) await sink.write(out.subarray(at, Math.min(out.length, at + (1 << 20))));
}

async function applyBsdiff(payload: Uint8Array, basis: string | Uint8Array, sink: DeltaSink, options: ApplyDeltaOptions): Promise<void> {
  const { applyBsdiffDelta } = await import('./bsdiff/apply.js');
  if (typeof basis !== 'string') {
    const old: OldFileReader = { size: basis.length, read: async (position, length) => basis.subarray(position, position + length) };
    for await (const chunk of applyBsdiffDelta(payload, old, { maxNewSize: options.newSize, reuseChunks: true })) await sink.write(chunk);
    return;
  }
  const fh = await open(basis, 'r').catch((cause: unknown) => Promise.reject(ioError('read', basis, cause)));
  try {
    const { size } = await fh.stat();
    const old = fileReader(fh, size, basis);
    for await (const chunk of applyBsdiffDelta(payload, old, {
      maxNewSize: options.newSize,
      reuseChunks: true,
      ...(options.signal ? { signal: options.signal } : {}),
    })) {
      await sink.write(chunk);
    }
  } finally {
    await fh.close();
  }
}

/** Random reads of the base through its file handle. */
function fileReader(fh: FileHandle, size: number, basis: string): OldFileReader {
  // Synchronous reads: the base is a local file, mostly in the page cache after its hash, and
  // read in blocks of 64 KiB at places only the delta knows. Awaiting each read left the
  // thread idle for about half of the apply of the bun delta (3.6 k reads, node --cpu-prof);
  // a read of 64 KiB from the cache takes microseconds, which the event loop can spare.
  const fill = async (into: Uint8Array, position: number): Promise<number> => {
    let got = 0;
    while (got < into.length) {
      let bytesRead: number;
      try {
        bytesRead = readSync(fh.fd, into, got, into.length - got, position + got);
      } catch (cause) {
        throw ioError('read', basis, cause);
      }
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got;
  };
  return {
    size,
    async read(position, length) {
      const buf = Buffer.allocUnsafe(length);
      return buf.subarray(0, await fill(buf, position));
    },
    readInto: (position, into) => fill(into, position),
  };
}

async function applyLibrsync(payload: Uint8Array, basis: string, sink: DeltaSink, options: ApplyDeltaOptions): Promise<void> {
  const { rdiffPatchInto } = await import('../formats/rdiff-file.js');
  if (payload.length < 8) throw corrupt('its librsync payload is truncated');
  const declared = new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getBigUint64(payload.length - 8, true);
  if (declared !== BigInt(payload.length - 8))
    throw corrupt(`its brotli stream is ${payload.length - 8} bytes, its trailer says ${declared}`);
  const z = createBrotliDecompress();
  z.on('error', () => {});
  const inflated = Readable.from([payload.subarray(0, payload.length - 8)], { objectMode: false }).pipe(z);
  const delta = (async function* () {
    try {
      yield* inflated as AsyncIterable<Buffer>;
    } catch (cause) {
      throw corrupt('its brotli stream does not decompress', cause);
    }
  })();
  try {
    await rdiffPatchInto(basis, delta, sink, options.signal ? { signal: options.signal } : {});
  } finally {
    z.destroy();
  }
}
