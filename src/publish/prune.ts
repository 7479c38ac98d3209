/**
 * Pruning a publish folder: removing what no kept manifest or index references, which
 * otherwise accumulates with every version published into the same folder.
 *
 * Which versions are kept. `gosync build` keeps no older manifest: each build replaces
 * `<name>.tree.json` (several names may share one folder and its objects; all are kept),
 * and a single file's index is replaced the same way. What a publish folder does keep of
 * earlier versions is their content, as the bases of the next build's deltas: the
 * contents each manifest entry lists deltas from (build's `--bases`; for an archive, the
 * earlier archives its deltas between payloads are made from), and a single file's
 * `<index>-versions/` (build's `--history`). So everything the current manifests and
 * indexes reference is always kept (clients read it), and `keep` counts versions: the
 * current one and `keep - 1` earlier ones whose content stays as a base (per file, the
 * newest first). Without `keep`, every earlier version the folder records stays, and
 * only what nothing records goes: objects of files no manifest lists any more, indexes,
 * frames and deltas of superseded versions.
 *
 * A build writes its objects before its manifest: an object newer than the oldest
 * manifest (or, beside a single file, than its index) may belong to a build still
 * running, and is left for a later prune (reported as `recent`).
 *
 * @module
 */
import { readdir, rm, rmdir, stat } from '../util/fs-promises.js';
import { ioError, throwIfAborted } from '../core/errors.js';
import { indexDataNames, indexNames, manifestNames, manifestObjects, readManifest, topNames } from './publish-folder.js';
import { builtin } from '../util/builtin.js';

const { join, relative, sep } = builtin('node:path');

/** Options of {@link prunePublishFolder}. */
export interface PruneOptions {
  /**
   * Versions to keep: the current one and `keep - 1` earlier ones as bases of the next
   * build's deltas (default: all the folder records). At least 1.
   */
  keep?: number;
  /** Report what would be removed, removing nothing. */
  dryRun?: boolean;
  signal?: AbortSignal;
}

/** One file removed (or, in a dry run, to remove). */
export interface PrunedFile {
  /** Path relative to the publish folder, `/`-separated. */
  name: string;
  bytes: number;
}

/** What {@link prunePublishFolder} did. */
export interface PruneReport {
  kind: 'tree' | 'file';
  /** The manifests or indexes whose references were kept. */
  kept: string[];
  removed: PrunedFile[];
  /** Bytes freed (to free, in a dry run). */
  bytes: number;
  /** Unreferenced files left because they are newer than a manifest (a build may be writing them). */
  recent: PrunedFile[];
  dryRun: boolean;
  seconds: number;
}

/** A file of the publish folder that no kept version references. */
interface Candidate extends PrunedFile {
  path: string;
  mtimeMs: number;
}

/** Every regular file under `dir` (recursively), with size and mtime; none when it is missing. */
async function filesUnder(root: string, dir: string, signal: AbortSignal | undefined): Promise<Candidate[]> {
  let names: string[];
  try {
    names = await readdir(dir, { recursive: true });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw ioError('read', dir, cause);
  }
  const out: Candidate[] = [];
  for (const n of names) {
    throwIfAborted(signal);
    const path = join(dir, n);
    const st = await stat(path).catch((cause: unknown) => Promise.reject(ioError('read', path, cause)));
    if (st.isFile()) out.push({ path, name: relative(root, path).split(sep).join('/'), bytes: st.size, mtimeMs: st.mtimeMs });
  }
  return out;
}

function checkKeep(keep: number | undefined): void {
  if (keep !== undefined && !(Number.isSafeInteger(keep) && keep >= 1))
    throw new RangeError(`Cannot prune: keep ${keep} is not a positive integer (the current version is always kept)`);
}

/** The unreferenced files of a folder publish: under objects/, not referenced, split by age. */
async function treeCandidates(folder: string, manifests: readonly string[], keep: number, signal: AbortSignal | undefined) {
  const referenced = new Set<string>();
  let oldest = Number.POSITIVE_INFINITY;
  for (const m of manifests) {
    const { manifest, mtimeMs } = await readManifest(folder, m);
    oldest = Math.min(oldest, mtimeMs);
    for (const ref of manifestObjects(manifest, keep - 1)) referenced.add(ref.name);
  }
  const files = (await filesUnder(folder, join(folder, 'objects'), signal)).filter((f) => !referenced.has(f.name));
  return { remove: files.filter((f) => f.mtimeMs <= oldest), recent: files.filter((f) => f.mtimeMs > oldest) };
}

