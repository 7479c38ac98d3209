/**
 * Deltas from known earlier versions ("bases"): the publisher, who has the versions it
 * published before, writes for each a compressed librsync delta that rebuilds the new
 * file from it. A client whose local file is exactly such a version (same size and
 * SHA-256) fetches that delta instead of scanning and fetching blocks; it is usually far
 * smaller than any block-based fetch. The delta is made by the same block matcher
 * (librsync's delta mode) over a signature of the base with small blocks.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { createBrotliCompress } from 'node:zlib';
import { ioError } from '../core/errors.js';
import { LibrsyncDeltaGenerator } from '../formats/librsync-delta.js';
import { LibrsyncSignatureBuilder, decodeLibrsyncSignature, librsyncSignatureMagic } from '../formats/librsync-signature.js';
import { AtomicFile } from '../localfs/atomic-file.js';
import { fileChunks } from '../localfs/file-chunks.js';
import { brotliParams } from './compressed-forms.js';
import { drainOrClose } from '../util/drain.js';

/** At most this many signature blocks: bounds the memory of the matcher. */
const MAX_BLOCKS = 4 * 1024 * 1024;

/**
 * Signature block length for a base of `size` bytes: 32 bytes (on the corpus, 32-byte
 * blocks gave deltas 10–30% smaller than 128-byte ones: typescript.js 61 kB against
 * 84 kB after brotli), doubled until the base has at most 4 Mi blocks.
 */
export function baseBlockLength(size: number): number {
  let bl = 32;
  while (size / bl > MAX_BLOCKS) bl *= 2;
  return bl;
}

/** What a base delta is, as the index lists it. */
export interface BaseDeltaResult {
  baseSize: number;
  baseSha256: Uint8Array;
  /** Compressed delta size. */
  size: number;
  /** Where it was written: `<prefix><first 16 hex digits of the base's SHA-256>`. */
  path: string;
}

/**
 * Writes the compressed delta that turns `base` into `input`, to `<prefix><hex>` (named
 * by the base's SHA-256, so versions can share a publish folder).
 */
export async function writeBaseDelta(
  base: string,
  input: string,
  prefix: string,
  options: { level: number; signal?: AbortSignal },
): Promise<BaseDeltaResult> {
  const { signal } = options;
  // One pass over the base: its SHA-256 and its signature.
  const sha = createHash('sha256');
  const { size: baseSize } = await stat(base).catch((cause: unknown) => Promise.reject(ioError('make a delta from the base', base, cause)));
  const blockLength = baseBlockLength(baseSize);
  const sb = new LibrsyncSignatureBuilder({
    magic: librsyncSignatureMagic('md4', 'rollsum'),
    hash: 'md4',
    rollsum: 'rollsum',
    blockLength,
    strongLength: 8,
  });
  const sigParts: Uint8Array[] = [sb.header()];
  for await (const chunk of fileChunks(base, { ...(signal ? { signal } : {}) })) {
    sha.update(chunk);
    sigParts.push(sb.push(chunk));
  }
  sigParts.push(sb.end());
  const signature = decodeLibrsyncSignature(Buffer.concat(sigParts));
  sigParts.length = 0;

  const baseSha256 = new Uint8Array(sha.digest());
  const path = `${prefix}${Buffer.from(baseSha256.subarray(0, 8)).toString('hex')}`;
  const out = await AtomicFile.create(path);
  let size = 0;
  try {
    const z = createBrotliCompress({ params: brotliParams(options.level, baseSize) });
    const written = (async () => {
      for await (const c of z as AsyncIterable<Buffer>) {
        size += c.length;
        await out.write(c);
      }
    })();
    const feed = async (data: Uint8Array) => {
      if (data.length > 0 && !z.write(data)) await drainOrClose(z);
    };
    try {
      const g = new LibrsyncDeltaGenerator(signature);
      for await (const chunk of fileChunks(input, { ...(signal ? { signal } : {}) })) {
        g.push(chunk);
        await feed(g.take());
      }
      g.end();
      await feed(g.take());
      z.end();
    } catch (err) {
      z.destroy(err as Error);
      throw err;
    } finally {
      await written.catch(() => {});
    }
    await written;
    await out.commit();
  } catch (err) {
    await out.abort();
    throw err;
  }
  return { baseSize, baseSha256, size, path };
}
