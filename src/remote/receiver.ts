/**
 * The receiving end of a session: the side whose destination changes (rsync's model).
 *
 * As file list batches arrive it checks every entry (a safe path, under a listed folder),
 * compares it with its destination (rsync's quick check: same size and mtime → nothing
 * to do; with `checksum`, same size and SHA-256) and, for every other file, sends a signature of its old version (or an empty
 * one), without waiting for answers. Each delta that comes back is applied to the old
 * file ({@link FileApplier}) into a part next to the target, checked against the sender's
 * size and SHA-256, and given its mode and mtime. A file that fails the check is asked
 * for once more, with full-length sums; twice is an error. Once the list is complete and
 * every file is staged, the commit moves the parts into place and makes links, folders,
 * metadata and `delete` removals ({@link Destination.commit}); then FINISH tells the
 * sender what changed.
 *
 * Until the commit the destination is untouched (but for folders made for new files and
 * non-folders where the source has a folder); on any failure the parts are removed. The
 * destination itself is replaced whatever it is (a file, a folder, a link); a non-empty
 * folder only with `delete`.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { unlink } from '../util/fs-promises.js';
import { ErrorCodes, SyncError, throwIfAborted } from '../core/errors.js';
import type { StagedFile } from '../localfs/commit-tree.js';
import { type FilterRule, folderFilter } from '../localfs/filter.js';
import { partName } from '../localfs/staging.js';
import { sameMtime } from '../localfs/walk.js';
import { Destination, type ReceiverTarget } from './destination.js';
import { FileApplier } from './file-applier.js';
import { BasisSet } from './basis-set.js';
import { openRegularFile, sha256OfFile } from './read-file.js';
import { AsyncQueue } from './wire/async-queue.js';
import { ByteReader, protocolError } from './wire/binary.js';
import type { Channel } from './wire/channel.js';
import { FileListChecker, decodeFileBatch, type ListEntry } from './wire/file-list.js';
import { FrameType, frameName, type Frame } from './wire/frames.js';
import { decodeError, encodeJson } from './wire/handshake.js';
import { decodeRefine, rangeBytes, type Range } from './wire/refine.js';
import { MAX_LISTED_PATHS, type FinishReport, type SyncProgress } from './wire/report.js';
import {
  SIG_FINAL,
  SIG_REDO,
  SIG_REFINED,
  SignatureMaker,
  encodeSignature,
  refineSpec,
  signatureSpec,
  type BuiltSignature,
} from './wire/signature.js';

export type { ReceiverTarget } from './destination.js';

/** Options of {@link runReceiver}. */
export interface ReceiverOptions {
  /** Remove what the source does not have. */
  delete?: boolean;
  /** Compute and report, write nothing. */
  dryRun?: boolean;
  /** What these rules and the destination's own `.gosyncignore` exclude is kept (localfs/filter.ts). */
  filter?: readonly FilterRule[];
  /** Keep nothing excluded: it is deleted too (with `delete`). */
  deleteExcluded?: boolean;
  /**
   * Compare files by content (rsync's `--checksum`): the sender lists each file's SHA-256
   * (HELLO's `checksum`), and a file of the same size is asked for only when its content
   * differs, whatever its mtime. Default: rsync's quick check (same size and mtime: skip).
   */
  checksum?: boolean;
  /**
   * Other local files (regular files) whose blocks a new file may reuse: a file the
   * destination does not have is signed against them, end to end, instead of nothing.
   * Their signature is made once and sent for each new file at least 8 times its size
   * (a smaller one is sent whole); a file the destination has is signed against its old
   * version alone, as without seeds.
   */
  seeds?: readonly string[];
  /**
   * The umask new files and folders are masked with (rsync's default for new files);
   * those that were there take the source's mode. Read by the caller (the CLI passes
   * `process.umask()`); default: no masking.
   */
  umask?: number;
  signal?: AbortSignal;
  onProgress?: (p: SyncProgress) => void;
}

/** Files whose signatures are out (sent, delta not yet staged) at most. */
const MAX_OUTSTANDING_FILES = 4096;
/** Bytes of signatures out at most (the sender keeps them until it answers). */
const MAX_OUTSTANDING_SIG_BYTES = 64 * 1024 * 1024;
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
  /** Local paths of the basis, read end to end: the old version, or the seeds; none: empty. */
  basis: readonly string[];
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

