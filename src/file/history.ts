/**
 * Single files keep their history, as a folder's publish directory does: the publisher
 * keeps the last versions it published in a content-addressed folder beside the index
 * (`<index>-versions/<SHA-256 in hex>`), and every build publishes a delta from each of
 * them. A client holding any of those versions then moves only the index summary and one
 * delta. The folder is the publisher's: it need not be served.
 *
 * @module
 */
import { constants, copyFile, mkdir, readdir, rename, rm, stat, utimes } from '../util/fs-promises.js';
import { ioError } from '../core/errors.js';
import { fileSha256 } from '../localfs/file-chunks.js';
import { builtin } from '../util/builtin.js';

const { join } = builtin('node:path');

const SHA_NAME = /^[0-9a-f]{64}$/;

/** The folder that holds the earlier versions of the file indexed at `indexPath`. */
export function historyFolder(indexPath: string): string {
  return `${indexPath}-versions`;
}

/** The versions kept, newest first (by the time they were recorded). */
async function versions(folder: string): Promise<{ path: string; sha256: string; time: number }[]> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw ioError('read', folder, cause);
  }
  const found = [];
  for (const name of names.filter((n) => SHA_NAME.test(n))) {
    const path = join(folder, name);
    const st = await stat(path).catch(() => undefined);
    if (st?.isFile()) found.push({ path, sha256: name, time: st.mtimeMs });
  }
  return found.sort((a, b) => b.time - a.time || (a.sha256 < b.sha256 ? -1 : 1));
}

/**
 * The earlier versions to publish deltas from for `input`: the `keep` most recent ones
 * recorded, `input`'s own content excepted.
 */
export async function historyBases(input: string, indexPath: string, keep: number, inputSha256?: string): Promise<string[]> {
  if (keep <= 0) return [];
  const own = inputSha256 ?? (await fileSha256(input)).toString('hex');
  return (await versions(historyFolder(indexPath)))
    .filter((v) => v.sha256 !== own)
    .slice(0, keep)
    .map((v) => v.path);
}

/**
 * Records `input` (just published) as the newest version, and removes all but the `keep`
 * most recent. Call it once the index is written. `inputSha256` (hex) spares a read of the
 * input when the caller has it already.
 */
export async function recordVersion(input: string, indexPath: string, keep: number, inputSha256?: string): Promise<void> {
  if (keep <= 0) return;
  const folder = historyFolder(indexPath);
  await mkdir(folder, { recursive: true }).catch((cause: unknown) => Promise.reject(ioError('create', folder, cause)));
  const sha = inputSha256 ?? (await fileSha256(input)).toString('hex');
  const path = join(folder, sha);
  const tmp = `${path}.tmp`;
  try {
    // A clone where the file system can (no copy of the data), a copy elsewhere.
    await copyFile(input, tmp, constants.COPYFILE_FICLONE);
    const now = new Date();
    await utimes(tmp, now, now);
    await rename(tmp, path);
  } catch (cause) {
    await rm(tmp, { force: true });
    throw ioError('keep a copy of', input, cause);
  }
  for (const old of (await versions(folder)).slice(keep)) {
    await rm(old.path, { force: true }).catch((cause: unknown) => Promise.reject(ioError('remove', old.path, cause)));
  }
}
