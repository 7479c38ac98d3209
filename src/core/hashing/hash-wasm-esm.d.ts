// Types of hash-wasm's ES module build: the same API as the package's main entry.
declare module 'hash-wasm/dist/index.esm.min.js' {
  export { createBLAKE2b, createMD4 } from 'hash-wasm';
}
