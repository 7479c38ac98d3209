/**
 * `gosync/core`: the engine, without paths, transport or `process` — rolling weak
 * checksums, strong hashes, the block index (builder, binary format, lookup table), the
 * matcher, the planner, the patcher and its verifiers, and the `BlockSource` interface
 * every source implements. `gosync` itself exports the operations built on them.
 *
 * @module
 */
export { ErrorCodes, SyncError, type ErrorCode, type SyncErrorDetails } from './errors.js';
export { assertRanges, type BlockSource, type ByteRange, type ReadRangesOptions, type SourceStats } from './block-source.js';
export { RollingChecksum, weakChecksum, weakMask } from './rollsum.js';
export { rabinKarpChecksum } from './rabin-karp.js';
export { nodeHash, sha256, type IncrementalHash, type StrongHash } from './hashing/strong-hash.js';
export { md4 } from './hashing/md4.js';
export { blake2b256 } from './hashing/blake2b.js';
export { blockLength, strongHashLength, NO_FILE_DIGEST, type BlockIndex, type FileDigest } from './index/block-index.js';
export type { BaseCodec, BaseDeltaForm, Codec, FramesForm, PublishedForms, WholeForm } from './index/published.js';
export { defaultBlockSize, defaultHashLengths, type HashLengths } from './index/params.js';
export {
  decodeIndex,
  encodeIndex,
  readIndexHeader,
  readIndexSummary,
  baseDeltaName,
  isGosyncIndex,
  indexSize,
  DEFAULT_MAX_INDEX_BYTES,
  type DecodedHeader,
  type DecodeIndexOptions,
  type IndexHeader,
  type IndexSummary,
  type IndexVersion,
} from './index/format.js';
export { IndexBuilder, buildIndex, type IndexBuilderOptions } from './index/builder.js';
export { buildLookup, type LookupTable } from './index/lookup.js';
export { concatIndexes, type ConcatenatedIndex } from './index/concat.js';
export { BlockMatcher, Scanner, type FoundSpan, type MatcherOptions, type MissingSpan, type ScanStats } from './matcher.js';
export { planRanges, rangesBytes, type PlanOptions, type PlannedRange } from './planner.js';
export {
  assemble,
  type AssembleOptions,
  type AssembleResult,
  type CopiedOutput,
  type LocalReader,
  type OutputSink,
  type PatchProgress,
} from './patcher.js';
export { BlockVerifier, FileVerifier } from './verify.js';
