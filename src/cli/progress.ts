/**
 * A one-line progress bar on stderr, drawn only when stderr is a terminal.
 *
 * @module
 */
import type { PatchProgress } from '../core/patcher.js';
import { formatBytes } from './usage.js';

/** What a phase counts: bytes (shown as `12.3 MB`, the rate per second in bytes) or files. */
export type ProgressUnit = 'bytes' | 'files';

/** The rate is measured over about this many milliseconds (as curl and rsync smooth theirs). */
const RATE_WINDOW_MS = 5000;

/**
 * Draws `label [#####-----] 42% 12.3 MB/29.1 MB 4.10 MB/s ETA 0:04` (or `120/304 files
 * 51 files/s`), at most ten times a second. The rate is that of the last few seconds of
 * the phase; the ETA is what is left at that rate.
 */
export class ProgressLine {
  readonly #stream: NodeJS.WriteStream;
  readonly #enabled: boolean;
  readonly #now: () => number;
  #last = 0;
  #drawn = false;
  #phase = '';
  /** Recent (time, done) samples of the current phase, oldest first. */
  #samples: [number, number][] = [];

  /** `now`: milliseconds (a clock for tests; default `performance.now`). */
  constructor(stream: NodeJS.WriteStream, enabled: boolean, now: () => number = () => performance.now()) {
    this.#stream = stream;
    this.#enabled = enabled && stream.isTTY === true;
    this.#now = now;
  }

  /** Updates the line (throttled; the final update of a phase always draws). */
  update(label: string, done: number, total: number, unit: ProgressUnit = 'bytes'): void {
    if (!this.#enabled) return;
    const now = this.#now();
    if (label !== this.#phase || (this.#samples.length > 0 && done < this.#samples.at(-1)![1])) {
      this.#phase = label;
      this.#samples = [];
    }
    // A sample every 100 ms at most: a fast phase calls this per block.
    if (this.#samples.length === 0 || now - this.#samples.at(-1)![0] >= 100) this.#samples.push([now, done]);
    while (this.#samples.length > 2 && now - this.#samples[1]![0] >= RATE_WINDOW_MS) this.#samples.shift();
    if (done < total && now - this.#last < 100) return;
    this.#last = now;
    const width = 30;
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const fill = Math.round(frac * width);
    const bar = '#'.repeat(fill) + '-'.repeat(width - fill);
    const counts = unit === 'files' ? `${done}/${total} files` : `${formatBytes(done)}/${formatBytes(total)}`;
    this.#stream.write(
      `\r${label.padEnd(6)} [${bar}] ${String(Math.floor(frac * 100)).padStart(3)}% ${counts}${this.#speed(now, done, total, unit)}\x1b[K`,
    );
    this.#drawn = true;
  }

  /** ` 4.10 MB/s ETA 0:04`, or nothing before a rate can be measured. */
  #speed(now: number, done: number, total: number, unit: ProgressUnit): string {
    const [t0, d0] = this.#samples[0]!;
    if (now - t0 < 250 || done <= d0) return '';
    const rate = ((done - d0) * 1000) / (now - t0);
    const shown = unit === 'files' ? `${rate < 10 ? rate.toFixed(1) : Math.round(rate)} files/s` : `${formatBytes(Math.round(rate))}/s`;
    return done >= total ? ` ${shown}` : ` ${shown} ETA ${formatDuration((total - done) / rate)}`;
  }

  /** A callback for the patch functions' `onProgress`. */
  patch = (p: PatchProgress): void => this.update(p.phase === 'scan' ? 'scan' : 'fetch', p.done, p.total);

  /** Clears the line. */
  done(): void {
    if (this.#drawn) this.#stream.write('\r\x1b[K');
    this.#drawn = false;
  }
}

/** `0:04`, `12:30`, `1:02:03` (as rsync --progress shows time left). */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}
