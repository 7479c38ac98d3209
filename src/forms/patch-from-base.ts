/**
 * Patching from a known base: when the index lists a delta from an earlier version and
 * the local file is exactly that version (same size and SHA-256), fetch the compressed
 * delta, apply it to the local file, verify the result against the index, and replace.
 *
 * @module
 */
import { stat } from '../util/fs-promises.js';
import type { BlockIndex } from '../core/index/block-index.js';
import type { BaseDeltaForm } from '../core/index/published.js';
import type { BlockSource } from '../core/block-source.js';
import { brotliInflated } from './brotli-inflate.js';
import { AtomicFile } from '../localfs/atomic-file.js';
import { fileSha256 } from '../localfs/file-chunks.js';
import { FileVerifier } from '../core/verify.js';
import { ErrorCodes, SyncError } from '../core/errors.js';
import { applyDeltaFile } from './delta-file.js';

/**
 * The base delta the index lists for exactly this local file, if any. Costs one read of
 * the local file, and only when its size equals a listed base's.
 */
export async function findBase(index: BlockIndex, local: string, signal?: AbortSignal): Promise<BaseDeltaForm | undefined> {
  const bases = index.published?.bases;
  if (!bases || bases.length === 0) return undefined;
  let size: number;
  try {
    const st = await stat(local);
    if (!st.isFile()) return undefined;
    size = st.size;
  } catch {
    return undefined;
  }
  const candidates = bases.filter((b) => b.baseSize === size);
  if (candidates.length === 0) return undefined;
  const digest = await fileSha256(local, signal ? { signal } : {});
  return candidates.find((b) => digest.equals(b.baseSha256));
}

/**
 * Writes the reference to `output` by applying `form`'s delta to `local`; verifies the
 * result (length and whole-file digest) before the atomic rename. Throws on any failure,
 * leaving `output` as it was. With `mode`, the result gets that mode (see {@link AtomicFile.create}).
 */
export async function patchFromBase(
  index: Pick<BlockIndex, 'fileSize' | 'fileDigest'>,
  form: BaseDeltaForm,
  source: BlockSource,
  local: string,
  output: string,
  options: { signal?: AbortSignal; fsync?: boolean; mode?: number } = {},
): Promise<{ deltaBytes: number; copiedBytes: number; literalBytes: number }> {
  const file = await AtomicFile.create(output, options.mode !== undefined ? { mode: options.mode } : {});
  const verifier = new FileVerifier(index);
  try {
    const sink = {
      async write(chunk: Uint8Array) {
        verifier.update(chunk);
        await file.write(chunk);
      },
    };
    let report: { copyBytes: number; literalBytes: number };
    if (form.codec === 'gosync') {
      const delta = await readDelta(source, form.size, options.signal);
      await applyDeltaFile(delta, local, sink, { newSize: index.fileSize, ...(options.signal ? { signal: options.signal } : {}) });
      report = { copyBytes: index.fileSize, literalBytes: 0 };
    } else {
      // The librsync codec (and its WASM hashes) is loaded when a delta is applied.
      const { rdiffPatchInto } = await import('../formats/rdiff-file.js');
      // A failed write rejects the patch (and the temporary file is removed below).
      report = await rdiffPatchInto(
        local,
        brotliInflated(source, form.size, options.signal),
        sink,
        options.signal ? { signal: options.signal } : {},
      );
    }
    verifier.finish();
    await file.commit({ fsync: options.fsync ?? false });
    return { deltaBytes: form.size, copiedBytes: report.copyBytes, literalBytes: report.literalBytes };
  } catch (err) {
    await file.abort();
    throw err;
  }
}

/** The whole delta file (a delta is applied from memory: it is at most the size of its result, usually far less). */
export async function readDelta(source: BlockSource, size: number, signal?: AbortSignal): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let at = 0;
  if (size > 0) {
    for await (const chunk of source.read([{ start: 0, end: size }], signal ? { signal } : {})) {
      if (at + chunk.length > size) break;
      out.set(chunk, at);
      at += chunk.length;
    }
  }
  if (at !== size) throw new SyncError(ErrorCodes.DELTA_CORRUPT, `Cannot apply the delta: ${source.name} gave ${at} bytes, not ${size}`);
  return out;
}
