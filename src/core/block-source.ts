/**
 * The block-source interface: where the bytes of the reference that the local file lacks
 * come from. The patcher knows only this interface; memory, file and HTTP sources (and any
 * transport a user writes) implement it.
 *
 * @module
 */
import { ErrorCodes, SyncError } from './errors.js';

/** A half-open byte range `[start, end)` of the reference. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/** Options of {@link BlockSource.read}. */
export interface ReadRangesOptions {
  /** Cancels the read; the iterator then rejects with an ABORTED SyncError. */
  signal?: AbortSignal | undefined;
  /** Called with the byte count of each response body chunk as it arrives (for progress). */
  onBytes?: (bytes: number) => void;
}

/**
 * A source of reference bytes.
 *
 * `read(ranges)` yields the bytes of every range, **in the order the ranges were given**,
 * as one continuous stream of chunks: the concatenation of all yielded chunks equals the
 * concatenation of the ranges' bytes. Chunks may split anywhere. A source may fetch ranges
 * concurrently and out of order internally, but must deliver in order.
 *
 * Buffer ownership: a yielded chunk belongs to the consumer until it asks for the next one;
 * after that the source may reuse its memory. Copy what you keep.
 *
 * Ranges must be sorted, non-overlapping and within `[0, size)` when the size is known;
 * a source rejects anything else with an OUT_OF_RANGE SyncError.
 */
export interface BlockSource {
  /** A short description for messages (a URL, a path, "memory"). */
  readonly name: string;
  /** Yields the bytes of `ranges` in order. */
  read(ranges: readonly ByteRange[], options?: ReadRangesOptions): AsyncIterable<Uint8Array>;
  /** Releases connections and file handles. Idempotent. */
  close(): Promise<void>;
  /**
   * Optional, for a source that is a local file: makes the local file named `target` a
   * copy of it without its bytes passing through this process (a reflink, or a copy in
   * the kernel), counting the first `length` bytes in {@link stats}. Resolves false when
   * it cannot (the source is shorter than `length`); the caller verifies what was copied.
   */
  copyTo?(target: string, length: number): Promise<boolean>;
  /**
   * Optional: gets ready to read `ranges` (a sample of what a read will ask for, sorted)
   * while the caller does other work, so that the first read waits less: a remote source
   * asks its host now what a read would otherwise ask first (HTTP: whether it answers
   * several ranges per request, one round trip). Never required; resolves when done, and
   * never rejects (what fails here is found out again by the read).
   */
  prepare?(ranges: readonly ByteRange[], options?: { signal?: AbortSignal }): Promise<void>;
  /** Counters for reports: requests made and body bytes received so far. */
  readonly stats?: SourceStats | undefined;
}

/** Counters a source keeps. */
export interface SourceStats {
  /** Requests sent (HTTP requests, file reads; retries included). */
  requests: number;
  /** Bytes received as bodies (for HTTP, including multipart part headers). */
  bytes: number;
}

/**
 * Checks that ranges are sorted, non-empty, non-overlapping and (when `size` is known)
 * within the reference. Throws an OUT_OF_RANGE SyncError describing the first bad one.
 */
export function assertRanges(ranges: readonly ByteRange[], size?: number): void {
  let prevEnd = 0;
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i]!;
    if (!Number.isSafeInteger(r.start) || !Number.isSafeInteger(r.end) || r.start < prevEnd || r.end <= r.start) {
      throw new SyncError(
        ErrorCodes.OUT_OF_RANGE,
        `Cannot read ranges: range ${i} [${r.start}, ${r.end}) is empty, unsorted or overlapping`,
      );
    }
    if (size !== undefined && r.end > size) {
      throw new SyncError(
        ErrorCodes.OUT_OF_RANGE,
        `Cannot read ranges: range ${i} [${r.start}, ${r.end}) passes the end of the reference (${size} bytes)`,
      );
    }
    prevEnd = r.end;
  }
}
