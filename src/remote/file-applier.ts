/**
 * One file the receiving end writes: the delta, as it arrives, applied to the old
 * version ({@link rdiffPatch}) into an {@link AtomicFile}, hashed on the way, which
 * becomes the part once it matches the sender's size and SHA-256.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { finished } from 'node:stream/promises';
import { ErrorCodes, SyncError } from '../core/errors.js';
import { LibrsyncDeltaParser } from '../formats/librsync-delta.js';
import { rdiffPatch } from '../formats/rdiff-file.js';
import { AtomicFile } from '../localfs/atomic-file.js';
import { PART_MODE } from '../localfs/staging.js';
import { setMetadata } from '../localfs/commit-tree.js';
import { drainOrClose } from '../util/drain.js';
import { BasisSet } from './basis-set.js';
import { AsyncQueue } from './wire/async-queue.js';
import { builtin } from '../util/builtin.js';

const { Writable } = builtin('node:stream');
type Writable = import('node:stream').Writable;

/** Bytes read from a basis of several files at a time for a COPY. */
const COPY_PIECE = 1024 * 1024;
/** Delta bytes queued for the file being written before the reader waits. */
const APPLY_QUEUE_BYTES = 4 * 1024 * 1024;

/** Bytes of the delta copied from the old version and sent as literal data. */
export interface ApplyStats {
  copyBytes: number;
  literalBytes: number;
}

/** Options of {@link FileApplier.open}. */
export interface FileApplierOptions {
  signal?: AbortSignal | undefined;
  /** Bytes of the new file written so far, as they are written. */
  onBytes?: (n: number) => void;
}

/** One file being written: the delta applied to its basis, into an AtomicFile that becomes the part. */
export class FileApplier {
  /** Local path of the part. */
  readonly part: string;
  readonly #basis: readonly string[];
  readonly #queue = new AsyncQueue<Uint8Array>({ highWater: APPLY_QUEUE_BYTES, sizeOf: (c) => c.length });
  readonly #file: AtomicFile;
  readonly #hash = createHash('sha256');
  #size = 0;
  readonly #done: Promise<ApplyStats>;
  readonly #sink: Writable;
  /** Why writing the part failed (a full disk…): the applier fails with it. */
  #writeError: { err: unknown } | undefined;

