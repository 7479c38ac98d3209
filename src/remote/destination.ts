/**
 * What the receiving end writes to: the destination path, confined to a root folder,
 * as it was when the session started (its type, and its listing when it is a folder),
 * and the writes that go through it: folders made before files are staged in them,
 * conflicts refused, and the commit (a tree through {@link commitTree}, a single file or
 * link in place).
 *
 * Nothing is written through a link: every write goes through a {@link TreeRoot}.
 *
 * @module
 */
import type { Stats } from 'node:fs';
import { chmod, lstat, lutimes, mkdir, readdir, readlink, rename, symlink, unlink } from '../util/fs-promises.js';
import { ErrorCodes, SyncError, ioError } from '../core/errors.js';
import {
  APPLIED_MODE_BITS,
  commitTree,
  findTreeChanges,
  newEntryMode,
  prepareFolders,
  remove,
  setMetadata,
  updateFileMetadata,
  type StagedFile,
  type WantedEntry,
} from '../localfs/commit-tree.js';
import { isStagingNameOf, partName } from '../localfs/staging.js';
import { TreeRoot, treeParent } from '../localfs/tree-path.js';
import type { PathFilter } from '../localfs/filter.js';
import { sameMtime, walkTree, type LocalEntry, type LocalTree } from '../localfs/walk.js';
import type { ListEntry } from './wire/file-list.js';
import { builtin } from '../util/builtin.js';

const { basename, join } = builtin('node:path');

/** Where the receiver writes: the destination, confined to a root folder. */
export interface ReceiverTarget {
  /** The folder every write stays in (the server's `--root`, or the destination's parent). */
  container: TreeRoot;
  /** The destination's tree path in `container`; '' when it is the container itself. */
  name: string;
}

/** Options of {@link Destination.open}. */
export interface DestinationOptions {
  /** Remove what the source does not have (and replace non-empty folders). */
  delete?: boolean;
  /** Entries of the destination it excludes are not listed, so never deleted (rsync's excludes on the receiver). */
  filter?: PathFilter | undefined;
  /** The umask new files and folders are masked with (see {@link newEntryMode}); default: none. */
  umask?: number;
  signal?: AbortSignal | undefined;
}

/** Options of {@link Destination.commit}. */
export interface CommitOptions {
  /** The session's tag in part names (parts of other sessions are leftovers). */
  nonce: string;
  /** Check and count only. */
  dryRun: boolean;
  onProgress?: ((done: number, total: number) => void) | undefined;
}

/** The destination of a session, and every write the receiver makes in it. */
export class Destination {
  readonly #container: TreeRoot;
  readonly #name: string;
  /** The destination's local path. */
  readonly path: string;
  /** The destination as the root of a tree (when the source is a folder). */
  readonly #tree: TreeRoot;
  readonly #delete: boolean;
  readonly #umask: number | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #stat: Stats | undefined;
  /** What the destination was when the session started. */
  readonly type: LocalEntry['type'] | undefined;
  /** Its listing under way, when it is a folder. */
  readonly #walking: Promise<LocalTree> | undefined;
  #local: LocalTree | undefined;
  /** The source's root: a folder (a tree) or not (one file or link at the destination). */
  #root: ListEntry | undefined;
  /** Non-folders replaced by folders before the commit (so files could be staged in them). */
  readonly #replacedEarly = new Set<string>();
  /** The destination is a folder (replacing a non-folder), so files can be staged in it. */
  #treeReady = false;
  /** Folders made (with their non-folder ancestors replaced) for staged files. */
  readonly #madeParents = new Set<string>();

