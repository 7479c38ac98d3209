/**
 * The tasks worker threads run, as plain functions (testable without threads) and the
 * message shapes that carry them. Buffers are moved, not copied: a task's ArrayBuffer
 * goes to the worker in the transfer list and comes back the same way.
 *
 * @module
 */
import { open } from '../util/fs-promises.js';
import { ioError } from '../core/errors.js';
import type { BlockIndex } from '../core/index/block-index.js';
import { buildLookup, type LookupTable } from '../core/index/lookup.js';
import { bytesEqual, nodeHash, sha256, type StrongHash } from '../core/hashing/strong-hash.js';
import { BlockMatcher, type ScanStats } from '../core/matcher.js';
import { READ_SIZE } from '../core/read-size.js';
import { canCheckBlockDigest } from '../core/verify.js';

export { runRecords, type RecordsResult, type RecordsTask } from './records.js';

/**
 * The parts of a BlockIndex a scan needs, in a form that crosses threads: every field
 * the matcher and its lookup table read. The strong hash goes by name and is looked up
 * again in the worker ({@link strongHashByName}).
 */
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
  /** As in BlockIndex: false when the last block's strong hash covers only its real bytes. */
  paddedLastBlock?: boolean;
  /** As in BlockIndex: the rolling weak checksum (`rollsum` when absent). */
  weakAlgorithm?: 'rollsum' | 'rabinkarp';
  /** As in BlockIndex: the real length of every block (concatenated indexes). */
  lengths?: Uint32Array;
  /** Keep the full strong hash of every block found (the index has a block digest). */
  keepHashes?: boolean;
}

/** BlockIndex fields a scan never reads, left out of a {@link SharedIndex}. */
type NotForScans = 'fileDigest' | 'url' | 'published' | 'blockDigest';
/**
 * `T` while it carries every BlockIndex field but `Omitted`, else `never`: a field added to
 * BlockIndex stops the build (at {@link shareIndex}) until a SharedIndex carries it too,
 * or it is listed in {@link NotForScans}.
 */
type CarryingIndexFields<T, Omitted extends keyof BlockIndex> = [Exclude<keyof BlockIndex, Omitted | keyof T>] extends [never] ? T : never;

/**
 * The strong hash of an index by its `name` (as a StrongHash records it): the project's
 * own MD4 and BLAKE2b-256 (WebAssembly, loaded on first use: Node's OpenSSL 3 has
 * neither), SHA-256, else the `node:crypto` hash of that name.
 */
export async function strongHashByName(name: string, digestLength: number): Promise<StrongHash> {
  switch (name) {
    case 'md4':
      return (await import('../core/hashing/md4.js')).md4;
    case 'blake2b-256':
      return (await import('../core/hashing/blake2b.js')).blake2b256;
    case sha256.name:
      if (digestLength === sha256.digestLength) return sha256;
      break;
  }
  return nodeHash(name, digestLength);
}

/**
 * True when a worker can rebuild the strong hash of `index` from its name: the hash found
 * by {@link strongHashByName} gives the same digest as the index's own on a sample. False
 * for a hash a caller made up (a custom StrongHash), which must then be scanned on the
 * calling thread.
 */
export async function workersCanHash(index: Pick<BlockIndex, 'strongHash'>): Promise<boolean> {
  const own = index.strongHash;
  try {
    const named = await strongHashByName(own.name, own.digestLength);
    if (named === own) return true;
    if (named.digestLength !== own.digestLength) return false;
    const sample = Uint8Array.from({ length: 100 }, (_, i) => (i * 37 + 11) & 0xff);
    const a = new Uint8Array(own.digestLength);
    const b = new Uint8Array(own.digestLength);
    own.hashInto(sample, 3, 90, a, 0, a.length);
    named.hashInto(sample, 3, 90, b, 0, b.length);
    return bytesEqual(a, 0, b, 0, a.length);
  } catch {
    return false;
  }
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
  /** With `keepHashes`: the full strong hash of every block found (32 bytes per block). */
  fullHashes?: Uint8Array | undefined;
}

