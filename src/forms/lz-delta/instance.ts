/**
 * The lz-delta codec's WebAssembly module (asm/lz-delta.ts, built into lz-delta-wasm.ts by
 * `npm run build:wasm`): its exports, and a fresh instance of it for each delta made
 * (encode.ts) or applied (decode.ts), whose memory goes with it.
 *
 * @module
 */
import { compileBase64, wasmApi, type WasmMemory } from '../../core/wasm.js';
import { LZ_DELTA_WASM_BASE64 } from './lz-delta-wasm.js';

/** The exports of asm/lz-delta.ts. */
export interface LzDeltaExports {
  memory: WasmMemory;
  alloc(size: number): number;
  init(window: number, oldLength: number, newLength: number, counted: boolean): void;
  step(budget: number): number;
  finish(): number;
  outLength(): number;
  decodeInit(
    old: number,
    oldLength: number,
    body: number,
    bodyLength: number,
    newSize: number,
    firstCapacity: number,
    counted: boolean,
  ): void;
  decodeStep(budget: number): number;
  decodeFinish(): number;
  failure(): number;
}

let compiled: object | undefined;

/** A fresh instance of the codec's module (compiled once per process). */
export function lzDeltaInstance(): LzDeltaExports {
  compiled ??= compileBase64(LZ_DELTA_WASM_BASE64);
  const abort = () => {
    throw new RangeError('lz-delta: the WebAssembly module aborted');
  };
  return new (wasmApi().Instance)(compiled, { env: { abort } }).exports as LzDeltaExports;
}
