/**
 * The one growable output stream of a bsdiff module (the scan's control stream, the diff
 * model's coded stream), in the module's memory (bump.ts): doubled when full, the old copy
 * left behind (nothing is freed).
 */

import { alloc } from './bump';

let outAt: usize = 0;
let outCap: usize = 0;
let outLen: usize = 0;

/** Appends one byte. */
export function put(byte: u32): void {
  if (outLen == outCap) {
    const cap: usize = outCap < 65536 ? 65536 : outCap << 1;
    const grown = alloc(cap);
    if (outLen > 0) memory.copy(grown, outAt, outLen);
    outAt = grown;
    outCap = cap;
  }
  store<u8>(outAt + outLen, <u8>byte);
  outLen++;
}

/** Where the stream starts (it moves when it grows). */
export function outPointer(): usize {
  return outAt;
}

/** The stream's length in bytes. */
export function outLength(): i32 {
  return <i32>outLen;
}
