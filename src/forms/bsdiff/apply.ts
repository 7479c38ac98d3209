/**
 * Applies a bsdiff-class delta (format.ts) streaming, in bounded memory: the old file is read
 * in 64 KiB blocks kept in an LRU cache (64 MiB by default), the streams are decoded as they
 * are consumed in pieces of 1 MiB (a zstd stream holds at most a 2^27 window, the diff model
 * at most 2.5 MiB of tables), and the new file comes out in chunks of `chunkSize`. Every
 * control entry is checked before any byte it describes is produced; the caller checks the
 * whole result against its digest.
 *
 * Speed: with the diff stream in runs (runs.ts), each piece of old bytes is copied at once and
 * only the non-zero differences are added; a control entry or a run costs no await unless a
 * stream piece ends. bun 1.4.4 → 1.4.5 (107 MB, 50 k entries, 1.9 M runs) applies in
 * 0.17–0.25 s of CPU without I/O, 0.36–0.6 s with the reads of the old file (readInto) and
 * SHA-256 of the output, 0.6–0.8 s with `read` (a 2-core machine under load; medians vary by
 * twice). The model decodes every byte: about 16 MB/s (esbuild 0.25.0 → 0.25.1's 10 MB of
 * differences in 0.6 s).
 */
import { constants, createZstdDecompress } from 'node:zlib';
import { ErrorCodes, SyncError, throwIfAborted } from '../../core/errors.js';
import { DiffModelDecoder, diffModelTableBits } from './diff-model.js';
import {
  BSDIFF_HEADER_SIZE,
  BSDIFF_WINDOW_LOG_MAX,
  type BsdiffHeader,
  type BsdiffStreamName,
  type DecodeBsdiffOptions,
  decodeBsdiffDelta,
  decodeBsdiffHeader,
} from './format.js';

/** Random reads of the old file. */
export interface OldFileReader {
  /** The size of the old file. */
  readonly size: number;
  /** Exactly `length` bytes from `position` (within the file). */
  read(position: number, length: number): Promise<Uint8Array>;
  /**
   * Optional, used instead of `read` when given: fills `into` from `position` and says how
   * many bytes it read. The apply then reuses the buffers of the blocks it drops, where `read`
   * costs a new buffer per block (fresh memory: a page fault per 4 KiB).
   */
  readInto?(position: number, into: Uint8Array): Promise<number>;
}

/** Options of {@link applyBsdiffDelta}. */
export interface ApplyBsdiffOptions extends DecodeBsdiffOptions {
  /** The largest chunk produced (default 1 MiB). */
  chunkSize?: number;
  /** How many bytes of the old file are kept once read, in blocks of 64 KiB (default 64 MiB). */
  oldCacheSize?: number;
  /**
   * The output chunks are the consumer's only until it asks for the next one: their memory is
   * then reused (default false: every chunk is new). Fresh memory costs a page fault per 4 KiB
   * and garbage collection: 107 chunks of 1 MiB for the bun delta.
   */
  reuseChunks?: boolean;
  signal?: AbortSignal;
}

function corrupt(state: string, cause?: unknown): SyncError {
  return new SyncError(ErrorCodes.DELTA_CORRUPT, `Cannot apply the bsdiff delta: ${state}`, cause === undefined ? {} : { cause });
}

/** The size of the pieces decompressed. */
const PIECE_SIZE = 1 << 20;
/** The size of the reads of the old file. */
const OLD_BLOCK_SIZE = 1 << 16;

/** Takes exact byte counts from one decompressed stream. */
class StreamReader {
  private readonly chunks: AsyncIterator<Buffer>;
  /** The piece being read, and the position in it. */
  current: Uint8Array = new Uint8Array(0);
  offset = 0;

  private readonly inflate: ReturnType<typeof createZstdDecompress>;

  /** A stream whose compressed bytes are all here (`compressed`), or fed as they arrive. */
  constructor(
    readonly name: string,
    compressed?: Uint8Array,
  ) {
    const inflate = createZstdDecompress({
      chunkSize: PIECE_SIZE,
      params: { [constants.ZSTD_d_windowLogMax]: BSDIFF_WINDOW_LOG_MAX },
    });
    // The iterator reports errors while it runs; a frame still decoding when it is closed may
    // fail afterwards, and that late error must not become an uncaught 'error' event.
    inflate.on('error', () => {});
    if (compressed !== undefined) inflate.end(compressed);
    this.inflate = inflate;
    this.chunks = inflate[Symbol.asyncIterator]();
  }

