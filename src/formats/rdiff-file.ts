/**
 * rdiff's three jobs on files and streams: `rdiffSignature` (signature of a basis),
 * `rdiffDelta` (delta from a signature to a new file), `rdiffPatch` (basis + delta → new
 * file). The files are byte-compatible with librsync's `rdiff` 2.3.2: a signature is
 * byte-identical to rdiff's for the same options, and deltas go both ways.
 *
 * Everything streams: inputs are read in large sequential pieces (or taken from any
 * async iterable of bytes, such as `process.stdin`), memory does not grow with the files
 * (the signature being decoded is the exception, as in librsync), and a file output is
 * written to a temporary file next to it and renamed into place only when complete; on
 * any failure it is left as it was.
 *
 * @module
 */
import { open, stat, type FileHandle } from '../util/fs-promises.js';
import { ErrorCodes, SyncError, throwIfAborted, ioError } from '../core/errors.js';
import { DEFAULT_MAX_INDEX_BYTES } from '../core/index/format.js';
import type { ScanStats } from '../core/matcher.js';
import type { OutputSink } from '../core/patcher.js';
import { READ_SIZE } from '../core/read-size.js';
import { AtomicFile } from '../localfs/atomic-file.js';
import { LibrsyncDeltaGenerator, LibrsyncDeltaParser, type DeltaStats } from './librsync-delta.js';
import {
  LibrsyncSignatureBuilder,
  decodeLibrsyncSignature,
  librsyncMinStrongLength,
  librsyncSignatureParams,
  type LibrsyncHash,
  type LibrsyncRollsum,
  type LibrsyncSignature,
  type LibrsyncSignatureOptions,
} from './librsync-signature.js';
import { builtin } from '../util/builtin.js';

const { once } = builtin('node:events');

/** A file path, or a stream of bytes (any async iterable of `Uint8Array`, e.g. `process.stdin`). */
export type RdiffInput = string | AsyncIterable<Uint8Array>;
/** A file path (written atomically), or a writable stream (e.g. `process.stdout`). */
export type RdiffOutput = string | NodeJS.WritableStream;

/** Options every rdiff function takes. */
export interface RdiffCommonOptions {
  signal?: AbortSignal;
  /** Called with input bytes read so far and the input size (`undefined` for a stream). */
  onProgress?: (done: number, total: number | undefined) => void;
  /** Replace an existing output file (default true). When false an existing output is an IO error, as rdiff without `-f`. */
  overwrite?: boolean;
}

const WRITE_SIZE = 1024 * 1024;

// ---------------------------------------------------------------------------------------
// Inputs and outputs

/** An opened input: its size when known, and its bytes in pieces. */
interface Source {
  name: string;
  size: number | undefined;
  chunks(signal: AbortSignal | undefined): AsyncGenerator<Uint8Array>;
  close(): Promise<void>;
}

/** Opens a regular file for reading, with its size. */
async function openFile(path: string): Promise<{ fh: FileHandle; size: number }> {
  const fh = await open(path, 'r').catch((cause: unknown) => Promise.reject(ioError('read', path, cause)));
  const failed = async (problem: unknown): Promise<never> => {
    await fh.close().catch(() => {});
    throw ioError('read', path, problem);
  };
  const st = await fh.stat().catch(failed);
  if (!st.isFile()) return failed('not a regular file');
  return { fh, size: st.size };
}

async function openSource(input: RdiffInput, what: string): Promise<Source> {
  if (typeof input !== 'string') {
    return {
      name: `the ${what} stream`,
      size: undefined,
      async *chunks(signal) {
        for await (const chunk of input) {
          throwIfAborted(signal);
          yield chunk instanceof Uint8Array ? chunk : Buffer.from(chunk as unknown as string);
        }
      },
      close: async () => {},
    };
  }
  const { fh, size } = await openFile(input);
  return {
    name: input,
    size,
    async *chunks(signal) {
      // Two buffers: the next piece is read while the caller works on this one. Callers
      // copy what they keep before asking for the next piece, so the buffers are reused.
      const bufs = [Buffer.allocUnsafeSlow(READ_SIZE), Buffer.allocUnsafeSlow(READ_SIZE)] as const;
      let position = 0;
      const readInto = (buf: Buffer) => {
        const at = position;
        const p = fh.read(buf, 0, buf.length, at).then(
          (r) => r.bytesRead,
          (cause: unknown) => {
            throw ioError('read', input, cause);
          },
        );
        p.catch(() => {}); // handled where awaited
        return p;
      };
      let k = 0;
      let pending = readInto(bufs[0]);
      for (;;) {
        throwIfAborted(signal);
        const n = await pending;
        if (n === 0) return;
        position += n;
        const current = bufs[k]!;
        k ^= 1;
        pending = readInto(bufs[k]!);
        yield current.subarray(0, n);
      }
    },
    close: () => fh.close().catch(() => {}),
  };
}

