/**
 * Updating a local folder to a published tree (`gosync patch <dir> <manifest>`).
 *
 * 1. Plan: list the local folder; files whose size and mtime match the manifest are
 *    unchanged and not read (rsync's quick check; same size, other mtime: hashed).
 *    For each content still needed, in order of cost: a local file that already has it
 *    (renamed, moved, copied: nothing fetched); a published delta from a version some
 *    local file has (usually the old file at the same path); the file's block index, for
 *    a scan of the local files; or the whole object (small files).
 * 2. Scan: the indexes of all files that need one are laid end to end and the local files
 *    scanned once for all of them: the old file at the same path first, then files that
 *    are going away, then other local files up to a budget, so data moved between files
 *    is reused too.
 * 3. Stage: every new file is written next to its target as `.<name>.<hash>.gosync-part`,
 *    verified (every fetched block, and the whole file against the manifest's SHA-256),
 *    with its mode and mtime set. Local files are only read in this phase.
 * 4. Commit: each part is renamed over its target (atomic per file), links are made,
 *    with `--delete` what the manifest does not list is removed, folder metadata is set.
 *
 * An interrupted run leaves every file old or new; the parts it staged are found by the
 * next run (named by content hash, verified again) so only what is still missing is
 * fetched. Nothing is ever written through a link or outside the folder.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { lstat, readFile } from 'node:fs/promises';
import { ErrorCodes, SyncError, throwIfAborted, ioError } from '../core/errors.js';
import type { BlockIndex } from '../core/index/block-index.js';
import { blockLength } from '../core/index/block-index.js';
import { concatIndexes } from '../core/index/concat.js';
import { decodeIndex } from '../core/index/format.js';
import { isHttpUrl } from '../file/load-index.js';
import { scanLocalFiles } from '../file/local-scan.js';
import { missingSpansOf } from '../core/matcher.js';
import { diffFile, patchFile, type FoundScan } from '../file/patch-file.js';
import { patchFromBase } from '../forms/patch-from-base.js';
import type { BlockSource } from '../core/block-source.js';
import { brotliInflated } from '../forms/brotli-inflate.js';
import { AtomicFile } from '../localfs/atomic-file.js';
import { fileChunks, fileSha256 } from '../localfs/file-chunks.js';
import { forEachLimit } from '../util/limit.js';
import { DEFAULT_MAX_MANIFEST_BYTES, decodeManifest, objectNames, type FileEntry, type Manifest, type TreeEntry } from './manifest.js';
import { manifestFolder, openObjectStore, type ObjectStore } from './object-store.js';
import { TreeRoot } from '../localfs/tree-path.js';
import { sameMtime, walkTree, type LocalTree } from '../localfs/walk.js';
import { commitTree, findTreeChanges, prepareFolders, setMetadata, type StagedFile, type TreeChanges } from '../localfs/commit-tree.js';
import { partName } from '../localfs/staging.js';

/** Options of {@link diffTree} and {@link patchTree}. */
export interface TreeOptions {
  /** Where `objects/` is published (a URL or a folder); default: the manifest's folder. */
  contentBase?: string;
  /** Keep-alive connections per origin (default 8). */
  connections?: number;
  /** Files fetched and written at once (default 8). */
  concurrency?: number;
  /** Worker threads for scanning large local files (default: every core). */
  threads?: number;
  /**
   * Besides the old file at the same path and files going away, scan other local files
   * for reusable data up to this multiple of the bytes of the files being patched
   * (default 4; 0 turns it off). Reading locally is far cheaper than fetching.
   */
  reuseFactor?: number;
  /** Extra HTTP request headers. */
  headers?: Record<string, string>;
  /** Refuse manifests larger than this (default 256 MiB). */
  maxManifestBytes?: number;
  /**
   * Remove local entries the manifest does not list (rsync's `--delete`); a non-empty
   * local folder where a file goes is then replaced instead of refused.
   */
  delete?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: TreeProgress) => void;
}