  /** More compressed bytes, as they arrive (buffered by the stream until they are decoded). */
  feed(compressed: Uint8Array): void {
    this.inflate.write(compressed);
  }

  /** No more compressed bytes. */
  end(): void {
    this.inflate.end();
  }

  /** The compressed bytes will not all come: `error` is what the next read of the stream throws. */
  fail(error: Error): void {
    this.inflate.destroy(error);
  }

  /**
   * The next piece, asked for as soon as the one before arrived: the stream decompresses it
   * on the thread pool while this one is used (without it the thread waited for each piece:
   * 0.55 of the 0.95 s the bun delta took to apply was idle, node --cpu-prof).
   */
  private pending: Promise<IteratorResult<Buffer>> | undefined;

  /** Makes a byte available; false at the end of the stream. */
  async fill(): Promise<boolean> {
    while (this.offset === this.current.length) {
      let step: IteratorResult<Buffer>;
      try {
        step = await (this.pending ?? this.chunks.next());
      } catch (cause) {
        this.pending = undefined;
        // A failure of the delta's own download (fail()) is reported as it is.
        if (SyncError.is(cause)) throw cause;
        throw corrupt(`the ${this.name} stream does not decompress`, cause);
      }
      this.pending = undefined;
      if (step.done) return false;
      this.current = step.value;
      this.offset = 0;
      this.pending = this.chunks.next();
      // Rejections are reported when the piece is awaited (above), or dropped at close.
      this.pending.catch(() => {});
    }
    return true;
  }

  /** The next `length` bytes copied into `into` at `at`. */
  async take(into: Uint8Array, at: number, length: number): Promise<void> {
    let done = 0;
    while (done < length) {
      if (!(await this.fill())) throw corrupt(`the ${this.name} stream ends early`);
      const n = Math.min(length - done, this.current.length - this.offset);
      into.set(this.current.subarray(this.offset, this.offset + n), at + done);
      this.offset += n;
      done += n;
    }
  }

  /**
   * One LEB128 varint when the piece holds all of it (-1 when it does not, nothing consumed):
   * the path of nearly every number, without an await.
   */
  quickUvarint(): number {
    const bytes = this.current;
    const end = Math.min(bytes.length, this.offset + 8);
    let value = 0;
    let scale = 1;
    for (let at = this.offset; at < end; at++) {
      const b = bytes[at]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        this.offset = at + 1;
        return value;
      }
      scale *= 0x80;
    }
    if (end - this.offset === 8) throw corrupt(`a number of the ${this.name} stream is too long`);
    return -1;
  }

  /** One LEB128 varint, across pieces. */
  async uvarint(): Promise<number> {
    const quick = this.quickUvarint();
    if (quick >= 0) return quick;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (!(await this.fill())) throw corrupt(`the ${this.name} stream ends inside a number`);
      const b = this.current[this.offset++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 0x80;
    }
    throw corrupt(`a number of the ${this.name} stream is too long`);
  }

  async atEnd(): Promise<boolean> {
    return !(await this.fill());
  }

  /** Stops the decompression; a stream not read to its end may fail as it stops, which says nothing more. */
  async close(): Promise<void> {
    try {
      await this.pending;
    } catch {}
    this.pending = undefined;
    try {
      await this.chunks.return?.();
    } catch {}
  }
}

/** The difference bytes, however the diff stream is coded. */
interface DiffSource {
  /** Writes the next `length` new bytes to out[at..], adding the differences to base[from..]. */
  add(out: Uint8Array, at: number, base: Uint8Array, from: number, length: number): Promise<void>;
  atEnd(): Promise<boolean>;
  close(): Promise<void>;
}

class ZstdDiff implements DiffSource {
  constructor(private readonly reader: StreamReader) {}

