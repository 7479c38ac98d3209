/**
 * The tree manifest: what a published folder holds (docs/tree.md). A JSON document
 * listing every entry (folders, files, symbolic links) with its metadata; each file
 * names its content by SHA-256, and the content, its index and its compressed forms are
 * stored under names made from that hash (`objects/ab/abcd…`), so they never change and
 * versions share them. Only the manifest is mutable.
 *
 * A manifest is untrusted input: {@link decodeManifest} checks every field, every path
 * (see tree-path.ts) and that every entry's parent is a folder entry of the manifest, so
 * nothing can be placed under a link or outside the target folder.
 *
 * @module
 */
import { ErrorCodes, SyncError } from '../core/errors.js';
import { MAX_LINK_TARGET, checkTreePath, treeParent } from '../localfs/tree-path.js';
import { PART_SUFFIX, TEMP_SUFFIX } from '../localfs/staging.js';

/** The manifest format version this build writes and reads. */
export const MANIFEST_VERSION = 1;

/** Largest manifest accepted by default (bytes). */
export const DEFAULT_MAX_MANIFEST_BYTES = 256 * 1024 * 1024;

/**
 * Mode bits kept in manifests and applied: the permission bits and the sticky bit (a shared
 * `1777` folder stays one, as rsync's `--perms` keeps it); setuid and setgid are never kept.
 * Manifests written before the sticky bit was kept have modes within `0o777` and read as
 * they did.
 */
export const MODE_MASK = 0o1777;

/** A delta that rebuilds a file from an earlier version (the base). */
export interface ManifestBase {
  /** SHA-256 of the base, hex. */
  sha256: string;
  /** Size of the base. */
  size: number;
  /** Size of the delta file. */
  delta: number;
  /**
   * `gosync`: a gosync delta file (its first byte names its kind: zstd, LZ, bsdiff, …),
   * named `<object>.g-<base>`. Absent: a brotli-compressed librsync delta, `<object>.d-<base>`
   * (what manifests listed before delta files had kinds).
   */
  codec?: 'gosync';
}

/** A folder. */
export interface DirEntry {
  type: 'dir';
  path: string;
  mode: number;
  /** Modification time, milliseconds since the epoch. */
  mtime: number;
}

/** A regular file. */
export interface FileEntry {
  type: 'file';
  path: string;
  size: number;
  mode: number;
  mtime: number;
  /** SHA-256 of the content, hex. */
  sha256: string;
  /** The block index published for the content: plain, with compressed forms, or none (small files). */
  index?: 'plain' | 'compressed';
  /** Size of the whole content as one brotli stream, when that is published. */
  br?: number;
  /** Deltas from earlier versions. */
  bases?: ManifestBase[];
  /**
   * For a file published by its payload (an archive index, docs/archives.md): deltas
   * between the payload of an earlier version of the archive (`sha256`, `size`: the earlier
   * archive's, as a client knows its local file) and this one's payload, named
   * {@link objectNames.payloadDelta}. Always gosync delta files (`codec` is not used).
   * Written at the manifest's top level (`payloadBases`, one item per content), not in the
   * entry: a client that does not know them reads the manifest as before (entries with
   * unknown fields are refused) and patches the archive by its payload's blocks.
   */
  payloadBases?: ManifestBase[];
}

/** A symbolic link (recreated as a link, never followed). */
export interface LinkEntry {
  type: 'symlink';
  path: string;
  target: string;
  mtime?: number;
}

export type TreeEntry = DirEntry | FileEntry | LinkEntry;

