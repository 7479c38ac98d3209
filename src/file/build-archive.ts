/**
 * Publishing a gzip file (a `.gz`, an npm `.tgz`) or a zip archive (zip, jar, apk…) by
 * what is inside it (docs/archives.md): when its payload rebuilds the published bytes
 * exactly (for gzip: Node's zlib deflates it back to the same stream; for zip: the walk of
 * its entries gives back its directory offsets), the index describes the payload (with
 * every compressed form and delta the build makes for any file) and records how to rebuild
 * the archive from it; the payload itself is published beside the index as `<index>u`,
 * for raw ranges. Otherwise the file is published as opaque bytes, as before, and the
 * report says why.
 *
 * @module
 */
import { readFile, stat } from '../util/fs-promises.js';
import { ioError, throwIfAborted } from '../core/errors.js';
import { decodeIndex, encodeArchiveIndex } from '../core/index/format.js';
import type { ArchiveForm, ZipArchive } from '../core/index/published.js';
import { findDeflateParams, isGzip } from '../archive/gzip.js';
import { type ScratchPayload, inflateToScratch, readHead, scratchFor } from '../archive/payload.js';
import { looksLikeZip, writeZip } from '../archive/zip.js';
import { AtomicFile } from '../localfs/atomic-file.js';
import { fileSha256 } from '../localfs/file-chunks.js';
import { type BuildFileOptions, type BuildReport, buildIndexFile } from './build-file.js';
import { builtin } from '../util/builtin.js';

const { basename } = builtin('node:path');

/** What the build found inside an archive. */
export type ArchiveBuildInfo =
  | {
      kind: 'gzip' | 'zip';
      reproduced: true;
      /** The payload published beside the index, and its size (the index describes it). */
      payload: string;
      payloadBytes: number;
      /** Size of the published archive. */
      archiveBytes: number;
      /** For gzip: the zlib level, memLevel and strategy that reproduce the stream. */
      level?: number;
      memLevel?: number;
      strategy?: number;
      /** Seconds spent making the payload and checking that it rebuilds the archive. */
      seconds: number;
    }
  | {
      kind: 'gzip' | 'zip';
      reproduced: false;
      /** Why the file is published as opaque bytes. */
      reason: string;
    };

/** What {@link buildArchiveFile} built. */
export interface ArchiveBuildReport extends BuildReport {
  /** Set for a gzip or zip input: whether it was published by its payload, and how (or why not). */
  archive?: ArchiveBuildInfo;
}

/** Options of {@link buildArchiveFile}. */
export interface BuildArchiveOptions extends BuildFileOptions {
  /** Look inside gzip files and zip archives (default true); false publishes every input as opaque bytes. */
  archives?: boolean;
  /** A gzip payload over this many times its file (and over 64 MiB) is not looked into (default 100). */
  maxPayloadRatio?: number;
}

type Kind = 'gzip' | 'zip';

/** The payload of `path` as an archive of `kind`, next to `near`. */
function payloadOf(kind: Kind, path: string, near: string, signal: AbortSignal | undefined, maxPayloadRatio: number | undefined) {
  return kind === 'gzip'
    ? inflateToScratch(path, near, { signal, ...(maxPayloadRatio !== undefined ? { maxPayloadRatio } : {}) })
    : scratchFor(kind, path, near, { signal });
}

/**
 * The archive entry of `input` whose payload is `scratch`, once checked that the payload
 * rebuilds it byte for byte; or why not.
 */
async function describe(
  kind: Kind,
  input: string,
  scratch: ScratchPayload,
  payload: string,
  signal: AbortSignal | undefined,
): Promise<ArchiveForm | { problem: string }> {
  const sha256 = await fileSha256(input, signal ? { signal } : {});
  if (kind === 'zip') {
    const archive: ZipArchive = { kind: 'zip', size: scratch.archiveSize, sha256, payload };
    const rebuilt = await writeZip(scratch.path, archive, async () => {}, signal);
    if ('problem' in rebuilt) return rebuilt;
    return rebuilt.size === archive.size && Buffer.from(sha256).equals(rebuilt.sha256)
      ? archive
      : { problem: 'its payload does not rebuild it byte for byte' };
  }
  const inflated = scratch.inflated!;
  const params = await findDeflateParams(input, inflated, scratch.path, { signal });
  if (params === undefined) return { problem: "Node's zlib does not reproduce its deflate stream at any level" };
  return { kind: 'gzip', size: inflated.fileSize, sha256, ...params, header: inflated.header, trailer: inflated.trailer, payload };
}

