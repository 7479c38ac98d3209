/**
 * Listing a local folder: every entry below it, with `lstat` metadata, links not
 * followed. gosync's own temporary files are listed apart.
 *
 * @module
 */
import type { Stats } from 'node:fs';
import { lstat, readdir, readlink, stat } from '../util/fs-promises.js';
import { PART_SUFFIX, TEMP_SUFFIX } from './staging.js';
import { ioError, throwIfAborted } from '../core/errors.js';
import { treePathProblem } from './tree-path.js';
import { builtin } from '../util/builtin.js';

const { join } = builtin('node:path');

/** One local entry. */
export interface LocalEntry {
  path: string;
  type: 'dir' | 'file' | 'symlink' | 'other';
  size: number;
  mode: number;
  mtimeMs: number;
  /** For links: the target. */
  target?: string;
}

/** A listed folder. */
export interface LocalTree {
  /** Entries by tree path (the root itself not included). */
  entries: Map<string, LocalEntry>;
  /** Temporary files a stopped run left (`*.gosync-tmp`), by tree path. */
  temps: string[];
  /** Finished files a stopped run staged but did not move into place (`*.gosync-part`), by tree path. */
  parts: string[];
  /** Names gosync cannot carry (not a safe tree path on every platform), by local path. */
  skipped: string[];
}

/** True when two modification times (ms) are equal to the millisecond manifests and peers carry. */
export function sameMtime(a: number, b: number): boolean {
  return Math.abs(a - b) < 1;
}

/** Stat calls in flight while listing. */
const STAT_CONCURRENCY = 64;

/** Options of {@link walkTree}. */
export interface WalkTreeOptions {
  signal?: AbortSignal;
  /** A tree path left out of the listing, with everything below it (not even read). */
  exclude?: string;
  /**
   * Entries this filter excludes are left out; an excluded folder is not read. gosync's
   * temporary and part files are listed whatever it says. (A `PathFilter` of filter.ts.)
   */
  filter?: { excludes(path: string, isDir: boolean): boolean };
}

/**
 * Lists `root` recursively. A missing root gives an empty tree; a root that is not a
 * folder is an IO error.
 */
export async function walkTree(root: string, options: WalkTreeOptions = {}): Promise<LocalTree> {
  const tree: LocalTree = { entries: new Map(), temps: [], parts: [], skipped: [] };
  let rootStat: Stats;
  try {
    // The root is the caller's choice: a link to a folder is followed (links below it never are).
    rootStat = await stat(root);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return tree;
    throw ioError('read the folder', root, cause);
  }
  if (!rootStat.isDirectory()) throw ioError('read the folder', root, 'it is not a folder');
  const pending: string[] = [''];
  while (pending.length > 0) {
    throwIfAborted(options.signal);
    const rel = pending.pop()!;
    const dir = rel === '' ? root : join(root, ...rel.split('/'));
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (cause) {
      throw ioError('read the folder', dir, cause);
    }
    for (let i = 0; i < names.length; i += STAT_CONCURRENCY) {
      await Promise.all(
        names.slice(i, i + STAT_CONCURRENCY).map(async (name) => {
          const path = rel === '' ? name : `${rel}/${name}`;
          if (path === options.exclude) return;
          const local = join(dir, name);
          if (name.endsWith(TEMP_SUFFIX)) {
            tree.temps.push(path);
            return;
          }
          if (name.endsWith(PART_SUFFIX)) {
            tree.parts.push(path);
            return;
          }
          if (treePathProblem(path) !== undefined) {
            tree.skipped.push(local);
            return;
          }
          let st: Stats;
          try {
            st = await lstat(local);
          } catch (cause) {
            if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return;
            throw ioError('read', local, cause);
          }
          const type = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : 'other';
          if (options.filter?.excludes(path, type === 'dir')) return;
          const entry: LocalEntry = { path, type, size: st.size, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs };
          if (type === 'symlink') {
            try {
              entry.target = await readlink(local);
            } catch (cause) {
              // Removed since the lstat: as if it had never been listed.
              if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return;
              throw ioError('read the link', local, cause);
            }
          }
          tree.entries.set(path, entry);
          if (type === 'dir') pending.push(path);
        }),
      );
    }
  }
  return tree;
}
