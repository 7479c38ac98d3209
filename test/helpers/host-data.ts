/**
 * The file pairs of the host matrix and the fault campaign: deterministic, compressible like
 * real binaries, with the kinds of change users publish.
 *
 * @module
 */

/** xorshift32 in [0, 2^32). */
function words(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/**
 * Bytes that compress to about half, like machine code: 4-byte words drawn mostly from a
 * small vocabulary, with random operands.
 */
export function binaryLike(length: number, seed: number): Uint8Array {
  const next = words(seed);
  const vocabulary = Array.from({ length: 64 }, () => next());
  const out = Buffer.alloc(length);
  for (let i = 0; i + 4 <= length; i += 4) {
    const r = next();
    out.writeUInt32LE(r % 3 === 0 ? r : vocabulary[r % 64]!, i);
  }
  return new Uint8Array(out);
}

/**
 * A binary-like update: the old version with ~30 regions rewritten or inserted (1–24 KiB
 * each, some shifting everything after them), about 6 MiB.
 */
export function binaryUpdate(size = 6 << 20, seed = 11): { old: Uint8Array; next: Uint8Array } {
  const old = binaryLike(size, seed);
  const next = words(seed + 1);
  const parts: Uint8Array[] = [];
  let at = 0;
  for (let k = 0; k < 30; k++) {
    const cut = Math.min(size, at + Math.floor(size / 30));
    const edit = at + (next() % Math.max(1, cut - at - 32 * 1024));
    parts.push(old.subarray(at, edit));
    const len = 1024 + (next() % (24 * 1024));
    parts.push(binaryLike(len, next()));
    at = next() % 2 === 0 ? Math.min(cut, edit + len) : edit; // a rewrite, or an insertion
    parts.push(old.subarray(at, cut));
    at = cut;
  }
  parts.push(old.subarray(at));
  return { old, next: new Uint8Array(Buffer.concat(parts)) };
}

/** A file of random bytes with `edits` single-byte changes at scattered places, 4 MiB. */
export function scatteredEdits(size = 4 << 20, edits = 400, seed = 21): { old: Uint8Array; next: Uint8Array } {
  // Incompressible, so that no compressed form is published and the edits cost raw ranges.
  const random = words(seed);
  const old = new Uint8Array(size);
  for (let i = 0; i < size; i++) old[i] = random() & 0xff;
  const changed = Buffer.from(old);
  const next = words(seed + 1);
  for (let k = 0; k < edits; k++) changed[next() % size]! ^= 0xff;
  return { old, next: new Uint8Array(changed) };
}
