/**
 * The sending end of a session (rsync's model): it lists its source, and for every file
 * the receiver asks about with a signature of its old version, it computes the delta
 * with the block matcher ({@link LibrsyncDeltaGenerator}) and streams it, with the new
 * file's size and SHA-256, through the session's compressed stream (zstd, or brotli with a
 * version 1 peer).
 *
 * Three tasks run at once, so nothing waits on a round trip per file: the file list goes
 * out in batches while the receiver's signatures come in and deltas go out, one file at
 * a time, in the order the signatures arrive. The compressor is flushed whenever the
 * sender has nothing more to say for now.
 *
 * A first signature has large blocks. When the delta it gives has both matches and
 * literal data, the sender holds the delta and asks for a finer signature of the old
 * file's unmatched ranges (REFINE, see wire/refine.ts), goes on with other files meanwhile,
 * and splices the second delta into the first when that signature comes. A file of
 * 64 MiB or more starts streaming at once (copies up to its first literal data) and
 * waits for its second signature, so the receiver writes while the sender scans. A file
 * that looks unrelated (no match in its first 4 MiB), whose literal data outgrows
 * 64 MiB, or that would take the data held by waiting files over 256 MiB streams
 * without a second round; so does a streaming file holding more than 8 MiB of literal
 * data, more than it matched. A first delta with more than 3 times as much literal data
 * as copies is sent as it is.
 *
 * Nothing the receiver sends is trusted: a signature must name a file of the list, come
 * when it may, be complete and within the limits before it is used
 * ({@link SignatureAssembler}). Its memory is bounded by the file it is matched against,
 * not by the basis the peer claims: a signature not worth keeping ({@link worthKeeping}),
 * or one that would take the session's kept signatures over {@link SESSION_SIGNATURE_BYTES}
 * or the process's over its {@link SignatureBudget}, is read and dropped, and its file
 * sent whole.
 *
 * @module
 */
import { createHash, type Hash } from 'node:crypto';
import { throwIfAborted } from '../core/errors.js';
import { LibrsyncDeltaEncoder, LibrsyncDeltaGenerator } from '../formats/librsync-delta.js';
import { TreeRoot } from '../localfs/tree-path.js';
import { ByteWriter, protocolError } from './wire/binary.js';
import type { Channel } from './wire/channel.js';
import { FileListEncoder } from './wire/file-list.js';
import { FrameType, MAX_FRAME_PAYLOAD, frameName, type Frame } from './wire/frames.js';
import { decodeError } from './wire/handshake.js';
import { fileRange, openRegularFile, sha256OfFile, type OpenFile } from './read-file.js';
import { DeltaOpsReader, DeltaSplicer, encodeRefine, rangeBytes, unusedRanges, type DeltaOp, type Range } from './wire/refine.js';
import { parseFinish, type FinishReport, type SyncProgress } from './wire/report.js';
import {
  MIN_REFINED_BLOCK,
  SESSION_SIGNATURE_BYTES,
  SIG_FINAL,
  SIG_REDO,
  SIG_REFINED,
  SignatureAssembler,
  SignatureBudget,
  processSignatureBudget,
  worthKeeping,
  type SignatureHead,
  type SignatureRequest,
} from './wire/signature.js';
import { listSource, type SourceEntry, type SourceList } from './source-list.js';

/** Options of {@link runSender}. */
export interface SenderOptions {
  signal?: AbortSignal;
  onProgress?: (p: SyncProgress) => void;
  /** The source's listing, when it was started earlier (to overlap it with the connection's start). */
  list?: Promise<SourceList>;
  /** Bytes of kept signatures this session may hold (default {@link SESSION_SIGNATURE_BYTES}). */
  sessionSignatureBytes?: number;
  /** The budget of kept signatures shared with other sessions (default: the process's, {@link processSignatureBudget}). */
  signatureBudget?: SignatureBudget;
  /** List each file's SHA-256 (the receiver compares by content: HELLO's `checksum`). */
  checksum?: boolean;
}

/** Delta bytes gathered before a DELTA_DATA frame is sent. */
const DELTA_CHUNK = 256 * 1024;
/** Small folders are grouped into one FILES frame up to this many bytes. */
const GROUP_BYTES = 32 * 1024;
/**
 * Files from this size on stream their delta while it is computed (and hold the others
 * back while their second signature comes); smaller ones are held whole and wait aside.
 */
