/**
 * The lz-delta encoder: a price-driven parse of the new file over the window old‖new-so-far.
 *
 * Candidates at each position: the four repeat distances, the last distance shifted by up to
 * ±NEAR_SCAN bytes (an insertion or deletion just before), the cursor moved by −CURSOR_BACK to
 * +CURSOR_FORWARD bytes (the old text going on after an inserted or replaced passage), the
 * matches a hash chain of 4-byte hashes over the whole window finds, and those of a sparser
 * chain of 16-byte hashes (LONG_BYTES, see there for what it replaced). Each explicit match is priced as the cheapest of its distance, its shift of rep0 and its cursor
 * offset. A forward dynamic programme over up to MAX_SEGMENT positions picks the cheapest path
 * with prices read from the adaptive model at the segment's start (LZMA's "optimal" parse); a
 * candidate of NICE bytes or more ends the segment and is taken whole, which keeps long delta
 * matches cheap to find. Measured on typescript.js 5.5.4 → 5.6.2: hash chain depth 160 without
 * the suffix array gave 29,177 bytes at 0.8 MB/s, depth 32 with it 25,682 at 1.1 MB/s; depth 32
 * with the long hash 25.3–25.7 kB at 4.5–6 MB/s.
 *
 * The encoder runs as WebAssembly, compiled from AssemblyScript (`asm/lz-delta.ts`, by `npm run
 * build:wasm`); this module hands it the window and takes the coded body. In JavaScript it took
 * 100 ms for jquery.js 1.11.1 → 1.11.2 in a fresh process, three quarters of it before the JIT
 * had optimised its loops (36-40 ms warm); the same parse as WebAssembly, byte for byte the same
 * output (checked on the corpus and 300 random edit sequences before the JavaScript one was
 * removed), took 40-46 ms cold, and typescript.js 966 ms against 1,500; with smaller hash heads
 * since (asm/lz-delta.ts, HASH_SHRINK), 23-33 ms and 0.7-0.8 s, the same deltas.
 *
 * Constants (asm/lz-delta.ts): NICE 192, MAX_SEGMENT 4096, CHAIN_DEPTH 32, NEAR_SCAN 8, the
 * cursor from −8 to +160, explicit distances within 65,536 of the last coded as shifts; below a
 * 4 MiB window NICE 96 and the cursor to +64 (SMALL_WINDOW: such a parse runs unoptimized).
 *
 * The long hash: 16 bytes, inserted at every 8th window position,
 * up to 8 entries followed. It finds the old copy of a passage after an edit, where
 * the 4-byte chain is lost among common 4-grams. It replaced a suffix array of the window (the
 * longest earlier match at every position), which took three quarters of the encoder's time.
 * `encodeLzDelta` alone, CPU seconds on a loaded 2-core machine (one process, runs interleaved):
 * typescript.js 5.5.4 → 5.6.2 suffix array 24,160 B in 7.3 s; hash chain alone 27,891 B in
 * 1.3–1.9 s; with the long hash (16 bytes, stride 8) 25,263–25,676 B in 1.5–2.0 s (stride 1:
 * 24,992 B in 2.9–3.6 s; 32 bytes: 26,037 B). The typescript package tar: 114,501 B in 16.9 s,
 * 135,225 B in 5.9 s, 125,775 B in 5.7 s. jquery.js 1.11.1 → 1.11.2: 923 B in 0.32 s, 948 B in
 * 0.05 s, 940 B in 0.05 s.
 */

import { throwIfAborted } from '../../core/errors.js';
import { wasmApi } from '../../core/wasm.js';
import { lzDeltaInstance } from './instance.js';

/** The new file's bytes coded per call into the module, between checks of the abort signal. */
const STEP_BYTES = 1 << 20;

/**
 * The coded body (without the header) that rebuilds `next` from `old`, its literal model
 * primed by counts (`counted`, version 2) or bit by bit (version 1). Its own module
 * instance, whose memory (the window, 5.5 bytes per byte of it, and the hash heads) goes with
 * it.
 */
export function encodeLzBody(old: Uint8Array, next: Uint8Array, counted: boolean, signal: AbortSignal | undefined): Uint8Array {
  const e = lzDeltaInstance();
  try {
    const window = e.alloc(old.length + next.length);
    const bytes = new Uint8Array(e.memory.buffer);
    bytes.set(old, window);
    bytes.set(next, window + old.length);
    e.init(window, old.length, next.length, counted);
    while (e.step(STEP_BYTES) !== 0) throwIfAborted(signal);
  } catch (err) {
    // A trap: the memory could not grow (the module checks nothing else that can fail).
    if (err instanceof wasmApi().RuntimeError) throw new RangeError('Cannot encode an lz delta: out of WebAssembly memory', { cause: err });
    throw err;
  }
  const out = e.finish();
  return new Uint8Array(e.memory.buffer, out, e.outLength()).slice();
}