/** Options of {@link patchTree}. */
export interface PatchTreeOptions extends TreeOptions {
  /** Flush every new file to disk before it replaces the old one. */
  fsync?: boolean;
}

/** Progress of a tree patch. */
export interface TreeProgress {
  phase: 'plan' | 'scan' | 'fetch' | 'commit';
  done: number;
  total: number;
}

/**
 * What happens to one file: `unchanged` (nothing), `metadata` (mode or mtime set),
 * `copy` (content taken whole from a local file, `from`), `resume` (a part a stopped run
 * staged), `delta` (a published delta applied to local file `from`), `blocks` (index +
 * scan + missing blocks), `whole` (fetched whole).
 */
export type TreeFileAction = 'unchanged' | 'metadata' | 'copy' | 'resume' | 'delta' | 'blocks' | 'whole';

/** One file of a tree diff or patch. */
export interface TreeFileReport {
  path: string;
  action: TreeFileAction;
  size: number;
  /** Bytes of the file taken from local data. */
  reusedBytes: number;
  /** Bytes to fetch (diff: estimated, compressed where that is the plan) or fetched (patch). */
  fetchBytes: number;
  /** The local file reused, for `copy` and `delta`. */
  from?: string;
  /** For `blocks`: how the missing data is fetched (raw ranges, frames, whole stream). */
  plan?: string;
}

/** What a tree diff found. */
export interface TreeDiffReport {
  files: TreeFileReport[];
  /** Local paths the manifest does not list (removed with `delete`). */
  extraneous: string[];
  /** Bytes of the manifest and of the block indexes fetched to plan. */
  manifestBytes: number;
  indexBytes: number;
  totals: { files: number; changed: number; bytes: number; reusedBytes: number; fetchBytes: number };
}

/** What a tree patch did. */
export interface TreePatchReport extends TreeDiffReport {
  /** Paths removed (with `delete`). */
  deleted: string[];
  /** Requests and body bytes received from the content base, manifest and indexes included. */
  requests: number;
  receivedBytes: number;
  seconds: number;
}

/** Largest block index fetched for one file. */
const MAX_INDEX_BYTES = 1024 * 1024 * 1024;

interface Needed {
  entry: FileEntry;
  /** Other manifest paths with the same content. */
  copies: FileEntry[];
  action: TreeFileAction;
  /** Local path to copy from or apply a delta to. */
  from?: string;
  delta?: { sha256: string; size: number; delta: number };
  index?: BlockIndex;
  scan?: FoundScan;
  report: TreeFileReport;
}

interface TreePlan {
  manifest: Manifest;
  manifestBytes: number;
  indexBytes: number;
  root: TreeRoot;
  local: LocalTree;
  store: ObjectStore;
  reports: TreeFileReport[];
  needed: Needed[];
  changes: TreeChanges;
}

/** The part name of `entry`: next to the target, named by its content hash. */
function partPath(entry: FileEntry): string {
  return partName(entry.path, entry.sha256.slice(0, 16));
}

async function loadManifest(location: string, options: TreeOptions): Promise<{ manifest: Manifest; bytes: number }> {
  const maxBytes = options.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES;
  let data: Uint8Array;
  if (isHttpUrl(location)) {
    const { httpGet } = await import('../sources/http/http-get.js');
    data = (
      await httpGet(location, {
        maxBytes,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.headers ? { headers: options.headers } : {}),
      })
    ).body;
  } else {
    try {
      data = await readFile(location, options.signal ? { signal: options.signal } : {});
    } catch (cause) {
      throwIfAborted(options.signal);
      throw ioError('read the manifest', location, cause);
    }
  }
  return { manifest: decodeManifest(data, { maxBytes }), bytes: data.length };
}

