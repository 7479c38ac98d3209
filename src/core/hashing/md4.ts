/**
 * MD4 (RFC 1320), the strong block hash of zsync's `.zsync` control files and of
 * librsync's older signatures (`rdiff -H md4`).
 *
 * Node's OpenSSL 3 (Node 20 to 24) refuses MD4 without `--openssl-legacy-provider`, so it comes from
 * hash-wasm's WebAssembly build, instantiated on the first hash (`wasm-hash.ts`). It is
 * used only as zsync and librsync use it, as a checksum that a block is the expected one;
 * MD4 is broken as a cryptographic hash and nothing here relies on it being
 * collision-resistant.
 *
 * @module
 */
import type { IncrementalHash, StrongHash } from './strong-hash.js';
import { MD4_WASM_BASE64 } from './wasm-binaries.js';
import { wasmHash } from './wasm-hash.js';

const impl = wasmHash({ name: 'md4', base64: MD4_WASM_BASE64, digestLength: 16, initParam: 0 });

/** MD4 of `data[start, start + length)`, writing the first `outLength` digest bytes to `out` at `outOffset`. */
export const md4Into: (data: Uint8Array, start: number, length: number, out: Uint8Array, outOffset: number, outLength: number) => void =
  impl.into;

/** MD4 digest (16 bytes) of `data`. */
export function md4Digest(data: Uint8Array): Uint8Array {
  return impl.digest(data);
}

/** An incremental MD4. */
export class Md4 implements IncrementalHash {
  readonly #h = impl.create();

  update(data: Uint8Array): void {
    this.#h.update(data);
  }

  digest(): Uint8Array {
    return this.#h.digest();
  }
}

/** MD4 as a {@link StrongHash}: the block hash of `.zsync` files and of rdiff's MD4 signatures. */
export const md4: StrongHash = impl.hash;
