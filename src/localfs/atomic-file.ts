/**
 * Atomic replacement of a file: write a temporary file in the target's folder, flush it,
 * then rename it over the target. Until `commit()` the target is untouched; `abort()`
 * removes the temporary file. Only a regular file (or a symbolic link, which is replaced,
 * not followed) is ever replaced: a device, FIFO, socket or directory at the target is
 * refused before anything is written.
 *
 * A run stopped without cleaning up (`kill -9`, a power loss) leaves its temporary file
 * behind; {@link staleTempFiles} finds those of one target, so the next run can reuse
 * their content (a patch reads them as seeds) and remove them.
 *
 * @module
 */
import { copyFile, lstat, open, readdir, rename, unlink, type FileHandle } from '../util/fs-promises.js';
import type { Stats } from 'node:fs';
import { SyncError, ioError } from '../core/errors.js';
import type { BlockSource } from '../core/block-source.js';
import type { CopiedOutput, OutputSink } from '../core/patcher.js';
import { isTempNameOf, tempPath } from './staging.js';
import { builtin } from '../util/builtin.js';

const { closeSync, constants, fchmodSync, fstatSync, lstatSync, openSync, renameSync, unlinkSync, writeSync } = builtin('node:fs');
const { userInfo } = builtin('node:os');
const { basename, dirname, join } = builtin('node:path');

/** The mode a new file is created with, before the process's umask takes its bits away. */
const NEW_FILE_MODE = 0o644;
/** The mode of the temporary file while it is written: readable by its owner only. */
const WRITING_MODE = 0o600;
/**
 * The bits of an existing target its replacement keeps: the permission bits only. New
 * content never inherits setuid/setgid (rsync clears them too unless asked to keep
 * them): a set-id program patched with downloaded bytes would run those bytes with the
 * owner's rights. The sticky bit goes as well: it means nothing on a regular file here,
 * and some systems refuse it on a file to anyone but root, which would fail the commit.
 */
const KEPT_MODE_BITS = 0o777;

/** Why what `st` describes is never replaced by a file, or undefined when it may be. */
function notReplaceable(st: Stats): string | undefined {
  if (st.isFile() || st.isSymbolicLink()) return undefined;
  const what = st.isDirectory()
    ? 'a directory'
    : st.isCharacterDevice() || st.isBlockDevice()
      ? 'a device'
      : st.isFIFO()
        ? 'a FIFO'
        : st.isSocket()
          ? 'a socket'
          : 'not a regular file';
  return `it is ${what}, not a regular file (only a regular file or a link is replaced)`;
}

/**
 * What is at `target` (lstat: a link is not followed), or undefined when nothing is;
 * an IO error when it is something a file must never replace (a device, a FIFO, a
 * socket, a directory: writing `-o /dev/full` as root once replaced the device node).
 * Callers that fetch before they write call it first, so nothing is fetched for an
 * output that would be refused.
 */
export async function checkReplaceable(target: string): Promise<Stats | undefined> {
  return lstat(target).then(
    (st) => replaceable(target, st),
    (cause: unknown) => nothingThere(target, cause),
  );
}

/** {@link checkReplaceable}, with the system call made in place. */
function checkReplaceableSync(target: string): Stats | undefined {
  let st: Stats;
  try {
    st = lstatSync(target);
  } catch (cause) {
    return nothingThere(target, cause);
  }
  return replaceable(target, st);
}

/** `st`, what is at `target`, unless it is something a file must never replace (an IO error). */
function replaceable(target: string, st: Stats): Stats {
  const why = notReplaceable(st);
  if (why !== undefined) throw ioError('replace', target, why);
  return st;
}

/** Undefined when lstat failed because nothing is at `target`; an IO error otherwise. */
function nothingThere(target: string, cause: unknown): undefined {
  if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  throw ioError('replace', target, cause);
}

/** The permission bits of the regular file at `target`; undefined for a link or nothing. */
async function keptMode(target: string): Promise<number | undefined> {
  // lstat: the mode of a link's target is not the mode of what replaces the link.
  const st = await checkReplaceable(target);
  return st?.isFile() ? st.mode & KEPT_MODE_BITS : undefined;
}

/** A temporary file that becomes `target` on commit. */
export class AtomicFile implements OutputSink {
  readonly target: string;
  readonly tempPath: string;
  readonly #fh: FileHandle;
  /** The mode the result gets at commit. */
  readonly #mode: number;
  #done = false;

