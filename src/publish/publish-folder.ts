/**
 * What a publish folder holds, as uploads and pruning see it.
 *
 * - A folder publish (`gosync build <folder> -o <publish-folder>`): one or more manifests
 *   `<name>.tree.json` at the top, and `objects/`, named by content hashes. Only what a
 *   manifest references is published: each file's content, its block index (with the
 *   frames and whole stream beside a compressed one), its brotli stream when listed, and
 *   the deltas it lists. The objects go first, in any order; the manifests last.
 * - A single-file publish (`gosync build <file>`): every index at the top of the folder
 *   (`*.gosync`, `*.zsync`) with the files it names: the file itself (the reference, when
 *   the index names it by a URL relative to itself, or by default its own name less the
 *   suffix), its frames, whole stream and deltas (gosync's published-forms section), the
 *   payload of a gzip archive. Those data files go first, each index after them. The
 *   history folder `<index>-versions/` is the publisher's and is never published.
 *
 * @module
 */
import { readdir, readFile, stat } from '../util/fs-promises.js';
import { SyncError, ioError, throwIfAborted } from '../core/errors.js';
import { loadIndex } from '../file/load-index.js';
import { type Manifest, decodeManifest, objectNames } from '../tree/manifest.js';
import { builtin } from '../util/builtin.js';

const { join } = builtin('node:path');

/** One file of a publish folder, to be published under `name` (relative, `/`-separated). */
export interface PublishItem {
  name: string;
  /** The local file. */
  path: string;
  size: number;
  /** True when the name is derived from the content (an object never changes once written). */
  immutable: boolean;
  contentType: string;
}

/** A publish folder's files, in the order they must reach a server. */
export interface PublishPlan {
  kind: 'tree' | 'file';
  /** What the manifests or indexes reference: uploaded first, in any order. */
  data: PublishItem[];
  /** The manifests or indexes: uploaded once every data file is in place. */
  last: PublishItem[];
}

/** Suffix of a folder publish's manifests. */
export const MANIFEST_SUFFIX = '.tree.json';
const INDEX_SUFFIXES = ['.gosync', '.zsync'] as const;

const JSON_TYPE = 'application/json';
const BINARY_TYPE = 'application/octet-stream';
/** zsync clients do not look at it; what zsync's own publishing guides serve. */
const ZSYNC_TYPE = 'application/x-zsync';

