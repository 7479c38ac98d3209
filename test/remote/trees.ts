/** Making and describing small folder trees for the push/pull tests. */
import { createHash } from 'node:crypto';
import { chmod, lstat, lutimes, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CLI } from '../helpers/cli.js';

/** A tree entry to make: file content (with optional mode/mtime), a folder, or a link. */
export type Spec =
  | string
  | Uint8Array
  | { data: string | Uint8Array; mode?: number; mtime?: number }
  | { dir: true; mode?: number; mtime?: number }
  | { link: string };

/** The command line of a local `gosync serve --stdio` (the far end of an in-machine push or pull). */
export const serveCommand: readonly string[] = [process.execPath, CLI, 'serve', '--stdio'];

/** A fresh temporary folder, removed by the returned cleanup. */
export async function tempDir(prefix = 'gosync-remote-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Creates `root` and the entries of `spec` below it (folders' metadata set last). */
export async function makeTree(root: string, spec: Record<string, Spec>): Promise<void> {
  await mkdir(root, { recursive: true });
  const dirs: [string, { mode?: number; mtime?: number }][] = [];
  for (const [path, s] of Object.entries(spec)) {
    const local = join(root, path);
    await mkdir(dirname(local), { recursive: true });
    if (typeof s === 'string' || s instanceof Uint8Array) await writeFile(local, s);
    else if ('link' in s) await symlink(s.link, local);
    else if ('dir' in s) {
      await mkdir(local, { recursive: true });
      dirs.push([local, s]);
    } else {
      await writeFile(local, s.data);
      if (s.mode !== undefined) await chmod(local, s.mode);
      if (s.mtime !== undefined) await utimes(local, new Date(s.mtime), new Date(s.mtime));
    }
  }
  for (const [local, s] of dirs.reverse()) {
    if (s.mode !== undefined) await chmod(local, s.mode);
    if (s.mtime !== undefined) await utimes(local, new Date(s.mtime), new Date(s.mtime));
  }
}

/**
 * Every entry below `root` (and the root itself as '.'): type, content hash or link
 * target, permission bits and whole-millisecond mtime (links: no mtime).
 */
export async function describe(root: string, options: { times?: boolean } = {}): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const times = options.times ?? true;
  const one = async (rel: string): Promise<void> => {
    const local = rel === '.' ? root : join(root, rel);
    const st = await lstat(local);
    const meta = `${(st.mode & 0o777).toString(8)}${times ? `@${Math.round(st.mtimeMs)}` : ''}`;
    if (st.isSymbolicLink()) out[rel] = `link:${await readlink(local)}`;
    else if (st.isDirectory()) {
      out[rel] = `dir:${meta}`;
      for (const name of (await readdir(local)).sort()) {
        // An entry may vanish while listed (a far end removing its temporary file).
        await one(rel === '.' ? name : `${rel}/${name}`).catch((err: NodeJS.ErrnoException) =>
          err.code === 'ENOENT' ? undefined : Promise.reject(err),
        );
      }
    } else
      out[rel] = `file:${createHash('sha256')
        .update(await readFile(local))
        .digest('hex')
        .slice(0, 16)}:${st.size}:${meta}`;
  };
  await one('.');
  return out;
}

/** Names of gosync's temporary files and parts anywhere below `root`. */
export async function leftovers(root: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const p = join(dir, name);
      if (name.endsWith('.gosync-tmp') || name.endsWith('.gosync-part')) found.push(p);
      const st = await lstat(p);
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk(root);
  return found;
}

/** Sets a link's mtime (so trees compare equal after a copy that keeps link times). */
export async function touchLink(path: string, mtime: number): Promise<void> {
  await lutimes(path, new Date(mtime), new Date(mtime));
}
