/**
 * The matcher: finds the blocks of the reference in local files, at any byte offset.
 *
 * A {@link BlockMatcher} holds, for every reference block, where (which local file, which
 * offset) a copy was found. Each local file is scanned by a {@link Scanner}, a push-style
 * sync state machine: feed it the file's bytes in any chunking, then `end()`. The scan
 * rolls the weak checksum one byte at a time (rsync's algorithm), so insertions and
 * deletions anywhere still match; after a match it jumps a whole block and first tries
 * the block that follows the one just matched (the common case: unchanged runs).
 *
 * The hot loop allocates nothing: the window is index arithmetic over one buffer, the
 * sums are small-integer math, the filter and table are typed arrays. The strong hash is
 * computed only for windows whose weak checksum(s) hit, at most once per window.
 *
 * @module
 */
import type { BlockIndex } from './index/block-index.js';
import { blockLength, strongHashLength } from './index/block-index.js';
import { MIX_KEY, MIX_SECOND, buildLookup, groupSorted, type LookupTable } from './index/lookup.js';
import { weakChecksum, weakMask } from './rollsum.js';
import { RK_ADJ, RK_MULT, rabinKarpChecksum, rkPower } from './rabin-karp.js';
import { bytesEqual } from './hashing/strong-hash.js';
import { RollsumScan, wasmScanFrom } from './scan/rollsum-scan.js';
import { canCheckBlockDigest } from './verify.js';

/** Options of {@link BlockMatcher}. */
export interface MatcherOptions {
  /**
   * Strong-hash comparisons tried at one offset before giving up on it (rsync 3.5 uses
   * 1024), so that data with very many equal weak checksums cannot stall the scan.
   */
  maxCandidates?: number;
  /** A lookup table built earlier for the same index (to share it between matchers). */
  lookup?: LookupTable;
  /**
   * Delta mode (what rdiff delta needs): every occurrence of a block is matched, not just
   * the first, the scan never stops early, and no look-back is done, so matches come in
   * increasing file order without overlap. Use with `onMatch`.
   */
  repeat?: boolean;
  /** Called for every direct match: reference block `block` found at `offset`. */
  onMatch?: (block: number, offset: number) => void;
  /**
   * Keep the full 32-byte strong hash of every block found ({@link BlockMatcher.fullHashes}),
   * so that the result can be checked against the index's block digest without hashing it
   * again (default: when the patcher can check that digest, {@link canCheckBlockDigest}).
   */
  keepHashes?: boolean;
}

/** A run of consecutive reference blocks found contiguously in one local file. */
export interface FoundSpan {
  /** First reference block. */
  readonly firstBlock: number;
  /** Number of blocks. */
  readonly blockCount: number;
  /** Which local file (the id given to {@link BlockMatcher.scanner}). */
  readonly source: number;
  /** Byte offset of the first block in that file. */
  readonly offset: number;
}

/** A run of consecutive reference blocks found nowhere locally. */
export interface MissingSpan {
  readonly firstBlock: number;
  readonly blockCount: number;
}

/** Scan counters, for reports and benchmarks. */
export interface ScanStats {
  /** Bytes of local data scanned. */
  bytesScanned: number;
  /** Windows whose weak checksum passed the filter and the table. */
  weakHits: number;
  /** Strong hashes computed. */
  strongHashes: number;
  /** Weak hits rejected by the strong hash. */
  falseMatches: number;
}

/** Runs of blocks whose `foundSource` is -1 (not found), in order. */
export function missingSpansOf(foundSource: Int32Array): MissingSpan[] {
  const out: MissingSpan[] = [];
  const n = foundSource.length;
  for (let i = 0; i < n; ) {
    if (foundSource[i] !== -1) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < n && foundSource[j] === -1) j++;
    out.push({ firstBlock: i, blockCount: j - i });
    i = j;
  }
  return out;
}

/** Consecutive failed predictions before the scan stops expecting blocks in place. */
const MAX_MISSES = 16;

/**
 * Bytes of strong hashing a scan may spend per byte scanned, beyond {@link HASH_ALLOWANCE}.
 * A window whose weak sum hits costs a strong hash of a whole block; an index (a peer's
 * signature) may put a block under a weak sum the file has at every offset (a zero block
 * against a file of zeros), making the scan hash a block per byte: with 16 KiB blocks, a
 * 32 KiB file cost 256 MB of hashing, a 1 GiB file would cost 16 TB. Past the budget,
 * weak hits are no longer looked up (the blocks predicted after a match still are): the
 * rest of the file is then literal data, a correct result. An ordinary scan hashes about
 * one block per block of data, and false hits are rare: it never comes near.
 */
