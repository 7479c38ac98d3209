/**
 * Publishing a folder: `buildTree(dir, out)` writes, under `out`, the content of every
 * file under its SHA-256 (`objects/ab/abcd…`), a block index for files of 16 KiB and
 * more, compressed forms and deltas from earlier versions when asked for, and then the
 * manifest (`<name>.tree.json`), which replaces the previous one atomically. Objects
 * already there (unchanged files, or content shared between versions) are not written
 * again, so publishing a new version costs about the size of what changed.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, realpath, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress } from 'node:zlib';
import { ErrorCodes, SyncError, throwIfAborted, ioError } from '../core/errors.js';
import { buildIndexFile } from '../file/build-file.js';
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
import { sameMtime, walkTree } from '../localfs/walk.js';

/** Options of {@link buildTree}. */
export interface BuildTreeOptions {
  /** Manifest name: `<out>/<name>.tree.json` (default: the folder's name). */
  name?: string;
  /** Also publish compressed forms and deltas from earlier versions (default false). */
  compress?: boolean;
  /**
   * Earlier versions to publish deltas from, per changed file (default 2: the version the
   * manifest being replaced lists, and the one before). Needs `compress`.
   */
  bases?: number;
  /** Hash every file, even when size and mtime match the previous manifest (rsync's `--checksum`). */
  checksum?: boolean;
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
  await mkdir(tmpDir, { recursive: true });
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
    await mkdir(dirname(target), { recursive: true });
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
    await mkdir(shard, { recursive: true });
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
  let root: string;
  try {
    root = await realpath(dir);
    if (!(await stat(root)).isDirectory()) throw new Error('not a folder');
  } catch (cause) {
    throw ioError('publish the folder', dir, cause);
  }
  await mkdir(out, { recursive: true }).catch((cause: unknown) => {
    throw ioError('create the publish folder', out, cause);
  });
  const outReal = await realpath(out);
  // The publish folder may sit inside the published one: it is left out of the listing.
  // Into the folder itself, the manifest would list its own objects and grow every build.
  const inside = relative(root, outReal);
  if (inside === '') {
    throw new SyncError(
      ErrorCodes.IO,
      `Cannot publish ${dir} into ${out}: it is the published folder itself (publish into another folder, or one inside it)`,
      { path: out },
    );
  }
  const outside = inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside);
  const excluded = outside ? undefined : inside.split(sep).join('/');
  const name = options.name ?? (basename(root) || 'tree');
  if (name.includes('/') || name.includes(sep) || name.startsWith('.'))
    throw new RangeError(`Cannot publish: the name "${name}" is not a plain file name`);
  const manifestPath = join(out, `${name}.tree.json`);
  const prev = await previousManifest(manifestPath);
  const prevFiles = new Map<string, FileEntry>();
  for (const e of prev?.entries ?? []) if (e.type === 'file') prevFiles.set(e.path, e);

  const tree = await walkTree(root, { ...(signal ? { signal } : {}), ...(excluded !== undefined ? { exclude: excluded } : {}) });
  const skipped = [...tree.skipped];
  const entries: TreeEntry[] = [];
  const files: { path: string; size: number; mode: number; mtime: number }[] = [];
  for (const e of [...tree.entries.values()].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    const mtime = Math.round(e.mtimeMs);
    if (e.type === 'dir') entries.push({ type: 'dir', path: e.path, mode: e.mode & MODE_MASK, mtime });
    else if (e.type === 'symlink') entries.push({ type: 'symlink', path: e.path, target: e.target!, mtime });
    else if (e.type === 'file') files.push({ path: e.path, size: e.size, mode: e.mode & MODE_MASK, mtime });
    else skipped.push(join(root, ...e.path.split('/')));
  }

  const compressForms = options.compress ?? false;
  const maxBases = compressForms ? (options.bases ?? 2) : 0;
  let objectBytes = 0;
  let newFiles = 0;
  let done = 0;
  const fileEntries: FileEntry[] = new Array(files.length);
  const objectFile = (rel: string) => join(out, ...rel.split('/'));
  const shards = new Set<string>();
  // Large files one at a time: each is hashed (and compressed) on every core already.
  let bigChain: Promise<unknown> = Promise.resolve();
  const oneBig = (fn: () => Promise<void>): Promise<void> => {
    const next = bigChain.then(fn);
    bigChain = next.catch(() => {});
    return next;
  };
  const sizeOf = async (path: string) => (await stat(path)).size;

  await forEachLimit(
    files,
    options.concurrency ?? 16,
    (f, i) => (f.size >= BIG_FILE ? oneBig(() => publishFile(f, i)) : publishFile(f, i)),
    signal,
  );
  async function publishFile(f: (typeof files)[number], i: number): Promise<void> {
    const input = join(root, ...f.path.split('/'));
    const before = prevFiles.get(f.path);
    let sha256: string | undefined;
    // rsync's quick check: same size and mtime as last time, and the content is published.
    if (
      !options.checksum &&
      before &&
      before.size === f.size &&
      sameMtime(before.mtime, f.mtime) &&
      (await exists(objectFile(objectNames.content(before.sha256))))
    ) {
      sha256 = before.sha256;
    } else {
      const stored = f.size <= SMALL_FILE ? await storeSmall(input, out, shards) : await storeContent(input, out, signal);
      sha256 = stored.sha256;
      if (stored.size !== f.size)
        throw new SyncError(ErrorCodes.SOURCE_CHANGED, `Cannot publish ${input}: it changed while it was read`, { path: input });
      if (stored.written) {
        newFiles++;
        objectBytes += stored.size;
      }
    }
    const content = objectFile(objectNames.content(sha256));
    const entry: FileEntry = { type: 'file', path: f.path, size: f.size, mode: f.mode, mtime: f.mtime, sha256 };
    if (f.size >= TREE_INDEX_MIN) {
      const kind = compressForms ? 'compressed' : 'plain';
      const indexPath = objectFile(objectNames.index(sha256, kind));
      if (!(await exists(indexPath))) {
        await mkdir(dirname(indexPath), { recursive: true });
        const r = await buildIndexFile(content, indexPath, {
          ...(compressForms ? { compress: {} } : {}),
          ...(options.threads !== undefined ? { threads: options.threads } : {}),
          ...(signal ? { signal } : {}),
        });
        objectBytes += r.indexBytes + (r.frames?.bytes ?? 0) + (r.whole?.bytes ?? 0);
      }
      entry.index = kind;
    } else if (compressForms && f.size > 0) {
      const brPath = objectFile(objectNames.brotli(sha256));
      let br: number;
      if (await exists(brPath)) br = await sizeOf(brPath);
      else {
        const z = await compress(await readFile(content), { params: brotliParams(BEST, f.size) });
        const tmp = `${brPath}.${randomBytes(8).toString('hex')}.tmp`;
        await writeFile(tmp, z);
        await rename(tmp, brPath);
        br = z.length;
        objectBytes += br;
      }
      if (br < f.size) entry.br = br;
    }
    if (maxBases > 0 && before) {
      const bases: ManifestBase[] = [];
      if (before.sha256 === sha256) bases.push(...(before.bases ?? []));
      else {
        // The previous version, and the versions it had deltas from: their content is
        // in the object store.
        const candidates = [{ sha256: before.sha256, size: before.size }, ...(before.bases ?? [])].slice(0, maxBases);
        for (const b of candidates) {
          if (b.sha256 === sha256 || b.size === 0) continue;
          const baseObject = objectFile(objectNames.content(b.sha256));
          if (!(await exists(baseObject))) continue;
          const deltaPath = objectFile(objectNames.delta(sha256, b.sha256));
          let delta: number;
          if (await exists(deltaPath)) delta = await sizeOf(deltaPath);
          else {
            const r = await writeBaseDelta(baseObject, content, objectFile(objectNames.deltaPrefix(sha256)), {
              level: BEST,
              ...(signal ? { signal } : {}),
            });
            delta = r.size;
            objectBytes += delta;
          }
          // Worth listing only when smaller than fetching the file whole.
          if (delta < (entry.br ?? f.size)) bases.push({ sha256: b.sha256, size: b.size, delta });
        }
      }
      if (bases.length > 0) entry.bases = bases.slice(0, Math.max(maxBases, 1));
    }
    fileEntries[i] = entry;
    options.onProgress?.(++done, files.length);
  }
  entries.push(...fileEntries);
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const manifest: Manifest = { version: MANIFEST_VERSION, entries };
  const encoded = encodeManifest(manifest);
  const file = await AtomicFile.create(manifestPath);
  try {
    await file.write(encoded);
    await file.commit();
  } catch (err) {
    await file.abort();
    throw err;
  }
  return {
    manifest: manifestPath,
    files: files.length,
    dirs: entries.filter((e) => e.type === 'dir').length,
    symlinks: entries.filter((e) => e.type === 'symlink').length,
    bytes: files.reduce((a, f) => a + f.size, 0),
    newFiles,
    objectBytes,
    manifestBytes: encoded.length,
    skipped,
    seconds: (performance.now() - started) / 1000,
  };
}
