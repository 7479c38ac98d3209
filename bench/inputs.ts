/**
 * Deterministic benchmark inputs in `.bench/` (gitignored), reused between runs.
 *
 * - Random files are an AES-128-CTR keystream under a key derived from a seed string:
 *   reproducible byte for byte, incompressible, and generated at GB/s.
 * - An edited file is a base file with scattered insertions, deletions and overwrites,
 *   planned by a seeded PRNG and applied by streaming (no whole file in memory, so it
 *   works for 4 GiB too). Optionally padded/truncated at the tail to an exact size.
 *
 * Every generated file has a `<file>.meta.json` sidecar naming its parameters; a file
 * whose sidecar (and size) match is reused as is.
 *
 * @module
 */
import { createCipheriv, createHash } from 'node:crypto';
import { copyFile, mkdir, open, readFile, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MiB, log } from './util.js';

const GEN_VERSION = 'gosync-bench-inputs-v1';

/** An endless deterministic keystream for `seed`. */
export class KeyStream {
  readonly #cipher;
  readonly #zeros = Buffer.alloc(4 * MiB);

  constructor(seed: string) {
    const key = createHash('sha256').update(`${GEN_VERSION}:${seed}`).digest().subarray(0, 16);
    this.#cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  }

  /** The next `n` bytes (a fresh buffer). */
  next(n: number): Buffer {
    if (n <= this.#zeros.length) return this.#cipher.update(this.#zeros.subarray(0, n));
    const parts: Buffer[] = [];
    for (let left = n; left > 0; left -= this.#zeros.length)
      parts.push(this.#cipher.update(this.#zeros.subarray(0, Math.min(left, this.#zeros.length))));
    return Buffer.concat(parts);
  }
}

/** A small seeded PRNG (mulberry32 ×2 for 53-bit floats). */
export class Prng {
  #s: number;
  constructor(seed: string) {
    this.#s = createHash('sha256').update(`${GEN_VERSION}:prng:${seed}`).digest().readUInt32LE(0);
  }
  u32(): number {
    this.#s = (this.#s + 0x6d2b79f5) | 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform in [0, 1) with 53 bits. */
  float(): number {
    return ((this.u32() >>> 5) * 67108864 + (this.u32() >>> 6)) / 9007199254740992;
  }
  int(lo: number, hiExclusive: number): number {
    return lo + Math.floor(this.float() * (hiExclusive - lo));
  }
}

interface Meta {
  gen: string;
  params: unknown;
  size: number;
  summary?: EditSummary;
}

async function readMeta(path: string): Promise<Meta | undefined> {
  try {
    const meta = JSON.parse(await readFile(`${path}.meta.json`, 'utf8')) as Meta;
    const st = await stat(path);
    return st.size === meta.size ? meta : undefined;
  } catch {
    return undefined;
  }
}

async function reusable(path: string, params: unknown): Promise<Meta | undefined> {
  const meta = await readMeta(path);
  return meta && meta.gen === GEN_VERSION && JSON.stringify(meta.params) === JSON.stringify(params) ? meta : undefined;
}

async function writeMeta(path: string, meta: Meta): Promise<void> {
  await writeFile(`${path}.meta.json`, `${JSON.stringify(meta, null, 1)}\n`);
}

/** Free bytes on the file system holding `path` (like `df`). */
export async function freeBytes(path: string): Promise<number> {
  const s = await statfs(path);
  return s.bavail * s.bsize;
}

/** Writes `size` deterministic random bytes for `seed` to `path` (reused when already there). */
export async function randomFile(path: string, size: number, seed: string): Promise<void> {
  const params = { kind: 'random', size, seed };
  if (await reusable(path, params)) return;
  log(`generating ${path} (${size} B random, seed "${seed}")…`);
  await mkdir(dirname(path), { recursive: true });
  await rm(`${path}.meta.json`, { force: true });
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    const ks = new KeyStream(seed);
    for (let off = 0; off < size; ) {
      const n = Math.min(4 * MiB, size - off);
      await fh.write(ks.next(n), 0, n, off);
      off += n;
    }
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await writeMeta(path, { gen: GEN_VERSION, params, size });
}

export type EditKind = 'insert' | 'delete' | 'overwrite';

export interface Edit {
  /** Offset in the base file. */
  at: number;
  kind: EditKind;
  length: number;
}

export interface EditSummary {
  edits: number;
  inserts: number;
  deletes: number;
  overwrites: number;
  insertedBytes: number;
  deletedBytes: number;
  overwrittenBytes: number;
  /** Bytes of the new file that exist nowhere in the base (inserted + overwritten + tail padding). */
  newDataBytes: number;
  /** Tail adjustment to reach the requested size: > 0 padded, < 0 truncated. */
  tailAdjust: number;
}

/**
 * Plans `count` non-overlapping edits over a base of `baseSize` bytes: one per equal
 * slot, at a random place in the slot's first half, of a random kind, with a
 * log-uniform length from 1 B to `maxLength` (never more than a quarter of a slot).
 */
export function planEdits(baseSize: number, count: number, seed: string, maxLength = 64 * 1024): Edit[] {
  const rng = new Prng(seed);
  const slot = Math.floor(baseSize / count);
  const cap = Math.max(1, Math.min(maxLength, Math.floor(slot / 4)));
  const kinds: EditKind[] = ['insert', 'delete', 'overwrite'];
  const edits: Edit[] = [];
  for (let k = 0; k < count; k++) {
    const at = k * slot + rng.int(0, Math.max(1, Math.floor(slot / 2)));
    const length = Math.max(1, Math.min(cap, Math.floor(Math.exp(rng.float() * Math.log(cap + 1)))));
    edits.push({ at, kind: kinds[rng.int(0, 3)]!, length });
  }
  return edits;
}

/**
 * Writes `newPath` = `basePath` with the planned edits applied (and the tail padded with
 * random bytes or truncated to `targetSize` when given). Reused when already there.
 */
export async function editedFile(
  basePath: string,
  newPath: string,
  options: { edits: number; seed: string; targetSize?: number; maxLength?: number },
): Promise<EditSummary> {
  const baseSize = (await stat(basePath)).size;
  const baseMeta = await readMeta(basePath);
  const params = { kind: 'edited', base: baseMeta?.params ?? { size: baseSize }, ...options };
  const have = await reusable(newPath, params);
  if (have?.summary) return have.summary;
  log(`generating ${newPath} (${options.edits} edits of ${basePath})…`);
  await mkdir(dirname(newPath), { recursive: true });
  await rm(`${newPath}.meta.json`, { force: true });
  const edits = planEdits(baseSize, options.edits, options.seed, options.maxLength);
  const content = new KeyStream(`${options.seed}:content`);
  const summary: EditSummary = {
    edits: edits.length,
    inserts: 0,
    deletes: 0,
    overwrites: 0,
    insertedBytes: 0,
    deletedBytes: 0,
    overwrittenBytes: 0,
    newDataBytes: 0,
    tailAdjust: 0,
  };
  const tmp = `${newPath}.tmp`;
  const src = await open(basePath, 'r');
  const dst = await open(tmp, 'w');
  let out = 0;
  const buf = Buffer.allocUnsafe(8 * MiB);
  const write = async (b: Uint8Array): Promise<void> => {
    await dst.write(b, 0, b.length, out);
    out += b.length;
  };
  const copy = async (from: number, to: number): Promise<void> => {
    for (let p = from; p < to; ) {
      const { bytesRead } = await src.read(buf, 0, Math.min(buf.length, to - p), p);
      if (bytesRead === 0) throw new Error(`short read of ${basePath} at ${p}`);
      await write(buf.subarray(0, bytesRead));
      p += bytesRead;
    }
  };
  try {
    let pos = 0;
    for (const e of edits) {
      await copy(pos, e.at);
      pos = e.at;
      if (e.kind === 'insert') {
        await write(content.next(e.length));
        summary.inserts++;
        summary.insertedBytes += e.length;
      } else if (e.kind === 'delete') {
        pos += e.length;
        summary.deletes++;
        summary.deletedBytes += e.length;
      } else {
        await write(content.next(e.length));
        pos += e.length;
        summary.overwrites++;
        summary.overwrittenBytes += e.length;
      }
    }
    const targetSize = options.targetSize;
    const rest = baseSize - pos;
    if (targetSize === undefined || out + rest === targetSize) {
      await copy(pos, baseSize);
    } else if (out + rest > targetSize) {
      await copy(pos, pos + Math.max(0, targetSize - out));
      summary.tailAdjust = targetSize - (out + rest);
    } else {
      await copy(pos, baseSize);
      summary.tailAdjust = targetSize - out;
      for (let left = summary.tailAdjust; left > 0; ) {
        const n = Math.min(left, 4 * MiB);
        await write(content.next(n));
        left -= n;
      }
    }
    summary.newDataBytes = summary.insertedBytes + summary.overwrittenBytes + Math.max(0, summary.tailAdjust);
  } finally {
    await src.close();
    await dst.close();
  }
  await rename(tmp, newPath);
  await writeMeta(newPath, { gen: GEN_VERSION, params, size: out, summary });
  return summary;
}

/** A plain copy of `from` at `to`, reused when the sizes and the source's sidecar match. */
export async function copyOf(from: string, to: string): Promise<void> {
  const meta = await readMeta(from);
  const params = { kind: 'copy', of: meta?.params ?? from };
  if (await reusable(to, params)) return;
  await rm(`${to}.meta.json`, { force: true });
  await copyFile(from, to);
  await writeMeta(to, { gen: GEN_VERSION, params, size: (await stat(to)).size });
}

/** Removes a generated file and its sidecar. */
export async function removeGenerated(path: string): Promise<void> {
  await rm(path, { force: true });
  await rm(`${path}.meta.json`, { force: true });
  await rm(`${path}.tmp`, { force: true });
}
