/**
 * Publishing a folder: `buildTree(dir, out)` writes, under `out`, the content of every
 * file under its SHA-256 (`objects/ab/abcd…`), a block index for files of 16 KiB and
 * more, compressed forms and deltas from earlier versions when asked for, and then the
 * manifest (`<name>.tree.json`), which replaces the previous one atomically. A gzip file
 * or zip archive whose payload rebuilds it gets its payload's index instead, the payload
 * beside it (docs/archives.md). Objects
 * already there (unchanged files, or content shared between versions) are not written
 * again, so publishing a new version costs about the size of what changed.
 *
 * The steps: {@link publishFolders} resolves the folders (refusing the published folder
 * itself as publish folder), {@link listTree} lists what to publish, a
 * {@link TreePublisher} stores each file's content, index or brotli stream and deltas,
 * and the manifest is written last.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, realpath, rename, stat, unlink, writeFile } from '../util/fs-promises.js';
import { brotliCompress } from 'node:zlib';
import { ErrorCodes, SyncError, throwIfAborted, ioError } from '../core/errors.js';
import { isGzip } from '../archive/gzip.js';
import { readHead, scratchFor } from '../archive/payload.js';
import { buildArchiveFile } from '../file/build-archive.js';
import { PUBLISH_DEFAULTS, type BuildFileOptions, buildIndexFile } from '../file/build-file.js';
import { brotliParams } from '../forms/compressed-forms.js';
import { writeBaseDelta } from '../forms/base-delta.js';
import { AtomicFile } from '../localfs/atomic-file.js';
import { fileChunks } from '../localfs/file-chunks.js';
import { tempPath } from '../localfs/staging.js';
import { forEachLimit } from '../util/limit.js';
import {
  MANIFEST_VERSION,
  MODE_MASK,
  decodeManifest,
  encodeManifest,
  objectNames,
  type FileEntry,
  type Manifest,
  type ManifestBase,
  type TreeEntry,
} from './manifest.js';
import { type FilterRule, type PathFilter, folderFilter } from '../localfs/filter.js';
import { sameMtime, walkTree } from '../localfs/walk.js';
import { builtin } from '../util/builtin.js';

const { basename, dirname, isAbsolute, join, relative, sep } = builtin('node:path');
const { promisify } = builtin('node:util');

/** Options of {@link buildTree}. */
export interface BuildTreeOptions {
  /** Manifest name: `<out>/<name>.tree.json` (default: the folder's name). */
  name?: string;
  /**
   * Also publish compressed forms and deltas from earlier versions (default false): each
   * large file's index with its forms (build-file's `PUBLISH_DEFAULTS`: zstd frames;
   * incompressible files get none), each small file's brotli stream. The CLI passes true unless
   * `--no-compress`.
   */
  compress?: boolean;
  /** zstd level of the large files' frames (default: build-file's, by file size). The CLI passes `--level`. */
  level?: number;
  /**
   * Earlier versions to publish deltas from, per changed file (default 2: the version the
   * manifest being replaced lists, and the one before). Needs `compress`.
   */
  bases?: number;
  /** Hash every file, even when size and mtime match the previous manifest (rsync's `--checksum`). */
  checksum?: boolean;
  /**
   * Look inside gzip files and zip archives of 16 KiB and more (default true), by content:
   * one whose payload rebuilds it byte for byte gets an archive index (format version 4:
   * blocks over its payload, the payload published beside the index; docs/archives.md),
   * so a patch moves what changed inside it. False indexes every file as opaque bytes.
   */
  archives?: boolean;
  /**
   * Paths left out of the manifest: excludes and includes, first match decides
   * (localfs/filter.ts). The folder's own `.gosyncignore` applies after them.
   */
  filter?: readonly FilterRule[];
  /** Read the folder's `.gosyncignore` (default true). */
  ignoreFile?: boolean;
  /** Files processed at once (default 16). */
  concurrency?: number;
  /** Worker threads for hashing large files (default: every core). */
  threads?: number;
  signal?: AbortSignal;
  /** Called after each file with the counts so far. */
  onProgress?: (done: number, total: number) => void;
}