/** A file being written, and the request it answers. */
interface Applying {
  request: Request;
  file: FileApplier;
}

/** Wakes the one task waiting for room (a window, a writing slot). */
class Wakeup {
  #resolve: (() => void) | undefined;

  wait(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#resolve = resolve;
    });
  }

  wake(): void {
    const resolve = this.#resolve;
    this.#resolve = undefined;
    resolve?.();
  }
}

/** What the receiver counts for its FINISH report. */
interface Tally {
  files: number;
  changed: number;
  literalBytes: number;
  matchedBytes: number;
  transferredFileBytes: number;
  changedPaths: string[];
}

/**
 * The smallest new file signed against seeds of `seedBytes` bytes: 8 times the size of
 * their signature (so it costs at most an eighth of what it may save); none without seeds.
 */
function seedMinSize(seedBytes: number): number {
  if (seedBytes === 0) return Number.POSITIVE_INFINITY;
  const spec = signatureSpec(seedBytes);
  return 8 * Math.ceil(seedBytes / spec.blockLength) * (4 + spec.strongLength);
}

/**
 * The receiving end of one session. {@link run} runs it whole: the sender's stream is
 * read ({@link handleFrame}) while signatures go out ({@link sendSignatures}), then
 * {@link commit} and {@link finish}. Each step is a method of its own, so a test can
 * drive them one at a time.
 */
export class Receiver {
  readonly #channel: Channel;
  readonly #dest: Destination;
  readonly #dryRun: boolean;
  readonly #checksum: boolean;
  /** The seeds, the smallest new file signed against them (none: Infinity), and their (first) signature once made. */
  readonly #seeds: readonly string[];
  readonly #seedMinSize: number;
  #seedSignature: Promise<BuiltSignature | undefined> | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #onProgress: ((p: SyncProgress) => void) | undefined;
  /** Names this session's parts (those of other sessions are leftovers). */
  readonly #nonce = randomBytes(4).toString('hex');

  // The file list and what it changes.
  readonly #checker = new FileListChecker();
  readonly #list: ListEntry[] = [];
  #listEnded = false;
  readonly #tally: Tally = { files: 0, changed: 0, literalBytes: 0, matchedBytes: 0, transferredFileBytes: 0, changedPaths: [] };
  #totalBytes = 0;
  #doneBytes = 0;

  // Signatures: planned, then out until the file is staged.
  readonly #plan = new AsyncQueue<Request>();
  readonly #requested = new Map<number, Request>();
  #outstandingSigBytes = 0;
  readonly #windowOpen = new Wakeup();
  /** A signature's frames go out together (several tasks send signatures). */
  #sigChain: Promise<void> = Promise.resolve();
  #signing = true;

  // Deltas: the one arriving, those still being written and checked, the parts made.
  #applying: Applying | undefined;
  readonly #finishing = new Set<Applying>();
  readonly #slotFree = new Wakeup();
  readonly #staged: StagedFile[] = [];
  /** Local paths of parts this session made (removed on failure). */
  readonly #parts: string[] = [];

  #failure: { err: unknown } | undefined;
  #finishSent = false;
  readonly #allDone: () => void;
  readonly #done: Promise<void>;

