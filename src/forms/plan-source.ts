/**
 * A block source that serves reference ranges from the cheapest published form: raw
 * ranges of the plain file for some frames, compressed frames for others (decompressed
 * here by the codec the index names), as a {@link FetchPlan} decided. The patcher sees plain reference bytes, and
 * verifies every block as always.
 *
 * @module
 */
import { ErrorCodes, SyncError, throwIfAborted } from '../core/errors.js';
import type { BlockIndex } from '../core/index/block-index.js';
import type { FramesForm } from '../core/index/published.js';
import type { BlockSource, ByteRange, ReadRangesOptions, SourceStats } from '../core/block-source.js';
import { inflateFrame } from './inflate.js';

/**
 * Frames decoded ahead of the one in use. One is enough for the decode (a 1 MiB zstd
 * frame takes about 1.4 ms) to run beside the verification and write of the frame before
 * on a second core; more would only hold more memory.
 */
const DECODE_AHEAD = 1;

/** One piece of a requested range: from a compressed frame, or raw. */
interface Piece {
  start: number;
  end: number;
  /** Frame index, or -1 for raw. */
  frame: number;
}

/**
 * Serves reference ranges from raw ranges and compressed frames.
 *
 * @example
 * ```ts
 * const src = new PlanSource(index, plan.compressedFrames, rawHttpSource, framesHttpSource);
 * await assemble({ ..., source: src });
 * ```
 */
export class PlanSource implements BlockSource {
  readonly name: string;
  readonly #index: BlockIndex;
  readonly #form: FramesForm;
  readonly #compressed: Uint8Array;
  readonly #raw: BlockSource;
  readonly #frames: BlockSource;
  /** Compressed offset of each frame in the frames file. */
  readonly #offsets: Float64Array;

  constructor(index: BlockIndex, compressedFrames: Uint8Array, raw: BlockSource, frames: BlockSource) {
    const form = index.published?.frames;
    if (!form) throw new TypeError('Cannot plan from frames: the index lists none');
    this.#index = index;
    this.#form = form;
    this.#compressed = compressedFrames;
    this.#raw = raw;
    this.#frames = frames;
    this.name = `${raw.name} + ${frames.name}`;
    this.#offsets = new Float64Array(form.frameSizes.length + 1);
    for (let i = 0; i < form.frameSizes.length; i++) this.#offsets[i + 1] = this.#offsets[i]! + form.frameSizes[i]!;
  }

  /** The frames source's counters (the raw source keeps its own). */
  get stats(): SourceStats | undefined {
    return this.#frames.stats;
  }

