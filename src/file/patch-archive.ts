/**
 * Patching an archive published by what is inside it (an index of format version 4,
 * docs/archives.md): the client turns its old file (and its seeds) into payloads (a gzip
 * file inflated; a zip archive with its directory offsets zeroed), patches that payload
 * with the usual machinery (blocks, compressed forms, a delta from its exact version),
 * rebuilds the archive (deflating with the recorded parameters; computing the offsets
 * again), and replaces the output only when it has the published size and SHA-256. When it does not (a
 * client whose zlib deflates differently) or no published form can be opened, the
 * published file is fetched whole and checked the same way.
 *
 * @module
 */
import { rm, stat } from '../util/fs-promises.js';
import type { BlockSource } from '../core/block-source.js';
import { ErrorCodes, SyncError, throwIfAborted } from '../core/errors.js';
import { type BlockIndex, blockLength } from '../core/index/block-index.js';
import type { ArchiveForm } from '../core/index/published.js';
// The archive code (inflating, deflating, zip and tar listings: about 20 ms of CPU to load)
// is loaded when an index describes an archive, not for every file patch.
import type { EntryReuse } from '../archive/entries.js';
import type { ScratchPayload } from '../archive/payload.js';
import { AtomicFile, checkReplaceable } from '../localfs/atomic-file.js';
import { fileSha256 } from '../localfs/file-chunks.js';
import { tempPath } from '../localfs/staging.js';
import { scanLocalFiles } from './local-scan.js';
import { type DiffOptions, type DiffReport, type PatchOptions, type PatchReport, diffFile, patchFile } from './patch-file.js';

/** What {@link patchArchive} did, besides what a patch reports. */
export interface ArchivePatchReport extends PatchReport {
  archive?: {
    kind: 'gzip' | 'zip';
    /** Size of the payload the index describes (the sizes above are the gzip file's and what moved). */
    payloadBytes: number;
    /** True when the local file was an archive of the same kind whose payload was reused. */
    localInflated: boolean;
    /** True when the rebuilt file did not match (or could not be made) and the published file was fetched whole. */
    fetchedWhole: boolean;
  };
}

/**
 * Makes `output` (default `local`) the published file of an archive index; any other
 * index goes to {@link patchFile}. `source` is the published (gzip) file; the payload and
 * the forms are opened with `openForm`.
 */
export async function patchArchive(options: PatchOptions): Promise<ArchivePatchReport> {
  const archive = options.index.published?.archive;
  if (!archive) return patchFile(options);
  const started = performance.now();
  const { signal } = options;
  throwIfAborted(signal);
  const { scratchFor } = await import('../archive/payload.js');
  const output = options.output ?? options.local;
  await checkReplaceable(output);
  if (await isPublished(options.local, archive, signal)) {
    if (output === options.local)
      return finish(options.index.fileSize, upToDate(options.index, archive, output), archive, false, false, started);
  }
  const near = output;
  const scratches: ScratchPayload[] = [];
  const payloadOf = async (path: string): Promise<string> => {
    const s = await scratchFor(archive.kind, path, near, { signal });
    if ('problem' in s) return path;
    scratches.push(s);
    return s.path;
  };
  const patched = tempPath(output);
  let payloadSource: BlockSource | undefined;
  try {
    const local = await payloadOf(options.local);
    const localInflated = local !== options.local;
    const seeds: string[] = [];
    for (const seed of options.seeds ?? []) seeds.push(await payloadOf(seed));
    if (options.openForm) {
      payloadSource = options.openForm(archive.payload);
      const { archive: _, ...forms } = options.index.published ?? {};
      const index: BlockIndex = { ...options.index, published: forms };
      // A payload that cannot be had (missing where the archive is served, damaged) is not
      // the end: the published file itself is fetched whole below, and checked.
      const report = await patchFile({ ...options, index, local, seeds, source: payloadSource, output: patched }).catch((err: unknown) => {
        if (signal?.aborted || (SyncError.is(err) && err.code === ErrorCodes.ABORTED)) throw err;
        return undefined;
      });
      for (const s of scratches.splice(0)) await s.discard();
      if (report && (await rebuildArchive(patched, archive, output, options)))
        return finish(options.index.fileSize, report, archive, localInflated, false, started, output);
    }
    const whole = await fetchWhole(options.source, archive, output, options);
    return finish(options.index.fileSize, { ...whole, plan: 'raw', output }, archive, localInflated, true, started, output);
  } finally {
    await payloadSource?.close().catch(() => {});
    for (const s of scratches) await s.discard();
    await rm(patched, { force: true }).catch(() => {});
  }
}

