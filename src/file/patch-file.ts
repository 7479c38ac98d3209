/**
 * The high-level operations on files: patch a local file to match an index, or report
 * what a patch would reuse and fetch.
 *
 * @module
 */
import { open, realpath, stat, unlink } from '../util/fs-promises.js';
import { hash as oneShotHash } from 'node:crypto';
import { defaultScanThreads } from '../workers/worker-pool.js';
import type { Sha256Thread } from '../workers/sha256-thread.js';
import { type Stamp, fileStamp } from '../localfs/stamp.js';
import { fileChunks } from '../localfs/file-chunks.js';
import { ErrorCodes, SyncError, ioError, throwIfAborted } from '../core/errors.js';
import { READ_SIZE } from '../core/read-size.js';
import type { MissingSpan } from '../core/matcher.js';
import { FileVerifier, canCheckBlockDigest, checkBlockDigest } from '../core/verify.js';
import type { BlockIndex } from '../core/index/block-index.js';
import { openLocalReaders, scanLocalFiles } from './local-scan.js';
import { assemble, type AssembleResult, type PatchProgress } from '../core/patcher.js';
import { planRanges, rangesBytes, type PlannedRange } from '../core/planner.js';
import { choosePlan, type FetchPlan } from '../forms/choose-plan.js';
import type { BaseDeltaForm } from '../core/index/published.js';
import type { BlockSource, SourceStats } from '../core/block-source.js';
import { AtomicFile, checkReplaceable, staleTempFiles } from '../localfs/atomic-file.js';
import { builtin } from '../util/builtin.js';

const { availableParallelism } = builtin('node:os');

/** Options shared by {@link patchFile} and {@link diffFile}. */
export interface DiffOptions {
  /** The local (basis) file; it may not exist (then everything is fetched). */
  local: string;
  /** The index of the reference. */
  index: BlockIndex;
  /** More local files whose blocks may be reused (as zsync's `-i`). */
  seeds?: readonly string[];
  /** Bridge gaps between missing ranges up to this many bytes (default 0). */
  gapBytes?: number;
  /** Bridge the smallest gaps until at most this many ranges remain. */
  maxRanges?: number;
  /** Worker threads for scanning large local files (default: defaultScanThreads of each file's size). */
  threads?: number;
  /**
   * The result of a scan done already (a folder's single scan of all its local files):
   * then `local` and `seeds` are not scanned again.
   */
  scan?: FoundScan;
  signal?: AbortSignal;
  onProgress?: (p: PatchProgress) => void;
}

/** Where a scan found each block of the reference (a {@link BlockMatcher} is one). */
export interface FoundBlocks {
  /** Local file id per block (an index into `files`), -1 where not found. */
  readonly foundSource: Int32Array;
  /** Byte offset in that file per block. */
  readonly foundOffset: Float64Array;
  readonly foundCount: number;
  readonly complete: boolean;
  /** Bytes of the reference found. */
  readonly foundBytes: number;
  /**
   * The full strong hash of every block found, as the scan computed it (a BlockMatcher
   * keeps them for an index with a block digest); lets the result be checked in one pass.
   */
  readonly fullHashes?: Uint8Array | undefined;
  missingSpans(): MissingSpan[];
}

/** A finished scan: what was found, and the local files by id. */
export interface FoundScan {
  matcher: FoundBlocks;
  files: string[];
}

/** Options of {@link patchFile}. */
export interface PatchOptions extends DiffOptions {
  /** Where the missing bytes come from (the plain reference). */
  source: BlockSource;
  /**
   * Opens a published form the index lists (compressed frames, the whole compressed
   * file) by its name, relative to the index. Without it only `source` is used.
   */
  openForm?: (name: string) => BlockSource;
  /** The output file (default: `local`, replaced atomically). */
  output?: string;
  /** Flush the result to disk before the rename (default false, as rsync). */
  fsync?: boolean;
}

/** What a diff found. */
export interface DiffReport {
  fileSize: number;
  blockSize: number;
  blockCount: number;
  /** Bytes of the reference found in local files. */
  reusedBytes: number;
  /** Bytes that must be fetched (bridged gaps included). */
  fetchBytes: number;
  /** The planned ranges. */
  ranges: PlannedRange[];
  /** How the missing data would be fetched, and the estimated bytes of each way. */
  plan: FetchPlan;
  /** Local files scanned, by id. */
  files: string[];
}

