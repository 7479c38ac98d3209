/**
 * The weak-checksum lookup table of an index: typed arrays only, built once per index.
 *
 * Entries are keyed by a 32-bit mix of the weak checksum of a block and, when the index
 * asks for two sequential matches, of the block after it (as zsync does: each stored
 * checksum is short, but the pair is long enough to be selective). A bit filter with
 * about 32 bits per entry rejects almost every non-matching window before the table is
 * touched; the chains are walked only on a filter hit.
 *
 * Entries with the same key form one group, and a chain holds one entry per group (its
 * leader), so a chain stays short however many blocks share a weak sum. A group of more
 * than {@link SMALL_GROUP} entries is sorted by weak and strong sums: the matcher finds a
 * window's candidates in it by binary search, a few comparisons whatever its size. (An
 * index from a peer may put every block under one weak sum the local file is full of;
 * walking them one strong sum at a time cost up to 1,024 comparisons per byte offset.)
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { type BlockIndex, strongHashLength } from './block-index.js';
import { bytesEqual } from '../hashing/strong-hash.js';

/** The multiplier of the second weak checksum in {@link mixKey}. */
export const MIX_SECOND = 0x9e3779b1;
/** The multiplier of the mixed key in {@link mixKey}. */
export const MIX_KEY = 0x85ebca6b;

/**
 * Mixes two weak checksums into the 32-bit lookup key (the scan loops of the matcher
 * inline it, with these constants). Two multiplications: the table
 * and the filter index by the key's *top* bits, which multiplication mixes well, so no
 * finaliser is needed (dropping it gained about 5% of scan speed on unrelated data,
 * 157 → 165 MB/s single-threaded on an unrelated 64 MiB scan in process; within the
 * VM's noise, kept because it is also simpler).
 */
export function mixKey(w0: number, w1: number): number {
  return Math.imul(w0 ^ Math.imul(w1, MIX_SECOND), MIX_KEY) >>> 0;
}

const MIN_FILTER_BITS = 10;
const MAX_FILTER_BITS = 30;

/** The lookup structures of one index. All fields are read directly by the scan loop. */
export interface LookupTable {
  /** Number of entries: blocks, or block pairs when `pairs` is set. */
  readonly entryCount: number;
  /** True when entries are pairs (block i, block i+1). */
  readonly pairs: boolean;
  /** Filter bits, one per `key >>> filterShift`. */
  readonly filter: Uint32Array;
  readonly filterShift: number;
  /** Chain heads by `key >>> tableShift`, -1 when empty. */
  readonly heads: Int32Array;
  readonly tableShift: number;
  /** Next entry in the chain, -1 at the end. */
  readonly next: Int32Array;
  /** Full key of each entry (a cheap reject before comparing checksums). */
  readonly keys: Uint32Array;
  /**
   * Circular lists of blocks with identical weak and strong hashes: `dupNext[i] === i`
   * when block i has no twin. A match of one fills them all.
   */
  readonly dupNext: Int32Array;
  /** The entries of each group end to end: lower entries first, or sorted (see {@link groupSorted}). */
  readonly members: Int32Array;
  /** For a group's leader (the entry in the chain): where its members start in `members`. */
  readonly groupStart: Int32Array;
  /** For a group's leader: its number of members. */
  readonly groupSize: Int32Array;
}

/**
 * Groups of at most this many entries are walked in block order; larger ones are sorted by
 * {@link compareEntries} and searched.
 */
export const SMALL_GROUP = 8;

/** Whether a group of `size` entries is sorted by sums (else in block order). */
export function groupSorted(size: number): boolean {
  return size > SMALL_GROUP;
}

function log2ceil(n: number): number {
  let b = 0;
  while (2 ** b < n) b++;
  return b;
}

/**
 * The entry whose strong hash (or, in pairs, whose second block's) covers fewer bytes than
 * a block: an unpadded short last block. It is never put in a sorted group (its sums are
 * not those of a full window) but is a group of its own. -1 when there is none.
 */
function oddEntry(index: BlockIndex, entryCount: number, pairs: boolean): number {
  if (index.paddedLastBlock !== false || index.blockCount === 0) return -1;
  if (strongHashLength(index, index.blockCount - 1) === index.blockSize) return -1;
  return pairs ? entryCount - 1 : index.blockCount - 1;
}