  #frameRange(f: number): ByteRange {
    const bytes = this.#form.blocksPerFrame * this.#index.blockSize;
    return { start: f * bytes, end: Math.min(this.#index.fileSize, (f + 1) * bytes) };
  }

  /** Splits the requested ranges at frame boundaries and routes each piece. */
  #pieces(ranges: readonly ByteRange[]): Piece[] {
    const frameBytes = this.#form.blocksPerFrame * this.#index.blockSize;
    const out: Piece[] = [];
    for (const r of ranges) {
      for (let p = r.start; p < r.end; ) {
        const f = Math.floor(p / frameBytes);
        const end = Math.min(r.end, (f + 1) * frameBytes);
        out.push({ start: p, end, frame: this.#compressed[f] === 1 ? f : -1 });
        p = end;
      }
    }
    return out;
  }

  async *read(ranges: readonly ByteRange[], options: ReadRangesOptions = {}): AsyncGenerator<Uint8Array> {
    const { signal } = options;
    const pieces = this.#pieces(ranges);
    const rawRanges = mergeAdjacent(pieces.filter((p) => p.frame < 0));
    const frameList: number[] = [];
    for (const p of pieces) if (p.frame >= 0 && frameList[frameList.length - 1] !== p.frame) frameList.push(p.frame);
    const compressedRanges = mergeAdjacent(frameList.map((f) => ({ start: this.#offsets[f]!, end: this.#offsets[f + 1]! })));
    // Both streams are started now: each source fetches ahead concurrently, and the
    // pieces are taken from them in order.
    const rawReader = new Reader(rawRanges.length > 0 ? this.#raw.read(rawRanges, options) : undefined);
    const frameReader = new Reader(compressedRanges.length > 0 ? this.#frames.read(compressedRanges, options) : undefined);
    // Frames are decoded ahead of the reader, on libuv's pool (node:zlib's async calls),
    // while the caller verifies and writes the frame before: one decode in flight behind
    // the frame in use. Each one's compressed bytes are taken as soon as the one before
    // has its own, so the fetch is never waiting on a decode either.
    const decoding: Promise<Uint8Array>[] = [];
    let taking: Promise<unknown> = Promise.resolve();
    let next = 0;
    // The compressed bytes go into DECODE_AHEAD + 1 buffers in turn, not one fresh buffer
    // per frame: a frame's slot is taken again only once its decode has been awaited.
    // Fewer ArrayBuffers to collect: V8 starts a full collection for every few MB of them;
    // the bun pair's patch through nginx (39 MB of frames) ran 11 instead of 12 (--trace-gc;
    // 6 with --raw, 1 for the scan alone).
    let largest = 0;
    for (const f of frameList) largest = Math.max(largest, this.#form.frameSizes[f]!);
    const slots = Array.from({ length: Math.min(frameList.length, DECODE_AHEAD + 1) }, () => new Uint8Array(largest));
    const startDecode = () => {
      const slot = slots[next % slots.length]!;
      const f = frameList[next++]!;
      const packed = taking.then(() => frameReader.takeInto(slot.subarray(0, this.#form.frameSizes[f]!)));
      taking = packed;
      const out = packed.then((bytes) => this.#unpack(f, bytes, options));
      out.catch(() => {}); // rejections are seen when awaited below, or dropped on close
      decoding.push(out);
    };
    let current = -1;
    let frameData: Uint8Array | undefined;
    try {
      for (const p of pieces) {
        throwIfAborted(signal);
        if (p.frame < 0) {
          yield* rawReader.take(p.end - p.start);
          continue;
        }
        if (p.frame !== current) {
          current = p.frame;
          if (decoding.length === 0) startDecode();
          const data = decoding.shift()!;
          while (decoding.length < DECODE_AHEAD && next < frameList.length) startDecode();
          frameData = await data;
        }
        const base = this.#frameRange(p.frame).start;
        yield frameData!.subarray(p.start - base, p.end - base);
      }
    } finally {
      await Promise.allSettled(decoding);
      await rawReader.close();
      await frameReader.close();
    }
  }

  /** Decompresses frame f; a damaged frame is fetched raw instead (once), never trusted. */
  async #unpack(f: number, packed: Uint8Array, options: ReadRangesOptions): Promise<Uint8Array> {
    const want = this.#frameRange(f);
    const out = await inflateFrame(this.#form.codec, packed, want.end - want.start);
    if (out) return out;
    const parts: Uint8Array[] = [];
    try {
      for await (const c of this.#raw.read([want], options)) parts.push(Uint8Array.from(c));
    } catch (cause) {
      throw new SyncError(
        ErrorCodes.FRAME_CORRUPT,
        `Cannot use compressed frame ${f}: it does not decompress to its ${want.end - want.start} bytes, and fetching those bytes raw failed too`,
        { cause },
      );
    }
    return new Uint8Array(Buffer.concat(parts));
  }

  /** Closes the frames source; the raw source stays open (it belongs to the caller). */
  async close(): Promise<void> {
    await this.#frames.close();
  }
}

function mergeAdjacent(ranges: readonly ByteRange[]): ByteRange[] {
  const out: ByteRange[] = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last && last.end === r.start) out[out.length - 1] = { start: last.start, end: r.end };
    else out.push({ start: r.start, end: r.end });
  }
  return out;
}

/** Takes exact byte counts from a chunk stream. */
class Reader {
  readonly #it: AsyncIterator<Uint8Array> | undefined;
  #chunk: Uint8Array = new Uint8Array(0);
  #pos = 0;

  constructor(stream: AsyncIterable<Uint8Array> | undefined) {
    this.#it = stream?.[Symbol.asyncIterator]();
  }

  async #fill(): Promise<void> {
    const r = await this.#it?.next();
    if (!r || r.done)
      throw new SyncError(ErrorCodes.HTTP_RESPONSE, 'Cannot read fetched data: the source ended before delivering every range');
    this.#chunk = r.value;
    this.#pos = 0;
  }

  /** Yields the next `n` bytes as views (valid until the next call). */
  async *take(n: number): AsyncGenerator<Uint8Array> {
    while (n > 0) {
      if (this.#pos === this.#chunk.length) await this.#fill();
      const k = Math.min(n, this.#chunk.length - this.#pos);
      yield this.#chunk.subarray(this.#pos, this.#pos + k);
      this.#pos += k;
      n -= k;
    }
  }

  /** Fills `out` with the next `out.length` bytes; resolves with `out`. */
  async takeInto(out: Uint8Array): Promise<Uint8Array> {
    let got = 0;
    for await (const part of this.take(out.length)) {
      out.set(part, got);
      got += part.length;
    }
    return out;
  }

  async close(): Promise<void> {
    await this.#it?.return?.();
  }
}
