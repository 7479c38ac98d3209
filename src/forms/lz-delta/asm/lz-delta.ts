/**
 * The lz-delta codec in AssemblyScript, compiled to WebAssembly by `npm run build:wasm`
 * (scripts/build-wasm.ts) into `../lz-delta-wasm.ts`: the encoder encode.ts describes and the
 * decoder decode.ts describes, sharing one model and range coder (the format is in mod.ts).
 * They run as WebAssembly because the work on a small pair (a 284 kB text: the whole window
 * hashed, the literal model primed, a few thousand parse positions) took 100 ms in a fresh
 * process as JavaScript, three quarters of it before the JIT had optimised the loops.
 *
 * Not TypeScript for tsc: `i32`, `u64`, `load<T>` and `StaticArray` are AssemblyScript's.
 * One instance does one job (its memory goes with it; the stub runtime never frees): the
 * caller writes its inputs at pointers `alloc` returned, then calls `init` and `step` (the
 * encoder) or `decodeInit` and `decodeStep` (the decoder). A damaged delta stops the decoder
 * with a trap, its reason in `failure()`.
 */

// ---- the range coder ----
// An adaptive binary range coder after the published description of LZMA's: 11-bit
// probabilities moved by 1/16 towards each coded bit, a 32-bit range normalised a byte at a
// time, the carry resolved through a cached byte and a run of 0xFF. The encoder writes exactly
// one byte per normalisation plus five at the flush and the decoder reads five at the start
// plus one per normalisation, so a body longer or shorter than the encoder wrote is noticed at
// the end (`decodeFinish`).

const PROB_BITS: u32 = 11;
const PROB_ONE: i32 = 1 << PROB_BITS;
const PROB_INIT: u16 = <u16>(PROB_ONE >> 1);
/** The least probability the adaptive updates reach (p - p >> 4 stops at 15; kept a little above). */
const PROB_MIN: i32 = 31;
const MOVE_BITS: i32 = 4;
const TOP: u32 = 1 << 24;
const PRICE_SHIFT: i32 = 4;

/** The price of coding a bit by its probability (in steps of 16), in 1/16 bit. */
const priceTable = new StaticArray<i32>((PROB_ONE >> PRICE_SHIFT) + 1);
for (let i = 0; i < priceTable.length; i++) {
  const p = <f64>(i * (1 << PRICE_SHIFT) + (1 << (PRICE_SHIFT - 1))) / <f64>PROB_ONE;
  priceTable[i] = <i32>Math.round(-Math.log2(min(p, 1.0)) * 16);
}

@inline
function bitPrice(prob: i32, bit: i32): i32 {
  return priceTable[(bit == 0 ? prob : PROB_ONE - prob) >> PRICE_SHIFT];
}

let rcLow: u64 = 0;
let rcRange: u32 = 0xffffffff;
let rcCache: i32 = 0;
let rcCacheSize: i32 = 1;
let outPtr: usize = 0;
let outCap: i32 = 0;
let outPos: i32 = 0;

function put(byte: i32): void {
  if (outPos == outCap) {
    const grown = heap.alloc(<usize>outCap * 2);
    memory.copy(grown, outPtr, <usize>outCap);
    outPtr = grown;
    outCap *= 2;
  }
  store<u8>(outPtr + <usize>outPos, <u8>byte);
  outPos++;
}

function shiftLow(): void {
  const low = rcLow;
  if (low < 0xff000000 || low >= 0x100000000) {
    const carry: i32 = low >= 0x100000000 ? 1 : 0;
    let temp = rcCache;
    do {
      put((temp + carry) & 0xff);
      temp = 0xff;
    } while (--rcCacheSize != 0);
    rcCache = <i32>((low >> 24) & 0xff);
  }
  rcCacheSize++;
  rcLow = (low & 0x00ffffff) << 8;
}

function encodeBit(probs: StaticArray<u16>, index: i32, bit: i32): void {
  const p = <u32>probs[index];
  const bound = (rcRange >>> PROB_BITS) * p;
  if (bit == 0) {
    rcRange = bound;
    probs[index] = <u16>(p + ((<u32>PROB_ONE - p) >> MOVE_BITS));
  } else {
    rcLow += bound;
    rcRange -= bound;
    probs[index] = <u16>(p - (p >> MOVE_BITS));
  }
  while (rcRange < TOP) {
    rcRange <<= 8;
    shiftLow();
  }
}

/** `count` bits of `value` (most significant first) at probability one half. */
function encodeDirect(value: u64, count: i32): void {
  for (let i = count - 1; i >= 0; i--) {
    rcRange = rcRange >>> 1;
    if (((value >> <u64>i) & 1) == 1) rcLow += rcRange;
    while (rcRange < TOP) {
      rcRange <<= 8;
      shiftLow();
    }
  }
}

// ---- the model ----
// LZMA's twelve-state machine over the last few operations, literals coded bit by bit with
// the previous byte as context (and, after a match, the byte at the last distance, which an
// edit most often leaves in place), the four repeat distances, and the delta-specific kinds: a
// match at the last distance shifted by a small signed amount (what an insertion or deletion
// of a few bytes does to the displacement between old and new text), and a match at the
// cursor (where the source of the last long match ended) plus a small offset.

const STATES: i32 = 12;
const LIT_CONTEXT_BITS: i32 = 8;
const OP_LITERAL: i32 = 0;
const OP_MATCH: i32 = 1;
const OP_NEAR: i32 = 2;
const OP_REP0: i32 = 3;
const OP_SHORT_REP: i32 = 7;
const OP_CURSOR: i32 = 8;
const CURSOR_MIN_LEN: i32 = 64;
const PRIME_BYTES: i32 = 1 << 20;

@inline
function zigzag(delta: i32): u64 {
  return delta >= 0 ? <u64>delta * 2 : <u64>(-<i64>delta) * 2 - 1;
}
@inline
function afterLiteral(state: i32): i32 {
  return state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
}
@inline
function afterMatch(state: i32): i32 {
  return state < 7 ? 7 : 10;
}
@inline
function afterRep(state: i32): i32 {
  return state < 7 ? 8 : 11;
}
@inline
function afterShortRep(state: i32): i32 {
  return state < 7 ? 9 : 11;
}
@inline
function distContext(length: i32): i32 {
  return length < 5 ? length - 2 : 3;
}
@inline
function literalBase(prevByte: i32): i32 {
  return (prevByte >> (8 - LIT_CONTEXT_BITS)) * 0x300;
}
@inline
function usesMatchedLiteral(state: i32): bool {
  return state >= 7;
}

const NUM_TREE_BITS: i32 = 6;
const NUM_SLOT_BITS: i32 = 5;
const NUM_SLOTS: i32 = 1 << NUM_SLOT_BITS;
const NUM_SIZE: i32 = NUM_SLOTS + NUM_SLOTS * (1 << NUM_TREE_BITS);

