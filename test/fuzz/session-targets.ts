/**
 * The server side of `gosync serve --stdio` as a fuzz target: each input is the whole byte
 * stream a client sends (greeting, HELLO for a pull, SIG and SIG_MORE frames, FINISH), fed
 * to {@link serveSession} over an in-memory pipe while the server's answers are read and
 * dropped. The seeds are an honest pull and signatures built against the sender within
 * its limits: every block under one weak sum that the served file's windows all have
 * (a zero block against a file of zeros), 1-byte blocks with 1-byte sums, the most blocks
 * a kept signature may have, a signature sent twice, one of identical records, one for an
 * entry that is not a file, and a stream cut inside a frame.
 *
 * A session must end, resolved or rejected with a SyncError, within {@link HANG_MS}: one
 * still running then is aborted and reported as a hang (a plain Error, so a finding).
 */
import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { createZstdCompress } from 'node:zlib';
import { encodeLibrsyncDelta } from '../../src/formats/librsync-delta.js';
import { decodeLibrsyncSignature, encodeLibrsyncSignature } from '../../src/formats/librsync-signature.js';
import { serveSession } from '../../src/remote/serve-stdio.js';
import { listSource } from '../../src/remote/source-list.js';
import { memoryPipe } from '../../src/remote/transport.js';
import { ByteReader, ByteWriter } from '../../src/remote/wire/binary.js';
import { FileListEncoder, type ListEntry } from '../../src/remote/wire/file-list.js';
import { type Frame, FrameParser, FrameType, MAX_FRAME_PAYLOAD, encodeFrame } from '../../src/remote/wire/frames.js';
import { GREETING_SIZE, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, encodeGreeting, encodeJson } from '../../src/remote/wire/handshake.js';
import {
  KEEP_BLOCKS_FLOOR,
  SIG_FINAL,
  SIG_RABINKARP_MD4,
  SignatureMaker,
  encodeSignature,
  signatureSpec,
} from '../../src/remote/wire/signature.js';
import { concat, randomBytes } from '../helpers/data.js';
import type { FuzzTarget } from './engine.js';

/** A session still running after this long is a hang (a finding). */
export const HANG_MS = 10_000;
/** Resident memory one session may add (the kept signatures are bounded far below). */
export const SESSION_MEMORY_BOUND = 128 * 1024 * 1024;

/** The served folder: a text file, a file of zeros, a random file in a folder, an empty file. */
async function servedTree(root: string): Promise<Map<string, { index: number; data: Uint8Array }>> {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'return', '{', '}', '\n'];
  const r = randomBytes(20_000, 31);
  const text = new Uint8Array(Buffer.from(Array.from(r, (b) => words[b % words.length]).join(' ')));
  const files: Record<string, Uint8Array> = {
    'a.txt': text,
    'sub/b.bin': randomBytes(8 * 1024, 32),
    empty: new Uint8Array(0),
    'zeros.bin': new Uint8Array(32 * 1024),
  };
  for (const [path, data] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), data);
  }
  const list = await listSource(root);
  const out = new Map<string, { index: number; data: Uint8Array }>();
  list.entries.forEach((e, index) => {
    out.set(e.path, { index, data: files[e.path] ?? new Uint8Array(0) });
  });
  return out;
}

const GREETING = encodeGreeting({ role: 'client', maxVersion: PROTOCOL_VERSION, minVersion: MIN_PROTOCOL_VERSION, readOnly: false });
const HELLO = encodeFrame(FrameType.HELLO, encodeJson({ op: 'pull', path: '.', delete: false, dryRun: false }));
const FINISH = encodeFrame(
  FrameType.FINISH,
  encodeJson({
    files: 5,
    changed: 1,
    deleted: 0,
    literalBytes: 10,
    matchedBytes: 100,
    transferredFileBytes: 110,
    dryRun: false,
    changedPaths: ['a.txt'],
    deletedPaths: [],
  }),
);

/** SIG and SIG_MORE frames of a signature of `basis` as a gosync receiver makes it. */
function honestSig(index: number, flags: number, basis: Uint8Array, spec = signatureSpec(basis.length)): Uint8Array {
  const m = new SignatureMaker(spec);
  m.push(basis);
  const { first, more } = encodeSignature(index, flags, m.end());
  return concat(encodeFrame(FrameType.SIG, first), ...more.map((p) => encodeFrame(FrameType.SIG_MORE, p)));
}