/** What a patch did. */
export interface PatchReport {
  fileSize: number;
  blockSize: number;
  blockCount: number;
  /** Bytes copied from local files into the output. */
  reusedBytes: number;
  /** Bytes of the reference taken from the source. */
  fetchedBytes: number;
  /** Requests the source made (retries included). */
  requests: number;
  /** Body bytes the source received (for HTTP: including multipart part headers). */
  receivedBytes: number;
  /** Number of ranges planned. */
  ranges: number;
  /**
   * How the missing data was fetched: raw ranges, compressed frames, the whole compressed
   * file, or a delta from the local file's exact version (`base`).
   */
  plan: FetchPlan['kind'] | 'base';
  /** True when the first result failed the whole-file check and everything was refetched. */
  refetched: boolean;
  /** True when the output already was the reference and was left untouched. */
  upToDate: boolean;
  output: string;
  seconds: number;
}

/**
 * The base delta the index lists for the local file's exact version, if any. The delta
 * code (bsdiff, librsync, brotli) is loaded only for an index that lists bases: a patch
 * by blocks loads none of it (less start-up and memory).
 */
async function localBase(index: BlockIndex, local: string, signal: AbortSignal | undefined): Promise<BaseDeltaForm | undefined> {
  if (!index.published?.bases?.length) return undefined;
  return (await import('../forms/patch-from-base.js')).findBase(index, local, signal);
}

/**
 * The temporary files runs stopped without cleaning up (`kill -9`, a power loss) left
 * beside `output` ({@link staleTempFiles}): one more seed each. The patcher wrote each in
 * order, so it holds a prefix of the output it was making, torn at its end; a scan
 * takes only blocks whose strong hash matches, so a torn or foreign tail costs nothing
 * but the reading. One larger than a few times the reference is no temporary file of a
 * patch toward it, and is left alone. None with a scan done already (a folder's).
 */
function staleTemps(output: string, options: DiffOptions): Promise<string[]> {
  if (options.scan) return Promise.resolve([]);
  return staleTempFiles(output, { maxSize: Math.max(4 * options.index.fileSize, STALE_TEMP_MIN_CAP) });
}

/** Smallest size cap of a stale temporary file reused as a seed (see {@link staleTemps}). */
const STALE_TEMP_MIN_CAP = 64 * 1024 * 1024;

/**
 * Scans the local files and plans the fetch. `onLikelyIdentical` is called when the local file
 * looks like the reference itself (see {@link inPlaceScan}), `onFullScan` when the matcher's
 * scan starts instead.
 */
async function plan(options: DiffOptions, temps: readonly string[] = [], onLikelyIdentical?: () => void, onFullScan?: () => void) {
  const { index } = options;
  const paths = [options.local, ...(options.seeds ?? []), ...temps];
  // What the local files are before the scan: the result is checked by the block hashes
  // the scan computed only while they stay so (see unchangedSince).
  const stamps = options.scan === undefined && canCheckBlockDigest(index) ? await stampsOf(paths) : undefined;
  const fullScan = () => {
    onFullScan?.();
    return scanLocalFiles(index, paths, {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.threads !== undefined ? { threads: options.threads } : {}),
    });
  };
  const scan: FoundScan =
    options.scan ??
    (stamps !== undefined
      ? await inPlaceScan(index, options.local, options.threads, options.signal, options.onProgress, onLikelyIdentical)
      : undefined) ??
    (await fullScan());
  const ranges = planRanges(scan.matcher.missingSpans(), {
    fileSize: index.fileSize,
    blockSize: index.blockSize,
    ...(options.gapBytes !== undefined ? { gapBytes: options.gapBytes } : {}),
    ...(options.maxRanges !== undefined ? { maxRanges: options.maxRanges } : {}),
  });
  return { scan, ranges, fetchPlan: choosePlan(index, ranges), stamps };
}