/**
 * `count` probabilities of one half, written four at a time, and the priming below through a
 * pointer rather than the array's index: the literal table (196,608 entries) is filled on
 * every instance. The encoder of jquery.js in a fresh process (module, priming, parse) took
 * 28.5 → 24.9 ms (medians of 9 alternating runs, 25.6-31.2 → 22.8-29.3; the same deltas).
 */
function probabilities(count: i32): StaticArray<u16> {
  const a = new StaticArray<u16>(count);
  const p = changetype<usize>(a);
  const words = count >> 2;
  const four: u64 = <u64>PROB_INIT * 0x0001000100010001;
  for (let i = 0; i < words; i++) store<u64>(p + (<usize>i << 3), four);
  for (let i = words << 2; i < count; i++) store<u16>(p + (<usize>i << 1), PROB_INIT);
  return a;
}

/**
 * Non-negative numbers below 2^32: the bit length of value+1 by a 5-bit tree, the six bits
 * below the leading one by a tree per length (six rather than four: 24,298 → 24,160 bytes on
 * typescript.js), the rest as direct bits. Small values (lengths of a few bytes) are learnt
 * exactly, large ones (distances into the old file, long matches) cost their magnitude.
 */
class NumberCoder {
  probs: StaticArray<u16>;

  constructor(contexts: i32) {
    this.probs = probabilities(NUM_SIZE * contexts);
  }

  encode(context: i32, value: u64): void {
    const base = context * NUM_SIZE;
    const u = value + 1;
    const nb = <i32>(64 - clz<u64>(u)) - 1;
    let m = 1;
    for (let i = NUM_SLOT_BITS - 1; i >= 0; i--) {
      const bit = (nb >>> i) & 1;
      encodeBit(this.probs, base + m, bit);
      m = (m << 1) | bit;
    }
    const rest = u - (<u64>1 << <u64>nb);
    const k = min(nb, NUM_TREE_BITS);
    const low = nb - k;
    const top = <i32>(rest >> <u64>low);
    const treeBase = base + NUM_SLOTS + nb * (1 << NUM_TREE_BITS);
    m = 1;
    for (let i = k - 1; i >= 0; i--) {
      const bit = (top >>> i) & 1;
      encodeBit(this.probs, treeBase + m, bit);
      m = (m << 1) | bit;
    }
    if (low > 0) encodeDirect(rest - (<u64>top << <u64>low), low);
  }

  price(context: i32, value: u64): i32 {
    const base = context * NUM_SIZE;
    const u = value + 1;
    const nb = <i32>(64 - clz<u64>(u)) - 1;
    let price = 0;
    let m = 1;
    for (let i = NUM_SLOT_BITS - 1; i >= 0; i--) {
      const bit = (nb >>> i) & 1;
      price += bitPrice(this.probs[base + m], bit);
      m = (m << 1) | bit;
    }
    const k = min(nb, NUM_TREE_BITS);
    const low = nb - k;
    const top = <i32>((u - (<u64>1 << <u64>nb)) >> <u64>low);
    const treeBase = base + NUM_SLOTS + nb * (1 << NUM_TREE_BITS);
    m = 1;
    for (let i = k - 1; i >= 0; i--) {
      const bit = (top >>> i) & 1;
      price += bitPrice(this.probs[treeBase + m], bit);
      m = (m << 1) | bit;
    }
    return price + low * 16;
  }
}

const isMatch = probabilities(STATES);
const isRep = probabilities(STATES);
const isNear = probabilities(STATES);
const nearSign = probabilities(2);
const isCursor = probabilities(STATES);
const cursorOffset = new NumberCoder(1);
const isRepG0 = probabilities(STATES);
const isRepG1 = probabilities(STATES);
const isRepG2 = probabilities(STATES);
const isRep0Long = probabilities(STATES);
const literal = probabilities(0x300 << LIT_CONTEXT_BITS);
const matchLenCoder = new NumberCoder(2);
const repLenCoder = new NumberCoder(1);
const distCoder = new NumberCoder(4);
const nearMagnitude = new NumberCoder(1);

function encodeLiteral(base: i32, byte: i32, matchByte: i32, matched: bool): void {
  let symbol = 1;
  if (matched) {
    let offs = 0x100;
    let mb = matchByte;
    for (let i = 7; i >= 0; i--) {
      mb <<= 1;
      const matchBit = mb & offs;
      const bit = (byte >>> i) & 1;
      encodeBit(literal, base + offs + matchBit + symbol, bit);
      symbol = (symbol << 1) | bit;
      offs &= bit == 0 ? ~matchBit : matchBit;
    }
    return;
  }
  for (let i = 7; i >= 0; i--) {
    const bit = (byte >>> i) & 1;
    encodeBit(literal, base + symbol, bit);
    symbol = (symbol << 1) | bit;
  }
}

function literalPrice(base: i32, byte: i32, matchByte: i32, matched: bool): i32 {
  let price = 0;
  let symbol = 1;
  if (matched) {
    let offs = 0x100;
    let mb = matchByte;
    for (let i = 7; i >= 0; i--) {
      mb <<= 1;
      const matchBit = mb & offs;
      const bit = (byte >>> i) & 1;
      price += bitPrice(literal[base + offs + matchBit + symbol], bit);
      symbol = (symbol << 1) | bit;
      offs &= bit == 0 ? ~matchBit : matchBit;
    }
    return price;
  }
  for (let i = 7; i >= 0; i--) {
    const bit = (byte >>> i) & 1;
    price += bitPrice(literal[base + symbol], bit);
    symbol = (symbol << 1) | bit;
  }
  return price;
}

/**
 * The plain literal probabilities trained on the last MiB of the old file (`length` bytes at
 * `old`), the same on both sides: `counted` (delta kind 5) sets each from how often its bit
 * was 0 there, (zeros + 16) / (seen + 32) (see {@link primeCounted}); otherwise (kind 3) they
 * are updated bit by bit as if the bytes were coded as literals.
 */
function primeLiterals(old: usize, length: i32, counted: bool): void {
  const start = max(0, length - PRIME_BYTES);
  if (counted) {
    primeCounted(old + <usize>start, length - start, start > 0 ? <i32>load<u8>(old + <usize>(start - 1)) : 0);
    return;
  }
  let prev = start > 0 ? <i32>load<u8>(old + <usize>(start - 1)) : 0;
  const table = changetype<usize>(literal);
  const end = old + <usize>length;
  for (let q = old + <usize>start; q < end; q++) {
    const byte = <i32>load<u8>(q);
    const base = table + (<usize>literalBase(prev) << 1);
    let symbol = 1;
    for (let i = 7; i >= 0; i--) {
      const bit = (byte >>> i) & 1;
      const at = base + (<usize>symbol << 1);
      const p = <i32>load<u16>(at);
      // Both updates, one taken without a branch (the bits of text are not predictable): the
      // priming of jquery.js's 283 kB took 8.5-9 ms cold instead of 10-12.
      store<u16>(at, <u16>select<i32>(p - (p >> MOVE_BITS), p + ((PROB_ONE - p) >> MOVE_BITS), bit));
      symbol = (symbol << 1) | bit;
    }
    prev = byte;
  }
}

