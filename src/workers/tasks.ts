/**
 * The tasks worker threads run, as plain functions (testable without threads) and the
 * message shapes that carry them. Buffers are moved, not copied: a task's ArrayBuffer
 * goes to the worker in the transfer list and comes back the same way.
 *
 * @module
 */
import { open } from 'node:fs/promises';
import { ErrorCodes, SyncError } from '../errors.js';
import type { BlockIndex } from '../index/block-index.js';
import { writeBlockRecords, type RecordShape } from '../index/block-records.js';
import { buildLookup, type LookupTable } from '../index/lookup.js';
import { nodeHash } from '../hashing/strong-hash.js';
import { BlockMatcher, type ScanStats } from '../matcher/block-matcher.js';

/** Hash the whole blocks of a chunk into records. */
export interface RecordsTask {
  kind: 'records';
  shape: RecordShape;
  /** The chunk (moved to the worker and back). */
  buffer: ArrayBuffer;
  /** Bytes of the chunk in use: a multiple of the block size. */
  length: number;
}

/** The records of a chunk, and the chunk's buffer back for reuse. */
export interface RecordsResult {
  records: ArrayBuffer;
  buffer: ArrayBuffer;
}

/** Runs a {@link RecordsTask}. */
export function runRecords(task: RecordsTask): RecordsResult {
  const { shape, length } = task;
  const count = length / shape.blockSize;
  const records = new Uint8Array(count * (shape.weakBytes + shape.strongBytes));
  writeBlockRecords(new Uint8Array(task.buffer, 0, length), 0, count, shape, records, 0);
  return { records: records.buffer, buffer: task.buffer };
}

/** The parts of a BlockIndex a scan needs, in a form that crosses threads. */
export interface SharedIndex {
  /** Identifies the index, so a worker builds its lookup table once per index. */
  id: string;
  fileSize: number;
  blockSize: number;
  blockCount: number;
  seqMatches: 1 | 2;
  weakBytes: number;
  strongBytes: number;
  strongHash: { name: string; digestLength: number };
  weak: Uint32Array;
  strong: Uint8Array;
}

/** Scan windows starting in the given `[start, end)` sections of a local file. */
export interface ScanTask {
  kind: 'scan';
  index: SharedIndex;
  path: string;
  /** Local file id to record. */
  source: number;
  /** Sections, each scanned on its own (no sequence prediction across them). */
  sections: readonly (readonly [start: number, end: number])[];
  /** Size of the whole file (the section is read up to `end + 2·blockSize`, within it). */
  fileSize: number;
  /** Blocks already found (1) — not looked for again. */
  known: Uint8Array;
}

/** What a section scan found. */
export interface ScanResult {
  foundSource: Int32Array;
  foundOffset: Float64Array;
  direct: Uint8Array;
  stats: ScanStats;
}

let cached: { id: string; index: BlockIndex; lookup: LookupTable } | undefined;

function indexFor(shared: SharedIndex): { index: BlockIndex; lookup: LookupTable } {
  if (cached?.id === shared.id) return cached;
  const index: BlockIndex = {
    fileSize: shared.fileSize,
    blockSize: shared.blockSize,
    blockCount: shared.blockCount,
    seqMatches: shared.seqMatches,
    weakBytes: shared.weakBytes,
    strongBytes: shared.strongBytes,
    strongHash: nodeHash(shared.strongHash.name, shared.strongHash.digestLength),
    weak: shared.weak,
    strong: shared.strong,
    // A scan never checks the whole-file digest.
    fileDigest: { algorithm: 'none', digest: new Uint8Array(0) },
  };
  cached = { id: shared.id, index, lookup: buildLookup(index) };
  return cached;
}

const READ_SIZE = 4 * 1024 * 1024;

/** Runs a {@link ScanTask}: reads each section (plus the windows' overlap) and scans it. */
export async function runScan(task: ScanTask): Promise<ScanResult> {
  const { index, lookup } = indexFor(task.index);
  const matcher = new BlockMatcher(index, { lookup });
  matcher.markKnown(task.known);
  const fh = await open(task.path, 'r').catch((cause: unknown) => {
    throw new SyncError(ErrorCodes.IO, `Cannot open the local file ${task.path}: ${(cause as Error).message}`, { cause, path: task.path });
  });
  try {
    const buf = Buffer.allocUnsafeSlow(READ_SIZE);
    for (const [start, end] of task.sections) {
      const stop = Math.min(task.fileSize, end + 2 * index.blockSize);
      const scanner = matcher.scanner(task.source, start);
      for (let pos = start; pos < stop && !matcher.complete; ) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, stop - pos), pos);
        if (bytesRead === 0) break;
        scanner.push(buf.subarray(0, bytesRead));
        pos += bytesRead;
      }
      // Only the real end of the file gets the end-of-file treatment (zero padding).
      if (stop === task.fileSize) scanner.end();
    }
  } finally {
    await fh.close();
  }
  return { foundSource: matcher.foundSource, foundOffset: matcher.foundOffset, direct: matcher.direct, stats: matcher.stats };
}

/** Copies what a scan needs from an index into thread-shareable memory. */
export function shareIndex(index: BlockIndex, id: string): SharedIndex {
  const weak = new Uint32Array(new SharedArrayBuffer(index.weak.byteLength));
  weak.set(index.weak);
  const strong = new Uint8Array(new SharedArrayBuffer(index.strong.byteLength));
  strong.set(index.strong);
  return {
    id,
    fileSize: index.fileSize,
    blockSize: index.blockSize,
    blockCount: index.blockCount,
    seqMatches: index.seqMatches,
    weakBytes: index.weakBytes,
    strongBytes: index.strongBytes,
    strongHash: { name: index.strongHash.name, digestLength: index.strongHash.digestLength },
    weak,
    strong,
  };
}