  async add(out: Uint8Array, at: number, base: Uint8Array, from: number, length: number): Promise<void> {
    const reader = this.reader;
    for (let done = 0; done < length; ) {
      if (!(await reader.fill())) throw corrupt('the diff stream ends early');
      const n = Math.min(length - done, reader.current.length - reader.offset);
      const diff = reader.current;
      const shift = reader.offset - (at + done);
      const baseShift = from - at;
      for (let i = at + done, end = at + done + n; i < end; i++) out[i] = diff[i + shift]! + base[i + baseShift]!;
      reader.offset += n;
      done += n;
    }
  }

  atEnd(): Promise<boolean> {
    return this.reader.atEnd();
  }

  close(): Promise<void> {
    return this.reader.close();
  }
}

/** The runs form (runs.ts): zero runs are copies of the old bytes. */
class RunsDiff implements DiffSource {
  private zeros = 0;
  private literals = 0;

  constructor(private readonly reader: StreamReader) {}

  async add(out: Uint8Array, at: number, base: Uint8Array, from: number, length: number): Promise<void> {
    const reader = this.reader;
    // Copied whole first (one memcpy): the zero runs are then only skipped.
    out.set(base.subarray(from, from + length), at);
    const end = at + length;
    let i = at;
    // The state in locals: this loop runs once per run (1.9 M times for a 107 MB executable).
    let zeros = this.zeros;
    let literals = this.literals;
    while (i < end) {
      if (zeros > 0) {
        const n = Math.min(zeros, end - i);
        zeros -= n;
        i += n;
      } else if (literals > 0) {
        if (reader.offset === reader.current.length && !(await reader.fill())) throw corrupt('the diff stream ends early');
        const diff = reader.current;
        const offset = reader.offset;
        const n = Math.min(literals, end - i, diff.length - offset);
        const shift = offset - i;
        for (let k = i; k < i + n; k++) out[k] = out[k]! + diff[k + shift]!;
        reader.offset = offset + n;
        literals -= n;
        i += n;
      } else {
        const bytes = reader.current;
        const offset = reader.offset;
        // Nearly every pair is two one-byte numbers.
        if (offset + 2 <= bytes.length && bytes[offset]! < 0x80 && bytes[offset + 1]! < 0x80) {
          zeros = bytes[offset]!;
          literals = bytes[offset + 1]!;
          reader.offset = offset + 2;
        } else {
          zeros = reader.quickUvarint();
          if (zeros < 0) {
            if (!(await reader.fill())) throw corrupt('the diff stream ends early');
            zeros = await reader.uvarint();
          }
          literals = reader.quickUvarint();
          if (literals < 0) literals = await reader.uvarint();
        }
      }
    }
    this.zeros = zeros;
    this.literals = literals;
  }

  async atEnd(): Promise<boolean> {
    return this.zeros === 0 && this.literals === 0 && (await this.reader.atEnd());
  }

  close(): Promise<void> {
    return this.reader.close();
  }
}

class ModelDiff implements DiffSource {
  private readonly decoder: DiffModelDecoder;

  constructor(coded: Uint8Array, newSize: number) {
    this.decoder = new DiffModelDecoder(coded, diffModelTableBits(newSize));
  }

  async add(out: Uint8Array, at: number, base: Uint8Array, from: number, length: number): Promise<void> {
    this.decoder.add(out, at, base, from, length);
  }

  async atEnd(): Promise<boolean> {
    return this.decoder.atEnd();
  }

  async close(): Promise<void> {}
}

/**
 * The blocks of the old file read so far, the least recently used dropped past the capacity.
 * The entries of a large delta jump around the old file (bun 1.4.4 → 1.4.5: 50 k entries of
 * 2 KiB on average, reading from several regions in turn), so one window would be read again
 * for nearly every entry; 64 KiB blocks in 64 MiB take 3.6 k reads there.
 */
class OldBlocks {
  private readonly blocks = new Map<number, Uint8Array>();
  private readonly capacity: number;

  constructor(
    private readonly old: OldFileReader,
    cacheSize: number,
  ) {
    this.capacity = Math.max(1, Math.floor(cacheSize / OLD_BLOCK_SIZE));
  }

  /** The block holding old byte `position` if it is cached (an await less). */
  cached(position: number): Uint8Array | undefined {
    const index = Math.floor(position / OLD_BLOCK_SIZE);
    const blocks = this.blocks;
    const cached = blocks.get(index);
    if (cached !== undefined) {
      blocks.delete(index);
      blocks.set(index, cached);
    }
    return cached;
  }

