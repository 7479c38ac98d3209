/**
 * From a request target to a file inside the served folder.
 *
 * The request path is split on `/` **before** percent-decoding, and each segment is decoded
 * on its own. A segment that decodes to `..`, or that contains `/`, `\` or NUL, is refused
 * with 403 (so `%2e%2e`, `%2F` and `%00` cannot smuggle a traversal past the check). Empty
 * and `.` segments are dropped, so `//etc/passwd` maps to `<root>/etc/passwd`. The result
 * is resolved with `realpath` and must stay inside the real path of the root: symlinks that
 * point inside the root are followed. Every refusal that depends on the file system (a
 * symlink escaping the root, a missing or unreadable file) answers 404, so the answers do
 * not tell what exists outside the root or what is unreadable. Dot-files (any segment
 * starting with `.`: `.env`, `.git/config`, a publisher's temporary files) answer 404 too
 * unless they are asked for. Query strings are ignored. Malformed percent-encoding
 * answers 400.
 *
 * @module
 */

import { realpath, stat } from '../util/fs-promises.js';

import { ioError } from '../core/errors.js';
import { builtin } from '../util/builtin.js';

const { join, resolve, sep } = builtin('node:path');

/** Why a request path was refused, or the segments it maps to. */
export type PathResult = { ok: true; segments: string[] } | { ok: false; status: 400 | 403 | 404 };

const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;

/**
 * Splits the path of a request target into decoded segments, refusing traversal.
 * Accepts origin-form (`/a/b?q`) and absolute-form (`http://host/a/b`) targets.
 */
export function requestPathSegments(target: string, options: { dotfiles?: boolean } = {}): PathResult {
  let path = target;
  const absolute = ABSOLUTE_FORM.exec(path);
  if (absolute !== null) path = path.slice(absolute[0].length) || '/';
  if (!path.startsWith('/')) return { ok: false, status: 400 };
  const cut = path.search(/[?#]/);
  if (cut >= 0) path = path.slice(0, cut);

  const segments: string[] = [];
  for (const raw of path.split('/')) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return { ok: false, status: 400 };
    }
    if (segment === '' || segment === '.') continue;
    if (segment === '..' || /[/\\\0]/.test(segment)) return { ok: false, status: 403 };
    if (segment.startsWith('.') && options.dotfiles !== true) return { ok: false, status: 404 };
    segments.push(segment);
  }
  return { ok: true, segments };
}

/** True when the real path `real` is `rootReal` itself or lies under it (both already resolved by `realpath`). */
export function isInsideRoot(rootReal: string, real: string): boolean {
  return real === rootReal || real.startsWith(rootReal.endsWith(sep) ? rootReal : rootReal + sep);
}

/**
 * The status a failed `realpath` or `open` answers: always 404, whatever the cause (a
 * permission error answered 403 would tell that the file exists).
 */
export function statusOfFsError(_err: unknown): 404 {
  return 404;
}

/** Where decoded segments lead: a real path inside the root, or the status refusing them. */
export type ResolvedPath = { ok: true; real: string } | { ok: false; status: 404 };

/**
 * Resolves `segments` under `rootReal` (the root's own real path) with `realpath`, so that
 * symlinks are followed; a path that does not exist, or that lands outside the root,
 * answers 404 (the same answer, so that outside files cannot be probed).
 */
export async function resolveInsideRoot(rootReal: string, segments: readonly string[]): Promise<ResolvedPath> {
  let real: string;
  try {
    real = await realpath(join(rootReal, ...segments));
  } catch (err) {
    return { ok: false, status: statusOfFsError(err) };
  }
  return isInsideRoot(rootReal, real) ? { ok: true, real } : { ok: false, status: 404 };
}

/** A system-style error for a condition found by a check rather than raised by a call. */
function condition(message: string, code: string, cause?: unknown): NodeJS.ErrnoException {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { code });
}

/** The real path of `root`, which must be a directory (else an IO SyncError "Cannot serve <root>: …"). */
export async function realRootDirectory(root: string): Promise<string> {
  let real: string;
  try {
    real = await realpath(resolve(root));
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw ioError('serve', root, missing ? condition('no such directory', 'ENOENT', err) : err);
  }
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(real)).isDirectory();
  } catch (err) {
    throw ioError('serve', root, err);
  }
  if (!isDirectory) throw ioError('serve', root, condition('not a directory', 'ENOTDIR'));
  return real;
}