/** SIG and SIG_MORE frames of `records` (whole records) under a header the caller chooses. */
function craftedSig(
  index: number,
  flags: number,
  basisSize: number,
  blockLength: number,
  strongLength: number,
  records: Uint8Array,
): Uint8Array {
  const head = new ByteWriter(32)
    .varint(index)
    .u8(flags)
    .u8(SIG_RABINKARP_MD4)
    .varint(basisSize)
    .varint(blockLength)
    .u8(strongLength)
    .finish();
  const rec = 4 + strongLength;
  const per = Math.floor((MAX_FRAME_PAYLOAD - 64) / rec) * rec;
  const frames = [encodeFrame(FrameType.SIG, concat(head, records.subarray(0, per)))];
  for (let p = per; p < records.length; p += per) frames.push(encodeFrame(FrameType.SIG_MORE, records.subarray(p, p + per)));
  return concat(...frames);
}

/** `n` records: the weak sum of `block` in each, random strong sums (or the real one every `realEvery`). */
function oneWeakSum(block: Uint8Array, n: number, strongLength: number, seed: number, realEvery = 0): Uint8Array {
  const m = new SignatureMaker({ blockLength: block.length, strongLength });
  m.push(block);
  const real = m.end().records;
  const rec = 4 + strongLength;
  const out = randomBytes(n * rec, seed);
  for (let i = 0; i < n; i++) {
    out.set(real.subarray(0, 4), i * rec);
    if (realEvery > 0 && i % realEvery === realEvery - 1) out.set(real, i * rec);
  }
  return out;
}

/** An old version of `data`: a few bytes changed, some cut, some added. */
function older(data: Uint8Array, seed: number): Uint8Array {
  const r = randomBytes(8, seed);
  const a = (r[0]! * 37) % Math.max(1, data.length);
  return concat(data.subarray(0, a), randomBytes(20 + r[1]!, seed + 1), data.subarray(Math.min(data.length, a + 300)));
}

/** Client streams: an honest pull, and the hostile signatures within the sender's limits. */
function sessionSeeds(tree: Map<string, { index: number; data: Uint8Array }>): Uint8Array[] {
  const a = tree.get('a.txt')!;
  const b = tree.get('sub/b.bin')!;
  const z = tree.get('zeros.bin')!;
  const stream = (...frames: Uint8Array[]) => concat(GREETING, HELLO, ...frames);
  const zeroBlock = 512;
  const honest = stream(honestSig(a.index, SIG_FINAL, older(a.data, 1)), honestSig(b.index, SIG_FINAL, b.data), FINISH);
  return [
    honest,
    // Nothing asked: every file goes whole.
    stream(FINISH),
    // Every block under the weak sum of a zero block, against the file of zeros (1,024 blocks, none real; and 1 in 64 real).
    stream(craftedSig(z.index, SIG_FINAL, 1024 * zeroBlock, zeroBlock, 2, oneWeakSum(new Uint8Array(zeroBlock), 1024, 2, 5)), FINISH),
    stream(craftedSig(z.index, SIG_FINAL, 1024 * zeroBlock, zeroBlock, 4, oneWeakSum(new Uint8Array(zeroBlock), 1024, 4, 6, 64)), FINISH),
    // 1-byte blocks with 1-byte sums (dropped as they come: the file goes whole).
    stream(craftedSig(a.index, SIG_FINAL, 4096, 1, 1, randomBytes(4096 * 5, 7)), FINISH),
    // The most blocks a kept signature may have, all under one weak sum (16 KiB blocks, 2-byte sums).
    stream(
      craftedSig(z.index, SIG_FINAL, KEEP_BLOCKS_FLOOR * 16_384, 16_384, 2, oneWeakSum(new Uint8Array(16_384), KEEP_BLOCKS_FLOOR, 2, 8)),
      FINISH,
    ),
    // The same signature twice; identical records; an entry that is not a file; a stream cut inside a frame.
    stream(honestSig(b.index, SIG_FINAL, b.data), honestSig(b.index, SIG_FINAL, b.data), FINISH),
    stream(craftedSig(a.index, SIG_FINAL, 200 * 1024, 1024, 4, oneWeakSum(a.data.subarray(0, 1024), 200, 4, 9, 1)), FINISH),
    stream(craftedSig(0, SIG_FINAL, 4096, 1024, 4, randomBytes(4 * 8, 10)), FINISH),
    honest.subarray(0, honest.length - FINISH.length - 7),
    // Refinable (no SIG_FINAL): the server may ask for a finer signature the client never sends.
    stream(honestSig(a.index, 0, older(a.data, 2)), FINISH),
  ];
}

