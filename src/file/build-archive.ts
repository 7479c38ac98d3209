/**
 * Publishing a gzip file (a `.gz`, an npm `.tgz`) by what is inside it (docs/archives.md):
 * when Node's zlib deflates its payload back to exactly the published bytes, the index
 * describes the payload (with every compressed form and delta the build makes for any
 * file) and records how to rebuild the gzip file from it; the payload itself is published
 * beside the index as `<index>u`, for raw ranges. Otherwise the file is published as
 * opaque bytes, as before, and the report says why.
 *
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { ioError, throwIfAborted } from '../core/errors.js';
import { decodeIndex, encodeIndex } from '../core/index/format.js';
import type { GzipArchive } from '../core/index/published.js';
import { findDeflateParams, isGzip } from '../archive/gzip.js';
import { type ScratchPayload, inflateToScratch, readHead } from '../archive/payload.js';
import { AtomicFile } from '../localfs/atomic-file.js';
import { fileSha256 } from '../localfs/file-chunks.js';
import { type BuildFileOptions, type BuildReport, buildIndexFile } from './build-file.js';

/** What the build found inside an archive. */
export type ArchiveBuildInfo =
  | {
      kind: 'gzip';
      reproduced: true;
      /** The payload published beside the index, and its size (the index describes it). */
      payload: string;
      payloadBytes: number;
      /** Size of the published gzip file. */
      archiveBytes: number;
      level: number;
      memLevel: number;
      strategy: number;
      /** Seconds spent inflating and finding the parameters. */
      seconds: number;
    }
  | {
      kind: 'gzip';
      reproduced: false;
      /** Why the file is published as opaque bytes. */
      reason: string;
    };

/** What {@link buildArchiveFile} built. */
export interface ArchiveBuildReport extends BuildReport {
  /** Set for a gzip input: whether it was published by its payload, and how (or why not). */
  archive?: ArchiveBuildInfo;
}

/** Options of {@link buildArchiveFile}. */
export interface BuildArchiveOptions extends BuildFileOptions {
  /** Look inside gzip files (default true); false publishes every input as opaque bytes. */
  archives?: boolean;
  /** A payload over this many times its gzip file (and over 64 MiB) is not looked into (default 100). */
  maxPayloadRatio?: number;
}

/**
 * Builds the index of `input` as {@link buildIndexFile} does, looking inside it first when
 * it is a gzip file (by content, not by name). Bases given in `compress.bases` that are
 * gzip files are compared by their payloads too.
 */
export async function buildArchiveFile(input: string, output: string, options: BuildArchiveOptions = {}): Promise<ArchiveBuildReport> {
  const { archives = true, maxPayloadRatio, ...fileOptions } = options;
  const { signal } = fileOptions;
  throwIfAborted(signal);
  if (!archives || !isGzip(await readHead(input, 3))) return buildIndexFile(input, output, fileOptions);
  const started = performance.now();
  const ratio = maxPayloadRatio !== undefined ? { maxPayloadRatio } : {};
  const payloadPath = `${output}u`;
  const scratch = await inflateToScratch(input, payloadPath, { signal, ...ratio });
  const opaque = async (reason: string): Promise<ArchiveBuildReport> => ({
    ...(await buildIndexFile(input, output, fileOptions)),
    archive: { kind: 'gzip', reproduced: false, reason },
  });
  if ('problem' in scratch) return opaque(`${scratch.problem}; published as opaque bytes`);
  const bases: ScratchPayload[] = [];
  try {
    const params = await findDeflateParams(input, scratch.inflated, scratch.path, { signal });
    if (params === undefined) {
      await scratch.discard();
      return await opaque("Node's zlib does not reproduce its deflate stream at any level; published as opaque bytes");
    }
    const seconds = (performance.now() - started) / 1000;
    // Bases are compared by their payloads, like the client's old version.
    const basePaths: string[] = [];
    for (const base of fileOptions.compress?.bases ?? []) {
      const inflated = await inflateToScratch(base, payloadPath, { signal, ...ratio });
      if ('problem' in inflated) basePaths.push(base);
      else {
        bases.push(inflated);
        basePaths.push(inflated.path);
      }
    }
    const compress = fileOptions.compress ? { compress: { ...fileOptions.compress, bases: basePaths } } : {};
    const report = await buildIndexFile(scratch.path, output, { ...fileOptions, ...compress });
    const archive: GzipArchive = {
      kind: 'gzip',
      size: scratch.inflated.fileSize,
      sha256: await fileSha256(input, signal ? { signal } : {}),
      ...params,
      header: scratch.inflated.header,
      trailer: scratch.inflated.trailer,
      payload: basename(payloadPath),
    };
    const indexBytes = await addArchiveEntry(output, archive);
    await scratch.file.commit();
    return {
      ...report,
      indexBytes,
      archive: {
        kind: 'gzip',
        reproduced: true,
        payload: payloadPath,
        payloadBytes: scratch.inflated.payloadSize,
        archiveBytes: scratch.inflated.fileSize,
        level: params.level,
        memLevel: params.memLevel,
        strategy: params.strategy,
        seconds,
      },
    };
  } finally {
    await scratch.discard();
    for (const b of bases) await b.discard();
  }
}

/** Rewrites the index at `path` with the archive entry (format version 4); resolves with its new size. */
async function addArchiveEntry(path: string, archive: GzipArchive): Promise<number> {
  const data = await readFile(path).catch((cause: unknown) => Promise.reject(ioError('read', path, cause)));
  const index = decodeIndex(data);
  const encoded = encodeIndex({ ...index, published: { ...index.published, archive } });
  const out = await AtomicFile.create(path);
  try {
    await out.write(encoded);
    await out.commit();
  } catch (err) {
    await out.abort();
    throw err;
  }
  return (await stat(path).catch((cause: unknown) => Promise.reject(ioError('read', path, cause)))).size;
}