  private constructor(channel: Channel, dest: Destination, options: ReceiverOptions, seedBytes: number) {
    this.#channel = channel;
    this.#dest = dest;
    this.#dryRun = options.dryRun ?? false;
    this.#checksum = options.checksum ?? false;
    this.#seeds = options.seeds ?? [];
    this.#seedMinSize = seedMinSize(seedBytes);
    this.#signal = options.signal;
    this.#onProgress = options.onProgress;
    let allDone!: () => void;
    this.#done = new Promise<void>((resolve) => {
      allDone = resolve;
    });
    this.#allDone = allDone;
  }

  /**
   * A receiver writing to `target`, over a channel whose handshake is done. Looks at the
   * destination (and starts listing it) before anything arrives.
   */
  static async open(channel: Channel, target: ReceiverTarget, options: ReceiverOptions = {}): Promise<Receiver> {
    throwIfAborted(options.signal);
    const root = target.name === '' ? target.container.root : target.container.local(target.name);
    if (target.name !== '') await target.container.checkParents(target.name);
    const filter = options.deleteExcluded
      ? undefined
      : await folderFilter(root, options.filter, options.signal ? { signal: options.signal } : {});
    const dest = await Destination.open(target, {
      delete: options.delete ?? false,
      filter,
      signal: options.signal,
      ...(options.umask !== undefined ? { umask: options.umask } : {}),
    });
    // The seeds must be there (regular files, not links) before anything is asked for.
    let seedBytes = 0;
    for (const p of options.seeds ?? []) {
      const f = await openRegularFile(p);
      seedBytes += f.size;
      await f.fh.close().catch(() => {});
    }
    return new Receiver(channel, dest, options, seedBytes);
  }

  /** The parts staged so far (tree paths in the root the writes go through). */
  get staged(): readonly StagedFile[] {
    return this.#staged;
  }

  /**
   * Runs the whole session: resolves with the report sent in FINISH, after the commit.
   * On failure every part made is removed.
   */
  async run(): Promise<FinishReport> {
    try {
      return await this.#channel.runTasks(
        () => this.#main(),
        [() => this.#read(), () => this.sendSignatures()],
        (err) => this.#onFail(err),
      );
    } catch (err) {
      await this.discard(err);
      throw err;
    }
  }

  async #main(): Promise<FinishReport> {
    await this.whenStaged();
    throwIfAborted(this.#signal);
    return this.finish(await this.commit());
  }

  async #read(): Promise<void> {
    for (;;) {
      const frame = await this.#channel.next();
      if (!frame) {
        // The sender closes once it has the FINISH frame.
        if (this.#finishSent) return;
        throw await this.#channel.closedError();
      }
      await this.handleFrame(frame);
    }
  }

  /** Acts on one frame of the sender's stream. */
  async handleFrame(frame: Frame): Promise<void> {
    if (this.#finishSent && frame.type !== FrameType.ERROR)
      throw protocolError("read the sender's stream", `a ${frameName(frame.type)} frame follows FINISH`);
    switch (frame.type) {
      case FrameType.FILES:
        return this.receiveFiles(frame.payload);
      case FrameType.FILES_END:
        return this.endFileList(frame.payload);
      case FrameType.DELTA:
        return this.beginDelta(frame.payload);
      case FrameType.DELTA_DATA:
        return this.deltaData(frame.payload);
      case FrameType.DELTA_END:
        return this.endDelta(frame.payload);
      case FrameType.REFINE:
        return this.answerRefine(frame.payload);
      case FrameType.ERROR:
        throw decodeError(frame.payload, this.#channel.peer);
      default:
        throw protocolError("read the sender's stream", `a ${frameName(frame.type)} frame is not expected from the sending end`);
    }
  }

  // ---------------------------------------------------------------------------------
  // The file list

  /** A FILES batch: checked whole, then each entry compared with the destination and planned. */
  async receiveFiles(payload: Uint8Array): Promise<void> {
    if (this.#listEnded) throw protocolError('read the file list', 'a FILES frame follows FILES_END');
    // The whole batch is checked before any of it is acted on.
    const batch = decodeFileBatch(payload);
    for (const e of batch) this.#checker.check(e);
    for (const e of batch) {
      this.#list.push(e);
      await this.#planEntry(this.#list.length - 1, e);
    }
  }

  /** FILES_END: the list is complete (its count checked); no more signatures are planned. */
  endFileList(payload: Uint8Array): void {
    const r = new ByteReader(payload, 'the FILES_END frame');
    const count = r.varint('entry count');
    r.end();
    if (this.#listEnded) throw protocolError('read the file list', 'FILES_END comes twice');
    if (count !== this.#checker.count)
      throw protocolError('read the file list', `FILES_END counts ${count} entries, ${this.#checker.count} were listed`);
    if (count === 0) throw protocolError('read the file list', 'it is empty');
    this.#listEnded = true;
    this.#plan.close();
    this.#checkDone();
  }

  /** Decides what to do with one listed entry: nothing, or ask for the file (its signature planned). */
  async #planEntry(index: number, e: ListEntry): Promise<void> {
    const dest = this.#dest;
    if (index === 0) await dest.setRoot(e);
    dest.checkConflict(e);
    if (e.type !== 'file') return;
    const t = this.#tally;
    t.files++;
    if ((e.sha256 !== undefined) !== this.#checksum)
      throw protocolError('read the file list', `${JSON.stringify(e.path)} ${this.#checksum ? 'has no' : 'has a'} SHA-256`);
    const l = dest.entry(e.path);
    if (l?.type === 'file' && l.size === e.size && (e.sha256 ? await this.#sameContent(e.path, e.sha256) : sameMtime(l.mtimeMs, e.mtime)))
      return;
    t.changed++;
    if (t.changedPaths.length < MAX_LISTED_PATHS) t.changedPaths.push(e.path);
    this.#totalBytes += e.size;
    t.transferredFileBytes += e.size;
    if (this.#dryRun) return;
    const basis = l?.type === 'file' ? [dest.local(e.path)] : this.#seedsFor(e.size);
    await this.#plan.push({ index, basis, attempts: 0, sigBytes: 0, basisSize: 0, blockLength: 0, refinable: false, applying: false });
  }

  /** The basis of a new file of `size` bytes: the seeds when it is large enough ({@link seedMinSize}), else none. */
  #seedsFor(size: number): readonly string[] {
    return size >= this.#seedMinSize ? this.#seeds : [];
  }

  /** Whether the local file at a tree path has this SHA-256 (false when it cannot be read). */
  async #sameContent(path: string, sha256: Uint8Array): Promise<boolean> {
    const local = await sha256OfFile(this.#dest.local(path), this.#signal).catch(() => undefined);
    throwIfAborted(this.#signal);
    return local !== undefined && Buffer.from(local).equals(sha256);
  }

  // ---------------------------------------------------------------------------------
  // Signatures

  /**
   * Sends the signature of every planned file, in list order, keeping at most
   * {@link MAX_OUTSTANDING_FILES} files and {@link MAX_OUTSTANDING_SIG_BYTES} of
   * signatures out. Returns once the list is complete and every signature is sent.
   */
  async sendSignatures(): Promise<void> {
    try {
      for await (const req of this.#plan) {
        while (this.#requested.size >= MAX_OUTSTANDING_FILES || this.#outstandingSigBytes >= MAX_OUTSTANDING_SIG_BYTES) {
          await this.#windowOpen.wait();
          if (this.#failure) throw this.#failure.err;
        }
        await this.#requestSignature(req, 0);
      }
    } finally {
      this.#signing = false;
    }
    this.#checkDone();
  }

  /** Sends the signature of a request's basis (empty without one). */
  async #requestSignature(req: Request, flags: number): Promise<void> {
    const sig = await this.#signatureOf(req, flags & SIG_REDO ? 'redo' : 'normal');
    // Without an old version there is nothing to refine.
    const final = sig.basisSize === 0 ? flags | SIG_FINAL : flags;
    req.sigBytes = sig.records.length;
    req.basisSize = sig.basisSize;
    req.blockLength = sig.spec.blockLength;
    req.refinable = (final & SIG_FINAL) === 0;
    this.#outstandingSigBytes += req.sigBytes;
    this.#requested.set(req.index, req);
    await this.#sendSigFrames(encodeSignature(req.index, final, sig));
  }

  /**
   * The signature of a request's basis (its old version, or the seeds: made once); empty
   * without one (or when a file of it went away: then everything is sent).
   */
  async #signatureOf(req: Request, kind: 'normal' | 'redo'): Promise<BuiltSignature> {
    let sig: BuiltSignature | undefined;
    if (req.basis === this.#seeds && kind === 'normal') {
      this.#seedSignature ??= this.#sign(this.#seeds, kind);
      sig = await this.#seedSignature;
    } else sig = await this.#sign(req.basis, kind);
    if (sig) return sig;
    req.basis = [];
    return { spec: signatureSpec(0, kind), basisSize: 0, records: new Uint8Array(0) };
  }

  /** The signature of files read end to end; undefined when there are none or one cannot be opened. */
  async #sign(paths: readonly string[], kind: 'normal' | 'redo'): Promise<BuiltSignature | undefined> {
    if (paths.length === 0) return undefined;
    const set = await BasisSet.open(paths).catch(() => undefined);
    if (!set) return undefined;
    try {
      const maker = new SignatureMaker(signatureSpec(set.size, kind));
      for await (const chunk of set.range(0, set.size, this.#signal)) maker.push(chunk);
      return maker.end();
    } finally {
      await set.close();
    }
  }

  #sendSigFrames(frames: { first: Uint8Array; more: Uint8Array[] }): Promise<void> {
    const channel = this.#channel;
    const sent = this.#sigChain.then(async () => {
      await channel.send(FrameType.SIG, frames.first);
      for (const m of frames.more) await channel.send(FrameType.SIG_MORE, m);
    });
    this.#sigChain = sent.catch(() => {});
    return sent;
  }

  /** A REFINE: answered with the signature of the named ranges of the basis, end to end, in smaller blocks. */
  async answerRefine(payload: Uint8Array): Promise<void> {
    const { index, ranges } = decodeRefine(payload, (i) => {
      const req = this.#requested.get(i);
      return req?.refinable ? req.basisSize : undefined;
    });
    await this.#sendRefined(this.#requested.get(index)!, ranges);
  }

  async #sendRefined(req: Request, ranges: readonly Range[]): Promise<void> {
    req.refinable = false;
    const maker = new SignatureMaker(refineSpec(rangeBytes(ranges), req.blockLength));
    const set = req.basis.length === 0 ? undefined : await BasisSet.open(req.basis).catch(() => undefined);
    if (set) {
      try {
        for (const r of ranges) for await (const chunk of set.range(r.start, r.start + r.length, this.#signal)) maker.push(chunk);
      } finally {
        await set.close();
      }
    }
    const sig = maker.end();
    req.sigBytes += sig.records.length;
    this.#outstandingSigBytes += sig.records.length;
    await this.#sendSigFrames(encodeSignature(req.index, SIG_REFINED | SIG_FINAL, sig));
  }

  /** A file is staged: its signature no longer counts against the window. */
  #release(req: Request): void {
    this.#requested.delete(req.index);
    this.#outstandingSigBytes -= req.sigBytes;
    this.#windowOpen.wake();
  }

  // ---------------------------------------------------------------------------------
  // Deltas

  /**
   * DELTA: a file asked for begins; once a writing slot is free, its part is started
   * (folders above it made first).
   */
  async beginDelta(payload: Uint8Array): Promise<void> {
    if (this.#applying) throw protocolError('read a DELTA frame', 'a delta begins before the previous one ended');
    const r = new ByteReader(payload, 'a DELTA frame');
    const index = r.varint('file index');
    r.end();
    const req = this.#requested.get(index);
    if (!req || req.applying) throw protocolError('read a DELTA frame', `entry ${index} was not asked for`);
    req.applying = true;
    while (this.#busy(req)) {
      await this.#slotFree.wait();
      if (this.#failure) throw this.#failure.err;
    }
    const part = await this.#dest.prepareStaging(this.#list[index]!.path, this.#nonce);
    // Listed before it exists, so a failure at any point removes it.
    this.#parts.push(part);
    const file = await FileApplier.open(req.basis, part, {
      signal: this.#signal,
      onBytes: (n) => {
        this.#doneBytes += n;
        this.#onProgress?.({ phase: 'transfer', done: this.#doneBytes, total: this.#totalBytes });
      },
    });
    this.#applying = { request: req, file };
  }

  /** True while writing `req` too would exceed the files or basis bytes written at once. */
  #busy(req: Request): boolean {
    if (this.#finishing.size === 0) return false;
    let basis = req.basisSize;
    for (const f of this.#finishing) basis += f.request.basisSize;
    return this.#finishing.size >= MAX_APPLIERS || basis > MAX_APPLY_BASIS;
  }

  /** DELTA_DATA: the next bytes of the delta arriving. */
  async deltaData(payload: Uint8Array): Promise<void> {
    if (!this.#applying) throw protocolError('read a DELTA_DATA frame', 'no delta is in progress');
    await this.#applying.file.push(payload);
  }

  /**
   * DELTA_END: the delta is whole. The file is finished, checked and staged (or asked
   * for again) while the reader goes on; a failure there fails the session.
   */
  endDelta(payload: Uint8Array): void {
    const a = this.#applying;
    if (!a) throw protocolError('read a DELTA_END frame', 'no delta is in progress');
    const r = new ByteReader(payload, 'a DELTA_END frame');
    const size = r.varint('file size');
    const sha = r.bytes(32, 'SHA-256');
    r.end();
    this.#applying = undefined;
    this.#finishing.add(a);
    void this.#stage(a, size, sha).then(
      () => {
        this.#finishing.delete(a);
        this.#slotFree.wake();
        this.#checkDone();
      },
      async (err: unknown) => {
        await a.file.abort(err);
        this.#finishing.delete(a);
        this.#fail(err);
      },
    );
  }

  /** The last write, the check against the sender's size and SHA-256, and the part staged; or the file asked for again. */
  async #stage(a: Applying, size: number, sha: Uint8Array): Promise<void> {
    const req = a.request;
    const e = this.#list[req.index]!;
    const result = await a.file.finish(size, sha, e);
    req.applying = false;
    const w = this.#dest.where(e.path);
    if (!result.ok) {
      if (req.attempts > 0)
        throw new SyncError(
          ErrorCodes.FILE_MISMATCH,
          `Cannot accept ${w.root.local(w.path)}: twice the result did not match the sender's size and SHA-256`,
        );
      // A false block match (short strong sums) or a file that changed while read: once more, with full sums.
      req.attempts++;
      this.#outstandingSigBytes -= req.sigBytes;
      await this.#requestSignature(req, SIG_FINAL | SIG_REDO);
      return;
    }
    this.#tally.literalBytes += result.literalBytes;
    this.#tally.matchedBytes += result.copyBytes;
    this.#staged.push({ path: w.path, part: partName(w.path, this.#nonce) });
    this.#release(req);
  }

  // ---------------------------------------------------------------------------------
  // The end

  /** Resolves once the list is complete and every file asked for is staged; rejects with the session's failure. */
  async whenStaged(): Promise<void> {
    await this.#done;
    if (this.#failure) throw this.#failure.err;
  }

  #checkDone(): void {
    if (this.#listEnded && !this.#signing && this.#requested.size === 0 && this.#applying === undefined && this.#finishing.size === 0)
      this.#allDone();
  }

  /**
   * Makes the destination the source (with `dryRun` it only checks). Returns the
   * top-most entries `delete` removed (or would remove).
   */
  commit(): Promise<string[]> {
    const onProgress = this.#onProgress;
    return this.#dest.commit(this.#list, this.#staged, {
      nonce: this.#nonce,
      dryRun: this.#dryRun,
      onProgress: onProgress ? (done, total) => onProgress({ phase: 'commit', done, total }) : undefined,
    });
  }

  /** Sends FINISH (what changed; `removed` is what the commit removed) and ends this end's output. */
  async finish(removed: readonly string[]): Promise<FinishReport> {
    const t = this.#tally;
    const report: FinishReport = {
      files: t.files,
      changed: t.changed,
      deleted: removed.length,
      literalBytes: t.literalBytes,
      matchedBytes: t.matchedBytes,
      transferredFileBytes: t.transferredFileBytes,
      dryRun: this.#dryRun,
      changedPaths: t.changedPaths,
      deletedPaths: removed.slice(0, MAX_LISTED_PATHS),
    };
    this.#finishSent = true;
    await this.#channel.send(FrameType.FINISH, encodeJson(report));
    await this.#channel.end();
    return report;
  }

  /** The session failed: every task waiting is released. */
  #onFail(err: unknown): void {
    this.#failure ??= { err };
    this.#plan.fail(err);
    this.#windowOpen.wake();
    this.#slotFree.wake();
    this.#allDone();
  }

  /** A failure outside the tasks (a file being finished): {@link whenStaged} throws it. */
  #fail(err: unknown): void {
    this.#failure ??= { err };
    this.#allDone();
  }

  /** Stops writing and removes every part this session made. */
  async discard(err: unknown): Promise<void> {
    await this.#applying?.file.abort(err);
    await Promise.all([...this.#finishing].map((a) => a.file.abort(err)));
    for (const p of this.#parts) await unlink(p).catch(() => {});
  }
}

/**
 * Runs the receiving end over a channel whose handshake is done (the sender's stream is
 * being decompressed). Resolves with the report it sent in FINISH, after the commit.
 */
export async function runReceiver(channel: Channel, target: ReceiverTarget, options: ReceiverOptions = {}): Promise<FinishReport> {
  const receiver = await Receiver.open(channel, target, options);
  return receiver.run();
}
