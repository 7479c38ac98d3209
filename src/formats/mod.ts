/**
 * `gosync/formats`: codecs between other tools' files and gosync's block index — zsync
 * control files, go-sync 0.2 indexes, librsync (rdiff) signatures and deltas with rdiff's
 * file commands, and detection of an index's format.
 *
 * @module
 */
export {
  decodeZsync,
  isZsyncControl,
  ZsyncBuilder,
  buildZsync,
  zsyncBlockSize,
  zsyncHashLengths,
  type DecodeZsyncOptions,
  type ZsyncBuilderOptions,
  type ZsyncControl,
  type ZsyncPlan,
} from './zsync-control.js';
export {
  decodeGoSyncV0Index,
  encodeGoSyncV0Index,
  isGoSyncV0Index,
  goSyncV0AsBlockIndex,
  goSyncV0ToBlockIndex,
  type DecodeGoSyncOptions,
  type GoSyncV0Index,
  type GoSyncV0ToBlockIndexOptions,
} from './gosync-v0.js';
export { detectIndexFormat, decodeAnyIndex, type DecodeAnyIndexOptions, type DecodedAnyIndex, type IndexFormat } from './detect.js';
export {
  decodeLibrsyncSignature,
  encodeLibrsyncSignature,
  isLibrsyncSignature,
  LibrsyncSignatureBuilder,
  librsyncSignatureParams,
  librsyncTailMatch,
  librsyncToBlockIndex,
  librsyncWeakSum,
  type DecodeLibrsyncSignatureOptions,
  type LibrsyncHash,
  type LibrsyncRollsum,
  type LibrsyncSignature,
  type LibrsyncSignatureOptions,
  type LibrsyncSignatureParams,
  type LibrsyncToBlockIndexOptions,
} from './librsync-signature.js';
export {
  applyLibrsyncDelta,
  decodeLibrsyncDelta,
  encodeLibrsyncDelta,
  isLibrsyncDelta,
  LibrsyncDeltaEncoder,
  LibrsyncDeltaGenerator,
  LibrsyncDeltaParser,
  type DeltaEvent,
  type DeltaStats,
} from './librsync-delta.js';
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
} from './rdiff-file.js';
