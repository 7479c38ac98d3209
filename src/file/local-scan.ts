/**
 * Scanning local files (the basis and any seeds) with the matcher.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { open, realpath, stat, type FileHandle } from '../util/fs-promises.js';
import { ioError, throwIfAborted } from '../core/errors.js';
import type { BlockIndex } from '../core/index/block-index.js';
import { BlockMatcher } from '../core/matcher.js';
import type { LocalReader, PatchProgress } from '../core/patcher.js';
import { READ_SIZE } from '../core/read-size.js';
import { shareIndex, workersCanHash, type ScanResult, type ScanTask, type SharedIndex } from '../workers/tasks.js';
import { PARALLEL_MIN_SIZE, WorkerPool, defaultScanThreads } from '../workers/worker-pool.js';

/** Smallest section a worker scans; each section boundary costs a pair lookup to resync. */
const MIN_SECTION = 16 * 1024 * 1024;

/** Options of {@link scanLocalFiles}. */
export interface ScanOptions {
  signal?: AbortSignal;
  onProgress?: (p: PatchProgress) => void;
  /** Size of each sequential read, default {@link READ_SIZE} (4 MiB). */
  readSize?: number;
  /** Worker threads for scanning (default {@link defaultScanThreads} of each file's size; 1 scans on the calling thread). */
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
    let size: number;
    let isFile: boolean;
    try {
      real = await realpath(p);
      const st = await stat(real);
      size = st.size;
      isFile = st.isFile();
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw ioError('read the local file', p, cause);
    }
    if (!isFile) throw ioError('read the local file', p, 'it is not a regular file');
    if (seen.has(real)) continue;
    seen.add(real);
    sizes.push(size);
    files.push(p);
  }
  const total = sizes.reduce((a, b) => a + b, 0);
  let done = 0;
  const threadsOf = (size: number): number => options.threads ?? defaultScanThreads(size);
  // A strong hash a worker cannot rebuild by its name (a caller's own) is used here only.
  const workers = !sizes.some((s) => s >= PARALLEL_MIN_SIZE && threadsOf(s) > 1) || (await workersCanHash(index));
  let pool: WorkerPool | undefined;
  let shared: SharedIndex | undefined;
  const buf = Buffer.allocUnsafeSlow(options.readSize ?? READ_SIZE);
  try {
    for (let id = 0; id < files.length && !matcher.complete; id++) {
      const path = files[id]!;
      const threads = workers ? threadsOf(sizes[id]!) : 1;
      if (threads > 1 && sizes[id]! >= PARALLEL_MIN_SIZE) {
        pool ??= new WorkerPool(threads);
        shared ??= shareIndex(index, randomUUID());
        await scanParallel(matcher, shared, pool, path, id, sizes[id]!, threads, signal, (n) => {
          done += n;
          onProgress?.({ phase: 'scan', done, total });
        });
        continue;
      }
      const fh = await openLocal(path);
      try {
        const scanner = matcher.scanner(id);
        for (;;) {
          throwIfAborted(signal);
          const bytesRead = await readLocal(fh, path, buf, null);
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
 * is tried as in a serial scan.
 *
 * A serial scan differs in one way: when it reaches a section, it already knows what
 * the sections before found, and does not match those blocks again, so where the file
 * repeats data it keeps rolling and may find other blocks there. A worker cannot know
 * that, so the places where a section matched blocks an earlier section also matched
 * are scanned a second time, knowing everything found so far. (On the typescript 5.5.4
 * → 5.6.2 package tar, which repeats a lot, sections alone found 177 blocks fewer than a
 * serial scan; with the second pass they find as many.)
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
  const bs = shared.blockSize;
  const sectionSize = Math.max(MIN_SECTION, Math.ceil(size / (4 * threads)));
  const run = (sections: [number, number][], known: Uint8Array) =>
    pool.run<ScanResult>({ kind: 'scan', index: shared, path, source: id, sections, known, fileSize: size } satisfies ScanTask, [], signal);
  const known = Uint8Array.from(matcher.direct);
  const tasks: Promise<ScanResult>[] = [];
  for (let start = 0; start < size; start += sectionSize) {
    const end = Math.min(size, start + sectionSize);
    tasks.push(
      run([[start, end]], known).then((r) => {
        onDone(end - start);
        return r;
      }),
    );
  }
  // Results are awaited in order; a later section failing (or all of them, on an abort)
  // before an earlier one answers must not count as an unhandled rejection.
  for (const t of tasks) t.catch(() => {});
  const again: [number, number][] = [];
  try {
    for (const t of tasks) {
      const r = await t;
      // Blocks this section matched that an earlier one had matched already.
      for (let i = 0; i < r.direct.length; i++) {
        if (r.direct[i] === 1 && r.foundSource[i]! >= 0 && matcher.direct[i] === 1 && known[i] === 0) {
          const at = r.foundOffset[i]!;
          again.push([Math.max(0, at - 2 * bs), at + bs]);
        }
      }
      merge(matcher, r);
    }
  } finally {
    await Promise.allSettled(tasks);
  }
  if (again.length === 0 || matcher.complete) return;
  again.sort((a, b) => a[0] - b[0]);
  const sections: [number, number][] = [];
  for (const [a, b] of again) {
    const last = sections[sections.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else sections.push([a, Math.min(size, b)]);
  }
  // Spread the second pass over the workers, in file order within each.
  const perTask = Math.ceil(sections.length / threads);
  const second: Promise<ScanResult>[] = [];
  const nowKnown = Uint8Array.from(matcher.direct);
  for (let k = 0; k < sections.length; k += perTask) second.push(run(sections.slice(k, k + perTask), nowKnown));
  for (const t of second) t.catch(() => {});
  try {
    for (const t of second) merge(matcher, await t);
  } finally {
    await Promise.allSettled(second);
  }
}

function merge(matcher: BlockMatcher, r: ScanResult): void {
  matcher.merge(r);
  const s = matcher.stats;
  s.bytesScanned += r.stats.bytesScanned;
  s.weakHits += r.stats.weakHits;
  s.strongHashes += r.stats.strongHashes;
  s.falseMatches += r.stats.falseMatches;
}

/** Opens a local file for reading; an IO error when it cannot be. */
function openLocal(path: string): Promise<FileHandle> {
  return open(path, 'r').catch((cause: unknown) => Promise.reject(ioError('open the local file', path, cause)));
}

/** Reads into `target` at `position` (null: the current position); an IO error when the read fails. */
async function readLocal(fh: FileHandle, path: string, target: Uint8Array, position: number | null): Promise<number> {
  try {
    return (await fh.read(target, 0, target.length, position)).bytesRead;
  } catch (cause) {
    throw ioError('read the local file', path, cause);
  }
}

/** The reader of a file left out (undefined) in {@link openLocalReaders}: no block is read there. */
const NOT_OPENED: LocalReader = {
  readInto: () => Promise.reject(new Error('Cannot read a local file: it was not opened (no block was found in it)')),
};

/**
 * Opens local files for random-access reads; `close()` releases them all. A file given as
 * undefined (one no block was found in, removed since) is not opened: its id keeps its
 * place. When one cannot be opened, the ones already open are closed before the IO error
 * is thrown.
 */
export async function openLocalReaders(
  files: readonly (string | undefined)[],
): Promise<{ readers: LocalReader[]; close(): Promise<void> }> {
  const opened = await Promise.allSettled(files.map((f) => (f === undefined ? Promise.resolve(undefined) : openLocal(f))));
  const handles: (FileHandle | undefined)[] = [];
  let failure: { error: unknown } | undefined;
  for (const o of opened) {
    if (o.status === 'fulfilled') handles.push(o.value);
    else failure ??= { error: o.reason };
  }
  const close = async () => {
    await Promise.all(handles.map((h) => h?.close().catch(() => {})));
  };
  if (failure) {
    await close();
    throw failure.error;
  }
  const readers = handles.map(
    (fh, i): LocalReader =>
      fh === undefined
        ? NOT_OPENED
        : {
            readInto: (target, position) => readLocal(fh, files[i]!, target, position),
          },
  );
  return { readers, close };
}
