/**
 * Telling index formats apart by their first bytes, and decoding whichever it is.
 *
 * | format | starts with | |
 * |---|---|---|
 * | `gosync` | `GOSYNCIX` | gosync's own index (docs/format.md) |
 * | `zsync` | `zsync:` | a zsync control file (docs/formats.md) |
 * | `go-sync` | `G0S9NC` | a go-sync 0.2 index (docs/formats.md) |
 *
 * @module
 */
import { ErrorCodes, SyncError } from '../core/errors.js';
import type { BlockIndex } from '../core/index/block-index.js';
import { decodeIndex } from '../core/index/format.js';
import { decodeGoSyncV0Index, goSyncV0AsBlockIndex } from './gosync-v0.js';
import { type IndexFormat, detectIndexFormat } from './index-magic.js';
import { decodeZsync, type ZsyncControl } from './zsync-control.js';

// Telling the formats apart needs none of their codecs (index-magic.ts).
export { detectIndexFormat, type IndexFormat } from './index-magic.js';

/** Options of {@link decodeAnyIndex}. */
export interface DecodeAnyIndexOptions {
  /** Refuse indexes larger than this many bytes (default 1 GiB). */
  maxBytes?: number;
  /** Named in messages (a path or URL). */
  name?: string;
}

/** A decoded index of any format. */
export interface DecodedAnyIndex {
  format: IndexFormat;
  index: BlockIndex;
  /** The whole control file, for `zsync`. */
  zsync?: ZsyncControl;
}

/**
 * Decodes a gosync index or a `.zsync` control file into a {@link BlockIndex}.
 *
 * A go-sync index records no whole-file hash: it maps with {@link goSyncV0AsBlockIndex},
 * and the result is then verified block by block against full MD5s (callers who know the
 * reference's digest can add it with `goSyncV0ToBlockIndex`). Unknown data is
 * INDEX_CORRUPT.
 */
export function decodeAnyIndex(data: Uint8Array, options: DecodeAnyIndexOptions = {}): DecodedAnyIndex {
  const limits = options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes };
  const format = detectIndexFormat(data);
  switch (format) {
    case 'gosync':
      return { format, index: decodeIndex(data, limits) };
    case 'zsync': {
      const zsync = decodeZsync(data, limits);
      return { format, index: zsync.index, zsync };
    }
    case 'go-sync':
      return { format, index: goSyncV0AsBlockIndex(decodeGoSyncV0Index(data, limits)) };
    default:
      throw new SyncError(
        ErrorCodes.INDEX_CORRUPT,
        `Cannot read the index${options.name ? ` ${options.name}` : ''}: it is not a gosync index, a .zsync control file or a go-sync index (unknown first bytes)`,
      );
  }
}