  private constructor(target: string, tempPath: string, fh: FileHandle, mode: number) {
    this.target = target;
    this.tempPath = tempPath;
    this.#fh = fh;
    this.#mode = mode;
  }

  /**
   * Creates the temporary file next to `target`. The result keeps the permission bits
   * (0o777) of an existing regular file at `target`, never its set-id bits; a new file,
   * or one replacing a link or anything else (the link is replaced, not its target),
   * gets 0o644 less the process's umask, as any file the process creates. The temporary
   * file is 0o600 until the commit. With `mode`, the result gets that mode's permission
   * bits instead, whatever is at `target` (a part file is committed 0o600 and given its
   * final mode once verified). A device, FIFO, socket or directory at `target` is an IO
   * error, and nothing is created.
   */
  static async create(target: string, options: { mode?: number } = {}): Promise<AtomicFile> {
    const found = await keptMode(target);
    const kept = options.mode !== undefined ? options.mode & KEPT_MODE_BITS : found;
    const temp = tempPath(target);
    let fh: FileHandle;
    try {
      // For a new file the system applies the umask to the mode given here; it is read
      // back below (the umask itself is the process's business, not a library's).
      fh = await open(temp, 'wx', kept === undefined ? NEW_FILE_MODE : WRITING_MODE);
    } catch (cause) {
      throw ioError('create a temporary file for', target, cause);
    }
    if (kept !== undefined) return new AtomicFile(target, temp, fh, kept);
    try {
      const created = (await fh.stat()).mode & KEPT_MODE_BITS;
      await fh.chmod(WRITING_MODE);
      return new AtomicFile(target, temp, fh, created);
    } catch (cause) {
      await fh.close().catch(() => {});
      await unlink(temp).catch(() => {});
      throw ioError('create a temporary file for', target, cause);
    }
  }

  /**
   * Replaces `target` with `parts`, as {@link create}, {@link write} and {@link commit} do
   * (the same checks, modes and temporary file, removed on failure), with the system calls
   * made in place: for contents already in memory, up to `IN_PLACE_MAX` (file-chunks.ts; the
   * calls then take microseconds, where create, write and commit are nine trips through the
   * thread pool for a new file).
   * The jquery.js build with a base writes three files this way; its delta file took 4.5-6.5
   * ms through create, write and commit, 0.1 ms so (in-process `performance.now()` marks,
   * 6 runs each).
   */
  static writeSync(target: string, parts: readonly Uint8Array[], options: { mode?: number } = {}): void {
    const found = checkReplaceableSync(target);
    const kept = options.mode !== undefined ? options.mode & KEPT_MODE_BITS : found?.isFile() ? found.mode & KEPT_MODE_BITS : undefined;
    const temp = tempPath(target);
    let fd: number;
    try {
      fd = openSync(temp, 'wx', kept === undefined ? NEW_FILE_MODE : WRITING_MODE);
    } catch (cause) {
      throw ioError('create a temporary file for', target, cause);
    }
    let closed = false;
    try {
      const mode = kept ?? fstatSync(fd).mode & KEPT_MODE_BITS;
      if (kept === undefined) fchmodSync(fd, WRITING_MODE);
      for (const part of parts) {
        for (let p = 0; p < part.length; ) p += writeSync(fd, part, p, part.length - p);
      }
      fchmodSync(fd, mode);
      closed = true;
      closeSync(fd);
      checkReplaceableSync(target);
      renameSync(temp, target);
    } catch (cause) {
      if (!closed) {
        try {
          closeSync(fd);
        } catch {}
      }
      try {
        unlinkSync(temp);
      } catch {}
      throw SyncError.is(cause) ? cause : ioError('replace', target, cause);
    }
  }

  /**
   * Makes the temporary file a copy of `source` without passing its bytes through this
   * process: a reflink where the file system has them (`COPYFILE_FICLONE`), else libuv's
   * `copy_file_range`/`sendfile` in the kernel (256 MiB in 0.08 s on the benchmark VM's
   * ext4, against 0.84 s for writing the same bytes from Node, see patcher.ts). Call it
   * before any write; writes then go on from the copy's start.
   */
  async copyFrom(source: string): Promise<void> {
    try {
      await copyFile(source, this.tempPath, constants.COPYFILE_FICLONE);
    } catch (cause) {
      throw ioError('copy into', this.tempPath, cause);
    }
  }