/** Serves one client stream; resolves or rejects as the session does, or rejects with a plain Error on a hang. */
async function serveOnce(root: string, input: Uint8Array): Promise<void> {
  const [server, client] = memoryPipe();
  const ac = new AbortController();
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    ac.abort();
  }, HANG_MS);
  // The server's answers are read and dropped; the client's stream is written whole at once.
  const answers = client.input as Readable;
  answers.on('data', () => {});
  answers.on('error', () => {});
  const out = client.output as Writable;
  out.on('error', () => {});
  out.end(input);
  try {
    await serveSession(server, { root, readOnly: true, signal: ac.signal, compression: { level: 1 } });
  } catch (err) {
    if (hung) throw new Error(`the session did not end within ${HANG_MS} ms`);
    throw err;
  } finally {
    clearTimeout(timer);
    await client.close();
    await server.close();
  }
  if (hung) throw new Error(`the session did not end within ${HANG_MS} ms`);
}

/** The fuzz targets of `serve --stdio`'s server side; `dir` is a folder for the served tree. */
export async function sessionTargets(dir: string): Promise<FuzzTarget[]> {
  const root = join(dir, 'served');
  const tree = await servedTree(root);
  return [
    {
      name: 'serve --stdio (pull, hostile signatures)',
      seeds: sessionSeeds(tree),
      run: (input) => serveOnce(root, input),
      memoryBoundBytes: SESSION_MEMORY_BOUND,
    },
    {
      name: 'serve --stdio (push, hostile frames)',
      seeds: pushSeeds(),
      run: (input) => receiveOnce(join(dir, 'received'), input),
      memoryBoundBytes: SESSION_MEMORY_BOUND,
    },
  ];
}

// ---------------------------------------------------------------------------------------
// Push: the server receives. The input is the client's frames after HELLO, uncompressed.

const HELLO_PUSH = encodeFrame(FrameType.HELLO, encodeJson({ op: 'push', path: 'd', delete: true, dryRun: false }));
const EMPTY_SIG = decodeLibrsyncSignature(encodeLibrsyncSignature(new Uint8Array(0), { hash: 'md4', rollsum: 'rabinkarp' }));

/** The frames a client sends for `files` into an empty destination: the list, then each file's delta (all literal). */
function pushFrames(
  files: { entry: Omit<ListEntry, 'size'>; data?: Uint8Array }[],
  tamper?: (k: number, sha: Uint8Array) => void,
): Uint8Array {
  const enc = new FileListEncoder();
  const frames: Uint8Array[] = [];
  const list: ListEntry[] = files.map((f) => ({ ...f.entry, size: f.data?.length ?? 0 }) as ListEntry);
  for (const e of list) {
    const full = enc.add(e);
    if (full) frames.push(encodeFrame(FrameType.FILES, full));
  }
  const last = enc.take();
  if (last) frames.push(encodeFrame(FrameType.FILES, last));
  frames.push(encodeFrame(FrameType.FILES_END, new ByteWriter(8).varint(list.length).finish()));
  files.forEach((f, k) => {
    if (f.entry.type !== 'file') return;
    const data = f.data ?? new Uint8Array(0);
    const sha = new Uint8Array(createHash('sha256').update(data).digest());
    tamper?.(k, sha);
    frames.push(encodeFrame(FrameType.DELTA, new ByteWriter(8).varint(k).finish()));
    const delta = encodeLibrsyncDelta(EMPTY_SIG, data);
    for (let p = 0; p < delta.length; p += 4096) frames.push(encodeFrame(FrameType.DELTA_DATA, delta.subarray(p, p + 4096)));
    frames.push(encodeFrame(FrameType.DELTA_END, new ByteWriter(48).varint(data.length).bytes(sha).finish()));
  });
  return concat(...frames);
}

function pushSeeds(): Uint8Array[] {
  const t = 1_700_000_000_000;
  const dir = (path: string, mode = 0o755) => ({ entry: { path, type: 'dir' as const, mode, mtime: t } });
  const file = (path: string, data: Uint8Array, mode = 0o644) => ({ entry: { path, type: 'file' as const, mode, mtime: t }, data });
  const text = new Uint8Array(Buffer.from('alpha beta gamma\n'.repeat(400)));
  const honest = [
    dir(''),
    file('a.txt', text),
    dir('sub', 0o1777),
    file('sub/b.bin', randomBytes(8 * 1024, 41)),
    file('sub/empty', new Uint8Array(0)),
    { entry: { path: 'l', type: 'symlink' as const, mode: 0o777, mtime: t, target: 'a.txt' } },
  ];
  return [
    pushFrames(honest),
    // One file alone (the destination itself a file).
    pushFrames([file('', text)]),
    // A file whose SHA-256 does not match: it is asked for again, and the stream ends.
    pushFrames(honest, (k, sha) => {
      if (k === 1) sha[0]! ^= 1;
    }),
    // A path out of the tree; a file under a link; an entry listed twice.
    pushFrames([dir(''), file('../x', text)]),
    pushFrames([dir(''), { entry: { path: 'l', type: 'symlink' as const, mode: 0o777, mtime: t, target: '/' } }, file('l/x', text)]),
    pushFrames([dir(''), file('a', text), file('a', text)]),
  ];
}