/**
 * The scan of a local file that already is the reference, block for block in place: each
 * block's full SHA-256 is computed where it stands and its prefix compared with the index,
 * with no lookup table and no rolling checksum (the matcher's scan spends ~50 ms on the
 * lookup table of a 256 MiB file's 65,530 blocks and copies every byte into its window,
 * `node --cpu-prof` of the identical-file patch). Tried only when the local file has the
 * reference's size and the index a block digest (the result is checked by it), and
 * abandoned at the first block that differs (the matcher's scan then starts over, so a
 * file of the same size with other content costs at most the blocks before that one;
 * three blocks spread over the file are tried first). Undefined when abandoned.
 *
 * From {@link IN_PLACE_THREAD_MIN} bytes, with more than one scan thread (`threads`, by
 * default {@link defaultScanThreads}: one on two cores, where this split measured no faster
 * under the benchmark VM's load, 6 alternate `diffFile` runs of the identical 256 MiB file:
 * median 0.89 s with the thread, 0.88 s without, +0.05–0.1 CPU s and +20 MiB RSS), a SHA-256 thread
 * (workers/sha256-thread.ts: it imports nothing of gosync's) hashes pieces from the end of
 * the file while this thread hashes from the start, one piece at a time each until they
 * meet, so a thread that starts late or runs slowly takes fewer pieces: at worst this
 * thread waits for the one piece it is still hashing.
 */
async function inPlaceScan(
  index: BlockIndex,
  path: string,
  threads: number | undefined,
  signal: AbortSignal | undefined,
  onProgress: ((p: PatchProgress) => void) | undefined,
  onLikelyIdentical?: () => void,
): Promise<FoundScan | undefined> {
  const { blockSize: bs, blockCount: n, fileSize, strongBytes: sb, strong } = index;
  const st = await stat(path).catch(() => undefined);
  if (st === undefined || !st.isFile() || st.size !== fileSize || n === 0) return undefined;
  const fh = await open(path, 'r').catch(() => undefined);
  if (fh === undefined) return undefined;
  const hashes = new Uint8Array(n * 32);
  // Whole blocks per read; the last block is zero-padded as the index hashes it.
  const buf = Buffer.alloc(Math.max(bs, Math.floor(READ_SIZE / bs) * bs));
  const read = async (at: number, length: number, into = buf): Promise<number> => {
    let got = 0;
    while (got < length) {
      const r = await fh
        .read(into, got, length - got, at + got)
        .catch((cause: unknown) => Promise.reject(ioError('read the local file', path, cause)));
      if (r.bytesRead === 0) break;
      got += r.bytesRead;
    }
    return got;
  };
  /**
   * Hashes block i, found at buf[p]; false when its prefix is not the index's. The digest as
   * a latin1 ('binary') string (one char per byte): 65,536 one-shot SHA-256 calls on 4 KiB blocks took
   * 170 ms so, 210 ms as Buffers (a Buffer allocated per call; micro-benchmark, Node 24).
   */
  const take = (i: number, p: number, from = buf): boolean => {
    const d = oneShotHash('sha256', from.subarray(p, p + bs), 'binary');
    for (let k = 0; k < sb; k++) if (d.charCodeAt(k) !== strong[i * sb + k]) return false;
    for (let k = 0, o = i * 32; k < 32; k++) hashes[o + k] = d.charCodeAt(k);
    return true;
  };
  let thread: Sha256Thread | undefined;
  try {
    for (const i of new Set([0, n >>> 1, n - 1])) {
      const len = Math.min(bs, fileSize - i * bs);
      buf.fill(0, 0, bs);
      if ((await read(i * bs, len)) !== len || !take(i, 0)) return undefined;
    }
    onLikelyIdentical?.();
    // Pieces of whole blocks: this thread takes them from the front, the other from the back.
    const per = buf.length / bs;
    let lo = 0;
    let hi = Math.ceil(n / per);
    let done = 0;
    let abandoned = false;
    let pending: Promise<void> = Promise.resolve();
    const progress = (blocks: number) => {
      done += blocks;
      onProgress?.({ phase: 'scan', done: Math.min(fileSize, done * bs), total: fileSize });
    };
    if ((threads ?? defaultScanThreads()) > 1 && fileSize >= IN_PLACE_THREAD_MIN && availableParallelism() > 1) {
      thread = new (await import('../workers/sha256-thread.js')).Sha256Thread();
      const started = thread;
      const next = (): void => {
        if (abandoned || hi <= lo) return;
        const c = --hi;
        const first = c * per;
        const count = Math.min(per, n - first);
        pending = started.hashBlocks(path, bs, first * bs, Math.min(fileSize, (first + count) * bs)).then(
          (got) => {
            for (let k = 0; k < count && !abandoned; k++) {
              const i = first + k;
              for (let j = 0; j < sb; j++) if (got[k * 32 + j] !== strong[i * sb + j]) abandoned = true;
            }
            if (abandoned) return;
            hashes.set(got, first * 32);
            progress(count);
            next();
          },
          () => {
            // A read the thread could not do: the matcher's scan reads the file and says why.
            abandoned = true;
          },
        );
      };
      next();
    }
    // Two buffers: the next piece is read (on libuv's threads) while this one is hashed.
    // Measured on the identical 256 MiB patch of the bench (hyperfine, 7 runs): without it
    // this thread waited ~1 ms for each 4 MiB read, ~20% of the scan.
    let other = Buffer.alloc(buf.length);
    const readPiece = (piece: number, into: typeof buf): Promise<boolean> => {
      const first = piece * per;
      const count = Math.min(per, n - first);
      const want = Math.min(count * bs, fileSize - first * bs);
      if (want < count * bs) into.fill(0, want, count * bs);
      return read(first * bs, want, into).then((got) => got === want);
    };
    let piece = lo;
    let ahead = lo < hi ? readPiece(lo++, buf) : undefined;
    let aheadBuf = buf;
    try {
      while (ahead !== undefined && !abandoned) {
        throwIfAborted(signal);
        const ok = await ahead;
        const b = aheadBuf;
        const first = piece * per;
        const count = Math.min(per, n - first);
        piece = lo;
        ahead = ok && lo < hi ? readPiece(lo++, other) : undefined;
        aheadBuf = other;
        other = b;
        if (!ok) abandoned = true;
        for (let k = 0; k < count && !abandoned; k++) if (!take(first + k, k * bs, b)) abandoned = true;
        if (!abandoned) progress(count);
      }
    } finally {
      // A read still in flight when the scan stops early (its error, if any, is not this one's).
      await ahead?.catch(() => undefined);
    }
    // The other thread's last piece (each answer asks for the next while any is left).
    for (let last: Promise<void> | undefined; last !== pending; ) {
      last = pending;
      await last;
    }
    throwIfAborted(signal);
    if (abandoned) return undefined;
  } finally {
    await fh.close();
    await thread?.close();
  }
  return inPlaceFound(index, hashes, path);
}