/** The prior of {@link primeCounted}: as if PRIOR_SEEN bits, half of them 0, had been seen before. */
const PRIOR_SEEN: u64 = 32;

/**
 * The counted priming: one count per (previous byte, byte) pair over the `length` bytes at
 * `from` (`prev` before them), then, for each previous byte, the bits' tree summed from its
 * leaves; each node's probability of a 0 is (zeros + 16) / (seen + 32), kept inside the range
 * the adaptive updates reach. One increment per byte instead of eight dependent updates: for
 * jquery.js 1.11.1 → 1.11.2 the priming took 7.8 ms of the encoder in a fresh process bit by
 * bit and 1.5 ms counted (V8's profiler, 8 runs each; the decoder primes the same way), and
 * the deltas are smaller on every pair measured (prior 32; 4, 16, 64, 128 and 256 tried):
 * jquery.js 934 → 932 B, typescript.js 25,313 → 25,253 B, the typescript package tar
 * 123,028 → 122,675 B.
 */
function primeCounted(from: usize, length: i32, prev: i32): void {
  const counts = heap.alloc(256 * 256 * 4);
  memory.fill(counts, 0, 256 * 256 * 4);
  const end = from + <usize>length;
  for (let q = from; q < end; q++) {
    const byte = <i32>load<u8>(q);
    const at = counts + (<usize>((prev << 8) | byte) << 2);
    store<u32>(at, load<u32>(at) + 1);
    prev = byte;
  }
  // sums[256 + byte]: the leaves; sums[node] for the nodes 1..255 of the bits' tree.
  const sums = heap.alloc(512 * 4);
  const table = changetype<usize>(literal);
  for (let c = 0; c < 256; c++) {
    memory.copy(sums + 256 * 4, counts + (<usize>(c << 8) << 2), 256 * 4);
    for (let node = 255; node >= 1; node--) {
      store<u32>(sums + (<usize>node << 2), load<u32>(sums + (<usize>(2 * node) << 2)) + load<u32>(sums + (<usize>(2 * node + 1) << 2)));
    }
    if (load<u32>(sums + 4) == 0) continue;
    const base = table + (<usize>literalBase(c) << 1);
    for (let node = 1; node < 256; node++) {
      const seen = <u64>load<u32>(sums + (<usize>node << 2));
      if (seen == 0) continue;
      const zeros = <u64>load<u32>(sums + (<usize>(2 * node) << 2));
      const p = <i32>(((2 * zeros + PRIOR_SEEN) << <u64>PROB_BITS) / (2 * (seen + PRIOR_SEEN)));
      store<u16>(base + (<usize>node << 1), <u16>min(max(p, PROB_MIN), PROB_ONE - PROB_MIN));
    }
  }
  heap.free(sums);
  heap.free(counts);
}

// ---- the encoder (encode.ts describes it) ----

const NICE: i32 = 192;
const MAX_SEGMENT: i32 = 4096;
const NODES: i32 = MAX_SEGMENT + NICE + 2;
const CHAIN_DEPTH: i32 = 32;
const LONG_BYTES: i32 = 16;
const LONG_STRIDE: i32 = 8;
const LONG_DEPTH: i32 = 8;
/**
 * Shifts of the last distance tried at each position: ±8 (it was ±24: the same or smaller
 * deltas, jquery.js 932 B, typescript.js 25,253 → 25,252 B, the typescript tar 122,675 →
 * 122,586 B, and 48 candidates a position fewer: jquery.js's encoder in a fresh process 20.0
 * → 19.4 ms, medians of 21 alternating runs).
 */
const NEAR_SCAN: i32 = 8;
const CURSOR_BACK: i32 = 8;
const CURSOR_FORWARD: i32 = 160;
/**
 * Below this window (old + new), `nice` is SMALL_NICE and the cursor's offsets reach
 * SMALL_CURSOR_FORWARD. A small window's parse runs in V8's baseline code from start to end:
 * the optimizing compiler takes about 19 ms for `segment` alone (`--trace-wasm-compilation-times`)
 * and is asked only once a function has run for a while, so the search costs there what it
 * would cost unoptimized. jquery.js 1.11.1 → 1.11.2 (567 kB window), the encoder in a fresh
 * process (medians of 31 alternating runs): 27.6 → 24.7 ms, 935 → 940 B. With the same
 * search on typescript.js (17.8 MB window, whose parse runs long enough to be optimized) the
 * delta grew from 25,249 to 26,194 B; it keeps NICE and CURSOR_FORWARD.
 */
const SMALL_WINDOW: i32 = 4 << 20;
const SMALL_NICE: i32 = 96;
const SMALL_CURSOR_FORWARD: i32 = 64;
const NEAR_MAX: i32 = 1 << 16;
const MIN_HASH_MATCH: i32 = 4;
const MAX_CANDIDATES: i32 = 64;
const INF: i32 = 0x3fffffff;
/**
 * The hash heads: 2^(bit length of the window − HASH_SHRINK) for the 4-byte chain, − LONG_SHRINK
 * for the long one (which holds every 8th position), between 2^10 and 2^22 each, zero for
 * empty (positions are stored plus one). With the window's own bit length for both (8 MiB of
 * heads for jquery.js's 567 kB window, filled with −1) the deltas were byte for byte the same
 * on the corpus and slower: jquery.js 35 → 23-33 ms, typescript.js 867 → 677-772 ms, the
 * typescript tar 3.5 → 3.1 s (one process each, loaded 2-core machine). The insertions are
 * bound by the heads' cache misses (`perf annotate` of the encoder of jquery.js: 61% of its
 * samples on the two stores after the heads' loads; this machine's L2 holds 1 MiB per core):
 * 4 and 4 instead of 2 and 3 (256 KiB of heads each for jquery.js instead of 1 MiB and 512
 * KiB), the parse of jquery.js in a fresh process 17.3 → 15.6 ms and its start 3.4 → 2.6 ms
 * (medians of 25 alternating runs); the deltas: jquery.js 932 → 935 B, typescript.js 25,252
 * → 25,249 B, the typescript tar 122,586 B both. 4 and 5 cost typescript.js 40 bytes.
 */
