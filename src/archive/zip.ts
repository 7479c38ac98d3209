/**
 * Zip archives (zip, jar, apk, docx, whl…) as a payload that updates well
 * (docs/archives.md): the archive itself with the offsets of its central directory set to
 * zero. Those offsets are the only bytes that change for every entry after a change (a
 * jar's central directory is 0.7 MB of 14.6 MB, and defeats block matching); everything
 * else of an unchanged entry — local header, compressed data, data descriptor, directory
 * record — is the same bytes in both versions wherever the entry moved.
 *
 * Rebuilding walks the payload's local headers from the start: each names its entry, whose
 * directory record gives the compressed size, so the next header's position follows; the
 * positions found are the offsets written back. An archive whose layout this walk does not
 * reproduce exactly (a prefix such as a self-extractor's, gaps, overlapping entries,
 * entries the directory does not list, zip64, several disks, a truncated directory) is not
 * a payload archive: the publisher checks the walk against the real offsets and publishes
 * the file as opaque bytes otherwise. Nothing is ever inflated here, so a zip bomb costs
 * nothing; names are compared as bytes and never become paths.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { type FileHandle, open } from '../util/fs-promises.js';
import { ioError, throwIfAborted } from '../core/errors.js';
import type { ZipArchive } from '../core/index/published.js';
import { AtomicFile } from '../localfs/atomic-file.js';
import type { EntryRange } from './entries.js';
import type { ScratchPayload } from './payload.js';

const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const CD_RECORD = 46;
const LOCAL_HEADER = 30;
/** The largest central directory read into memory (a jar of 7,227 entries has 0.7 MB). */
export const MAX_DIRECTORY = 64 * 1024 * 1024;
const SIG_LOCAL = 0x04034b50;
const SIG_CD = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_DESCRIPTOR = 0x08074b50;
const FLAG_DESCRIPTOR = 8;
const COPY_SIZE = 1024 * 1024;

/** True when `head` starts like a zip archive (a local header, or the end record of an empty one). */
export function looksLikeZip(head: Uint8Array): boolean {
  if (head.length < 4) return false;
  const sig = Buffer.from(head.buffer, head.byteOffset, 4).readUInt32LE(0);
  return sig === SIG_LOCAL || sig === SIG_EOCD;
}

/** One central directory record: where it is in the directory, and what the walk needs. */
interface DirEntry {
  /** Offset of the record in the directory. */
  at: number;
  name: string;
  compressedSize: number;
  flags: number;
  localOffset: number;
}

/** A parsed central directory and end record. */
interface Directory {
  fileSize: number;
  eocdAt: number;
  cdStart: number;
  cd: Buffer;
  eocd: Buffer;
  entries: DirEntry[];
}

async function readAt(fh: FileHandle, path: string, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  try {
    const { bytesRead } = await fh.read(buf, 0, length, position);
    return buf.subarray(0, bytesRead);
  } catch (cause) {
    throw ioError('read', path, cause);
  }
}