/** Reads a whole input, refusing more than `max` bytes. */
async function readAll(input: RdiffInput | Uint8Array, what: string, max: number, signal: AbortSignal | undefined): Promise<Uint8Array> {
  if (input instanceof Uint8Array) return input;
  if (typeof input === 'string') {
    const st = await stat(input).catch((cause: unknown) => Promise.reject(ioError('read', input, cause)));
    if (st.size > max) {
      throw new SyncError(ErrorCodes.INDEX_CORRUPT, `Cannot read the ${what} ${input}: it is ${st.size} bytes, over the limit of ${max}`, {
        path: input,
      });
    }
  }
  const src = await openSource(input, what);
  try {
    const parts: Uint8Array[] = [];
    let n = 0;
    for await (const chunk of src.chunks(signal)) {
      n += chunk.length;
      if (n > max)
        throw new SyncError(ErrorCodes.INDEX_CORRUPT, `Cannot read the ${what} ${src.name}: it is over the limit of ${max} bytes`);
      parts.push(new Uint8Array(chunk));
    }
    return new Uint8Array(Buffer.concat(parts));
  } finally {
    await src.close();
  }
}

/** An output gosync writes through itself (see {@link rdiffPatchInto}). */
class Through {
  constructor(readonly sink: OutputSink) {}
}

/** A buffered output: a file written atomically, a stream, or an {@link OutputSink}. */
interface Sink {
  /** Room for `n` bytes at the end of the buffer (flushing first if needed); write there, then `advance(n)`. */
  room(n: number): Promise<Uint8Array>;
  advance(n: number): void;
  write(data: Uint8Array): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
  bytes: number;
}

async function openSink(output: RdiffOutput | Through, overwrite: boolean): Promise<Sink> {
  let file: AtomicFile | undefined;
  let through: OutputSink | undefined;
  let stream: NodeJS.WritableStream | undefined;
  if (output instanceof Through) {
    through = output.sink;
  } else if (typeof output === 'string') {
    if (!overwrite) {
      const exists = await stat(output).then(
        () => true,
        () => false,
      );
      if (exists) throw ioError('write', output, 'the file exists (use -f / overwrite to replace it)');
    }
    file = await AtomicFile.create(output);
  } else {
    stream = output;
  }
  const buf = Buffer.allocUnsafeSlow(WRITE_SIZE);
  let len = 0;
  const flush = async (): Promise<void> => {
    if (len === 0) return;
    const data = buf.subarray(0, len);
    if (file) await file.write(data);
    else if (through) await through.write(data);
    else {
      // The stream may keep the buffer: give it its own copy.
      if (!stream!.write(Buffer.from(data))) await once(stream!, 'drain');
    }
    len = 0;
  };
  const sink: Sink = {
    bytes: 0,
    async room(n) {
      if (len + n > buf.length) await flush();
      return buf.subarray(len, len + Math.min(n, buf.length));
    },
    advance(n) {
      len += n;
      sink.bytes += n;
    },
    async write(data) {
      let p = 0;
      while (p < data.length) {
        if (len === buf.length) await flush();
        const take = Math.min(data.length - p, buf.length - len);
        buf.set(data.subarray(p, p + take), len);
        len += take;
        p += take;
      }
      sink.bytes += data.length;
    },
    async commit() {
      await flush();
      if (file) {
        if (!overwrite) {
          const exists = await stat(output as string).then(
            () => true,
            () => false,
          );
          if (exists) throw ioError('write', output as string, 'the file appeared meanwhile (use -f / overwrite to replace it)');
        }
        await file.commit();
      }
    },
    async abort() {
      await file?.abort();
    },
  };
  return sink;
}

