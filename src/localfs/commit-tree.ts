/**
 * The last steps of updating a folder, shared by every way new files arrive (a published
 * tree, a peer over ssh): check for conflicts, make the folders, then move the staged
 * files into place, make links, apply metadata, remove what is not listed (with
 * `delete`), and set folder metadata last.
 *
 * The caller stages each new file first, verified, as a part next to its target (see
 * {@link partName}); until the commit every target is untouched, and each rename replaces
 * one file atomically. Nothing is written through a link: every write checks the folders
 * on its way (see {@link TreeRoot}).
 *
 * @module
 */
import { chmod, lutimes, mkdir, rename, rm, symlink, unlink, utimes } from 'node:fs/promises';
import { relative, sep } from 'node:path';
import { ErrorCodes, SyncError, throwIfAborted, ioError } from '../core/errors.js';
import { type TreeRoot, treeParent } from './tree-path.js';
import { sameMtime, type LocalTree } from './walk.js';

/** What a folder should hold: folders, files, links (as in a manifest; file content aside). */
export type WantedEntry =
  | { type: 'dir'; path: string; mode: number; mtime: number }
  | { type: 'file'; path: string; mode: number; mtime: number }
  | { type: 'symlink'; path: string; target: string; mtime?: number };

/** A new file, staged and verified at tree path `part`, to become `path`. */
export interface StagedFile {
  path: string;
  part: string;
}

/** What the commit must change besides staged files. */
export interface TreeChanges {
  /** Local non-folders where a folder goes (removed before folders are made). */
  replaceWithDir: string[];
  /** Local folders where a file or link goes (removed at commit). */
  dirsToReplace: string[];
  /** Top-most local entries the listing does not have (removed with `delete`). */
  extraneous: string[];
}

/**
 * Compares the listing with the local folder. Throws TREE_CONFLICT when a non-empty
 * local folder stands where a file or link goes and `delete` is off.
 */
export function findTreeChanges(
  root: TreeRoot,
  wanted: readonly WantedEntry[],
  local: LocalTree,
  options: { delete?: boolean } = {},
): TreeChanges {
  const byPath = new Map<string, WantedEntry>(wanted.map((e) => [e.path, e]));
  const changes: TreeChanges = { replaceWithDir: [], dirsToReplace: [], extraneous: [] };
  let nonEmpty: Set<string> | undefined;
  for (const e of wanted) {
    const l = local.entries.get(e.path);
    if (!l) continue;
    if (e.type === 'dir' && l.type !== 'dir') changes.replaceWithDir.push(e.path);
    if (e.type !== 'dir' && l.type === 'dir') {
      // Names the listing skips (not portable tree paths) are content too: count their folders.
      nonEmpty ??= new Set(
        [...local.entries.keys(), ...local.skipped.map((s) => relative(root.root, s).split(sep).join('/'))].map(treeParent),
      );
      if (nonEmpty.has(e.path) && !options.delete) {
        throw new SyncError(
          ErrorCodes.TREE_CONFLICT,
          `Cannot update ${root.local(e.path)}: it is a folder that is not empty, and a ${e.type === 'file' ? 'file' : 'link'} goes there (use --delete to replace it)`,
          { path: root.local(e.path) },
        );
      }
      changes.dirsToReplace.push(e.path);
    }
  }
  for (const p of [...local.entries.keys()].sort()) {
    if (byPath.has(p)) continue;
    const parent = treeParent(p);
    if (parent !== '' && byPath.get(parent)?.type !== 'dir') continue;
    changes.extraneous.push(p);
  }
  return changes;
}

/** Removes a local entry (a folder with everything in it) without following links; a missing one is fine. */
export async function remove(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
  } catch (cause) {
    throw ioError('remove', path, cause);
  }
}

/**
 * Sets the permission bits and the modification time (ms since the epoch) of `path`,
 * following links. Only the permission bits (0o777) of `mode` are applied: a set-id or
 * sticky bit never comes from a manifest or a peer.
 */
export async function setMetadata(path: string, mode: number, mtime: number): Promise<void> {
  await chmod(path, mode & 0o777).catch((cause: unknown) => {
    throw ioError('set the mode of', path, cause);
  });
  await setMtime(path, mtime);
}