/** A decoded manifest. */
export interface Manifest {
  version: number;
  /** Entries sorted by path; a folder comes before what it holds. */
  entries: TreeEntry[];
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Where the objects of a content hash live, relative to the content base. */
export function objectPath(sha256: string): string {
  return `objects/${sha256.slice(0, 2)}/${sha256}`;
}

/** The object name of each published form of content `sha256`. */
export const objectNames = {
  content: (sha: string) => objectPath(sha),
  brotli: (sha: string) => `${objectPath(sha)}.br`,
  index: (sha: string, kind: 'plain' | 'compressed') => `${objectPath(sha)}${kind === 'compressed' ? '.z' : ''}.gosync`,
  delta: (sha: string, baseSha: string, codec?: 'gosync') => `${objectNames.deltaPrefix(sha, codec)}${baseSha.slice(0, 16)}`,
  deltaPrefix: (sha: string, codec?: 'gosync') => `${objectPath(sha)}${codec === 'gosync' ? '.g-' : '.d-'}`,
  /** A delta between payloads (FileEntry.payloadBases): from the earlier archive `baseSha`'s payload to content `sha`'s. */
  payloadDelta: (sha: string, baseSha: string) => `${objectPath(sha)}.p-${baseSha.slice(0, 16)}`,
};

/** Most bases one content lists (in `bases` or `payloadBases`). */
const MAX_MANIFEST_BASES = 64;

/**
 * Encodes a manifest as JSON (one entry per line: readable, and diffs well). The files'
 * `payloadBases` go to the top-level `payloadBases` list, one item per content (the
 * union of what its entries list), after the entries; a manifest without any is what it
 * was before they existed, byte for byte.
 */
export function encodeManifest(m: Manifest): Uint8Array {
  const payload = new Map<string, ManifestBase[]>();
  const lines = m.entries.map((e) => {
    if (e.type !== 'file' || e.payloadBases === undefined) return JSON.stringify(e);
    const { payloadBases, ...rest } = e;
    const list = payload.get(e.sha256) ?? [];
    for (const b of payloadBases)
      if (!list.some((o) => o.sha256 === b.sha256)) list.push({ sha256: b.sha256, size: b.size, delta: b.delta });
    if (list.length > 0) payload.set(e.sha256, list.slice(0, MAX_MANIFEST_BASES));
    return JSON.stringify(rest);
  });
  const extra =
    payload.size === 0
      ? ''
      : `,"payloadBases":[\n${[...payload].map(([sha256, bases]) => JSON.stringify({ sha256, bases })).join(',\n')}\n]`;
  const text = `{"gosync":"tree","version":${m.version},"entries":[\n${lines.join(',\n')}\n]${extra}}\n`;
  return new TextEncoder().encode(text);
}

function corrupt(why: string): SyncError {
  return new SyncError(ErrorCodes.MANIFEST_CORRUPT, `Cannot use the manifest: ${why}`);
}

function isInt(v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;
}

function isTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && Math.abs(v) < 8.64e15;
}

const KEYS: Record<TreeEntry['type'], ReadonlySet<string>> = {
  dir: new Set(['type', 'path', 'mode', 'mtime']),
  file: new Set(['type', 'path', 'size', 'mode', 'mtime', 'sha256', 'index', 'br', 'bases']),
  symlink: new Set(['type', 'path', 'target', 'mtime']),
};

function checkEntry(raw: unknown, at: number): TreeEntry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw corrupt(`entry ${at} is not an object`);
  const e = raw as Record<string, unknown>;
  const type = e.type;
  if (type !== 'dir' && type !== 'file' && type !== 'symlink') throw corrupt(`entry ${at} has an unknown type ${JSON.stringify(type)}`);
  checkTreePath(e.path, `the manifest path of entry ${at}`);
  const path = e.path;
  if (path.endsWith(PART_SUFFIX) || path.endsWith(TEMP_SUFFIX)) {
    throw new SyncError(
      ErrorCodes.UNSAFE_PATH,
      `Cannot use the manifest path ${JSON.stringify(path)}: names ending in ${PART_SUFFIX} or ${TEMP_SUFFIX} are gosync's own temporary files`,
    );
  }
  const where = `entry ${JSON.stringify(path)}`;
  for (const k of Object.keys(e)) if (!KEYS[type].has(k)) throw corrupt(`${where} has an unknown field ${JSON.stringify(k)}`);
  if (type === 'symlink') {
    const target = e.target;
    if (typeof target !== 'string' || target.length === 0 || target.length > MAX_LINK_TARGET || target.includes('\0'))
      throw corrupt(`${where} has a bad link target`);
    if (e.mtime !== undefined && !isTime(e.mtime)) throw corrupt(`${where} has a bad mtime`);
    return { type, path, target, ...(e.mtime !== undefined ? { mtime: e.mtime as number } : {}) };
  }
  if (!isInt(e.mode, 0, 0o7777)) throw corrupt(`${where} has a bad mode`);
  if (!isTime(e.mtime)) throw corrupt(`${where} has a bad mtime`);
  const mode = e.mode & MODE_MASK;
  if (type === 'dir') return { type, path, mode, mtime: e.mtime };
  if (!isInt(e.size, 0)) throw corrupt(`${where} has a bad size`);
  if (typeof e.sha256 !== 'string' || !HEX64.test(e.sha256)) throw corrupt(`${where} has a bad sha256`);
  const file: FileEntry = { type, path, size: e.size, mode, mtime: e.mtime, sha256: e.sha256 };
  if (e.index !== undefined) {
    if (e.index !== 'plain' && e.index !== 'compressed') throw corrupt(`${where} has a bad index kind`);
    file.index = e.index;
  }
  if (e.br !== undefined) {
    if (!isInt(e.br, 1)) throw corrupt(`${where} has a bad br size`);
    file.br = e.br;
  }
  if (e.bases !== undefined) file.bases = checkBases(e.bases, where, true);
  return file;
}