let cached: { id: string; index: BlockIndex; lookup: LookupTable } | undefined;

async function indexFor(shared: SharedIndex): Promise<{ index: BlockIndex; lookup: LookupTable }> {
  if (cached?.id === shared.id) return cached;
  const index: BlockIndex = {
    fileSize: shared.fileSize,
    blockSize: shared.blockSize,
    blockCount: shared.blockCount,
    seqMatches: shared.seqMatches,
    weakBytes: shared.weakBytes,
    strongBytes: shared.strongBytes,
    strongHash: await strongHashByName(shared.strongHash.name, shared.strongHash.digestLength),
    weak: shared.weak,
    strong: shared.strong,
    // A scan never checks the whole-file digest.
    fileDigest: { algorithm: 'none', digest: new Uint8Array(0) },
    ...(shared.paddedLastBlock !== undefined ? { paddedLastBlock: shared.paddedLastBlock } : {}),
    ...(shared.weakAlgorithm !== undefined ? { weakAlgorithm: shared.weakAlgorithm } : {}),
    ...(shared.lengths !== undefined ? { lengths: shared.lengths } : {}),
  };
  cached = { id: shared.id, index, lookup: buildLookup(index) };
  return cached;
}

/** Runs a {@link ScanTask}: reads each section (plus the windows' overlap) and scans it. */
export async function runScan(task: ScanTask): Promise<ScanResult> {
  const { index, lookup } = await indexFor(task.index);
  const matcher = new BlockMatcher(index, { lookup, keepHashes: task.index.keepHashes === true });
  matcher.markKnown(task.known);
  const fh = await open(task.path, 'r').catch((cause: unknown) => Promise.reject(ioError('open the local file', task.path, cause)));
  try {
    const buf = Buffer.allocUnsafeSlow(READ_SIZE);
    for (const [start, end] of task.sections) {
      const stop = Math.min(task.fileSize, end + 2 * index.blockSize);
      const scanner = matcher.scanner(task.source, start);
      for (let pos = start; pos < stop && !matcher.complete; ) {
        let bytesRead: number;
        try {
          ({ bytesRead } = await fh.read(buf, 0, Math.min(buf.length, stop - pos), pos));
        } catch (cause) {
          throw ioError('read the local file', task.path, cause);
        }
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
  return {
    foundSource: matcher.foundSource,
    foundOffset: matcher.foundOffset,
    direct: matcher.direct,
    stats: matcher.stats,
    ...(matcher.fullHashes !== undefined ? { fullHashes: matcher.fullHashes } : {}),
  };
}

/**
 * Copies what a scan needs from an index into thread-shareable memory. The strong hash
 * goes by name: check {@link workersCanHash} before scanning with it on workers.
 */
export function shareIndex(index: BlockIndex, id: string): CarryingIndexFields<SharedIndex, NotForScans> {
  return {
    id,
    fileSize: index.fileSize,
    blockSize: index.blockSize,
    blockCount: index.blockCount,
    seqMatches: index.seqMatches,
    weakBytes: index.weakBytes,
    strongBytes: index.strongBytes,
    strongHash: { name: index.strongHash.name, digestLength: index.strongHash.digestLength },
    weak: shared(index.weak, Uint32Array),
    strong: shared(index.strong, Uint8Array),
    ...(index.paddedLastBlock !== undefined ? { paddedLastBlock: index.paddedLastBlock } : {}),
    ...(index.weakAlgorithm !== undefined ? { weakAlgorithm: index.weakAlgorithm } : {}),
    ...(index.lengths !== undefined ? { lengths: shared(index.lengths, Uint32Array) } : {}),
    ...(canCheckBlockDigest(index) ? { keepHashes: true } : {}),
  };
}

/** A copy of `from` in a SharedArrayBuffer. */
function shared<T extends Uint8Array | Uint32Array>(from: T, Type: new (buffer: SharedArrayBuffer) => T): T {
  const to = new Type(new SharedArrayBuffer(from.byteLength));
  to.set(from);
  return to;
}