/** The scan result of a local file found to be the reference block for block. */
function inPlaceFound(index: BlockIndex, hashes: Uint8Array, path: string): FoundScan {
  const { blockSize: bs, blockCount: n, fileSize } = index;
  const foundOffset = new Float64Array(n);
  for (let i = 0; i < n; i++) foundOffset[i] = i * bs;
  return {
    matcher: {
      foundSource: new Int32Array(n),
      foundOffset,
      foundCount: n,
      complete: true,
      foundBytes: fileSize,
      fullHashes: hashes,
      missingSpans: () => [],
    },
    files: [path],
  };
}

/**
 * The size from which {@link inPlaceScan} hashes with a second thread. Not tuned by a
 * benchmark: a thread that imports nothing starts in a few tens of milliseconds, about
 * the hashing of 32 MiB, and one that starts late only takes fewer pieces.
 */
const IN_PLACE_THREAD_MIN = 64 * 1024 * 1024;

/** The stamp of each path that exists (a missing file has none). */
async function stampsOf(paths: readonly string[]): Promise<Map<string, Stamp>> {
  const out = new Map<string, Stamp>();
  await Promise.all(
    paths.map(async (p) => {
      const stamp = await fileStamp(p);
      if (stamp !== undefined) out.set(p, stamp);
    }),
  );
  return out;
}

/** True when every local file a block was taken from has the stamp it had before the scan. */
async function unchangedSince(stamps: Map<string, Stamp>, files: readonly (string | undefined)[], found: Int32Array): Promise<boolean> {
  const used = new Set<number>();
  for (const id of found) if (id >= 0) used.add(id);
  for (const id of used) {
    const f = files[id];
    if (f === undefined) return false;
    const now = await fileStamp(f);
    if (now === undefined || stamps.get(f) !== now) return false;
  }
  return true;
}

/**
 * Scans the local file(s) and plans the fetch, fetching nothing.
 *
 * @example
 * ```ts
 * const r = await diffFile({ local: 'app.bin', index });
 * console.log(`${r.reusedBytes} reused, ${r.fetchBytes} to fetch in ${r.ranges.length} ranges`);
 * ```
 */