/** Fetches and checks the block index of `entry` (it must describe the manifest's content). */
async function fetchIndex(
  store: ObjectStore,
  entry: FileEntry,
  signal: AbortSignal | undefined,
): Promise<{ index: BlockIndex; bytes: number }> {
  const name = objectNames.index(entry.sha256, entry.index!);
  const data = await store.get(name, MAX_INDEX_BYTES, signal);
  const index = decodeIndex(data);
  const digest = Buffer.from(index.fileDigest.digest).toString('hex');
  if (index.fileSize !== entry.size || index.fileDigest.algorithm !== 'sha256' || digest !== entry.sha256) {
    throw new SyncError(
      ErrorCodes.INDEX_CORRUPT,
      `Cannot use the index of ${entry.path}: it describes other content than the manifest lists (${store.name}${name})`,
    );
  }
  return { index, bytes: data.length };
}

/** Slices one file's part of a scan of concatenated indexes, renumbering the local files it uses. */
function sliceScan(
  foundSource: Int32Array,
  foundOffset: Float64Array,
  files: readonly string[],
  first: number,
  index: BlockIndex,
): FoundScan {
  const n = index.blockCount;
  const src = new Int32Array(n);
  const off = foundOffset.slice(first, first + n);
  const ids = new Map<number, number>();
  const used: string[] = [];
  let foundCount = 0;
  let foundBytes = 0;
  for (let i = 0; i < n; i++) {
    const s = foundSource[first + i]!;
    if (s < 0) {
      src[i] = -1;
      continue;
    }
    let id = ids.get(s);
    if (id === undefined) {
      id = used.length;
      ids.set(s, id);
      used.push(files[s]!);
    }
    src[i] = id;
    foundCount++;
    foundBytes += blockLength(index, i);
  }
  return {
    files: used,
    matcher: {
      foundSource: src,
      foundOffset: off,
      foundCount,
      complete: foundCount === n,
      foundBytes,
      missingSpans: () => missingSpansOf(src),
    },
  };
}