const HASH_BYTES_PER_BYTE = 4;
/** Strong hashing any scan may spend, whatever it scanned (16 MiB). */
const HASH_ALLOWANCE = 16 * 1024 * 1024;

/** Largest read/scan buffer: large sequential pieces, few compactions. */
const SCAN_BUFFER = 4 * 1024 * 1024;
/**
 * First scan buffer: it doubles up to {@link SCAN_BUFFER} as data comes, so a small file
 * does not cost a zeroed 4 MiB (a 121-file folder pushed through ssh spent 67 ms of
 * allocation and 80 ms of garbage collection on them, of 1.3 s).
 */
const FIRST_SCAN_BUFFER = 64 * 1024;
/** Bytes of a full SHA-256: the strong hashes {@link BlockMatcher.fullHashes} keeps. */
const FULL_HASH = 32;

/**
 * Where each reference block was found. Shared by the scanners of several local files
 * (seeds): a block found in one is not looked for again.
 *
 * @example
 * ```ts
 * const m = new BlockMatcher(index);
 * const s = m.scanner(0);
 * for await (const chunk of createReadStream('old.bin')) s.push(chunk);
 * s.end();
 * console.log(m.foundCount, m.missingSpans());
 * ```
 */
export class BlockMatcher {
  readonly index: BlockIndex;
  readonly lookup: LookupTable;
  /** Local file id per block, -1 where not found. */
  readonly foundSource: Int32Array;
  /** Byte offset in that file per block. */
  readonly foundOffset: Float64Array;
  /**
   * 1 where the block was matched where it stands, 0 where it was filled from an
   * identical twin. A twin-filled block can still be matched directly later, which keeps
   * runs contiguous in the local file (fewer, longer copies).
   */
  readonly direct: Uint8Array;
  /** Number of blocks found so far. */
  foundCount = 0;
  readonly maxCandidates: number;
  readonly repeat: boolean;
  readonly #onMatch: ((block: number, offset: number) => void) | undefined;
  readonly stats: ScanStats = { bytesScanned: 0, weakHits: 0, strongHashes: 0, falseMatches: 0 };
  /**
   * Per position of the lookup's `members`: where the search of a run of identical blocks
   * starting there resumes (the members before it are matched in place already), so that
   * a window equal to many blocks does not step over the matched ones again each time.
   */
  readonly openFrom: Int32Array;
  /**
   * With `keepHashes`: the full strong hash (32 bytes) of every block found, block after
   * block, as computed on the local data it was found in (zeros where none was found).
   */
  fullHashes: Uint8Array | undefined;

  constructor(index: BlockIndex, options: MatcherOptions = {}) {
    this.index = index;
    this.lookup = options.lookup ?? buildLookup(index);
    this.foundSource = new Int32Array(index.blockCount).fill(-1);
    this.foundOffset = new Float64Array(index.blockCount);
    this.direct = new Uint8Array(index.blockCount);
    this.openFrom = new Int32Array(this.lookup.members.length);
    this.maxCandidates = options.maxCandidates ?? 1024;
    this.repeat = options.repeat ?? false;
    this.#onMatch = options.onMatch;
    const keep = (options.keepHashes ?? canCheckBlockDigest(index)) && index.strongHash.digestLength === FULL_HASH;
    this.fullHashes = keep ? new Uint8Array(index.blockCount * FULL_HASH) : undefined;
  }

  /** True when every block has been found. */
  get complete(): boolean {
    return !this.repeat && this.foundCount === this.index.blockCount;
  }

