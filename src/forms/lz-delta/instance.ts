/**
 * The lz-delta codec's WebAssembly module (asm/lz-delta.ts, built into lz-delta-wasm.ts by
 * `npm run build:wasm`): its exports, and a fresh instance of it for each delta made
 * (encode.ts) or applied (decode.ts), whose memory goes with it.
 *
 * @module
 */
import { instanceMaker, type WasmMemory } from '../../core/wasm.js';
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

/** A fresh instance of the codec's module (compiled once per process). */
export const lzDeltaInstance: () => LzDeltaExports = instanceMaker<LzDeltaExports>(LZ_DELTA_WASM_BASE64, 'lz-delta');
