/**
 * One end of a session's connection: the greeting, then frames both ways, over any pair
 * of byte streams (an ssh child's stdio, `process.stdin`/`stdout`, an in-memory pipe).
 *
 * Each direction may switch to one compressed stream for the rest of the session (the
 * sender's direction does, right after the handshake): zstd when the session's protocol
 * version has it ({@link ZSTD_VERSION}), brotli with an older peer. Frames are then written into the
 * compressor and read out of the decompressor, and flushing at the points where the
 * peer waits for data keeps the session pipelined. Bytes are counted as they cross the
 * transport, compressed or not. Writes honour backpressure; a peer that stops reading
 * stalls the writer, never memory.
 *
 * @module
 */
import type { Writable } from 'node:stream';
import {
  constants as zc,
  createBrotliCompress,
  createBrotliDecompress,
  createZstdCompress,
  createZstdDecompress,
  type BrotliCompress,
  type BrotliDecompress,
  type ZstdCompress,
  type ZstdDecompress,
} from 'node:zlib';
import { ErrorCodes, SyncError, abortError } from '../../core/errors.js';
import { drainOrClose } from '../../util/drain.js';
import { protocolError } from './binary.js';
import { FRAME_HEADER, FrameParser, FrameType, encodeFrame, frameHeader, frameName, type Frame, type FrameTypeValue } from './frames.js';
import {
  GREETING_SIZE,
  agreeVersion,
  decodeError,
  decodeGreeting,
  encodeError,
  isPeerError,
  ZSTD_VERSION,
  type Greeting,
  type Role,
  type VersionRange,
} from './handshake.js';

/** A byte stream each way. */
export interface Transport {
  /** What the peer sends. */
  input: AsyncIterable<Uint8Array>;
  /** What this end sends. */
  output: Writable;
  /** Why the connection ended, when the transport knows (e.g. "ssh exited with code 255: …"). */
  describeEnd?(): Promise<string | undefined>;
  /** Releases the transport (ends a child process). Idempotent. */
  close(): Promise<void>;
}

/** Options of the compressed direction. */
export interface CompressionOptions {
  /** brotli quality, 0–11 (default {@link DEFAULT_QUALITY}), with a peer that does not speak zstd. */
  quality?: number;
  /** zstd level, 1–19 (default {@link DEFAULT_ZSTD_LEVEL}). */
  level?: number;
}

/**
 * brotli quality of the sender's stream. On typescript 5.5.4 → 5.6.2 (6 MB of literal
 * data in 37 changed files): quality 5 gives 888 kB in 0.10 s of CPU, 9 gives 801 kB in
 * 0.27 s, 11 gives 732 kB in 6 s; zlib level 6 gives 1.36 MB. Quality 4 is the default
 * because of large files: pushing bun 1.4.4 → 1.4.5 (89 MB of literal data) through a
 * loopback sshd took 4.6–5.1 s at quality 5 (35.5 MB sent) and 3.5–3.7 s at quality 4
 * (38.4 MB; rsync -az with zstd: 38.7 MB), quality 3 sending 39.5 MB, more than rsync -z.
 * Brotli runs on libuv's thread pool, but on two vCPUs it competes with the scan.
 */
export const DEFAULT_QUALITY = 4;
/**
 * zstd level of the sender's stream (protocol version 2). The literal data of a delta,
 * in its librsync delta, compressed as one stream (16 MiB window), against brotli
 * quality 4 (`zstdCompressSync` / `brotliCompressSync`, one process, one run):
 * typescript.js 5.5.4 → 5.6.2 (737 kB of delta) brotli 163.0 kB in 90 ms, zstd 3 168.3 kB
 * in 23 ms, zstd 6 151.9 kB in 51 ms; esbuild 0.25.0 → 0.25.1 (7.05 MB) brotli 2.82 MB in
 * 1.23 s, zstd 3 2.83 MB in 0.15 s, zstd 6 2.65 MB in 0.28 s; bun 1.4.4 → 1.4.5 (85.4 MB)
 * brotli 36.4 MB in 11.0 s, zstd 5 35.4 MB in 2.9 s, zstd 6 34.7 MB in 4.1 s (a loaded
 * machine). Level 6 sends fewer bytes than brotli 4 at a fraction of its CPU. A zstd
 * dictionary of the matched data (the copied blocks) shrinks the literal data of text by
 * 7–27% (typescript.js, jquery.js) but not of binaries (esbuild, bun), where loading it
 * costs time: not used.
 */
