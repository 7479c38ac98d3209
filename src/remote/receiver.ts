/**
 * The receiving end of a session: the side whose destination changes (rsync's model).
 *
 * As file list batches arrive it checks every entry (a safe path, under a listed folder),
 * compares it with its destination (rsync's quick check: same size and mtime → nothing
 * to do) and, for every other file, sends a signature of its old version (or an empty
 * one), without waiting for answers. Each delta that comes back is applied to the old
 * file ({@link rdiffPatch}) into a part next to the target, checked against the sender's
 * size and SHA-256, and given its mode and mtime. A file that fails the check is asked
 * for once more, with full-length sums; twice is an error. Once the list is complete and
 * every file is staged, the commit moves the parts into place and makes links, folders,
 * metadata and `delete` removals ({@link commitTree}); then FINISH tells the sender what
 * changed.
 *
 * Until the commit the destination is untouched (but for folders made for new files and
 * non-folders where the source has a folder); on any failure the parts are removed. The
 * destination itself is replaced whatever it is (a file, a folder, a link); a non-empty
 * folder only with `delete`. Nothing is written through a link: every write goes
 * through a {@link TreeRoot}.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { lstat, lutimes, mkdir, readdir, readlink, rename, symlink, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { ErrorCodes, SyncError, throwIfAborted, ioError } from '../core/errors.js';
import { LibrsyncDeltaParser } from '../formats/librsync-delta.js';
import { rdiffPatch } from '../formats/rdiff-file.js';
import {
  commitTree,
  findTreeChanges,
  prepareFolders,
  remove,
  setMetadata,
  setMtime,
  type StagedFile,
  type WantedEntry,
} from '../localfs/commit-tree.js';
import { isStagingNameOf, partName } from '../localfs/staging.js';
import { TreeRoot, treeParent } from '../localfs/tree-path.js';
import { sameMtime, walkTree, type LocalEntry, type LocalTree } from '../localfs/walk.js';
import { AtomicFile } from '../localfs/atomic-file.js';
import { drainOrClose } from '../util/drain.js';
import { AsyncQueue } from './wire/async-queue.js';
import { ByteReader, protocolError } from './wire/binary.js';
import type { Channel } from './wire/channel.js';
import { FileListChecker, decodeFileBatch, type ListEntry } from './wire/file-list.js';
import { FrameType, frameName } from './wire/frames.js';
import { decodeError, encodeJson } from './wire/handshake.js';
import { fileRange, openRegularFile } from './read-file.js';
import { MAX_LISTED_PATHS, type FinishReport, type SyncProgress } from './wire/report.js';
import { decodeRefine, rangeBytes, type Range } from './wire/refine.js';
import { SIG_FINAL, SIG_REDO, SIG_REFINED, SignatureMaker, encodeSignature, refineSpec, signatureSpec } from './wire/signature.js';

/** Where the receiver writes: the destination, confined to a root folder. */
export interface ReceiverTarget {
  /** The folder every write stays in (the server's `--root`, or the destination's parent). */
  container: TreeRoot;
  /** The destination's tree path in `container`; '' when it is the container itself. */
  name: string;
}

/** Options of {@link runReceiver}. */
export interface ReceiverOptions {
  /** Remove what the source does not have. */
  delete?: boolean;
  /** Compute and report, write nothing. */
  dryRun?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: SyncProgress) => void;
}

/** Files whose signatures are out (sent, delta not yet staged) at most. */
const MAX_OUTSTANDING_FILES = 4096;
/** Bytes of signatures out at most (the sender keeps them until it answers). */
const MAX_OUTSTANDING_SIG_BYTES = 64 * 1024 * 1024;
/** Delta bytes queued for the file being written before the reader waits. */
const APPLY_QUEUE_BYTES = 4 * 1024 * 1024;
/** Files written at once (each applies its delta while the reader goes on). */
const MAX_APPLIERS = 4;
/**
 * Old files being read at once, in bytes (rdiffPatch reads a basis of up to 256 MiB into
 * memory): one file is always allowed.
 */
const MAX_APPLY_BASIS = 256 * 1024 * 1024;

