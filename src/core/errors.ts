/**
 * The one error family of gosync.
 *
 * Every failure that a caller may want to branch on is a {@link SyncError} with a
 * stable string `code` (listed in the README). Messages read "Cannot <action>: <reason>".
 * Programming mistakes (a wrong option type, a value out of range) throw the built-in
 * `TypeError` / `RangeError` instead, before any side effect.
 *
 * @module
 */

/** Stable error codes. Match on these, never on messages. */
export const ErrorCodes = {
  /** An index file is malformed: wrong magic, truncated, inconsistent or over a limit. */
  INDEX_CORRUPT: 'GOSYNC_ERR_INDEX_CORRUPT',
  /** An index file uses a format version or algorithm this build does not know. */
  INDEX_UNSUPPORTED: 'GOSYNC_ERR_INDEX_UNSUPPORTED',
  /** A fetched block does not match its strong hash (the source sent wrong bytes). */
  BLOCK_MISMATCH: 'GOSYNC_ERR_BLOCK_MISMATCH',
  /** The patched result does not match the whole-file length and SHA-256 of the index. */
  FILE_MISMATCH: 'GOSYNC_ERR_FILE_MISMATCH',
  /** A block has no expected hash to check against (fail closed, never pass). */
  NO_EXPECTED_HASH: 'GOSYNC_ERR_NO_EXPECTED_HASH',
  /** The source answered with a permanent HTTP error (404, 403, 410, ...). */
  HTTP_STATUS: 'GOSYNC_ERR_HTTP_STATUS',
  /** The source's answer is not what was asked for (bad Content-Range, bad multipart, short body). */
  HTTP_RESPONSE: 'GOSYNC_ERR_HTTP_RESPONSE',
  /** The network failed and retries were exhausted (reset, timeout, 5xx, 429). */
  NETWORK: 'GOSYNC_ERR_NETWORK',
  /** Too many redirects, or a redirect to an unsupported scheme. */
  REDIRECT: 'GOSYNC_ERR_REDIRECT',
  /** The reference changed while it was being read (ETag/Last-Modified/size differ). */
  SOURCE_CHANGED: 'GOSYNC_ERR_SOURCE_CHANGED',
  /** A source was asked for bytes outside the reference (or past its end). */
  OUT_OF_RANGE: 'GOSYNC_ERR_OUT_OF_RANGE',
  /** No usable reference URL: not given, not in the index, not derivable from the index URL, or a remote index names one that is not http(s). */
  NO_REFERENCE: 'GOSYNC_ERR_NO_REFERENCE',
  /** A local file operation failed (read, write, rename); `cause` holds the system error. */
  IO: 'GOSYNC_ERR_IO',
  /** The operation was aborted through its AbortSignal. */
  ABORTED: 'GOSYNC_ERR_ABORTED',
  /** A delta (librsync/rdiff) is malformed: wrong magic, reserved opcode, truncated, bytes after END, a copy past the basis. */
  DELTA_CORRUPT: 'GOSYNC_ERR_DELTA_CORRUPT',
  /** A compressed frame or stream does not decompress to what the index says (damaged or truncated). */
  FRAME_CORRUPT: 'GOSYNC_ERR_FRAME_CORRUPT',
  /** A tree manifest is malformed: not JSON, a wrong version, a bad field, duplicate paths, an entry under a non-directory. */
  MANIFEST_CORRUPT: 'GOSYNC_ERR_MANIFEST_CORRUPT',
  /** A path would leave the target folder: absolute, with `..`, or through a symbolic link. Nothing is written there. */
  UNSAFE_PATH: 'GOSYNC_ERR_UNSAFE_PATH',
  /** The local tree holds something that cannot be replaced without losing data (a non-empty folder where a file goes, without `--delete`). */
  TREE_CONFLICT: 'GOSYNC_ERR_TREE_CONFLICT',
  /** A peer broke the sync protocol (a malformed, oversized, unknown or unexpected frame), or speaks an incompatible version of it. */
  PROTOCOL: 'GOSYNC_ERR_PROTOCOL',
  /** The request is refused as a matter of policy: a `gosync serve --stdio` peer refused a push to a read-only server or its root folder replaced by a file; a folder is published into its own publish folder. */
  REFUSED: 'GOSYNC_ERR_REFUSED',
  /**
   * A worker thread stopped before it answered its task (it exited, or crashed: out of
   * memory, a failure of the thread itself rather than of the task). Nothing was written;
   * the same call with `threads: 1` does the work on the calling thread.
   */
  WORKER: 'GOSYNC_ERR_WORKER',
} as const;

/** One of the values of {@link ErrorCodes}. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

const brand = Symbol.for('gosync.SyncError');

/** Extra structured fields an error may carry. */
export interface SyncErrorDetails {
  /** The underlying error. */
  cause?: unknown;
  /** A local path involved. */
  path?: string;
  /** A URL involved. */
  url?: string;
  /** An HTTP status involved. */
  status?: number;
  /** A reference block index involved. */
  blockIndex?: number;
  /** A byte offset involved. */
  offset?: number;
}

/**
 * The error class of gosync. `instanceof` works across duplicate copies of the package
 * (a `Symbol.for` brand), and `code` is stable.
 *
 * @example
 * ```ts
 * try { await patchFile(opts) } catch (e) {
 *   if (SyncError.is(e) && e.code === ErrorCodes.FILE_MISMATCH) console.error('corrupt result discarded')
 * }
 * ```
 */
export class SyncError extends Error {
  override name = 'SyncError';
  readonly code: ErrorCode;
  readonly path?: string;
  readonly url?: string;
  readonly status?: number;
  readonly blockIndex?: number;
  readonly offset?: number;

  constructor(code: ErrorCode, message: string, details: SyncErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    if (details.path !== undefined) this.path = details.path;
    if (details.url !== undefined) this.url = details.url;
    if (details.status !== undefined) this.status = details.status;
    if (details.blockIndex !== undefined) this.blockIndex = details.blockIndex;
    if (details.offset !== undefined) this.offset = details.offset;
  }

  /** True when `value` is a SyncError from any copy of gosync. */
  static is(value: unknown): value is SyncError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return SyncError.is(value);
  }
}
Object.defineProperty(SyncError.prototype, brand, { value: true });

/** Throws `signal.reason` wrapped as an ABORTED SyncError when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/** The error an aborted operation rejects with. */
export function abortError(signal: AbortSignal): SyncError {
  if (SyncError.is(signal.reason) && signal.reason.code === ErrorCodes.ABORTED) return signal.reason;
  return new SyncError(ErrorCodes.ABORTED, 'Cannot continue: the operation was aborted', { cause: signal.reason });
}

/**
 * The IO error for a failed local file operation: "Cannot <action> <path>: <reason>".
 * `cause` is the system error, or (a string) the reason itself for a state no system call
 * reports ("it is not a regular file"). A SyncError cause (an abort, a verification
 * failure) is returned as it is.
 */
export function ioError(action: string, path: string, cause: unknown): SyncError {
  if (SyncError.is(cause)) return cause;
  if (typeof cause === 'string') return new SyncError(ErrorCodes.IO, `Cannot ${action} ${path}: ${cause}`, { path });
  return new SyncError(ErrorCodes.IO, `Cannot ${action} ${path}: ${(cause as Error).message}`, { cause, path });
}