const HASH_SHRINK: i32 = 4;
const LONG_SHRINK: i32 = 4;

/** A candidate this long or longer ends the segment and is taken whole: NICE, or SMALL_NICE. */
let nice: i32 = NICE;
/** The farthest offset from the cursor tried: CURSOR_FORWARD, or SMALL_CURSOR_FORWARD. */
let cursorForward: i32 = CURSOR_FORWARD;
let win: usize = 0;
let winLen: i32 = 0;
let oldLen: i32 = 0;
let n: i32 = 0;
let hashBits: i32 = 0;
let longBits: i32 = 0;
/**
 * The hash chains' tables: i32 arrays at these addresses ({@link zeroed}), read and written by
 * {@link slot}.
 */
let head: usize = 0;
let chain: usize = 0;
let head2: usize = 0;
let chain2: usize = 0;
let initialised = false;
let inserted: i32 = 0;
let state: i32 = 0;
const reps = new StaticArray<i32>(4);
let pos: i32 = 0;
let cursor: i32 = 0;
let segStart: i32 = 0;
let codingKind: i32 = 0;
let codingArg: i32 = 0;
let last: i32 = 0;
const price = new StaticArray<i32>(NODES);
const from = new StaticArray<i32>(NODES);
const kind = new StaticArray<u8>(NODES);
const len = new StaticArray<i32>(NODES);
const arg = new StaticArray<i32>(NODES);
const nodeState = new StaticArray<u8>(NODES);
const nodeReps = new StaticArray<i32>(NODES * 4);
const nodeCursor = new StaticArray<i32>(NODES);
const candLen = new StaticArray<i32>(MAX_CANDIDATES);
const candDist = new StaticArray<i32>(MAX_CANDIDATES);
const matchLenPrice = new StaticArray<i32>(NICE + 1);
const shiftLenPrice = new StaticArray<i32>(NICE + 1);
const repLenPrice = new StaticArray<i32>(NICE + 1);
const opKind = new StaticArray<u8>(NODES);
const opLen = new StaticArray<i32>(NODES);
const opArg = new StaticArray<i32>(NODES);

@inline
function at(q: i32): i32 {
  return <i32>load<u8>(win + <usize>q);
}

@inline
function word(q: i32): u32 {
  return load<u32>(win + <usize>q);
}

/**
 * `count` i32 of zeros, without writing them: the stub runtime never reuses memory and memory
 * the module grows is zero (the WebAssembly specification), and each instance starts one delta
 * (`init` refuses a second). As StaticArrays, zero-filled, the four tables cost jquery.js's
 * delta 2.8-3.1 ms of its 25. For the chains, whose every entry is written before it is read.
 */
function zeroed(count: i32): usize {
  return heap.alloc(<usize>max(count, 1) << 2);
}

/**
 * `count` i32 of zeros, written once (one `memory.fill`): for the hash heads, whose entries are
 * read before they are written. Memory the module grows is mapped by the kernel on first touch;
 * touched first by a read, a page is the shared zero page, and the write that follows is a
 * copy-on-write fault whose TLB flush interrupts every other core this process runs on (the
 * V8 and libuv threads). Those flushes were 4.6% of the CPU samples of `gosync build --base`
 * of jquery.js (`perf record`, interrupts waited for in `smp_call_function_many_cond`, called
 * from `do_wp_page` in this module's code); with the heads written first, 0.2%. The encoder of
 * jquery.js in a fresh process: 15.6 → 14.1 ms to parse, 1.7 → 2.3 ms to start (medians of 21
 * alternating runs, the other core idle).
 */
function written(count: i32): usize {
  const table = heap.alloc(<usize>max(count, 1) << 2);
  memory.fill(table, 0, <usize>max(count, 1) << 2);
  return table;
}

/** The address of element `i` of an i32 table. */
@inline
function slot(table: usize, i: i32): usize {
  return table + (<usize>i << 2);
}

/** Bytes for the window (old ‖ new); the caller writes both there, then calls `init`. */
export function alloc(size: i32): usize {
  return heap.alloc(<usize>max(size, 1));
}

/** Starts a delta of the new file (`newLen` bytes after `oldLength` old bytes at `window`). */
export function init(window: usize, oldLength: i32, newLen: i32, counted: bool): void {
  if (initialised) unreachable();
  initialised = true;
  win = window;
  oldLen = oldLength;
  n = newLen;
  winLen = oldLength + newLen;
  nice = winLen < SMALL_WINDOW ? SMALL_NICE : NICE;
  cursorForward = winLen < SMALL_WINDOW ? SMALL_CURSOR_FORWARD : CURSOR_FORWARD;
  outCap = max(64, 1024 + (newLen >> 4));
  outPtr = heap.alloc(<usize>outCap);
  const bits = winLen > 0 ? 32 - clz<i32>(winLen) : 0;
  hashBits = min(22, max(10, bits - HASH_SHRINK));
  longBits = min(22, max(10, bits - LONG_SHRINK));
  head = written(1 << hashBits);
  chain = zeroed(winLen);
  head2 = written(1 << longBits);
  chain2 = zeroed((winLen + LONG_STRIDE - 1) / LONG_STRIDE);
  const start = max(1, oldLength);
  for (let k = 0; k < 4; k++) reps[k] = start;
  state = oldLength > 0 ? 7 : 0;
  primeLiterals(window, oldLength, counted);
}

/** Codes segments until `budget` more bytes of the new file are coded; 1 while some remain. */
export function step(budget: i32): i32 {
  const stop = pos + budget;
  while (pos < n && pos < stop) segment();
  return pos < n ? 1 : 0;
}

/** Flushes the coder; the delta body is `outLength()` bytes at the returned pointer. */
export function finish(): usize {
  for (let i = 0; i < 5; i++) shiftLow();
  return outPtr;
}

export function outLength(): i32 {
  return outPos;
}

function insertUpTo(p: i32): void {
  const limit = min(p, winLen - 3);
  const shift = <u32>(32 - hashBits);
  for (let q = inserted; q < limit; q++) {
    const h = <i32>((word(q) * 0x9e3779b1) >>> shift);
    store<i32>(slot(chain, q), load<i32>(slot(head, h)));
    store<i32>(slot(head, h), q + 1);
  }
  const limit2 = min(p, winLen - LONG_BYTES);
  for (let q = ((inserted + LONG_STRIDE - 1) / LONG_STRIDE) * LONG_STRIDE; q < limit2; q += LONG_STRIDE) {
    const h = longHash(q);
    store<i32>(slot(chain2, q / LONG_STRIDE), load<i32>(slot(head2, h)));
    store<i32>(slot(head2, h), q + 1);
  }
  if (limit > inserted) inserted = limit;
}

