/**
 * Scanning local files (the basis and any seeds) with the matcher.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { open, realpath, stat } from 'node:fs/promises';
import { ErrorCodes, SyncError, throwIfAborted } from './errors.js';
import type { BlockIndex } from './index/block-index.js';
import { BlockMatcher } from './matcher/block-matcher.js';
import type { LocalReader, PatchProgress } from './patcher/assemble.js';
import { shareIndex, type ScanResult, type ScanTask, type SharedIndex } from './workers/tasks.js';
import { WorkerPool, defaultThreads } from './workers/worker-pool.js';

/**
 * Files below this size are scanned on the calling thread: starting workers costs about
 * as much as scanning 16 MiB of unrelated data (bench/run.ts, "scan").
 */
const PARALLEL_MIN_SIZE = 16 * 1024 * 1024;
/** Smallest section a worker scans; each section boundary costs a pair lookup to resync. */
const MIN_SECTION = 16 * 1024 * 1024;

/** Options of {@link scanLocalFiles}. */
export interface ScanOptions {
  signal?: AbortSignal;
  onProgress?: (p: PatchProgress) => void;
  /** Size of each sequential read, default 4 MiB. */
  readSize?: number;
  /** Worker threads for scanning (default: every core; 1 scans on the calling thread). */
  threads?: number;
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
  const threads = options.threads ?? defaultThreads();
  let pool: WorkerPool | undefined;
  let shared: SharedIndex | undefined;
  const buf = Buffer.allocUnsafeSlow(options.readSize ?? 4 * 1024 * 1024);
  try {
    for (let id = 0; id < files.length && !matcher.complete; id++) {
      const path = files[id]!;
      if (threads > 1 && sizes[id]! >= PARALLEL_MIN_SIZE) {
        pool ??= new WorkerPool(threads);
        shared ??= shareIndex(index, randomUUID());
        await scanParallel(matcher, shared, pool, path, id, sizes[id]!, threads, signal, (n) => {
          done += n;
          onProgress?.({ phase: 'scan', done, total });
        });
        continue;
      }
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
  } finally {
    await pool?.close();
  }
  return { matcher, files };
}

/**
 * Scans one file in sections on worker threads and merges what they found, in section
 * order. Each section is read with one window of overlap into the next, so every offset
 * of the file is tried exactly as in a serial scan, but the sequence prediction restarts
 * at each section boundary.
 */
async function scanParallel(
  matcher: BlockMatcher,
  shared: SharedIndex,
  pool: WorkerPool,
  path: string,
  id: number,
  size: number,
  threads: number,
  signal: AbortSignal | undefined,
  onDone: (bytes: number) => void,
): Promise<void> {
  const sectionSize = Math.max(MIN_SECTION, Math.ceil(size / (4 * threads)));
  const known = Uint8Array.from(matcher.direct);
  const tasks: Promise<ScanResult>[] = [];
  for (let start = 0; start < size; start += sectionSize) {
    const end = Math.min(size, start + sectionSize);
    const task: ScanTask = { kind: 'scan', index: shared, path, source: id, start, end, fileSize: size, known };
    tasks.push(
      pool.run<ScanResult>(task, [], signal).then((r) => {
        onDone(end - start);
        return r;
      }),
    );
  }
  try {
    for (const t of tasks) {
      const r = await t;
      matcher.merge(r);
      const s = matcher.stats;
      s.bytesScanned += r.stats.bytesScanned;
      s.weakHits += r.stats.weakHits;
      s.strongHashes += r.stats.strongHashes;
      s.falseMatches += r.stats.falseMatches;
    }
  } finally {
    await Promise.allSettled(tasks);
  }
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
