/**
 * Atomic replacement of a file: write a temporary file in the target's folder, flush it,
 * then rename it over the target. Until `commit()` the target is untouched; `abort()`
 * removes the temporary file.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ioError } from '../core/errors.js';
import type { OutputSink } from '../core/patcher.js';
import { tempPath } from './staging.js';

/** A temporary file that becomes `target` on commit. */
export class AtomicFile implements OutputSink {
  readonly target: string;
  readonly tempPath: string;
  readonly #fh: FileHandle;
  readonly #mode: number | undefined;
  #done = false;

  private constructor(target: string, tempPath: string, fh: FileHandle, mode: number | undefined) {
    this.target = target;
    this.tempPath = tempPath;
    this.#fh = fh;
    this.#mode = mode;
  }

  /** Creates the temporary file next to `target` (keeping the target's mode if it exists). */
  static async create(target: string): Promise<AtomicFile> {
    let mode: number | undefined;
    try {
      mode = (await stat(target)).mode & 0o7777;
    } catch {
      mode = undefined;
    }
    const temp = tempPath(target);
    let fh: FileHandle;
    try {
      fh = await open(temp, 'wx', 0o600);
    } catch (cause) {
      throw ioError('create a temporary file for', target, cause);
    }
    return new AtomicFile(target, temp, fh, mode);
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
      await this.#fh.chmod(this.#mode ?? 0o644 & ~process.umask());
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
