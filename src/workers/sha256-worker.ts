/**
 * Entry point of the SHA-256 thread (sha256-thread.ts): hashes files it reads itself, so
 * that the thread that asks does not. Imports nothing of gosync's, so it starts in a few
 * milliseconds.
 *
 * Messages in, answered in order:
 * - `{ file: path }`: the whole file; answer `{ digest }` or `{ error }`.
 * - `{ follow: path }`: a file being written; then `{ upTo: n }` hashes its bytes up to `n`
 *   (no answer), `{ end: true }` answers `{ digest }` of the bytes up to the last `upTo`.
 * - `{ blocks: path, blockSize, start, end }`: the SHA-256 of each block of `blockSize`
 *   bytes in `[start, end)` of the file (a short last block zero-padded), 32 bytes each;
 *   answer `{ digest }` with them all, or `{ error }`.
 *
 * @module
 */
import { createHash, hash as oneShotHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { builtin } from '../util/builtin.js';

const { closeSync, openSync, readSync } = builtin('node:fs');

const port = parentPort;
if (!port) throw new Error('Cannot start: sha256-worker.js must run in a worker thread');

/** Reads of 1 MiB: large enough that a read costs little beside hashing it. */
const READ_SIZE = 1 << 20;
const buf = Buffer.allocUnsafe(READ_SIZE);
/** The file being followed: its descriptor, the bytes hashed so far, the running hash. */
let followed: { fd: number; at: number; hash: Hash } | undefined;
/** The first failure while following, answered at `end`. */
let failure: unknown;

interface Message {
  file?: string;
  follow?: string;
  upTo?: number;
  end?: boolean;
  blocks?: string;
  blockSize?: number;
  start?: number;
}

port.on('message', (message: Message) => {
  try {
    if (message.blocks !== undefined) {
      port.postMessage({ digest: hashBlocks(message.blocks, message.blockSize!, message.start!, message.upTo!) });
    } else if (message.upTo !== undefined) {
      if (followed !== undefined && failure === undefined) hashRange(followed, message.upTo);
    } else if (message.follow !== undefined) {
      failure = undefined;
      followed = { fd: openSync(message.follow, 'r'), at: 0, hash: createHash('sha256') };
    } else if (message.end) {
      const f = followed;
      followed = undefined;
      if (f === undefined) throw new Error('no file is followed');
      closeSync(f.fd);
      if (failure !== undefined) throw failure;
      port.postMessage({ digest: f.hash.digest() });
    } else if (message.file !== undefined) {
      port.postMessage({ digest: hashFile(message.file) });
    }
  } catch (err) {
    if (message.blocks === undefined && (message.upTo !== undefined || message.follow !== undefined)) failure ??= err;
    else port.postMessage({ error: { message: (err as Error).message, code: (err as NodeJS.ErrnoException).code } });
  }
});

/** Hashes the followed file's bytes from where it stopped up to `end`. */
function hashRange(f: { fd: number; at: number; hash: Hash }, end: number): void {
  while (f.at < end) {
    const n = readSync(f.fd, buf, 0, Math.min(READ_SIZE, end - f.at), f.at);
    if (n === 0) throw new Error(`the file ends at ${f.at} bytes, before ${end}`);
    f.hash.update(buf.subarray(0, n));
    f.at += n;
  }
}

function hashFile(path: string): Buffer {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, READ_SIZE, null);
      if (n === 0) return h.digest();
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
}

/** The SHA-256 of each `blockSize` block of `path` in `[start, end)` (the last one zero-padded), 32 bytes each. */
function hashBlocks(path: string, blockSize: number, start: number, end: number): Uint8Array {
  const count = Math.ceil((end - start) / blockSize);
  const out = new Uint8Array(count * 32);
  const block = blockSize <= READ_SIZE ? buf : Buffer.allocUnsafe(blockSize);
  const per = Math.max(1, Math.floor(block.length / blockSize));
  const fd = openSync(path, 'r');
  try {
    for (let i = 0; i < count; ) {
      const n = Math.min(per, count - i);
      const at = start + i * blockSize;
      const want = Math.min(n * blockSize, end - at);
      let got = 0;
      while (got < want) {
        const k = readSync(fd, block, got, want - got, at + got);
        if (k === 0) throw new Error(`the file ends at ${at + got} bytes, before ${end}`);
        got += k;
      }
      if (want < n * blockSize) block.fill(0, want, n * blockSize);
      // Digests as latin1 strings, not a Buffer each (see patch-file.ts's in-place check: 170 vs 210 ms per 65,536 blocks).
      for (let k = 0; k < n; k++) {
        const d = oneShotHash('sha256', block.subarray(k * blockSize, (k + 1) * blockSize), 'binary');
        for (let j = 0, o = (i + k) * 32; j < 32; j++) out[o + j] = d.charCodeAt(j);
      }
      i += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}
