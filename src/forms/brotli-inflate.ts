/**
 * Reading a brotli-compressed object (a published delta, a small file's whole stream)
 * from a block source, inflated as it arrives.
 *
 * @module
 */
import type { BlockSource } from '../core/block-source.js';
import { inflated } from './inflate.js';

/**
 * Yields the inflated bytes of the first `size` bytes of `source`. A source failure rejects
 * the iteration with the source's error, a damaged or truncated stream with FRAME_CORRUPT;
 * stopping early cancels the read. (For a form of either codec see {@link inflated}.)
 */
export function brotliInflated(source: BlockSource, size: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  return inflated(source, size, 'brotli', signal);
}
