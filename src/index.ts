/**
 * gosync: update big files from a static index and HTTP range requests, moving only
 * what changed. This barrel exports the stable API; see the README for a tour.
 *
 * @module
 */
export { ErrorCodes, SyncError, type ErrorCode, type SyncErrorDetails } from './errors.js';
export { RollingChecksum, weakChecksum, weakMask } from './rollsum/rollsum.js';
export { sha256, nodeHash, type StrongHash, type IncrementalHash } from './hashing/strong-hash.js';
export { blockLength, strongHashLength, NO_FILE_DIGEST, type BlockIndex, type FileDigest } from './index/block-index.js';
export { defaultBlockSize, defaultHashLengths, type HashLengths } from './index/params.js';
export {
  decodeIndex,
  encodeIndex,
  readIndexHeader,
  isGosyncIndex,
  indexSize,
  DEFAULT_MAX_INDEX_BYTES,
  type IndexHeader,
  type DecodeIndexOptions,
} from './index/format.js';
export { IndexBuilder, buildIndex, type IndexBuilderOptions } from './index/builder.js';
export { buildLookup, type LookupTable } from './index/lookup.js';
export { BlockMatcher, Scanner, type FoundSpan, type MissingSpan, type MatcherOptions, type ScanStats } from './matcher/block-matcher.js';
export { planRanges, rangesBytes, type PlanOptions, type PlannedRange } from './planner/plan-ranges.js';
export { assemble, type AssembleOptions, type AssembleResult, type LocalReader, type OutputSink, type PatchProgress } from './patcher/assemble.js';
export { BlockVerifier, FileVerifier } from './verify/block-verifier.js';
export { assertRanges, type BlockSource, type ByteRange, type ReadRangesOptions, type SourceStats } from './sources/block-source.js';
export { MemorySource } from './sources/memory-source.js';
export { FileSource, type FileSourceOptions } from './sources/file-source.js';
export { HttpSource, httpGet, type HttpSourceOptions } from './sources/http-source.js';
export { buildIndexFile, type BuildFileOptions, type BuildReport } from './build-file.js';
export { loadIndex, resolveReference, type LoadIndexOptions, type LoadedIndex } from './load-index.js';
export { scanLocalFiles, type ScanOptions, type LocalScan } from './local-scan.js';
export { patchFile, diffFile, type PatchOptions, type DiffOptions, type PatchReport, type DiffReport } from './patch-file.js';
export { startStaticServer, type StaticServer, type StaticServerOptions } from './serve/static-server.js';
export { decodeZsync, ZsyncBuilder, buildZsync, zsyncHashLengths, zsyncBlockSize, type ZsyncControl, type ZsyncBuilderOptions } from './formats/zsync-control.js';
export { buildZsyncFile, type BuildZsyncFileOptions } from './formats/zsync-file.js';
export { decodeGoSyncV0Index, encodeGoSyncV0Index, goSyncV0AsBlockIndex, goSyncV0ToBlockIndex, type GoSyncV0Index } from './formats/gosync-v0.js';
export { detectIndexFormat, decodeAnyIndex, type IndexFormat } from './formats/detect.js';
export { md4 } from './hashing/md4.js';
export { blake2b256 } from './hashing/blake2b.js';
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
export { checkTreePath, treePathProblem, TreeRoot } from './tree/tree-path.js';
export { walkTree, type LocalTree, type LocalEntry } from './tree/walk.js';
export { commitTree, findTreeChanges, prepareFolders, partName, type WantedEntry, type StagedFile, type TreeChanges, type CommitTreeOptions } from './tree/commit-tree.js';
export { concatIndexes, type ConcatenatedIndex } from './index/concat.js';
export { createHttpDispatcher } from './sources/http-source.js';
export type { FoundBlocks, FoundScan } from './patch-file.js';
export { push, pull, type PushPullOptions } from './remote/push-pull.js';
export { serveSession, resolveServedPath, type ServeSessionOptions, type ServedSession } from './remote/serve-stdio.js';
export { commandTransport, memoryPipe, sshTransport, streamTransport, type SshOptions } from './remote/transport.js';
export { parseRemote, splitCommand, type RemoteLocation } from './remote/remote-path.js';
export { PROTOCOL_VERSION, type Hello } from './remote/handshake.js';
export type { Transport, CompressionOptions } from './remote/channel.js';
export type { SyncReport, SyncProgress, FinishReport } from './remote/report.js';