/** A file asked for: where its old version is, and how often it was asked. */
interface Request {
  index: number;
  /** Local path of the old version (the basis), if there is one. */
  basis: string | undefined;
  attempts: number;
  sigBytes: number;
  /** Bytes of basis the first signature covers, and its block length. */
  basisSize: number;
  blockLength: number;
  /** The sender may ask for a second signature (once). */
  refinable: boolean;
  /** Its delta is being received or written. */
  applying: boolean;
}

/** One file being written: the delta applied to its basis, into an AtomicFile that becomes the part. */
class FileApplier {
  readonly request: Request;
  readonly part: string;
  readonly #queue = new AsyncQueue<Uint8Array>({ highWater: APPLY_QUEUE_BYTES, sizeOf: (c) => c.length });
  readonly #file: AtomicFile;
  readonly #hash = createHash('sha256');
  #size = 0;
  readonly #done: Promise<{ copyBytes: number; literalBytes: number }>;
  readonly #sink: Writable;
  /** Why writing the part failed (a full disk…): the applier fails with it. */
  #writeError: { err: unknown } | undefined;

  private constructor(request: Request, part: string, file: AtomicFile, signal: AbortSignal | undefined, onBytes: (n: number) => void) {
    this.request = request;
    this.part = part;
    this.#file = file;
    this.#sink = new Writable({
      highWaterMark: 4 * 1024 * 1024,
      write: (chunk: Buffer, _enc, cb) => {
        // After a failed write the rest is dropped: the stream is not failed itself, as a
        // destroyed stream never drains and the delta may be waiting for it to.
        if (this.#writeError) return cb();
        this.#hash.update(chunk);
        this.#size += chunk.length;
        onBytes(chunk.length);
        file.write(chunk).then(
          () => cb(),
          (err: unknown) => {
            this.#fail(err);
            cb();
          },
        );
      },
    });
    // Any other failure of the stream (none is expected) ends the applier too, never the process.
    this.#sink.on('error', (err) => this.#fail(err));
    this.#done = this.#apply(signal);
    this.#done.catch(() => {});
  }

  /** Writing failed: whatever the delta is waiting for (its next bytes, the last write) rejects with `err`. */
  #fail(err: unknown): void {
    this.#writeError ??= { err };
    this.#queue.fail(err);
  }

  static async open(request: Request, part: string, signal: AbortSignal | undefined, onBytes: (n: number) => void): Promise<FileApplier> {
    return new FileApplier(request, part, await AtomicFile.create(part), signal, onBytes);
  }

  async #apply(signal: AbortSignal | undefined): Promise<{ copyBytes: number; literalBytes: number }> {
    let stats: { copyBytes: number; literalBytes: number };
    if (this.request.basis !== undefined) {
      const r = await rdiffPatch(this.request.basis, this.#queue, this.#sink, signal ? { signal } : {});
      stats = { copyBytes: r.copyBytes, literalBytes: r.literalBytes };
    } else {
      // No old file: the delta may only hold literal data.
      const parser = new LibrsyncDeltaParser();
      for await (const chunk of this.#queue) {
        for (const e of parser.push(chunk)) {
          if (e.type === 'copy')
            throw new SyncError(
              ErrorCodes.DELTA_CORRUPT,
              `Cannot apply the delta of a new file: it copies ${e.length} bytes at ${e.offset} from an old version that does not exist`,
              { offset: e.offset },
            );
          if (e.type === 'literal' && !this.#sink.write(e.data)) await drainOrClose(this.#sink);
        }
      }
      parser.end();
      stats = { copyBytes: 0, literalBytes: parser.stats.literalBytes };
    }
    this.#sink.end();
    await finished(this.#sink);
    if (this.#writeError) throw this.#writeError.err;
    return stats;
  }

  /** The next delta bytes. */
  push(data: Uint8Array): Promise<void> {
    return this.#queue.push(data);
  }

  /**
   * The delta is complete: waits for the last write, then checks size and SHA-256.
   * Returns false when they differ (the part is discarded); true when the part is in place.
   */
  async finish(size: number, sha256: Uint8Array, entry: ListEntry): Promise<{ ok: boolean; copyBytes: number; literalBytes: number }> {
    this.#queue.close();
    let stats: { copyBytes: number; literalBytes: number };
    try {
      stats = await this.#done;
    } catch (err) {
      await this.#file.abort();
      throw err;
    }
    if (this.#size !== size || !Buffer.from(sha256).equals(this.#hash.digest())) {
      await this.#file.abort();
      return { ok: false, ...stats };
    }
    await this.#file.commit();
    await setMetadata(this.part, entry.mode, entry.mtime);
    return { ok: true, ...stats };
  }

  /** Stops writing and removes the temporary file. */
  async abort(err: unknown): Promise<void> {
    this.#queue.fail(err);
    await this.#done.catch(() => {});
    this.#sink.destroy();
    await this.#file.abort();
  }
}

/**
 * Runs the receiving end over a channel whose handshake is done (the sender's stream is
 * being decompressed). Resolves with the report it sent in FINISH, after the commit.
 */
export async function runReceiver(channel: Channel, target: ReceiverTarget, options: ReceiverOptions = {}): Promise<FinishReport> {
  const { signal, onProgress } = options;
  const dryRun = options.dryRun ?? false;
  const del = options.delete ?? false;
  throwIfAborted(signal);
  const { container, name } = target;
  const dest = name === '' ? container.root : container.local(name);
  if (name !== '') await container.checkParents(name);
  const destStat = await lstat(dest).catch((cause: unknown) => {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioError('read', dest, cause);
  });
  const destType: LocalEntry['type'] | undefined =
    destStat === undefined
      ? undefined
      : destStat.isDirectory()
        ? 'dir'
        : destStat.isFile()
          ? 'file'
          : destStat.isSymbolicLink()
            ? 'symlink'
            : 'other';
  // The destination's listing, when it is a folder (needed for a tree, and to tell an empty folder).
  const walking: Promise<LocalTree> | undefined = destType === 'dir' ? walkTree(dest, signal ? { signal } : {}) : undefined;
  walking?.catch(() => {});
  const emptyTree = (): LocalTree => ({ entries: new Map(), temps: [], parts: [], skipped: [] });
  let local: LocalTree | undefined;
  const treeRoot = new TreeRoot(dest);
  const nonce = randomBytes(4).toString('hex');

  const checker = new FileListChecker();
  const list: ListEntry[] = [];
  let root: ListEntry | undefined;
  const changedPaths: string[] = [];
  let changed = 0;
  let files = 0;
  let transferredFileBytes = 0;
  let literalBytes = 0;
  let matchedBytes = 0;
  let totalBytes = 0;
  let doneBytes = 0;

  const plan = new AsyncQueue<Request>();
  const requested = new Map<number, Request>();
  let outstandingSigBytes = 0;
  let windowOpen: (() => void) | undefined;
  const staged: StagedFile[] = [];
  /** Local paths of parts this session made (removed on failure). */
  const parts: string[] = [];
  /** The file whose delta is arriving, and those still being written and checked. */
  let applier: FileApplier | undefined;
  const finishing = new Set<FileApplier>();
  let slotFree: (() => void) | undefined;
  /** Non-folders replaced by folders before the commit (so files could be staged in them). */
  const replacedEarly = new Set<string>();
  let listEnded = false;
  let signing = true;
  let failure: { err: unknown } | undefined;
  let finishSent = false;
  let allDone!: () => void;
  const done = new Promise<void>((resolve) => (allDone = resolve));
  const checkDone = (): void => {
    if (listEnded && !signing && requested.size === 0 && applier === undefined && finishing.size === 0) allDone();
  };
  const mkContainer = async (): Promise<void> => {
    await mkdir(container.root, { recursive: true }).catch((cause: unknown) =>
      Promise.reject(ioError('create the folder', container.root, cause)),
    );
  };

  const fileMode = (): boolean => root !== undefined && root.type !== 'dir';
  /** Where entry `path` goes, as a tree path of the root the writes go through. */
  const where = (path: string): { root: TreeRoot; path: string } =>
    fileMode() ? { root: container, path: name } : { root: treeRoot, path };

  /** The destination is a folder (replacing a non-folder), so files can be staged in it. */
  let treeReady = false;
  const ensureTree = async (): Promise<void> => {
    if (treeReady) return;
    await mkContainer();
    if (name !== '') {
      await container.checkParents(name);
      if (destType !== undefined && destType !== 'dir') {
        await remove(dest);
        replacedEarly.add('');
      }
      await container.mkdirs(name);
    }
    treeReady = true;
  };
  /** Makes the folders above `path`, replacing non-folders the source has as folders. */
  const ensureParents = async (path: string): Promise<void> => {
    if (fileMode()) {
      await mkContainer();
      const parent = treeParent(name);
      if (parent !== '') await container.mkdirs(parent);
      return;
    }
    await ensureTree();
    const parent = treeParent(path);
    if (parent === '') return;
    const parts = parent.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      const l = local!.entries.get(p);
      if (l && l.type !== 'dir' && !replacedEarly.has(p)) {
        await treeRoot.checkParents(p);
        await remove(treeRoot.local(p));
        replacedEarly.add(p);
      }
    }
    await treeRoot.mkdirs(parent);
  };

  const conflict = (path: string, l: LocalEntry | undefined, e: ListEntry): void => {
    if (l?.type !== 'dir' || e.type === 'dir' || del) return;
    const hasContent = path === '' ? local!.entries.size > 0 : [...local!.entries.keys()].some((p) => p.startsWith(`${path}/`));
    if (!hasContent) return;
    const at = path === '' ? dest : treeRoot.local(path);
    throw new SyncError(
      ErrorCodes.TREE_CONFLICT,
      `Cannot update ${at}: it is a folder that is not empty, and the source has a ${e.type === 'file' ? 'file' : 'link'} there (use --delete to replace it)`,
      { path: at },
    );
  };

  /** Decides what to do with one listed entry. */
  const planEntry = async (index: number, e: ListEntry): Promise<void> => {
    if (index === 0) {
      root = e;
      if (walking) local = await walking;
      else local = emptyTree();
      if (name === '' && e.type !== 'dir')
        throw new SyncError(
          ErrorCodes.REFUSED,
          `Cannot replace the folder ${dest} with a ${e.type === 'file' ? 'file' : 'link'}: it is the root the server is confined to`,
          { path: dest },
        );
    }
    if (e.type !== 'file') {
      if (index === 0 && e.type === 'symlink')
        conflict('', destType === 'dir' ? { path: '', type: 'dir', size: 0, mode: 0, mtimeMs: 0 } : undefined, e);
      if (index > 0 && e.type === 'symlink') conflict(e.path, local!.entries.get(e.path), e);
      return;
    }
    files++;
    let l: LocalEntry | undefined;
    if (index === 0)
      l =
        destStat && destType
          ? { path: '', type: destType, size: destStat.size, mode: destStat.mode & 0o7777, mtimeMs: destStat.mtimeMs }
          : undefined;
    else l = local!.entries.get(e.path);
    conflict(index === 0 ? '' : e.path, l, e);
    if (l?.type === 'file' && l.size === e.size && sameMtime(l.mtimeMs, e.mtime)) return;
    changed++;
    if (changedPaths.length < MAX_LISTED_PATHS) changedPaths.push(e.path);
    totalBytes += e.size;
    transferredFileBytes += e.size;
    if (dryRun) return;
    const basis = l?.type === 'file' ? (index === 0 ? dest : treeRoot.local(e.path)) : undefined;
    await plan.push({ index, basis, attempts: 0, sigBytes: 0, basisSize: 0, blockLength: 0, refinable: false, applying: false });
  };

  /** Sends the signature of a request's basis (empty without one). */
  const sendSignature = async (req: Request, flags: number): Promise<void> => {
    let sig;
    const spec = (size: number) => signatureSpec(size, flags & SIG_REDO ? 'redo' : 'normal');
    if (req.basis === undefined) sig = { spec: spec(0), basisSize: 0, records: new Uint8Array(0) };
    else {
      const file = await openRegularFile(req.basis).catch(() => undefined);
      if (!file) {
        // The old version went away: send everything.
        req.basis = undefined;
        sig = { spec: spec(0), basisSize: 0, records: new Uint8Array(0) };
      } else {
        try {
          const maker = new SignatureMaker(spec(file.size));
          for await (const chunk of fileRange(file, signal ? { signal } : {})) maker.push(chunk);
          sig = maker.end();
        } finally {
          await file.fh.close().catch(() => {});
        }
      }
    }
    // Without an old version there is nothing to refine.
    if (sig.basisSize === 0) flags |= SIG_FINAL;
    req.sigBytes = sig.records.length;
    req.basisSize = sig.basisSize;
    req.blockLength = sig.spec.blockLength;
    req.refinable = (flags & SIG_FINAL) === 0;
    outstandingSigBytes += req.sigBytes;
    requested.set(req.index, req);
    await sendSigFrames(encodeSignature(req.index, flags, sig));
  };

  /** A signature's frames go out together (several tasks send signatures). */
  let sigChain: Promise<void> = Promise.resolve();
  const sendSigFrames = (frames: { first: Uint8Array; more: Uint8Array[] }): Promise<void> => {
    const sent = sigChain.then(async () => {
      await channel.send(FrameType.SIG, frames.first);
      for (const m of frames.more) await channel.send(FrameType.SIG_MORE, m);
    });
    sigChain = sent.catch(() => {});
    return sent;
  };

  /** Answers a REFINE: the signature of the named ranges of the basis, end to end, in smaller blocks. */
  const sendRefined = async (req: Request, ranges: readonly Range[]): Promise<void> => {
    req.refinable = false;
    const spec = refineSpec(rangeBytes(ranges), req.blockLength);
    const maker = new SignatureMaker(spec);
    const file = req.basis === undefined ? undefined : await openRegularFile(req.basis).catch(() => undefined);
    if (file) {
      try {
        for (const r of ranges)
          for await (const chunk of fileRange(file, { start: r.start, end: r.start + r.length, ...(signal ? { signal } : {}) }))
            maker.push(chunk);
      } finally {
        await file.fh.close().catch(() => {});
      }
    }
    const sig = maker.end();
    req.sigBytes += sig.records.length;
    outstandingSigBytes += sig.records.length;
    await sendSigFrames(encodeSignature(req.index, SIG_REFINED | SIG_FINAL, sig));
  };

  /** A delta arrived whole: the file is written, checked, and staged (or asked for again), while the reader goes on. */
  const complete = async (a: FileApplier, size: number, sha: Uint8Array): Promise<void> => {
    const req = a.request;
    const e = list[req.index]!;
    const result = await a.finish(size, sha, e);
    req.applying = false;
    if (!result.ok) {
      const w = where(e.path);
      if (req.attempts > 0)
        throw new SyncError(
          ErrorCodes.FILE_MISMATCH,
          `Cannot accept ${w.root.local(w.path)}: twice the result did not match the sender's size and SHA-256`,
        );
      // A false block match (short strong sums) or a file that changed while read: once more, with full sums.
      req.attempts++;
      outstandingSigBytes -= req.sigBytes;
      await sendSignature(req, SIG_FINAL | SIG_REDO);
      return;
    }
    literalBytes += result.literalBytes;
    matchedBytes += result.copyBytes;
    const w = where(e.path);
    staged.push({ path: w.path, part: partName(w.path, nonce) });
    release(req);
  };

  const signer = async (): Promise<void> => {
    try {
      for await (const req of plan) {
        while (requested.size >= MAX_OUTSTANDING_FILES || outstandingSigBytes >= MAX_OUTSTANDING_SIG_BYTES) {
          await new Promise<void>((resolve) => (windowOpen = resolve));
          if (failure) throw failure.err;
        }
        await sendSignature(req, 0);
      }
    } finally {
      signing = false;
    }
    checkDone();
  };

  const release = (req: Request): void => {
    requested.delete(req.index);
    outstandingSigBytes -= req.sigBytes;
    const open = windowOpen;
    windowOpen = undefined;
    open?.();
  };

  const reader = async (): Promise<void> => {
    for (;;) {
      const frame = await channel.next();
      if (!frame) {
        // The sender closes once it has the FINISH frame.
        if (finishSent) return;
        throw await channel.closedError();
      }
      if (finishSent && frame.type !== FrameType.ERROR)
        throw protocolError("read the sender's stream", `a ${frameName(frame.type)} frame follows FINISH`);
      switch (frame.type) {
        case FrameType.FILES: {
          if (listEnded) throw protocolError('read the file list', 'a FILES frame follows FILES_END');
          // The whole batch is checked before any of it is acted on.
          const batch = decodeFileBatch(frame.payload);
          for (const e of batch) checker.check(e);
          for (const e of batch) {
            list.push(e);
            await planEntry(list.length - 1, e);
          }
          break;
        }
        case FrameType.FILES_END: {
          const r = new ByteReader(frame.payload, 'the FILES_END frame');
          const count = r.varint('entry count');
          r.end();
          if (listEnded) throw protocolError('read the file list', 'FILES_END comes twice');
          if (count !== checker.count)
            throw protocolError('read the file list', `FILES_END counts ${count} entries, ${checker.count} were listed`);
          if (count === 0) throw protocolError('read the file list', 'it is empty');
          listEnded = true;
          plan.close();
          checkDone();
          break;
        }
        case FrameType.DELTA: {
          if (applier) throw protocolError('read a DELTA frame', 'a delta begins before the previous one ended');
          const r = new ByteReader(frame.payload, 'a DELTA frame');
          const index = r.varint('file index');
          r.end();
          const req = requested.get(index);
          if (!req || req.applying) throw protocolError('read a DELTA frame', `entry ${index} was not asked for`);
          req.applying = true;
          const busy = (): boolean => {
            if (finishing.size === 0) return false;
            let basis = req.basisSize;
            for (const f of finishing) basis += f.request.basisSize;
            return finishing.size >= MAX_APPLIERS || basis > MAX_APPLY_BASIS;
          };
          while (busy()) {
            await new Promise<void>((resolve) => (slotFree = resolve));
            if (failure) throw failure.err;
          }
          const e = list[index]!;
          const w = where(e.path);
          await ensureParents(e.path);
          await w.root.checkParents(w.path);
          const part = w.root.local(partName(w.path, nonce));
          // Listed before it exists, so a failure at any point removes it.
          parts.push(part);
          applier = await FileApplier.open(req, part, signal, (n) => {
            doneBytes += n;
            onProgress?.({ phase: 'transfer', done: doneBytes, total: totalBytes });
          });
          break;
        }
        case FrameType.DELTA_DATA: {
          if (!applier) throw protocolError('read a DELTA_DATA frame', 'no delta is in progress');
          await applier.push(frame.payload);
          break;
        }
        case FrameType.DELTA_END: {
          if (!applier) throw protocolError('read a DELTA_END frame', 'no delta is in progress');
          const r = new ByteReader(frame.payload, 'a DELTA_END frame');
          const size = r.varint('file size');
          const sha = r.bytes(32, 'SHA-256');
          r.end();
          const a = applier;
          applier = undefined;
          finishing.add(a);
          void complete(a, size, sha).then(
            () => {
              finishing.delete(a);
              const free = slotFree;
              slotFree = undefined;
              free?.();
              checkDone();
            },
            async (err: unknown) => {
              await a.abort(err);
              finishing.delete(a);
              fail(err);
            },
          );
          break;
        }
        case FrameType.REFINE: {
          const { index, ranges } = decodeRefine(frame.payload, (i) => {
            const req = requested.get(i);
            return req?.refinable ? req.basisSize : undefined;
          });
          await sendRefined(requested.get(index)!, ranges);
          break;
        }
        case FrameType.ERROR:
          throw decodeError(frame.payload, channel.peer);
        default:
          throw protocolError("read the sender's stream", `a ${frameName(frame.type)} frame is not expected from the sending end`);
      }
    }
  };

  const main = async (): Promise<FinishReport> => {
    await done;
    if (failure) throw failure.err;
    throwIfAborted(signal);
    let deletedPaths: string[] = [];
    let deleted = 0;
    const rootEntry = root!;
    if (rootEntry.type === 'dir') {
      const wanted = list.slice(1).map(toWanted);
      const changes = findTreeChanges(treeRoot, wanted, local!, { delete: del });
      if (del) {
        deleted = changes.extraneous.length;
        deletedPaths = changes.extraneous.slice(0, MAX_LISTED_PATHS);
      }
      if (!dryRun) {
        onProgress?.({ phase: 'commit', done: 0, total: staged.length });
        await ensureTree();
        changes.replaceWithDir = changes.replaceWithDir.filter((p) => !replacedEarly.has(p));
        await prepareFolders(treeRoot, wanted, changes);
        await commitTree(treeRoot, wanted, local!, staged, changes, {
          delete: del,
          ...(signal ? { signal } : {}),
          onProgress: (d, t) => onProgress?.({ phase: 'commit', done: d, total: t }),
        });
        await setMetadata(dest, rootEntry.mode, rootEntry.mtime);
      }
    } else if (!dryRun) {
      await commitSingle(container, name, rootEntry, destType, staged[0]?.part, nonce);
    }
    const report: FinishReport = {
      files,
      changed,
      deleted,
      literalBytes,
      matchedBytes,
      transferredFileBytes,
      dryRun,
      changedPaths,
      deletedPaths,
    };
    finishSent = true;
    await channel.send(FrameType.FINISH, encodeJson(report));
    await channel.end();
    return report;
  };

  const onFail = (err: unknown): void => {
    failure ??= { err };
    plan.fail(err);
    windowOpen?.();
    slotFree?.();
    allDone();
  };
  /** A failure outside the three tasks (a file being finished): `main` throws it. */
  const fail = (err: unknown): void => {
    failure ??= { err };
    allDone();
  };
  try {
    return await channel.runTasks(main, [reader, signer], onFail);
  } catch (err) {
    await applier?.abort(err);
    await Promise.all([...finishing].map((a) => a.abort(err)));
    for (const p of parts) await unlink(p).catch(() => {});
    throw err;
  }
}

function toWanted(e: ListEntry): WantedEntry {
  if (e.type === 'dir') return { type: 'dir', path: e.path, mode: e.mode, mtime: e.mtime };
  if (e.type === 'file') return { type: 'file', path: e.path, mode: e.mode, mtime: e.mtime };
  return { type: 'symlink', path: e.path, target: e.target!, mtime: e.mtime };
}

/**
 * Commits a single file or link at `name` of `container`: the staged part (or the link)
 * replaces whatever is there; temporary files and parts a stopped run left next to it
 * are removed.
 */
async function commitSingle(
  container: TreeRoot,
  name: string,
  e: ListEntry,
  destType: LocalEntry['type'] | undefined,
  part: string | undefined,
  nonce: string,
): Promise<void> {
  await container.checkParents(name);
  const dest = container.local(name);
  if (e.type === 'file') {
    if (part !== undefined) {
      if (destType === 'dir') await remove(dest);
      await rename(container.local(part), dest).catch((cause: unknown) => Promise.reject(ioError('replace', dest, cause)));
    } else {
      // Unchanged content: its metadata.
      const st = await lstat(dest).catch((cause: unknown) => Promise.reject(ioError('read', dest, cause)));
      if ((st.mode & 0o777) !== e.mode) await setMetadata(dest, e.mode, e.mtime);
      else if (!sameMtime(st.mtimeMs, e.mtime)) await setMtime(dest, e.mtime);
    }
  } else {
    const st = await lstat(dest).catch(() => undefined);
    const same = st?.isSymbolicLink() && (await readlink(dest).catch(() => undefined)) === e.target;
    if (!same) {
      if (st) await remove(dest);
      await symlink(e.target!, dest).catch((cause: unknown) => Promise.reject(ioError('create the link', dest, cause)));
    }
    await lutimes(dest, new Date(), new Date(e.mtime)).catch(() => {});
  }
  // What a stopped run left next to it: parts and temporary files of this name.
  const folder = treeParent(name) === '' ? container.root : container.local(treeParent(name));
  const base = basename(dest);
  const mine = partName(base, nonce);
  for (const n of await readdir(folder).catch(() => [] as string[])) {
    if (n !== mine && isStagingNameOf(n, base)) await unlink(join(folder, n)).catch(() => {});
  }
}
