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
import { diffArchive } from '../file/patch-archive.js';
import { planTree, type TreePlan } from './tree-planner.js';
import { TreeStager, stagedFiles } from './tree-stager.js';
import type { PatchTreeOptions, TreeDiffReport, TreeFileReport, TreeOptions, TreePatchReport } from './patch-types.js';

export type {
  PatchTreeOptions,
  TreeDiffReport,
  TreeFileAction,
  TreeFileReport,
  TreeOptions,
  TreePatchReport,
  TreeProgress,
} from './patch-types.js';

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

/** `deleteExcluded` implies `delete`, as rsync's `--delete-excluded` does. */
function normalized<O extends TreeOptions>(options: O): O {
  return options.deleteExcluded && !options.delete ? { ...options, delete: true } : options;
}

function sortReports(reports: TreeFileReport[]): TreeFileReport[] {
  return reports.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Lists, per file, what a patch of `dir` to the manifest at `location` would reuse and
 * fetch. Fetches the manifest and the block indexes it needs; writes nothing.
 */
export async function diffTree(dir: string, location: string, given: TreeOptions = {}): Promise<TreeDiffReport> {
  const options = normalized(given);
  const plan = await planTree(dir, location, options);
  try {
    for (const n of plan.needed) {
      if (n.action !== 'blocks') continue;
      // An archive index is compared with the payloads of the old file and the seeds.
      const [local, ...seeds] = n.basis ?? [plan.root.local(n.entry.path)];
      const d = n.basis
        ? await diffArchive({
            local: local!,
            index: n.index!,
            ...(seeds.length > 0 ? { seeds } : {}),
            ...(options.signal ? { signal: options.signal } : {}),
          })
        : await diffFile({
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
export async function patchTree(dir: string, location: string, given: PatchTreeOptions = {}): Promise<TreePatchReport> {
  const started = performance.now();
  const options = normalized(given);
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
    ...(options.umask !== undefined ? { umask: options.umask } : {}),
    ...(signal ? { signal } : {}),
    ...(onProgress ? { onProgress: (d: number, t: number) => onProgress({ phase: 'commit', done: d, total: t }) } : {}),
  });
  return deleted;
}
