/**
 * Applies a bsdiff-class delta (format.ts) streaming, in bounded memory: the old file is read
 * by ranges, the streams are decoded as they are consumed (a zstd stream holds at most a 2^27
 * window, the diff model at most 40 MiB of tables), and the new file comes out in chunks. Every control entry is checked before any
 * byte it describes is produced; the caller checks the whole result against its digest.
 */
import { Readable } from 'node:stream';
import { constants, createZstdDecompress } from 'node:zlib';
import { ErrorCodes, SyncError, throwIfAborted } from '../../core/errors.js';
import { DiffModelDecoder, diffModelTableBits } from './diff-model.js';
import { BSDIFF_WINDOW_LOG_MAX, type DecodeBsdiffOptions, decodeBsdiffDelta } from './format.js';

/** Random reads of the old file. */
export interface OldFileReader {
  /** The size of the old file. */
  readonly size: number;
  /** Exactly `length` bytes from `position` (within the file). */
  read(position: number, length: number): Promise<Uint8Array>;
}

/** Options of {@link applyBsdiffDelta}. */
export interface ApplyBsdiffOptions extends DecodeBsdiffOptions {
  /** The largest chunk produced (default 1 MiB). */
  chunkSize?: number;
  signal?: AbortSignal;
}

function corrupt(state: string, cause?: unknown): SyncError {
  return new SyncError(ErrorCodes.DELTA_CORRUPT, `Cannot apply the bsdiff delta: ${state}`, cause === undefined ? {} : { cause });
}

/** Takes exact byte counts from one decompressed stream. */
class StreamReader {
  private readonly chunks: AsyncIterator<Buffer>;
  private current: Uint8Array = new Uint8Array(0);
  private offset = 0;

  constructor(
    compressed: Uint8Array,
    private readonly name: string,
  ) {
    const inflate = createZstdDecompress({ params: { [constants.ZSTD_d_windowLogMax]: BSDIFF_WINDOW_LOG_MAX } });
    // The iterator reports errors while it runs; a frame still decoding when it is closed may
    // fail afterwards, and that late error must not become an uncaught 'error' event.
    inflate.on('error', () => {});
    this.chunks = Readable.from([compressed], { objectMode: false }).pipe(inflate)[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    while (this.offset === this.current.length) {
      let step: IteratorResult<Buffer>;
      try {
        step = await this.chunks.next();
      } catch (cause) {
        throw corrupt(`the ${this.name} stream does not decompress`, cause);
      }
      if (step.done) return false;
      this.current = step.value;
      this.offset = 0;
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

  /** One LEB128 varint (control stream). */
  async uvarint(): Promise<number> {
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
      await this.chunks.return?.();
    } catch {}
  }
}

/** The difference bytes, however the diff stream is coded. */
interface DiffSource {
  /** Fills `out` with the next `out.length` new bytes, from the old bytes `base`. */
  add(out: Uint8Array, base: Uint8Array): Promise<void>;
  atEnd(): Promise<boolean>;
  close(): Promise<void>;
}

class ZstdDiff implements DiffSource {
  constructor(private readonly reader: StreamReader) {}

  async add(out: Uint8Array, base: Uint8Array): Promise<void> {
    await this.reader.take(out, 0, out.length);
    for (let i = 0; i < out.length; i++) out[i] = out[i]! + base[i]!;
  }

  atEnd(): Promise<boolean> {
    return this.reader.atEnd();
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

  async add(out: Uint8Array, base: Uint8Array): Promise<void> {
    const decoder = this.decoder;
    for (let i = 0; i < out.length; i++) {
      const b = base[i]!;
      out[i] = decoder.decode(b) + b;
    }
  }

  async atEnd(): Promise<boolean> {
    return this.decoder.atEnd();
  }

  async close(): Promise<void> {}
}

/** The readers of the three streams, closed together. */
interface Streams {
  control: StreamReader;
  diff: DiffSource;
  extra: StreamReader;
}

/**
 * The new file rebuilt from `old` and `delta`, in chunks of at most `chunkSize` bytes.
 * A damaged or hostile delta rejects with DELTA_CORRUPT before the first byte it would
 * make wrong: a truncated file, wrong magic or version, trailing bytes, a stream that does
 * not decompress, a control entry reading outside the old file, or more or less output than
 * the header's new size.
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
  const diff =
    header.diffCodec === 'zstd' ? new ZstdDiff(new StreamReader(header.diff, 'diff')) : new ModelDiff(header.diff, header.newSize);
  const streams: Streams = { control: new StreamReader(header.control, 'control'), diff, extra: new StreamReader(header.extra, 'extra') };
  try {
    yield* produce(header.newSize, old, streams, chunkSize, options.signal);
  } finally {
    await Promise.all([streams.control.close(), streams.diff.close(), streams.extra.close()]);
  }
}

async function* produce(
  newSize: number,
  old: OldFileReader,
  streams: Streams,
  chunkSize: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array> {
  let written = 0;
  let oldPos = 0;
  while (written < newSize) {
    throwIfAborted(signal);
    if (await streams.control.atEnd()) throw corrupt(`the control stream ends after ${written} of ${newSize} bytes`);
    const add = await streams.control.uvarint();
    const extra = await streams.control.uvarint();
    const zigzag = await streams.control.uvarint();
    const seek = zigzag % 2 === 1 ? -(zigzag + 1) / 2 : zigzag / 2;
    if (add > newSize - written || extra > newSize - written - add)
      throw corrupt(`an entry adds ${add} + ${extra} bytes after ${written} of ${newSize}`);
    if (oldPos + add > old.size) throw corrupt(`an entry reads ${add} bytes at ${oldPos} of an old file of ${old.size}`);
    const nextPos = oldPos + add + seek;
    if (nextPos < 0 || nextPos > old.size) throw corrupt(`an entry seeks to ${nextPos}, outside the old file of ${old.size} bytes`);
    for (let done = 0; done < add; ) {
      const n = Math.min(chunkSize, add - done);
      const base = await old.read(oldPos + done, n);
      if (base.length !== n) throw corrupt(`the old file gave ${base.length} bytes for ${n}`);
      const out = new Uint8Array(n);
      await streams.diff.add(out, base);
      done += n;
      yield out;
    }
    for (let done = 0; done < extra; ) {
      const n = Math.min(chunkSize, extra - done);
      const out = new Uint8Array(n);
      await streams.extra.take(out, 0, n);
      done += n;
      yield out;
    }
    written += add + extra;
    oldPos = nextPos;
  }
  if (!(await streams.control.atEnd())) throw corrupt('the control stream goes on past the new size');
  if (!(await streams.diff.atEnd())) throw corrupt('the diff stream goes on past the new size');
  if (!(await streams.extra.atEnd())) throw corrupt('the extra stream goes on past the new size');
}
