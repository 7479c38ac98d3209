/**
 * Shared fixtures of the tree tests: temporary folders, files with fixed modes and
 * mtimes, a listing of a folder (links not followed) to compare trees and to prove that
 * nothing changed, and hand-written manifests with their objects.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, lstat, lutimes, mkdir, mkdtemp, readdir, readFile, readlink, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { SyncError, type ErrorCode } from '../../src/core/errors.js';
import { objectNames } from '../../src/tree/manifest.js';

/** A new empty folder under the system's temporary folder. */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `gosync-tree-${prefix}-`));
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A fixed point in time (whole seconds, so every filesystem keeps it exactly), in ms. */
export const T0 = Date.UTC(2024, 0, 2, 3, 4, 5);

/** Writes `data` at `root/rel` (folders made as needed) with `mode` and `mtime` (ms). */
export async function put(root: string, rel: string, data: Uint8Array | string, mode = 0o644, mtime = T0): Promise<void> {
  const p = join(root, ...rel.split('/'));
  await mkdir(dirname(p), { recursive: true });
  await writeFile(p, data);
  await chmod(p, mode);
  await utimes(p, new Date(mtime), new Date(mtime));
}

/** Makes link `root/rel` → `target` with a fixed mtime. */
export async function link(root: string, rel: string, target: string, mtime = T0): Promise<void> {
  const p = join(root, ...rel.split('/'));
  await mkdir(dirname(p), { recursive: true });
  await symlink(target, p);
  await lutimes(p, new Date(mtime), new Date(mtime));
}

/** Sets mode and mtime of folder `root/rel`. */
export async function dirMeta(root: string, rel: string, mode = 0o755, mtime = T0): Promise<void> {
  const p = rel === '' ? root : join(root, ...rel.split('/'));
  await chmod(p, mode);
  await utimes(p, new Date(mtime), new Date(mtime));
}

/** One entry of a {@link snapshot}. */
export interface Snap {
  type: 'dir' | 'file' | 'symlink' | 'other';
  mode?: number;
  mtime: number;
  size?: number;
  sha256?: string;
  target?: string;
}

/**
 * Everything under `root` by relative path (links not followed; files hashed), and the
 * root folder itself under '.' (its mtime changes when anything is created or removed
 * in it). A missing root gives an empty object.
 */
export async function snapshot(root: string, options: { withRoot?: boolean } = {}): Promise<Record<string, Snap>> {
  const out: Record<string, Snap> = {};
  try {
    const st = await lstat(root);
    if (options.withRoot ?? true) out['.'] = { type: 'dir', mode: st.mode & 0o7777, mtime: st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw err;
  }
  const walk = async (rel: string) => {
    const dir = rel === '' ? root : join(root, rel);
    for (const name of (await readdir(dir)).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const p = join(root, r);
      const st = await lstat(p);
      if (st.isSymbolicLink()) out[r] = { type: 'symlink', mtime: st.mtimeMs, target: await readlink(p) };
      else if (st.isDirectory()) {
        out[r] = { type: 'dir', mode: st.mode & 0o7777, mtime: st.mtimeMs };
        await walk(r);
      } else if (st.isFile())
        out[r] = { type: 'file', mode: st.mode & 0o7777, mtime: st.mtimeMs, size: st.size, sha256: sha256(await readFile(p)) };
      else out[r] = { type: 'other', mtime: st.mtimeMs };
    }
  };
  await walk('');
  return out;
}

/**
 * Asserts that two snapshots describe the same tree: same paths, types, content, modes,
 * link targets, and mtimes within 1 ms. `ignore` leaves paths out of both.
 */
export function assertSameTree(
  actual: Record<string, Snap>,
  expected: Record<string, Snap>,
  options: { ignore?: (path: string) => boolean; root?: boolean } = {},
): void {
  const keep = (p: string) => !(options.ignore?.(p) ?? false) && (p !== '.' || (options.root ?? true));
  const a = Object.keys(actual).filter(keep).sort();
  const e = Object.keys(expected).filter(keep).sort();
  assert.deepEqual(a, e, 'the same paths');
  for (const p of e) {
    const x = actual[p]!;
    const y = expected[p]!;
    assert.equal(x.type, y.type, `${p}: type`);
    assert.equal(x.sha256, y.sha256, `${p}: content`);
    assert.equal(x.size, y.size, `${p}: size`);
    assert.equal(x.mode, y.mode, `${p}: mode`);
    assert.equal(x.target, y.target, `${p}: link target`);
    assert.ok(Math.abs(x.mtime - y.mtime) < 1, `${p}: mtime ${x.mtime} should be ${y.mtime}`);
  }
}

/** Paths of gosync's own staging and temporary files in a snapshot. */
export function leftovers(snap: Record<string, Snap>): string[] {
  return Object.keys(snap).filter((p) => p.endsWith('.gosync-part') || p.endsWith('.gosync-tmp'));
}

/** A predicate for assert.rejects: a SyncError with `code`. */
export function hasCode(code: ErrorCode): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(SyncError.is(err), `a SyncError, got ${String(err)}`);
    assert.equal(err.code, code, `code ${err.code} (${err.message})`);
    return true;
  };
}

/** A manifest entry written by hand; files carry their content, from which sha256 and size come. */
export type HandEntry =
  | { type: 'dir'; path: string; mode?: number; mtime?: number }
  | { type: 'file'; path: string; data: Uint8Array | string; mode?: number; mtime?: number; sha256?: string }
  | { type: 'symlink'; path: string; target: string }
  | Record<string, unknown>;

/**
 * Writes `<pub>/<name>.tree.json` by hand (no checks: it may be hostile) and, for each
 * file entry, its content object under the entry's SHA-256 (that of the data unless
 * `sha256` is given, to publish content that does not match). Returns the manifest path.
 */
export async function writeHandManifest(
  pub: string,
  entries: readonly HandEntry[],
  name = 'hand',
  extra: Record<string, unknown> = {},
): Promise<string> {
  const out: Record<string, unknown>[] = [];
  for (const e of entries) {
    if (e.type === 'file' && 'data' in e) {
      const data = typeof e.data === 'string' ? Buffer.from(e.data) : Buffer.from(e.data as Uint8Array);
      const sha = (e.sha256 as string | undefined) ?? sha256(data);
      const obj = join(pub, ...objectNames.content(sha).split('/'));
      await mkdir(dirname(obj), { recursive: true });
      await writeFile(obj, data);
      out.push({ type: 'file', path: e.path, size: data.length, mode: e.mode ?? 0o644, mtime: e.mtime ?? T0, sha256: sha });
    } else if (e.type === 'dir') out.push({ type: 'dir', path: e.path, mode: e.mode ?? 0o755, mtime: e.mtime ?? T0 });
    else out.push({ ...e });
  }
  const manifest = join(pub, `${name}.tree.json`);
  await mkdir(pub, { recursive: true });
  await writeFile(manifest, JSON.stringify({ gosync: 'tree', version: 1, entries: out, ...extra }));
  return manifest;
}