/** Reads the end record and the central directory, or says why this is not a zip this code rebuilds. */
async function readDirectory(fh: FileHandle, path: string, fileSize: number): Promise<Directory | { problem: string }> {
  if (fileSize < EOCD_SIZE) return { problem: 'it is too short for a zip archive' };
  const tailLength = Math.min(fileSize, EOCD_SIZE + MAX_COMMENT);
  const tail = await readAt(fh, path, tailLength, fileSize - tailLength);
  // The end record whose comment runs exactly to the end of the file.
  let at = -1;
  for (let i = tail.length - EOCD_SIZE; i >= 0; i--) {
    if (tail.readUInt32LE(i) === SIG_EOCD && i + EOCD_SIZE + tail.readUInt16LE(i + 20) === tail.length) {
      at = i;
      break;
    }
  }
  if (at < 0) return { problem: 'it has no zip end record' };
  const eocdAt = fileSize - tailLength + at;
  const eocd = Buffer.from(tail.subarray(at));
  if (eocd.readUInt16LE(4) !== 0 || eocd.readUInt16LE(6) !== 0) return { problem: 'it spans several disks' };
  const count = eocd.readUInt16LE(10);
  const cdSize = eocd.readUInt32LE(12);
  const cdOffset = eocd.readUInt32LE(16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff || eocd.readUInt16LE(8) !== count) {
    return { problem: 'it is a zip64 archive' };
  }
  if (at >= 20 && tail.readUInt32LE(at - 20) === SIG_ZIP64_LOCATOR) return { problem: 'it is a zip64 archive' };
  if (cdSize > MAX_DIRECTORY) return { problem: `its central directory is over ${MAX_DIRECTORY} bytes` };
  const cdStart = eocdAt - cdSize;
  // A normalised payload has 0 there; a published archive must have the real offset.
  if (cdStart < 0 || (cdOffset !== 0 && cdOffset !== cdStart))
    return { problem: 'its central directory is not right before its end record' };
  const cd = await readAt(fh, path, cdSize, cdStart);
  if (cd.length !== cdSize) return { problem: 'its central directory is truncated' };
  const entries: DirEntry[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + CD_RECORD > cd.length || cd.readUInt32LE(p) !== SIG_CD) return { problem: 'its central directory is truncated or damaged' };
    const n = cd.readUInt16LE(p + 28);
    const next = p + CD_RECORD + n + cd.readUInt16LE(p + 30) + cd.readUInt16LE(p + 32);
    if (next > cd.length) return { problem: 'its central directory is truncated or damaged' };
    const compressedSize = cd.readUInt32LE(p + 20);
    const localOffset = cd.readUInt32LE(p + 42);
    if (compressedSize === 0xffffffff || localOffset === 0xffffffff) return { problem: 'it is a zip64 archive' };
    entries.push({
      at: p,
      name: cd.toString('latin1', p + CD_RECORD, p + CD_RECORD + n),
      compressedSize,
      flags: cd.readUInt16LE(p + 8),
      localOffset,
    });
    p = next;
  }
  if (p !== cd.length) return { problem: 'its central directory has bytes its records do not account for' };
  return { fileSize, eocdAt, cdStart, cd, eocd, entries };
}

/**
 * Walks the local headers from offset 0 to the central directory and returns each
 * directory entry's local header offset, or a problem when the layout is not one
 * contiguous run of entries the directory lists (each once, in any order).
 */
async function walkLocals(
  fh: FileHandle,
  path: string,
  dir: Directory,
  signal: AbortSignal | undefined,
): Promise<number[] | { problem: string }> {
  const byName = new Map<string, number[]>();
  dir.entries.forEach((e, i) => {
    const list = byName.get(e.name);
    if (list) list.push(i);
    else byName.set(e.name, [i]);
  });
  const offsets = new Array<number>(dir.entries.length).fill(-1);
  let pos = 0;
  let found = 0;
  while (pos < dir.cdStart) {
    if ((found & 1023) === 0) throwIfAborted(signal);
    const h = await readAt(fh, path, LOCAL_HEADER, pos);
    if (h.length < LOCAL_HEADER || h.readUInt32LE(0) !== SIG_LOCAL) return { problem: `no local header at offset ${pos}` };
    const n = h.readUInt16LE(26);
    const m = h.readUInt16LE(28);
    const name = (await readAt(fh, path, n, pos + LOCAL_HEADER)).toString('latin1');
    const index = byName.get(name)?.shift();
    if (index === undefined) return { problem: `the entry at offset ${pos} is not in the central directory (or is there twice)` };
    const entry = dir.entries[index]!;
    offsets[index] = pos;
    found++;
    let end = pos + LOCAL_HEADER + n + m + entry.compressedSize;
    if (entry.flags & FLAG_DESCRIPTOR) {
      const d = await readAt(fh, path, 4, end);
      end += d.length === 4 && d.readUInt32LE(0) === SIG_DESCRIPTOR ? 16 : 12;
    }
    if (end > dir.cdStart) return { problem: `the entry at offset ${pos} runs into the central directory` };
    pos = end;
  }
  if (found !== dir.entries.length) return { problem: 'the central directory lists entries that are not there' };
  return offsets;
}

/** The zip described by `path` as a payload (directory offsets zeroed) into `write`; or why not. */
async function writePayload(
  path: string,
  write: (chunk: Uint8Array) => Promise<void>,
  signal: AbortSignal | undefined,
): Promise<{ fileSize: number } | { problem: string }> {
  // A client may have no file there, or something else than a file: nothing to reuse.
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch {
    return { problem: 'it cannot be read' };
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { problem: 'it is not a regular file' };
    const fileSize = st.size;
    const dir = await readDirectory(fh, path, fileSize);
    if ('problem' in dir) return dir;
    const offsets = await walkLocals(fh, path, dir, signal);
    if ('problem' in offsets) return offsets;
    if (offsets.some((o, i) => o !== dir.entries[i]!.localOffset)) {
      return { problem: "its entries' offsets are not those of one contiguous run of entries" };
    }
    await copyRange(fh, path, 0, dir.cdStart, write, signal);
    const cd = Buffer.from(dir.cd);
    for (const e of dir.entries) cd.writeUInt32LE(0, e.at + 42);
    const eocd = Buffer.from(dir.eocd);
    eocd.writeUInt32LE(0, 16);
    await write(cd);
    await write(eocd);
    return { fileSize };
  } finally {
    await fh.close();
  }
}