@inline
function longHash(q: i32): i32 {
  let h: u32 = 0;
  for (let k = 0; k < LONG_BYTES; k += 4) {
    h = (h ^ word(q + k)) * 0x9e3779b1;
    h ^= h >>> 15;
  }
  return <i32>((h * 0x85ebca6b) >>> <u32>(32 - longBits));
}

function matchLen(a: i32, b: i32, maxLen: i32): i32 {
  let l = 0;
  const pa = win + <usize>a;
  const pb = win + <usize>b;
  while (l + 8 <= maxLen) {
    const x = load<u64>(pa + <usize>l) ^ load<u64>(pb + <usize>l);
    if (x != 0) return l + <i32>(ctz<u64>(x) >> 3);
    l += 8;
  }
  while (l < maxLen && load<u8>(pa + <usize>l) == load<u8>(pb + <usize>l)) l++;
  return l;
}

/** What {@link findMatches} has found so far: the candidates' count and the longest length. */
let found: i32 = 0;
let longest: i32 = 0;

/**
 * Follows a hash chain from window position `c` (−1: empty) for up to `depth` links, adding
 * each match at `p` longer than any before; `next` is the chain's table, one entry per
 * `stride` positions.
 */
@inline
function followChain(c: i32, p: i32, maxLen: i32, depth: i32, next: usize, stride: i32): void {
  for (let d = 0; d < depth && c >= 0; d++) {
    if (at(c + longest) == at(p + longest)) {
      const l = matchLen(c, p, maxLen);
      if (l > longest) {
        longest = l;
        candLen[found] = l;
        candDist[found] = p - c;
        found++;
        if (l >= nice || l == maxLen || found == MAX_CANDIDATES) return;
      }
    }
    c = load<i32>(slot(next, c / stride)) - 1;
  }
}

function findMatches(p: i32, maxLen: i32): i32 {
  if (maxLen < MIN_HASH_MATCH || p + 4 > winLen) return 0;
  const h = <i32>((word(p) * 0x9e3779b1) >>> <u32>(32 - hashBits));
  found = 0;
  longest = MIN_HASH_MATCH - 1;
  followChain(load<i32>(slot(head, h)) - 1, p, maxLen, CHAIN_DEPTH, chain, 1);
  if (longest < nice && longest < maxLen && maxLen >= LONG_BYTES && found < MAX_CANDIDATES)
    followChain(load<i32>(slot(head2, longHash(p))) - 1, p, maxLen, LONG_DEPTH, chain2, LONG_STRIDE);
  return found;
}

function prepareLengthPrices(): void {
  for (let l = 2; l <= nice; l++) {
    matchLenPrice[l] = matchLenCoder.price(0, <u64>(l - 2));
    shiftLenPrice[l] = matchLenCoder.price(1, <u64>(l - 2));
    repLenPrice[l] = repLenCoder.price(0, <u64>(l - 2));
  }
}

function repHeaderPrice(s: i32, k: i32): i32 {
  let p = bitPrice(isMatch[s], 1) + bitPrice(isRep[s], 1);
  if (k == 0) return p + bitPrice(isRepG0[s], 0) + bitPrice(isRep0Long[s], 1);
  p += bitPrice(isRepG0[s], 1);
  if (k == 1) return p + bitPrice(isRepG1[s], 0);
  p += bitPrice(isRepG1[s], 1);
  return p + bitPrice(isRepG2[s], k == 2 ? 0 : 1);
}

function nearPrice(s: i32, delta: i32): i32 {
  return (
    bitPrice(isMatch[s], 1) +
    bitPrice(isRep[s], 0) +
    bitPrice(isNear[s], 1) +
    bitPrice(isCursor[s], 0) +
    bitPrice(nearSign[0], delta < 0 ? 1 : 0) +
    nearMagnitude.price(0, <u64>(abs(delta) - 1))
  );
}

function cursorPrice(s: i32, delta: i32): i32 {
  return bitPrice(isMatch[s], 1) + bitPrice(isRep[s], 0) + bitPrice(isNear[s], 1) + bitPrice(isCursor[s], 1) + cursorOffset.price(0, zigzag(delta));
}

@inline
function matchHeaderPrice(s: i32): i32 {
  return bitPrice(isMatch[s], 1) + bitPrice(isRep[s], 0) + bitPrice(isNear[s], 0);
}

/** The cheapest of explicit, shifted and cursor codings of distance d; kind and argument in codingKind/codingArg. */
function bestCoding(s: i32, d: i32, l: i32, r0: i32, cur: i32, p: i32): i32 {
  let best = matchHeaderPrice(s) + distCoder.price(distContext(l), <u64>(d - 1));
  codingKind = OP_MATCH;
  codingArg = d;
  const delta = d - r0;
  if (delta != 0 && abs(delta) <= NEAR_MAX) {
    const pr = nearPrice(s, delta);
    if (pr < best) {
      best = pr;
      codingKind = OP_NEAR;
      codingArg = delta;
    }
  }
  const offset = p - d - cur;
  const pr = cursorPrice(s, offset);
  if (pr < best) {
    best = pr;
    codingKind = OP_CURSOR;
    codingArg = offset;
  }
  return best;
}

function deriveNode(j: i32): void {
  const f = from[j];
  const s = <i32>nodeState[f];
  let r0 = nodeReps[f * 4];
  let r1 = nodeReps[f * 4 + 1];
  let r2 = nodeReps[f * 4 + 2];
  let r3 = nodeReps[f * 4 + 3];
  const k = <i32>kind[j];
  const pf = oldLen + segStart + f;
  let cur = nodeCursor[f];
  let src = -1;
  let next: i32;
  if (k == OP_LITERAL) next = afterLiteral(s);
  else if (k == OP_SHORT_REP) next = afterShortRep(s);
  else if (k == OP_MATCH || k == OP_NEAR || k == OP_CURSOR) {
    const a = arg[j];
    const d = k == OP_MATCH ? a : k == OP_NEAR ? r0 + a : pf - (cur + a);
    src = pf - d;
    r3 = r2;
    r2 = r1;
    r1 = r0;
    r0 = d;
    next = afterMatch(s);
  } else {
    const r = k - OP_REP0;
    if (r == 1) {
      const t = r0;
      r0 = r1;
      r1 = t;
    } else if (r == 2) {
      const t = r2;
      r2 = r1;
      r1 = r0;
      r0 = t;
    } else if (r == 3) {
      const t = r3;
      r3 = r2;
      r2 = r1;
      r1 = r0;
      r0 = t;
    }
    src = pf - r0;
    next = afterRep(s);
  }
  const l = len[j];
  if (src >= 0 && l >= CURSOR_MIN_LEN) cur = src + l;
  nodeCursor[j] = cur;
  nodeState[j] = <u8>next;
  nodeReps[j * 4] = r0;
  nodeReps[j * 4 + 1] = r1;
  nodeReps[j * 4 + 2] = r2;
  nodeReps[j * 4 + 3] = r3;
}

