/**
 * The bsdiff matcher's WebAssembly module, compiled from AssemblyScript by `npm run
 * build:wasm` into `../matcher-wasm.ts`: the suffix array of the old file (suffix-array.ts)
 * and the scan of the new file against it (scan.ts), in one memory so that the scan reads
 * the old file and its suffix array where they were made. ../suffix-array.ts and ../diff.ts
 * drive it.
 *
 * Not TypeScript for tsc: AssemblyScript. One instance does one job (nothing is freed).
 */

export { alloc } from './bump';
export { controlLength, controlPointer, diffLength, extraLength, scanInit, scanStep } from './scan';
export { suffixArray } from './suffix-array';