  /**
   * Makes the temporary file the first `length` bytes of `source` when the source can copy
   * itself to a local file ({@link BlockSource.copyTo}); resolves with a reader of the
   * temporary file, or undefined (nothing written). Call it before any write.
   */
  async copyWhole(source: BlockSource, length: number): Promise<CopiedOutput | undefined> {
    if (source.copyTo === undefined) return undefined;
    if (!(await source.copyTo(this.tempPath, length))) return undefined;
    const fh = this.#fh;
    const path = this.tempPath;
    let reader: FileHandle;
    try {
      // A longer source: the output keeps the reference's length only.
      if ((await fh.stat()).size > length) await fh.truncate(length);
      reader = await open(path, 'r');
    } catch (cause) {
      await fh.truncate(0).catch(() => {});
      throw ioError('read back', path, cause);
    }
    return {
      async readInto(target: Uint8Array, position: number): Promise<number> {
        try {
          return (await reader.read(target, 0, target.length, position)).bytesRead;
        } catch (cause) {
          throw ioError('read back', path, cause);
        }
      },
      async reset(): Promise<void> {
        try {
          await fh.truncate(0);
        } catch (cause) {
          throw ioError('write', path, cause);
        }
      },
      async close(): Promise<void> {
        await reader.close();
      },
    };
  }

  async write(data: Uint8Array): Promise<void> {
    try {
      for (let p = 0; p < data.length; ) {
        const { bytesWritten } = await this.#fh.write(data, p, data.length - p);
        p += bytesWritten;
      }
    } catch (cause) {
      throw ioError('write', this.tempPath, cause);
    }
  }

  /**
   * Closes the temporary file and renames it over the target. With `fsync` the data is
   * flushed to disk first (rsync's `--fsync`): slower, but the new file survives a power
   * loss right after the rename. Like rsync and zsync, the default leaves that to the OS.
   */
  async commit(options: { fsync?: boolean } = {}): Promise<void> {
    if (this.#done) throw new Error('Cannot commit: the file was already committed or aborted');
    this.#done = true;
    try {
      await this.#fh.chmod(this.#mode);
      if (options.fsync) await this.#fh.datasync();
      await this.#fh.close();
      // Checked again: something may have been put there while the file was written.
      await checkReplaceable(this.target);
      await rename(this.tempPath, this.target);
    } catch (cause) {
      await this.#fh.close().catch(() => {});
      await unlink(this.tempPath).catch(() => {});
      throw ioError('replace', this.target, cause);
    }
  }

  /** Closes and removes the temporary file; the target stays as it was. Idempotent. */
  async abort(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await this.#fh.close().catch(() => {});
    await unlink(this.tempPath).catch(() => {});
  }
}

/** This process's user id, or undefined when the system has none to compare (Windows). */
async function ownUid(): Promise<number | undefined | null> {
  try {
    const uid = userInfo().uid;
    return uid < 0 ? undefined : uid;
  } catch {
    // No passwd entry for the user (some containers): the process's own /proc entry says.
    return lstat('/proc/self').then(
      (st) => st.uid,
      () => null,
    );
  }
}

/**
 * The temporary files stopped runs left beside `target`, largest first: in its folder,
 * named exactly as {@link tempPath} names one for `target` (not a part's, not a
 * sibling's), each a regular file (never a link) with one name only, owned by this
 * process's user, and at most `maxSize` bytes. Anything else is not gosync's to read
 * or remove, and is left alone. (A run of this user writing the same target at this
 * very moment cannot be told apart: its temporary file is found too.)
 */
export async function staleTempFiles(target: string, options: { maxSize?: number } = {}): Promise<string[]> {
  const folder = dirname(target);
  const base = basename(target);
  let names: string[];
  try {
    names = await readdir(folder);
  } catch {
    return [];
  }
  names = names.filter((n) => isTempNameOf(n, base));
  if (names.length === 0) return [];
  const uid = await ownUid();
  // Whose files these are cannot be known: none is taken.
  if (uid === null) return [];
  const found: { path: string; size: number }[] = [];
  for (const n of names) {
    const path = join(folder, n);
    const st = await lstat(path).catch(() => undefined);
    if (st === undefined || !st.isFile() || st.nlink !== 1) continue;
    if (uid !== undefined && st.uid !== uid) continue;
    if (options.maxSize !== undefined && st.size > options.maxSize) continue;
    found.push({ path, size: st.size });
  }
  return found.sort((a, b) => b.size - a.size).map((f) => f.path);
}
