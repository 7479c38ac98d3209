/**
 * Paths inside a tree, and writing under a root folder without ever leaving it.
 *
 * A tree path is relative, `/`-separated, with no empty, `.` or `..` component, no
 * backslash, no NUL and no drive letter: the same rule on every platform, so a manifest
 * that is safe on one system is safe on all. Writing checks, right before each write,
 * that every folder on the way from the root is a real folder (not a symbolic link), so a
 * link (one that was there, or one made earlier in the same run) is never written through.
 *
 * @module
 */
import type { Stats } from 'node:fs';
import { lstat, mkdir } from '../util/fs-promises.js';
import { ErrorCodes, SyncError, ioError } from '../core/errors.js';
import { builtin } from '../util/builtin.js';

const { join, sep } = builtin('node:path');

/** Longest tree path accepted, in characters. */
export const MAX_TREE_PATH = 4096;

/** Longest symbolic link target accepted (a manifest counts characters, the sync protocol UTF-8 bytes). */
export const MAX_LINK_TARGET = 4096;

/** The reason `p` is not a safe tree path, or undefined when it is one. */
export function treePathProblem(p: unknown): string | undefined {
  if (typeof p !== 'string') return 'it is not a string';
  if (p.length === 0) return 'it is empty';
  if (p.length > MAX_TREE_PATH) return `it is longer than ${MAX_TREE_PATH} characters`;
  if (p.includes('\0')) return 'it contains a NUL character';
  if (p.includes('\\')) return 'it contains a backslash';
  if (p.startsWith('/')) return 'it is absolute';
  if (/^[A-Za-z]:/.test(p)) return 'it starts with a drive letter';
  for (const part of p.split('/')) {
    if (part === '') return 'it has an empty component';
    if (part === '.' || part === '..') return `it has a "${part}" component`;
  }
  return undefined;
}

/** Throws UNSAFE_PATH unless `p` is a safe tree path. */
export function checkTreePath(p: unknown, what = 'the path'): asserts p is string {
  const problem = treePathProblem(p);
  if (problem !== undefined) {
    throw new SyncError(ErrorCodes.UNSAFE_PATH, `Cannot use ${what} ${JSON.stringify(p)}: ${problem}`);
  }
}

/** The folder part of a tree path ('' for an entry of the root). */
export function treeParent(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

/**
 * A folder that writes are confined to. `local(p)` maps a checked tree path to the
 * local path; `checkParents(p)` proves no component above `p` is a link or a file.
 *
 * A root remembers the folders it has proved real (checked or made), so a deep tree
 * costs one check per folder, not one per folder per entry below it (1,000 nested
 * folders were a million `lstat` calls). Its own callers tell it ({@link forget}) when
 * they remove or replace something, so a link made in the run is never taken for a
 * folder checked before.
 */
export class TreeRoot {
  readonly root: string;
  /** Tree paths proved to be real folders; every ancestor of one is in it too. */
  readonly #folders: Set<string> | undefined;

  /**
   * `options.remember`: remember the folders found or made real, so each is checked once
   * per root (default true): one `TreeRoot` per run. Off, every check walks from the root
   * again (what a reader that must see links swapped in meanwhile wants).
   */
  constructor(root: string, options: { remember?: boolean } = {}) {
    this.root = root;
    this.#folders = (options.remember ?? true) ? new Set() : undefined;
  }

  /** The local path of tree path `p` (checked). */
  local(p: string): string {
    checkTreePath(p);
    return join(this.root, ...p.split('/'));
  }

  /**
   * `p` (and everything below it) was removed or replaced: its checks no longer hold.
   * Cheap when `p` is not a remembered folder (a file, a link, a folder never checked).
   */
  forget(p: string): void {
    const known = this.#folders;
    if (!known?.has(p)) return;
    const below = `${p}/`;
    for (const k of known) if (k === p || k.startsWith(below)) known.delete(k);
  }

  /** Length of the longest remembered folder among the ancestors of `p` (0: none). */
  #knownPrefix(p: string): number {
    const known = this.#folders;
    if (!known || known.size === 0) return 0;
    for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) if (known.has(p.slice(0, i))) return i;
    return 0;
  }

  /**
   * Throws UNSAFE_PATH if a folder on the way to `p` is a symbolic link or not a folder.
   * Missing folders are fine (they are created by {@link mkdirs}).
   */
  async checkParents(p: string): Promise<void> {
    checkTreePath(p);
    const from = this.#knownPrefix(p);
    const parts = p.slice(from === 0 ? 0 : from + 1).split('/');
    let tree = from === 0 ? '' : p.slice(0, from);
    let at = from === 0 ? this.root : this.root + sep + tree.split('/').join(sep);
    for (let i = 0; i < parts.length - 1; i++) {
      tree = tree === '' ? parts[i]! : `${tree}/${parts[i]}`;
      at = at + sep + parts[i];
      let st: Stats;
      try {
        st = await lstat(at);
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw ioError('check', at, cause);
      }
      if (st.isSymbolicLink()) {
        throw new SyncError(
          ErrorCodes.UNSAFE_PATH,
          `Cannot write ${JSON.stringify(p)}: ${tree} is a symbolic link, and gosync never writes through links`,
          { path: at },
        );
      }
      if (!st.isDirectory()) {
        throw new SyncError(ErrorCodes.UNSAFE_PATH, `Cannot write ${JSON.stringify(p)}: ${tree} is not a folder`, { path: at });
      }
      this.#folders?.add(tree);
    }
  }

  /** Creates folder `p` and the folders above it, refusing to pass through links. */
  async mkdirs(p: string, mode = 0o755): Promise<void> {
    if (this.#folders?.has(p)) return;
    await this.checkParents(p);
    const from = this.#knownPrefix(p);
    const parts = p.slice(from === 0 ? 0 : from + 1).split('/');
    let tree = from === 0 ? '' : p.slice(0, from);
    let at = from === 0 ? this.root : this.root + sep + tree.split('/').join(sep);
    for (const part of parts) {
      tree = tree === '' ? part : `${tree}/${part}`;
      at = at + sep + part;
      try {
        await mkdir(at, { mode });
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw ioError('create the folder', at, cause);
        }
        const st = await lstat(at).catch((c: unknown) => Promise.reject(ioError('check', at, c)));
        if (!st.isDirectory()) {
          throw new SyncError(ErrorCodes.UNSAFE_PATH, `Cannot create the folder ${JSON.stringify(p)}: ${at} exists and is not a folder`, {
            path: at,
          });
        }
      }
      this.#folders?.add(tree);
    }
  }
}
