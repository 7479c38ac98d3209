/**
 * The matcher's rolling scan in WebAssembly (`rollsum-scan.wat`), for rollsum and RabinKarp
 * weak sums: the matcher's hot loop between two windows that need its attention.
 *
 * Each scanner that uses it has its own instance and memory: a filter of its own built
 * from the lookup table's keys (two bits per key in one word: see the .wat), the table's
 * chain heads, next links and keys copied in once, then the scan buffer, which the
 * scanner uses as its own buffer (a view of the memory), so that pushed bytes are copied
 * once, as before, and the scan reads them where they are. The module is compiled once,
 * synchronously, the first time a scanner needs it (Node compiles small modules
 * synchronously; this one is about 1 kB), not when gosync loads.
 *
 * The memory grows with the scan buffer ({@link RollsumScan.grow}); views taken before a
 * growth are detached, so the scanner takes its buffer from {@link RollsumScan.buffer}
 * again after each growth.
 *
 * @module
 */
import type { LookupTable } from '../index/lookup.js';
import { ROLLSUM_SCAN_WASM_BASE64 } from './rollsum-scan-wasm.js';
import { WASM_PAGE as PAGE, type WasmMemory, compileBase64, wasmApi } from '../wasm.js';

interface ScanExports {
  setup(
    wshift: number,
    tshift: number,
    heads: number,
    next: number,
    keys: number,
    mask: number,
    mask1: number,
    bs: number,
    buf: number,
  ): void;
  scan(x: number, stop: number): number;
  setupRabinKarp(pow: number): void;
  scanRabinKarp(x: number, stop: number): number;
  roll(x: number, stop: number): number;
  rollRabinKarp(x: number, stop: number): number;
}

/** Where the filter starts (the module loads it at this constant offset). */
const FILTER = 64;
/**
 * Windows scanned per call at most. A call runs in the code the engine had when it began:
 * V8 first runs a module's functions in its baseline compiler and uses the optimised code
 * from the next call, so one call over a whole 4 MiB buffer ran at 4.2 ns/byte where
 * 64 KiB calls ran at 1.4 (the eight-window loop alone, 64 MiB of random data, CPU time).
 */
const CHUNK = 64 * 1024;

let compiled: object | undefined;

/**
 * Windows a rollsum scan must have before it sets up its WebAssembly scan; smaller files
 * are scanned in JavaScript. The set-up (an instance, a memory, the filter, a copy of the
 * lookup table) took 97 µs with a 511-block index and 261 µs with 8,191 blocks (mean of
 * 200, on the loaded 2-vCPU VM), where 64 Ki windows take 1-2 ms to scan in JavaScript
 * there and a third of that in WebAssembly (bench micro). Below 64 Ki windows the JavaScript
 * loop also runs before V8 has optimized it: with the threshold at 1,024 windows instead of
 * 64 Ki, the patch of jquery.js (284 kB) through nginx took 172 instead of 183 ms of CPU (30
 * interleaved runs, the same output).
 */
export const WASM_MIN_WINDOWS = 1024;

let minWindows = WASM_MIN_WINDOWS;

/**
 * Turns the WebAssembly scan off (or back on) for the scans started afterwards, which
 * then roll in JavaScript, and sets the windows a scan needs to use it: for tests
 * comparing the two and for the micro-benchmarks.
 */
export function useWasmScan(on: boolean, fromWindows = WASM_MIN_WINDOWS): void {
  minWindows = on ? fromWindows : Infinity;
}

/** The windows a scan must have to use the WebAssembly scan (Infinity: never). */
export function wasmScanFrom(): number {
  return minWindows;
}

function align64(n: number): number {
  return (n + 63) & ~63;
}

/** One scanner's WebAssembly scan: its instance, its memory and its buffer. */
export class RollsumScan {
  readonly #memory: WasmMemory;
  readonly #x: ScanExports;
  readonly #bufAt: number;
  #state: Int32Array;
  /** The scan buffer, a view of the memory (taken again after {@link grow}). */
  buffer: Uint8Array;