/** The file index a frame's payload starts with, or -1. */
function leadingIndex(f: Frame): number {
  try {
    return new ByteReader(f.payload, 'the fuzzer').varint('file index');
  } catch {
    return -1;
  }
}

/**
 * Pushes one client stream into `parent/d` through a served session. Frames are sent as a
 * client sends them: a DELTA waits until the server has asked for its file (a SIG), the
 * session ended, or the server has said nothing for `idleMs`; what does not parse as frames
 * goes at once. Then the stream stays open until the server's FINISH, or until it has said
 * nothing for `idleMs`. The destination is removed afterwards.
 */
export async function receiveOnce(parent: string, frames: Uint8Array, idleMs = 50): Promise<void> {
  await mkdir(parent, { recursive: true });
  const [server, client] = memoryPipe();
  const ac = new AbortController();
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    ac.abort();
  }, HANG_MS);
  const asked = new Set<number>();
  let finished = false;
  let lastAnswer = performance.now();
  let wake: (() => void) | undefined;
  let settled = false;
  const answers = client.input as Readable;
  const parser = new FrameParser('the server', 16 * 1024 * 1024);
  let skip = GREETING_SIZE;
  answers.on('data', (chunk: Uint8Array) => {
    const rest = chunk.subarray(Math.min(skip, chunk.length));
    skip -= chunk.length - rest.length;
    try {
      for (const f of parser.push(rest)) {
        if (f.type === FrameType.SIG) asked.add(leadingIndex(f));
        if (f.type === FrameType.FINISH) finished = true;
      }
    } catch {}
    lastAnswer = performance.now();
    wake?.();
  });
  answers.on('error', () => {});
  const out = client.output as Writable;
  out.on('error', () => {});
  out.write(concat(GREETING, HELLO_PUSH));
  const z = createZstdCompress();
  z.on('error', () => {});
  z.pipe(out);
  const session = serveSession(server, { root: parent, readOnly: false, umask: 0o022, signal: ac.signal }).finally(() => {
    settled = true;
    wake?.();
  });
  session.catch(() => {});
  const until = (ready: () => boolean, ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        wake = undefined;
        resolve();
      }
      wake = () => {
        if (ready()) done();
      };
      wake();
    });
  const feed = async (): Promise<void> => {
    // Whole frames one by one; from the first byte that does not parse as one, the rest at once.
    const p = new FrameParser('the fuzzer', 16 * 1024 * 1024);
    let parsed: Frame[] = [];
    try {
      parsed = p.push(frames);
    } catch {}
    let used = 0;
    for (const f of parsed) used += encodeFrame(f.type as never, f.payload).length;
    const raw = used < frames.length ? frames.subarray(used) : undefined;
    for (const f of parsed) {
      if (settled) return;
      if (f.type === FrameType.DELTA) {
        const k = leadingIndex(f);
        for (;;) {
          await until(() => settled || asked.has(k), idleMs);
          if (settled || asked.has(k) || performance.now() - lastAnswer >= idleMs) break;
        }
      }
      z.write(encodeFrame(f.type as never, f.payload));
      z.flush();
    }
    if (raw) z.write(raw);
  };
  try {
    await feed();
    // A client keeps its end open until the server's FINISH; one that stops early is closed
    // once the server has said nothing for `idleMs`.
    for (;;) {
      await until(() => settled || finished, idleMs);
      if (settled || finished || performance.now() - lastAnswer >= idleMs) break;
    }
    z.end();
    await session;
  } catch (err) {
    if (hung) throw new Error(`the session did not end within ${HANG_MS} ms`);
    throw err;
  } finally {
    clearTimeout(timer);
    await client.close();
    await server.close();
    await rm(join(parent, 'd'), { recursive: true, force: true });
  }
  if (hung) throw new Error(`the session did not end within ${HANG_MS} ms`);
}