/** Checks a list of bases (an entry's `bases`, or a `payloadBases` item's: no codec there). */
function checkBases(raw: unknown, where: string, codec: boolean): ManifestBase[] {
  if (!Array.isArray(raw) || raw.length > MAX_MANIFEST_BASES) throw corrupt(`${where} has a bad bases list`);
  return raw.map((b: unknown) => {
    const r = b as Record<string, unknown>;
    if (
      typeof r !== 'object' ||
      r === null ||
      typeof r.sha256 !== 'string' ||
      !HEX64.test(r.sha256) ||
      !isInt(r.size, 0) ||
      !isInt(r.delta, 1) ||
      (r.codec !== undefined && (!codec || r.codec !== 'gosync'))
    ) {
      throw corrupt(`${where} has a bad base`);
    }
    return { sha256: r.sha256, size: r.size, delta: r.delta, ...(r.codec === 'gosync' ? { codec: 'gosync' as const } : {}) };
  });
}

/**
 * Checks the top-level `payloadBases` list and gives each file entry of a content it names
 * its bases. Every item names a content the manifest lists, with an index (the payload is
 * what its index describes), once.
 */
function attachPayloadBases(raw: unknown, entries: readonly TreeEntry[]): void {
  if (raw === undefined) return;
  if (!Array.isArray(raw)) throw corrupt('its payloadBases is not a list');
  const files = new Map<string, FileEntry[]>();
  for (const e of entries) if (e.type === 'file') files.set(e.sha256, [...(files.get(e.sha256) ?? []), e]);
  const seen = new Set<string>();
  raw.forEach((item: unknown, at) => {
    const where = `payloadBases item ${at}`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw corrupt(`${where} is not an object`);
    const r = item as Record<string, unknown>;
    for (const k of Object.keys(r))
      if (k !== 'sha256' && k !== 'bases') throw corrupt(`${where} has an unknown field ${JSON.stringify(k)}`);
    if (typeof r.sha256 !== 'string' || !HEX64.test(r.sha256)) throw corrupt(`${where} has a bad sha256`);
    if (seen.has(r.sha256)) throw corrupt(`${where} names a content listed before`);
    seen.add(r.sha256);
    const owners = files.get(r.sha256);
    if (!owners?.every((f) => f.index !== undefined)) throw corrupt(`${where} names no file with an index`);
    const bases = checkBases(r.bases, where, false);
    for (const f of owners) f.payloadBases = bases.map((b) => ({ ...b }));
  });
}

/**
 * Decodes and checks a manifest. Throws MANIFEST_CORRUPT for anything malformed,
 * INDEX_UNSUPPORTED for another version, UNSAFE_PATH for a path that is absolute, has a
 * `..` component, or lies under a link or file entry.
 */
export function decodeManifest(data: Uint8Array, options: { maxBytes?: number } = {}): Manifest {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_MANIFEST_BYTES;
  if (data.length > maxBytes) throw corrupt(`it is ${data.length} bytes, over the limit of ${maxBytes}`);
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch (cause) {
    throw new SyncError(ErrorCodes.MANIFEST_CORRUPT, `Cannot use the manifest: it is not JSON (${(cause as Error).message})`, { cause });
  }
  if (typeof doc !== 'object' || doc === null || (doc as Record<string, unknown>).gosync !== 'tree')
    throw corrupt('it is not a gosync tree manifest');
  const d = doc as Record<string, unknown>;
  if (d.version !== MANIFEST_VERSION) {
    throw new SyncError(
      ErrorCodes.INDEX_UNSUPPORTED,
      `Cannot use the manifest: it is version ${JSON.stringify(d.version)}, this gosync reads version ${MANIFEST_VERSION}`,
    );
  }
  if (!Array.isArray(d.entries)) throw corrupt('it has no entries list');
  const entries = d.entries.map(checkEntry);
  attachPayloadBases(d.payloadBases, entries);
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const types = new Map<string, TreeEntry['type']>();
  for (const e of entries) {
    if (types.has(e.path)) throw corrupt(`the path ${JSON.stringify(e.path)} is listed twice`);
    types.set(e.path, e.type);
  }
  for (const e of entries) {
    const parent = treeParent(e.path);
    if (parent === '') continue;
    const t = types.get(parent);
    if (t === 'dir') continue;
    if (t === 'symlink')
      throw new SyncError(
        ErrorCodes.UNSAFE_PATH,
        `Cannot use the manifest path ${JSON.stringify(e.path)}: ${parent} is a symbolic link in the same manifest, and gosync never writes through links`,
      );
    if (t === 'file')
      throw new SyncError(
        ErrorCodes.UNSAFE_PATH,
        `Cannot use the manifest path ${JSON.stringify(e.path)}: ${parent} is a file in the same manifest`,
      );
    throw corrupt(`the folder ${JSON.stringify(parent)} of ${JSON.stringify(e.path)} is not listed`);
  }
  return { version: MANIFEST_VERSION, entries };
}
