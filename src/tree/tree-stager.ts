/**
 * Staging a tree patch (step 3 of patch-tree.ts): each needed file is written next to
 * its target as a part, verified, with its mode and mtime, from the source its plan
 * chose. A planned local source that turns out unusable (a delta that fails, a local
 * file that no longer holds the content) is replaced by fetching the file.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { stat } from '../util/fs-promises.js';
import { scratchFor, type ScratchPayload } from '../archive/payload.js';
import { ErrorCodes, SyncError, ioError } from '../core/errors.js';
import { MAX_ARCHIVE_SUMMARY, type ArchiveSummary, readArchiveSummary } from '../core/index/format.js';
import { FileVerifier } from '../core/verify.js';
import { applyDeltaChunks } from '../forms/delta-file.js';
import type { BlockSource, ByteRange, ReadRangesOptions } from '../core/block-source.js';
import type { OutputSink } from '../core/patcher.js';
import { patchArchive, rebuildArchive } from '../file/patch-archive.js';
import { patchFile } from '../file/patch-file.js';
import { brotliInflated } from '../forms/brotli-inflate.js';
import { patchFromBase } from '../forms/patch-from-base.js';
import { AtomicFile } from '../localfs/atomic-file.js';
import { setMetadata, type StagedFile } from '../localfs/commit-tree.js';
import { fileChunks, fileSha256 } from '../localfs/file-chunks.js';
import { PART_MODE } from '../localfs/staging.js';
import { forEachLimit } from '../util/limit.js';
import type { ByteBudget } from './byte-budget.js';
import type { TreeRoot } from '../localfs/tree-path.js';
import { objectNames, type FileEntry } from './manifest.js';
import type { ObjectStore } from './object-store.js';
import type { PatchTreeOptions } from './patch-types.js';
import { fetchIndex, indexBudget, partPath, payloadLimit, type Needed } from './tree-planner.js';

/**
 * Bytes of an archive index's end read first for a delta between payloads: its summary
 * and archive summary. They took 211 bytes for typescript's npm tarball (the shortest
 * tail readArchiveSummary reads, on the folder indexes of typescript 5.5.4 and 5.6.2;
 * docs/archives.md); 320 leave room for a gzip header naming a file of about 100 bytes.
 * A longer one costs one more request.
 */
const ARCHIVE_TAIL_GUESS = 320;

/** Where a part is written: an output with the path of the file being written, for messages. */
export interface PartSink extends OutputSink {
  readonly tempPath: string;
}

/**
 * Reads `ranges` of `source`. A failure the source reports as a SyncError (the network,
 * a changed reference) keeps its code; any other is a failed read of a local object, IO,
 * so the inflater never takes it for a damaged stream.
 */
async function* readObject(source: BlockSource, ranges: readonly ByteRange[], options: ReadRangesOptions): AsyncGenerator<Uint8Array> {
  try {
    yield* source.read(ranges, options);
  } catch (cause) {
    throw ioError('read', source.name, cause);
  }
}

/** The content of an object: its first `size` bytes, or the inflated first `compressed` bytes (FRAME_CORRUPT when they do not decompress). */
function objectContent(
  source: BlockSource,
  size: number,
  compressed: number | undefined,
  signal: AbortSignal | undefined,
): AsyncIterable<Uint8Array> {
  if (compressed === undefined) return readObject(source, [{ start: 0, end: size }], signal ? { signal } : {});
  const checked: BlockSource = {
    name: source.name,
    read: (ranges, options = {}) => readObject(source, ranges, options),
    close: () => source.close(),
  };
  return brotliInflated(checked, compressed, signal);
}

/**
 * Streams `source` (brotli-compressed when `compressed`, its size) into `out`, checking
 * size and SHA-256 against `entry`. A failed read or write is IO, a stream that does not
 * decompress FRAME_CORRUPT, other content than the entry's FILE_MISMATCH; a source's own
 * SyncError (the network) keeps its code.
 */