  /** The block holding old byte `position`, read when it is not cached. */
  async block(position: number): Promise<Uint8Array> {
    const cached = this.cached(position);
    if (cached !== undefined) return cached;
    const blocks = this.blocks;
    const index = Math.floor(position / OLD_BLOCK_SIZE);
    const start = index * OLD_BLOCK_SIZE;
    const n = Math.min(OLD_BLOCK_SIZE, this.old.size - start);
    let dropped: Uint8Array | undefined;
    if (blocks.size >= this.capacity) {
      const [oldest, bytes] = blocks.entries().next().value!;
      blocks.delete(oldest);
      dropped = bytes;
    }
    let bytes: Uint8Array;
    let got: number;
    if (this.old.readInto === undefined) {
      bytes = await this.old.read(start, n);
      got = bytes.length;
    } else {
      // With readInto every block is a view of a buffer of OLD_BLOCK_SIZE owned here.
      bytes = new Uint8Array(dropped === undefined ? new ArrayBuffer(OLD_BLOCK_SIZE) : dropped.buffer, 0, n);
      got = await this.old.readInto(start, bytes);
    }
    if (got !== n) throw corrupt(`the old file gave ${got} bytes for ${n}`);
    blocks.set(index, bytes);
    return bytes;
  }
}

/** The readers of the three streams, closed together. */
interface Streams {
  control: StreamReader;
  diff: DiffSource;
  extra: StreamReader;
}

function diffSource(codec: 'zstd' | 'model' | 'runs', coded: Uint8Array, newSize: number): DiffSource {
  if (codec === 'model') return new ModelDiff(coded, newSize);
  const reader = new StreamReader('diff', coded);
  return codec === 'runs' ? new RunsDiff(reader) : new ZstdDiff(reader);
}

/**
 * The new file rebuilt from `old` and `delta`, in chunks of at most `chunkSize` bytes.
 * A damaged or hostile delta rejects with DELTA_CORRUPT before the first byte it would
 * make wrong (the bytes before it are produced): a truncated file, wrong magic or version,
 * trailing bytes, a stream that does not decompress, a control entry reading outside the old
 * file, or more or less output than the header's new size.
 */
export async function* applyBsdiffDelta(
  delta: Uint8Array,
  old: OldFileReader,
  options: ApplyBsdiffOptions = {},
): AsyncGenerator<Uint8Array> {
  const header = decodeBsdiffDelta(delta, options);
  if (header.oldSize !== old.size) throw corrupt(`it is for an old file of ${header.oldSize} bytes, this one has ${old.size}`);
  const chunkSize = Math.max(1, Math.min(options.chunkSize ?? 1 << 20, header.newSize || 1));
  // The model reads its first bytes at once (and may refuse them): before any stream starts.
  const diff = diffSource(header.diffCodec, header.diff, header.newSize);
  const streams: Streams = { control: new StreamReader('control', header.control), diff, extra: new StreamReader('extra', header.extra) };
  try {
    const blocks = new OldBlocks(old, options.oldCacheSize ?? 64 << 20);
    yield* produce(header.newSize, blocks, old.size, streams, chunkSize, options);
  } finally {
    await Promise.all([streams.control.close(), streams.diff.close(), streams.extra.close()]);
  }
}

/**
 * {@link applyBsdiffDelta} for a delta that is still arriving, in `chunks` (a download): the
 * output starts as soon as the header and the first bytes of each stream are in, and each
 * stream is decoded as its bytes come. The streams are in the file one after the other
 * (format.ts), so an apply that needs a stream further on waits for the bytes before it;
 * the encoder puts the largest stream last so that the wait is short. A delta whose diff is
 * coded with the model (small files only) is gathered whole first. Bytes missing at the end,
 * or bytes after it, reject with DELTA_CORRUPT; an error of `chunks` (the download) rejects
 * the apply as it is.
 */