const STREAM_FROM = 64 * 1024 * 1024;
/** Literal data held per file for a second round, at most. */
const HOLD_BYTES = 64 * 1024 * 1024;
/** Literal data held by all files waiting for their second signature, at most. */
const HOLD_TOTAL = 256 * 1024 * 1024;
/** A file with no match in this many first bytes is taken as unrelated: no second round. */
const UNRELATED_PROBE = 4 * 1024 * 1024;
/**
 * A first delta with more literal data than this many times its copies gets no second
 * round: mostly new data (a rebuilt binary) gains little from finer blocks, and the
 * second round costs a round trip, the receiver's reading and signing of the unused
 * ranges and the sender's scan of all the literal data again. esbuild 0.25.0 → 0.25.1
 * (10 MB, 8.1 MB literal in the first round): 2.78 MB sent and received with the second
 * round, 3.10 MB without (rsync -az: 3.23 MB on the wire), and 0.67 s of CPU against
 * 0.96 s (one process); through a loopback sshd the second round took 1.1 s of the
 * push's 3.5 s (timing marks on both ends, a loaded machine). Text keeps it: at 3 the
 * typescript 5.5.4 → 5.6.2 folder sends what it did (692 kB; at 2: 810 kB, at 1: 893 kB),
 * typescript.js too (217 kB; 332 kB in one round of rsync-sized blocks).
 */
const REFINE_LITERAL_SHARE = 3;
/**
 * A streaming file (from {@link STREAM_FROM} on) holding more literal data than this, and
 * more than it has matched so far, streams the rest: mostly new data gains little from a
 * second round, and holding it stalls the compressor and the receiver. bun 1.4.4 → 1.4.5
 * (107 MB, 89 MB of it literal) held 64 MiB before its first DELTA_DATA: 1.5 s of 6.9 s
 * (`gosync push` through a loopback sshd, timing marks on both ends) with nothing on the
 * wire, for no second round (more than {@link HOLD_BYTES} literal anyway).
 */
const STREAM_HOLD_BYTES = 8 * 1024 * 1024;

/** Signature requests: first ones in arrival order, second ones (refinements) by file. */
class Inbox {
  readonly #first: SignatureRequest[] = [];
  readonly #second = new Map<number, SignatureRequest>();
  #closed = false;
  #error: { err: unknown } | undefined;
  #wake: (() => void) | undefined;

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  add(req: SignatureRequest): void {
    if ((req.flags & SIG_REFINED) !== 0) this.#second.set(req.index, req);
    else this.#first.push(req);
    this.#notify();
  }

  close(): void {
    this.#closed = true;
    this.#notify();
  }

  fail(err: unknown): void {
    this.#error ??= { err };
    this.#notify();
  }

  get empty(): boolean {
    return this.#first.length === 0 && this.#second.size === 0;
  }