async function withSink<T>(output: RdiffOutput | Through, overwrite: boolean, job: (sink: Sink) => Promise<T>): Promise<T> {
  const sink = await openSink(output, overwrite);
  try {
    const result = await job(sink);
    await sink.commit();
    return result;
  } catch (err) {
    await sink.abort();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------
// signature

/** Options of {@link rdiffSignature}. */
export interface RdiffSignatureOptions extends LibrsyncSignatureOptions, RdiffCommonOptions {
  /** The basis size when `basis` is a stream whose size is known (rdiff's defaults depend on it). */
  basisSize?: number;
}

/** What {@link rdiffSignature} wrote. */
export interface RdiffSignatureReport {
  magic: number;
  hash: LibrsyncHash;
  rollsum: LibrsyncRollsum;
  blockLength: number;
  strongLength: number;
  blockCount: number;
  /** Bytes of basis read. */
  basisBytes: number;
  /** Bytes of signature written. */
  signatureBytes: number;
  /** rdiff's minimum strong length for this basis (`-S -1`); rdiff warns when `strongLength` is below it. */
  minStrongLength: number;
  seconds: number;
}

/**
 * Writes the librsync signature of `basis` to `output`: the bytes `rdiff signature` 2.3.2
 * writes with the same options (defaults: RabinKarp + BLAKE2b, magic 0x72730147, block
 * length from the basis size, full 32-byte strong sums).
 *
 * @example
 * ```ts
 * await rdiffSignature('old.bin', 'old.sig');                                   // rdiff signature old.bin old.sig
 * await rdiffSignature('old.bin', 'old.sig', { hash: 'md4', rollsum: 'rollsum' }); // rdiff -H md4 -R rollsum signature …
 * ```
 */
export async function rdiffSignature(
  basis: RdiffInput,
  output: RdiffOutput,
  options: RdiffSignatureOptions = {},
): Promise<RdiffSignatureReport> {
  const started = performance.now();
  const { signal, onProgress, overwrite = true, basisSize, ...sigOptions } = options;
  throwIfAborted(signal);
  const src = await openSource(basis, 'basis');
  try {
    const size = src.size ?? basisSize;
    const params = librsyncSignatureParams(size, sigOptions);
    const builder = new LibrsyncSignatureBuilder(params);
    const bytes = await withSink(output, overwrite, async (sink) => {
      await sink.write(builder.header());
      let done = 0;
      for await (const chunk of src.chunks(signal)) {
        await sink.write(builder.push(chunk));
        done += chunk.length;
        onProgress?.(done, src.size);
      }
      await sink.write(builder.end());
      throwIfAborted(signal);
      return sink.bytes;
    });
    return {
      ...params,
      blockCount: builder.blockCount,
      basisBytes: builder.bytes,
      signatureBytes: bytes,
      minStrongLength: librsyncMinStrongLength(size, params.blockLength),
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await src.close();
  }
}

// ---------------------------------------------------------------------------------------
// delta

/** Options of {@link rdiffDelta}. */
export interface RdiffDeltaOptions extends RdiffCommonOptions {
  /** Refuse signatures larger than this many bytes (default 1 GiB). */
  maxSignatureBytes?: number;
}

/** What {@link rdiffDelta} wrote. */
export interface RdiffDeltaReport extends DeltaStats {
  magic: number;
  blockLength: number;
  strongLength: number;
  blockCount: number;
  /** Bytes of the new file read. */
  newBytes: number;
  /** Bytes of delta written. */
  deltaBytes: number;
  /** The matcher's counters. */
  scan: ScanStats;
  seconds: number;
}

/**
 * Writes the delta from the basis described by `signature` (a path, the signature's
 * bytes, a stream, or an already decoded signature) to `newFile`, as `rdiff delta` does.
 * The new file is scanned once by the block matcher; the result is applicable by `rdiff
 * patch` and {@link rdiffPatch}. A malformed signature is INDEX_CORRUPT (nothing is written).
 *
 * @example
 * ```ts
 * await rdiffDelta('old.sig', 'new.bin', 'new.delta');   // rdiff delta old.sig new.bin new.delta
 * ```
 */
export async function rdiffDelta(
  signature: RdiffInput | Uint8Array | LibrsyncSignature,
  newFile: RdiffInput,
  output: RdiffOutput,
  options: RdiffDeltaOptions = {},
): Promise<RdiffDeltaReport> {
  const started = performance.now();
  const { signal, onProgress, overwrite = true, maxSignatureBytes = DEFAULT_MAX_INDEX_BYTES } = options;
  throwIfAborted(signal);
  const sig = isDecodedSignature(signature)
    ? signature
    : decodeLibrsyncSignature(await readAll(signature, 'signature', maxSignatureBytes, signal), { maxBytes: maxSignatureBytes });
  const src = await openSource(newFile, 'new file');
  try {
    const generator = new LibrsyncDeltaGenerator(sig);
    const deltaBytes = await withSink(output, overwrite, async (sink) => {
      let done = 0;
      for await (const chunk of src.chunks(signal)) {
        generator.push(chunk);
        if (generator.encoder.pending >= WRITE_SIZE) await sink.write(generator.take());
        done += chunk.length;
        onProgress?.(done, src.size);
      }
      generator.end();
      await sink.write(generator.take());
      throwIfAborted(signal);
      return sink.bytes;
    });
    return {
      ...generator.encoder.stats,
      magic: sig.magic,
      blockLength: sig.blockLength,
      strongLength: sig.strongLength,
      blockCount: sig.blockCount,
      newBytes: generator.bytesIn,
      deltaBytes,
      scan: generator.scanStats
        ? { ...generator.scanStats }
        : { bytesScanned: generator.bytesIn, weakHits: 0, strongHashes: 0, falseMatches: 0 },
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await src.close();
  }
}

function isDecodedSignature(v: unknown): v is LibrsyncSignature {
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && 'weak' in v && 'strong' in v && 'blockLength' in v;
}

// ---------------------------------------------------------------------------------------
// patch

/**
 * Reads of the basis for COPY commands. Deltas made with small blocks copy very many
 * short pieces from all over the basis, and one read per COPY cost most of the patch
 * time, so a basis up to 256 MiB is read into memory once (bun 1.4.4 → 1.4.5, 107 MB
 * with 32-byte blocks: 8.5 s with a 1 MiB read window, ~0.6 s from memory); a larger
 * one is read through a 256 KiB window, which serves forward-moving COPYs.
 */
class BasisReader {
  static readonly IN_MEMORY_MAX = 256 * 1024 * 1024;
  readonly #fh: FileHandle;
  readonly #path: string;
  readonly #size: number;
  #buf: Buffer | undefined;
  #start = 0;
  #length = 0;
  #whole = false;

  constructor(fh: FileHandle, path: string, size: number) {
    this.#fh = fh;
    this.#path = path;
    this.#size = size;
  }

  /** Copies up to `want` basis bytes at `position` into `target`; 0 at the end of the basis. */
  async copy(target: Uint8Array, want: number, position: number): Promise<number> {
    if (this.#buf === undefined) {
      this.#whole = this.#size <= BasisReader.IN_MEMORY_MAX;
      this.#buf = Buffer.allocUnsafeSlow(this.#whole ? this.#size : 256 * 1024);
      if (this.#whole) this.#length = await this.#readFull(this.#buf, 0);
    }
    if (!this.#whole) {
      if (want >= this.#buf.length) return this.#read(target, want, position);
      if (position < this.#start || position + want > this.#start + this.#length) {
        this.#length = await this.#read(this.#buf, this.#buf.length, position);
        this.#start = position;
      }
    }
    const n = Math.max(0, Math.min(want, this.#start + this.#length - position));
    target.set(this.#buf.subarray(position - this.#start, position - this.#start + n), 0);
    return n;
  }

  async #readFull(buf: Buffer, position: number): Promise<number> {
    let got = 0;
    while (got < buf.length) {
      const n = await this.#read(buf.subarray(got), buf.length - got, position + got);
      if (n === 0) break;
      got += n;
    }
    return got;
  }

  async #read(target: Uint8Array, want: number, position: number): Promise<number> {
    try {
      return (await this.#fh.read(target, 0, want, position)).bytesRead;
    } catch (cause) {
      throw ioError('read', this.#path, cause);
    }
  }
}

/** Options of {@link rdiffPatch}. */
export type RdiffPatchOptions = RdiffCommonOptions;

/** What {@link rdiffPatch} wrote. */
export interface RdiffPatchReport extends DeltaStats {
  /** Bytes of delta read. */
  deltaBytes: number;
  /** Bytes written: the new file's length. */
  outputBytes: number;
  seconds: number;
}

/**
 * Applies a librsync delta to `basis` (a file: COPY commands read it at any offset) and
 * writes the result to `output`, as `rdiff patch` does. The delta is streamed. A
 * malformed delta (wrong magic, reserved opcode, truncated command, bytes after END) or
 * a COPY past the end of the basis is DELTA_CORRUPT, and the output is left untouched.
 * `output` may be the basis itself (it is replaced once the result is complete).
 *
 * The delta format has no checksum of the result: check it separately when it matters.
 *
 * @example
 * ```ts
 * await rdiffPatch('old.bin', 'new.delta', 'new.bin');   // rdiff patch old.bin new.delta new.bin
 * ```
 */
export function rdiffPatch(
  basis: string,
  delta: RdiffInput | Uint8Array,
  output: RdiffOutput,
  options: RdiffPatchOptions = {},
): Promise<RdiffPatchReport> {
  return patch(basis, delta, output, options);
}

/**
 * {@link rdiffPatch} into a sink of gosync's own (no file is created, committed or removed):
 * each `write` is awaited before the buffer holding its bytes is reused, and a rejected
 * write rejects the patch.
 */
export function rdiffPatchInto(
  basis: string,
  delta: RdiffInput | Uint8Array,
  sink: OutputSink,
  options: RdiffPatchOptions = {},
): Promise<RdiffPatchReport> {
  return patch(basis, delta, new Through(sink), options);
}

async function patch(
  basis: string,
  delta: RdiffInput | Uint8Array,
  output: RdiffOutput | Through,
  options: RdiffPatchOptions,
): Promise<RdiffPatchReport> {
  const started = performance.now();
  const { signal, onProgress, overwrite = true } = options;
  throwIfAborted(signal);
  if (typeof basis !== 'string') throw new TypeError('Cannot patch: the basis must be a file path (COPY commands read it at any offset)');
  const { fh, size: basisSize } = await openFile(basis);
  const src: Source | undefined =
    delta instanceof Uint8Array
      ? undefined
      : await openSource(delta, 'delta').catch(async (err: unknown) => {
          await fh.close();
          throw err;
        });
  try {
    const parser = new LibrsyncDeltaParser();
    const window = new BasisReader(fh, basis, basisSize);
    const outputBytes = await withSink(output, overwrite, async (sink) => {
      const apply = async (chunk: Uint8Array): Promise<void> => {
        for (const e of parser.push(chunk)) {
          if (e.type === 'literal') {
            await sink.write(e.data);
            continue;
          }
          if (e.type === 'end') continue;
          const { offset, length } = e;
          if (offset + length > basisSize) {
            throw new SyncError(
              ErrorCodes.DELTA_CORRUPT,
              `Cannot apply the librsync delta: a COPY of ${length} bytes at ${offset} goes past the end of the ${basisSize}-byte basis ${basis}`,
              { path: basis, offset },
            );
          }
          let done = 0;
          while (done < length) {
            const room = await sink.room(length - done);
            const want = Math.min(room.length, length - done);
            const got = await window.copy(room, want, offset + done);
            if (got === 0)
              throw new SyncError(
                ErrorCodes.SOURCE_CHANGED,
                `Cannot apply the librsync delta: the basis ${basis} ended at ${offset + done} while being read (it changed)`,
                { path: basis, offset: offset + done },
              );
            sink.advance(got);
            done += got;
          }
        }
      };
      let done = 0;
      if (src) {
        for await (const chunk of src.chunks(signal)) {
          await apply(chunk);
          done += chunk.length;
          onProgress?.(done, src.size);
        }
      } else {
        await apply(delta as Uint8Array);
        done = (delta as Uint8Array).length;
        onProgress?.(done, done);
      }
      parser.end();
      throwIfAborted(signal);
      return sink.bytes;
    });
    return {
      ...parser.stats,
      deltaBytes: parser.position,
      outputBytes,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await src?.close();
    await fh.close().catch(() => {});
  }
}