export async function* applyBsdiffDeltaChunks(
  chunks: AsyncIterable<Uint8Array>,
  old: OldFileReader,
  options: ApplyBsdiffOptions = {},
): AsyncGenerator<Uint8Array> {
  const input = chunks[Symbol.asyncIterator]();
  let head: Uint8Array = new Uint8Array(0);
  while (head.length < BSDIFF_HEADER_SIZE) {
    const step = await input.next();
    if (step.done) break;
    head = head.length === 0 ? step.value : Buffer.concat([head, step.value]);
  }
  const header = decodeBsdiffHeader(head, options);
  if (header.oldSize !== old.size) throw corrupt(`it is for an old file of ${header.oldSize} bytes, this one has ${old.size}`);
  if (header.diffCodec === 'model') {
    const parts: Uint8Array[] = [head];
    for (let step = await input.next(); !step.done; step = await input.next()) parts.push(step.value);
    yield* applyBsdiffDelta(Buffer.concat(parts), old, options);
    return;
  }
  const readers: Record<BsdiffStreamName, StreamReader> = {
    control: new StreamReader('control'),
    diff: new StreamReader('diff'),
    extra: new StreamReader('extra'),
  };
  const pump = demultiplex(head.subarray(BSDIFF_HEADER_SIZE), input, header, readers);
  const chunkSize = Math.max(1, Math.min(options.chunkSize ?? 1 << 20, header.newSize || 1));
  const diff = header.diffCodec === 'runs' ? new RunsDiff(readers.diff) : new ZstdDiff(readers.diff);
  const streams: Streams = { control: readers.control, diff, extra: readers.extra };
  let finished = false;
  try {
    const blocks = new OldBlocks(old, options.oldCacheSize ?? 64 << 20);
    yield* produce(header.newSize, blocks, old.size, streams, chunkSize, options);
    // Every stream ended where the header says: only bytes after the last one can be wrong now.
    const late = await pump.done;
    finished = true;
    if (late !== undefined) throw late;
  } finally {
    if (!finished) pump.stop();
    await Promise.all([streams.control.close(), streams.diff.close(), streams.extra.close(), pump.done]);
  }
}

/**
 * Hands the bytes of the delta after its header to the stream each belongs to, as they
 * arrive; a short or long delta, or a failed download, fails the streams still open.
 */
function demultiplex(
  first: Uint8Array,
  input: AsyncIterator<Uint8Array>,
  header: BsdiffHeader,
  readers: Record<BsdiffStreamName, StreamReader>,
): { done: Promise<SyncError | undefined>; stop(): void } {
  const layout = header.layout;
  let index = 0;
  let left = layout[0]!.length;
  let received = BSDIFF_HEADER_SIZE;
  let stopped = false;
  const advance = () => {
    while (index < layout.length && left === 0) {
      readers[layout[index]!.stream].end();
      index++;
      left = layout[index]?.length ?? 0;
    }
  };
  const route = (chunk: Uint8Array) => {
    received += chunk.length;
    let at = 0;
    advance();
    while (at < chunk.length) {
      if (index === layout.length) throw corrupt(`it goes on past the ${header.totalSize} bytes its header describes`);
      const n = Math.min(left, chunk.length - at);
      readers[layout[index]!.stream].feed(chunk.subarray(at, at + n));
      at += n;
      left -= n;
      advance();
    }
  };
  const failOpen = (error: Error) => {
    for (let i = index; i < layout.length; i++) readers[layout[i]!.stream].fail(error);
    index = layout.length;
  };
  // Resolves with the error of bytes after the last stream (every stream has ended then);
  // other failures go to the streams still open, whose readers throw them.
  const done = (async (): Promise<SyncError | undefined> => {
    try {
      route(first);
      for (let step = await input.next(); !step.done && !stopped; step = await input.next()) route(step.value);
      if (!stopped && index < layout.length)
        throw corrupt(`it ends after ${received} of the ${header.totalSize} bytes its header describes`);
    } catch (cause) {
      const error = SyncError.is(cause) ? cause : corrupt('its download failed', cause);
      if (index === layout.length) return stopped ? undefined : error;
      if (!stopped) failOpen(error);
    }
    return undefined;
  })();
  return {
    done,
    stop() {
      stopped = true;
      void input.return?.().catch(() => {});
    },
  };
}

/** An output chunk, not zeroed since every byte is written before it is produced. */
function outputChunk(size: number): Uint8Array {
  const buffer = Buffer.allocUnsafeSlow(size);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, size);
}