async function copyRange(
  fh: FileHandle,
  path: string,
  start: number,
  end: number,
  write: (chunk: Uint8Array) => Promise<void>,
  signal: AbortSignal | undefined,
): Promise<void> {
  const buf = Buffer.allocUnsafe(COPY_SIZE);
  for (let p = start; p < end; ) {
    throwIfAborted(signal);
    const got = await readAt(fh, path, Math.min(COPY_SIZE, end - p), p);
    if (got.length === 0) throw ioError('read', path, 'the file is shorter than it was');
    buf.set(got);
    await write(got);
    p += got.length;
  }
}

/**
 * The payload of the zip archive at `path`, in a temporary file next to `near`; or why it
 * is not one this code rebuilds (nothing is left behind then).
 */
export async function zipToScratch(
  path: string,
  near: string,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<ScratchPayload | { problem: string }> {
  const file = await AtomicFile.create(near);
  try {
    const r = await writePayload(path, (c) => file.write(c), options.signal);
    if ('problem' in r) {
      await file.abort();
      return r;
    }
    return { path: file.tempPath, archiveSize: r.fileSize, file, discard: () => file.abort() };
  } catch (err) {
    await file.abort();
    throw err;
  }
}

/**
 * Writes the archive a payload stands for: the payload with every directory offset
 * computed again. Resolves with the size and SHA-256 written, which the caller compares
 * with the published ones; a payload whose walk fails rejects with nothing to use (the
 * caller falls back to the published file).
 */
export async function writeZip(
  payloadPath: string,
  _archive: ZipArchive,
  write: (chunk: Uint8Array) => Promise<void>,
  signal?: AbortSignal,
): Promise<{ size: number; sha256: Uint8Array } | { problem: string }> {
  const fh = await open(payloadPath, 'r').catch((cause: unknown) => Promise.reject(ioError('read', payloadPath, cause)));
  const hash = createHash('sha256');
  let size = 0;
  const emit = async (chunk: Uint8Array) => {
    hash.update(chunk);
    size += chunk.length;
    await write(chunk);
  };
  try {
    const dir = await readDirectory(fh, payloadPath, (await fh.stat()).size);
    if ('problem' in dir) return dir;
    const offsets = await walkLocals(fh, payloadPath, dir, signal);
    if ('problem' in offsets) return offsets;
    await copyRange(fh, payloadPath, 0, dir.cdStart, emit, signal);
    const cd = Buffer.from(dir.cd);
    for (const [i, e] of dir.entries.entries()) cd.writeUInt32LE(offsets[i]!, e.at + 42);
    const eocd = Buffer.from(dir.eocd);
    eocd.writeUInt32LE(dir.cdStart, 16);
    await emit(cd);
    await emit(eocd);
  } finally {
    await fh.close();
  }
  return { size, sha256: hash.digest() };
}

/**
 * Where each entry of the zip archive (or payload) at `path` lies: from its local header
 * to the next entry's (its data and data descriptor included), in file order, then the
 * central directory and end record as one more range named `(central directory)`. Or why
 * it is not a zip this code looks into.
 */
export async function zipEntryRanges(path: string, signal?: AbortSignal): Promise<EntryRange[] | { problem: string }> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch {
    return { problem: 'it cannot be read' };
  }
  try {
    const dir = await readDirectory(fh, path, (await fh.stat()).size);
    if ('problem' in dir) return dir;
    const offsets = await walkLocals(fh, path, dir, signal);
    if ('problem' in offsets) return offsets;
    const order = dir.entries.map((e, i) => ({ name: e.name, start: offsets[i]! })).sort((a, b) => a.start - b.start);
    const ranges: EntryRange[] = order.map((e, k) => ({ name: e.name, start: e.start, end: order[k + 1]?.start ?? dir.cdStart }));
    ranges.push({ name: '(central directory)', start: dir.cdStart, end: dir.fileSize });
    return ranges;
  } finally {
    await fh.close();
  }
}