/** Sets the modification time (ms since the epoch) of `path`, following links. */
export async function setMtime(path: string, mtime: number): Promise<void> {
  await utimes(path, new Date(), new Date(mtime)).catch((cause: unknown) => {
    throw ioError('set the time of', path, cause);
  });
}

/** Creates the root and every listed folder (removing non-folders in the way), so files can be staged. */
export async function prepareFolders(root: TreeRoot, wanted: readonly WantedEntry[], changes: TreeChanges): Promise<void> {
  await mkdir(root.root, { recursive: true }).catch((cause: unknown) => {
    throw ioError('create the folder', root.root, cause);
  });
  for (const p of changes.replaceWithDir) {
    await root.checkParents(p);
    await remove(root.local(p));
    root.forget(p);
  }
  for (const e of wanted) if (e.type === 'dir') await root.mkdirs(e.path, 0o755);
}

/** Options of {@link commitTree}. */
export interface CommitTreeOptions {
  /** Remove the extraneous entries. */
  delete?: boolean;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Moves every staged file into place (each rename atomic; the part already has its mode
 * and mtime), makes links, fixes the metadata of unchanged files, removes extraneous
 * entries when asked, removes parts and temporary files a stopped run left, and sets
 * folder modes and times, deepest first. Returns the paths removed.
 */
export async function commitTree(
  root: TreeRoot,
  wanted: readonly WantedEntry[],
  local: LocalTree,
  staged: readonly StagedFile[],
  changes: TreeChanges,
  options: CommitTreeOptions = {},
): Promise<{ deleted: string[] }> {
  const { signal } = options;
  const dirsToReplace = new Set(changes.dirsToReplace);
  const stagedPaths = new Set<string>();
  let done = 0;
  for (const s of staged) {
    throwIfAborted(signal);
    await root.checkParents(s.path);
    const target = root.local(s.path);
    if (dirsToReplace.delete(s.path)) await remove(target);
    root.forget(s.path);
    await rename(root.local(s.part), target).catch((cause: unknown) => {
      throw ioError('replace', target, cause);
    });
    stagedPaths.add(s.path);
    options.onProgress?.(++done, staged.length);
  }
  for (const e of wanted) {
    const l = local.entries.get(e.path);
    if (e.type === 'symlink') {
      if (l?.type === 'symlink' && l.target === e.target) continue;
      await root.checkParents(e.path);
      const target = root.local(e.path);
      if (l) await remove(target);
      root.forget(e.path);
      await symlink(e.target, target).catch((cause: unknown) => {
        throw ioError('create the link', target, cause);
      });
      if (e.mtime !== undefined) await lutimes(target, new Date(), new Date(e.mtime)).catch(() => {});
    } else if (e.type === 'file' && !stagedPaths.has(e.path) && l?.type === 'file') {
      // An unchanged file: its metadata, if it differs.
      if ((l.mode & 0o777) === e.mode && sameMtime(l.mtimeMs, e.mtime)) continue;
      await root.checkParents(e.path);
      const target = root.local(e.path);
      // Only the time differs: no chmod, which would drop set-id bits the file may have.
      if ((l.mode & 0o777) !== e.mode) await setMetadata(target, e.mode, e.mtime);
      else await setMtime(target, e.mtime);
    }
  }
  const deleted: string[] = [];
  if (options.delete) {
    for (const p of [...changes.extraneous].reverse()) {
      await root.checkParents(p);
      await remove(root.local(p));
      root.forget(p);
      deleted.push(p);
    }
  }
  // What a stopped run left and this one did not use.
  const used = new Set(staged.map((s) => s.part));
  for (const p of [...local.parts, ...local.temps]) {
    if (used.has(p)) continue;
    await root.checkParents(p).then(
      () => unlink(root.local(p)).catch(() => {}),
      () => {},
    );
  }
  // Folder metadata last (writing inside a folder changes its mtime), deepest first.
  for (const e of [...wanted].sort((a, b) => (a.path < b.path ? 1 : a.path > b.path ? -1 : 0))) {
    if (e.type !== 'dir') continue;
    await root.checkParents(e.path);
    await setMetadata(root.local(e.path), e.mode, e.mtime);
  }
  return { deleted };
}