/** The names at the top of `folder` (refused when it is not a readable folder). */
export async function topNames(folder: string): Promise<string[]> {
  try {
    return (await readdir(folder, { withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name);
  } catch (cause) {
    throw ioError('read the publish folder', folder, cause);
  }
}

/** The manifests at the top of a publish folder, by file name (dot-files excepted: temporaries). */
export function manifestNames(names: readonly string[]): string[] {
  return names.filter((n) => n.endsWith(MANIFEST_SUFFIX) && !n.startsWith('.')).sort();
}

/** The single-file indexes at the top of a publish folder. */
export function indexNames(names: readonly string[]): string[] {
  return names.filter((n) => !n.startsWith('.') && INDEX_SUFFIXES.some((s) => n.endsWith(s))).sort();
}

/** Reads and decodes the manifest `name` of `folder`, with the time it was written. */
export async function readManifest(folder: string, name: string): Promise<{ manifest: Manifest; mtimeMs: number; size: number }> {
  const path = join(folder, name);
  let data: Buffer;
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(path);
    data = await readFile(path);
  } catch (cause) {
    throw ioError('read the manifest', path, cause);
  }
  try {
    return { manifest: decodeManifest(data), mtimeMs: st.mtimeMs, size: data.length };
  } catch (err) {
    if (SyncError.is(err)) throw new SyncError(err.code, `${err.message} (${path})`, { cause: err, path });
    throw err;
  }
}

/** An object name a manifest references: whether a client cannot do without it, whether clients read it at all. */
export interface ObjectRef {
  name: string;
  required: boolean;
  /** False for what only the publisher uses (the next build's bases, an unlisted brotli stream): kept, not published. */
  served: boolean;
}

/**
 * The objects `manifest` references, each once: what clients read (content, index, forms,
 * brotli stream, deltas, an archive's deltas between payloads). A compressed index's frames and whole stream are named inside
 * it (`<index>z`, `<index>.br` or `<index>.zst`, the names build gives them): they count
 * when present. Besides, what only the publisher uses: the brotli stream build writes for
 * every small file and lists only when smaller than the file (build would write it
 * again), and with `baseContents` the content of the bases each file lists deltas from,
 * up to that many per file (the next build makes its deltas from them).
 */
export function manifestObjects(manifest: Manifest, baseContents = 0): ObjectRef[] {
  const refs = new Map<string, ObjectRef>();
  const add = (name: string, required: boolean, served = true) => {
    const had = refs.get(name);
    refs.set(name, { name, required: required || (had?.required ?? false), served: served || (had?.served ?? false) });
  };
  for (const e of manifest.entries) {
    if (e.type !== 'file') continue;
    add(objectNames.content(e.sha256), true);
    if (e.index !== undefined) {
      const index = objectNames.index(e.sha256, e.index);
      add(index, true);
      // An archive index's payload (docs/archives.md), there only for an archive.
      add(`${index}u`, false);
      if (e.index === 'compressed') for (const form of [`${index}z`, `${index}.br`, `${index}.zst`]) add(form, false);
    }
    if (e.br !== undefined) add(objectNames.brotli(e.sha256), true);
    else if (e.index === undefined) add(objectNames.brotli(e.sha256), false, false);
    for (const [i, b] of (e.bases ?? []).entries()) {
      add(objectNames.delta(e.sha256, b.sha256, b.codec), true);
      if (i < baseContents) add(objectNames.content(b.sha256), false, false);
    }
    // Deltas between an archive's payloads (docs/archives.md), and the earlier archives
    // the next build inflates to make them.
    for (const [i, b] of (e.payloadBases ?? []).entries()) {
      add(objectNames.payloadDelta(e.sha256, b.sha256), true);
      if (i < baseContents) add(objectNames.content(b.sha256), false, false);
    }
  }
  return [...refs.values()];
}

/** The size of a local file, or undefined when there is none. */
async function fileSize(path: string): Promise<number | undefined> {
  try {
    const st = await stat(path);
    return st.isFile() ? st.size : undefined;
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioError('read', path, cause);
  }
}

/** The local path of `name` (relative, `/`-separated) in `folder`. */
function localPath(folder: string, name: string): string {
  return join(folder, ...name.split('/'));
}

/** The item for `name`, refused (IO) when `required` and missing; undefined when optional and missing. */
async function item(folder: string, name: string, immutable: boolean, contentType: string, required: boolean, by: string) {
  const path = localPath(folder, name);
  const size = await fileSize(path);
  if (size === undefined) {
    if (required) throw ioError('publish', path, `it is missing, and ${by} names it`);
    return undefined;
  }
  return { name, path, size, immutable, contentType } satisfies PublishItem;
}

/** The plan of a folder publish: the objects every manifest references, then the manifests. */
async function treePlan(folder: string, manifests: readonly string[], signal: AbortSignal | undefined): Promise<PublishPlan> {
  const data = new Map<string, PublishItem>();
  const last: PublishItem[] = [];
  for (const m of manifests) {
    throwIfAborted(signal);
    const { manifest } = await readManifest(folder, m);
    for (const ref of manifestObjects(manifest)) {
      if (data.has(ref.name) || !ref.served) continue;
      const found = await item(folder, ref.name, true, BINARY_TYPE, ref.required, `the manifest ${m}`);
      if (found) data.set(ref.name, found);
    }
    last.push((await item(folder, m, false, JSON_TYPE, true, 'the listing'))!);
  }
  return { kind: 'tree', data: [...data.values()], last };
}

/**
 * The names an index's files are published under: the reference (when the index names
 * it relative to itself, or by default) and every published form, each relative to the
 * publish folder. A reference at an absolute URL is published elsewhere: left out.
 */
export async function indexDataNames(folder: string, name: string, signal?: AbortSignal): Promise<string[]> {
  const { index } = await loadIndex(join(folder, name), signal ? { signal } : {});
  // Names are resolved as a client resolves them against the index's URL.
  const base = new URL(`http://publish.invalid/${encodeURIComponent(name)}`);
  const names: string[] = [];
  const relative = (url: string) => {
    let resolved: URL;
    try {
      resolved = new URL(url, base);
    } catch {
      return;
    }
    if (resolved.origin === base.origin && resolved.pathname.length > 1) names.push(decodeURIComponent(resolved.pathname.slice(1)));
  };
  if (index.url !== undefined) relative(index.url);
  else {
    const suffix = INDEX_SUFFIXES.find((s) => name.endsWith(s))!;
    names.push(name.slice(0, -suffix.length));
  }
  const forms = index.published;
  if (forms?.frames) names.push(forms.frames.name);
  if (forms?.whole) names.push(forms.whole.name);
  for (const b of forms?.bases ?? []) names.push(b.name);
  if (forms?.archive) names.push(forms.archive.payload);
  return [...new Set(names)];
}

/** The plan of a single-file publish: each index's files, then the indexes. */
async function filePlan(folder: string, indexes: readonly string[], signal: AbortSignal | undefined): Promise<PublishPlan> {
  const data = new Map<string, PublishItem>();
  const last: PublishItem[] = [];
  for (const name of indexes) {
    throwIfAborted(signal);
    for (const dataName of await indexDataNames(folder, name, signal)) {
      if (data.has(dataName) || indexes.includes(dataName)) continue;
      data.set(dataName, (await item(folder, dataName, false, BINARY_TYPE, true, `the index ${name}`))!);
    }
    last.push((await item(folder, name, false, name.endsWith('.zsync') ? ZSYNC_TYPE : BINARY_TYPE, true, 'the listing'))!);
  }
  return { kind: 'file', data: [...data.values()], last };
}

/**
 * What publishing `folder` uploads, in order (see the module description). A folder with
 * manifests is a folder publish; else its indexes make a single-file publish; a folder
 * with neither is refused (IO). A file a manifest or index needs that is missing is
 * refused before anything is uploaded.
 */
export async function publishPlan(folder: string, options: { signal?: AbortSignal } = {}): Promise<PublishPlan> {
  const names = await topNames(folder);
  const manifests = manifestNames(names);
  if (manifests.length > 0) return treePlan(folder, manifests, options.signal);
  const indexes = indexNames(names);
  if (indexes.length > 0) return filePlan(folder, indexes, options.signal);
  throw ioError('publish', folder, `it holds no manifest (*${MANIFEST_SUFFIX}) and no index (*.gosync, *.zsync) at its top`);
}