/** What publishing wrote. */
export interface BuildTreeReport {
  /** Path of the manifest written. */
  manifest: string;
  files: number;
  dirs: number;
  symlinks: number;
  /** Bytes of all files in the tree. */
  bytes: number;
  /** Files whose content was new to the publish folder. */
  newFiles: number;
  /** Bytes written under objects/ (content, indexes, compressed forms, deltas). */
  objectBytes: number;
  /** Bytes of the manifest. */
  manifestBytes: number;
  /** Local entries left out (special files, names that are not portable tree paths). */
  skipped: string[];
  seconds: number;
}

/** Files at least this large get a block index; smaller ones are always fetched whole. */
export const TREE_INDEX_MIN = 16 * 1024;
/** Brotli quality of small files' whole streams and of deltas (deltas up to 32 MiB of base). */
const BEST = 11;

const compress = promisify(brotliCompress);

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Copies `input` into the object store under its SHA-256 (one read); returns the hash. */
async function storeContent(
  input: string,
  out: string,
  signal: AbortSignal | undefined,
): Promise<{ sha256: string; size: number; written: boolean }> {
  const tmpDir = join(out, 'objects');
  await makeFolder(tmpDir);
  const temp = await AtomicFile.create(join(tmpDir, `incoming-${randomBytes(8).toString('hex')}`));
  const h = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of fileChunks(input, signal ? { signal } : {})) {
      h.update(chunk);
      size += chunk.length;
      await temp.write(chunk);
    }
    const sha256 = h.digest('hex');
    const target = join(out, objectNames.content(sha256));
    if (await exists(target)) {
      await temp.abort();
      return { sha256, size, written: false };
    }
    await makeFolder(dirname(target));
    // Commit to the hash name: AtomicFile renames its temporary file onto `target`.
    await temp.commit();
    await rename(temp.target, target).catch(async (cause: unknown) => {
      await unlink(temp.target).catch(() => {});
      throw ioError('store', target, cause);
    });
    return { sha256, size, written: true };
  } catch (err) {
    await temp.abort();
    throw err;
  }
}

/**
 * Files up to this size are read whole and stored with fewer system calls (a folder of
 * 10,000 small files published in 15 s with the streaming path; see the commit message).
 */
const SMALL_FILE = 1024 * 1024;
/** Files from this size on use worker threads for hashing (build-file.ts): one at a time. */
const BIG_FILE = 16 * 1024 * 1024;

/** {@link storeContent} for a small file: one read, and the shard folder made once. */
async function storeSmall(input: string, out: string, shards: Set<string>): Promise<{ sha256: string; size: number; written: boolean }> {
  let data: Buffer;
  try {
    data = await readFile(input);
  } catch (cause) {
    throw ioError('read', input, cause);
  }
  const sha256 = createHash('sha256').update(data).digest('hex');
  const target = join(out, objectNames.content(sha256));
  if (await exists(target)) return { sha256, size: data.length, written: false };
  const shard = dirname(target);
  if (!shards.has(shard)) {
    await makeFolder(shard);
    shards.add(shard);
  }
  const temp = tempPath(target);
  try {
    await writeFile(temp, data, { mode: 0o644 });
    await rename(temp, target);
  } catch (cause) {
    await unlink(temp).catch(() => {});
    throw ioError('store', target, cause);
  }
  return { sha256, size: data.length, written: true };
}

/** Reads the manifest a previous build left at `path`, if any. */
async function previousManifest(path: string): Promise<Manifest | undefined> {
  let data: Uint8Array;
  try {
    data = await readFile(path);
  } catch {
    return undefined;
  }
  return decodeManifest(data);
}

/** The size of a published object. */
async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (cause) {
    throw ioError('read', path, cause);
  }
}

/** Makes folder `path` (and its parents). */
async function makeFolder(path: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true });
  } catch (cause) {
    throw ioError('create the folder', path, cause);
  }
}

/** The folders of a build: the published one, resolved, and where the manifest goes. */
export interface PublishFolders {
  /** The published folder, links resolved. */
  root: string;
  /** The publish folder's tree path when it is inside the published folder (left out of the listing). */
  excluded?: string;
  manifestPath: string;
}

/**
 * Resolves the published folder and makes the publish folder. The publish folder may sit
 * inside the published one (it is left out of the listing) or anywhere else, but is not
 * the published folder itself, where the manifest would list its own objects and grow
 * every build: refused (REFUSED).
 */
