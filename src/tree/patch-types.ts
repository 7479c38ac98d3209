/**
 * The options and reports of a folder patch ({@link diffTree}, {@link patchTree}): shared
 * by the planner, the stager and the entry points in patch-tree.ts.
 *
 * @module
 */
import type { FilterRule } from '../localfs/filter.js';

/** Options of {@link diffTree} and {@link patchTree}. */
export interface TreeOptions {
  /** Where `objects/` is published (a URL or a folder); default: the manifest's folder. */
  contentBase?: string;
  /** Keep-alive connections per origin (default 8). */
  connections?: number;
  /** Files fetched and written at once (default 8). */
  concurrency?: number;
  /** Worker threads for scanning large local files (default: every core). */
  threads?: number;
  /**
   * Besides the old file at the same path and files going away, scan other local files
   * for reusable data up to this multiple of the bytes of the files being patched
   * (default 4; 0 turns it off). Reading locally is far cheaper than fetching.
   */
  reuseFactor?: number;
  /**
   * Other local files (paths) whose content and blocks may be reused, as the folder's own
   * files are: always scanned, after them (`-i, --seed`). A missing one is an IO error.
   */
  seeds?: readonly string[];
  /** Extra HTTP request headers. */
  headers?: Record<string, string>;
  /**
   * The undici dispatcher of every HTTP request (the manifest, indexes, objects): e.g. from
   * `createHttpDispatcher({ ca })` to trust a private CA. Default: one made per patch
   * (createHttpDispatcher with `connections`), closed at its end; a given one is the caller's.
   */
  dispatcher?: import('undici').Dispatcher;
  /** Download cap in bytes per second for the whole patch (`--bwlimit`); default none. */
  bytesPerSecond?: number;
  /** Refuse manifests larger than this (default 256 MiB). */
  maxManifestBytes?: number;
  /**
   * Bytes of block indexes buffered at once (default 256 MiB): each index fetch takes its
   * bound (1 MiB + 3 bytes per byte of its file) from this budget before it starts; one
   * over the whole budget is fetched alone.
   */
  indexBytesInFlight?: number;
  /**
   * The permission bits taken from the modes of new files and folders, as a process's
   * umask takes them from what it creates (the CLI passes its own); entries that already
   * exist get the manifest's mode as it is. Default: nothing taken.
   */
  umask?: number;
  /**
   * Remove local entries the manifest does not list (rsync's `--delete`); a non-empty
   * local folder where a file goes is then replaced instead of refused.
   */
  delete?: boolean;
  /**
   * Paths neither fetched nor deleted: excludes and includes, first match decides
   * (localfs/filter.ts). The local folder's `.gosyncignore` also keeps what it excludes
   * from being deleted.
   */
  filter?: readonly FilterRule[];
  /** Delete local paths the filter excludes too (implies `delete`; rsync's `--delete-excluded`). */
  deleteExcluded?: boolean;
  /** Read the local folder's `.gosyncignore` (default true). */
  ignoreFile?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: TreeProgress) => void;
}

/** Options of {@link patchTree}. */
export interface PatchTreeOptions extends TreeOptions {
  /** Flush every new file to disk before it replaces the old one. */
  fsync?: boolean;
}

/** Progress of a tree patch. */
export interface TreeProgress {
  phase: 'plan' | 'scan' | 'fetch' | 'commit';
  done: number;
  total: number;
}

/**
 * What happens to one file: `unchanged` (nothing), `metadata` (mode or mtime set),
 * `copy` (content taken whole from a local file, `from`), `resume` (a part a stopped run
 * staged), `delta` (a published delta applied to local file `from`), `blocks` (index +
 * scan + missing blocks), `whole` (fetched whole).
 */
export type TreeFileAction = 'unchanged' | 'metadata' | 'copy' | 'resume' | 'delta' | 'blocks' | 'whole';

/** One file of a tree diff or patch. */
export interface TreeFileReport {
  path: string;
  action: TreeFileAction;
  size: number;
  /** Bytes of the file taken from local data. */
  reusedBytes: number;
  /** Bytes to fetch (diff: estimated, compressed where that is the plan) or fetched (patch). */
  fetchBytes: number;
  /** The local file reused, for `copy` and `delta`. */
  from?: string;
  /** For `blocks`: how the missing data is fetched (raw ranges, frames, whole stream). */
  plan?: string;
}

/** What a tree diff found. */
export interface TreeDiffReport {
  files: TreeFileReport[];
  /** Local paths the manifest does not list (removed with `delete`). */
  extraneous: string[];
  /** Bytes of the manifest and of the block indexes fetched to plan. */
  manifestBytes: number;
  indexBytes: number;
  totals: { files: number; changed: number; bytes: number; reusedBytes: number; fetchBytes: number };
}

/** What a tree patch did. */
export interface TreePatchReport extends TreeDiffReport {
  /** Paths removed (with `delete`). */
  deleted: string[];
  /** Requests and body bytes received from the content base, manifest and indexes included. */
  requests: number;
  receivedBytes: number;
  seconds: number;
}
