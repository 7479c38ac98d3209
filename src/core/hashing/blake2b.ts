/**
 * BLAKE2b with a 32-byte digest (unkeyed), the strong block hash of librsync's default
 * signatures (`rdiff signature`, magics 0x72730137 and 0x72730147).
 *
 * The digest length is part of BLAKE2b's parameter block, so BLAKE2b-256 is a different
 * function from BLAKE2b-512 cut to 32 bytes ("abc" → `bddd813c…`, not `ba80a53f…`).
 * Node's OpenSSL offers only `blake2b512`; this one is hash-wasm's WebAssembly build,
 * instantiated on the first hash (`wasm-hash.ts`).
 *
 * @module
 */
import type { IncrementalHash, StrongHash } from './strong-hash.js';
import { BLAKE2B_WASM_BASE64 } from './wasm-binaries.js';
import { wasmHash } from './wasm-hash.js';

// hash-wasm's `Hash_Init` argument is the digest length in bits (a key length would go in the high half).
const impl = wasmHash({ name: 'blake2b-256', base64: BLAKE2B_WASM_BASE64, digestLength: 32, initParam: 256 });

/** BLAKE2b-256 of `data[start, start + length)`, writing the first `outLength` digest bytes to `out` at `outOffset`. */
export const blake2b256Into: (
  data: Uint8Array,
  start: number,
  length: number,
  out: Uint8Array,
  outOffset: number,
  outLength: number,
) => void = impl.into;

/** BLAKE2b-256 digest (32 bytes) of `data`. */
export function blake2b256Digest(data: Uint8Array): Uint8Array {
  return impl.digest(data);
}

/** An incremental BLAKE2b-256. */
export class Blake2b256 implements IncrementalHash {
  readonly #h = impl.create();

  update(data: Uint8Array): void {
    this.#h.update(data);
  }

  digest(): Uint8Array {
    return this.#h.digest();
  }
}

/** BLAKE2b-256 as a {@link StrongHash}. */
export const blake2b256: StrongHash = impl.hash;