  /**
   * A scanner for local file `source` (any integer id ≥ 0 you choose). `offset` is the
   * file offset of the first byte that will be pushed (to scan a section of a file).
   */
  scanner(source: number, offset = 0): Scanner {
    if (!Number.isInteger(source) || source < 0) throw new RangeError(`Cannot scan: source id ${source} is not a non-negative integer`);
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`Cannot scan: offset ${offset} is not a non-negative integer`);
    return new Scanner(this, source, offset);
  }

  /**
   * Marks blocks already found elsewhere (`known[i] === 1`) so that scanning does not
   * look for them again. They count as found, with `foundSource` −2.
   */
  markKnown(known: Uint8Array): void {
    for (let i = 0; i < known.length && i < this.foundSource.length; i++) {
      if (known[i] !== 1 || this.direct[i] === 1) continue;
      if (this.foundSource[i] === -1) this.foundCount++;
      this.foundSource[i] = -2;
      this.direct[i] = 1;
    }
  }

  /**
   * Takes the blocks another matcher (for the same index, e.g. a worker's, scanning
   * another section) found where this one has none, or has only a twin-filled one.
   */
  merge(other: { foundSource: Int32Array; foundOffset: Float64Array; direct: Uint8Array; fullHashes?: Uint8Array | undefined }): void {
    const { foundSource, foundOffset, direct } = this;
    const hashes = this.fullHashes;
    // Without the other's hashes, the blocks taken from it have none here: drop them all.
    if (hashes !== undefined && other.fullHashes === undefined) this.fullHashes = undefined;
    for (let i = 0; i < foundSource.length; i++) {
      const src = other.foundSource[i]!;
      if (src < 0 || direct[i] === 1) continue;
      if (foundSource[i] !== -1 && other.direct[i] !== 1) continue;
      if (foundSource[i] === -1) this.foundCount++;
      foundSource[i] = src;
      foundOffset[i] = other.foundOffset[i]!;
      direct[i] = other.direct[i]!;
      if (this.fullHashes !== undefined) this.fullHashes.set(other.fullHashes!.subarray(i * FULL_HASH, (i + 1) * FULL_HASH), i * FULL_HASH);
    }
  }

  /**
   * Records that block `i` is at `offset` in `source` (and fills its identical twins).
   * `hash[hashAt, hashAt + 32)` is the full strong hash of the data there, kept with
   * `keepHashes` (a matcher keeping hashes without being given one keeps none any more).
   */
  record(i: number, source: number, offset: number, hash?: Uint8Array, hashAt = 0): void {
    const { foundSource, foundOffset } = this;
    if (foundSource[i] === -1) this.foundCount++;
    foundSource[i] = source;
    foundOffset[i] = offset;
    this.direct[i] = 1;
    this.#onMatch?.(i, offset);
    const hashes = this.fullHashes;
    if (hashes !== undefined) {
      if (hash === undefined) this.fullHashes = undefined;
      else hashes.set(hash.subarray(hashAt, hashAt + FULL_HASH), i * FULL_HASH);
    }
    const dupNext = this.lookup.dupNext;
    let j = dupNext[i]!;
    while (j !== i) {
      if (foundSource[j] === -1) {
        foundSource[j] = source;
        foundOffset[j] = offset;
        this.foundCount++;
        // A twin whose real hash differs (equal prefixes only) fails the block digest check.
        if (this.fullHashes !== undefined) hashes!.copyWithin(j * FULL_HASH, i * FULL_HASH, (i + 1) * FULL_HASH);
      }
      j = dupNext[j]!;
    }
  }

  /** Runs of found blocks, contiguous in one local file, in reference order. */
  foundSpans(): FoundSpan[] {
    const out: FoundSpan[] = [];
    const { foundSource: src, foundOffset: off } = this;
    const bs = this.index.blockSize;
    const n = this.index.blockCount;
    for (let i = 0; i < n; ) {
      if (src[i] === -1) {
        i++;
        continue;
      }
      let j = i + 1;
      while (j < n && src[j] === src[i] && off[j] === off[i]! + (j - i) * bs) j++;
      out.push({ firstBlock: i, blockCount: j - i, source: src[i]!, offset: off[i]! });
      i = j;
    }
    return out;
  }

  /** Runs of blocks not found in any local file, in reference order. */
  missingSpans(): MissingSpan[] {
    return missingSpansOf(this.foundSource);
  }

  /** Bytes of the reference found locally. */
  get foundBytes(): number {
    const { index, foundSource } = this;
    if (index.lengths !== undefined) {
      let sum = 0;
      for (let i = 0; i < index.blockCount; i++) if (foundSource[i] !== -1) sum += index.lengths[i]!;
      return sum;
    }
    let total = this.foundCount * index.blockSize;
    const last = index.blockCount - 1;
    if (last >= 0 && foundSource[last] !== -1) total -= index.blockSize - blockLength(index, last);
    return total;
  }
}

/**
 * Scans one local file for reference blocks. Push-style and synchronous: `push(chunk)`
 * any number of times, then `end()`. Results go into the parent {@link BlockMatcher}.
 * Chunks are copied into the scanner's own buffer, so the caller may reuse them.
 */
export class Scanner {
  readonly #m: BlockMatcher;
  readonly #source: number;
  readonly #bs: number;
  /** Bytes a window needs: one block, or two when matches come in pairs. */
  readonly #span: number;
  #buf: Uint8Array;
  /** Valid bytes in #buf. */
  #len = 0;
  /** File offset of #buf[0]. */
  #base = 0;
  /** Next window start, relative to #buf. */
  #x = 0;
  /** The sums are valid for window #x. */
  #rolled = false;
  /** Window #x has been looked up already: roll before the next lookup. */
  #checked = false;
  /**
   * Prediction after a match of block k at offset o: block k+j is expected at o + j·bs.
   * The next prediction is tested when the scan reaches #predPos (a file offset), as a
   * single-block match. A miss moves the prediction one block on, up to MAX_MISSES
   * times, so unchanged blocks between edited ones (in-place changes, typical of
   * binaries) are found although no two consecutive blocks match there.
   */
  #predBlock = -1;
  #predPos = -1;
  #predMisses = 0;
  #a0 = 0;
  #b0 = 0;
  #a1 = 0;
  #b1 = 0;
  /** End of real data as a file offset (Infinity until end()). */
  #dataEnd = Infinity;
  #ended = false;
  readonly #digest: Uint8Array;
  /** Bytes of one full digest in #digest (the strong hash's digest length). */
  readonly #dl: number;
  /** Bytes kept before the window for looking back after a match. */
  readonly #history: number;
  /** RabinKarp weak sums (else rollsum), and M^blockSize for its roll. */
  readonly #rk: boolean;
  readonly #rkPow: number;
  /** The WebAssembly scan (rollsum indexes), once there is enough to scan; #buf is its buffer. */
  #wasm: RollsumScan | undefined;