  /** The next request (refinements first), or undefined once closed and empty. With `only`, waits for that file's refinement. */
  async next(only?: number): Promise<SignatureRequest | undefined> {
    for (;;) {
      if (this.#error) throw this.#error.err;
      if (only !== undefined) {
        const r = this.#second.get(only);
        if (r) {
          this.#second.delete(only);
          return r;
        }
      } else {
        const [k, r] = this.#second.entries().next().value ?? [];
        if (r) {
          this.#second.delete(k!);
          return r;
        }
        if (this.#first.length > 0) return this.#first.shift();
      }
      if (this.#closed) return undefined;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }
}

/** A file whose first delta waits for its second signature. */
interface Parked {
  entry: SourceEntry;
  /** Held operations from the first literal data on, and their literal bytes. */
  held: DeltaOp[];
  literals: Uint8Array[];
  ranges: Range[];
  encoder: LibrsyncDeltaEncoder;
  started: boolean;
  size: number;
  sha256: Uint8Array;
}

/** How a first delta goes out: as it is computed; copies up to its first literal data, then held; or held whole. */
type DeltaMode = 'all' | 'copies' | 'hold';

/** A file's first delta as it is computed: streamed, or held from its first literal data on for a second round. */
class FirstDelta {
  mode: DeltaMode;
  readonly encoder = new LibrsyncDeltaEncoder();
  /** Its DELTA frame is sent. */
  started = false;
  /** Held operations from the first literal data on, their literal bytes, and how many. */
  readonly held: DeltaOp[] = [];
  readonly literals: Uint8Array[] = [];
  heldLiteral = 0;
  /** Every copy, as `[from, length]`, for the ranges no copy used. */
  readonly copies: [number, number][] = [];
  readonly ops = new DeltaOpsReader((op, data) => this.#take(op, data));

  constructor(mode: DeltaMode) {
    this.mode = mode;
  }

  #take(op: DeltaOp, data: Uint8Array | undefined): void {
    if (op.kind === 'copy') this.copies.push([op.from, op.length]);
    if (this.mode === 'all' || (this.mode === 'copies' && op.kind === 'copy')) {
      emit(this.encoder, op, data);
      return;
    }
    this.mode = 'hold';
    const last = this.held[this.held.length - 1];
    if (op.kind === 'literal') {
      this.literals.push(new Uint8Array(data!));
      this.heldLiteral += op.length;
      if (last?.kind === 'literal' && last.at + last.length === op.at) last.length += op.length;
      else this.held.push({ ...op });
    } else this.held.push(op);
  }
}

/**
 * The sending end of one session. {@link run} runs it whole: the list goes out
 * ({@link sendList}) while the receiver's stream is read ({@link handleFrame}) and
 * signatures are answered ({@link work}, one {@link answer} at a time). Each step is a
 * method of its own, so a test can drive them one at a time.
 */
export class Sender {
  readonly #channel: Channel;
  readonly #signal: AbortSignal | undefined;
  readonly #onProgress: ((p: SyncProgress) => void) | undefined;
  readonly #entries: SourceEntry[];
  /** Where each folder's entries end in the list. */
  readonly #groups: number[];
  readonly #totalBytes: number;
  readonly #tree: TreeRoot;
  readonly #inbox = new Inbox();
  readonly #assembler = new SignatureAssembler({ admit: (h) => this.#admit(h) });
  /** Kept signatures of this session, and those of all sessions sharing the budget. */
  readonly #session: SignatureBudget;
  readonly #shared: SignatureBudget;
  /** Files asked for a refined signature: bytes of the ranges asked, and literal bytes it is matched against. */
  readonly #refining = new Map<number, { asked: number; literal: number }>();
  /** Per file: 0 not asked, 1 asked, 2 refinement asked for, 3 done once, 4 redone. */
  readonly #state: Uint8Array;
  /** Files whose delta waits (not started) for their second signature. */
  readonly #parked = new Map<number, Parked>();
  #doneBytes = 0;
  readonly #checksum: boolean;
  /** Literal bytes held by files waiting for their second signature. */
  #heldTotal = 0;

  constructor(channel: Channel, source: string, list: SourceList, options: Omit<SenderOptions, 'list'> = {}) {
    this.#channel = channel;
    this.#session = new SignatureBudget(options.sessionSignatureBytes ?? SESSION_SIGNATURE_BYTES);
    this.#shared = options.signatureBudget ?? processSignatureBudget();
    this.#signal = options.signal;
    this.#onProgress = options.onProgress;
    this.#checksum = options.checksum ?? false;
    this.#entries = list.entries;
    this.#groups = list.groups;
    this.#totalBytes = list.entries.reduce((a, e) => a + e.size, 0);
    // Every read checks its folders again: one swapped for a link since the listing is seen.
    this.#tree = new TreeRoot(source, { remember: false });
    this.#state = new Uint8Array(list.entries.length);
  }

  /** A sender of `source` (listed now, or the listing in `options.list`), over a channel whose handshake is done. */
  static async open(channel: Channel, source: string, options: SenderOptions = {}): Promise<Sender> {
    throwIfAborted(options.signal);
    const list = await (options.list ?? listSource(source, options.signal));
    return new Sender(channel, source, list, options);
  }

  /** Runs the whole session: resolves with the receiver's report (its FINISH frame) once it has committed. */
  async run(): Promise<FinishReport> {
    try {
      const finish = await this.#channel.runTasks(
        () => this.#read(),
        [() => this.sendList(), () => this.work()],
        (err) => this.#inbox.fail(err),
      );
      await this.#channel.end();
      return finish;
    } finally {
      this.releaseSignatures();
    }
  }

  /** Bytes of signatures this session keeps in memory now (received, not yet answered). */
  get keptSignatureBytes(): number {
    return this.#session.used;
  }

  /** Gives back to the shared budget what signatures not yet answered hold ({@link run} does at its end). */
  releaseSignatures(): void {
    this.#shared.release(this.#session.used);
    this.#session.release(this.#session.used);
  }

  /**
   * Whether a signature is kept, from its header: not for a file of the list or not
   * asked for (refused once complete, by #accept), not worth its memory, or over the
   * session's or the shared budget: dropped as it comes. A refined signature larger than
   * the ranges asked for is refused.
   */
  #admit(h: SignatureHead): boolean {
    const e = this.#entries[h.index];
    if (e?.type !== 'file') return false;
    let scan = e.size;
    if ((h.flags & SIG_REFINED) !== 0) {
      const r = this.#refining.get(h.index);
      if (!r) return false;
      if (h.basisSize > r.asked)
        throw protocolError('use a refined signature', `it covers ${h.basisSize} bytes, more than the ${r.asked} asked for`);
      scan = r.literal;
    }
    if (!worthKeeping(h, scan) || !this.#session.take(h.bytes)) return false;
    if (this.#shared.take(h.bytes)) return true;
    this.#session.release(h.bytes);
    return false;
  }

  /** A signature is answered: its memory goes back to the budgets. */
  #release(req: SignatureRequest): void {
    if (req.keptBytes === 0) return;
    this.#session.release(req.keptBytes);
    this.#shared.release(req.keptBytes);
    req.keptBytes = 0;
  }

  /** Sends the file list: FILES batches (a folder's entries, small folders grouped), then FILES_END. */
  async sendList(): Promise<void> {
    const channel = this.#channel;
    const entries = this.#entries;
    const enc = new FileListEncoder();
    let g = 1;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const full = enc.add(this.#checksum && e.type === 'file' ? { ...e, sha256: await this.#sha256(e) } : e);
      if (full) await channel.send(FrameType.FILES, full);
      if (i + 1 === this.#groups[g]) {
        g++;
        // A folder ends: its batch goes out, unless it is small (then the next folders join it).
        if (enc.pendingBytes >= GROUP_BYTES) await channel.send(FrameType.FILES, enc.take()!);
      }
      if (i % 1024 === 1023) throwIfAborted(this.#signal);
    }
    const last = enc.take();
    if (last) await channel.send(FrameType.FILES, last);
    await channel.send(FrameType.FILES_END, new ByteWriter(8).varint(entries.length).finish());
    channel.flush();
  }

  /** A listed file's SHA-256, read now (its folders checked again, as for its delta). */
  async #sha256(e: SourceEntry): Promise<Uint8Array> {
    if (e.path !== '') await this.#tree.checkParents(e.path);
    return sha256OfFile(e.local, this.#signal);
  }

  async #read(): Promise<FinishReport> {
    try {
      for (;;) {
        const frame = await this.#channel.next();
        if (!frame) throw await this.#channel.closedError();
        const finish = this.handleFrame(frame);
        if (finish) return finish;
      }
    } finally {
      this.#inbox.close();
    }
  }

  /**
   * One frame of the receiver's stream: a signature (queued once complete, if it may
   * come now), or FINISH (its report returned).
   */
  handleFrame(frame: Frame): FinishReport | undefined {
    if (frame.type === FrameType.SIG || frame.type === FrameType.SIG_MORE) {
      const req = frame.type === FrameType.SIG ? this.#assembler.first(frame.payload) : this.#assembler.more(frame.payload);
      if (req) this.#accept(req);
      return undefined;
    }
    if (frame.type === FrameType.FINISH) {
      if (this.#assembler.busy) throw protocolError('finish', 'the receiver finished inside a signature');
      if (this.#parked.size > 0) throw protocolError('finish', 'the receiver finished while refinements were due');
      return parseFinish(frame.payload);
    }
    if (frame.type === FrameType.ERROR) throw decodeError(frame.payload, this.#channel.peer);
    throw protocolError("read the receiver's stream", `a ${frameName(frame.type)} frame is not expected from the receiving end`);
  }

  /** Queues a complete signature, if it names a file of the list and may come now (first, refined, redone). */
  #accept(req: SignatureRequest): void {
    const e = this.#entries[req.index];
    if (e?.type !== 'file') throw protocolError('use a signature', `it is for entry ${req.index}, which is not a file of the list`);
    const s = this.#state[req.index]!;
    const next = (req.flags & SIG_REDO) !== 0 ? (s === 3 ? 4 : 0) : (req.flags & SIG_REFINED) !== 0 ? (s === 2 ? 3 : 0) : s === 0 ? 1 : 0;
    if (next === 0)
      throw protocolError(
        'use a signature',
        `it asks for ${JSON.stringify(e.path)} ${s === 0 ? 'before it was asked for' : 'when it may not'}`,
      );
    this.#state[req.index] = next;
    this.#inbox.add(req);
  }

  /** The next signature to answer (refinements first); undefined once the receiver's stream ended and all are answered. */
  nextRequest(): Promise<SignatureRequest | undefined> {
    return this.#inbox.next();
  }

  /** Answers signatures as they come, until the receiver's stream ends. */
  async work(): Promise<void> {
    for (;;) {
      const req = await this.#inbox.next();
      if (!req || !(await this.answer(req))) return;
    }
  }

  /**
   * Answers one signature: a first one with its delta (or a REFINE, the file held), a
   * refined one with the spliced delta. Returns false when the receiver's stream ended
   * while a file whose delta is under way waited for its refined signature.
   */
  async answer(req: SignatureRequest): Promise<boolean> {
    if ((req.flags & SIG_REFINED) !== 0) {
      const p = this.#parked.get(req.index)!;
      this.#parked.delete(req.index);
      this.#heldTotal -= heldBytes(p);
      await this.#secondRound(req, p);
      return true;
    }
    let p: Parked | undefined;
    try {
      p = await this.#firstRound(req);
    } finally {
      this.#release(req);
    }
    if (!p) return true;
    if (!p.started) {
      this.#parked.set(req.index, p);
      return true;
    }
    // Its delta is under way: no other delta may start before it ends.
    const second = await this.#inbox.next(req.index);
    if (!second) return false;
    this.#heldTotal -= heldBytes(p);
    await this.#secondRound(second, p);
    return true;
  }

  async #begin(index: number, d: FirstDelta): Promise<void> {
    if (d.started) return;
    d.started = true;
    await this.#channel.send(FrameType.DELTA, new ByteWriter(8).varint(index).finish());
  }

  async #sendDeltaData(data: Uint8Array): Promise<void> {
    for (let p = 0; p < data.length; p += MAX_FRAME_PAYLOAD)
      await this.#channel.send(FrameType.DELTA_DATA, data.subarray(p, Math.min(data.length, p + MAX_FRAME_PAYLOAD)));
  }

  /** Sends what the encoder holds once it is a chunk's worth (with `all`, whatever it holds). */
  async #drain(enc: LibrsyncDeltaEncoder, all = false): Promise<void> {
    if (enc.pending >= DELTA_CHUNK || (all && enc.pending > 0)) await this.#sendDeltaData(enc.take());
  }

  async #finishDelta(index: number, enc: LibrsyncDeltaEncoder, size: number, sha256: Uint8Array): Promise<void> {
    this.#state[index] = Math.max(this.#state[index]!, 3);
    enc.end();
    await this.#drain(enc, true);
    await this.#channel.send(FrameType.DELTA_END, new ByteWriter(48).varint(size).bytes(sha256).finish());
    // The receiver can write the file now.
    this.#channel.flush();
  }

  /** The first round of a file: its delta sent, or (returned) held for a second round, its REFINE sent. */
  async #firstRound(req: SignatureRequest): Promise<Parked | undefined> {
    const e = this.#entries[req.index]!;
    // The folders on the way must still be folders (not links swapped in since the listing).
    if (e.path !== '') await this.#tree.checkParents(e.path);
    const file = await openRegularFile(e.local);
    const refinable = (req.flags & SIG_FINAL) === 0 && req.signature.blockCount > 0;
    const d = new FirstDelta(!refinable ? 'all' : file.size >= STREAM_FROM ? 'copies' : 'hold');
    let scanned: { size: number; sha256: Uint8Array };
    try {
      if (d.mode !== 'hold') await this.#begin(req.index, d);
      scanned = await this.#scan(req, file, d);
    } finally {
      await file.fh.close().catch(() => {});
    }
    const { size, sha256 } = scanned;
    if (
      d.mode === 'hold' &&
      d.ops.copyBytes > 0 &&
      d.ops.literalBytes > 0 &&
      d.ops.literalBytes <= d.ops.copyBytes * REFINE_LITERAL_SHARE
    ) {
      const ranges = unusedRanges(d.copies, req.basisSize, Math.max(64, Math.min(MIN_REFINED_BLOCK, req.signature.blockLength)));
      if (ranges.length > 0) {
        this.#state[req.index] = 2;
        this.#refining.set(req.index, { asked: rangeBytes(ranges), literal: d.heldLiteral });
        await this.#channel.send(FrameType.REFINE, encodeRefine(req.index, ranges));
        this.#channel.flush();
        this.#heldTotal += d.heldLiteral;
        return { entry: e, held: d.held, literals: joinLiterals(d.literals), ranges, encoder: d.encoder, started: d.started, size, sha256 };
      }
    }
    await this.#begin(req.index, d);
    emitHeld(d.encoder, d.held, d.literals);
    await this.#finishDelta(req.index, d.encoder, size, sha256);
    return undefined;
  }

  /** Reads the file through the matcher into `d`; a file that cannot be held (or looks unrelated) streams from then on. */
  async #scan(req: SignatureRequest, file: OpenFile, d: FirstDelta): Promise<{ size: number; sha256: Uint8Array }> {
    const sha: Hash = createHash('sha256');
    let size = 0;
    const g = new LibrsyncDeltaGenerator(req.signature);
    for await (const chunk of fileRange(file, this.#signal ? { signal: this.#signal } : {})) {
      sha.update(chunk);
      size += chunk.length;
      g.push(chunk);
      d.ops.push(g.take());
      if (
        d.mode === 'hold' &&
        (d.heldLiteral > HOLD_BYTES ||
          this.#heldTotal + d.heldLiteral > HOLD_TOTAL ||
          (d.ops.copyBytes === 0 && d.ops.at >= UNRELATED_PROBE) ||
          (d.started && d.heldLiteral > STREAM_HOLD_BYTES && d.heldLiteral > d.ops.copyBytes))
      ) {
        // Too much to hold, or nothing in common: stream the rest, no second round.
        d.mode = 'all';
        await this.#begin(req.index, d);
        emitHeld(d.encoder, d.held.splice(0), d.literals.splice(0));
      }
      if (d.started) await this.#drain(d.encoder);
      this.#doneBytes += chunk.length;
      this.#onProgress?.({ phase: 'transfer', done: this.#doneBytes, total: this.#totalBytes });
    }
    g.end();
    d.ops.push(g.take());
    d.ops.end();
    return { size, sha256: new Uint8Array(sha.digest()) };
  }

  /** The second round: the held delta spliced with the delta against the finer signature. */
  async #secondRound(req: SignatureRequest, p: Parked): Promise<void> {
    try {
      await this.#splice(req, p);
    } finally {
      this.#refining.delete(req.index);
      this.#release(req);
    }
  }