/** Names of the forms a single file's index may have beside it (build-file's names), whether listed or not. */
function isFormOf(name: string, index: string): boolean {
  return name === `${index}z` || name === `${index}.br` || name === `${index}.zst` || name.startsWith(`${index}d-`);
}

/** The unreferenced files of a single-file publish: forms no index lists, versions beyond `keep`. */
async function fileCandidates(
  folder: string,
  names: readonly string[],
  indexes: readonly string[],
  keep: number,
  signal: AbortSignal | undefined,
) {
  const remove: Candidate[] = [];
  const recent: Candidate[] = [];
  const top = await filesUnder(folder, folder, signal);
  for (const index of indexes) {
    const indexTime = (
      await stat(join(folder, index)).catch((cause: unknown) => Promise.reject(ioError('read', join(folder, index), cause)))
    ).mtimeMs;
    const listed = new Set(await indexDataNames(folder, index, signal));
    for (const f of top) {
      if (!names.includes(f.name) || !isFormOf(f.name, index) || listed.has(f.name)) continue;
      (f.mtimeMs > indexTime ? recent : remove).push(f);
    }
    // The history, newest first as build orders it; the newest `keep` stay.
    const versions = (await filesUnder(folder, join(folder, `${index}-versions`), signal))
      .filter((f) => /\/[0-9a-f]{64}$/.test(f.name))
      .sort((a, b) => b.mtimeMs - a.mtimeMs || (a.name < b.name ? -1 : 1));
    remove.push(...versions.slice(keep));
  }
  return { remove, recent };
}

/**
 * Removes from the publish folder `folder` what no kept version references (see the
 * module description): a folder publish's unreferenced objects, or beside single-file
 * indexes the forms they no longer list and history versions beyond `keep`.
 *
 * @example
 * ```ts
 * const r = await prunePublishFolder('public/', { dryRun: true });
 * for (const f of r.removed) console.log(f.name, f.bytes);
 * ```
 */
export async function prunePublishFolder(folder: string, options: PruneOptions = {}): Promise<PruneReport> {
  const started = performance.now();
  const { signal } = options;
  checkKeep(options.keep);
  throwIfAborted(signal);
  const keep = options.keep ?? Number.POSITIVE_INFINITY;
  const names = await topNames(folder);
  const manifests = manifestNames(names);
  const indexes = manifests.length > 0 ? [] : indexNames(names);
  if (manifests.length === 0 && indexes.length === 0)
    throw ioError(
      'prune',
      folder,
      'it holds no manifest (*.tree.json) and no index (*.gosync, *.zsync) at its top: nothing tells what is in use',
    );
  const found =
    manifests.length > 0
      ? await treeCandidates(folder, manifests, keep, signal)
      : await fileCandidates(folder, names, indexes, keep, signal);
  const removed: PrunedFile[] = [];
  for (const f of found.remove.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    throwIfAborted(signal);
    if (!options.dryRun) await rm(f.path, { force: true }).catch((cause: unknown) => Promise.reject(ioError('remove', f.path, cause)));
    removed.push({ name: f.name, bytes: f.bytes });
  }
  if (!options.dryRun)
    await removeEmptyFolders(manifests.length > 0 ? [join(folder, 'objects')] : indexes.map((i) => join(folder, `${i}-versions`)));
  return {
    kind: manifests.length > 0 ? 'tree' : 'file',
    kept: manifests.length > 0 ? manifests : indexes,
    removed,
    bytes: removed.reduce((a, f) => a + f.bytes, 0),
    recent: found.recent.map((f) => ({ name: f.name, bytes: f.bytes })).sort((a, b) => (a.name < b.name ? -1 : 1)),
    dryRun: options.dryRun ?? false,
    seconds: (performance.now() - started) / 1000,
  };
}

/** Removes the shard folders left empty under each of `roots` (the roots themselves stay). */
async function removeEmptyFolders(roots: readonly string[]): Promise<void> {
  for (const root of roots) {
    let subs: string[];
    try {
      subs = (await readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => join(root, d.name));
    } catch {
      continue;
    }
    // rmdir refuses a folder that is not empty: exactly the ones to keep.
    for (const sub of subs) await rmdir(sub).catch(() => {});
  }
}