export const DEFAULT_ZSTD_LEVEL = 6;
/**
 * zstd level of a sender whose files add up to {@link LARGE_STREAM_BYTES} or more: there
 * the compressor's CPU is the push's wall time on a fast link. bun 1.4.4 → 1.4.5 (89 MB
 * of literal data), pushed in one process: level 6 sends 36.1 MB, level 4 37.7 MB
 * (rsync -az through ssh: 38.8 MB on the wire); `createZstdCompress` of the 107 MB file
 * alone takes 1.93 s of CPU at level 6, 1.26 s at level 4, 0.96 s at level 3 (which
 * sends 39.0 MB: more than rsync -az).
 */
export const LARGE_STREAM_ZSTD_LEVEL = 4;
/** From this many bytes of files to send on, {@link LARGE_STREAM_ZSTD_LEVEL}. */
export const LARGE_STREAM_BYTES = 64 * 1024 * 1024;

/**
 * The compression of a sender's stream that has `totalBytes` of files to send: the
 * caller's level, else {@link DEFAULT_ZSTD_LEVEL}, or {@link LARGE_STREAM_ZSTD_LEVEL} for a
 * large one.
 */
export function streamCompression(totalBytes: number, options: CompressionOptions = {}): CompressionOptions {
  if (options.level !== undefined) return options;
  return { ...options, level: totalBytes >= LARGE_STREAM_BYTES ? LARGE_STREAM_ZSTD_LEVEL : DEFAULT_ZSTD_LEVEL };
}
/** The largest zstd window a receiver accepts (2^24: 16 MiB), so a peer cannot make it allocate more. */
const ZSTD_WINDOW_LOG = 24;
/**
 * Output pieces of the compressor and decompressor (zlib's default: 16 KiB). Each piece
 * is one step of an async iteration (or one write to the transport): decompressing bun
 * 1.4.5 (107 MB) and reading it through the stream's iterator took 340-380 ms of CPU in
 * 6,595 pieces of 16 KiB, 190-270 ms in 1,064 of 128 KiB (node:zlib's zstd, one process).
 */
const STREAM_CHUNK = 128 * 1024;
/**
 * Input the sender's compressor takes ahead of its work (its writable side's high-water
 * mark). At the stream's default (64 KiB, one batch) every batch waited for the one before
 * to be compressed, so the scan and the compressor took turns instead of working at once:
 * `gosync push` of bun 1.4.4 -> 1.4.5 through a loopback sshd, 7 interleaved runs at load
 * ~1.8, median 3.58 s at 64 KiB, 3.00 s at 8 MiB.
 */
const COMPRESS_AHEAD = 8 * 1024 * 1024;
/** Frames gathered before they are written. */
const BATCH_BYTES = 64 * 1024;
/** brotli window: 16 MiB, so data repeated across files is found. */
const LGWIN = 24;

function closedError(what: string, detail: string | undefined): SyncError {
  return new SyncError(ErrorCodes.NETWORK, `Cannot finish the session: ${what} closed the connection${detail ? ` (${detail})` : ''}`);
}

/** A rate limiter (`--bwlimit`): `take(n)` waits until `n` more bytes fit the rate (util/token-bucket.ts's TokenBucket). */
export interface RateLimit {
  take(bytes: number, signal?: AbortSignal): Promise<void>;
}

/** Options of a {@link Channel}. */
export interface ChannelOptions {
  /** Names the peer in messages. */
  peer: string;
  signal?: AbortSignal;
  /** Caps the bytes written to the transport (compressed, as they cross the wire). */
  limitOut?: RateLimit;
  /** Caps the bytes read from the transport. */
  limitIn?: RateLimit;
}

