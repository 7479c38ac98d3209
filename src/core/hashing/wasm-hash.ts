/**
 * {@link StrongHash}es backed by hash-wasm's WebAssembly builds (MD4, BLAKE2b) for the
 * digests Node's OpenSSL 3 does not offer.
 *
 * The module is compiled and instantiated synchronously the first time a hash is asked
 * for, not when gosync loads: a program that never meets a zsync index or an rdiff
 * signature never compiles it, and the hashing API stays synchronous. Node compiles
 * modules of any size synchronously (only browsers cap that on their main thread); these
 * are 3 and 7 kB. Each module has one instance whose 16 KiB input buffer every call
 * reuses; JavaScript runs one call at a time, so its state is never interleaved.
 * Incremental hashes keep their own copy of the instance's state between calls.
 *
 * The calls are hash-wasm's C exports, used as its JavaScript wrapper uses them, minus
 * the wrapper's per-digest copy: the input is copied into the buffer, `Hash_Calculate`
 * (or `Hash_Init`, `Hash_Update` per 16 KiB, `Hash_Final`) runs, and the digest is read
 * from the start of the buffer.
 *
 * @module
 */
import { compileBase64, wasmApi } from '../wasm.js';
import type { IncrementalHash, StrongHash } from './strong-hash.js';

/** The one-shot and incremental entry points built on one lazily created instance. */
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

/** What {@link wasmHash} needs to know of one of hash-wasm's modules. */
export interface WasmHashSpec {
  /** Name recorded in indexes and shown in messages. */
  readonly name: string;
  /** The module's bytes, base64. */
  readonly base64: string;
  /** Digest length in bytes. */
  readonly digestLength: number;
  /** The argument of `Hash_Init` / `Hash_Calculate` (BLAKE2b: the digest length in bits). */
  readonly initParam: number;
}

/** hash-wasm's input buffer (`MAIN_BUFFER_SIZE` in its `hash-wasm.h`). */
const BUFFER_SIZE = 16 * 1024;

/** The exports every hash-wasm hash module has. */
interface HashExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  readonly STATE_SIZE: { readonly value: number };
  Hash_GetBuffer(): number;
  Hash_GetState(): number;
  Hash_Init(param: number): void;
  Hash_Update(length: number): void;
  Hash_Final(): void;
  Hash_Calculate(length: number, initParam: number): void;
}

/** One instance: its exports, a view of its input buffer, and a view of its hash state. */
interface Loaded {
  readonly x: HashExports;
  readonly buffer: Uint8Array;
  readonly state: Uint8Array;
}

function instantiate(spec: WasmHashSpec): Loaded {
  const x = new (wasmApi().Instance)(compileBase64(spec.base64), {}).exports as HashExports;
  const memory = x.memory.buffer;
  // The module never grows its memory (no allocator), so these views stay attached.
  const stateSize = new DataView(memory).getUint32(x.STATE_SIZE.value, true);
  return {
    x,
    buffer: new Uint8Array(memory, x.Hash_GetBuffer(), BUFFER_SIZE),
    state: new Uint8Array(memory, x.Hash_GetState(), stateSize),
  };
}

/**
 * Feeds `data[start, end)` to a started hash through the input buffer, 16 KiB at a time.
 * Allocates a view only for a part that is not the whole of `data`.
 */
function feed(w: Loaded, data: Uint8Array, start: number, end: number): void {
  for (let p = start; p < end; p += BUFFER_SIZE) {
    const n = Math.min(BUFFER_SIZE, end - p);
    w.buffer.set(p === 0 && n === data.length ? data : data.subarray(p, p + n));
    w.x.Hash_Update(n);
  }
}

/** A {@link WasmHash} over one of hash-wasm's modules, instantiated on its first use. */
export function wasmHash(spec: WasmHashSpec): WasmHash {
  const { name, digestLength, initParam } = spec;
  let loaded: Loaded | undefined;
  let initialState: Uint8Array | undefined;
  const load = (): Loaded => {
    loaded = instantiate(spec);
    return loaded;
  };

  function into(data: Uint8Array, start: number, length: number, out: Uint8Array, outOffset: number, outLength: number): void {
    if (!(outLength >= 0 && outLength <= digestLength)) throw new RangeError(`${name} digests are ${digestLength} bytes, not ${outLength}`);
    const w = loaded ?? load();
    if (length <= BUFFER_SIZE) {
      w.buffer.set(start === 0 && length === data.length ? data : data.subarray(start, start + length));
      w.x.Hash_Calculate(length, initParam);
    } else {
      w.x.Hash_Init(initParam);
      feed(w, data, start, start + length);
      w.x.Hash_Final();
    }
    const digest = w.buffer;
    for (let i = 0; i < outLength; i++) out[outOffset + i] = digest[i]!;
  }

  function digest(data: Uint8Array): Uint8Array {
    const out = new Uint8Array(digestLength);
    into(data, 0, data.length, out, 0, digestLength);
    return out;
  }

  /** The state of a freshly initialised hash, taken once. */
  function startState(): Uint8Array {
    if (initialState === undefined) {
      const w = loaded ?? load();
      w.x.Hash_Init(initParam);
      initialState = w.state.slice();
    }
    return initialState;
  }

  class Incremental implements IncrementalHash {
    #state: Uint8Array | undefined = startState().slice();

    update(data: Uint8Array): void {
      const state = this.#state;
      if (state === undefined) throw new Error(`Cannot update a ${name} hash after its digest was taken`);
      if (data.length === 0) return;
      const w = loaded ?? load();
      w.state.set(state);
      feed(w, data, 0, data.length);
      state.set(w.state);
    }

    digest(): Uint8Array {
      const state = this.#state;
      if (state === undefined) throw new Error(`Cannot take a ${name} digest twice`);
      const w = loaded ?? load();
      w.state.set(state);
      this.#state = undefined;
      w.x.Hash_Final();
      return w.buffer.slice(0, digestLength);
    }
  }

  const create = (): IncrementalHash => new Incremental();
  return { hash: { name, digestLength, hashInto: into, create }, into, digest, create };
}