export async function writeWhole(
  source: BlockSource,
  compressed: number | undefined,
  entry: FileEntry,
  out: PartSink,
  signal: AbortSignal | undefined,
): Promise<void> {
  const h = createHash('sha256');
  let n = 0;
  for await (const chunk of objectContent(source, entry.size, compressed, signal)) {
    n += chunk.length;
    if (n > entry.size)
      throw new SyncError(
        ErrorCodes.FILE_MISMATCH,
        `Cannot accept ${entry.path}: the fetched content is longer than the manifest's ${entry.size} bytes`,
      );
    h.update(chunk);
    try {
      await out.write(chunk);
    } catch (cause) {
      throw ioError('write', out.tempPath, cause);
    }
  }
  if (n !== entry.size || h.digest('hex') !== entry.sha256) {
    throw new SyncError(
      ErrorCodes.FILE_MISMATCH,
      `Cannot accept ${entry.path}: the fetched content does not match the manifest's size and SHA-256`,
    );
  }
}

/** Copies local file `from` into `out`, checking it is exactly `entry`'s content (FILE_MISMATCH if not). */
export async function writeCopy(from: string, entry: FileEntry, out: OutputSink, signal: AbortSignal | undefined): Promise<void> {
  const h = createHash('sha256');
  let n = 0;
  for await (const chunk of fileChunks(from, signal ? { signal } : {})) {
    n += chunk.length;
    h.update(chunk);
    await out.write(chunk);
  }
  if (n !== entry.size || h.digest('hex') !== entry.sha256) {
    throw new SyncError(ErrorCodes.FILE_MISMATCH, `Cannot reuse ${from} for ${entry.path}: its content is not the one expected`, {
      path: from,
    });
  }
}

/** The staged files of a plan: each needed content's part and those of its copies. */
export function stagedFiles(needed: readonly Needed[]): StagedFile[] {
  const staged: StagedFile[] = [];
  for (const n of needed) {
    staged.push({ path: n.entry.path, part: partPath(n.entry) });
    for (const c of n.copies) staged.push({ path: c.path, part: partPath(c) });
  }
  return staged;
}

/** Options {@link TreeStager} uses. */
export type StageOptions = Pick<PatchTreeOptions, 'signal' | 'fsync' | 'threads' | 'concurrency' | 'onProgress' | 'indexBytesInFlight'>;

/**
 * Writes the parts of a planned tree patch under `root`, fetching from `store`. Updates
 * each {@link Needed}'s report (bytes reused and fetched, and its action when a local
 * source had to be replaced by a fetch).
 */
export class TreeStager {
  readonly #root: TreeRoot;
  readonly #store: ObjectStore;
  readonly #signal: AbortSignal | undefined;
  readonly #fsync: boolean;
  readonly #threads: number | undefined;
  readonly #options: StageOptions;
  /** Shared by the index fetches of files whose copy failed (fetched while staging). */
  readonly #indexBudget: ByteBudget;

  constructor(root: TreeRoot, store: ObjectStore, options: StageOptions = {}) {
    this.#root = root;
    this.#store = store;
    this.#signal = options.signal;
    this.#fsync = options.fsync ?? false;
    this.#threads = options.threads;
    this.#options = options;
    this.#indexBudget = indexBudget(options);
  }

  /** Stages every needed file, `concurrency` at once, reporting `fetch` progress per file done. */
  async stageAll(needed: readonly Needed[]): Promise<void> {
    const { onProgress } = this.#options;
    let done = 0;
    await forEachLimit(
      needed,
      this.#options.concurrency ?? 8,
      async (n) => {
        await this.stage(n);
        onProgress?.({ phase: 'fetch', done: ++done, total: needed.length });
      },
      this.#signal,
    );
  }

