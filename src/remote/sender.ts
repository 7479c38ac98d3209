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
 * Nothing the receiver sends is trusted: a signature must name a file of the list, be
 * complete and within the limits before it is used (see {@link SignatureAssembler}).
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { throwIfAborted } from '../errors.js';
import { LibrsyncDeltaGenerator, type DeltaStats } from '../formats/librsync-delta.js';
import { TreeRoot } from '../tree/tree-path.js';
import { AsyncQueue } from './async-queue.js';
import { ByteWriter, protocolError } from './binary.js';
import type { Channel } from './channel.js';
import { FileListEncoder } from './file-list.js';
import { FrameType, MAX_FRAME_PAYLOAD, frameName } from './frames.js';
import { decodeError } from './handshake.js';
import { fileRange, openRegularFile } from './read-file.js';
import { parseFinish, type FinishReport, type SyncProgress } from './report.js';
import { SIG_REDO, SIG_REFINED, SignatureAssembler, type SignatureRequest } from './signature.js';
import { listSource, type SourceList } from './source-list.js';

/** Options of {@link runSender}. */
export interface SenderOptions {
  signal?: AbortSignal;
  onProgress?: (p: SyncProgress) => void;
  /** The source's listing, when it was started earlier (to overlap it with the connection's start). */
  list?: Promise<SourceList>;
}

/** What the sender did, with the receiver's report. */
export interface SenderResult {
  /** The receiver's FINISH report. */
  finish: FinishReport;
  /** Entries listed (the source included). */
  listed: number;
  /** Bytes of delta data before compression. */
  deltaBytes: number;
  /** Entries of the source gosync cannot send (not a file, folder or link; unsafe names). */
  skipped: string[];
}

/** Delta bytes gathered before a DELTA_DATA frame is sent. */
const DELTA_CHUNK = 256 * 1024;
/** Small folders are grouped into one FILES frame up to this many bytes. */
const GROUP_BYTES = 32 * 1024;


/**
 * Runs the sending end over a channel whose handshake is done and whose outgoing side
 * is compressed. Resolves with the receiver's report once it has committed.
 */
export async function runSender(channel: Channel, source: string, options: SenderOptions = {}): Promise<SenderResult> {
  const { signal, onProgress } = options;
  throwIfAborted(signal);
  const { entries, skipped, groups } = await (options.list ?? listSource(source, signal));
  const totalBytes = entries.reduce((a, e) => a + e.size, 0);
  const tree = new TreeRoot(source);
  const requests = new AsyncQueue<SignatureRequest>();
  /** Per file: how far it got (0 none, 1 delta sent, 2 redone). */
  const state = new Uint8Array(entries.length);
  const stats: DeltaStats = { literalCommands: 0, literalBytes: 0, literalCommandBytes: 0, copyCommands: 0, copyBytes: 0, copyCommandBytes: 0 };
  let deltaBytes = 0;
  let doneBytes = 0;

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
    await channel.flush();
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
          if (!e || e.type !== 'file') throw protocolError('use a signature', `it is for entry ${req.index}, which is not a file of the list`);
          const s = state[req.index]!;
          const ok = (req.flags & SIG_REDO) !== 0 ? s === 1 : (req.flags & SIG_REFINED) !== 0 ? false : s === 0;
          if (!ok) throw protocolError('use a signature', `it asks for ${JSON.stringify(e.path)} ${s === 0 ? 'again before its first delta' : 'once too often'}`);
          state[req.index] = s + 1;
          await requests.push(req);
        } else if (frame.type === FrameType.FINISH) {
          if (assembler.busy) throw protocolError('finish', 'the receiver finished inside a signature');
          return parseFinish(frame.payload);
        } else if (frame.type === FrameType.ERROR) {
          throw decodeError(frame.payload, channel.peer);
        } else {
          throw protocolError('read the receiver\'s stream', `a ${frameName(frame.type)} frame is not expected from the receiving end`);
        }
      }
    } finally {
      requests.close();
    }
  };

  const sendDeltaData = async (data: Uint8Array): Promise<void> => {
    deltaBytes += data.length;
    for (let p = 0; p < data.length; p += MAX_FRAME_PAYLOAD) await channel.send(FrameType.DELTA_DATA, data.subarray(p, Math.min(data.length, p + MAX_FRAME_PAYLOAD)));
  };

  const worker = async (): Promise<void> => {
    for await (const req of requests) {
      const e = entries[req.index]!;
      // The folders on the way must still be folders (not links swapped in since the listing).
      if (e.path !== '') await tree.checkParents(e.path);
      const file = await openRegularFile(e.local);
      try {
        await channel.send(FrameType.DELTA, new ByteWriter(8).varint(req.index).finish());
        const g = new LibrsyncDeltaGenerator(req.signature);
        const sha = createHash('sha256');
        let size = 0;
        for await (const chunk of fileRange(file, signal ? { signal } : {})) {
          sha.update(chunk);
          size += chunk.length;
          g.push(chunk);
          if (g.encoder.pending >= DELTA_CHUNK) await sendDeltaData(g.take());
          doneBytes += chunk.length;
          onProgress?.({ phase: 'transfer', done: doneBytes, total: totalBytes });
        }
        g.end();
        await sendDeltaData(g.take());
        await channel.send(FrameType.DELTA_END, new ByteWriter(48).varint(size).bytes(sha.digest()).finish());
        for (const k of Object.keys(stats) as (keyof DeltaStats)[]) stats[k] += g.encoder.stats[k];
      } finally {
        await file.fh.close().catch(() => {});
      }
      if (requests.length === 0) await channel.flush();
    }
  };

  const finish = await channel.runTasks(reader, [sendList, worker], (err) => requests.fail(err));
  await channel.end();
  return { finish, listed: entries.length, deltaBytes, skipped };
}
