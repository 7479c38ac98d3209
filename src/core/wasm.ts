/**
 * The part of the `WebAssembly` global that core's modules use (the ES lib declares
 * none): the rolling scan (`scan/rollsum-scan.ts`), the blocks' weak sums (`rollsum.ts`)
 * and the WebAssembly hashes (`hashing/wasm-hash.ts`); forms/lz-delta's codec and forms/bsdiff's
 * matcher and diff model too (through {@link instanceMaker}).
 *
 * @module
 */
import { Buffer } from 'node:buffer';

/** Bytes of a WebAssembly memory page. */
export const WASM_PAGE = 65536;

/** A WebAssembly memory (its buffer is detached and replaced when it grows). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** The part of the `WebAssembly` global used here. */
export interface WebAssemblyApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object, imports: object) => { readonly exports: unknown };
  readonly Memory: new (descriptor: { initial: number }) => WasmMemory;
  /** What a trap throws (an out-of-bounds access, `unreachable`, memory that cannot grow). */
  readonly RuntimeError: ErrorConstructor;
}

/** The `WebAssembly` global. */
export function wasmApi(): WebAssemblyApi {
  return (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
}

/** Compiles a module given as base64 (as the committed modules are), synchronously. */
export function compileBase64(base64: string): object {
  return new (wasmApi().Module)(Buffer.from(base64, 'base64'));
}

/**
 * A function that makes a fresh instance of the module given as base64 (compiled on its
 * first call, once per process), whose `env.abort` import throws a RangeError naming `what`.
 * For modules whose instance does one job and goes with it (forms/lz-delta, forms/bsdiff).
 */
export function instanceMaker<T>(base64: string, what: string): () => T {
  let compiled: object | undefined;
  const abort = () => {
    throw new RangeError(`${what}: the WebAssembly module aborted`);
  };
  return () => {
    compiled ??= compileBase64(base64);
    return new (wasmApi().Instance)(compiled, { env: { abort } }).exports as T;
  };
}
