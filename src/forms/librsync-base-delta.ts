/**
 * The base delta for bases too large to hold in memory (base-delta.ts): a librsync delta
 * over small blocks, brotli-compressed, made streaming and checked by applying it. Its own
 * module, loaded only when such a base is named: the librsync signature and delta code it
 * needs is a dozen modules a build from a smaller base never runs.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from '../util/fs-promises.js';
import { createBrotliCompress } from 'node:zlib';
import { ErrorCodes, SyncError, ioError } from '../core/errors.js';
import { LibrsyncDeltaGenerator } from '../formats/librsync-delta.js';
import { LibrsyncSignatureBuilder, decodeLibrsyncSignature, librsyncSignatureMagic } from '../formats/librsync-signature.js';
import { AtomicFile } from '../localfs/atomic-file.js';
import { fileChunks } from '../localfs/file-chunks.js';
import { drainOrClose } from '../util/drain.js';
import type { BaseDeltaOptions, BaseDeltaResult } from './base-delta.js';
import { brotliParams } from './compressed-forms.js';
import { DELTA_KINDS, applyDeltaFile } from './delta-file.js';

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

/**
 * The librsync delta (kind 4) for bases too large to hold in memory: streaming, one pass
 * over the base (its SHA-256 and signature) and one over the input, then checked by
 * applying it to the base and comparing the result's SHA-256 with the input's.
 */
export async function writeLibrsyncDelta(base: string, input: string, prefix: string, options: BaseDeltaOptions): Promise<BaseDeltaResult> {
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
  const inputSha = createHash('sha256');
  let inputSize = 0;
  const path = `${prefix}${Buffer.from(baseSha256.subarray(0, 8)).toString('hex')}`;
  const out = await AtomicFile.create(path);
  let size = 0;
  try {
    await out.write(Uint8Array.of(DELTA_KINDS.librsync));
    size = 1;
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
        inputSha.update(chunk);
        inputSize += chunk.length;
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
    const trailer = Buffer.alloc(8);
    trailer.writeBigUInt64LE(BigInt(size - 1));
    await out.write(trailer);
    size += 8;
    await checkWrittenDelta(out.tempPath, base, inputSize, inputSha.digest(), signal);
    await out.commit();
  } catch (err) {
    await out.abort();
    throw err;
  }
  return { baseSize, baseSha256, size, path, codec: 'gosync', kind: 'librsync', sizes: { librsync: size } };
}

/** Applies the delta file at `deltaPath` to `base`; DELTA_CORRUPT unless it rebuilds exactly the input. */
async function checkWrittenDelta(
  deltaPath: string,
  base: string,
  inputSize: number,
  inputSha: Uint8Array,
  signal: AbortSignal | undefined,
) {
  const delta = await readFile(deltaPath).catch((cause: unknown) => Promise.reject(ioError('read', deltaPath, cause)));
  const sha = createHash('sha256');
  await applyDeltaFile(
    delta,
    base,
    {
      async write(chunk) {
        sha.update(chunk);
      },
    },
    { newSize: inputSize, ...(signal ? { signal } : {}) },
  );
  if (!sha.digest().equals(inputSha)) {
    throw new SyncError(ErrorCodes.DELTA_CORRUPT, `Cannot make a delta from ${base}: the librsync delta does not rebuild the new version`);
  }
}
