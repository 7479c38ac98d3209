/**
 * hash-wasm's hashers, from its ES module build.
 *
 * The package has no `exports` map, so Node resolves `'hash-wasm'` to its CommonJS UMD
 * build (`main`): 284 kB that Node's CommonJS lexer parses at every start, and hashers
 * created from it were slower to set up. Measured on this project's machine, loading the
 * package and creating an MD4 hasher took 37–50 ms that way and 6–10 ms from
 * `dist/index.esm.min.js` — on the path of every `gosync serve --stdio` start (the
 * receiving end hashes its old files first) and every zsync or rdiff command.
 *
 * @module
 */
export { createBLAKE2b, createMD4 } from 'hash-wasm/dist/index.esm.min.js';
