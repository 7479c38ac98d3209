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
 * Steps 1 and 2 are `TreePlanner`'s (tree-planner.ts), step 3 `TreeStager`'s
 * (tree-stager.ts), step 4 is here.
 *
 * @module
 */
import { commitTree, prepareFolders } from '../localfs/commit-tree.js';
import { diffFile } from '../file/patch-file.js';
import { planTree, type TreePlan } from './tree-planner.js';
import { TreeStager, stagedFiles } from './tree-stager.js';

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
  const plan = await planTree(dir, location, options);
  let deleted: string[];
  try {
    // Folders first (a file or link in the way of one goes), so parts can be staged.
    await prepareFolders(plan.root, plan.manifest.entries, plan.changes);
    await new TreeStager(plan.root, plan.store, options).stageAll(plan.needed);
    deleted = await commitPlan(plan, options);
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

/** Step 4: renames every staged part over its target, makes links, removes (with `delete`), sets folder metadata. Returns the paths removed. */
async function commitPlan(plan: TreePlan, options: PatchTreeOptions): Promise<string[]> {
  const { signal, onProgress } = options;
  const { deleted } = await commitTree(plan.root, plan.manifest.entries, plan.local, stagedFiles(plan.needed), plan.changes, {
    ...(options.delete ? { delete: true } : {}),
    ...(signal ? { signal } : {}),
    ...(onProgress ? { onProgress: (d: number, t: number) => onProgress({ phase: 'commit', done: d, total: t }) } : {}),
  });
  return deleted;
}