  constructor(m: BlockMatcher, source: number, offset = 0) {
    this.#m = m;
    this.#source = source;
    this.#base = offset;
    this.#bs = m.index.blockSize;
    this.#span = 2 * this.#bs;
    this.#history = MAX_MISSES * this.#bs;
    this.#rk = m.index.weakAlgorithm === 'rabinkarp';
    this.#rkPow = this.#rk ? rkPower(this.#bs) | 0 : 0;
    this.#buf = new Uint8Array(Math.max(FIRST_SCAN_BUFFER, 4 * this.#span + this.#history));
    // Two full digests (one per window of a pair), kept whole for BlockMatcher.fullHashes.
    this.#dl = Math.max(m.index.strongHash.digestLength, m.index.strongBytes);
    this.#digest = new Uint8Array(2 * this.#dl);
  }

  /** Feeds the next bytes of the local file. */
  push(chunk: Uint8Array): void {
    if (this.#ended) throw new Error('Cannot push to a scanner after end()');
    this.#m.stats.bytesScanned += chunk.length;
    let p = 0;
    while (p < chunk.length) {
      if (this.#m.complete) return;
      if (this.#len === this.#buf.length) this.#compact();
      const take = Math.min(chunk.length - p, this.#buf.length - this.#len);
      this.#buf.set(take === chunk.length ? chunk : chunk.subarray(p, p + take), this.#len);
      this.#len += take;
      p += take;
      this.#scan();
    }
  }

  /** Marks the end of the local file and scans the last windows. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#m.complete) return;
    // Pad with zeros so that the last (zero-padded) reference block can match the file's
    // tail; matches are never allowed to extend past #dataEnd.
    this.#dataEnd = this.#base + this.#len;
    while (this.#len + this.#span > this.#buf.length) this.#compact();
    this.#buf.fill(0, this.#len, this.#len + this.#span);
    this.#len += this.#span;
    this.#scan();
  }

  /** Drops the bytes before the current window. */
  #compact(): void {
    this.#cache.fill(-1);
    const drop = Math.max(0, this.#x - this.#history);
    if (drop === 0 || this.#buf.length < SCAN_BUFFER) {
      if (this.#wasm !== undefined) {
        this.#buf = this.#wasm.grow(this.#buf.length * 2);
        return;
      }
      const bigger = new Uint8Array(this.#buf.length * 2);
      bigger.set(this.#buf.subarray(0, this.#len));
      this.#buf = bigger;
      return;
    }
    this.#buf.copyWithin(0, drop, this.#len);
    this.#len -= drop;
    this.#base += drop;
    this.#x -= drop;
  }

  /** Compares the strong hash of window `buf[x, x+bs)` (cached in #digest slot `k`) with block i. */
  #strongMatches(x: number, slot: number, cache: Int32Array, i: number): boolean {
    const { index } = this.#m;
    const sb = index.strongBytes;
    const dl = this.#dl;
    const len = strongHashLength(index, i);
    if (cache[slot] !== x || len !== this.#bs) {
      index.strongHash.hashInto(this.#buf, x, len, this.#digest, slot * dl, index.strongHash.digestLength);
      this.#m.stats.strongHashes++;
      // Only full-block hashes are worth keeping: an unpadded last block is hashed apart.
      cache[slot] = len === this.#bs ? x : -1;
    }
    return bytesEqual(this.#digest, slot * dl, index.strong, i * sb, sb);
  }

  readonly #cache = new Int32Array([-1, -1]);

  /** True when block i may be taken from file offset `at` (it ends within the real data). */
  #fits(i: number, at: number): boolean {
    return at + blockLength(this.#m.index, i) <= this.#dataEnd;
  }

  /** After block i matched at file offset `at`, expect block i+1 right after it. */
  #predictAfter(i: number, at: number): void {
    this.#predBlock = i + 1;
    this.#predPos = at + this.#bs;
    this.#predMisses = 0;
  }

  /** Tests the predicted block at window x by its strong hash alone; records it on a hit. */
  #tryPredictedStrong(x: number): boolean {
    const m = this.#m;
    const i = this.#predBlock;
    const at = this.#base + x;
    if (i >= m.index.blockCount || (m.direct[i] === 1 && !m.repeat) || !this.#fits(i, at)) return false;
    if (!this.#strongMatches(x, 0, this.#cache, i)) return false;
    m.record(i, this.#source, at, this.#digest, 0);
    this.#predictAfter(i, at);
    return true;
  }

  /**
   * Tests the predicted block alone at window x (x is at the predicted offset). On a
   * hit records it and predicts the next one; on a miss moves the prediction on.
   */
  #tryPredicted(x: number, w0: number): boolean {
    const m = this.#m;
    const i = this.#predBlock;
    const at = this.#base + x;
    if (i < m.index.blockCount && (m.direct[i] !== 1 || m.repeat) && m.index.weak[i] === w0) {
      m.stats.weakHits++;
      if (this.#strongMatches(x, 0, this.#cache, i) && this.#fits(i, at)) {
        m.record(i, this.#source, at, this.#digest, 0);
        this.#predictAfter(i, at);
        return true;
      }
      m.stats.falseMatches++;
    }
    if (m.direct[i] !== 1) this.#predMisses++;
    if (this.#predMisses >= MAX_MISSES || i + 1 >= m.index.blockCount) this.#predPos = -1;
    else {
      this.#predBlock = i + 1;
      this.#predPos = at + this.#bs;
    }
    return false;
  }

  /**
   * After a run starting with block e was found at window x, looks back: block e−j may
   * be at x − j·bs (unchanged blocks before an edit that broke the pair rule). Stops at a
   * block already matched in place, at the start of the kept history, or after
   * MAX_MISSES failures.
   */
  #lookBack(x: number, e: number): void {
    const m = this.#m;
    if (m.repeat) return;
    const { index } = m;
    const mask = weakMask(index.weakBytes);
    let misses = 0;
    for (let j = 1; j <= e && misses < MAX_MISSES; j++) {
      const b = e - j;
      const p = x - j * this.#bs;
      if (p < 0 || m.direct[b] === 1) return;
      if ((this.#weakAt(p) & mask) >>> 0 === index.weak[b] && this.#strongMatches(p, 0, this.#cache, b)) {
        m.record(b, this.#source, this.#base + p, this.#digest, 0);
        misses = 0;
      } else misses++;
    }
  }

  /**
   * Looks window x up: walks the chain for key `key` to its group (or groups: the short
   * last block is one of its own) and tries the group's candidates. Returns the number of
   * blocks matched (0, 1 or 2).
   */
  #lookup(x: number, key: number, w0: number, w1: number): number {
    if (this.#overBudget()) return 0;
    const t = this.#m.lookup;
    for (let e = t.heads[key >>> t.tableShift]!; e >= 0; e = t.next[e]!) {
      if (t.keys[e] !== key) continue;
      const size = t.groupSize[e]!;
      const matched = groupSorted(size)
        ? this.#searchGroup(x, t.groupStart[e]!, size, w0, w1)
        : this.#walkGroup(x, t.groupStart[e]!, size, w0, w1);
      if (matched > 0) return matched;
    }
    return 0;
  }

  /**
   * True when the scan has spent its strong-hash budget ({@link HASH_BYTES_PER_BYTE}):
   * #lookup then looks nothing up. Within one #scan it stays so (only push adds to the
   * bytes scanned), so the WebAssembly scan then only rolls, stopping at predicted windows.
   * (The first 64 MiB of the Node binary against the index of a bun binary spent the
   * budget on its runs of zeros, then stopped the WebAssembly scan 1.7 million times at
   * windows whose key is the zero blocks' for #lookup to return at once.)
   */
  #overBudget(): boolean {
    const { stats } = this.#m;
    return stats.strongHashes * this.#bs > HASH_BYTES_PER_BYTE * stats.bytesScanned + HASH_ALLOWANCE;
  }

  /** Tries the members of a small group in block order (at most {@link MatcherOptions.maxCandidates}). */
  #walkGroup(x: number, from: number, size: number, w0: number, w1: number): number {
    const m = this.#m;
    const { weak } = m.index;
    const members = m.lookup.members;
    const direct = m.direct;
    const pairs = m.lookup.pairs;
    let tries = 0;
    for (let k = from; k < from + size; k++) {
      const e = members[k]!;
      if (weak[e] !== w0) continue;
      if (pairs && weak[e + 1] !== w1) continue;
      if (direct[e] === 1 && (!pairs || direct[e + 1] === 1) && !m.repeat) continue;
      m.stats.weakHits++;
      if (++tries > m.maxCandidates) return 0;
      if (!this.#strongMatches(x, 0, this.#cache, e) || (pairs && !this.#strongMatches(x + this.#bs, 1, this.#cache, e + 1))) {
        m.stats.falseMatches++;
        continue;
      }
      const matched = this.#take(x, e);
      if (matched > 0) return matched;
    }
    return 0;
  }

  /**
   * Finds window x's candidates in a large group by binary search on weak then strong sums
   * (both windows' in pairs): O(log size) comparisons and at most one strong hash per window,
   * then tries the equal members (identical blocks) from the first not yet matched in place.
   */
  #searchGroup(x: number, from: number, size: number, w0: number, w1: number): number {
    const m = this.#m;
    const members = m.lookup.members;
    let lo = from;
    let hi = from + size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#compareWindow(members[mid]!, x, w0, w1) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo === from + size || this.#compareWindow(members[lo]!, x, w0, w1) !== 0) {
      // No block has this window's sums; a weak hit that the strong sums rejected.
      if (lo < from + size && m.index.weak[members[lo]!] === w0) {
        m.stats.weakHits++;
        m.stats.falseMatches++;
      }
      return 0;
    }
    m.stats.weakHits++;
    const pairs = m.lookup.pairs;
    const direct = m.direct;
    // Members before open[lo] in this run were all matched in place already (never undone).
    const open = m.openFrom;
    let k = m.repeat ? lo : Math.max(lo, open[lo]!);
    let tries = 0;
    for (; k < from + size && this.#compareWindow(members[k]!, x, w0, w1) === 0; k++) {
      const e = members[k]!;
      if (!m.repeat && direct[e] === 1 && (!pairs || direct[e + 1] === 1)) {
        if (open[lo]! <= k) open[lo] = k + 1;
        continue;
      }
      const matched = this.#take(x, e);
      if (matched > 0) return matched;
      if (++tries > m.maxCandidates) return 0;
    }
    return 0;
  }

  /**
   * Orders entry e against window x (sums w0, w1 and the window's strong hashes, computed
   * here once per window), as {@link compareEntries} orders entries (the entry number last:
   * an entry equal to the window compares equal).
   */
  #compareWindow(e: number, x: number, w0: number, w1: number): number {
    const m = this.#m;
    const { weak, strong, strongBytes: sb } = m.index;
    if (weak[e] !== w0) return weak[e]! < w0 ? -1 : 1;
    const pairs = m.lookup.pairs;
    if (pairs && weak[e + 1] !== w1) return weak[e + 1]! < w1 ? -1 : 1;
    for (let slot = 0; slot < (pairs ? 2 : 1); slot++) {
      this.#windowHash(x + slot * this.#bs, slot);
      const d = this.#digest;
      const so = (e + slot) * sb;
      const at = slot * this.#dl;
      for (let k = 0; k < sb; k++) {
        const a = strong[so + k]!;
        const b = d[at + k]!;
        if (a !== b) return a < b ? -1 : 1;
      }
    }
    return 0;
  }

  /** Makes #digest slot `slot` hold the strong hash of the full window at `x`. */
  #windowHash(x: number, slot: number): void {
    if (this.#cache[slot] === x) return;
    const { index } = this.#m;
    index.strongHash.hashInto(this.#buf, x, this.#bs, this.#digest, slot * this.#dl, index.strongHash.digestLength);
    this.#m.stats.strongHashes++;
    this.#cache[slot] = x;
  }

  /** Entry e's sums matched window x: records it (and the next block in pairs) if it fits. */
  #take(x: number, e: number): number {
    const m = this.#m;
    const at = this.#base + x;
    if (m.lookup.pairs) {
      if (!this.#fits(e + 1, at + this.#bs)) return 0;
      // Both windows' hashes are in #digest's slots 0 and 1 (the pair was compared by them).
      m.record(e, this.#source, at, this.#digestOf(x, 0), 0);
      m.record(e + 1, this.#source, at + this.#bs, this.#digestOf(x + this.#bs, 1), 0);
      this.#predictAfter(e + 1, at + this.#bs);
      this.#lookBack(x, e);
      return 2;
    }
    if (!this.#fits(e, at)) return 0;
    m.record(e, this.#source, at, this.#digestOf(x, 0), 0);
    this.#predictAfter(e, at);
    this.#lookBack(x, e);
    return 1;
  }

  /**
   * The full strong hash of the window at `x` (a whole block), from #digest's `slot` when it
   * holds it, else computed there; undefined when the matcher keeps no hashes.
   */
  #digestOf(x: number, slot: number): Uint8Array | undefined {
    if (this.#m.fullHashes === undefined) return undefined;
    // A short unpadded last block (an index without a block digest) is never cached: hash it.
    if (this.#cache[slot] !== x) this.#windowHash(x, slot);
    return this.#digest.subarray(slot * this.#dl, (slot + 1) * this.#dl);
  }

  /** The weak checksum of the window at `p`, computed from scratch. */
  #weakAt(p: number): number {
    return this.#rk ? rabinKarpChecksum(this.#buf, p, this.#bs) : weakChecksum(this.#buf, p, this.#bs);
  }

  /**
   * The scan for RabinKarp weak sums (librsync's default): the same steps as #scan with
   * one window (such indexes match single blocks) and the multiplicative roll.
   */
  #scanRabinKarp(): void {
    const m = this.#m;
    const bs = this.#bs;
    const limit = this.#len - this.#span;
    const t = m.lookup;
    const filter = t.filter;
    const fshift = t.filterShift;
    const mask = weakMask(m.index.weakBytes);
    const mn = this.#rkPow;
    const wasm = this.#wasmFor(limit, mask, 0);
    const buf = this.#buf;
    let x = this.#x;
    let h = this.#a0;
    let rolled = this.#rolled;
    let checked = this.#checked;
    let predX = this.#predPos < 0 ? -1 : this.#predPos - this.#base;

    outer: while (x <= limit) {
      if (m.complete) break;
      if (!rolled) {
        if (x === predX && this.#tryPredictedStrong(x)) {
          predX = this.#predPos - this.#base;
          x += bs;
          continue;
        }
        h = rabinKarpChecksum(buf, x, bs) | 0;
        rolled = true;
        checked = false;
      }
      if (checked) {
        if (x + 1 > limit) break;
        h = (Math.imul(h, RK_MULT) + buf[x + bs]! - Math.imul(mn, buf[x]! + RK_ADJ)) | 0;
        x++;
        checked = false;
      }
      for (;;) {
        if (wasm !== undefined && x !== predX && x !== limit) {
          // As in #scan: WebAssembly rolls on to the next window worth a look here.
          x = wasm.scanRabinKarp(x, predX > x && predX <= limit ? predX : limit, h, !this.#overBudget());
          h = wasm.a0;
        }
        const w0 = (h & mask) >>> 0;
        const key = Math.imul(w0, MIX_KEY) >>> 0; // mixKey(w0, 0)
        const f = key >>> fshift;
        if ((filter[f >>> 5]! & (1 << (f & 31))) !== 0 || x === predX) {
          if (x === predX) {
            const hit = this.#tryPredicted(x, w0);
            predX = this.#predPos < 0 ? -1 : this.#predPos - this.#base;
            if (hit) {
              x += bs;
              rolled = false;
              continue outer;
            }
          }
          if ((filter[f >>> 5]! & (1 << (f & 31))) !== 0) {
            const matched = this.#lookup(x, key, w0, 0);
            if (matched > 0) {
              predX = this.#predPos - this.#base;
              x += matched * bs;
              rolled = false;
              continue outer;
            }
          }
        }
        if (x + 1 > limit) {
          checked = true;
          break outer;
        }
        h = (Math.imul(h, RK_MULT) + buf[x + bs]! - Math.imul(mn, buf[x]! + RK_ADJ)) | 0;
        x++;
      }
    }
    this.#x = x;
    this.#a0 = h;
    this.#rolled = rolled;
    this.#checked = checked;
  }

  /**
   * The WebAssembly scan, set up once the buffer holds {@link wasmScanFrom} windows to scan
   * (the buffered bytes then move into its memory, which is #buf from then on); undefined before.
   */
  #wasmFor(limit: number, mask: number, mask1: number): RollsumScan | undefined {
    if (this.#wasm === undefined && limit - this.#x >= wasmScanFrom()) {
      const wasm = new RollsumScan(this.#m.lookup, mask, mask1, this.#bs, this.#buf.length);
      if (this.#rk) wasm.setRabinKarpPower(this.#rkPow);
      wasm.buffer.set(this.#buf.subarray(0, this.#len));
      this.#buf = wasm.buffer;
      this.#wasm = wasm;
    }
    return this.#wasm;
  }

  /** Scans every window that the buffered data allows. */
  #scan(): void {
    if (this.#rk) {
      this.#scanRabinKarp();
      return;
    }
    const m = this.#m;
    const bs = this.#bs;
    const limit = this.#len - this.#span; // last window start with a full lookahead
    const t = m.lookup;
    const filter = t.filter;
    const fshift = t.filterShift;
    const mask = weakMask(m.index.weakBytes);
    // Without pairs the second window is still rolled (the buffer always holds it) but
    // left out of the key.
    const mask1 = t.pairs ? mask : 0;
    const wasm = this.#wasmFor(limit, mask, mask1);
    const buf = this.#buf;
    const bs2 = 2 * bs;
    const nMod = bs & 0xffff;
    let x = this.#x;
    let a0 = this.#a0,
      b0 = this.#b0,
      a1 = this.#a1,
      b1 = this.#b1;
    let rolled = this.#rolled;
    let checked = this.#checked;
    /** The predicted block's window start in #buf, or -1. */
    let predX = this.#predPos < 0 ? -1 : this.#predPos - this.#base;

    outer: while (x <= limit) {
      if (m.complete) break;
      if (!rolled) {
        // Right after a match the next block is most likely next in the file too: try
        // its strong hash before paying for the weak checksums (runs of unchanged
        // blocks then cost one hash per block). Stored strong hashes are sized for such
        // single-block checks (docs/format.md); the whole-file hash backs them.
        if (x === predX && this.#tryPredictedStrong(x)) {
          predX = this.#predPos - this.#base;
          x += bs;
          continue;
        }
        const r0 = weakChecksum(buf, x, bs);
        a0 = r0 >>> 16;
        b0 = r0 & 0xffff;
        const r1 = weakChecksum(buf, x + bs, bs);
        a1 = r1 >>> 16;
        b1 = r1 & 0xffff;
        rolled = true;
        checked = false;
      }
      if (checked) {
        // Resuming after more data arrived: window x was looked at already.
        if (x + 1 > limit) break;
        const out0 = buf[x]!;
        const mid = buf[x + bs]!;
        a0 = (a0 + mid - out0) & 0xffff;
        b0 = (b0 + a0 - nMod * out0) & 0xffff;
        a1 = (a1 + buf[x + bs2]! - mid) & 0xffff;
        b1 = (b1 + a1 - nMod * mid) & 0xffff;
        x++;
        checked = false;
      }
      // The hot loop: look window x up, then roll both windows one byte (buf[x] leaves
      // window 0, buf[x+bs] moves from window 1 to window 0, buf[x+2bs] enters window 1).
      // The sums stay masked to 16 bits (small integers V8 keeps unboxed). Written as one
      // straight loop with the rare cases behind a single test. In a stand-alone copy of
      // the loop that shape was ~40% faster than a state flag and a branch per mode; in
      // the matcher itself the gain was within the noise of the shared VM (unrelated
      // 64 MiB scan 157–168 MB/s before and after), so it is kept for clarity, not speed.
      for (;;) {
        if (wasm !== undefined && x !== predX && x !== limit) {
          // The WebAssembly scan rolls on to the next window worth a look here: one whose
          // key is in the table, the predicted one, or the last.
          x = wasm.scan(x, predX > x && predX <= limit ? predX : limit, a0, b0, a1, b1, !this.#overBudget());
          a0 = wasm.a0;
          b0 = wasm.b0;
          a1 = wasm.a1;
          b1 = wasm.b1;
        }
        // `>>> 0`: with 4 stored bytes the mask keeps bit 31, and the stored sums are unsigned.
        const w0 = (((a0 << 16) | (b0 & 0xffff)) & mask) >>> 0;
        const w1 = (((a1 << 16) | (b1 & 0xffff)) & mask1) >>> 0;
        const h = Math.imul(w0 ^ Math.imul(w1, MIX_SECOND), MIX_KEY) >>> 0; // mixKey(w0, w1)
        const f = h >>> fshift;
        if ((filter[f >>> 5]! & (1 << (f & 31))) !== 0 || x === predX) {
          if (x === predX) {
            // The block predicted by the last match (the next one, or one further on).
            const hit = this.#tryPredicted(x, w0);
            predX = this.#predPos < 0 ? -1 : this.#predPos - this.#base;
            if (hit) {
              x += bs;
              rolled = false;
              continue outer;
            }
          }
          if ((filter[f >>> 5]! & (1 << (f & 31))) !== 0) {
            const matched = this.#lookup(x, h, w0, w1);
            if (matched > 0) {
              predX = this.#predPos - this.#base;
              x += matched * bs;
              rolled = false;
              continue outer;
            }
          }
        }
        if (x + 1 > limit) {
          checked = true;
          break outer;
        }
        const out0 = buf[x]!;
        const mid = buf[x + bs]!;
        a0 = (a0 + mid - out0) & 0xffff;
        b0 = (b0 + a0 - nMod * out0) & 0xffff;
        a1 = (a1 + buf[x + bs2]! - mid) & 0xffff;
        b1 = (b1 + a1 - nMod * mid) & 0xffff;
        x++;
      }
    }
    this.#x = x;
    this.#a0 = a0;
    this.#b0 = b0;
    this.#a1 = a1;
    this.#b1 = b1;
    this.#rolled = rolled;
    this.#checked = checked;
  }
}