async function planTree(dir: string, location: string, options: PatchTreeOptions): Promise<TreePlan> {
  const { signal } = options;
  throwIfAborted(signal);
  const store = await openObjectStore(options.contentBase ?? manifestFolder(location), {
    ...(options.connections !== undefined ? { connections: options.connections } : {}),
    ...(options.headers ? { headers: options.headers } : {}),
  });
  try {
    const { manifest, bytes: manifestBytes } = await loadManifest(location, options);
    const root = new TreeRoot(dir);
    const local = await walkTree(dir, signal ? { signal } : {});
    const localPath = (p: string) => root.local(p);
    const wanted = new Map<string, TreeEntry>(manifest.entries.map((e) => [e.path, e]));

    const changes = findTreeChanges(root, manifest.entries, local, options.delete ? { delete: true } : {});
    const replaced = new Set(changes.replaceWithDir);

    // Quick check of every file of the manifest.
    const reports: TreeFileReport[] = [];
    const changed: FileEntry[] = [];
    /** Content known to be in local files: sha256 → local path. */
    const known = new Map<string, string>();
    const hashed = new Map<string, string>();
    const files = manifest.entries.filter((e): e is FileEntry => e.type === 'file');
    for (const e of files) {
      const l = local.entries.get(e.path);
      if (l && l.type === 'file' && l.size === e.size && sameMtime(l.mtimeMs, e.mtime)) {
        known.set(e.sha256, localPath(e.path));
        reports.push({
          path: e.path,
          action: (l.mode & 0o777) !== e.mode ? 'metadata' : 'unchanged',
          size: e.size,
          reusedBytes: e.size,
          fetchBytes: 0,
        });
      } else changed.push(e);
    }
    // Same size, other mtime: compare content.
    await forEachLimit(
      changed.filter((e) => {
        const l = local.entries.get(e.path);
        return l?.type === 'file' && l.size === e.size;
      }),
      4,
      async (e) => {
        hashed.set(e.path, (await fileSha256(localPath(e.path), signal ? { signal } : {})).toString('hex'));
      },
      signal,
    );
    const needFiles: FileEntry[] = [];
    for (const e of changed) {
      if (hashed.get(e.path) === e.sha256) {
        known.set(e.sha256, localPath(e.path));
        reports.push({ path: e.path, action: 'metadata', size: e.size, reusedBytes: e.size, fetchBytes: 0 });
      } else needFiles.push(e);
    }

    // Hash the local files that could hold needed content or a base (by size).
    const sizes = new Set<number>();
    for (const e of needFiles) {
      sizes.add(e.size);
      for (const b of e.bases ?? []) sizes.add(b.size);
    }
    const candidates: { path: string; local: string }[] = [];
    for (const l of local.entries.values()) {
      if (l.type !== 'file' || !sizes.has(l.size) || replaced.has(l.path) || hashed.has(l.path)) continue;
      const w = wanted.get(l.path);
      if (w?.type === 'file' && known.get(w.sha256) === localPath(l.path)) continue;
      candidates.push({ path: l.path, local: localPath(l.path) });
    }
    for (const p of local.parts) candidates.push({ path: p, local: localPath(p) });
    await forEachLimit(
      candidates,
      4,
      async (c) => {
        try {
          const st = await lstat(c.local);
          if (!st.isFile() || !sizes.has(st.size)) return;
          hashed.set(c.path, (await fileSha256(c.local, signal ? { signal } : {})).toString('hex'));
        } catch (err) {
          if (SyncError.is(err) && err.code === ErrorCodes.ABORTED) throw err;
        }
      },
      signal,
    );
    for (const [p, sha] of hashed) if (!known.has(sha)) known.set(sha, localPath(p));

    // Decide per content.
    const byContent = new Map<string, Needed>();
    const needed: Needed[] = [];
    const parts = new Set(local.parts);
    for (const e of needFiles) {
      const same = byContent.get(e.sha256);
      if (same) {
        same.copies.push(e);
        reports.push({ path: e.path, action: 'copy', size: e.size, reusedBytes: e.size, fetchBytes: 0, from: same.entry.path });
        continue;
      }
      const report: TreeFileReport = { path: e.path, action: 'whole', size: e.size, reusedBytes: 0, fetchBytes: e.br ?? e.size };
      const n: Needed = { entry: e, copies: [], action: 'whole', report };
      const part = partPath(e);
      if (parts.has(part) && hashed.get(part) === e.sha256) {
        n.action = 'resume';
        n.from = localPath(part);
      } else if (known.has(e.sha256) || e.size === 0) {
        n.action = 'copy';
        if (e.size > 0) n.from = known.get(e.sha256)!;
      } else {
        const bases = (e.bases ?? []).filter((b) => known.has(b.sha256)).sort((a, b) => a.delta - b.delta);
        if (bases.length > 0) {
          n.action = 'delta';
          n.delta = bases[0]!;
          n.from = known.get(bases[0]!.sha256)!;
        } else if (e.index) n.action = 'blocks';
      }
      report.action = n.action;
      if (n.action === 'copy' || n.action === 'resume') {
        report.reusedBytes = e.size;
        report.fetchBytes = 0;
      } else if (n.action === 'delta') report.fetchBytes = n.delta!.delta;
      if (n.from !== undefined) report.from = n.from;
      byContent.set(e.sha256, n);
      needed.push(n);
      reports.push(report);
    }

    // Indexes of the files to patch by blocks, then one scan for all of them.
    const byBlocks = needed.filter((n) => n.action === 'blocks');
    let indexBytes = 0;
    await forEachLimit(
      byBlocks,
      options.concurrency ?? 8,
      async (n) => {
        const got = await fetchIndex(store, n.entry, signal);
        indexBytes += got.bytes;
        n.index = got.index;
      },
      signal,
    );
    const groups = new Map<string, Needed[]>();
    for (const n of byBlocks) {
      const key = `${n.index!.blockSize}/${n.index!.strongHash.name}`;
      const group = groups.get(key);
      if (group) group.push(n);
      else groups.set(key, [n]);
    }
    for (const group of groups.values()) {
      const { index, firstBlock } = concatIndexes(group.map((n) => n.index!));
      const paths: string[] = [];
      const seen = new Set<string>();
      const add = (p: string) => {
        if (!seen.has(p)) {
          seen.add(p);
          paths.push(p);
        }
      };
      // The old file at the same path, then what is going away, then the rest within a budget.
      for (const n of group) {
        const l = local.entries.get(n.entry.path);
        if (l?.type === 'file' && !replaced.has(l.path)) add(n.entry.path);
      }
      for (const p of local.parts) add(p);
      for (const l of local.entries.values()) if (l.type === 'file' && !wanted.has(l.path)) add(l.path);
      for (const e of needFiles) if (local.entries.get(e.path)?.type === 'file' && !replaced.has(e.path)) add(e.path);
      let budget = (options.reuseFactor ?? 4) * group.reduce((a, n) => a + n.entry.size, 0);
      for (const l of local.entries.values()) {
        if (l.type !== 'file' || seen.has(l.path) || replaced.has(l.path) || l.size > budget) continue;
        budget -= l.size;
        add(l.path);
      }
      const scan = await scanLocalFiles(
        index,
        paths.map((p) => localPath(p)),
        {
          ...(signal ? { signal } : {}),
          ...(options.threads !== undefined ? { threads: options.threads } : {}),
          ...(options.onProgress ? { onProgress: (p) => options.onProgress!({ phase: 'scan', done: p.done, total: p.total }) } : {}),
        },
      );
      group.forEach((n, k) => {
        n.scan = sliceScan(scan.matcher.foundSource, scan.matcher.foundOffset, scan.files, firstBlock[k]!, n.index!);
      });
    }
    return { manifest, manifestBytes, indexBytes, root, local, store, reports, needed, changes };
  } catch (err) {
    await store.close();
    throw err;
  }
}