/** The framed connection of one end. */
export class Channel {
  readonly #transport: Transport;
  /** Names the peer in messages: "the remote end", "the client". */
  readonly peer: string;
  readonly #signal: AbortSignal | undefined;
  /** Bytes read from and written to the transport. */
  bytesIn = 0;
  bytesOut = 0;

  // Reading
  #raw: AsyncIterator<Uint8Array>;
  /** Bytes read but not yet parsed (before the greeting is complete, or at the switch to decompression). */
  #held: Uint8Array[] = [];
  #source: AsyncIterator<Uint8Array>;
  #parser: FrameParser;
  #queue: Frame[] = [];
  #ended = false;
  #decompressor: BrotliDecompress | ZstdDecompress | undefined;
  /** The transport ended under the decompressor. */
  #rawEnded = false;
  /** Switch incoming bytes to the compressed stream right after the first frame this accepts. */
  #switchAfter: ((f: Frame) => boolean) | undefined;
  /** The peer's greeting, once read. */
  peerGreeting: Greeting | undefined;
  /** The protocol version of the session, once the greetings are exchanged. */
  version = 0;
  #greeting: Role | undefined;
  /** The versions this end announced, when not this build's. */
  #local: VersionRange | undefined;
  /** The peer's greeting being read (once). */
  #greetingRead: Promise<void> | undefined;
  /** Consumes the first incoming frame (the handshake's answer). */
  #first: ((f: Frame) => void) | undefined;

  // Writing
  #compressor: BrotliCompress | ZstdCompress | undefined;
  /** How the compressor flushes: brotli's or zstd's operation. */
  #flushKind = 0;
  #writeError: Error | undefined;
  #outputEnded = false;
  #batch: Uint8Array[] = [];
  #batchBytes = 0;
  #batchScheduled = false;
  #aborted = false;
  /** Caps the bytes written ({@link ChannelOptions.limitOut}) and read ({@link ChannelOptions.limitIn}). */
  readonly #limitOut: RateLimit | undefined;
  readonly #limitIn: RateLimit | undefined;

  constructor(transport: Transport, options: ChannelOptions) {
    this.#transport = transport;
    this.peer = options.peer;
    this.#signal = options.signal;
    this.#limitOut = options.limitOut;
    this.#limitIn = options.limitIn;
    this.#raw = this.#countIn(transport.input)[Symbol.asyncIterator]();
    this.#source = this.#raw;
    this.#parser = new FrameParser(`the stream from ${this.peer}`);
    transport.output.on('error', (err) => {
      this.#writeError ??= err;
    });
  }