@inline
function relax(t: i32, cost: i32, k: i32, l: i32, a: i32, j: i32): void {
  if (t > last) {
    for (let q = last + 1; q <= t; q++) price[q] = INF;
    last = t;
  }
  if (cost < price[t]) {
    price[t] = cost;
    from[t] = j;
    kind[t] = <u8>k;
    len[t] = l;
    arg[t] = a;
  }
}

/**
 * A match at `src` for the position `p` (node `j`, state `s`, reached at price `base`), coded
 * as a shift of the last distance (`OP_NEAR`, `a` the shift) or an offset from the cursor
 * (`OP_CURSOR`, `a` the offset): its length (under 2: none), each length below NICE relaxed.
 */
@inline
function shiftCandidate(j: i32, p: i32, maxLen: i32, s: i32, base: i32, src: i32, k: i32, a: i32): i32 {
  if (at(src) != at(p)) return 0;
  const l = matchLen(src, p, maxLen);
  if (l < 2 || l >= nice) return l;
  const hd = k == OP_NEAR ? nearPrice(s, a) : cursorPrice(s, a);
  for (let t = 2; t <= l; t++) relax(j + t, base + hd + shiftLenPrice[t], k, t, a, j);
  return l;
}

function segment(): void {
  const i0 = pos;
  prepareLengthPrices();
  price[0] = 0;
  nodeState[0] = <u8>state;
  for (let k = 0; k < 4; k++) nodeReps[k] = reps[k];
  nodeCursor[0] = cursor;
  segStart = i0;
  last = 0;
  let end = 0;
  let longKind = -1;
  let longLen = 0;
  let longArg = 0;
  for (let j = 0; ; j++) {
    if (j > 0) deriveNode(j);
    const i = i0 + j;
    if (i >= n || j >= MAX_SEGMENT) {
      end = j;
      break;
    }
    const p = oldLen + i;
    const maxLen = n - i;
    const s = <i32>nodeState[j];
    const base = price[j];
    const r0 = nodeReps[j * 4];
    insertUpTo(p);
    // repeat distances
    let rep0Len = 0;
    let bestRep = -1;
    let bestRepLen = 1;
    for (let k = 0; k < 4; k++) {
      const d = nodeReps[j * 4 + k];
      if (d > p) continue;
      let dup = false;
      for (let q = 0; q < k; q++) if (nodeReps[j * 4 + q] == d) dup = true;
      if (dup) continue;
      const l = matchLen(p - d, p, maxLen);
      if (k == 0) rep0Len = l;
      if (l > bestRepLen) {
        bestRepLen = l;
        bestRep = k;
      }
      if (l < 2) continue;
      if (l >= nice) continue;
      const hd = repHeaderPrice(s, k);
      for (let t = 2; t <= l; t++) relax(j + t, base + hd + repLenPrice[t], OP_REP0 + k, t, k, j);
    }
    if (bestRepLen >= nice) {
      end = j;
      longKind = OP_REP0 + bestRep;
      longLen = bestRepLen;
      break;
    }
    // shifts of the last distance, offsets from the cursor
    let bestShiftLen = 1;
    let bestShiftKind = OP_NEAR;
    let bestShift = 0;
    if (rep0Len < nice) {
      for (let delta = -NEAR_SCAN; delta <= NEAR_SCAN; delta++) {
        const d = r0 + delta;
        if (delta == 0 || d < 1 || d > p) continue;
        const l = shiftCandidate(j, p, maxLen, s, base, p - d, OP_NEAR, delta);
        if (l > bestShiftLen) {
          bestShiftLen = l;
          bestShiftKind = OP_NEAR;
          bestShift = delta;
        }
      }
      // The offsets from the cursor whose first byte matches, found 16 at a time (the others
      // are no candidates): the same candidates in the same order as one by one, and the
      // encoder of jquery.js in a fresh process 21.5 → 19.4 ms (medians of 21 alternating
      // runs; 169 offsets per position).
      const cur = nodeCursor[j];
      const lo = max(cur - CURSOR_BACK, 0);
      const hi = min(cur + cursorForward, p - 1);
      const first = i8x16.splat(<i8>at(p));
      for (let c = lo; c <= hi; c += 16) {
        // Reads up to 15 bytes past `hi`, inside the window or the tables allocated after it.
        let mask = i8x16.bitmask(i8x16.eq(v128.load(win + <usize>c), first));
        if (hi - c < 15) mask &= (1 << (hi - c + 1)) - 1;
        while (mask != 0) {
          const src = c + ctz(mask);
          mask &= mask - 1;
          const off = src - cur;
          const l = shiftCandidate(j, p, maxLen, s, base, src, OP_CURSOR, off);
          if (l > bestShiftLen) {
            bestShiftLen = l;
            bestShiftKind = OP_CURSOR;
            bestShift = off;
          }
        }
      }
    }
    const count = findMatches(p, maxLen);
    const longest = count > 0 ? candLen[count - 1] : 0;
    if (bestShiftLen >= nice || longest >= nice) {
      end = j;
      if (bestShiftLen + 8 >= longest) {
        longKind = bestShiftKind;
        longLen = bestShiftLen;
        longArg = bestShift;
      } else {
        bestCoding(s, candDist[count - 1], longest, r0, nodeCursor[j], p);
        longKind = codingKind;
        longLen = longest;
        longArg = codingArg;
      }
      break;
    }
    // literal and short rep
    const byte = at(p);
    const matchByte = r0 <= p ? at(p - r0) : 0;
    const lit = bitPrice(isMatch[s], 0) + literalPrice(literalBase(p > 0 ? at(p - 1) : 0), byte, matchByte, usesMatchedLiteral(s));
    relax(j + 1, base + lit, OP_LITERAL, 1, 0, j);
    if (r0 <= p && matchByte == byte) {
      const short = bitPrice(isMatch[s], 1) + bitPrice(isRep[s], 1) + bitPrice(isRepG0[s], 0) + bitPrice(isRep0Long[s], 0);
      relax(j + 1, base + short, OP_SHORT_REP, 1, 0, j);
    }
    // explicit distances
    let prevLen = MIN_HASH_MATCH - 1;
    let lastCost = 0;
    const cur = nodeCursor[j];
    for (let c = 0; c < count; c++) {
      const l = candLen[c];
      const d = candDist[c];
      if (d == nodeReps[j * 4] || d == nodeReps[j * 4 + 1] || d == nodeReps[j * 4 + 2] || d == nodeReps[j * 4 + 3]) {
        prevLen = l;
        continue;
      }
      for (let t = prevLen + 1; t <= l; t++) {
        // the distance context changes only up to length 5
        const cost = t <= 5 || t == prevLen + 1 ? bestCoding(s, d, t, r0, cur, p) : lastCost;
        relax(j + t, base + cost + (codingKind == OP_MATCH ? matchLenPrice[t] : shiftLenPrice[t]), codingKind, t, codingArg, j);
        lastCost = cost;
      }
      prevLen = l;
    }
  }
  emitPath(end);
  if (longKind >= 0) encodeOp(longKind, longLen, longKind >= OP_REP0 && longKind < OP_SHORT_REP ? longKind - OP_REP0 : longArg);
}