  private constructor(target: ReceiverTarget, stat: Stats | undefined, options: DestinationOptions) {
    this.#container = target.container;
    this.#name = target.name;
    this.path = target.name === '' ? target.container.root : target.container.local(target.name);
    this.#tree = new TreeRoot(this.path);
    this.#delete = options.delete ?? false;
    this.#umask = options.umask;
    this.#signal = options.signal;
    this.#stat = stat;
    this.type = typeOf(stat);
    // The listing is needed for a tree, and to tell an empty folder; it runs while the list arrives.
    const walk = { ...(this.#signal ? { signal: this.#signal } : {}), ...(options.filter ? { filter: options.filter } : {}) };
    this.#walking = this.type === 'dir' ? walkTree(this.path, walk) : undefined;
    this.#walking?.catch(() => {});
  }

  /** Looks at the destination (no link on the way to it) and starts listing it if it is a folder. */
  static async open(target: ReceiverTarget, options: DestinationOptions = {}): Promise<Destination> {
    const { container, name } = target;
    const path = name === '' ? container.root : container.local(name);
    if (name !== '') await container.checkParents(name);
    const stat = await lstat(path).catch((cause: unknown) => {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw ioError('read', path, cause);
    });
    return new Destination(target, stat, options);
  }

  /**
   * The source's root is known: the destination's listing is awaited, and a root folder
   * the server is confined to is never replaced by a file or link.
   */
  async setRoot(e: ListEntry): Promise<void> {
    this.#root = e;
    this.#local = this.#walking ? await this.#walking : { entries: new Map(), temps: [], parts: [], skipped: [] };
    if (this.#name === '' && e.type !== 'dir')
      throw new SyncError(
        ErrorCodes.REFUSED,
        `Cannot replace the folder ${this.path} with a ${e.type === 'file' ? 'file' : 'link'}: it is the root the server is confined to`,
        { path: this.path },
      );
  }

  get #fileMode(): boolean {
    return this.#root !== undefined && this.#root.type !== 'dir';
  }

  #listing(): LocalTree {
    if (!this.#local) throw new Error('Cannot use the destination: its root entry is not set');
    return this.#local;
  }

  /** What is at listed path `path` now ('' the destination itself), as the session found it. */
  entry(path: string): LocalEntry | undefined {
    if (path !== '') return this.#listing().entries.get(path);
    const st = this.#stat;
    return st && this.type ? { path: '', type: this.type, size: st.size, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs } : undefined;
  }

  /** The local path of listed path `path`. */
  local(path: string): string {
    return path === '' ? this.path : this.#tree.local(path);
  }

  /** Where entry `path` goes, as a tree path of the root the writes go through. */
  where(path: string): { root: TreeRoot; path: string } {
    return this.#fileMode ? { root: this.#container, path: this.#name } : { root: this.#tree, path };
  }

  /**
   * Refuses to replace a non-empty folder with a file or link (TREE_CONFLICT), unless
   * `delete` is on.
   */
  checkConflict(e: ListEntry): void {
    const l = this.entry(e.path);
    if (l?.type !== 'dir' || e.type === 'dir' || this.#delete) return;
    const local = this.#listing();
    const hasContent = e.path === '' ? local.entries.size > 0 : [...local.entries.keys()].some((p) => p.startsWith(`${e.path}/`));
    if (!hasContent) return;
    const at = this.local(e.path);
    throw new SyncError(
      ErrorCodes.TREE_CONFLICT,
      `Cannot update ${at}: it is a folder that is not empty, and the source has a ${e.type === 'file' ? 'file' : 'link'} there (use --delete to replace it)`,
      { path: at },
    );
  }

  async #mkContainer(): Promise<void> {
    const root = this.#container.root;
    await mkdir(root, { recursive: true }).catch((cause: unknown) => Promise.reject(ioError('create the folder', root, cause)));
  }

  /** Makes the destination a folder (replacing a non-folder), so files can be staged in it. */
  async #ensureTree(): Promise<void> {
    if (this.#treeReady) return;
    await this.#mkContainer();
    const name = this.#name;
    if (name !== '') {
      await this.#container.checkParents(name);
      if (this.type !== undefined && this.type !== 'dir') {
        await remove(this.path);
        this.#container.forget(name);
        this.#replacedEarly.add('');
      }
      await this.#container.mkdirs(name);
    }
    this.#treeReady = true;
  }

  /**
   * Makes the folders above `path` and checks there is no link on the way to its part,
   * replacing non-folders the source has as folders. Returns the part's local path.
   */
  async prepareStaging(path: string, nonce: string): Promise<string> {
    await this.#ensureParents(path);
    const w = this.where(path);
    await w.root.checkParents(w.path);
    return w.root.local(partName(w.path, nonce));
  }

  async #ensureParents(path: string): Promise<void> {
    if (this.#fileMode) {
      await this.#mkContainer();
      const parent = treeParent(this.#name);
      if (parent !== '') await this.#container.mkdirs(parent);
      return;
    }
    await this.#ensureTree();
    const parent = treeParent(path);
    if (parent === '') return;
    const local = this.#listing();
    // Each folder's prefixes once per session (a deep tree costs one look per folder).
    if (this.#madeParents.has(parent)) return;
    for (let i = parent.indexOf('/'); ; i = parent.indexOf('/', i + 1)) {
      const p = i < 0 ? parent : parent.slice(0, i);
      const l = local.entries.get(p);
      if (l && l.type !== 'dir' && !this.#replacedEarly.has(p)) {
        await this.#tree.checkParents(p);
        await remove(this.#tree.local(p));
        this.#tree.forget(p);
        this.#replacedEarly.add(p);
      }
      if (i < 0) break;
    }
    await this.#tree.mkdirs(parent);
    this.#madeParents.add(parent);
  }

  /**
   * Makes the destination the source: `list` is the whole file list, `staged` the parts
   * of the files that changed. Returns the top-most entries `delete` removes (none
   * without it). Throws TREE_CONFLICT before any change when a non-empty folder stands
   * where a file or link goes and `delete` is off. With `dryRun`, only checks and counts.
   */
  async commit(list: readonly ListEntry[], staged: readonly StagedFile[], options: CommitOptions): Promise<string[]> {
    const root = list[0]!;
    if (root.type !== 'dir') {
      if (!options.dryRun) await this.#commitSingle(root, staged[0]?.part, options.nonce);
      return [];
    }
    const wanted = list.slice(1).map(toWanted);
    const local = this.#listing();
    const changes = findTreeChanges(this.#tree, wanted, local, { delete: this.#delete });
    const removed = this.#delete ? changes.extraneous : [];
    if (options.dryRun) return removed;
    const { onProgress } = options;
    onProgress?.(0, staged.length);
    await this.#ensureTree();
    changes.replaceWithDir = changes.replaceWithDir.filter((p) => !this.#replacedEarly.has(p));
    await prepareFolders(this.#tree, wanted, changes);
    await commitTree(this.#tree, wanted, local, staged, changes, {
      delete: this.#delete,
      ...(this.#umask !== undefined ? { umask: this.#umask } : {}),
      ...(this.#signal ? { signal: this.#signal } : {}),
      ...(onProgress ? { onProgress } : {}),
    });
    // The container itself (the server's --root, pushed to as `host:.`) keeps its own mode
    // and times: the folder a session is confined to is not the peer's to change.
    if (this.#name !== '') await setMetadata(this.path, this.type === 'dir' ? root.mode : newEntryMode(root.mode, this.#umask), root.mtime);
    return removed;
  }

  /**
   * Commits a single file or link at the destination: the staged part (or the link)
   * replaces whatever is there; temporary files and parts a stopped run left next to it
   * are removed.
   */
  async #commitSingle(e: ListEntry, part: string | undefined, nonce: string): Promise<void> {
    const container = this.#container;
    const name = this.#name;
    await container.checkParents(name);
    const dest = container.local(name);
    if (e.type === 'file') await this.#placeFile(dest, e, part === undefined ? undefined : container.local(part));
    else {
      const st = await lstat(dest).catch(() => undefined);
      const same = st?.isSymbolicLink() && (await readlink(dest).catch(() => undefined)) === e.target;
      if (!same) {
        if (st) await remove(dest);
        container.forget(name);
        await symlink(e.target!, dest).catch((cause: unknown) => Promise.reject(ioError('create the link', dest, cause)));
      }
      await lutimes(dest, new Date(), new Date(e.mtime)).catch(() => {});
    }
    // What a stopped run left next to it: parts and temporary files of this name.
    const folder = treeParent(name) === '' ? container.root : container.local(treeParent(name));
    const base = basename(dest);
    const mine = partName(base, nonce);
    for (const n of await readdir(folder).catch(() => [] as string[])) {
      if (n !== mine && isStagingNameOf(n, base)) await unlink(join(folder, n)).catch(() => {});
    }
  }

  /** The part renamed over `dest`; without one (unchanged content) the file's metadata set. */
  async #placeFile(dest: string, e: ListEntry, part: string | undefined): Promise<void> {
    if (part !== undefined) {
      const mode = newEntryMode(e.mode, this.#umask);
      // A new file (nothing, or no file, was there) is masked by the umask.
      if (this.type !== 'file' && mode !== (e.mode & APPLIED_MODE_BITS))
        await chmod(part, mode).catch((cause: unknown) => Promise.reject(ioError('set the mode of', part, cause)));
      if (this.type === 'dir') await remove(dest);
      this.#container.forget(this.#name);
      await rename(part, dest).catch((cause: unknown) => Promise.reject(ioError('replace', dest, cause)));
      return;
    }
    const st = await lstat(dest).catch((cause: unknown) => Promise.reject(ioError('read', dest, cause)));
    const sameMode = (st.mode & APPLIED_MODE_BITS) === (e.mode & APPLIED_MODE_BITS);
    // Through a copy when the file has other hard links: they keep their own mode and time.
    if (!sameMode || !sameMtime(st.mtimeMs, e.mtime)) await updateFileMetadata(dest, sameMode ? undefined : e.mode, e.mtime);
  }
}

function typeOf(st: Stats | undefined): LocalEntry['type'] | undefined {
  if (st === undefined) return undefined;
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  return st.isSymbolicLink() ? 'symlink' : 'other';
}

function toWanted(e: ListEntry): WantedEntry {
  if (e.type === 'dir') return { type: 'dir', path: e.path, mode: e.mode, mtime: e.mtime };
  if (e.type === 'file') return { type: 'file', path: e.path, mode: e.mode, mtime: e.mtime };
  return { type: 'symlink', path: e.path, target: e.target!, mtime: e.mtime };
}