  async *#countIn(input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    for await (const chunk of input) {
      this.bytesIn += chunk.length;
      // Not reading stalls the peer (pipe or TCP flow control): the rate is capped at this end.
      await this.#limitIn?.take(chunk.length, this.#signal);
      yield chunk;
    }
  }

  // ---------------------------------------------------------------------------------
  // Reading

  /**
   * The peer's greeting is read and checked (magic, role, a common protocol version)
   * before the first frame {@link next} returns; PROTOCOL errors otherwise. `local`: the
   * versions this end announced in its greeting (default: all this build speaks).
   */
  expectGreeting(role: Role, local?: VersionRange): void {
    this.#greeting = role;
    this.#local = local;
  }

  /**
   * Resolves once the peer's greeting (see {@link expectGreeting}) is read and checked,
   * so that {@link version} is the session's; throws as {@link next} would. At once
   * when no greeting is expected.
   */
  greeted(): Promise<void> {
    if (this.#greeting !== undefined) {
      const role = this.#greeting;
      this.#greeting = undefined;
      this.#greetingRead = this.#takeGreeting(role);
    }
    return this.#greetingRead ?? Promise.resolve();
  }

  async #takeGreeting(role: Role): Promise<void> {
    const raw = await this.readGreeting();
    let g: Greeting;
    try {
      g = decodeGreeting(raw, role);
    } catch (err) {
      // Not a greeting: show more of what came instead (a banner, a shell's error).
      throw SyncError.is(err) && err.code === ErrorCodes.PROTOCOL && /instead of gosync's greeting/.test(err.message)
        ? tryDecode(await this.#readMore(raw, 200, 300), role)
        : err;
    }
    this.version = agreeVersion(g, this.#local);
    this.peerGreeting = g;
  }

  /** Reads the peer's 16-byte greeting. */
  async readGreeting(): Promise<Uint8Array> {
    let have = 0;
    const parts: Uint8Array[] = [];
    while (have < GREETING_SIZE) {
      const r = await this.#nextRaw();
      if (r.done) {
        const got = Buffer.concat(parts);
        if (got.length > 0) return got; // the caller reports what it got instead
        throw closedError(this.peer, (await this.#transport.describeEnd?.()) ?? 'before it sent its greeting');
      }
      parts.push(r.value);
      have += r.value.length;
    }
    const all = Buffer.concat(parts);
    if (all.length > GREETING_SIZE) this.#held.push(all.subarray(GREETING_SIZE));
    return all.subarray(0, GREETING_SIZE);
  }

  /** `have` and up to `max` bytes in all that come within `ms`. */
  async #readMore(have: Uint8Array, max: number, ms: number): Promise<Uint8Array> {
    const parts = [have, ...this.#held];
    this.#held = [];
    let total = parts.reduce((a, p) => a + p.length, 0);
    const deadline = Date.now() + ms;
    while (total < max && Date.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      const r = await Promise.race([
        this.#raw.next(),
        new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), Math.max(1, deadline - Date.now())))),
      ]).catch(() => undefined);
      clearTimeout(timer);
      if (!r || r.done) break;
      parts.push(r.value);
      total += r.value.length;
    }
    return Buffer.concat(parts).subarray(0, max);
  }

  async #nextRaw(): Promise<IteratorResult<Uint8Array>> {
    if (this.#signal?.aborted) throw abortError(this.#signal);
    try {
      return await this.#raw.next();
    } catch (err) {
      throw new SyncError(ErrorCodes.NETWORK, `Cannot read from ${this.peer}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * From the first frame `after` accepts on (exclusive), the peer's bytes are one
   * compressed stream: zstd when the session's version has it, else brotli.
   */
  decompressAfter(after: (f: Frame) => boolean): void {
    this.#switchAfter = after;
  }

  #startDecompression(leftover: Uint8Array | undefined): void {
    const z =
      this.version >= ZSTD_VERSION
        ? createZstdDecompress({ chunkSize: STREAM_CHUNK, params: { [zc.ZSTD_d_windowLogMax]: ZSTD_WINDOW_LOG } })
        : createBrotliDecompress({ chunkSize: STREAM_CHUNK });
    // Errors reach the reader through the stream's iterator; this keeps one that comes
    // while nobody is reading from being an uncaught 'error' event.
    z.on('error', () => {});
    this.#decompressor = z;
    const raw = this.#raw;
    const held = leftover && leftover.length > 0 ? [leftover] : [];
    // Feed: what was left of the last raw chunk, then the rest of the transport.
    const feed = async (): Promise<void> => {
      try {
        for (const c of held) if (!z.write(c)) await drainOrClose(z);
        for (;;) {
          const r = await raw.next();
          if (r.done) this.#rawEnded = true;
          if (r.done || z.destroyed) break;
          if (!z.write(r.value)) await drainOrClose(z);
        }
        if (!z.destroyed) z.end();
      } catch (err) {
        z.destroy(new SyncError(ErrorCodes.NETWORK, `Cannot read from ${this.peer}: ${(err as Error).message}`, { cause: err }));
      }
    };
    void feed();
    this.#source = (z as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    this.#parser = new FrameParser(`the compressed stream from ${this.peer}`);
  }

  /**
   * The next frame, or `undefined` when the peer closed its side at a frame boundary.
   * Throws PROTOCOL for a malformed frame or stream, NETWORK for a broken connection.
   */
  async next(): Promise<Frame | undefined> {
    if (this.#greeting !== undefined || this.#greetingRead) {
      await this.greeted();
      this.#greetingRead = undefined;
    }
    for (;;) {
      if (this.#queue.length > 0) {
        const f = this.#queue.shift()!;
        const first = this.#first;
        if (!first) return f;
        this.#first = undefined;
        first(f);
        continue;
      }
      if (this.#ended) return undefined;
      if (this.#signal?.aborted) throw abortError(this.#signal);
      let chunk: Uint8Array;
      if (this.#held.length > 0) chunk = this.#held.shift()!;
      else {
        let r: IteratorResult<Uint8Array>;
        try {
          r = await this.#source.next();
        } catch (err) {
          if (SyncError.is(err)) throw err;
          if (!this.#decompressor) throw err;
          // A stream cut short by a closed connection is the connection's failure.
          if (this.#rawEnded) throw await this.closedError();
          throw protocolError(`read the compressed stream from ${this.peer}`, (err as Error).message);
        }
        if (r.done) {
          this.#ended = true;
          try {
            this.#parser.end();
          } catch (err) {
            // Cut inside a frame: the connection failed (or the peer stopped mid-frame).
            throw closedError(this.peer, `${(err as Error).message.replace(/^Cannot [^:]*: /, '')}`);
          }
          return undefined;
        }
        chunk = r.value;
      }
      const frames = this.#parser.push(chunk, this.#switchAfter);
      this.#queue.push(...frames);
      if (this.#switchAfter && frames.length > 0 && this.#switchAfter(frames[frames.length - 1]!) && this.#parser.leftover !== undefined) {
        this.#switchAfter = undefined;
        const rest = [this.#parser.leftover, ...this.#held];
        this.#held = [];
        this.#startDecompression(rest.length > 1 ? Buffer.concat(rest) : rest[0]);
      }
    }
  }

  /**
   * The first frame the peer sends must be of type `type` (or ERROR, which is thrown as
   * the peer's error): it goes to `handle`, and {@link next} returns the frames after it.
   * Lets an end start its work without waiting for the answer to its request.
   */
  expectFirst(type: FrameTypeValue, handle: (payload: Uint8Array) => void): void {
    this.#first = (f) => {
      if (f.type === FrameType.ERROR) throw decodeError(f.payload, this.peer);
      if (f.type !== type)
        throw protocolError('start the session', `${this.peer} sent a ${frameName(f.type)} frame where ${frameName(type)} was expected`);
      handle(f.payload);
    };
  }

  /** Why the connection ended, as an error: for an EOF where a frame was expected. */
  async closedError(): Promise<SyncError> {
    return closedError(this.peer, await this.#transport.describeEnd?.());
  }

  // ---------------------------------------------------------------------------------
  // Writing

  /** Writes raw bytes (the greeting). */
  async writeRaw(data: Uint8Array): Promise<void> {
    await this.#writeBatch();
    await this.#writeOut(data);
  }

  async #writeOut(data: Uint8Array): Promise<void> {
    this.#checkWritable();
    this.bytesOut += data.length;
    const output = this.#transport.output;
    if (!output.write(data)) await drainOrClose(output);
    await this.#limitOut?.take(data.length, this.#signal);
    this.#checkWritable();
  }

  #checkWritable(): void {
    if (this.#signal?.aborted) throw abortError(this.#signal);
    if (this.#writeError)
      throw new SyncError(ErrorCodes.NETWORK, `Cannot write to ${this.peer}: ${this.#writeError.message}`, { cause: this.#writeError });
    if (this.#outputEnded || this.#aborted) throw new SyncError(ErrorCodes.NETWORK, `Cannot write to ${this.peer}: the session is over`);
    if (this.#transport.output.destroyed) throw new SyncError(ErrorCodes.NETWORK, `Cannot write to ${this.peer}: the connection is closed`);
  }

  /**
   * From now on, frames this end sends go through one compressed stream: zstd when the
   * session's version has it (the peer's greeting must be read by then, see
   * {@link greeted}), else brotli. `version`: the version to compress for before the
   * peer's greeting is read (a pushing client's guess, checked when the greeting comes).
   */
  compressOutgoing(options: CompressionOptions = {}, version = this.version): void {
    // What was sent before goes out as it was: uncompressed.
    if (this.#batchBytes > 0) {
      const data = Buffer.concat(this.#batch, this.#batchBytes);
      this.#batch = [];
      this.#batchBytes = 0;
      this.bytesOut += data.length;
      this.#transport.output.write(data);
    }
    const zstd = version >= ZSTD_VERSION;
    const z = zstd
      ? createZstdCompress({
          chunkSize: STREAM_CHUNK,
          // A stream option node:zlib passes on (its types list only the codec's).
          ...{ writableHighWaterMark: COMPRESS_AHEAD },
          params: {
            [zc.ZSTD_c_compressionLevel]: options.level ?? DEFAULT_ZSTD_LEVEL,
            [zc.ZSTD_c_windowLog]: ZSTD_WINDOW_LOG,
          },
        })
      : createBrotliCompress({
          chunkSize: STREAM_CHUNK,
          params: {
            [zc.BROTLI_PARAM_QUALITY]: options.quality ?? DEFAULT_QUALITY,
            [zc.BROTLI_PARAM_LGWIN]: LGWIN,
          },
        });
    this.#flushKind = zstd ? zc.ZSTD_e_flush : zc.BROTLI_OPERATION_FLUSH;
    const output = this.#transport.output;
    z.on('data', (c: Buffer) => {
      this.bytesOut += c.length;
      const full = !output.write(c);
      const limit = this.#limitOut;
      if (full || limit) {
        // The compressor waits (and so do the frames sent into it) for the transport and the rate.
        z.pause();
        void (async () => {
          if (full) await drainOrClose(output);
          await limit?.take(c.length, this.#signal);
        })().then(
          () => z.resume(),
          () => z.resume(),
        );
      }
    });
    z.on('error', (err) => {
      this.#writeError ??= err;
    });
    this.#compressor = z;
  }

  /** Sends one frame (payload at most 1 MiB). Resolves when the transport can take more. */
  async send(type: FrameTypeValue, payload: Uint8Array = new Uint8Array(0)): Promise<void> {
    this.#checkWritable();
    // Frames are gathered and written together (one write, one compression job, per
    // batch): at 64 KiB, at a flush, or once the current turn of the event loop ends.
    this.#batch.push(frameHeader(type, payload.length), payload);
    this.#batchBytes += FRAME_HEADER + payload.length;
    if (this.#batchBytes >= BATCH_BYTES) return this.#writeBatch();
    if (!this.#batchScheduled) {
      this.#batchScheduled = true;
      setImmediate(() => {
        this.#batchScheduled = false;
        if (this.#aborted || this.#outputEnded) return;
        this.#writeBatch().catch(() => {});
      });
    }
  }

  /** Writes the gathered frames (into the compressor, or to the transport). */
  async #writeBatch(): Promise<void> {
    if (this.#batchBytes === 0) return;
    const data = this.#batch.length === 1 ? this.#batch[0]! : Buffer.concat(this.#batch, this.#batchBytes);
    this.#batch = [];
    this.#batchBytes = 0;
    const z = this.#compressor;
    if (!z) return this.#writeOut(data);
    this.#checkWritable();
    if (!z.write(data)) await drainOrClose(z);
    this.#checkWritable();
  }

  /**
   * Pushes out everything sent so far through the compressor (the peer may be waiting
   * for it). Does not wait for the compressor: frames sent after it follow in order.
   */
  flush(): void {
    const z = this.#compressor;
    if (!z || z.destroyed) return;
    this.#checkWritable();
    if (this.#batchBytes > 0) {
      const data = this.#batch.length === 1 ? this.#batch[0]! : Buffer.concat(this.#batch, this.#batchBytes);
      this.#batch = [];
      this.#batchBytes = 0;
      z.write(data);
    }
    z.flush(this.#flushKind);
  }

  /**
   * Runs the tasks of one end: `main` and `others` at once. When one fails, the session
   * fails: the peer is told with an ERROR frame (unless the failure is the peer's own
   * report), `onFail` releases whatever the tasks wait on, the transport is closed, and
   * once every task has settled the error is thrown. When this end's failure is only a
   * broken connection, an ERROR frame the peer sent before closing is preferred: it says
   * why.
   */
  async runTasks<T>(main: () => Promise<T>, others: (() => Promise<void>)[], onFail: (err: unknown) => void): Promise<T> {
    let first: { err: unknown } | undefined;
    let failed!: (err: unknown) => void;
    const failure = new Promise<never>((_, reject) => (failed = reject));
    failure.catch(() => {});
    const guard = <R>(p: Promise<R>): Promise<R> =>
      p.catch((err: unknown) => {
        if (!first) {
          first = { err };
          onFail(err);
          failed(err);
        }
        throw err;
      });
    const mainTask = guard(main());
    const rest = others.map((f) => guard(f()));
    // Each failure is handled through `failure`; the promises are awaited later.
    for (const p of [mainTask, ...rest]) p.catch(() => {});
    try {
      const result = await Promise.race([mainTask, failure]);
      await Promise.race([Promise.all(rest), failure]);
      return result;
    } catch {
      const err = await this.#settleFailure(first!.err);
      await Promise.allSettled([mainTask, ...rest]);
      throw err;
    }
  }

  /**
   * Fails the session outside {@link runTasks}: tells the peer (unless `err` is its own
   * report), closes the transport, and returns the error to throw.
   */
  failSession(err: unknown): Promise<unknown> {
    return this.#settleFailure(err);
  }

  async #settleFailure(err: unknown): Promise<unknown> {
    let reported = err;
    if (!isPeerError(err)) {
      const broken = SyncError.is(err) && err.code === ErrorCodes.NETWORK;
      const peerErr = broken ? await this.#peerErrorWithin(1000) : undefined;
      if (peerErr) reported = peerErr;
      else if (!broken) await this.#sendError(err);
    }
    await this.abort();
    return reported;
  }

  /** An ERROR frame still coming from the peer, if one arrives within `ms`. */
  async #peerErrorWithin(ms: number): Promise<SyncError | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
    const look = (async (): Promise<SyncError | undefined> => {
      try {
        for (;;) {
          const f = await this.next();
          if (!f) return undefined;
          if (f.type === FrameType.ERROR) return decodeError(f.payload, this.peer);
        }
      } catch {
        return undefined;
      }
    })();
    try {
      return await Promise.race([look, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends an ERROR frame and ends the output, giving up after 2 s (a peer that stopped reading). */
  async #sendError(err: unknown): Promise<void> {
    if (this.#outputEnded || this.#aborted) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        (async () => {
          const frame = encodeFrame(FrameType.ERROR, encodeError(err));
          this.#batch.push(frame);
          this.#batchBytes += frame.length;
          const batched = Buffer.concat(this.#batch, this.#batchBytes);
          this.#batch = [];
          this.#batchBytes = 0;
          const z = this.#compressor;
          if (z && !z.destroyed) z.write(batched);
          else {
            this.bytesOut += batched.length;
            this.#transport.output.write(batched);
          }
          await this.end();
        })(),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000))),
      ]);
    } catch {
      // the peer is gone: nothing to tell it
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops the session at once: the compressor and decompressor are released and the transport closed. */
  async abort(): Promise<void> {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#decompressor?.destroy();
    this.#compressor?.destroy();
    await this.#transport.close();
  }

  /** Ends this end's output (after the compressor's last bytes). */
  async end(): Promise<void> {
    if (this.#outputEnded) return;
    await this.#writeBatch();
    const output = this.#transport.output;
    const z = this.#compressor;
    if (z && !z.destroyed) {
      await new Promise<void>((resolve) => {
        z.once('end', resolve);
        z.once('error', () => resolve());
        z.end();
        z.resume();
      });
    }
    this.#outputEnded = true;
    if (output.writableEnded || output.destroyed) return;
    await new Promise<void>((resolve) => {
      output.once('error', () => resolve());
      output.end(() => resolve());
    });
  }
}

/** decodeGreeting, for bytes known not to be a greeting: always throws (with all of them in the message). */
function tryDecode(data: Uint8Array, role: Role): never {
  decodeGreeting(data, role);
  throw protocolError('start the session', 'the peer sent no greeting');
}
