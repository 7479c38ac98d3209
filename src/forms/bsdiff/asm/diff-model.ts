/**
 * The context-mixing coder of the diff stream (../diff-model.ts describes the model and the
 * format) in AssemblyScript, compiled to WebAssembly by `npm run build:wasm` into
 * `../diff-model-wasm.ts`. The same arithmetic as the JavaScript it replaced, step for step
 * (f64 mixing in the same order, the same integer updates), so it codes the same bytes; the
 * squash and stretch tables are computed by the caller (JavaScript's Math.exp and Math.log)
 * and handed over, so that no last-bit difference of a libm can change a probability.
 *
 * Not TypeScript for tsc: `i32`, `usize`, `load<T>` are AssemblyScript's. One instance codes or
 * decodes one stream (nothing is freed): the caller writes the tables at pointers `alloc`
 * returned and calls `init`, then `encode` over runs of (difference, old byte) and `finish`,
 * or `decodeStart` and `decodeAdd` over runs of old bytes.
 */

import { alloc } from './bump';
import { outLength, outPointer, put } from './out';

/** `size` bytes of the module's memory (bump.ts). */
export { alloc };

const INPUTS = 5;
const MIXER_SETS = 512;
const LEARNING_RATE: f64 = 0.02;
const SQUASH_SCALE: f64 = 100;

// ---- the model ----
let stretchTable: usize = 0; // f64[4096]
let squashTable: usize = 0; // f64[4097]
let squash12Table: usize = 0; // u16[4097]
let tableBits: i32 = 0;
let hashShift: u32 = 0;
let counters: usize = 0; // u16[INPUTS << tableBits]
let weights: usize = 0; // f64[MIXER_SETS * INPUTS]
let stretched: usize = 0; // f64[INPUTS]
let slots: usize = 0; // i32[INPUTS]
let contexts: usize = 0; // i32[INPUTS]
let mixerBase: i32 = 0;
let probability: f64 = 0.5;
let history: u32 = 0;
let old1: i32 = 0;
let old2: i32 = 0;
let diff1: i32 = 0;
let lastChange: i32 = 0;

/** Sets up the model with `bits` of table per input and the caller's tables. */
export function init(bits: i32, stretch: usize, squash: usize, squash12: usize): void {
  stretchTable = stretch;
  squashTable = squash;
  squash12Table = squash12;
  tableBits = bits;
  hashShift = <u32>(32 - bits);
  const slotsCount = INPUTS << bits;
  counters = alloc((<usize>slotsCount) << 1);
  for (let i = 0; i < slotsCount; i++) store<u16>(counters + ((<usize>i) << 1), 32768);
  weights = alloc(MIXER_SETS * INPUTS * 8);
  for (let i = 0; i < MIXER_SETS * INPUTS; i++) store<f64>(weights + ((<usize>i) << 3), 0.3);
  stretched = alloc(INPUTS * 8);
  slots = alloc(INPUTS * 4);
  contexts = alloc(INPUTS * 4);
}

@inline
function hash(x: u32): i32 {
  return <i32>((x * 0x9e3779b1) >>> hashShift);
}

@inline
function setContext(k: i32, value: i32): void {
  store<i32>(contexts + ((<usize>k) << 2), value);
}

/** The 12-bit probability that the next bit is 1, in the contexts set. */
function predict(mixerSet: i32): i32 {
  const base = mixerSet * INPUTS;
  let dot: f64 = 0;
  for (let k = 0; k < INPUTS; k++) {
    const slot = (k << tableBits) | load<i32>(contexts + ((<usize>k) << 2));
    store<i32>(slots + ((<usize>k) << 2), slot);
    const counter = <i32>load<u16>(counters + ((<usize>slot) << 1));
    const s = load<f64>(stretchTable + ((<usize>(counter >>> 4)) << 3));
    store<f64>(stretched + ((<usize>k) << 3), s);
    dot += load<f64>(weights + ((<usize>(base + k)) << 3)) * s;
  }
  mixerBase = base;
  if (dot > 20) dot = 20;
  else if (dot < -20) dot = -20;
  const at = <i32>(dot * SQUASH_SCALE + 2048.5);
  probability = load<f64>(squashTable + ((<usize>at) << 3));
  return <i32>load<u16>(squash12Table + ((<usize>at) << 1));
}

function update(bit: i32): void {
  const err = (<f64>bit - probability) * LEARNING_RATE;
  const base = mixerBase;
  for (let k = 0; k < INPUTS; k++) {
    const w = weights + ((<usize>(base + k)) << 3);
    store<f64>(w, load<f64>(w) + err * load<f64>(stretched + ((<usize>k) << 3)));
    const c = counters + ((<usize>load<i32>(slots + ((<usize>k) << 2))) << 1);
    const v = <i32>load<u16>(c);
    store<u16>(c, <u16>(bit ? v + ((65535 - v) >>> 4) : v - (v >>> 4)));
  }
}