/** What {@link diffArchive} found, besides what a diff reports (its byte counts are the payload's). */
export interface ArchiveDiffReport extends DiffReport {
  archive?: {
    kind: 'gzip' | 'zip';
    /** Size of the payload the index describes (`fileSize` is the published archive's). */
    payloadBytes: number;
    /** True when the local file was an archive of the same kind whose payload was compared. */
    localInflated: boolean;
    /**
     * With `entries`: each entry of the local archive (a tar inside a gzip file, or a zip),
     * in its order, with the bytes of it the new version reuses. Entries only the new
     * version has are not named (the index describes the payload's blocks, not its
     * entries): their bytes are in `fetchBytes`.
     */
    entries?: EntryReuse[];
    /** With `entries`, when the local payload's entries could not be listed: why. */
    entriesProblem?: string;
  };
}

/** Options of {@link diffArchive}. */
export interface ArchiveDiffOptions extends DiffOptions {
  /** Also report what is reused of each entry of the local archive (default false). */
  entries?: boolean;
}

/**
 * What a patch of `local` by an archive index would reuse and fetch, as
 * {@link patchArchive} would do it: the local file (and seeds) inflated to their payloads,
 * held in temporary files next to `local` (removed before it resolves; where they cannot
 * be written, the file's bytes are compared as they are), compared with the payload's
 * blocks. Any other index goes to {@link diffFile}. A `scan` given is ignored: it was made
 * of the archive's bytes, not of its payload.
 */
export async function diffArchive(options: ArchiveDiffOptions): Promise<ArchiveDiffReport> {
  const archive = options.index.published?.archive;
  if (!archive) return diffFile(options);
  const { signal } = options;
  throwIfAborted(signal);
  const { scratchFor } = await import('../archive/payload.js');
  const scratches: ScratchPayload[] = [];
  const names = new Map<string, string>();
  const payloadOf = async (path: string): Promise<string> => {
    let s: ScratchPayload | { problem: string };
    try {
      s = await scratchFor(archive.kind, path, path, { signal });
    } catch (err) {
      if (SyncError.is(err) && err.code === ErrorCodes.ABORTED) throw err;
      return path;
    }
    if ('problem' in s) return path;
    scratches.push(s);
    names.set(s.path, path);
    return s.path;
  };
  try {
    const local = await payloadOf(options.local);
    const seeds: string[] = [];
    for (const seed of options.seeds ?? []) seeds.push(await payloadOf(seed));
    const { archive: _, ...forms } = options.index.published ?? {};
    const { scan: _scan, entries: wantEntries, ...rest } = options;
    const index: BlockIndex = { ...options.index, published: forms };
    const localInflated = local !== options.local;
    // The scan is made here when the entries are wanted: they need where each block was found.
    const scan = wantEntries
      ? await scanLocalFiles(index, [local, ...seeds], {
          ...(signal ? { signal } : {}),
          ...(options.threads !== undefined ? { threads: options.threads } : {}),
        })
      : undefined;
    const report = await diffFile({ ...rest, index, local, ...(seeds.length > 0 ? { seeds } : {}), ...(scan ? { scan } : {}) });
    let entries: { entries: EntryReuse[] } | { entriesProblem: string } | undefined;
    if (scan) {
      const { entryReuse, payloadEntries } = await import('../archive/entries.js');
      const listed = localInflated
        ? await payloadEntries(archive.kind, local, signal)
        : { problem: 'the local file is not an archive of this kind' };
      if ('problem' in listed) entries = { entriesProblem: listed.problem };
      else {
        const id = scan.files.indexOf(local);
        const used: { start: number; end: number }[] = [];
        const { foundSource, foundOffset } = scan.matcher;
        for (let i = 0; i < index.blockCount; i++) {
          if (foundSource[i] === id) used.push({ start: foundOffset[i]!, end: foundOffset[i]! + blockLength(index, i) });
        }
        entries = { entries: entryReuse(listed, used, index.blockSize) };
      }
    }
    return {
      ...report,
      fileSize: archive.size,
      files: report.files.map((f) => names.get(f) ?? f),
      archive: { kind: archive.kind, payloadBytes: options.index.fileSize, localInflated, ...entries },
    };
  } finally {
    for (const s of scratches) await s.discard();
  }
}

