/** Runs the whole engine in memory: scan `locals`, plan, assemble from `reference`. */
import type { BlockIndex } from '../../src/core/index/block-index.js';
import { BlockMatcher } from '../../src/core/matcher.js';
import { assemble, type LocalReader } from '../../src/core/patcher.js';
import { planRanges } from '../../src/core/planner.js';
import type { BlockSource } from '../../src/core/block-source.js';
import { MemorySource } from '../../src/sources/memory-source.js';
import { chunked } from './data.js';

export function memoryReader(data: Uint8Array): LocalReader {
  return {
    async readInto(target, position) {
      const n = Math.max(0, Math.min(target.length, data.length - position));
      target.set(data.subarray(position, position + n));
      return n;
    },
  };
}

/** Scans each local buffer, fed in chunks of `splits` sizes (whole when omitted). */
export function scanMemory(index: BlockIndex, locals: readonly Uint8Array[], splits?: readonly number[]): BlockMatcher {
  const m = new BlockMatcher(index);
  locals.forEach((data, id) => {
    const s = m.scanner(id);
    if (splits) for (const c of chunked(data, splits)) s.push(c);
    else s.push(data);
    s.end();
  });
  return m;
}

export async function patchMemory(
  index: BlockIndex,
  locals: readonly Uint8Array[],
  reference: Uint8Array | BlockSource,
  options: { splits?: readonly number[]; gapBytes?: number } = {},
) {
  const m = scanMemory(index, locals, options.splits);
  const ranges = planRanges(m.missingSpans(), { fileSize: index.fileSize, blockSize: index.blockSize, gapBytes: options.gapBytes ?? 0 });
  const parts: Uint8Array[] = [];
  const source = reference instanceof Uint8Array ? new MemorySource(reference) : reference;
  const result = await assemble({
    index,
    foundSource: m.foundSource,
    foundOffset: m.foundOffset,
    locals: locals.map(memoryReader),
    ranges,
    source,
    sink: {
      async write(d) {
        parts.push(Uint8Array.from(d));
      },
    },
  });
  return { output: new Uint8Array(Buffer.concat(parts)), matcher: m, ranges, result };
}
