/**
 * A one-line progress bar on stderr, drawn only when stderr is a terminal.
 *
 * @module
 */
import type { PatchProgress } from '../core/patcher.js';
import { formatBytes } from './usage.js';

/** Draws `label [#####-----] 42% 12.3 MB/29.1 MB`, at most ten times a second. */
export class ProgressLine {
  readonly #stream: NodeJS.WriteStream;
  readonly #enabled: boolean;
  #last = 0;
  #drawn = false;

  constructor(stream: NodeJS.WriteStream, enabled: boolean) {
    this.#stream = stream;
    this.#enabled = enabled && stream.isTTY === true;
  }

  /** Updates the line (throttled; the final update of a phase always draws). */
  update(label: string, done: number, total: number): void {
    if (!this.#enabled) return;
    const now = performance.now();
    if (done < total && now - this.#last < 100) return;
    this.#last = now;
    const width = 30;
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const fill = Math.round(frac * width);
    const bar = '#'.repeat(fill) + '-'.repeat(width - fill);
    this.#stream.write(
      `\r${label.padEnd(6)} [${bar}] ${String(Math.floor(frac * 100)).padStart(3)}% ${formatBytes(done)}/${formatBytes(total)}\x1b[K`,
    );
    this.#drawn = true;
  }

  /** A callback for the patch functions' `onProgress`. */
  patch = (p: PatchProgress): void => this.update(p.phase === 'scan' ? 'scan' : 'fetch', p.done, p.total);

  /** Clears the line. */
  done(): void {
    if (this.#drawn) this.#stream.write('\r\x1b[K');
    this.#drawn = false;
  }
}