/** True when `path` already is the published file (its size, then its SHA-256). */
async function isPublished(path: string, archive: ArchiveForm, signal: AbortSignal | undefined): Promise<boolean> {
  try {
    if ((await stat(path)).size !== archive.size) return false;
    const digest = await fileSha256(path, signal ? { signal } : {});
    return Buffer.from(archive.sha256).equals(digest);
  } catch (err) {
    if (SyncError.is(err) && err.code === ErrorCodes.ABORTED) throw err;
    return false;
  }
}

function upToDate(index: BlockIndex, archive: ArchiveForm, output: string): PatchReport {
  return {
    fileSize: archive.size,
    blockSize: index.blockSize,
    blockCount: index.blockCount,
    reusedBytes: archive.size,
    fetchedBytes: 0,
    requests: 0,
    receivedBytes: 0,
    ranges: 0,
    plan: 'raw',
    refetched: false,
    upToDate: true,
    output,
    seconds: 0,
  };
}

function finish(
  payloadBytes: number,
  report: PatchReport,
  archive: ArchiveForm,
  localInflated: boolean,
  fetchedWhole: boolean,
  started: number,
  output = report.output,
): ArchivePatchReport {
  return {
    ...report,
    fileSize: archive.size,
    output,
    archive: { kind: archive.kind, payloadBytes, localInflated, fetchedWhole },
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * Rebuilds the archive from the payload at `payload` into `output`; false (nothing replaced)
 * when the result is not the published file (its size and SHA-256). Also the known-version
 * path's (known-archive.ts).
 */
export async function rebuildArchive(
  payload: string,
  archive: ArchiveForm,
  output: string,
  options: { signal?: AbortSignal | undefined; fsync?: boolean | undefined },
): Promise<boolean> {
  throwIfAborted(options.signal);
  const out = await AtomicFile.create(output);
  try {
    const write = (c: Uint8Array) => out.write(c);
    const got =
      archive.kind === 'gzip'
        ? await (await import('../archive/gzip.js')).writeGzip(payload, archive, write, options.signal)
        : await (await import('../archive/zip.js')).writeZip(payload, archive, write, options.signal);
    if ('problem' in got || got.size !== archive.size || !Buffer.from(archive.sha256).equals(got.sha256)) {
      await out.abort();
      return false;
    }
    await out.commit({ fsync: options.fsync ?? false });
    return true;
  } catch (err) {
    await out.abort();
    throw err;
  }
}

/** Fetches the published file whole from `source` into `output`, checking its size and SHA-256. */
async function fetchWhole(
  source: BlockSource,
  archive: ArchiveForm,
  output: string,
  options: PatchOptions,
): Promise<Omit<PatchReport, 'plan' | 'output'>> {
  const { createHash } = await import('node:crypto');
  const before = { requests: source.stats?.requests ?? 0, bytes: source.stats?.bytes ?? 0 };
  const out = await AtomicFile.create(output);
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of source.read([{ start: 0, end: archive.size }], options.signal ? { signal: options.signal } : {})) {
      hash.update(chunk);
      size += chunk.length;
      await out.write(chunk);
    }
    if (size !== archive.size || !Buffer.from(archive.sha256).equals(hash.digest())) {
      throw new SyncError(ErrorCodes.FILE_MISMATCH, `Cannot patch ${output}: the published file fetched whole does not match its index`);
    }
    await out.commit({ fsync: options.fsync ?? false });
  } catch (err) {
    await out.abort();
    throw err;
  }
  return {
    fileSize: archive.size,
    blockSize: options.index.blockSize,
    blockCount: options.index.blockCount,
    reusedBytes: 0,
    fetchedBytes: size,
    requests: (source.stats?.requests ?? 0) - before.requests,
    receivedBytes: (source.stats?.bytes ?? 0) - before.bytes,
    ranges: 1,
    refetched: true,
    upToDate: false,
    seconds: 0,
  };
}