  private constructor(basis: readonly string[], part: string, file: AtomicFile, options: FileApplierOptions) {
    this.#basis = basis;
    this.part = part;
    this.#file = file;
    const { onBytes } = options;
    this.#sink = new Writable({
      highWaterMark: 4 * 1024 * 1024,
      write: (chunk: Buffer, _enc, cb) => {
        // After a failed write the rest is dropped: the stream is not failed itself, as a
        // destroyed stream never drains and the delta may be waiting for it to.
        if (this.#writeError) return cb();
        this.#hash.update(chunk);
        this.#size += chunk.length;
        onBytes?.(chunk.length);
        file.write(chunk).then(
          () => cb(),
          (err: unknown) => {
            this.#fail(err);
            cb();
          },
        );
      },
    });
    // Any other failure of the stream (none is expected) ends the applier too, never the process.
    this.#sink.on('error', (err) => this.#fail(err));
    this.#done = this.#apply(options.signal);
    this.#done.catch(() => {});
  }

  /**
   * Starts writing the new version of a file to `part` (its temporary file first), from
   * `basis`: the old version's local path, or several files read end to end (the old
   * version and seeds, {@link BasisSet}); none: the delta holds only literal data.
   */
  static async open(basis: readonly string[], part: string, options: FileApplierOptions = {}): Promise<FileApplier> {
    // Private until verified: finish() gives it the entry's mode.
    return new FileApplier(basis, part, await AtomicFile.create(part, { mode: PART_MODE }), options);
  }

  /** Writing failed: whatever the delta is waiting for (its next bytes, the last write) rejects with `err`. */
  #fail(err: unknown): void {
    this.#writeError ??= { err };
    this.#queue.fail(err);
  }

  async #apply(signal: AbortSignal | undefined): Promise<ApplyStats> {
    let stats: ApplyStats;
    if (this.#basis.length === 1) {
      const r = await rdiffPatch(this.#basis[0]!, this.#queue, this.#sink, signal ? { signal } : {});
      stats = { copyBytes: r.copyBytes, literalBytes: r.literalBytes };
    } else if (this.#basis.length > 1) stats = await this.#applyToSet(signal);
    else stats = await this.#applyLiterals();
    this.#sink.end();
    await finished(this.#sink);
    if (this.#writeError) throw this.#writeError.err;
    return stats;
  }

  /** A basis of several files (the old version and seeds, or seeds alone), read end to end. */
  async #applyToSet(signal: AbortSignal | undefined): Promise<ApplyStats> {
    const set = await BasisSet.open(this.#basis);
    try {
      const parser = new LibrsyncDeltaParser();
      let copyBytes = 0;
      for await (const chunk of this.#queue) {
        for (const e of parser.push(chunk)) {
          if (e.type === 'literal') {
            if (!this.#sink.write(e.data)) await drainOrClose(this.#sink);
          } else if (e.type === 'copy') {
            if (e.offset + e.length > set.size)
              throw new SyncError(
                ErrorCodes.DELTA_CORRUPT,
                `Cannot apply the delta: a COPY of ${e.length} bytes at ${e.offset} goes past the end of the ${set.size}-byte basis`,
                { offset: e.offset },
              );
            for (let done = 0; done < e.length; ) {
              // A fresh buffer per piece: the sink keeps it until written.
              const buf = Buffer.allocUnsafe(Math.min(COPY_PIECE, e.length - done));
              const got = await set.read(buf, buf.length, e.offset + done, signal);
              if (got === 0)
                throw new SyncError(
                  ErrorCodes.SOURCE_CHANGED,
                  `Cannot apply the delta: the basis ended at ${e.offset + done} while being read (a file of it changed)`,
                  { offset: e.offset + done },
                );
              if (!this.#sink.write(buf.subarray(0, got))) await drainOrClose(this.#sink);
              done += got;
            }
            copyBytes += e.length;
          }
        }
      }
      parser.end();
      return { copyBytes, literalBytes: parser.stats.literalBytes };
    } finally {
      await set.close();
    }
  }

  /** No old file: the delta may only hold literal data. */
  async #applyLiterals(): Promise<ApplyStats> {
    const parser = new LibrsyncDeltaParser();
    for await (const chunk of this.#queue) {
      for (const e of parser.push(chunk)) {
        if (e.type === 'copy')
          throw new SyncError(
            ErrorCodes.DELTA_CORRUPT,
            `Cannot apply the delta of a new file: it copies ${e.length} bytes at ${e.offset} from an old version that does not exist`,
            { offset: e.offset },
          );
        if (e.type === 'literal' && !this.#sink.write(e.data)) await drainOrClose(this.#sink);
      }
    }
    parser.end();
    return { copyBytes: 0, literalBytes: parser.stats.literalBytes };
  }

  /** The next delta bytes. */
  push(data: Uint8Array): Promise<void> {
    return this.#queue.push(data);
  }

  /**
   * The delta is complete: waits for the last write, then checks size and SHA-256.
   * `ok` is false when they differ (the part is discarded); true when the part is in
   * place, with mode and mtime of `entry`.
   */
  async finish(size: number, sha256: Uint8Array, entry: { mode: number; mtime: number }): Promise<ApplyStats & { ok: boolean }> {
    this.#queue.close();
    let stats: ApplyStats;
    try {
      stats = await this.#done;
    } catch (err) {
      await this.#file.abort();
      throw err;
    }
    if (this.#size !== size || !Buffer.from(sha256).equals(this.#hash.digest())) {
      await this.#file.abort();
      return { ok: false, ...stats };
    }
    await this.#file.commit();
    await setMetadata(this.part, entry.mode, entry.mtime);
    return { ok: true, ...stats };
  }

  /** Stops writing and removes the temporary file. */
  async abort(err: unknown): Promise<void> {
    this.#queue.fail(err);
    await this.#done.catch(() => {});
    this.#sink.destroy();
    await this.#file.abort();
  }
}