export async function publishFolders(dir: string, out: string, name?: string): Promise<PublishFolders> {
  let root: string;
  let isFolder: boolean;
  try {
    root = await realpath(dir);
    isFolder = (await stat(root)).isDirectory();
  } catch (cause) {
    throw ioError('publish the folder', dir, cause);
  }
  if (!isFolder) throw ioError('publish the folder', dir, 'not a folder');
  const manifestName = name ?? (basename(root) || 'tree');
  if (manifestName.includes('/') || manifestName.includes(sep) || manifestName.startsWith('.'))
    throw new RangeError(`Cannot publish: the name "${manifestName}" is not a plain file name`);
  await mkdir(out, { recursive: true }).catch((cause: unknown) => {
    throw ioError('create the publish folder', out, cause);
  });
  let outReal: string;
  try {
    outReal = await realpath(out);
  } catch (cause) {
    throw ioError('open the publish folder', out, cause);
  }
  const inside = relative(root, outReal);
  if (inside === '') {
    throw new SyncError(
      ErrorCodes.REFUSED,
      `Cannot publish ${dir} into ${out}: it is the published folder itself (publish into another folder, or one inside it)`,
      { path: out },
    );
  }
  const outside = inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside);
  const manifestPath = join(out, `${manifestName}.tree.json`);
  return outside ? { root, manifestPath } : { root, excluded: inside.split(sep).join('/'), manifestPath };
}

/** A file of the published folder, as walked. */
export interface ListedFile {
  path: string;
  size: number;
  mode: number;
  mtime: number;
}

/** The published folder's listing: folders and links as manifest entries, the files to publish, what is left out. */
export interface TreeListing {
  entries: TreeEntry[];
  files: ListedFile[];
  skipped: string[];
}

/**
 * Walks the published folder (leaving `excluded` out, and what `filter` excludes), sorted
 * by path; special files are skipped.
 */
export async function listTree(
  root: string,
  excluded: string | undefined,
  signal: AbortSignal | undefined,
  filter?: PathFilter,
): Promise<TreeListing> {
  const tree = await walkTree(root, {
    ...(signal ? { signal } : {}),
    ...(excluded !== undefined ? { exclude: excluded } : {}),
    ...(filter ? { filter } : {}),
  });
  const skipped = [...tree.skipped];
  const entries: TreeEntry[] = [];
  const files: ListedFile[] = [];
  for (const e of [...tree.entries.values()].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    const mtime = Math.round(e.mtimeMs);
    if (e.type === 'dir') entries.push({ type: 'dir', path: e.path, mode: e.mode & MODE_MASK, mtime });
    else if (e.type === 'symlink') entries.push({ type: 'symlink', path: e.path, target: e.target!, mtime });
    else if (e.type === 'file') files.push({ path: e.path, size: e.size, mode: e.mode & MODE_MASK, mtime });
    else skipped.push(join(root, ...e.path.split('/')));
  }
  return { entries, files, skipped };
}

/**
 * Publishes the files of a folder into the publish folder `out`: content, block index or
 * small file's brotli stream, and deltas from the versions the previous manifest lists.
 * Counts what it writes.
 */
export class TreePublisher {
  readonly #root: string;
  readonly #out: string;
  readonly #options: BuildTreeOptions;
  readonly #prevFiles = new Map<string, FileEntry>();
  readonly #compress: boolean;
  readonly #maxBases: number;
  /** Shard folders known to exist. */
  readonly #shards = new Set<string>();
  /** Large files one at a time: each is hashed (and compressed) on every core already. */
  #bigChain: Promise<unknown> = Promise.resolve();
  /**
   * Deltas between payloads one at a time: each holds both payloads in memory (22.5 MB
   * each for typescript's tarball) and encodes on every core already.
   */
  #payloadChain: Promise<unknown> = Promise.resolve();
  #done = 0;
  /** Files whose content was new to the publish folder. */
  newFiles = 0;
  /** Bytes written under objects/. */
  objectBytes = 0;