/** One control entry, checked against the sizes. */
interface Entry {
  add: number;
  extra: number;
  nextPos: number;
}

async function readEntry(
  control: StreamReader,
  entry: Entry,
  written: number,
  newSize: number,
  oldPos: number,
  oldSize: number,
): Promise<void> {
  if (control.offset === control.current.length && (await control.atEnd()))
    throw corrupt(`the control stream ends after ${written} of ${newSize} bytes`);
  // Awaited only when a number crosses the end of a piece.
  let add = control.quickUvarint();
  if (add < 0) add = await control.uvarint();
  let extra = control.quickUvarint();
  if (extra < 0) extra = await control.uvarint();
  let zigzag = control.quickUvarint();
  if (zigzag < 0) zigzag = await control.uvarint();
  const seek = zigzag % 2 === 1 ? -(zigzag + 1) / 2 : zigzag / 2;
  if (add > newSize - written || extra > newSize - written - add)
    throw corrupt(`an entry adds ${add} + ${extra} bytes after ${written} of ${newSize}`);
  if (oldPos + add > oldSize) throw corrupt(`an entry reads ${add} bytes at ${oldPos} of an old file of ${oldSize}`);
  const nextPos = oldPos + add + seek;
  if (nextPos < 0 || nextPos > oldSize) throw corrupt(`an entry seeks to ${nextPos}, outside the old file of ${oldSize} bytes`);
  entry.add = add;
  entry.extra = extra;
  entry.nextPos = nextPos;
}

/**
 * Fills chunks of `chunkSize` from the entries, coalescing small ones; when an entry or a
 * stream is refused, the bytes of the entries before it are still produced, then the error.
 */
async function* produce(
  newSize: number,
  old: OldBlocks,
  oldSize: number,
  streams: Streams,
  chunkSize: number,
  options: Pick<ApplyBsdiffOptions, 'signal' | 'reuseChunks'>,
): AsyncGenerator<Uint8Array> {
  const signal = options.signal;
  // With reuseChunks, the chunk given out last is filled again once the consumer asks for more.
  const spare = options.reuseChunks === true ? outputChunk(chunkSize) : undefined;
  const nextChunk = (size: number, given: Uint8Array): Uint8Array =>
    spare === undefined ? outputChunk(size) : new Uint8Array(given.buffer, given.byteOffset, size);
  const entry: Entry = { add: 0, extra: 0, nextPos: 0 };
  let chunk = spare ?? outputChunk(chunkSize);
  let fill = 0;
  let yielded = 0;
  let written = 0;
  let oldPos = 0;
  try {
    while (written < newSize) {
      throwIfAborted(signal);
      await readEntry(streams.control, entry, written, newSize, oldPos, oldSize);
      const { add, extra } = entry;
      for (let done = 0; done < add; ) {
        if (fill === chunk.length) {
          yield chunk;
          yielded += fill;
          chunk = nextChunk(Math.min(chunkSize, newSize - yielded), chunk);
          fill = 0;
        }
        const base = old.cached(oldPos + done) ?? (await old.block(oldPos + done));
        const from = (oldPos + done) % OLD_BLOCK_SIZE;
        const n = Math.min(add - done, chunk.length - fill, base.length - from);
        await streams.diff.add(chunk, fill, base, from, n);
        fill += n;
        done += n;
      }
      for (let done = 0; done < extra; ) {
        if (fill === chunk.length) {
          yield chunk;
          yielded += fill;
          chunk = nextChunk(Math.min(chunkSize, newSize - yielded), chunk);
          fill = 0;
        }
        const n = Math.min(extra - done, chunk.length - fill);
        await streams.extra.take(chunk, fill, n);
        fill += n;
        done += n;
      }
      written += add + extra;
      oldPos = entry.nextPos;
    }
    if (!(await streams.control.atEnd())) throw corrupt('the control stream goes on past the new size');
    if (!(await streams.diff.atEnd())) throw corrupt('the diff stream goes on past the new size');
    if (!(await streams.extra.atEnd())) throw corrupt('the extra stream goes on past the new size');
  } catch (error) {
    if (fill > 0) yield chunk.subarray(0, fill);
    throw error;
  }
  if (fill > 0) yield chunk.subarray(0, fill);
}