export async function diffFile(options: DiffOptions): Promise<DiffReport> {
  const { index } = options;
  const { scan, ranges, fetchPlan: blockPlan } = await plan(options, await staleTemps(options.local, options));
  const base = await localBase(index, options.local, options.signal);
  const fetchPlan: FetchPlan = base
    ? { kind: 'base', bytes: base.size, estimates: { ...blockPlan.estimates, base: base.size } }
    : blockPlan;
  return {
    plan: fetchPlan,
    fileSize: index.fileSize,
    blockSize: index.blockSize,
    blockCount: index.blockCount,
    reusedBytes: scan.matcher.foundBytes - foundInRanges(scan.matcher.foundSource, ranges, index),
    fetchBytes: rangesBytes(ranges),
    ranges,
    files: scan.files,
  };
}

/** Bytes of found blocks that bridged ranges fetch anyway. */
function foundInRanges(found: Int32Array, ranges: readonly PlannedRange[], index: BlockIndex): number {
  let n = 0;
  for (const r of ranges) {
    for (let i = r.firstBlock; i < r.firstBlock + r.blockCount; i++) {
      if (found[i] !== -1) n += Math.min(index.blockSize, index.fileSize - i * index.blockSize);
    }
  }
  return n;
}

/**
 * Updates `output` (default `local`) to be exactly the reference described by `index`:
 * scans the local file and seeds, fetches only the missing ranges from `source`, verifies
 * every fetched block and the whole result, then atomically replaces the output.
 * On any failure the output is left as it was and no temporary file remains.
 *
 * If the result fails the whole-file check although every fetched block verified (a
 * local block falsely matched a truncated hash: rare by design), the patch is redone
 * once fetching everything, so a correct result is still produced.
 *
 * @example
 * ```ts
 * const index = decodeIndex(await readFile('app.bin.gosync'));
 * const source = new HttpSource('https://example.com/app.bin');
 * try { await patchFile({ local: 'app.bin', index, source }); } finally { await source.close(); }
 * ```
 */
export async function patchFile(options: PatchOptions): Promise<PatchReport> {
  const started = performance.now();
  throwIfAborted(options.signal);
  const output = options.output ?? options.local;
  // Before anything is fetched: a device, FIFO, socket or directory is never replaced.
  await checkReplaceable(output);
  const temps = await staleTemps(output, options);
  try {
    return await patchOutput(options, output, temps, started);
  } finally {
    // Success or failure, what stopped runs left is gone: its content is in the output,
    // or was of no use.
    await removeFiles(temps);
  }
}

/** Removes files, ignoring those already gone or that cannot be removed. */
async function removeFiles(paths: readonly string[]): Promise<void> {
  await Promise.all(paths.map((p) => unlink(p).catch(() => {})));
}

/** {@link patchFile} once its output is known to be replaceable; `temps` are seeds too. */
async function patchOutput(options: PatchOptions, output: string, temps: string[], started: number): Promise<PatchReport> {
  const { index, signal } = options;
  // A delta from exactly this local version, if the index lists one: no scan needed.
  if (options.openForm) {
    const base = await localBase(index, options.local, signal);
    if (base) {
      const deltaSource = options.openForm(base.name);
      try {
        const { patchFromBase } = await import('../forms/patch-from-base.js');
        const applied = await patchFromBase(index, base, deltaSource, options.local, output, {
          ...(signal ? { signal } : {}),
          ...(options.fsync ? { fsync: true } : {}),
        });
        return {
          fileSize: index.fileSize,
          blockSize: index.blockSize,
          blockCount: index.blockCount,
          // Copied from the local file, and carried as literals in the (compressed) delta.
          reusedBytes: applied.copiedBytes,
          fetchedBytes: applied.literalBytes,
          requests: deltaSource.stats?.requests ?? 0,
          receivedBytes: deltaSource.stats?.bytes ?? 0,
          ranges: 0,
          refetched: false,
          plan: 'base',
          output,
          upToDate: false,
          seconds: (performance.now() - started) / 1000,
        };
      } catch (err) {
        if (SyncError.is(err) && err.code === ErrorCodes.ABORTED) throw err;
        // A damaged or missing delta: the block-based patch below still works.
      } finally {
        await deltaSource.close().catch(() => {});
      }
    }
  }
  // A local file that looks identical (its size, then three blocks in place) is copied
  // to the output in the kernel while its blocks are checked, instead of after.
  const early = await earlyCopy(index, options, output);
  // The source's counters before anything of this patch's (its prepare's request included).
  const baseline = { requests: options.source.stats?.requests ?? 0, bytes: options.source.stats?.bytes ?? 0 };
  let planned0: Awaited<ReturnType<typeof plan>>;
  try {
    planned0 = await plan(options, temps, early?.start, () => prepareSource(options));
  } catch (err) {
    await early?.discard();
    throw err;
  }
  try {
    return await patchPlanned(options, output, temps, started, planned0, early, baseline);
  } finally {
    await early?.discard();
  }
}

