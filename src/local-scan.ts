/**
 * Scanning local files (the basis and any seeds) with the matcher.
 *
 * @module
 */
import { open, realpath, stat } from 'node:fs/promises';
import { ErrorCodes, SyncError, throwIfAborted } from './errors.js';
import type { BlockIndex } from './index/block-index.js';
import { BlockMatcher } from './matcher/block-matcher.js';
import type { LocalReader, PatchProgress } from './patcher/assemble.js';

/** Options of {@link scanLocalFiles}. */
export interface ScanOptions {
  signal?: AbortSignal;
  onProgress?: (p: PatchProgress) => void;
  /** Size of each sequential read, default 4 MiB. */
  readSize?: number;
}

/** The result of scanning: the matcher, and the files it refers to by id. */
export interface LocalScan {
  matcher: BlockMatcher;
  /** Paths by local file id (as recorded in `matcher.foundSource`). */
  files: string[];
}

/**
 * Scans local files in order (missing files are skipped, a file listed twice is scanned
 * once) until every block is found or the files run out.
 */
export async function scanLocalFiles(index: BlockIndex, paths: readonly string[], options: ScanOptions = {}): Promise<LocalScan> {
  const { signal, onProgress } = options;
  const matcher = new BlockMatcher(index);
  const files: string[] = [];
  const seen = new Set<string>();
  const sizes: number[] = [];
  for (const p of paths) {
    let real: string;
    try {
      real = await realpath(p);
      const st = await stat(real);
      if (!st.isFile()) throw new SyncError(ErrorCodes.IO, `Cannot read the local file ${p}: it is not a regular file`, { path: p });
      if (seen.has(real)) continue;
      seen.add(real);
      sizes.push(st.size);
      files.push(p);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') continue;
      if (SyncError.is(cause)) throw cause;
      throw new SyncError(ErrorCodes.IO, `Cannot read the local file ${p}: ${(cause as Error).message}`, { cause, path: p });
    }
  }
  const total = sizes.reduce((a, b) => a + b, 0);
  let done = 0;
  const buf = Buffer.allocUnsafeSlow(options.readSize ?? 4 * 1024 * 1024);
  for (let id = 0; id < files.length && !matcher.complete; id++) {
    const path = files[id]!;
    const fh = await open(path, 'r').catch((cause: unknown) => {
      throw new SyncError(ErrorCodes.IO, `Cannot open the local file ${path}: ${(cause as Error).message}`, { cause, path });
    });
    try {
      const scanner = matcher.scanner(id);
      for (;;) {
        throwIfAborted(signal);
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        scanner.push(buf.subarray(0, bytesRead));
        done += bytesRead;
        onProgress?.({ phase: 'scan', done, total });
        if (matcher.complete) break;
      }
      scanner.end();
    } finally {
      await fh.close();
    }
  }
  return { matcher, files };
}

/** Opens local files for random-access reads; `close()` releases them all. */
export async function openLocalReaders(files: readonly string[]): Promise<{ readers: LocalReader[]; close(): Promise<void> }> {
  const handles = await Promise.all(
    files.map((path) =>
      open(path, 'r').catch((cause: unknown) => {
        throw new SyncError(ErrorCodes.IO, `Cannot open the local file ${path}: ${(cause as Error).message}`, { cause, path });
      }),
    ),
  );
  const readers = handles.map(
    (fh): LocalReader => ({
      async readInto(target, position) {
        const { bytesRead } = await fh.read(target, 0, target.length, position);
        return bytesRead;
      },
    }),
  );
  return {
    readers,
    async close() {
      await Promise.all(handles.map((h) => h.close().catch(() => {})));
    },
  };
}