/** Contexts of the "changed" bit of the byte over old byte `old0`. */
function changeContexts(old0: i32): void {
  const h = history;
  setContext(0, hash(0x1000000 | (h & 0xffff)));
  setContext(1, hash(0x2000000 | ((h & 0xf) << 16) | (<u32>old1 << 8) | <u32>old0));
  setContext(2, hash(0x3000000 | (<u32>old2 << 16) | (<u32>old1 << 8) | <u32>old0));
  setContext(3, hash(0x4000000 | ((h & 0xff) << 8) | <u32>old0));
  setContext(4, hash(0x5000000 | ((h & 3) << 16) | (<u32>diff1 << 8) | <u32>old1));
}

/** Contexts of one bit of a changed byte; `node` is 1 followed by the bits so far. */
function valueContexts(node: i32, old0: i32): void {
  const n = <u32>node;
  setContext(0, hash(0x6000000 | (n << 8) | <u32>diff1));
  setContext(1, hash(0x7000000 | (n << 8) | <u32>old0));
  setContext(2, hash(0x8000000 | (n << 16) | (<u32>lastChange << 8) | <u32>old1));
  setContext(3, hash(0x9000000 | (n << 16) | (<u32>old1 << 8) | <u32>old0));
  setContext(4, hash(0xa000000 | n));
}

/** Moves past a byte: `diff` coded over `old0`. */
function advance(diff: i32, old0: i32): void {
  const changed: u32 = diff == 0 ? 0 : 1;
  history = (history << 1) | changed;
  if (changed) lastChange = diff;
  old2 = old1;
  old1 = old0;
  diff1 = diff;
}

// ---- the 32-bit binary arithmetic coder ----
let low: u32 = 0;
let high: u32 = 0xffffffff;
function encodeBit(bit: i32, mixerSet: i32): void {
  const p = <u32>predict(mixerSet);
  const mid = low + ((high - low) >>> 12) * p;
  if (bit) high = mid;
  else low = mid + 1;
  update(bit);
  while (((low ^ high) & 0xff000000) == 0) {
    put(high >>> 24);
    low = low << 8;
    high = (high << 8) | 0xff;
  }
}

/** Codes `length` differences at `diff`, each over the old byte at the same index of `old`. */
export function encode(diff: usize, old: usize, length: i32): void {
  for (let i = 0; i < length; i++) {
    const d = <i32>load<u8>(diff + <usize>i);
    const old0 = <i32>load<u8>(old + <usize>i);
    changeContexts(old0);
    const changed = d == 0 ? 0 : 1;
    encodeBit(changed, <i32>(history & 0xff));
    if (changed) {
      let node = 1;
      for (let k = 7; k >= 0; k--) {
        const b = (d >>> k) & 1;
        valueContexts(node, old0);
        encodeBit(b, 256 + node);
        node = (node << 1) | b;
      }
    }
    advance(d, old0);
  }
}

/** Flushes the coder; the coded stream is `outLength()` bytes at the returned pointer. */
export function finish(): usize {
  put(low >>> 24);
  put((low >>> 16) & 0xff);
  put((low >>> 8) & 0xff);
  put(low & 0xff);
  return outPointer();
}

export { outLength };

// ---- the decoder ----
let input: usize = 0;
let inputLength: usize = 0;
let inputPos: usize = 0;
let x: u32 = 0;
/** Set when the coded stream ended before the differences did. */
let short = false;

function nextByte(): u32 {
  if (inputPos >= inputLength) {
    short = true;
    return 0;
  }
  return <u32>load<u8>(input + inputPos++);
}

/** Starts decoding the `length` coded bytes at `coded`; false when they are fewer than 4. */
export function decodeStart(coded: usize, length: i32): bool {
  input = coded;
  inputLength = <usize>length;
  for (let i = 0; i < 4; i++) x = (x << 8) | nextByte();
  return !short;
}

function decodeBit(mixerSet: i32): i32 {
  const p = <u32>predict(mixerSet);
  const mid = low + ((high - low) >>> 12) * p;
  let bit = 0;
  if (x <= mid) {
    bit = 1;
    high = mid;
  } else {
    low = mid + 1;
  }
  update(bit);
  while (((low ^ high) & 0xff000000) == 0) {
    low = low << 8;
    high = (high << 8) | 0xff;
    x = (x << 8) | nextByte();
  }
  return bit;
}

/**
 * Decodes `length` differences over the old bytes at `old` and writes old + difference to
 * `out`; false when the coded stream ended early (the output is then not to be used).
 */
export function decodeAdd(old: usize, out: usize, length: i32): bool {
  for (let i = 0; i < length; i++) {
    const old0 = <i32>load<u8>(old + <usize>i);
    changeContexts(old0);
    let d = 0;
    if (decodeBit(<i32>(history & 0xff))) {
      let node = 1;
      for (let k = 7; k >= 0; k--) {
        valueContexts(node, old0);
        node = (node << 1) | decodeBit(256 + node);
      }
      d = node & 0xff;
    }
    advance(d, old0);
    store<u8>(out + <usize>i, <u8>(old0 + d));
  }
  return !short;
}

/** True when every coded byte was used, as the encoder wrote them. */
export function decodeAtEnd(): bool {
  return !short && inputPos == inputLength;
}
