/**
 * Atomic replacement of a file: write a temporary file in the target's folder, flush it,
 * then rename it over the target. Until `commit()` the target is untouched; `abort()`
 * removes the temporary file.
 *
 * @module
 */
import { lstat, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { ioError } from '../core/errors.js';
import type { OutputSink } from '../core/patcher.js';
import { tempPath } from './staging.js';

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

/** The permission bits of the regular file at `target`; undefined for anything else or nothing. */
async function keptMode(target: string): Promise<number | undefined> {
  try {
    // lstat: the mode of a link's target is not the mode of what replaces the link.
    const st = await lstat(target);
    return st.isFile() ? st.mode & KEPT_MODE_BITS : undefined;
  } catch {
    return undefined;
  }
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
   * final mode once verified).
   */
  static async create(target: string, options: { mode?: number } = {}): Promise<AtomicFile> {
    const kept = options.mode !== undefined ? options.mode & KEPT_MODE_BITS : await keptMode(target);
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
