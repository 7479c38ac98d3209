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
import { chmod, chown, copyFile, lstat, lutimes, mkdir, rename, rm, symlink, unlink, utimes } from '../util/fs-promises.js';
import { ErrorCodes, SyncError, throwIfAborted, ioError } from '../core/errors.js';
import { tempPath } from './staging.js';
import { type TreeRoot, treeParent } from './tree-path.js';
import { sameMtime, type LocalTree } from './walk.js';
import { builtin } from '../util/builtin.js';

const { constants } = builtin('node:fs');
const { relative, sep } = builtin('node:path');

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
 * The bits of a mode from a manifest or a peer that gosync applies: the permission bits
 * and the sticky bit (a shared folder keeps it: `1777` never becomes `0777`). A set-id
 * bit never comes from outside.
 */
export const APPLIED_MODE_BITS = 0o1777;

/**
 * The mode a new entry (a file or folder that was not there) gets: the entry's mode
 * (see {@link APPLIED_MODE_BITS}) less the permission bits `umask` masks, as rsync gives
 * new files (the sticky bit kept). Without `umask`, the entry's mode as it is. An entry
 * that was there takes the entry's mode unmasked (rsync's `--perms`).
 */
export function newEntryMode(mode: number, umask: number | undefined): number {
  const applied = mode & APPLIED_MODE_BITS;
  return umask === undefined ? applied : applied & ~(umask & 0o777);
}

/**
 * Sets the mode and the modification time (ms since the epoch) of `path`, following
 * links. Only {@link APPLIED_MODE_BITS} of `mode` are applied: never a set-id bit.
 */
export async function setMetadata(path: string, mode: number, mtime: number): Promise<void> {
  await chmod(path, mode & APPLIED_MODE_BITS).catch((cause: unknown) => {
    throw ioError('set the mode of', path, cause);
  });
  await setMtime(path, mtime);
}

/**
 * Gives an existing file (unchanged content) mode `mode` (undefined: keep its own) and
 * modification time `mtime`. A file with other hard links is first replaced by a copy of
 * itself (same owner, the copy renamed over it), so its other names, which may be
 * outside the tree, keep their mode and time; rsync would change them through the link.
 */
export async function updateFileMetadata(path: string, mode: number | undefined, mtime: number): Promise<void> {
  const st = await lstat(path).catch((cause: unknown) => Promise.reject(ioError('read', path, cause)));
  if (!st.isFile() || st.nlink <= 1) {
    if (mode !== undefined) await setMetadata(path, mode, mtime);
    else await setMtime(path, mtime);
    return;
  }
  const copy = tempPath(path);
  try {
    await copyFile(path, copy, constants.COPYFILE_EXCL).catch((cause: unknown) => Promise.reject(ioError('copy', path, cause)));
    // Owned as the original was (root may give it away; anyone else owns what they could change).
    await chown(copy, st.uid, st.gid).catch(() => {});
    // chown clears set-id bits: the copy is given the original's mode again, or the new one.
    await chmod(copy, mode === undefined ? st.mode & 0o7777 : mode & APPLIED_MODE_BITS).catch((cause: unknown) =>
      Promise.reject(ioError('set the mode of', copy, cause)),
    );
    await setMtime(copy, mtime);
    await rename(copy, path).catch((cause: unknown) => Promise.reject(ioError('replace', path, cause)));
  } catch (err) {
    await unlink(copy).catch(() => {});
    throw err;
  }
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
  /**
   * The umask new files and folders are masked with (see {@link newEntryMode}); the
   * caller reads it (the CLI: `process.umask()`). Default: no masking.
   */
  umask?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Moves every staged file into place (each rename atomic; the part already has its mode
 * and mtime, masked here for a new file when `umask` is given), makes links, fixes the
 * metadata of unchanged files (through a copy when the file has other hard links, see
 * {@link updateFileMetadata}), removes extraneous entries when asked, removes parts and
 * temporary files a stopped run left, and sets folder modes and times, deepest first
 * (new folders masked by `umask`). Returns the paths removed.
 */
export async function commitTree(
  root: TreeRoot,
  wanted: readonly WantedEntry[],
  local: LocalTree,
  staged: readonly StagedFile[],
  changes: TreeChanges,
  options: CommitTreeOptions = {},
): Promise<{ deleted: string[] }> {
  const { signal, umask } = options;
  const dirsToReplace = new Set(changes.dirsToReplace);
  const stagedPaths = new Set<string>();
  const modes = umask === undefined ? undefined : new Map(wanted.map((e) => [e.path, e.type === 'symlink' ? 0 : e.mode]));
  let done = 0;
  for (const s of staged) {
    throwIfAborted(signal);
    await root.checkParents(s.path);
    const target = root.local(s.path);
    const mode = modes?.get(s.path);
    if (mode !== undefined && local.entries.get(s.path)?.type !== 'file' && newEntryMode(mode, umask) !== (mode & APPLIED_MODE_BITS)) {
      const part = root.local(s.part);
      await chmod(part, newEntryMode(mode, umask)).catch((cause: unknown) => Promise.reject(ioError('set the mode of', part, cause)));
    }
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
      const sameMode = (l.mode & APPLIED_MODE_BITS) === (e.mode & APPLIED_MODE_BITS);
      if (sameMode && sameMtime(l.mtimeMs, e.mtime)) continue;
      await root.checkParents(e.path);
      // Only the time differs: no chmod, which would drop set-id bits the file may have.
      await updateFileMetadata(root.local(e.path), sameMode ? undefined : e.mode, e.mtime);
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
    const mode = local.entries.get(e.path)?.type === 'dir' ? e.mode : newEntryMode(e.mode, umask);
    await setMetadata(root.local(e.path), mode, e.mtime);
  }
  return { deleted };
}