/**
 * From this size the matcher's scan of the local file lasts a round trip of a long link
 * (16 MiB at 3.5-5 ns per byte: 60-80 ms): the source gets ready meanwhile
 * ({@link BlockSource.prepare}). Through the emulated WAN link of the bench (50 ms round
 * trips; the bun pair, 107 MB), the HTTP source's multi-range probe then ran during the
 * scan instead of as the fetch's first 52-53 ms. Below it the scan hides little, and a
 * patch that needs no ranges or one does not make the request at all.
 */
const PREPARE_MIN_SIZE = 16 * 1024 * 1024;

/** Starts the source's {@link BlockSource.prepare} for a large reference (not awaited: it never rejects). */
function prepareSource(options: PatchOptions): void {
  const { index, source, signal } = options;
  if (source.prepare === undefined || index.fileSize < PREPARE_MIN_SIZE) return;
  // Two ranges far apart, as the missing blocks of a changed file would be.
  void source.prepare(
    [
      { start: 0, end: 1 },
      { start: index.fileSize - 1, end: index.fileSize },
    ],
    signal ? { signal } : {},
  );
}

/** {@link patchOutput} once the local files are scanned; `baseline`: the source's counters before the patch. */
async function patchPlanned(
  options: PatchOptions,
  output: string,
  temps: string[],
  started: number,
  { scan, ranges, fetchPlan, stamps }: Awaited<ReturnType<typeof plan>>,
  early: EarlyCopy | undefined,
  baseline: SourceStats,
): Promise<PatchReport> {
  const { index, source, signal } = options;
  const readable = await dropUnused(temps, scan);
  // The one-pass check: the local blocks' hashes from the scan, while their files stay as scanned.
  const localHashes = stamps !== undefined ? scan.matcher.fullHashes : undefined;
  const oneshot = localHashes !== undefined ? { localHashes, stamps: stamps! } : undefined;
  // The compressed forms come from their own files; the plain reference is the fallback.
  let planned: BlockSource = source;
  let kind: FetchPlan['kind'] = 'raw';
  if (options.openForm && fetchPlan.kind === 'frames' && index.published?.frames) {
    const { PlanSource } = await import('../forms/plan-source.js');
    planned = new PlanSource(index, fetchPlan.compressedFrames!, source, options.openForm(index.published.frames.name));
    kind = 'frames';
  } else if (options.openForm && fetchPlan.kind === 'whole' && index.published?.whole) {
    const { WholeSource } = await import('../forms/whole-source.js');
    planned = new WholeSource(index, options.openForm(index.published.whole.name));
    kind = 'whole';
  }
  const counters = () => {
    const extra = planned === source ? undefined : planned.stats;
    return { requests: (source.stats?.requests ?? 0) + (extra?.requests ?? 0), bytes: (source.stats?.bytes ?? 0) + (extra?.bytes ?? 0) };
  };
  // The compressed forms' source is new: its counters start at zero.
  const requestsBefore = baseline.requests;
  const bytesBefore = baseline.bytes;
  let refetched = false;
  let result: AssembleResult;
  if (await alreadyUpToDate(output, scan.files, scan.matcher, index, signal, oneshot)) {
    return {
      fileSize: index.fileSize,
      blockSize: index.blockSize,
      blockCount: index.blockCount,
      reusedBytes: index.fileSize,
      fetchedBytes: 0,
      requests: 0,
      receivedBytes: 0,
      ranges: 0,
      refetched,
      plan: 'raw',
      output,
      upToDate: true,
      seconds: (performance.now() - started) / 1000,
    };
  }
  const write = (src: BlockSource) =>
    writeOutput(output, readable, scan.matcher.foundSource, scan.matcher.foundOffset, ranges, { ...options, source: src }, oneshot, early);
  try {
    try {
      result = await write(planned);
    } catch (err) {
      // A compressed form that fails (damaged, truncated, missing, mismatched blocks) is
      // retried once from the plain reference: nothing was written yet.
      if (planned === source || (SyncError.is(err) && err.code === ErrorCodes.ABORTED)) throw err;
      // Every fetched block passed its strong hash, so a whole-file mismatch with local
      // blocks in the plan is a false local match: the same plan from the plain reference
      // would fail the same way. The catch below fetches the whole file from it instead.
      if (SyncError.is(err) && err.code === ErrorCodes.FILE_MISMATCH && scan.matcher.foundCount > 0) throw err;
      kind = 'raw';
      result = await write(source);
    }
  } catch (err) {
    if (!(SyncError.is(err) && err.code === ErrorCodes.FILE_MISMATCH) || scan.matcher.foundCount === 0) throw err;
    // A local block matched by a truncated hash was not the right one. Fetch everything.
    refetched = true;
    kind = 'raw';
    const none = new Int32Array(index.blockCount).fill(-1);
    const all: PlannedRange[] = index.fileSize > 0 ? [{ start: 0, end: index.fileSize, firstBlock: 0, blockCount: index.blockCount }] : [];
    result = await writeOutput(output, [], none, new Float64Array(index.blockCount), all, options);
  } finally {
    if (planned !== source) await planned.close().catch(() => {});
  }
  const after = counters();
  return {
    fileSize: index.fileSize,
    blockSize: index.blockSize,
    blockCount: index.blockCount,
    reusedBytes: result.reusedBytes,
    fetchedBytes: result.fetchedBytes,
    requests: after.requests - requestsBefore,
    receivedBytes: after.bytes - bytesBefore,
    ranges: ranges.length,
    plan: kind,
    refetched,
    output,
    upToDate: false,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * Removes the stale temporary files the scan took no block from (scanned after another
 * file had every block they hold, or not scanned at all once everything was found), so
 * a run stopped again leaves fewer of them. `temps` keeps the others, still to be read.
 */
async function dropUnused(temps: string[], scan: FoundScan): Promise<(string | undefined)[]> {
  if (temps.length === 0) return scan.files;
  const used = new Set<number>();
  for (const id of scan.matcher.foundSource) if (id >= 0) used.add(id);
  const unused = temps.filter((t) => !used.has(scan.files.indexOf(t)));
  if (unused.length === 0) return scan.files;
  await removeFiles(unused);
  for (const t of unused) temps.splice(temps.indexOf(t), 1);
  // Their ids keep their places; the files are not opened again.
  return scan.files.map((f) => (unused.includes(f) ? undefined : f));
}

/**
 * True when the output already is the reference: it is the scanned local file, every
 * block was found in place in it, and its whole-file digest matches. Then nothing is
 * rewritten (as rsync skips an up-to-date file).
 */
async function alreadyUpToDate(
  output: string,
  files: string[],
  matcher: FoundBlocks,
  index: BlockIndex,
  signal: AbortSignal | undefined,
  oneshot: OneShot | undefined,
): Promise<boolean> {
  if (!allInPlace(files, matcher, index)) return false;
  try {
    const [a, b] = await Promise.all([realpath(output), realpath(files[0]!)]);
    if (a !== b || (await stat(a)).size !== index.fileSize) return false;
    if (oneshot !== undefined && (await unchangedSince(oneshot.stamps, files, matcher.foundSource))) {
      // Every block's hash is known from the scan: no second read of the file.
      checkBlockDigest(index, oneshot.localHashes);
      return true;
    }
    await verifyFile(a, index, signal);
    return true;
  } catch (err) {
    if (SyncError.is(err) && err.code === ErrorCodes.ABORTED) throw err;
    return false;
  }
}

/** True when every block was found in the first local file, in place, and that file is the reference's size. */
function allInPlace(
  files: readonly (string | undefined)[],
  matcher: Pick<FoundBlocks, 'complete' | 'foundSource' | 'foundOffset'>,
  index: BlockIndex,
): boolean {
  if (files.length === 0 || files[0] === undefined || !matcher.complete) return false;
  const bs = index.blockSize;
  for (let i = 0; i < index.blockCount; i++) {
    if (matcher.foundSource[i] !== 0 || matcher.foundOffset[i] !== i * bs) return false;
  }
  return true;
}

/** The one-pass check's inputs: the scan's block hashes, and the local files' stamps before it. */
interface OneShot {
  localHashes: Uint8Array;
  stamps: Map<string, Stamp>;
}

async function writeOutput(
  output: string,
  files: readonly (string | undefined)[],
  foundSource: Int32Array,
  foundOffset: Float64Array,
  ranges: PlannedRange[],
  options: PatchOptions,
  oneshot?: OneShot,
  early?: EarlyCopy,
) {
  const { index } = options;
  // An identical local file, every block's hash known: a copy in the kernel (or a
  // reflink), checked by the block digest, without reading the file into this process.
  if (
    oneshot !== undefined &&
    ranges.length === 0 &&
    allInPlace(files, { complete: !foundSource.includes(-1), foundSource, foundOffset }, index) &&
    (await stat(files[0]!).catch(() => undefined))?.size === index.fileSize
  ) {
    checkBlockDigest(index, oneshot.localHashes);
    let file: AtomicFile | undefined;
    try {
      file = await early?.take();
      if (file === undefined) {
        file = await AtomicFile.create(output);
        await file.copyFrom(files[0]!);
      }
      throwIfAborted(options.signal);
      if (!(await unchangedSince(oneshot.stamps, files, foundSource))) await verifyFile(file.tempPath, index, options.signal);
      await file.commit({ fsync: options.fsync ?? false });
      return { reusedBytes: index.fileSize, fetchedBytes: 0 };
    } catch (err) {
      await file?.abort();
      throw err;
    }
  }
  await early?.discard();
  const locals = await openLocalReaders(files);
  let file: AtomicFile | undefined;
  try {
    file = await AtomicFile.create(output);
    const result = await assemble({
      index: options.index,
      foundSource,
      foundOffset,
      locals: locals.readers,
      ranges,
      source: options.source,
      sink: file,
      ...(oneshot ? { localHashes: oneshot.localHashes } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    await locals.close();
    // An abort that came while the last bytes were written still keeps the target as it was.
    throwIfAborted(options.signal);
    // A local file that changed since the scan: its blocks' hashes may not be what was
    // copied, so the result is checked by its SHA-256 after all.
    if (oneshot !== undefined && !(await unchangedSince(oneshot.stamps, files, foundSource)))
      await verifyFile(file.tempPath, index, options.signal);
    await file.commit({ fsync: options.fsync ?? false });
    return result;
  } catch (err) {
    await file?.abort();
    throw err;
  } finally {
    await locals.close();
  }
}

/** A copy of the local file to the output's temporary file, started in the background. */
interface EarlyCopy {
  /** Starts the copy (once). */
  start: () => void;
  /** The temporary file holding the copy, once done; undefined when not started or failed. */
  take: () => Promise<AtomicFile | undefined>;
  /** Removes the temporary file unless it was committed. */
  discard: () => Promise<void>;
}

/**
 * The early copy of a patch whose local file has the reference's size (and whose index
 * has a block digest, so the in-place check can accept it), to an output that is not the
 * local file itself; undefined otherwise. Started once the in-place check found three
 * spread blocks in place: the kernel copies (a reflink, or `copy_file_range` on libuv's
 * thread pool) while this thread hashes, instead of after. A file that then differs costs
 * that copy, discarded.
 */
async function earlyCopy(index: BlockIndex, options: PatchOptions, output: string): Promise<EarlyCopy | undefined> {
  if (options.scan !== undefined || !canCheckBlockDigest(index) || index.fileSize === 0) return undefined;
  const st = await stat(options.local).catch(() => undefined);
  if (st === undefined || !st.isFile() || st.size !== index.fileSize) return undefined;
  const [a, b] = await Promise.all([realpath(output).catch(() => output), realpath(options.local).catch(() => options.local)]);
  if (a === b) return undefined;
  let copy: Promise<AtomicFile | undefined> | undefined;
  return {
    start: () => {
      copy ??= (async () => {
        const file = await AtomicFile.create(output);
        try {
          await file.copyFrom(options.local);
          return file;
        } catch {
          await file.abort();
          return undefined;
        }
      })().catch(() => undefined);
    },
    take: async () => copy,
    // Idempotent, and a no-op once the writer has committed the file it took.
    discard: async () => {
      await (await copy)?.abort();
    },
  };
}

/** Reads a file (a written result, or a local file that may already be it) and checks it against the index's length and whole-file SHA-256. */
async function verifyFile(path: string, index: BlockIndex, signal: AbortSignal | undefined): Promise<void> {
  const verifier = new FileVerifier(index);
  for await (const chunk of fileChunks(path, signal ? { signal } : {})) verifier.update(chunk);
  verifier.finish();
}
