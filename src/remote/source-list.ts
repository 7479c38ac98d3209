/**
 * Listing what the sending end sends: the source itself first (a file, a folder or a
 * link, never followed), then for a folder every entry below it, folder by folder in
 * name order, so each folder comes before what it holds.
 *
 * @module
 */
import { lstat, readlink } from '../util/fs-promises.js';
import { ioError } from '../core/errors.js';
import { type FilterRule, folderFilter } from '../localfs/filter.js';
import { treeParent } from '../localfs/tree-path.js';
import { walkTree } from '../localfs/walk.js';
import type { ListEntry } from './wire/file-list.js';
import { builtin } from '../util/builtin.js';

const { join } = builtin('node:path');

/** A listed entry and where it is. */
export interface SourceEntry extends ListEntry {
  local: string;
}

/** The source, listed. */
export interface SourceList {
  entries: SourceEntry[];
  /** Local paths that cannot be sent (not a file, folder or link; a name that is not a portable tree path). */
  skipped: string[];
  /** Where each folder's entries end in `entries`. */
  groups: number[];
}

/** The bytes of the files of a list. */
export function listedBytes(list: SourceList): number {
  let n = 0;
  for (const e of list.entries) n += e.size;
  return n;
}

/**
 * Lists the source: itself first, then (for a folder) every entry, folder by folder in
 * name order. Entries `rules` exclude are left out, then those the folder's own
 * `.gosyncignore` excludes (localfs/filter.ts: the first rule that matches decides).
 */
export async function listSource(source: string, signal?: AbortSignal, rules: readonly FilterRule[] = []): Promise<SourceList> {
  const st = await lstat(source).catch((cause: unknown) => Promise.reject(ioError('read', source, cause)));
  const base = { path: '', mode: st.mode & 0o1777, mtime: Math.round(st.mtimeMs), size: 0, local: source };
  if (st.isFile()) return { entries: [{ ...base, type: 'file', size: st.size }], skipped: [], groups: [1] };
  if (st.isSymbolicLink())
    return {
      entries: [
        {
          ...base,
          type: 'symlink',
          target: await readlink(source).catch((c: unknown) => Promise.reject(ioError('read the link', source, c))),
        },
      ],
      skipped: [],
      groups: [1],
    };
  if (!st.isDirectory()) throw ioError('send', source, new Error('it is not a file, a folder or a link'));
  const filter = await folderFilter(source, rules, signal ? { signal } : {});
  const tree = await walkTree(source, { ...(signal ? { signal } : {}), ...(filter ? { filter } : {}) });
  const skipped = [...tree.skipped];
  const children = new Map<string, string[]>();
  for (const e of tree.entries.values()) {
    if (e.type === 'other') {
      skipped.push(join(source, ...e.path.split('/')));
      continue;
    }
    const parent = treeParent(e.path);
    const list = children.get(parent);
    if (list) list.push(e.path);
    else children.set(parent, [e.path]);
  }
  const entries: SourceEntry[] = [{ ...base, type: 'dir' }];
  /** Where each folder's batch ends in `entries`. */
  const groups: number[] = [1];
  const visit = (dir: string): void => {
    const names = (children.get(dir) ?? []).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const p of names) {
      const e = tree.entries.get(p)!;
      const entry: SourceEntry = {
        path: p,
        type: e.type as ListEntry['type'],
        mode: e.mode & 0o1777,
        mtime: Math.round(e.mtimeMs),
        size: e.type === 'file' ? e.size : 0,
        local: join(source, ...p.split('/')),
      };
      if (e.type === 'symlink') entry.target = e.target!;
      entries.push(entry);
    }
    groups.push(entries.length);
    for (const p of names) if (tree.entries.get(p)!.type === 'dir') visit(p);
  };
  visit('');
  return { entries, skipped, groups };
}
