/**
 * The sending end of a session (rsync's model): it lists its source, and for every file
 * the receiver asks about with a signature of its old version, it computes the delta
 * with the block matcher ({@link LibrsyncDeltaGenerator}) and streams it, with the new
 * file's size and SHA-256, through the session's brotli stream.
 *
 * Three tasks run at once, so nothing waits on a round trip per file: the file list goes
 * out in batches while the receiver's signatures come in and deltas go out, one file at
 * a time, in the order the signatures arrive. The compressor is flushed whenever the
 * sender has nothing more to say for now.
 *
 * A first signature has large blocks. When the delta it gives has both matches and
 * literal data, the sender holds the delta and asks for a finer signature of the old
 * file's unmatched ranges (REFINE, see refine.ts), goes on with other files meanwhile,
 * and splices the second delta into the first when that signature comes. A file of
 * 64 MiB or more starts streaming at once (copies up to its first literal data) and
 * waits for its second signature, so the receiver writes while the sender scans. A file
 * that looks unrelated (no match in its first 4 MiB), whose literal data outgrows
 * 64 MiB, or that would take the data held by waiting files over 256 MiB streams
 * without a second round.
 *
 * Nothing the receiver sends is trusted: a signature must name a file of the list, come
 * when it may, be complete and within the limits before it is used
 * ({@link SignatureAssembler}).
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
import { FrameType, MAX_FRAME_PAYLOAD, frameName } from './wire/frames.js';
import { decodeError } from './wire/handshake.js';
import { fileRange, openRegularFile } from './read-file.js';
import { DeltaOpsReader, DeltaSplicer, encodeRefine, unusedRanges, type DeltaOp, type Range } from './wire/refine.js';
import { parseFinish, type FinishReport, type SyncProgress } from './wire/report.js';
import { MIN_REFINED_BLOCK, SIG_FINAL, SIG_REDO, SIG_REFINED, SignatureAssembler, type SignatureRequest } from './wire/signature.js';
import { listSource, type SourceEntry, type SourceList } from './source-list.js';

/** Options of {@link runSender}. */
export interface SenderOptions {
  signal?: AbortSignal;
  onProgress?: (p: SyncProgress) => void;
  /** The source's listing, when it was started earlier (to overlap it with the connection's start). */
  list?: Promise<SourceList>;
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

/**
 * Runs the sending end over a channel whose handshake is done and whose outgoing side
 * is compressed. Resolves with the receiver's report (its FINISH frame) once it has committed.
 */
export async function runSender(channel: Channel, source: string, options: SenderOptions = {}): Promise<FinishReport> {
  const { signal, onProgress } = options;
  throwIfAborted(signal);
  const { entries, groups } = await (options.list ?? listSource(source, signal));
  const totalBytes = entries.reduce((a, e) => a + e.size, 0);
  const tree = new TreeRoot(source);
  const inbox = new Inbox();
  /** Per file: 0 not asked, 1 asked, 2 refinement asked for, 3 done once, 4 redone. */
  const state = new Uint8Array(entries.length);
  const parked = new Map<number, Parked>();
  let doneBytes = 0;
  /** Literal bytes held by files waiting for their second signature. */
  let heldTotal = 0;

  const sendList = async (): Promise<void> => {
    const enc = new FileListEncoder();
    let g = 1;
    for (let i = 0; i < entries.length; i++) {
      const full = enc.add(entries[i]!);
      if (full) await channel.send(FrameType.FILES, full);
      if (i + 1 === groups[g]) {
        g++;
        // A folder ends: its batch goes out, unless it is small (then the next folders join it).
        if (enc.pendingBytes >= GROUP_BYTES) await channel.send(FrameType.FILES, enc.take()!);
      }
      if (i % 1024 === 1023) throwIfAborted(signal);
    }
    const last = enc.take();
    if (last) await channel.send(FrameType.FILES, last);
    await channel.send(FrameType.FILES_END, new ByteWriter(8).varint(entries.length).finish());
    channel.flush();
  };

  const reader = async (): Promise<FinishReport> => {
    const assembler = new SignatureAssembler();
    try {
      for (;;) {
        const frame = await channel.next();
        if (!frame) throw await channel.closedError();
        if (frame.type === FrameType.SIG || frame.type === FrameType.SIG_MORE) {
          const req = frame.type === FrameType.SIG ? assembler.first(frame.payload) : assembler.more(frame.payload);
          if (!req) continue;
          const e = entries[req.index];
          if (e?.type !== 'file') throw protocolError('use a signature', `it is for entry ${req.index}, which is not a file of the list`);
          const s = state[req.index]!;
          const next =
            (req.flags & SIG_REDO) !== 0 ? (s === 3 ? 4 : 0) : (req.flags & SIG_REFINED) !== 0 ? (s === 2 ? 3 : 0) : s === 0 ? 1 : 0;
          if (next === 0)
            throw protocolError(
              'use a signature',
              `it asks for ${JSON.stringify(e.path)} ${s === 0 ? 'before it was asked for' : 'when it may not'}`,
            );
          state[req.index] = next;
          inbox.add(req);
        } else if (frame.type === FrameType.FINISH) {
          if (assembler.busy) throw protocolError('finish', 'the receiver finished inside a signature');
          if (parked.size > 0) throw protocolError('finish', 'the receiver finished while refinements were due');
          return parseFinish(frame.payload);
        } else if (frame.type === FrameType.ERROR) {
          throw decodeError(frame.payload, channel.peer);
        } else {
          throw protocolError("read the receiver's stream", `a ${frameName(frame.type)} frame is not expected from the receiving end`);
        }
      }
    } finally {
      inbox.close();
    }
  };

  const sendDeltaData = async (data: Uint8Array): Promise<void> => {
    for (let p = 0; p < data.length; p += MAX_FRAME_PAYLOAD)
      await channel.send(FrameType.DELTA_DATA, data.subarray(p, Math.min(data.length, p + MAX_FRAME_PAYLOAD)));
  };
  const drain = async (enc: LibrsyncDeltaEncoder, all = false): Promise<void> => {
    if (enc.pending >= DELTA_CHUNK || (all && enc.pending > 0)) await sendDeltaData(enc.take());
  };
  const finishDelta = async (index: number, enc: LibrsyncDeltaEncoder, size: number, sha256: Uint8Array): Promise<void> => {
    state[index] = Math.max(state[index]!, 3);
    enc.end();
    await drain(enc, true);
    await channel.send(FrameType.DELTA_END, new ByteWriter(48).varint(size).bytes(sha256).finish());
    // The receiver can write the file now.
    channel.flush();
  };
  const emit = (enc: LibrsyncDeltaEncoder, op: DeltaOp, data: Uint8Array | undefined): void => {
    if (op.kind === 'copy') enc.copy(op.from, op.length);
    else enc.literal(data!);
  };

  /** The first round of a file: its delta sent, or (returned) parked for a second round. */
  const firstRound = async (req: SignatureRequest): Promise<Parked | undefined> => {
    const e = entries[req.index]!;
    // The folders on the way must still be folders (not links swapped in since the listing).
    if (e.path !== '') await tree.checkParents(e.path);
    const file = await openRegularFile(e.local);
    const refinable = (req.flags & SIG_FINAL) === 0 && req.signature.blockCount > 0;
    let mode: 'copies' | 'hold' | 'all' = !refinable ? 'all' : file.size >= STREAM_FROM ? 'copies' : 'hold';
    const enc = new LibrsyncDeltaEncoder();
    let started = false;
    const start = async (): Promise<void> => {
      if (started) return;
      started = true;
      await channel.send(FrameType.DELTA, new ByteWriter(8).varint(req.index).finish());
    };
    const held: DeltaOp[] = [];
    const literals: Uint8Array[] = [];
    let heldLiteral = 0;
    const copies: [number, number][] = [];
    const ops = new DeltaOpsReader((op, data) => {
      if (op.kind === 'copy') copies.push([op.from, op.length]);
      if (mode === 'all' || (mode === 'copies' && op.kind === 'copy')) return emit(enc, op, data);
      mode = 'hold';
      const last = held[held.length - 1];
      if (op.kind === 'literal') {
        literals.push(new Uint8Array(data!));
        heldLiteral += op.length;
        if (last?.kind === 'literal' && last.at + last.length === op.at) last.length += op.length;
        else held.push({ ...op });
      } else held.push(op);
    });
    const sha: Hash = createHash('sha256');
    let size = 0;
    try {
      if (mode !== 'hold') await start();
      const g = new LibrsyncDeltaGenerator(req.signature);
      for await (const chunk of fileRange(file, signal ? { signal } : {})) {
        sha.update(chunk);
        size += chunk.length;
        g.push(chunk);
        ops.push(g.take());
        if (
          mode === 'hold' &&
          (heldLiteral > HOLD_BYTES || heldTotal + heldLiteral > HOLD_TOTAL || (ops.copyBytes === 0 && ops.at >= UNRELATED_PROBE))
        ) {
          // Too much to hold, or nothing in common: stream the rest, no second round.
          mode = 'all';
          await start();
          emitHeld(enc, held.splice(0), literals.splice(0));
        }
        if (started) await drain(enc);
        doneBytes += chunk.length;
        onProgress?.({ phase: 'transfer', done: doneBytes, total: totalBytes });
      }
      g.end();
      ops.push(g.take());
      ops.end();
    } finally {
      await file.fh.close().catch(() => {});
    }
    const digest = new Uint8Array(sha.digest());
    if (mode === 'hold' && ops.copyBytes > 0 && ops.literalBytes > 0) {
      const ranges = unusedRanges(copies, req.basisSize, Math.max(64, Math.min(MIN_REFINED_BLOCK, req.signature.blockLength)));
      if (ranges.length > 0) {
        state[req.index] = 2;
        await channel.send(FrameType.REFINE, encodeRefine(req.index, ranges));
        channel.flush();
        heldTotal += heldLiteral;
        return { entry: e, held, literals: joinLiterals(literals), ranges, encoder: enc, started, size, sha256: digest };
      }
    }
    await start();
    emitHeld(enc, held, literals);
    await finishDelta(req.index, enc, size, digest);
    return undefined;
  };

  /** The second round: the held delta spliced with the delta against the finer signature. */
  const secondRound = async (req: SignatureRequest, p: Parked): Promise<void> => {
    const asked = p.ranges.reduce((a, r) => a + r.length, 0);
    if (req.basisSize > asked)
      throw protocolError('use a refined signature', `it covers ${req.basisSize} bytes, more than the ${asked} asked for`);
    if (!p.started) await channel.send(FrameType.DELTA, new ByteWriter(8).varint(req.index).finish());
    const g = new LibrsyncDeltaGenerator(req.signature);
    const splicer = new DeltaSplicer(p.held, p.ranges, p.encoder);
    for (const data of p.literals) {
      for (let o = 0; o < data.length; o += 1024 * 1024) {
        g.push(data.subarray(o, Math.min(data.length, o + 1024 * 1024)));
        splicer.push(g.take());
        await drain(p.encoder);
      }
    }
    g.end();
    splicer.push(g.take());
    splicer.end();
    await finishDelta(req.index, p.encoder, p.size, p.sha256);
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      const req = await inbox.next();
      if (!req) break;
      if ((req.flags & SIG_REFINED) !== 0) {
        const p = parked.get(req.index)!;
        parked.delete(req.index);
        heldTotal -= p.literals.reduce((a, l) => a + l.length, 0);
        await secondRound(req, p);
      } else {
        const p = await firstRound(req);
        if (p) {
          if (p.started) {
            // Its delta is under way: no other delta may start before it ends.
            const second = await inbox.next(req.index);
            if (!second) break;
            heldTotal -= p.literals.reduce((a, l) => a + l.length, 0);
            await secondRound(second, p);
          } else parked.set(req.index, p);
        }
      }
    }
  };

  const finish = await channel.runTasks(reader, [sendList, worker], (err) => inbox.fail(err));
  await channel.end();
  return finish;
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