  async #splice(req: SignatureRequest, p: Parked): Promise<void> {
    const asked = p.ranges.reduce((a, r) => a + r.length, 0);
    if (req.basisSize > asked)
      throw protocolError('use a refined signature', `it covers ${req.basisSize} bytes, more than the ${asked} asked for`);
    if (!p.started) await this.#channel.send(FrameType.DELTA, new ByteWriter(8).varint(req.index).finish());
    const g = new LibrsyncDeltaGenerator(req.signature);
    const splicer = new DeltaSplicer(p.held, p.ranges, p.encoder);
    for (const data of p.literals) {
      for (let o = 0; o < data.length; o += 1024 * 1024) {
        g.push(data.subarray(o, Math.min(data.length, o + 1024 * 1024)));
        splicer.push(g.take());
        await this.#drain(p.encoder);
      }
    }
    g.end();
    splicer.push(g.take());
    splicer.end();
    await this.#finishDelta(req.index, p.encoder, p.size, p.sha256);
  }
}

/**
 * Runs the sending end over a channel whose handshake is done and whose outgoing side
 * is compressed. Resolves with the receiver's report (its FINISH frame) once it has committed.
 */
export async function runSender(channel: Channel, source: string, options: SenderOptions = {}): Promise<FinishReport> {
  const sender = await Sender.open(channel, source, options);
  return sender.run();
}

function emit(enc: LibrsyncDeltaEncoder, op: DeltaOp, data: Uint8Array | undefined): void {
  if (op.kind === 'copy') enc.copy(op.from, op.length);
  else enc.literal(data!);
}

/** Literal bytes a parked file holds. */
function heldBytes(p: Parked): number {
  return p.literals.reduce((a, l) => a + l.length, 0);
}

/**
 * Emits held operations; their literal bytes are `pieces` end to end (runs were merged
 * as they were held, their pieces were not).
 */
function emitHeld(enc: LibrsyncDeltaEncoder, held: readonly DeltaOp[], pieces: Uint8Array[]): void {
  const bytes = joinLiterals(pieces)[0] ?? new Uint8Array(0);
  let p = 0;
  for (const op of held) {
    if (op.kind === 'copy') enc.copy(op.from, op.length);
    else {
      enc.literal(bytes.subarray(p, p + op.length));
      p += op.length;
    }
  }
}

/** Literal pieces as one buffer (a list of at most one). */
function joinLiterals(parts: Uint8Array[]): Uint8Array[] {
  if (parts.length <= 1) return parts;
  return [Buffer.concat(parts)];
}