  #signalOption(): { signal?: AbortSignal } {
    return this.#signal ? { signal: this.#signal } : {};
  }

  /** Writes one needed file's part (verified) with its mode and mtime, then the parts of its copies. */
  async stage(n: Needed): Promise<void> {
    const e = n.entry;
    const part = this.#root.local(partPath(e));
    await this.#root.checkParents(e.path);
    if (!(await this.writePart(n, part))) return this.stage(n);
    await setMetadata(part, e.mode, e.mtime);
    await this.writeCopies(n, part);
  }

  /**
   * Writes the part by `n`'s action. False when the planned local source was unusable:
   * `n` is then planned to be fetched instead (action, report), and nothing is written.
   */
  async writePart(n: Needed, part: string): Promise<boolean> {
    switch (n.action) {
      case 'resume':
        // Already there, verified by hash in the plan.
        return true;
      case 'delta':
        return this.applyDelta(n, part);
      case 'blocks':
        await this.patchBlocks(n, part);
        return true;
      case 'copy':
        return this.copyLocal(n, part);
      default:
        await this.fetchWhole(n, part);
        return true;
    }
  }

  /** Applies the published delta to the local base. A bad delta: false, and `n` is fetched whole instead. */
  async applyDelta(n: Needed, part: string): Promise<boolean> {
    if (n.payloadDelta) return this.applyPayloadDelta(n, part);
    const e = n.entry;
    const delta = n.delta!;
    const name = objectNames.delta(e.sha256, delta.sha256, delta.codec);
    const source = this.#store.open(name, delta.delta);
    try {
      const r = await patchFromBase(
        { fileSize: e.size, fileDigest: { algorithm: 'sha256', digest: Buffer.from(e.sha256, 'hex') } },
        { baseSize: delta.size, baseSha256: Buffer.from(delta.sha256, 'hex'), codec: delta.codec ?? 'brotli', size: delta.delta, name },
        source,
        n.from!,
        part,
        { mode: PART_MODE, ...this.#signalOption(), ...(this.#fsync ? { fsync: true } : {}) },
      );
      n.report.reusedBytes = r.copiedBytes;
      n.report.fetchBytes = source.stats?.bytes ?? r.deltaBytes;
      return true;
    } catch (err) {
      if (SyncError.is(err) && err.code === ErrorCodes.ABORTED) throw err;
      // Still verified when fetched whole.
      n.action = n.report.action = 'whole';
      delete n.report.from;
      return false;
    } finally {
      await source.close();
    }
  }

  /**
   * Applies a delta between payloads (docs/archives.md): reads the index's summary and
   * archive summary from its end (they must describe the manifest's file), checks that the
   * local file `from` still is the base (size, then SHA-256), inflates it next to the
   * part, applies the delta to that payload as it arrives (the result checked against the
   * summary's size and SHA-256), and rebuilds the archive into the part, which is kept
   * only when it is the published file (size and SHA-256). Anything else writes nothing
   * and returns false: `n` is then patched by its payload's blocks, with the local file as
   * the basis.
   */
  async applyPayloadDelta(n: Needed, part: string): Promise<boolean> {
    if (await this.#tryPayloadDelta(n, part)) return true;
    return this.#payloadDeltaFailed(n);
  }

  /** {@link applyPayloadDelta}'s attempt: true when the part is written, false (nothing written) when not. */
  async #tryPayloadDelta(n: Needed, part: string): Promise<boolean> {
    const e = n.entry;
    const delta = n.delta!;
    const signal = this.#signal;
    const from = n.from!;
    let fetched = 0;
    let scratch: ScratchPayload | undefined;
    let payload: AtomicFile | undefined;
    const source = this.#store.open(objectNames.payloadDelta(e.sha256, delta.sha256), delta.delta);
    try {
      const summary = await this.#archiveSummary(e, (bytes) => {
        fetched += bytes;
      });
      if (summary === undefined) return false;
      const { archive } = summary;
      if ((await stat(from)).size !== delta.size || (await fileSha256(from, this.#signalOption())).toString('hex') !== delta.sha256)
        return false;
      const inflated = await scratchFor(archive.kind, from, part, this.#signalOption());
      if ('problem' in inflated) return false;
      scratch = inflated;
      payload = await AtomicFile.create(part, { mode: PART_MODE });
      const target = payload;
      const verifier = new FileVerifier({ fileSize: summary.fileSize, fileDigest: { algorithm: 'sha256', digest: summary.sha256 } });
      await applyDeltaChunks(
        readObject(source, [{ start: 0, end: delta.delta }], this.#signalOption()),
        scratch.path,
        {
          async write(chunk) {
            verifier.update(chunk);
            await target.write(chunk);
          },
        },
        { newSize: summary.fileSize, maxDeltaBytes: delta.delta, ...this.#signalOption() },
      );
      verifier.finish();
      // The old payload is not needed any more: its disk space is freed before the rebuild.
      await scratch.discard();
      if (!(await rebuildArchive(payload.tempPath, archive, part, { signal, fsync: this.#fsync }))) return false;
      n.report.fetchBytes = fetched + (source.stats?.bytes ?? delta.delta);
      // What was not fetched, in the archive's bytes (the delta rebuilt the payload).
      n.report.reusedBytes = Math.max(0, e.size - n.report.fetchBytes);
      return true;
    } catch (err) {
      if (signal?.aborted || (SyncError.is(err) && err.code === ErrorCodes.ABORTED)) throw err;
      return false;
    } finally {
      await payload?.abort();
      await scratch?.discard();
      await source.close();
    }
  }

  /**
   * The summary and archive summary at the end of `e`'s index, when they describe the
   * manifest's file and a payload its archive allows (as fetchIndex bounds it); else
   * undefined. `count` gets the bytes of each read.
   */
  async #archiveSummary(e: FileEntry, count: (bytes: number) => void): Promise<ArchiveSummary | undefined> {
    const name = objectNames.index(e.sha256, e.index!);
    let want = ARCHIVE_TAIL_GUESS;
    for (let round = 0; round < 3; round++) {
      const got = await this.#store.tail(name, want, this.#signal);
      count(got.body.length);
      const summary = readArchiveSummary(got.body);
      if (summary === undefined) return undefined;
      if ('need' in summary) {
        // The whole index is in hand, or the entry would be over its bound: not one to read by its end.
        if (got.body.length < want || summary.need > MAX_ARCHIVE_SUMMARY + 4096) return undefined;
        want = summary.need;
        continue;
      }
      const { archive } = summary;
      if (archive.size !== e.size || Buffer.from(archive.sha256).toString('hex') !== e.sha256 || summary.fileSize > payloadLimit(archive))
        return undefined;
      return summary;
    }
    return undefined;
  }

  /** After a delta between payloads could not be used: `n` is patched by its payload's blocks (its index fetched now), from the local file. */
  async #payloadDeltaFailed(n: Needed): Promise<false> {
    const from = n.from!;
    n.action = n.report.action = 'blocks';
    delete n.delta;
    delete n.payloadDelta;
    delete n.from;
    delete n.report.from;
    n.report.reusedBytes = 0;
    n.index = (await fetchIndex(this.#store, n.entry, this.#signal, this.#indexBudget)).index;
    delete n.scan;
    // The old version is the best basis there is.
    n.basis = [from];
    return false;
  }

  /** Patches the file from the blocks the scan found in local files and the missing ranges (or compressed forms) fetched. */
  async patchBlocks(n: Needed, part: string): Promise<void> {
    const e = n.entry;
    const content = objectNames.content(e.sha256);
    const folder = content.slice(0, content.lastIndexOf('/') + 1);
    const opened: BlockSource[] = [];
    const source = this.#store.open(content, e.size);
    opened.push(source);
    // An archive index (docs/archives.md): patchArchive inflates the basis, patches the
    // payload (fetched from `<index>u` and the index's forms) and rebuilds the archive,
    // which must be the published file (else it fetches the content whole, checked).
    const archive = n.index!.published?.archive !== undefined;
    const [basis, ...seeds] = n.basis ?? [this.#root.local(e.path)];
    try {
      const r = await (archive ? patchArchive : patchFile)({
        ...(archive
          ? { local: basis!, ...(seeds.length > 0 ? { seeds } : {}) }
          : {
              local: n.scan?.files[0] ?? this.#root.local(e.path),
              // Without a scan (a fallback), patchFile scans the old file at the same path.
              ...(n.scan ? { scan: n.scan } : {}),
            }),
        index: n.index!,
        source,
        // The decoder refused names that leave the folder (see publishedNameProblem).
        openForm: (name) => {
          const s = this.#store.open(folder + name);
          opened.push(s);
          return s;
        },
        output: part,
        ...(this.#threads !== undefined ? { threads: this.#threads } : {}),
        ...(this.#fsync ? { fsync: true } : {}),
        ...this.#signalOption(),
      });
      n.report.reusedBytes = r.reusedBytes;
      n.report.plan = r.plan;
    } finally {
      await Promise.all(opened.map((s) => s.close()));
      n.report.fetchBytes = opened.reduce((a, s) => a + (s.stats?.bytes ?? 0), 0);
    }
  }

  /**
   * Copies the content from the local file that has it (an empty file needs none). When
   * that file does not hold it after all (the quick check trusted it, or it changed since
   * it was hashed): false, and `n` is fetched instead, by blocks when it has an index.
   */
  async copyLocal(n: Needed, part: string): Promise<boolean> {
    const e = n.entry;
    const copied = await this.#writeAtomically(part, async (out) => {
      if (e.size === 0) return true;
      try {
        await writeCopy(n.from!, e, out, this.#signal);
        return true;
      } catch (err) {
        if (SyncError.is(err) && err.code === ErrorCodes.FILE_MISMATCH) return false;
        throw err;
      }
    });
    if (copied) return true;
    n.action = n.report.action = e.index ? 'blocks' : 'whole';
    delete n.from;
    delete n.report.from;
    n.report.reusedBytes = 0;
    if (n.action === 'blocks') {
      n.index = (await fetchIndex(this.#store, e, this.#signal, this.#indexBudget)).index;
      delete n.scan;
      delete n.basis;
    }
    return false;
  }

  /** Fetches the whole object (its brotli stream when the manifest lists one), verified. */
  async fetchWhole(n: Needed, part: string): Promise<void> {
    const e = n.entry;
    const compressed = e.br;
    await this.#writeAtomically(part, async (out) => {
      const source = this.#store.open(
        compressed !== undefined ? objectNames.brotli(e.sha256) : objectNames.content(e.sha256),
        compressed ?? e.size,
      );
      try {
        await writeWhole(source, compressed, e, out, this.#signal);
      } finally {
        await source.close();
        n.report.fetchBytes = source.stats?.bytes ?? 0;
      }
      return true;
    });
  }

  /** Other paths with the same content: copies of the verified part, each with its own mode and mtime. */
  async writeCopies(n: Needed, part: string): Promise<void> {
    for (const c of n.copies) {
      await this.#root.checkParents(c.path);
      const copyPart = this.#root.local(partPath(c));
      await this.#writeAtomically(copyPart, async (out) => {
        await writeCopy(part, c, out, this.#signal);
        return true;
      });
      await setMetadata(copyPart, c.mode, c.mtime);
    }
  }

  /** Writes `path` through a temporary file: committed when `fill` returns true, removed otherwise or on failure. */
  async #writeAtomically(path: string, fill: (out: AtomicFile) => Promise<boolean>): Promise<boolean> {
    // Private until verified; stage() and writeCopies() then give it the entry's mode.
    const out = await AtomicFile.create(path, { mode: PART_MODE });
    try {
      if (!(await fill(out))) {
        await out.abort();
        return false;
      }
      await out.commit({ fsync: this.#fsync });
      return true;
    } catch (err) {
      await out.abort();
      throw err;
    }
  }
}