function emitPath(end: i32): void {
  let count = 0;
  for (let j = end; j > 0; j = from[j]) {
    opKind[count] = kind[j];
    opLen[count] = len[j];
    opArg[count] = arg[j];
    count++;
  }
  for (let c = count - 1; c >= 0; c--) encodeOp(<i32>opKind[c], opLen[c], opArg[c]);
}

function encodeOp(k: i32, length: i32, a: i32): void {
  const s = state;
  const p = oldLen + pos;
  if (k == OP_LITERAL) {
    encodeBit(isMatch, s, 0);
    const matchByte = reps[0] <= p ? at(p - reps[0]) : 0;
    encodeLiteral(literalBase(p > 0 ? at(p - 1) : 0), at(p), matchByte, usesMatchedLiteral(s));
    state = afterLiteral(s);
    pos += 1;
    return;
  }
  encodeBit(isMatch, s, 1);
  if (k == OP_MATCH || k == OP_NEAR || k == OP_CURSOR) {
    encodeBit(isRep, s, 0);
    encodeBit(isNear, s, k == OP_MATCH ? 0 : 1);
    let d = a;
    if (k == OP_CURSOR) {
      encodeBit(isCursor, s, 1);
      cursorOffset.encode(0, zigzag(a));
      d = p - (cursor + a);
      matchLenCoder.encode(1, <u64>(length - 2));
    } else if (k == OP_NEAR) {
      encodeBit(isCursor, s, 0);
      encodeBit(nearSign, 0, a < 0 ? 1 : 0);
      nearMagnitude.encode(0, <u64>(abs(a) - 1));
      d = reps[0] + a;
      matchLenCoder.encode(1, <u64>(length - 2));
    } else {
      matchLenCoder.encode(0, <u64>(length - 2));
      distCoder.encode(distContext(length), <u64>(d - 1));
    }
    reps[3] = reps[2];
    reps[2] = reps[1];
    reps[1] = reps[0];
    reps[0] = d;
    if (length >= CURSOR_MIN_LEN) cursor = p - d + length;
    state = afterMatch(s);
    pos += length;
    return;
  }
  encodeBit(isRep, s, 1);
  if (k == OP_SHORT_REP) {
    encodeBit(isRepG0, s, 0);
    encodeBit(isRep0Long, s, 0);
    state = afterShortRep(s);
    pos += 1;
    return;
  }
  encodeRep(k - OP_REP0, length);
}

function encodeRep(k: i32, length: i32): void {
  const s = state;
  if (k == 0) {
    encodeBit(isRepG0, s, 0);
    encodeBit(isRep0Long, s, 1);
  } else {
    encodeBit(isRepG0, s, 1);
    if (k == 1) encodeBit(isRepG1, s, 0);
    else {
      encodeBit(isRepG1, s, 1);
      encodeBit(isRepG2, s, k == 2 ? 0 : 1);
    }
    const d = reps[k];
    for (let q = k; q > 0; q--) reps[q] = reps[q - 1];
    reps[0] = d;
  }
  repLenCoder.encode(0, <u64>(length - 2));
  if (length >= CURSOR_MIN_LEN) cursor = oldLen + pos - reps[0] + length;
  state = afterRep(s);
  pos += length;
}

// ---- the decoder (decode.ts describes it) ----

/** Why decoding stopped (`failure()`); decode.ts words each. */
const E_TRUNCATED: i32 = 1;
const E_NO_ZERO: i32 = 2;
const E_OUT_OF_RANGE: i32 = 3;
const E_PAST_SIZE: i32 = 4;
const E_DISTANCE: i32 = 5;
const E_TRAILING: i32 = 6;
const E_FLUSH: i32 = 7;

let failed: i32 = 0;
let inPtr: usize = 0;
let inLen: i32 = 0;
let inPos: i32 = 0;
let rdRange: u32 = 0xffffffff;
let rdCode: u32 = 0;
let oldPtr: usize = 0;
let size: i64 = 0;
let dst: usize = 0;
let dstCap: i64 = 0;
let outLen: i64 = 0;
const dreps = new StaticArray<i64>(4);
let dcursor: i64 = 0;

/** Stops the decoder: the caller reads the reason from `failure()`. */
function fail(reason: i32): void {
  failed = reason;
  unreachable();
}

export function failure(): i32 {
  return failed;
}

function normalize(): void {
  if (inPos >= inLen) fail(E_TRUNCATED);
  rdRange <<= 8;
  rdCode = (rdCode << 8) | <u32>load<u8>(inPtr + <usize>inPos);
  inPos++;
}

function decodeBit(probs: StaticArray<u16>, index: i32): i32 {
  const p = <u32>probs[index];
  const bound = (rdRange >>> PROB_BITS) * p;
  let bit: i32;
  if (rdCode < bound) {
    rdRange = bound;
    probs[index] = <u16>(p + ((<u32>PROB_ONE - p) >> MOVE_BITS));
    bit = 0;
  } else {
    rdCode -= bound;
    rdRange -= bound;
    probs[index] = <u16>(p - (p >> MOVE_BITS));
    bit = 1;
  }
  if (rdRange < TOP) normalize();
  return bit;
}

function decodeDirect(count: i32): u64 {
  let value: u64 = 0;
  for (let i = 0; i < count; i++) {
    rdRange = rdRange >>> 1;
    let bit: u64 = 0;
    if (rdCode >= rdRange) {
      rdCode -= rdRange;
      bit = 1;
    }
    value = (value << 1) | bit;
    if (rdRange < TOP) normalize();
  }
  return value;
}

/** A number as `NumberCoder.encode` codes it. */
function decodeNumber(coder: NumberCoder, context: i32): i64 {
  const probs = coder.probs;
  const base = context * NUM_SIZE;
  let m = 1;
  for (let i = 0; i < NUM_SLOT_BITS; i++) m = (m << 1) | decodeBit(probs, base + m);
  const nb = m - NUM_SLOTS;
  const k = min(nb, NUM_TREE_BITS);
  const low = nb - k;
  const treeBase = base + NUM_SLOTS + nb * (1 << NUM_TREE_BITS);
  m = 1;
  for (let i = 0; i < k; i++) m = (m << 1) | decodeBit(probs, treeBase + m);
  const top = <u64>(m - (1 << k));
  const rest = (top << <u64>low) + (low > 0 ? decodeDirect(low) : 0);
  return <i64>((<u64>1 << <u64>nb) + rest - 1);
}

