/**
 * gosync: update big files from a static index and HTTP range requests, moving only
 * what changed. This barrel exports the stable API; see the README for a tour.
 *
 * @module
 */
export { ErrorCodes, SyncError, type ErrorCode, type SyncErrorDetails } from './core/errors.js';
export { RollingChecksum, weakChecksum, weakMask } from './core/rollsum.js';
export { sha256, nodeHash, type StrongHash, type IncrementalHash } from './core/hashing/strong-hash.js';
export { blockLength, strongHashLength, NO_FILE_DIGEST, type BlockIndex, type FileDigest } from './core/index/block-index.js';
export { defaultBlockSize, defaultHashLengths, type HashLengths } from './core/index/params.js';
export {
  decodeIndex,
  encodeIndex,
  readIndexHeader,
  isGosyncIndex,
  indexSize,
  DEFAULT_MAX_INDEX_BYTES,
  type IndexHeader,
  type DecodeIndexOptions,
} from './core/index/format.js';
export { IndexBuilder, buildIndex, type IndexBuilderOptions } from './core/index/builder.js';
export { buildLookup, type LookupTable } from './core/index/lookup.js';
export { BlockMatcher, Scanner, type FoundSpan, type MissingSpan, type MatcherOptions, type ScanStats } from './core/matcher.js';
export { planRanges, rangesBytes, type PlanOptions, type PlannedRange } from './core/planner.js';
export {
  assemble,
  type AssembleOptions,
  type AssembleResult,
  type LocalReader,
  type OutputSink,
  type PatchProgress,
} from './core/patcher.js';
export { BlockVerifier, FileVerifier } from './core/verify.js';
export { assertRanges, type BlockSource, type ByteRange, type ReadRangesOptions, type SourceStats } from './core/block-source.js';
export { MemorySource } from './sources/memory-source.js';
export { FileSource, type FileSourceOptions } from './sources/file-source.js';
export { HttpSource, httpGet, type HttpSourceOptions } from './sources/http/http-source.js';
export { buildIndexFile, type BuildFileOptions, type BuildReport } from './file/build-file.js';
export { loadIndex, resolveReference, type LoadIndexOptions, type LoadedIndex } from './file/load-index.js';
export { scanLocalFiles, type ScanOptions, type LocalScan } from './file/local-scan.js';
export { patchFile, diffFile, type PatchOptions, type DiffOptions, type PatchReport, type DiffReport } from './file/patch-file.js';
export { startStaticServer, type StaticServer, type StaticServerOptions } from './serve/static-server.js';
export {
  decodeZsync,
  ZsyncBuilder,
  buildZsync,
  zsyncHashLengths,
  zsyncBlockSize,
  type ZsyncControl,
  type ZsyncBuilderOptions,
} from './formats/zsync-control.js';
export { buildZsyncFile, type BuildZsyncFileOptions } from './file/build-zsync.js';
export {
  decodeGoSyncV0Index,
  encodeGoSyncV0Index,
  goSyncV0AsBlockIndex,
  goSyncV0ToBlockIndex,
  type GoSyncV0Index,
} from './formats/gosync-v0.js';
export { detectIndexFormat, decodeAnyIndex, type IndexFormat } from './formats/detect.js';
export { md4 } from './core/hashing/md4.js';
export { blake2b256 } from './core/hashing/blake2b.js';
export {
  decodeLibrsyncSignature,
  encodeLibrsyncSignature,
  LibrsyncSignatureBuilder,
  librsyncSignatureParams,
  librsyncToBlockIndex,
  librsyncTailMatch,
  librsyncWeakSum,
  isLibrsyncSignature,
  RS_MD4_SIG_MAGIC,
  RS_BLAKE2_SIG_MAGIC,
  RS_RK_MD4_SIG_MAGIC,
  RS_RK_BLAKE2_SIG_MAGIC,
  RS_DELTA_MAGIC,
  type LibrsyncSignature,
  type LibrsyncSignatureOptions,
  type LibrsyncSignatureParams,
  type LibrsyncHash,
  type LibrsyncRollsum,
} from './formats/librsync-signature.js';
export {
  LibrsyncDeltaEncoder,
  LibrsyncDeltaGenerator,
  LibrsyncDeltaParser,
  encodeLibrsyncDelta,
  decodeLibrsyncDelta,
  applyLibrsyncDelta,
  isLibrsyncDelta,
  type DeltaEvent,
  type DeltaStats,
} from './formats/librsync-delta.js';
export {
  rdiffSignature,
  rdiffDelta,
  rdiffPatch,
  type RdiffInput,
  type RdiffOutput,
  type RdiffSignatureOptions,
  type RdiffSignatureReport,
  type RdiffDeltaOptions,
  type RdiffDeltaReport,
  type RdiffPatchOptions,
  type RdiffPatchReport,
} from './formats/rdiff-file.js';
export { buildTree, TREE_INDEX_MIN, type BuildTreeOptions, type BuildTreeReport } from './tree/build-tree.js';
export {
  patchTree,
  diffTree,
  type TreeOptions,
  type PatchTreeOptions,
  type TreeProgress,
  type TreeFileAction,
  type TreeFileReport,
  type TreeDiffReport,
  type TreePatchReport,
} from './tree/patch-tree.js';
export {
  decodeManifest,
  encodeManifest,
  objectNames,
  objectPath,
  MANIFEST_VERSION,
  type Manifest,
  type TreeEntry,
  type FileEntry,
  type DirEntry,
  type LinkEntry,
  type ManifestBase,
} from './tree/manifest.js';
export { checkTreePath, treePathProblem, TreeRoot } from './localfs/tree-path.js';
export { walkTree, type LocalTree, type LocalEntry } from './localfs/walk.js';
export {
  commitTree,
  findTreeChanges,
  prepareFolders,
  type WantedEntry,
  type StagedFile,
  type TreeChanges,
  type CommitTreeOptions,
} from './localfs/commit-tree.js';
export { partName } from './localfs/staging.js';
export { concatIndexes, type ConcatenatedIndex } from './core/index/concat.js';
export { createHttpDispatcher } from './sources/http/http-source.js';
export type { FoundBlocks, FoundScan } from './file/patch-file.js';
export { push, pull, type PushPullOptions } from './remote/push-pull.js';
export { serveSession, resolveServedPath, type ServeSessionOptions, type ServedSession } from './remote/serve-stdio.js';
export { commandTransport, memoryPipe, sshTransport, streamTransport, type SshOptions } from './remote/transport.js';
export { parseRemote, splitCommand, type RemoteLocation } from './remote/remote-path.js';
export { PROTOCOL_VERSION, type Hello } from './remote/wire/handshake.js';
export type { Transport, CompressionOptions } from './remote/wire/channel.js';
export type { SyncReport, SyncProgress, FinishReport } from './remote/wire/report.js';
