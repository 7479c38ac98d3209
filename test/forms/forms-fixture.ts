/**
 * What the compressed-forms tests share: the frame geometry, a compressible text of 10
 * frames and a short last one, a reader of every range, and a source that records what it
 * was asked for.
 */
import type { BlockSource, ByteRange } from '../../src/core/block-source.js';
import { MemorySource } from '../../src/sources/memory-source.js';
import { randomBytes } from '../helpers/data.js';

export const BS = 4096;
export const BLOCKS_PER_FRAME = 4;
export const FRAME_BYTES = BS * BLOCKS_PER_FRAME;

/** Compressible (a few words repeated) but not constant: 10 frames and a short last one, words drawn from `seed`. */
export function wordsText(seed: number): Uint8Array {
  const words = ['alpha ', 'beta ', 'gamma ', 'delta ', 'epsilon '];
  return new Uint8Array(
    Buffer.from(Array.from(randomBytes(40_000, seed), (b) => words[b % words.length]).join('')).subarray(0, 10 * FRAME_BYTES + 1234),
  );
}

/** Reads every range from a source into one buffer. */
export async function readAll(source: BlockSource, ranges: readonly ByteRange[]): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of source.read(ranges)) parts.push(Uint8Array.from(c));
  return new Uint8Array(Buffer.concat(parts));
}

/** A memory source that records the ranges it is asked for. */
export class RecordingSource extends MemorySource {
  readonly asked: ByteRange[] = [];
  override async *read(ranges: readonly ByteRange[], options = {}) {
    this.asked.push(...ranges);
    yield* super.read(ranges, options);
  }
}
