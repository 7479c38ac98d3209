/**
 * Entry point of the SHA-256 thread (sha256-thread.ts): hashes files it reads itself, so
 * that the thread that asks does not. Imports nothing of gosync's, so it starts in a few
 * milliseconds.
 *
 * Messages in, answered in order:
 * - `{ file: path }`: the whole file; answer `{ digest }` or `{ error }`.
 * - `{ follow: path }`: a file being written; then `{ upTo: n }` hashes its bytes up to `n`
 *   (no answer), `{ end: true }` answers `{ digest }` of the bytes up to the last `upTo`.
 *
 * @module
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

const port = parentPort;
if (!port) throw new Error('Cannot start: sha256-worker.js must run in a worker thread');

/** Reads of 1 MiB: large enough that a read costs little beside hashing it. */
const READ_SIZE = 1 << 20;
const buf = Buffer.allocUnsafe(READ_SIZE);
/** The file being followed: its descriptor, the bytes hashed so far, the running hash. */
let followed: { fd: number; at: number; hash: Hash } | undefined;
/** The first failure while following, answered at `end`. */
let failure: unknown;

port.on('message', (message: { file?: string; follow?: string; upTo?: number; end?: boolean }) => {
  try {
    if (message.upTo !== undefined) {
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
    if (message.upTo !== undefined || message.follow !== undefined) failure ??= err;
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
