/**
 * The plan of a tree patch (steps 1 and 2 of patch-tree.ts): what each file of the
 * manifest needs and where its content comes from, with the block indexes fetched and
 * the local files scanned for the files patched by blocks. Reads local files, writes
 * nothing.
 *
 * {@link TreePlanner} holds what the steps learn about the local folder (the content
 * each local file is known to have); each step is a method that can be run on its own,
 * in the order {@link TreePlanner.plan} runs them.
 *
 * @module
 */
import { readFile, lstat, stat } from '../util/fs-promises.js';
import { isGzip } from '../archive/gzip.js';
import { payloadCap, readHead } from '../archive/payload.js';
import { looksLikeZip } from '../archive/zip.js';
import { ErrorCodes, SyncError, throwIfAborted, ioError } from '../core/errors.js';
import type { BlockIndex } from '../core/index/block-index.js';
import { blockLength } from '../core/index/block-index.js';
import { concatIndexes } from '../core/index/concat.js';
import { DEFAULT_MAX_INDEX_BYTES, decodeIndex } from '../core/index/format.js';
import { missingSpansOf } from '../core/matcher.js';
import { isHttpUrl } from '../file/load-index.js';
import { scanLocalFiles } from '../file/local-scan.js';
import type { FoundScan } from '../file/patch-file.js';
import { findTreeChanges, type TreeChanges } from '../localfs/commit-tree.js';
import { fileSha256 } from '../localfs/file-chunks.js';
import { createFilter, folderFilter } from '../localfs/filter.js';
import { partName } from '../localfs/staging.js';
import { TreeRoot } from '../localfs/tree-path.js';
import { sameMtime, walkTree, type LocalTree } from '../localfs/walk.js';
import { forEachLimit } from '../util/limit.js';
import {
  DEFAULT_MAX_MANIFEST_BYTES,
  MODE_MASK,
  decodeManifest,
  objectNames,
  type FileEntry,
  type Manifest,
  type ManifestBase,
  type TreeEntry,
} from './manifest.js';
import { ByteBudget } from './byte-budget.js';
import { manifestFolder, openObjectStore, type ObjectStore } from './object-store.js';
import type { TreeFileAction, TreeFileReport, TreeOptions } from './patch-types.js';

/** Local files hashed at once. */
const HASH_CONCURRENCY = 4;
/** Archives the manifest no longer lists that are inflated as the basis of a renamed one, at most. */
const ARCHIVE_STAND_INS = 2;

/**
 * The largest payload an archive of this kind and size may have, as the publisher bounds
 * it: a zip's payload is at most its size, a gzip's at most {@link payloadCap}. Checked
 * before a payload is written to disk.
 */
export function payloadLimit(archive: { kind: string; size: number }): number {
  return archive.kind === 'zip' ? archive.size : payloadCap(archive.size);
}

/** One content the patch must write, and where it comes from. */
export interface Needed {
  entry: FileEntry;
  /** Other manifest paths with the same content. */
  copies: FileEntry[];
  action: TreeFileAction;
  /** Local path to copy from or apply a delta to. */
  from?: string;
  delta?: ManifestBase;
  /** True when `delta` is one of the entry's `payloadBases`: a delta between payloads, applied to the inflated `from`. */
  payloadDelta?: boolean;
  index?: BlockIndex;
  scan?: FoundScan;
  /**
   * For an archive index (its payload's blocks, docs/archives.md): the local files whose
   * payloads are the basis, the old file at the same path first (patchArchive's `local`),
   * then the seeds. Such a
   * file is not part of the group scan: patchArchive inflates and scans them itself.
   */
  basis?: string[];
  report: TreeFileReport;
}