/** A 32-bit finaliser (murmur3's), for the grouping table's slots. */
function fmix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Orders entries `a` and `b` of a sorted group: by weak sum (and the next block's, in
 * pairs), then strong bytes (and the next block's), then entry number.
 */
export function compareEntries(index: BlockIndex, pairs: boolean, a: number, b: number): number {
  const { weak, strong, strongBytes: sb } = index;
  if (weak[a] !== weak[b]) return weak[a]! < weak[b]! ? -1 : 1;
  if (pairs && weak[a + 1] !== weak[b + 1]) return weak[a + 1]! < weak[b + 1]! ? -1 : 1;
  const blocks = pairs ? 2 : 1;
  for (let k = 0; k < blocks * sb; k++) {
    const x = strong[a * sb + k]!;
    const y = strong[b * sb + k]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return a - b;
}

/**
 * Builds the lookup table of an index. O(blocks) expected time (plus sorting the groups of
 * more than {@link SMALL_GROUP} entries), about 28 bytes per block plus the filter (4 bytes
 * per block).
 */
export function buildLookup(index: BlockIndex): LookupTable {
  const n = index.blockCount;
  // RabinKarp indexes (librsync) match single blocks: its scan keys on one window.
  const pairs = index.seqMatches === 2 && n >= 2 && index.weakAlgorithm !== 'rabinkarp';
  const entryCount = pairs ? n - 1 : n;
  const { weak } = index;
  const filterBits = Math.min(MAX_FILTER_BITS, Math.max(MIN_FILTER_BITS, log2ceil(entryCount * 32)));
  const filter = new Uint32Array(2 ** (filterBits - 5));
  const filterShift = 32 - filterBits;
  const tableBits = Math.max(4, log2ceil(entryCount));
  const heads = new Int32Array(2 ** tableBits).fill(-1);
  const tableShift = 32 - tableBits;
  const next = new Int32Array(entryCount).fill(-1);
  const keys = new Uint32Array(entryCount);
  const odd = oddEntry(index, entryCount, pairs);
  // Groups by exact key: an open-addressing table of leaders (slots seeded, so that a peer
  // cannot aim keys at one run of slots), members linked in entry order.
  const groupBits = Math.max(4, log2ceil(entryCount * 2));
  const slots = new Int32Array(2 ** groupBits).fill(-1);
  const gmask = 2 ** groupBits - 1;
  const gshift = 32 - groupBits;
  const groupSize = new Int32Array(entryCount);
  const memberNext = new Int32Array(entryCount).fill(-1);
  const groupLast = new Int32Array(entryCount);
  const leaders: number[] = [];
  for (let e = 0; e < entryCount; e++) {
    const key = mixKey(weak[e]!, pairs ? weak[e + 1]! : 0);
    keys[e] = key;
    const f = key >>> filterShift;
    filter[f >>> 5]! |= 1 << (f & 31);
    if (e === odd) {
      groupSize[e] = 1;
      groupLast[e] = e;
      leaders.push(e);
      continue;
    }
    let slot = fmix(key ^ TWIN_SEED) >>> gshift;
    for (;;) {
      const l = slots[slot]!;
      if (l < 0) {
        slots[slot] = e;
        groupSize[e] = 1;
        groupLast[e] = e;
        leaders.push(e);
        break;
      }
      if (keys[l] === key) {
        memberNext[groupLast[l]!] = e;
        groupLast[l] = e;
        groupSize[l]!++;
        break;
      }
      slot = (slot + 1) & gmask;
    }
  }
  const members = new Int32Array(entryCount);
  const groupStart = new Int32Array(entryCount);
  let at = 0;
  for (const l of leaders) {
    groupStart[l] = at;
    const from = at;
    for (let e = l; e >= 0; e = memberNext[e]!) members[at++] = e;
    if (groupSorted(groupSize[l]!)) {
      const sorted = Array.from(members.subarray(from, at)).sort((a, b) => compareEntries(index, pairs, a, b));
      members.set(sorted, from);
    }
  }
  // Chains hold the leaders; inserted in reverse so that chains list lower entries first.
  for (let k = leaders.length - 1; k >= 0; k--) {
    const l = leaders[k]!;
    const slot = keys[l]! >>> tableShift;
    next[l] = heads[slot]!;
    heads[slot] = l;
  }
  return {
    entryCount,
    pairs,
    filter,
    filterShift,
    heads,
    tableShift,
    next,
    keys,
    dupNext: findTwins(index),
    members,
    groupStart,
    groupSize,
  };
}

/**
 * A per-process secret in the key of {@link findTwins}'s table. The index may come from a
 * peer (an ssh receiver's signature): keyed on the weak sum and the first strong bytes
 * alone, blocks that share them and differ further on filled one run of slots, and each
 * insertion probed the whole run (32,768 such blocks: 9 s of CPU). Every strong byte is in
 * the key now, mixed with a seed the peer does not know, so it cannot aim blocks at a slot.
 */
const TWIN_SEED = randomBytes(4).readUInt32LE(0);

/**
 * Links blocks with identical (weak, strong) into circular lists, in O(blocks) expected
 * time whatever the index holds. `stats.probes` counts the slots visited (for tests).
 */
export function findTwins(index: BlockIndex, stats?: { probes: number }): Int32Array {
  const n = index.blockCount;
  const { weak, strong, strongBytes } = index;
  const dupNext = new Int32Array(n);
  const bits = Math.max(4, log2ceil(n * 2));
  const slots = new Int32Array(2 ** bits).fill(-1);
  const mask = 2 ** bits - 1;
  const shift = 32 - bits;
  let probes = 0;
  for (let i = 0; i < n; i++) {
    dupNext[i] = i;
    const so = i * strongBytes;
    // FNV-1a over the strong bytes from a seeded start, then mixed with the weak sum.
    let h = (0x811c9dc5 ^ TWIN_SEED) >>> 0;
    for (let k = 0; k < strongBytes; k++) h = Math.imul(h ^ strong[so + k]!, 0x01000193);
    let slot = mixKey(weak[i]! ^ TWIN_SEED, h >>> 0) >>> shift;
    for (;;) {
      probes++;
      const j = slots[slot]!;
      if (j < 0) {
        slots[slot] = i;
        break;
      }
      if (weak[j] === weak[i] && bytesEqual(strong, j * strongBytes, strong, so, strongBytes)) {
        dupNext[i] = dupNext[j]!;
        dupNext[j] = i;
        break;
      }
      slot = (slot + 1) & mask;
    }
  }
  if (stats) stats.probes += probes;
  return dupNext;
}