function decodeLiteral(base: i32, matchByte: i32, matched: bool): i32 {
  let symbol = 1;
  if (matched) {
    let offs = 0x100;
    let mb = matchByte;
    while (symbol < 0x100) {
      mb <<= 1;
      const matchBit = mb & offs;
      const bit = decodeBit(literal, base + offs + matchBit + symbol);
      symbol = (symbol << 1) | bit;
      offs &= bit == 0 ? ~matchBit : matchBit;
    }
    return symbol & 0xff;
  }
  while (symbol < 0x100) symbol = (symbol << 1) | decodeBit(literal, base + symbol);
  return symbol & 0xff;
}

@inline
function byteAt(p: i64): i32 {
  return p < <i64>oldLen ? <i32>load<u8>(oldPtr + <usize>p) : <i32>load<u8>(dst + <usize>(p - <i64>oldLen));
}

/** Room for `length` more output bytes; past the declared size is a damaged delta. */
function reserve(length: i64): void {
  const need = outLen + length;
  if (need > size) fail(E_PAST_SIZE);
  if (need <= dstCap) return;
  let cap = dstCap * 2;
  if (cap < need) cap = need;
  if (cap > size) cap = size;
  const grown = heap.alloc(<usize>cap);
  memory.copy(grown, dst, <usize>outLen);
  dst = grown;
  dstCap = cap;
}

/** Copies `length` bytes from `distance` back in old‖output; the source may overlap the copy. */
function copyMatch(distance: i64, length: i64): void {
  const p = <i64>oldLen + outLen;
  if (distance < 1 || distance > p) fail(E_DISTANCE);
  reserve(length);
  if (length >= <i64>CURSOR_MIN_LEN) dcursor = p - distance + length;
  let src = p - distance;
  let to = outLen;
  let left = length;
  if (src < <i64>oldLen) {
    const fromOld = min(left, <i64>oldLen - src);
    memory.copy(dst + <usize>to, oldPtr + <usize>src, <usize>fromOld);
    to += fromOld;
    src += fromOld;
    left -= fromOld;
  }
  if (left > 0) {
    let from = src - <i64>oldLen;
    if (from + left <= to) memory.copy(dst + <usize>to, dst + <usize>from, <usize>left);
    else {
      const stop = to + left;
      while (to < stop) {
        store<u8>(dst + <usize>to, load<u8>(dst + <usize>from));
        to++;
        from++;
      }
    }
  }
  outLen += length;
}

/**
 * Starts decoding a body (`bodyLength` bytes at `body`) into `newSize` bytes from the old file
 * (`oldLength` bytes at `old`); traps on a body too short or not as the encoder starts one.
 */
export function decodeInit(old: usize, oldLength: i32, body: usize, bodyLength: i32, newSize: f64, firstCapacity: f64, counted: bool): void {
  oldPtr = old;
  oldLen = oldLength;
  inPtr = body;
  inLen = bodyLength;
  size = <i64>newSize;
  if (bodyLength < 5) fail(E_TRUNCATED);
  if (load<u8>(body) != 0) fail(E_NO_ZERO);
  for (let i = 1; i < 5; i++) rdCode = (rdCode << 8) | <u32>load<u8>(body + <usize>i);
  inPos = 5;
  if (rdCode == 0xffffffff) fail(E_OUT_OF_RANGE);
  dstCap = <i64>firstCapacity;
  dst = heap.alloc(<usize>max<i64>(dstCap, 1));
  const start = <i64>max(1, oldLength);
  for (let k = 0; k < 4; k++) dreps[k] = start;
  state = oldLength > 0 ? 7 : 0;
  primeLiterals(old, oldLength, counted);
}

/** Decodes operations until `budget` more bytes are out or all are; 1 while some remain. */
export function decodeStep(budget: i32): i32 {
  const stop = outLen + <i64>budget;
  while (outLen < size && outLen < stop) decodeOp();
  return outLen < size ? 1 : 0;
}

/** Checks the body ended exactly where the encoder's flush ended it; the output is at the returned pointer. */
export function decodeFinish(): usize {
  if (inPos != inLen) fail(E_TRAILING);
  if (rdCode != 0) fail(E_FLUSH);
  return dst;
}

function decodeOp(): void {
  const s = state;
  const p = <i64>oldLen + outLen;
  if (decodeBit(isMatch, s) == 0) {
    const r0 = dreps[0];
    const matchByte = r0 <= p ? byteAt(p - r0) : 0;
    const byte = decodeLiteral(literalBase(p > 0 ? byteAt(p - 1) : 0), matchByte, usesMatchedLiteral(s));
    reserve(1);
    store<u8>(dst + <usize>outLen, <u8>byte);
    outLen++;
    state = afterLiteral(s);
    return;
  }
  if (decodeBit(isRep, s) == 0) {
    let d: i64;
    let length: i64;
    if (decodeBit(isNear, s) == 0) {
      length = decodeNumber(matchLenCoder, 0) + 2;
      d = decodeNumber(distCoder, distContext(<i32>min<i64>(length, 5))) + 1;
    } else if (decodeBit(isCursor, s) == 1) {
      const v = decodeNumber(cursorOffset, 0);
      const offset = (v & 1) == 0 ? v >> 1 : -((v + 1) >> 1);
      d = p - (dcursor + offset);
      length = decodeNumber(matchLenCoder, 1) + 2;
    } else {
      const negative = decodeBit(nearSign, 0);
      const magnitude = decodeNumber(nearMagnitude, 0) + 1;
      d = dreps[0] + (negative == 1 ? -magnitude : magnitude);
      length = decodeNumber(matchLenCoder, 1) + 2;
    }
    dreps[3] = dreps[2];
    dreps[2] = dreps[1];
    dreps[1] = dreps[0];
    dreps[0] = d;
    copyMatch(d, length);
    state = afterMatch(s);
    return;
  }
  if (decodeBit(isRepG0, s) == 0) {
    if (decodeBit(isRep0Long, s) == 0) {
      copyMatch(dreps[0], 1);
      state = afterShortRep(s);
      return;
    }
  } else {
    let k = 1;
    if (decodeBit(isRepG1, s) == 1) k = decodeBit(isRepG2, s) == 0 ? 2 : 3;
    const d = dreps[k];
    for (let q = k; q > 0; q--) dreps[q] = dreps[q - 1];
    dreps[0] = d;
  }
  copyMatch(dreps[0], decodeNumber(repLenCoder, 0) + 2);
  state = afterRep(s);
}
