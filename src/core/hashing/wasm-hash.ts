/**
 * {@link StrongHash}es backed by hash-wasm (WebAssembly builds of MD4, BLAKE2b, …) for
 * the digests Node's OpenSSL 3 does not offer.
 *
 * hash-wasm creates a hasher asynchronously (it compiles and instantiates its module)
 * but then runs synchronously: `init`, `update`, `digest`. Each module here creates its
 * hasher once, at load, with a top-level await, and every call reuses it; JavaScript
 * runs one call at a time, so the shared state is never interleaved. Incremental hashes
 * keep their own state between calls with hash-wasm's `save`/`load`.
 *
 * @module
 */
import type { IHasher } from 'hash-wasm';
import type { IncrementalHash, StrongHash } from './strong-hash.js';

/** The one-shot and incremental entry points built on one shared hasher. */
export interface WasmHash {
  /** The {@link StrongHash}. */
  readonly hash: StrongHash;
  /** Hashes `data[start, start + length)`, writing the first `outLength` digest bytes to `out` at `outOffset`. */
  into(data: Uint8Array, start: number, length: number, out: Uint8Array, outOffset: number, outLength: number): void;
  /** The whole digest of `data`. */
  digest(data: Uint8Array): Uint8Array;
  /** A new incremental hash. */
  create(): IncrementalHash;
}

/** Wraps a hash-wasm hasher (already created) as {@link WasmHash}. */
export function wasmHash(name: string, hasher: IHasher): WasmHash {
  const digestLength = hasher.digestSize;
  hasher.init();
  const initialState = hasher.save();

  function into(data: Uint8Array, start: number, length: number, out: Uint8Array, outOffset: number, outLength: number): void {
    if (!(outLength >= 0 && outLength <= digestLength)) throw new RangeError(`${name} digests are ${digestLength} bytes, not ${outLength}`);
    hasher.init();
    hasher.update(start === 0 && length === data.length ? data : data.subarray(start, start + length));
    const d = hasher.digest('binary');
    out.set(outLength === digestLength ? d : d.subarray(0, outLength), outOffset);
  }

  function digest(data: Uint8Array): Uint8Array {
    hasher.init();
    hasher.update(data);
    return hasher.digest('binary');
  }

  class Incremental implements IncrementalHash {
    #state: Uint8Array | undefined = initialState;

    update(data: Uint8Array): void {
      if (this.#state === undefined) throw new Error(`Cannot update a ${name} hash after its digest was taken`);
      if (data.length === 0) return;
      hasher.load(this.#state);
      hasher.update(data);
      this.#state = hasher.save();
    }

    digest(): Uint8Array {
      if (this.#state === undefined) throw new Error(`Cannot take a ${name} digest twice`);
      hasher.load(this.#state);
      this.#state = undefined;
      return hasher.digest('binary');
    }
  }

  return {
    hash: { name, digestLength, hashInto: into, create: () => new Incremental() },
    into,
    digest,
    create: () => new Incremental(),
  };
}