function totals(reports: readonly TreeFileReport[]): TreeDiffReport['totals'] {
  let bytes = 0;
  let reusedBytes = 0;
  let fetchBytes = 0;
  let changed = 0;
  for (const r of reports) {
    bytes += r.size;
    reusedBytes += r.reusedBytes;
    fetchBytes += r.fetchBytes;
    if (r.action !== 'unchanged' && r.action !== 'metadata') changed++;
  }
  return { files: reports.length, changed, bytes, reusedBytes, fetchBytes };
}

function sortReports(reports: TreeFileReport[]): TreeFileReport[] {
  return reports.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Lists, per file, what a patch of `dir` to the manifest at `location` would reuse and
 * fetch. Fetches the manifest and the block indexes it needs; writes nothing.
 */
export async function diffTree(dir: string, location: string, options: TreeOptions = {}): Promise<TreeDiffReport> {
  const plan = await planTree(dir, location, options);
  try {
    for (const n of plan.needed) {
      if (n.action !== 'blocks') continue;
      const d = await diffFile({
        local: plan.root.local(n.entry.path),
        index: n.index!,
        scan: n.scan!,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      n.report.reusedBytes = d.reusedBytes;
      n.report.fetchBytes = d.plan.bytes;
      n.report.plan = d.plan.kind;
    }
    const files = sortReports(plan.reports);
    return {
      files,
      extraneous: plan.changes.extraneous,
      manifestBytes: plan.manifestBytes,
      indexBytes: plan.indexBytes,
      totals: totals(files),
    };
  } finally {
    await plan.store.close();
  }
}

/** Streams `source` (brotli-compressed when `compressed`) into `out`, checking size and SHA-256. */
async function writeWhole(
  source: BlockSource,
  compressed: number | undefined,
  entry: FileEntry,
  out: AtomicFile,
  signal: AbortSignal | undefined,
): Promise<void> {
  const h = createHash('sha256');
  let n = 0;
  const chunks =
    compressed === undefined
      ? source.read([{ start: 0, end: entry.size }], signal ? { signal } : {})
      : brotliInflated(source, compressed, signal);
  try {
    for await (const chunk of chunks) {
      n += chunk.length;
      if (n > entry.size)
        throw new SyncError(
          ErrorCodes.FILE_MISMATCH,
          `Cannot accept ${entry.path}: the fetched content is longer than the manifest's ${entry.size} bytes`,
        );
      h.update(chunk);
      await out.write(chunk);
    }
  } catch (err) {
    if (SyncError.is(err)) throw err;
    throw new SyncError(ErrorCodes.FRAME_CORRUPT, `Cannot decompress ${entry.path}: ${(err as Error).message}`, { cause: err });
  }
  if (n !== entry.size || h.digest('hex') !== entry.sha256) {
    throw new SyncError(
      ErrorCodes.FILE_MISMATCH,
      `Cannot accept ${entry.path}: the fetched content does not match the manifest's size and SHA-256`,
    );
  }
}

/** Copies local file `from` into `out`, checking it is exactly `entry`'s content. */
async function writeCopy(from: string, entry: FileEntry, out: AtomicFile, signal: AbortSignal | undefined): Promise<void> {
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

/** Writes one needed file's part (verified), with its mode and mtime. */
async function stage(plan: TreePlan, n: Needed, options: PatchTreeOptions): Promise<void> {
  const { root, store } = plan;
  const { signal } = options;
  const e = n.entry;
  const part = root.local(partPath(e));
  await root.checkParents(e.path);
  if (n.action === 'resume') {
    // Already there, verified by hash in the plan.
  } else if (n.action === 'delta') {
    const name = objectNames.delta(e.sha256, n.delta!.sha256);
    const source = store.open(name, n.delta!.delta);
    try {
      const r = await patchFromBase(
        { fileSize: e.size, fileDigest: { algorithm: 'sha256', digest: Buffer.from(e.sha256, 'hex') } },
        { baseSize: n.delta!.size, baseSha256: Buffer.from(n.delta!.sha256, 'hex'), codec: 'brotli', size: n.delta!.delta, name },
        source,
        n.from!,
        part,
        { ...(signal ? { signal } : {}), ...(options.fsync ? { fsync: true } : {}) },
      );
      n.report.reusedBytes = r.copiedBytes;
      n.report.fetchBytes = source.stats?.bytes ?? r.deltaBytes;
    } catch (err) {
      if (SyncError.is(err) && err.code === ErrorCodes.ABORTED) throw err;
      // A bad delta: fetch the file whole instead (still verified).
      n.action = n.report.action = 'whole';
      delete n.report.from;
      await source.close();
      return stage(plan, n, options);
    } finally {
      await source.close();
    }
  } else if (n.action === 'blocks') {
    const content = objectNames.content(e.sha256);
    const folder = content.slice(0, content.lastIndexOf('/') + 1);
    const opened: BlockSource[] = [];
    const source = store.open(content, e.size);
    opened.push(source);
    try {
      const r = await patchFile({
        local: n.scan?.files[0] ?? root.local(e.path),
        index: n.index!,
        // Without a scan (a fallback), patchFile scans the old file at the same path.
        ...(n.scan ? { scan: n.scan } : {}),
        source,
        // The decoder refused names that leave the folder (see publishedNameProblem).
        openForm: (name) => {
          const s = store.open(folder + name);
          opened.push(s);
          return s;
        },
        output: part,
        ...(options.threads !== undefined ? { threads: options.threads } : {}),
        ...(options.fsync ? { fsync: true } : {}),
        ...(signal ? { signal } : {}),
      });
      n.report.reusedBytes = r.reusedBytes;
      n.report.plan = r.plan;
    } finally {
      await Promise.all(opened.map((s) => s.close()));
      n.report.fetchBytes = opened.reduce((a, s) => a + (s.stats?.bytes ?? 0), 0);
    }
  } else {
    const out = await AtomicFile.create(part);
    try {
      if (n.action === 'copy' && e.size > 0) {
        try {
          await writeCopy(n.from!, e, out, signal);
        } catch (err) {
          if (!(SyncError.is(err) && err.code === ErrorCodes.FILE_MISMATCH)) throw err;
          // The local file trusted by the quick check (or hashed earlier) does not hold
          // that content after all: fetch it instead.
          await out.abort();
          n.action = n.report.action = n.entry.index ? 'blocks' : 'whole';
          delete n.from;
          delete n.report.from;
          n.report.reusedBytes = 0;
          if (n.action === 'blocks') {
            n.index = (await fetchIndex(store, e, signal)).index;
            delete n.scan;
          }
          return stage(plan, n, options);
        }
      } else if (n.action === 'whole') {
        const compressed = e.br;
        const source = store.open(
          compressed !== undefined ? objectNames.brotli(e.sha256) : objectNames.content(e.sha256),
          compressed ?? e.size,
        );
        try {
          await writeWhole(source, compressed, e, out, signal);
        } finally {
          await source.close();
          n.report.fetchBytes = source.stats?.bytes ?? 0;
        }
      }
      await out.commit({ fsync: options.fsync ?? false });
    } catch (err) {
      await out.abort();
      throw err;
    }
  }
  await setMetadata(part, e.mode, e.mtime);
  // Other paths with the same content: copies of the verified part.
  for (const c of n.copies) {
    await root.checkParents(c.path);
    const out = await AtomicFile.create(root.local(partPath(c)));
    try {
      await writeCopy(part, c, out, signal);
      await out.commit({ fsync: options.fsync ?? false });
    } catch (err) {
      await out.abort();
      throw err;
    }
    await setMetadata(root.local(partPath(c)), c.mode, c.mtime);
  }
}

/**
 * Brings local folder `dir` (created if missing) to the state the manifest at `location`
 * (a URL or path) describes. See the module description for the steps and guarantees.
 *
 * @example
 * ```ts
 * const r = await patchTree('app/', 'https://cdn.example.com/app.tree.json', { delete: true });
 * console.log(`${r.totals.changed} files changed, ${r.receivedBytes} bytes received`);
 * ```
 */
export async function patchTree(dir: string, location: string, options: PatchTreeOptions = {}): Promise<TreePatchReport> {
  const started = performance.now();
  const { signal } = options;
  const plan = await planTree(dir, location, options);
  const { root, manifest, local } = plan;
  let deleted: string[] = [];
  try {
    // Folders first (a file or link in the way of one goes), so parts can be staged.
    await prepareFolders(root, manifest.entries, plan.changes);
    let done = 0;
    const total = plan.needed.length;
    await forEachLimit(
      plan.needed,
      options.concurrency ?? 8,
      async (n) => {
        await stage(plan, n, options);
        options.onProgress?.({ phase: 'fetch', done: ++done, total });
      },
      signal,
    );
    const staged: StagedFile[] = [];
    for (const n of plan.needed) {
      staged.push({ path: n.entry.path, part: partPath(n.entry) });
      for (const c of n.copies) staged.push({ path: c.path, part: partPath(c) });
    }
    ({ deleted } = await commitTree(root, manifest.entries, local, staged, plan.changes, {
      ...(options.delete ? { delete: true } : {}),
      ...(signal ? { signal } : {}),
      ...(options.onProgress ? { onProgress: (d: number, t: number) => options.onProgress!({ phase: 'commit', done: d, total: t }) } : {}),
    }));
  } finally {
    await plan.store.close();
  }
  const files = sortReports(plan.reports);
  const stats = plan.store.stats();
  return {
    files,
    extraneous: plan.changes.extraneous,
    deleted,
    manifestBytes: plan.manifestBytes,
    indexBytes: plan.indexBytes,
    totals: totals(files),
    requests: stats.requests + 1,
    receivedBytes: stats.bytes + plan.manifestBytes,
    seconds: (performance.now() - started) / 1000,
  };
}