/**
 * Builds the index of `input` as {@link buildIndexFile} does, looking inside it first when
 * it is a gzip file or a zip archive (by content, not by name). Bases given in
 * `compress.bases` that are archives of the same kind are compared by their payloads too.
 */
export async function buildArchiveFile(input: string, output: string, options: BuildArchiveOptions = {}): Promise<ArchiveBuildReport> {
  const { archives = true, maxPayloadRatio, ...fileOptions } = options;
  const { signal } = fileOptions;
  throwIfAborted(signal);
  const head = archives ? await readHead(input, 4) : new Uint8Array(0);
  const kind: Kind | undefined = isGzip(head) ? 'gzip' : looksLikeZip(head) ? 'zip' : undefined;
  if (kind === undefined) return buildIndexFile(input, output, fileOptions);
  const started = performance.now();
  const payloadPath = `${output}u`;
  const opaque = async (reason: string): Promise<ArchiveBuildReport> => ({
    ...(await buildIndexFile(input, output, fileOptions)),
    archive: { kind, reproduced: false, reason: `${reason}; published as opaque bytes` },
  });
  const scratch = await payloadOf(kind, input, payloadPath, signal, maxPayloadRatio);
  if ('problem' in scratch) return opaque(scratch.problem);
  const bases: ScratchPayload[] = [];
  try {
    const archive = await describe(kind, input, scratch, basename(payloadPath), signal);
    if ('problem' in archive) {
      await scratch.discard();
      return await opaque(archive.problem);
    }
    const seconds = (performance.now() - started) / 1000;
    // Bases are compared by their payloads, like the client's old version. A client that
    // holds a base knows its archive's digest, not its payload's: the index maps one to
    // the other (the archive summary, read with the index's summary).
    const basePaths: string[] = [];
    const archiveOf = new Map<string, Uint8Array>();
    const digest = (path: string) => fileSha256(path, signal ? { signal } : {});
    for (const base of fileOptions.compress?.bases ?? []) {
      const payload = await payloadOf(kind, base, payloadPath, signal, maxPayloadRatio);
      const archiveSha = await digest(base);
      const used = 'problem' in payload ? base : payload.path;
      if (!('problem' in payload)) bases.push(payload);
      basePaths.push(used);
      const key = Buffer.from(used === base ? archiveSha : await digest(used)).toString('hex');
      if (!archiveOf.has(key)) archiveOf.set(key, archiveSha);
    }
    const compress = fileOptions.compress ? { compress: { ...fileOptions.compress, bases: basePaths } } : {};
    const report = await buildIndexFile(scratch.path, output, { ...fileOptions, ...compress });
    const indexBytes = await addArchiveEntry(output, archive, archiveOf);
    await scratch.file.commit();
    const gzip = archive.kind === 'gzip' ? { level: archive.level, memLevel: archive.memLevel, strategy: archive.strategy } : {};
    return {
      ...report,
      indexBytes,
      archive: {
        kind,
        reproduced: true,
        payload: payloadPath,
        payloadBytes: report.fileSize,
        archiveBytes: archive.size,
        ...gzip,
        seconds,
      },
    };
  } finally {
    await scratch.discard();
    for (const b of bases) await b.discard();
  }
}

/**
 * Rewrites the index at `path` with the archive entry (format version 4) and the archive
 * summary (each base's archive digest, found in `archiveOf` by the base's payload digest in
 * hex); resolves with its new size.
 */
async function addArchiveEntry(path: string, archive: ArchiveForm, archiveOf: ReadonlyMap<string, Uint8Array>): Promise<number> {
  const data = await readFile(path).catch((cause: unknown) => Promise.reject(ioError('read', path, cause)));
  const index = decodeIndex(data);
  const archiveBases = (index.published?.bases ?? []).map((b) => archiveOf.get(Buffer.from(b.baseSha256).toString('hex')) ?? b.baseSha256);
  const encoded = encodeArchiveIndex({ ...index, published: { ...index.published, archive } }, archiveBases);
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
