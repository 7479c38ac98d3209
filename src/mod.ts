/**
 * gosync: update big files and folders from a static index and HTTP range requests,
 * moving only what changed; or push and pull them through ssh. This entry exports the
 * operations and the types of their options and reports; see the README for a tour.
 *
 * The building blocks are subpath exports: `gosync/core` (rolling checksums, hashes, the
 * block index, matcher, planner, patcher), `gosync/formats` (zsync, go-sync, librsync),
 * `gosync/sources`, `gosync/tree`, `gosync/remote` and `gosync/serve`.
 *
 * Loading this module compiles none of gosync's WebAssembly (MD4 and BLAKE2b compile on
 * their first hash) and loads neither the ssh nor the HTTP server code: `push`, `pull`,
 * `serveSession` and `startStaticServer` import theirs on their first call. Nor does it
 * need a top-level await, so the package can be `require()`d.
 *
 * @module
 */
import type { PushPullOptions } from './remote/push-pull.js';
import type { ServeSessionOptions, ServedSession } from './remote/serve-stdio.js';
import type { Transport } from './remote/wire/channel.js';
import type { SyncReport } from './remote/wire/report.js';
import type { StaticServer, StaticServerOptions } from './serve/static-server.js';

export { ErrorCodes, SyncError, type ErrorCode, type SyncErrorDetails } from './core/errors.js';

// Building an index, and patching or comparing one file.
export {
  buildIndexFile,
  type BuildFileOptions,
  type BuildReport,
  type CompressOptions,
} from './file/build-file.js';
export { buildZsyncFile, type BuildZsyncFileOptions } from './file/build-zsync.js';
export { loadIndex, resolveReference, type LoadIndexOptions, type LoadedIndex } from './file/load-index.js';
export { scanLocalFiles, type LocalScan, type ScanOptions } from './file/local-scan.js';
export { patchKnownVersion, type KnownVersionMiss, type KnownVersionOptions, type KnownVersionPatch } from './file/known-version.js';
export type { DeltaKind } from './forms/delta-file.js';
export {
  diffFile,
  patchFile,
  type DiffOptions,
  type DiffReport,
  type FoundBlocks,
  type FoundScan,
  type PatchOptions,
  type PatchReport,
} from './file/patch-file.js';
export type { FetchPlan } from './forms/choose-plan.js';
export type { BlockIndex, FileDigest } from './core/index/block-index.js';
export type { BaseCodec, BaseDeltaForm, Codec, FramesForm, PublishedForms, WholeForm } from './core/index/published.js';
export type { IncrementalHash, StrongHash } from './core/hashing/strong-hash.js';
export type { PatchProgress } from './core/patcher.js';
export type { HashLengths } from './core/index/params.js';
export type { PlannedRange } from './core/planner.js';
// What scanLocalFiles returns (the classes themselves are in gosync/core).
export type { BlockMatcher, FoundSpan, MatcherOptions, MissingSpan, Scanner, ScanStats } from './core/matcher.js';
export type { LookupTable } from './core/index/lookup.js';
export type { ZsyncControl } from './formats/zsync-control.js';
export type { IndexFormat } from './formats/detect.js';

// rdiff's three commands, on files or streams.
export {
  rdiffDelta,
  rdiffPatch,
  rdiffSignature,
  type RdiffCommonOptions,
  type RdiffDeltaOptions,
  type RdiffDeltaReport,
  type RdiffInput,
  type RdiffOutput,
  type RdiffPatchOptions,
  type RdiffPatchReport,
  type RdiffSignatureOptions,
  type RdiffSignatureReport,
} from './formats/rdiff-file.js';
export type { DeltaStats } from './formats/librsync-delta.js';
export type { LibrsyncHash, LibrsyncRollsum, LibrsyncSignature, LibrsyncSignatureOptions } from './formats/librsync-signature.js';

// Folders.
export { buildTree, type BuildTreeOptions, type BuildTreeReport } from './tree/build-tree.js';
export type { FilterRule } from './localfs/filter.js';
export {
  diffTree,
  patchTree,
  type PatchTreeOptions,
  type TreeDiffReport,
  type TreeFileAction,
  type TreeFileReport,
  type TreeOptions,
  type TreePatchReport,
  type TreeProgress,
} from './tree/patch-tree.js';
// Publish folders: upload to S3-compatible storage (the AWS SDK loads on the first call), prune.
export { publishToS3, type PublishProgress, type PublishS3Options, type PublishS3Report, type PublishedObject } from './publish/s3.js';
export { prunePublishFolder, type PruneOptions, type PruneReport, type PrunedFile } from './publish/prune.js';

// Sources of the reference's bytes.
export type { BlockSource, ByteRange, ReadRangesOptions, SourceStats } from './core/block-source.js';
export { MemorySource } from './sources/memory-source.js';
export { FileSource, type FileSourceOptions } from './sources/file-source.js';
export { HttpSource, type HttpSourceOptions } from './sources/http/http-source.js';
export { TokenBucket } from './util/token-bucket.js';

// Through ssh, and the static server: loaded on first use.
export type { PushPullOptions, ServeSessionOptions, ServedSession, StaticServer, StaticServerOptions, SyncReport, Transport };
export type { CompressionOptions } from './remote/wire/channel.js';
export type { Hello } from './remote/wire/handshake.js';
export type { FinishReport, SyncProgress } from './remote/wire/report.js';

/**
 * Sends local `source` (a file, folder or link) to `destination` (`[user@]host:path`, or
 * a local path), which becomes a copy of it: `gosync push`.
 *
 * @example
 * ```ts
 * const r = await push('dist/', 'deploy@web1:/srv/app', { delete: true });
 * console.log(`${r.changed} files changed, ${r.bytesSent} bytes sent`);
 * ```
 */
export async function push(source: string, destination: string, options: PushPullOptions = {}): Promise<SyncReport> {
  return (await import('./remote/push-pull.js')).push(source, destination, options);
}

/**
 * Fetches `source` (`[user@]host:path`, or a local path) into local `destination`, which
 * becomes a copy of it: `gosync pull`.
 *
 * @example
 * ```ts
 * await pull('backup@nas:photos', '/data/photos', { delete: true });
 * ```
 */
export async function pull(source: string, destination: string, options: PushPullOptions = {}): Promise<SyncReport> {
  return (await import('./remote/push-pull.js')).pull(source, destination, options);
}

/**
 * Serves one push or pull session over `transport` (`gosync serve --stdio`; the
 * transports are in `gosync/remote`). Resolves when the session is done; rejects with
 * the reason it failed, after telling the client.
 */
export async function serveSession(transport: Transport, options: ServeSessionOptions = {}): Promise<ServedSession> {
  return (await import('./remote/serve-stdio.js')).serveSession(transport, options);
}

/**
 * Starts a static file server with range requests over `options.root` (`gosync serve`).
 *
 * @example
 * ```ts
 * const server = await startStaticServer({ root: './public' });
 * console.log(`serving on ${server.url}`);
 * await server.close();
 * ```
 */
export async function startStaticServer(options: StaticServerOptions): Promise<StaticServer> {
  return (await import('./serve/static-server.js')).startStaticServer(options);
}
