/**
 * Several regular files read as one basis, end to end: what a pull's receiver signs and
 * patches from when it has seeds (`seeds`: other local files whose blocks a new file may
 * reuse). The sender sees one basis of their total size; its copies name offsets in it.
 *
 * @module
 */
import { throwIfAborted } from '../core/errors.js';
import { fileRange, openRegularFile, type OpenFile } from './read-file.js';

/** Regular files open as one basis (opened as {@link openRegularFile} does). */
export class BasisSet {
  readonly #files: OpenFile[];
  /** Where each file starts in the basis. */
  readonly #starts: number[];
  /** Bytes of all the files. */
  readonly size: number;

  private constructor(files: OpenFile[]) {
    this.#files = files;
    this.#starts = [];
    let at = 0;
    for (const f of files) {
      this.#starts.push(at);
      at += f.size;
    }
    this.size = at;
  }

  /** Opens every file of `paths`; rejects (closing those opened) when one cannot be. */
  static async open(paths: readonly string[]): Promise<BasisSet> {
    const files: OpenFile[] = [];
    try {
      for (const p of paths) files.push(await openRegularFile(p));
    } catch (err) {
      await Promise.all(files.map((f) => f.fh.close().catch(() => {})));
      throw err;
    }
    return new BasisSet(files);
  }

  /** The bytes of `[start, end)` of the basis, in pieces (each valid until the next is asked for). */
  async *range(start: number, end: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < this.#files.length; i++) {
      const from = this.#starts[i]!;
      const file = this.#files[i]!;
      const to = from + file.size;
      if (to <= start || from >= end) continue;
      yield* fileRange(file, { start: Math.max(0, start - from), end: Math.min(file.size, end - from), ...(signal ? { signal } : {}) });
    }
  }

  /**
   * Reads up to `want` bytes at basis offset `at` into `buf` (from one file: fewer at a
   * file's end). Returns 0 past the end, or when a file got shorter since it was opened.
   */
  async read(buf: Uint8Array, want: number, at: number, signal?: AbortSignal): Promise<number> {
    throwIfAborted(signal);
    let i = this.#files.length - 1;
    while (i > 0 && this.#starts[i]! > at) i--;
    const file = this.#files[i];
    if (!file) return 0;
    const offset = at - this.#starts[i]!;
    const n = Math.min(want, file.size - offset);
    if (n <= 0) return 0;
    const { bytesRead } = await file.fh.read(buf, 0, n, offset);
    return bytesRead;
  }

  async close(): Promise<void> {
    await Promise.all(this.#files.map((f) => f.fh.close().catch(() => {})));
  }
}