/** Everything a diff or a patch needs once planning is done. */
export interface TreePlan {
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
export function partPath(entry: FileEntry): string {
  return partName(entry.path, entry.sha256.slice(0, 16));
}

/** Fetches (a URL) or reads (a path) the manifest at `location`, and decodes it. */
export async function loadManifest(location: string, options: TreeOptions): Promise<{ manifest: Manifest; bytes: number }> {
  const maxBytes = options.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES;
  let data: Uint8Array;
  if (isHttpUrl(location)) {
    const { httpGet } = await import('../sources/http/http-get.js');
    data = (
      await httpGet(location, {
        maxBytes,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.headers ? { headers: options.headers } : {}),
        ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
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

/**
 * The most bytes the index of a file of `size` bytes may have: its records at the smallest
 * block (16 B, each with 4 weak and 32 strong bytes: 2.25 bytes per byte) and its published
 * forms fit in 3 bytes per byte and 1 MiB. A folder fetches several indexes at once and
 * keeps them for the patch: so each is bounded by its own file, not by 1 GiB.
 */
export function indexByteLimit(size: number): number {
  return Math.min(DEFAULT_MAX_INDEX_BYTES, (1 << 20) + 3 * size);
}

/**
 * Bytes of block indexes a folder patch buffers at once by default (the fetches of the
 * indexes share it: {@link fetchIndex}): 8 fetches of files up to 10 MiB fit together;
 * an index of a larger file waits for room, one over the whole budget runs alone.
 */
export const DEFAULT_INDEX_BYTES_IN_FLIGHT = 256 * 1024 * 1024;

/** The budget of the index fetches of one patch ({@link DEFAULT_INDEX_BYTES_IN_FLIGHT} unless the options say). */
export function indexBudget(options: Pick<TreeOptions, 'indexBytesInFlight'>): ByteBudget {
  return new ByteBudget(options.indexBytesInFlight ?? DEFAULT_INDEX_BYTES_IN_FLIGHT);
}

/**
 * Fetches and checks the block index of `entry` (it must describe the manifest's content).
 * With `budget`, takes the index's bound ({@link indexByteLimit}) from it before the fetch,
 * and gives back what the body did not use as soon as it is in, the rest once it is decoded.
 */
export async function fetchIndex(
  store: ObjectStore,
  entry: FileEntry,
  signal: AbortSignal | undefined,
  budget?: ByteBudget,
): Promise<{ index: BlockIndex; bytes: number }> {
  const name = objectNames.index(entry.sha256, entry.index!);
  const limit = indexByteLimit(entry.size);
  let held = 0;
  if (budget) {
    await budget.acquire(limit, signal);
    held = Math.min(limit, budget.limit);
  }
  try {
    const data = await store.get(name, limit, signal);
    if (budget && data.length < held) {
      budget.release(held - data.length);
      held = data.length;
    }
    const index = decodeIndex(data);
    // An archive index describes the payload; the archive entry names the published file.
    const archive = index.published?.archive;
    const digest = Buffer.from(archive ? archive.sha256 : index.fileDigest.digest).toString('hex');
    const size = archive ? archive.size : index.fileSize;
    const algorithm = archive ? 'sha256' : index.fileDigest.algorithm;
    // The payload is written to disk before the rebuilt archive is checked: bounded like
    // the publisher bounds it (a zip's payload is its size; a gzip's at most the cap).
    if (archive && index.fileSize > payloadLimit(archive)) {
      throw new SyncError(
        ErrorCodes.INDEX_CORRUPT,
        `Cannot use the index of ${entry.path}: its payload of ${index.fileSize} bytes is larger than its archive allows (${store.name}${name})`,
      );
    }
    if (size !== entry.size || algorithm !== 'sha256' || digest !== entry.sha256) {
      throw new SyncError(
        ErrorCodes.INDEX_CORRUPT,
        `Cannot use the index of ${entry.path}: it describes other content than the manifest lists (${store.name}${name})`,
      );
    }
    return { index, bytes: data.length };
  } finally {
    budget?.release(held);
  }
}

/** Slices one file's part of a scan of concatenated indexes, renumbering the local files it uses. */
export function sliceScan(
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

/**
 * Groups files patched by blocks by block size and strong hash: the indexes of a group
 * can be laid end to end and scanned for at once. Groups keep the order of `byBlocks`.
 */
export function groupByBlockSize(byBlocks: readonly Needed[]): Needed[][] {
  const groups = new Map<string, Needed[]>();
  for (const n of byBlocks) {
    const key = `${n.index!.blockSize}/${n.index!.strongHash.name}`;
    const group = groups.get(key);
    if (group) group.push(n);
    else groups.set(key, [n]);
  }
  return [...groups.values()];
}

/** What {@link TreePlanner} starts from: a decoded manifest, the walked local folder and the store of objects. */
export interface TreePlannerInput {
  manifest: Manifest;
  root: TreeRoot;
  local: LocalTree;
  store: ObjectStore;
  options?: TreeOptions;
}

/** What {@link TreePlanner.plan} found. */
export interface PlannedFiles {
  reports: TreeFileReport[];
  needed: Needed[];
  indexBytes: number;
  changes: TreeChanges;
}

/**
 * Plans a tree patch, step by step. The constructor compares the listing with the local
 * folder (TREE_CONFLICT when a non-empty folder is in the way, without `delete`).
 */
export class TreePlanner {
  readonly #manifest: Manifest;
  readonly #root: TreeRoot;
  readonly #local: LocalTree;
  readonly #store: ObjectStore;
  readonly #options: TreeOptions;
  readonly #wanted: Map<string, TreeEntry>;
  readonly #changes: TreeChanges;
  /** Local paths that are replaced by folders: never read. */
  readonly #replaced: Set<string>;
  /** Parts a stopped run left (tree paths). */
  readonly #parts: Set<string>;
  readonly #reports: TreeFileReport[] = [];
  /** Content known to be in local files: sha256 → local path. */
  readonly #known = new Map<string, string>();
  /** Local files hashed so far: tree path → sha256. */
  readonly #hashed = new Map<string, string>();
  #indexBytes = 0;

  constructor(input: TreePlannerInput) {
    this.#manifest = input.manifest;
    this.#root = input.root;
    this.#local = input.local;
    this.#store = input.store;
    this.#options = input.options ?? {};
    this.#wanted = new Map(input.manifest.entries.map((e) => [e.path, e]));
    this.#changes = findTreeChanges(input.root, input.manifest.entries, input.local, this.#options.delete ? { delete: true } : {});
    this.#replaced = new Set(this.#changes.replaceWithDir);
    this.#parts = new Set(input.local.parts);
  }

  /** Runs every step. */
  async plan(): Promise<PlannedFiles> {
    const changed = this.quickCheck();
    const needFiles = await this.confirmByHash(changed);
    await this.findLocalContent(needFiles);
    const needed = this.chooseSources(needFiles);
    const byBlocks = needed.filter((n) => n.action === 'blocks');
    await this.fetchIndexes(byBlocks);
    const archives = byBlocks.filter((n) => n.index!.published?.archive !== undefined);
    for (const n of archives) n.basis = await this.archiveBasis(n);
    const scanned = byBlocks.filter((n) => n.index!.published?.archive === undefined);
    for (const group of groupByBlockSize(scanned)) await this.scanGroup(group, needFiles);
    return { reports: this.#reports, needed, indexBytes: this.#indexBytes, changes: this.#changes };
  }

  /** The reports so far (files settled by a step get theirs as it settles them). */
  get reports(): readonly TreeFileReport[] {
    return this.#reports;
  }

  /** Content known to be in local files so far: sha256 → local path. */
  get known(): ReadonlyMap<string, string> {
    return this.#known;
  }

  /** Bytes of the block indexes fetched so far. */
  get indexBytes(): number {
    return this.#indexBytes;
  }

  /** What the commit must change besides the staged files. */
  get changes(): TreeChanges {
    return this.#changes;
  }

  #localPath(p: string): string {
    return this.#root.local(p);
  }

  #hashOptions(): { signal?: AbortSignal } {
    return this.#options.signal ? { signal: this.#options.signal } : {};
  }

  /**
   * rsync's quick check: a local file with the manifest's size and mtime is taken as
   * unchanged (its mode may still differ) and not read. Returns the other files.
   */
  quickCheck(): FileEntry[] {
    const changed: FileEntry[] = [];
    for (const e of this.#manifest.entries) {
      if (e.type !== 'file') continue;
      const l = this.#local.entries.get(e.path);
      if (l && l.type === 'file' && l.size === e.size && sameMtime(l.mtimeMs, e.mtime)) {
        this.#known.set(e.sha256, this.#localPath(e.path));
        this.#reports.push({
          path: e.path,
          action: (l.mode & MODE_MASK) !== e.mode ? 'metadata' : 'unchanged',
          size: e.size,
          reusedBytes: e.size,
          fetchBytes: 0,
        });
      } else changed.push(e);
    }
    return changed;
  }

  /**
   * Hashes the local files of `changed` that have the manifest's size (another mtime):
   * those with the manifest's content only need their metadata set. Returns the files
   * whose content is still to be found.
   */
  async confirmByHash(changed: readonly FileEntry[]): Promise<FileEntry[]> {
    const sameSize = changed.filter((e) => {
      const l = this.#local.entries.get(e.path);
      return l?.type === 'file' && l.size === e.size;
    });
    await forEachLimit(
      sameSize,
      HASH_CONCURRENCY,
      async (e) => {
        this.#hashed.set(e.path, (await fileSha256(this.#localPath(e.path), this.#hashOptions())).toString('hex'));
      },
      this.#options.signal,
    );
    const needFiles: FileEntry[] = [];
    for (const e of changed) {
      if (this.#hashed.get(e.path) === e.sha256) {
        this.#known.set(e.sha256, this.#localPath(e.path));
        this.#reports.push({ path: e.path, action: 'metadata', size: e.size, reusedBytes: e.size, fetchBytes: 0 });
      } else needFiles.push(e);
    }
    return needFiles;
  }

  /**
   * Hashes the local files, and the parts a stopped run left, whose size is that of a
   * needed content or of one of its bases, so a renamed or copied file, or a base of a
   * delta, is found wherever it is. A file that vanishes or cannot be read is passed over.
   */
  async findLocalContent(needFiles: readonly FileEntry[]): Promise<void> {
    const sizes = new Set<number>();
    for (const e of needFiles) {
      sizes.add(e.size);
      for (const b of e.bases ?? []) sizes.add(b.size);
      for (const b of e.payloadBases ?? []) sizes.add(b.size);
    }
    const candidates: { path: string; local: string }[] = [];
    for (const l of this.#local.entries.values()) {
      if (l.type !== 'file' || !sizes.has(l.size) || this.#replaced.has(l.path) || this.#hashed.has(l.path)) continue;
      const w = this.#wanted.get(l.path);
      if (w?.type === 'file' && this.#known.get(w.sha256) === this.#localPath(l.path)) continue;
      candidates.push({ path: l.path, local: this.#localPath(l.path) });
    }
    for (const p of this.#local.parts) candidates.push({ path: p, local: this.#localPath(p) });
    await forEachLimit(
      candidates,
      HASH_CONCURRENCY,
      async (c) => {
        try {
          const st = await lstat(c.local);
          if (!st.isFile() || !sizes.has(st.size)) return;
          this.#hashed.set(c.path, (await fileSha256(c.local, this.#hashOptions())).toString('hex'));
        } catch (err) {
          if (SyncError.is(err) && err.code === ErrorCodes.ABORTED) throw err;
        }
      },
      this.#options.signal,
    );
    for (const [p, sha] of this.#hashed) if (!this.#known.has(sha)) this.#known.set(sha, this.#localPath(p));
    await this.#hashSeeds(sizes);
  }

  /** Hashes the seed files (`-i`) of a needed size: their content is copied or is a delta's base like a local file's. */
  async #hashSeeds(sizes: ReadonlySet<number>): Promise<void> {
    await forEachLimit(
      this.#options.seeds ?? [],
      HASH_CONCURRENCY,
      async (seed) => {
        const st = await stat(seed).catch((cause: unknown) => Promise.reject(ioError('read the seed', seed, cause)));
        if (!st.isFile()) throw ioError('read the seed', seed, 'it is not a file');
        if (!sizes.has(st.size)) return;
        const sha = (await fileSha256(seed, this.#hashOptions())).toString('hex');
        if (!this.#known.has(sha)) this.#known.set(sha, seed);
      },
      this.#options.signal,
    );
  }

  /**
   * Decides, once per content, where it comes from, cheapest first: a part a stopped run
   * staged; a local file that has it (`copy`); a published delta from a content a local
   * file has (the smallest); the block index (`blocks`); the whole object. Other paths
   * with the same content are copies of the first. Returns one {@link Needed} per content.
   */
  chooseSources(needFiles: readonly FileEntry[]): Needed[] {
    const byContent = new Map<string, Needed>();
    const needed: Needed[] = [];
    for (const e of needFiles) {
      const same = byContent.get(e.sha256);
      if (same) {
        same.copies.push(e);
        this.#reports.push({ path: e.path, action: 'copy', size: e.size, reusedBytes: e.size, fetchBytes: 0, from: same.entry.path });
        continue;
      }
      const n = this.#chooseSource(e);
      byContent.set(e.sha256, n);
      needed.push(n);
      this.#reports.push(n.report);
    }
    return needed;
  }

  #chooseSource(e: FileEntry): Needed {
    const report: TreeFileReport = { path: e.path, action: 'whole', size: e.size, reusedBytes: 0, fetchBytes: e.br ?? e.size };
    const n: Needed = { entry: e, copies: [], action: 'whole', report };
    const part = partPath(e);
    if (this.#parts.has(part) && this.#hashed.get(part) === e.sha256) {
      n.action = 'resume';
      n.from = this.#localPath(part);
    } else if (this.#known.has(e.sha256) || e.size === 0) {
      n.action = 'copy';
      if (e.size > 0) n.from = this.#known.get(e.sha256)!;
    } else {
      // Deltas between the file's bytes, and for an archive between payloads (the local
      // archive inflated, docs/archives.md): the smallest from a content a local file has.
      const bases = [
        ...(e.bases ?? []).map((b) => ({ b, payload: false })),
        ...(e.index ? (e.payloadBases ?? []) : []).map((b) => ({ b, payload: true })),
      ]
        .filter(({ b }) => this.#known.has(b.sha256))
        .sort((x, y) => x.b.delta - y.b.delta);
      if (bases.length > 0) {
        n.action = 'delta';
        n.delta = bases[0]!.b;
        if (bases[0]!.payload) n.payloadDelta = true;
        n.from = this.#known.get(bases[0]!.b.sha256)!;
      } else if (e.index) n.action = 'blocks';
    }
    report.action = n.action;
    if (n.action === 'copy' || n.action === 'resume') {
      report.reusedBytes = e.size;
      report.fetchBytes = 0;
    } else if (n.action === 'delta') report.fetchBytes = n.delta!.delta;
    if (n.from !== undefined) report.from = n.from;
    return n;
  }

  /**
   * Fetches and checks the block index of each file patched by blocks, `concurrency` at
   * once, the bytes they buffer together within the options' `indexBytesInFlight`.
   */
  async fetchIndexes(byBlocks: readonly Needed[]): Promise<void> {
    const { signal } = this.#options;
    const budget = indexBudget(this.#options);
    await forEachLimit(
      byBlocks,
      this.#options.concurrency ?? 8,
      async (n) => {
        const got = await fetchIndex(this.#store, n.entry, signal, budget);
        this.#indexBytes += got.bytes;
        n.index = got.index;
      },
      signal,
    );
  }

  /**
   * The basis of a file patched by its archive index: the old file at its path (first,
   * whatever is there: what is not an archive of its kind is used as bytes, what is
   * missing as nothing); when there is no file there, up to {@link ARCHIVE_STAND_INS}
   * archives of its kind in the same folder that the manifest no longer lists, closest in
   * size first (a tarball named by its version: `pkg-1.0.tgz` replaced by `pkg-1.1.tgz`);
   * then the seeds. Other local files are not looked into: each is inflated, which costs
   * more than a scan.
   */
  async archiveBasis(n: Needed): Promise<string[]> {
    const e = n.entry;
    const basis = [this.#localPath(e.path)];
    if (this.#local.entries.get(e.path)?.type !== 'file') {
      const kind = n.index!.published!.archive!.kind;
      const folder = e.path.slice(0, e.path.lastIndexOf('/') + 1);
      const candidates = [...this.#local.entries.values()]
        .filter(
          (l) =>
            l.type === 'file' &&
            l.size > 0 &&
            !this.#wanted.has(l.path) &&
            !this.#replaced.has(l.path) &&
            l.path.startsWith(folder) &&
            !l.path.slice(folder.length).includes('/'),
        )
        .sort((a, b) => Math.abs(a.size - e.size) - Math.abs(b.size - e.size));
      for (const l of candidates) {
        if (basis.length > ARCHIVE_STAND_INS) break;
        const head = await readHead(this.#localPath(l.path), 4).catch(() => new Uint8Array(0));
        if (kind === 'gzip' ? isGzip(head) : looksLikeZip(head)) basis.push(this.#localPath(l.path));
      }
    }
    return [...basis, ...(this.#options.seeds ?? [])];
  }

  /**
   * The local files to scan for a group's blocks, as tree paths, in order: the old file at
   * each of the group's paths, the parts a stopped run left, the files the manifest no
   * longer lists, the old files of every other changed path (`needFiles`), then other local
   * files while their bytes fit in `reuseFactor` times the group's.
   */
  scanOrder(group: readonly Needed[], needFiles: readonly FileEntry[]): string[] {
    const paths: string[] = [];
    const seen = new Set<string>();
    const add = (p: string) => {
      if (!seen.has(p)) {
        seen.add(p);
        paths.push(p);
      }
    };
    const isLocalFile = (p: string) => this.#local.entries.get(p)?.type === 'file' && !this.#replaced.has(p);
    for (const n of group) if (isLocalFile(n.entry.path)) add(n.entry.path);
    for (const p of this.#local.parts) add(p);
    for (const l of this.#local.entries.values()) if (l.type === 'file' && !this.#wanted.has(l.path)) add(l.path);
    for (const e of needFiles) if (isLocalFile(e.path)) add(e.path);
    let budget = (this.#options.reuseFactor ?? 4) * group.reduce((a, n) => a + n.entry.size, 0);
    for (const l of this.#local.entries.values()) {
      if (l.type !== 'file' || seen.has(l.path) || this.#replaced.has(l.path) || l.size > budget) continue;
      budget -= l.size;
      add(l.path);
    }
    return paths;
  }

  /** Scans the local files once for all of a group's indexes laid end to end, and gives each file its part of the result. */
  async scanGroup(group: readonly Needed[], needFiles: readonly FileEntry[]): Promise<void> {
    const { signal, threads, onProgress } = this.#options;
    const { index, firstBlock } = concatIndexes(group.map((n) => n.index!));
    const scan = await scanLocalFiles(
      index,
      [...this.scanOrder(group, needFiles).map((p) => this.#localPath(p)), ...(this.#options.seeds ?? [])],
      {
        ...(signal ? { signal } : {}),
        ...(threads !== undefined ? { threads } : {}),
        ...(onProgress ? { onProgress: (p) => onProgress({ phase: 'scan', done: p.done, total: p.total }) } : {}),
      },
    );
    group.forEach((n, k) => {
      n.scan = sliceScan(scan.matcher.foundSource, scan.matcher.foundOffset, scan.files, firstBlock[k]!, n.index!);
    });
  }
}

/**
 * Throws TREE_CONFLICT when the manifest lists an entry where the local folder has a FIFO,
 * a device node or a socket: a folder patch never replaces one (nor opens it),
 * as the single-file patch never writes over one. Checked before anything is fetched or
 * written, so a refused patch leaves the folder as it was.
 */
async function refuseSpecialFiles(root: TreeRoot, manifest: Manifest, local: LocalTree): Promise<void> {
  for (const e of manifest.entries) {
    if (local.entries.get(e.path)?.type !== 'other') continue;
    const path = root.local(e.path);
    const st = await lstat(path).catch(() => undefined);
    const what = st?.isFIFO()
      ? 'a FIFO'
      : st?.isSocket()
        ? 'a socket'
        : st?.isCharacterDevice() || st?.isBlockDevice()
          ? 'a device'
          : 'something else';
    const wanted = e.type === 'dir' ? 'folder' : e.type === 'symlink' ? 'link' : 'file';
    throw new SyncError(
      ErrorCodes.TREE_CONFLICT,
      `Cannot replace ${path}: it is ${what}, not a regular file, and a folder patch never replaces a FIFO, a device or a socket (remove it to let the ${wanted} the manifest lists be put there)`,
      { path },
    );
  }
}

/**
 * Plans a patch of `dir` to the manifest at `location`: opens the store of objects,
 * loads the manifest, walks the folder and runs every {@link TreePlanner} step. The
 * caller closes `store` (closed here when planning fails).
 */
export async function planTree(dir: string, location: string, options: TreeOptions): Promise<TreePlan> {
  const { signal } = options;
  throwIfAborted(signal);
  const store = await openObjectStore(options.contentBase ?? manifestFolder(location), {
    ...(options.connections !== undefined ? { connections: options.connections } : {}),
    ...(options.headers ? { headers: options.headers } : {}),
    ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    ...(options.bytesPerSecond !== undefined ? { bytesPerSecond: options.bytesPerSecond } : {}),
  });
  try {
    const loaded = await loadManifest(location, options);
    const manifestBytes = loaded.bytes;
    // Excluded paths are neither fetched nor, unless deleteExcluded, deleted: they are
    // left out of the manifest and of the local listing (where the folder's own
    // .gosyncignore protects more).
    const fetchFilter = createFilter(options.filter ?? []);
    const manifest = fetchFilter
      ? { ...loaded.manifest, entries: loaded.manifest.entries.filter((e) => !fetchFilter.excludes(e.path, e.type === 'dir')) }
      : loaded.manifest;
    const root = new TreeRoot(dir);
    const keep = options.deleteExcluded
      ? undefined
      : await folderFilter(dir, options.filter, {
          ...(options.ignoreFile === false ? { ignoreFile: false } : {}),
          ...(signal ? { signal } : {}),
        });
    const local = await walkTree(dir, { ...(signal ? { signal } : {}), ...(keep ? { filter: keep } : {}) });
    await refuseSpecialFiles(root, manifest, local);
    const planned = await new TreePlanner({ manifest, root, local, store, options }).plan();
    return { manifest, manifestBytes, root, local, store, ...planned };
  } catch (err) {
    await store.close();
    throw err;
  }
}