  constructor(root: string, out: string, previous: Manifest | undefined, options: BuildTreeOptions = {}) {
    this.#root = root;
    this.#out = out;
    this.#options = options;
    for (const e of previous?.entries ?? []) if (e.type === 'file') this.#prevFiles.set(e.path, e);
    this.#compress = options.compress ?? false;
    this.#maxBases = this.#compress ? (options.bases ?? 2) : 0;
  }

  #objectFile(rel: string): string {
    return join(this.#out, ...rel.split('/'));
  }

  /** Publishes every file, `concurrency` at once (large ones one at a time); returns their entries in the same order. */
  async publishAll(files: readonly ListedFile[]): Promise<FileEntry[]> {
    const entries: FileEntry[] = new Array(files.length);
    await forEachLimit(
      files,
      this.#options.concurrency ?? 16,
      async (f, i) => {
        entries[i] = f.size >= BIG_FILE ? await this.#oneBig(() => this.publishFile(f)) : await this.publishFile(f);
        this.#options.onProgress?.(++this.#done, files.length);
      },
      this.#options.signal,
    );
    return entries;
  }

  #oneBig<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#bigChain.then(fn);
    this.#bigChain = next.catch(() => {});
    return next;
  }

  /** Publishes one file: its content, then its index or brotli stream, then its deltas. */
  async publishFile(f: ListedFile): Promise<FileEntry> {
    const before = this.#prevFiles.get(f.path);
    const sha256 = await this.storeFile(f, before);
    const content = this.#objectFile(objectNames.content(sha256));
    const entry: FileEntry = { type: 'file', path: f.path, size: f.size, mode: f.mode, mtime: f.mtime, sha256 };
    let archive: 'gzip' | 'zip' | undefined;
    if (f.size >= TREE_INDEX_MIN) {
      const index = await this.publishIndex(sha256, content);
      entry.index = index.kind;
      archive = index.archive;
      // A gzip file published by its payload gets deltas between payloads, as a single
      // file built with --base does: the manifest names them (payloadBases).
      if (this.#maxBases > 0 && before && archive === 'gzip') {
        const payload = `${this.#objectFile(objectNames.index(sha256, index.kind))}u`;
        const bases = await this.publishPayloadDeltas(entry, before, payload);
        if (bases.length > 0) entry.payloadBases = bases;
      }
    } else if (this.#compress && f.size > 0) {
      const br = await this.publishBrotli(sha256, content, f.size);
      if (br < f.size) entry.br = br;
    }
    // A gzip file gets no deltas between its versions' bytes: little is shared after the
    // first change (its deltas are between payloads, above). A zip's bytes differ from its
    // payload only by its directory's offsets: its deltas are kept, and a client without a
    // base patches by the payload's blocks.
    if (this.#maxBases > 0 && before && archive !== 'gzip') {
      const bases = await this.publishDeltas(entry, before, content);
      if (bases.length > 0) entry.bases = bases.slice(0, Math.max(this.#maxBases, 1));
    }
    return entry;
  }

  /**
   * The content's SHA-256, stored under it unless already there. rsync's quick check: a
   * file with the size and mtime the previous manifest lists, whose content is published,
   * is not read (unless `checksum`).
   */
  async storeFile(f: ListedFile, before: FileEntry | undefined): Promise<string> {
    if (
      !this.#options.checksum &&
      before &&
      before.size === f.size &&
      sameMtime(before.mtime, f.mtime) &&
      (await exists(this.#objectFile(objectNames.content(before.sha256))))
    ) {
      return before.sha256;
    }
    const input = join(this.#root, ...f.path.split('/'));
    const stored =
      f.size <= SMALL_FILE ? await storeSmall(input, this.#out, this.#shards) : await storeContent(input, this.#out, this.#options.signal);
    if (stored.size !== f.size)
      throw new SyncError(ErrorCodes.SOURCE_CHANGED, `Cannot publish ${input}: it changed while it was read`, { path: input });
    if (stored.written) {
      this.newFiles++;
      this.objectBytes += stored.size;
    }
    return stored.sha256;
  }

  /**
   * Writes the block index of a content (with compressed forms when `compress`) unless
   * already there; returns its kind, and whether it is an archive index. An archive
   * (gzip, zip) whose payload rebuilds it gets the index of its payload, with the payload
   * beside it (`<index>u`) and, with `compress`, the payload's frames.
   */
  async publishIndex(sha256: string, content: string): Promise<{ kind: 'plain' | 'compressed'; archive?: 'gzip' | 'zip' }> {
    const kind = this.#compress ? 'compressed' : 'plain';
    const indexPath = this.#objectFile(objectNames.index(sha256, kind));
    if (await exists(indexPath)) {
      if (!(await exists(`${indexPath}u`))) return { kind };
      return { kind, archive: isGzip(await readHead(content, 3)) ? 'gzip' : 'zip' };
    }
    await makeFolder(dirname(indexPath));
    const options: BuildFileOptions = {
      ...(this.#compress
        ? { compress: { ...PUBLISH_DEFAULTS, ...(this.#options.level !== undefined ? { level: this.#options.level } : {}) } }
        : {}),
      ...(this.#options.threads !== undefined ? { threads: this.#options.threads } : {}),
      ...(this.#options.signal ? { signal: this.#options.signal } : {}),
    };
    if (this.#options.archives === false) {
      const r = await buildIndexFile(content, indexPath, options);
      this.objectBytes += r.indexBytes + (r.frames?.bytes ?? 0) + (r.whole?.bytes ?? 0);
      return { kind };
    }
    const r = await buildArchiveFile(content, indexPath, options);
    const archive = r.archive?.reproduced === true ? r.archive.kind : undefined;
    this.objectBytes += r.indexBytes + (r.frames?.bytes ?? 0) + (r.whole?.bytes ?? 0) + (archive ? r.fileSize : 0);
    return { kind, ...(archive ? { archive } : {}) };
  }

  /** Writes a small content as one brotli stream unless already there; returns the stream's size. */
  async publishBrotli(sha256: string, content: string, size: number): Promise<number> {
    const brPath = this.#objectFile(objectNames.brotli(sha256));
    if (await exists(brPath)) return sizeOf(brPath);
    let data: Buffer;
    try {
      data = await readFile(content);
    } catch (cause) {
      throw ioError('read', content, cause);
    }
    const z = await compress(data, { params: brotliParams(BEST, size) });
    const temp = tempPath(brPath);
    try {
      await writeFile(temp, z);
      await rename(temp, brPath);
    } catch (cause) {
      await unlink(temp).catch(() => {});
      throw ioError('store', brPath, cause);
    }
    this.objectBytes += z.length;
    return z.length;
  }

  /**
   * The deltas worth listing for `entry`: from the previous version and the versions it had
   * deltas from (their content is in the object store), written unless already there, and
   * kept only when smaller than fetching the file whole. Unchanged content keeps its list.
   */
  async publishDeltas(entry: FileEntry, before: FileEntry, content: string): Promise<ManifestBase[]> {
    if (before.sha256 === entry.sha256) return [...(before.bases ?? [])];
    const bases: ManifestBase[] = [];
    const candidates = [{ sha256: before.sha256, size: before.size }, ...(before.bases ?? [])].slice(0, this.#maxBases);
    for (const b of candidates) {
      if (b.sha256 === entry.sha256 || b.size === 0) continue;
      const baseObject = this.#objectFile(objectNames.content(b.sha256));
      if (!(await exists(baseObject))) continue;
      const deltaPath = this.#objectFile(objectNames.delta(entry.sha256, b.sha256, 'gosync'));
      let delta: number;
      if (await exists(deltaPath)) delta = await sizeOf(deltaPath);
      else {
        const r = await writeBaseDelta(baseObject, content, this.#objectFile(objectNames.deltaPrefix(entry.sha256, 'gosync')), {
          level: BEST,
          ...(this.#options.signal ? { signal: this.#options.signal } : {}),
        });
        delta = r.size;
        this.objectBytes += delta;
      }
      if (delta < (entry.br ?? entry.size)) bases.push({ sha256: b.sha256, size: b.size, delta, codec: 'gosync' });
    }
    return bases;
  }

  /**
   * The deltas between payloads worth listing for `entry`, a gzip file published by its
   * payload (at `payload`): from the previous version and the versions it had such deltas
   * from (their content is in the object store, inflated here as a client inflates its
   * old file), written unless already there (`objectNames.payloadDelta`), and kept only
   * when smaller than the archive. Made as a single file's `--base` deltas are
   * (writeBaseDelta: the same kinds, each checked by applying it). Unchanged content keeps
   * its list; a base that is not a gzip file gets none.
   */
  async publishPayloadDeltas(entry: FileEntry, before: FileEntry, payload: string): Promise<ManifestBase[]> {
    if (before.sha256 === entry.sha256) return [...(before.payloadBases ?? [])];
    const bases: ManifestBase[] = [];
    const candidates = [{ sha256: before.sha256, size: before.size }, ...(before.payloadBases ?? [])].slice(0, this.#maxBases);
    for (const b of candidates) {
      if (b.sha256 === entry.sha256 || b.size === 0 || bases.some((o) => o.sha256 === b.sha256)) continue;
      const baseObject = this.#objectFile(objectNames.content(b.sha256));
      if (!(await exists(baseObject))) continue;
      const target = this.#objectFile(objectNames.payloadDelta(entry.sha256, b.sha256));
      const delta = (await exists(target))
        ? await sizeOf(target)
        : await this.#onePayloadDelta(() => this.#writePayloadDelta(baseObject, payload, target));
      if (delta !== undefined && delta < entry.size) bases.push({ sha256: b.sha256, size: b.size, delta });
    }
    return bases;
  }

  #onePayloadDelta<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#payloadChain.then(fn);
    this.#payloadChain = next.catch(() => {});
    return next;
  }

  /** Inflates `base` and writes the delta from its payload to `payload` at `target`; its size, or undefined when `base` does not inflate. */
  async #writePayloadDelta(base: string, payload: string, target: string): Promise<number | undefined> {
    const { signal } = this.#options;
    const scratch = await scratchFor('gzip', base, target, { signal });
    if ('problem' in scratch) return undefined;
    try {
      // writeBaseDelta names its output by the base's digest (the payload's here): written
      // under a name of its own, then renamed to the name by the base archive's digest.
      const r = await writeBaseDelta(scratch.path, payload, `${tempPath(target)}-`, { level: BEST, ...(signal ? { signal } : {}) });
      try {
        await rename(r.path, target);
      } catch (cause) {
        await unlink(r.path).catch(() => {});
        throw ioError('store', target, cause);
      }
      this.objectBytes += r.size;
      return r.size;
    } finally {
      await scratch.discard();
    }
  }
}

/** Writes the manifest, replacing the previous one atomically; returns its bytes. */
async function writeManifest(path: string, entries: TreeEntry[]): Promise<Uint8Array> {
  const encoded = encodeManifest({ version: MANIFEST_VERSION, entries });
  const file = await AtomicFile.create(path);
  try {
    await file.write(encoded);
    await file.commit();
  } catch (err) {
    await file.abort();
    throw err;
  }
  return encoded;
}

/**
 * Publishes folder `dir` into `out` (see the module description).
 *
 * @example
 * ```ts
 * const r = await buildTree('release/', 'public/', { compress: true });
 * console.log(r.manifest); // public/release.tree.json
 * ```
 */
export async function buildTree(dir: string, out: string, options: BuildTreeOptions = {}): Promise<BuildTreeReport> {
  const started = performance.now();
  const { signal } = options;
  throwIfAborted(signal);
  const { root, excluded, manifestPath } = await publishFolders(dir, out, options.name);
  const previous = await previousManifest(manifestPath);
  const filter = await folderFilter(root, options.filter, {
    ...(options.ignoreFile === false ? { ignoreFile: false } : {}),
    ...(signal ? { signal } : {}),
  });
  const listing = await listTree(root, excluded, signal, filter);
  const publisher = new TreePublisher(root, out, previous, options);
  const fileEntries = await publisher.publishAll(listing.files);
  const entries = [...listing.entries, ...fileEntries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const encoded = await writeManifest(manifestPath, entries);
  return {
    manifest: manifestPath,
    files: listing.files.length,
    dirs: entries.filter((e) => e.type === 'dir').length,
    symlinks: entries.filter((e) => e.type === 'symlink').length,
    bytes: listing.files.reduce((a, f) => a + f.size, 0),
    newFiles: publisher.newFiles,
    objectBytes: publisher.objectBytes,
    manifestBytes: encoded.length,
    skipped: listing.skipped,
    seconds: (performance.now() - started) / 1000,
  };
}