  /**
   * An instance for `table` (with weak sums masked by `mask`, the second window's by
   * `mask1`) and a buffer of `size` bytes, blocks of `blockSize` bytes.
   */
  constructor(table: LookupTable, mask: number, mask1: number, blockSize: number, size: number) {
    const wasm = wasmApi();
    compiled ??= compileBase64(ROLLSUM_SCAN_WASM_BASE64);
    const words = table.filter.length;
    const heads = align64(FILTER + words * 4);
    const next = align64(heads + table.heads.byteLength);
    const keys = align64(next + table.next.byteLength);
    this.#bufAt = align64(keys + table.keys.byteLength);
    // 64 bytes of slack: the loads of eight windows' bytes never reach past the buffer anyway.
    this.#memory = new wasm.Memory({ initial: Math.ceil((this.#bufAt + size + 64) / PAGE) });
    const mem = this.#memory.buffer;
    // As many bits as the table's filter (32 per entry), two set per key in the word its top bits choose.
    const wshift = 32 - Math.log2(words);
    const filter = new Uint32Array(mem, FILTER, words);
    for (const key of table.keys) filter[key >>> wshift]! |= (1 << (key & 31)) | (1 << ((key >>> 5) & 31));
    new Int32Array(mem, heads, table.heads.length).set(table.heads);
    new Int32Array(mem, next, table.next.length).set(table.next);
    new Uint32Array(mem, keys, table.keys.length).set(table.keys);
    this.#x = new wasm.Instance(compiled, { e: { m: this.#memory } }).exports as ScanExports;
    this.#x.setup(wshift, table.tableShift, heads, next, keys, mask | 0, mask1 | 0, blockSize, this.#bufAt);
    this.#state = new Int32Array(mem, 0, 5);
    this.buffer = new Uint8Array(mem, this.#bufAt, size);
  }

  /** Makes the buffer `size` bytes (its bytes kept); {@link buffer} is then a new view. */
  grow(size: number): Uint8Array {
    const need = this.#bufAt + size + 64 - this.#memory.buffer.byteLength;
    if (need > 0) this.#memory.grow(Math.ceil(need / PAGE));
    const mem = this.#memory.buffer;
    this.#state = new Int32Array(mem, 0, 5);
    this.buffer = new Uint8Array(mem, this.#bufAt, size);
    return this.buffer;
  }

  /**
   * Rolls from window `x` (its sums given, not yet looked at) towards window `stop` (at
   * most the last window the buffer holds). Returns the first window whose key is in the
   * table ({@link found}), else `stop`; neither is looked at further. The sums of that
   * window are then in {@link a0}…{@link b1}. With `keys` false it looks at no window
   * on the way (for a scan that looks up no key any more) and returns `stop`.
   */
  scan(x: number, stop: number, a0: number, b0: number, a1: number, b1: number, keys = true): number {
    const s = this.#state;
    s[0] = a0;
    s[1] = b0;
    s[2] = a1;
    s[3] = b1;
    return keys ? this.#inChunks(x, stop, this.#x.scan) : this.#x.roll(x, stop);
  }

  /** Runs `step` (an export that looks up keys) over at most {@link CHUNK} windows at a time until it finds a key or reaches `stop`. */
  #inChunks(x: number, stop: number, step: (from: number, to: number) => number): number {
    const s = this.#state;
    for (;;) {
      const to = stop - x > CHUNK ? x + CHUNK : stop;
      x = step(x, to);
      if (x === stop || s[4] === 1) return x;
    }
  }

  /** Sets M^blockSize for {@link scanRabinKarp}. */
  setRabinKarpPower(pow: number): void {
    this.#x.setupRabinKarp(pow | 0);
  }

  /**
   * {@link scan} for RabinKarp weak sums (one window; the sum of window `x` given as `h`,
   * that of the window where it stopped then in {@link a0}).
   */
  scanRabinKarp(x: number, stop: number, h: number, keys = true): number {
    this.#state[0] = h;
    return keys ? this.#inChunks(x, stop, this.#x.scanRabinKarp) : this.#x.rollRabinKarp(x, stop);
  }

  /** Whether the last {@link scan} or {@link scanRabinKarp} stopped at a window whose key is in the table. */
  get found(): boolean {
    return this.#state[4] === 1;
  }
  get a0(): number {
    return this.#state[0]!;
  }
  get b0(): number {
    return this.#state[1]!;
  }
  get a1(): number {
    return this.#state[2]!;
  }
  get b1(): number {
    return this.#state[3]!;
  }
}
