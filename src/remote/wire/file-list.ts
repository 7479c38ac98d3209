/**
 * The file list: what the sender has, sent to the receiver in batches (one FILES frame
 * per folder, or per 256 KiB of entries), each batch self-contained:
 *
 *     varint  entry count
 *     then per entry:
 *       u8      flags: bits 0–1 type (0 file, 1 folder, 2 link), bit 2 mode as the
 *               previous entry, bit 3 mtime as the previous entry, bit 4 a SHA-256
 *               follows (files)
 *       varint  bytes shared with the previous path of the batch
 *       varint  length of the rest of the path, then its UTF-8 bytes
 *       varint  mode (permission bits and the sticky bit, `& 0o1777`; older senders
 *               send `& 0o777`), unless bit 2
 *       varint  mtime: zigzag milliseconds since 1970, unless bit 3
 *       varint  size (files)
 *       32 bytes SHA-256 of the content (files), if bit 4 (only when HELLO asks for
 *               `checksum`)
 *       varint  length of the link target, then its UTF-8 bytes (links)
 *
 * The first entry of the list is the source itself, with the empty path; the others are
 * tree paths below it. The receiver checks every entry before using it: a safe tree
 * path ({@link checkTreePath}), listed once, under a folder listed earlier; sizes, modes
 * and times in range. Anything else is a PROTOCOL or UNSAFE_PATH error.
 *
 * @module
 */
import { ErrorCodes, SyncError } from '../../core/errors.js';
import { MAX_LINK_TARGET, MAX_TREE_PATH, checkTreePath, treeParent } from '../../localfs/tree-path.js';
import { ByteReader, ByteWriter, protocolError, utf8 } from './binary.js';

/** One entry of the file list. */
export interface ListEntry {
  /** Tree path below the source; '' for the source itself. */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits and the sticky bit (`mode & 0o1777`); never a set-id bit. */
  mode: number;
  /** Modification time, whole milliseconds since 1970. */
  mtime: number;
  /** Bytes (files; 0 otherwise). */
  size: number;
  /** Link target (links). */
  target?: string;
  /** SHA-256 of the content (files; sent only when the receiver compares by content, `checksum`). */
  sha256?: Uint8Array;
}

/** Raw (uncompressed) bytes of entries per FILES frame before a new batch starts. */
export const BATCH_BYTES = 256 * 1024;
/** Longest path accepted, in bytes (UTF-8 of {@link MAX_TREE_PATH} characters). */
const MAX_PATH_BYTES = MAX_TREE_PATH * 4;

const TYPES = ['file', 'dir', 'symlink'] as const;
const SAME_MODE = 4;
const SAME_MTIME = 8;
const HAS_SHA256 = 16;

function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

function unzigzag(n: number): number {
  return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
}

/** Encodes entries into FILES payloads, each at most about {@link BATCH_BYTES}. */
export class FileListEncoder {
  #w = new ByteWriter(4096);
  #count = 0;
  #prev = Buffer.alloc(0);
  #mode = -1;
  #mtime = Number.NaN;
  #body = new ByteWriter(4096);

  /** Adds an entry; returns a finished payload when the batch is full. */
  add(e: ListEntry): Uint8Array | undefined {
    const path = Buffer.from(e.path, 'utf8');
    let shared = 0;
    const max = Math.min(path.length, this.#prev.length);
    while (shared < max && path[shared] === this.#prev[shared]) shared++;
    const mode = e.mode & 0o1777;
    const mtime = Math.round(e.mtime);
    let flags = TYPES.indexOf(e.type);
    if (flags < 0) throw new RangeError(`Cannot list an entry of type ${String(e.type)}`);
    if (mode === this.#mode) flags |= SAME_MODE;
    if (mtime === this.#mtime) flags |= SAME_MTIME;
    if (e.type === 'file' && e.sha256) {
      if (e.sha256.length !== 32) throw new RangeError('Cannot list a file whose SHA-256 is not 32 bytes');
      flags |= HAS_SHA256;
    }
    const b = this.#body;
    b.u8(flags)
      .varint(shared)
      .varint(path.length - shared)
      .bytes(path.subarray(shared));
    if (!(flags & SAME_MODE)) b.varint(mode);
    if (!(flags & SAME_MTIME)) b.varint(zigzag(mtime));
    if (e.type === 'file') b.varint(e.size);
    if (flags & HAS_SHA256) b.bytes(e.sha256!);
    if (e.type === 'symlink') b.string(e.target ?? '');
    this.#prev = path;
    this.#mode = mode;
    this.#mtime = mtime;
    this.#count++;
    return this.#body.length >= BATCH_BYTES ? this.take() : undefined;
  }

  /** Bytes of entries waiting in the batch. */
  get pendingBytes(): number {
    return this.#body.length;
  }

  /** The pending batch as a payload, or undefined when it is empty; the next batch starts fresh. */
  take(): Uint8Array | undefined {
    if (this.#count === 0) return undefined;
    const body = this.#body.finish();
    const out = this.#w.varint(this.#count).bytes(body).finish();
    this.#w = new ByteWriter(4096);
    this.#body = new ByteWriter(4096);
    this.#count = 0;
    this.#prev = Buffer.alloc(0);
    this.#mode = -1;
    this.#mtime = Number.NaN;
    return out;
  }
}

/** Decodes one FILES payload (entry fields only; see {@link FileListChecker} for the list's rules). */
export function decodeFileBatch(payload: Uint8Array): ListEntry[] {
  const r = new ByteReader(payload, 'a FILES frame');
  // Every entry takes at least 4 bytes: a bigger count is a lie.
  const count = r.varint('entry count', Math.floor(payload.length / 4));
  const entries: ListEntry[] = [];
  let prev: Uint8Array = new Uint8Array(0);
  let mode = -1;
  let mtime = Number.NaN;
  for (let i = 0; i < count; i++) {
    const flags = r.u8('entry flags');
    const type = TYPES[flags & 3];
    if (type === undefined || flags > 31 || ((flags & HAS_SHA256) !== 0 && type !== 'file'))
      throw protocolError('read a FILES frame', `entry ${i} has the unknown flags 0x${flags.toString(16)}`);
    const shared = r.varint('shared path length', prev.length);
    const restLength = r.varint('path length', MAX_PATH_BYTES - shared);
    const rest = r.bytes(restLength, 'path');
    const raw = new Uint8Array(shared + restLength);
    raw.set(prev.subarray(0, shared), 0);
    raw.set(rest, shared);
    prev = raw;
    let path: string;
    try {
      path = utf8.decode(raw);
    } catch {
      throw protocolError('read a FILES frame', `the path of entry ${i} is not valid UTF-8`);
    }
    if (flags & SAME_MODE) {
      if (mode < 0) throw protocolError('read a FILES frame', `entry ${i} reuses the mode of an entry that does not exist`);
    } else mode = r.varint('mode', 0o7777) & 0o1777;
    if (flags & SAME_MTIME) {
      if (Number.isNaN(mtime)) throw protocolError('read a FILES frame', `entry ${i} reuses the time of an entry that does not exist`);
    } else mtime = unzigzag(r.varint('mtime'));
    const e: ListEntry = { path, type, mode, mtime, size: 0 };
    if (type === 'file') e.size = r.varint('file size');
    if (flags & HAS_SHA256) e.sha256 = new Uint8Array(r.bytes(32, 'SHA-256'));
    if (type === 'symlink') {
      const target = r.string('link target', MAX_LINK_TARGET);
      if (target === '' || target.includes('\0'))
        throw protocolError('read a FILES frame', `the link ${JSON.stringify(path)} has an empty target or one with a NUL character`);
      e.target = target;
    }
    entries.push(e);
  }
  r.end();
  return entries;
}

/**
 * The rules of a whole list, checked entry by entry as batches arrive: the source first
 * (empty path), then only below a source folder, each path safe, new, and under a folder
 * listed before it.
 */
export class FileListChecker {
  readonly #types = new Map<string, ListEntry['type']>();
  #count = 0;
  readonly #maxEntries: number;

  constructor(options: { maxEntries?: number } = {}) {
    this.#maxEntries = options.maxEntries ?? 50_000_000;
  }

  /** Entries accepted so far. */
  get count(): number {
    return this.#count;
  }

  /** The type of a listed path. */
  typeOf(path: string): ListEntry['type'] | undefined {
    return this.#types.get(path);
  }

  /** Throws unless `e` may come next. */
  check(e: ListEntry): void {
    if (this.#count >= this.#maxEntries) throw protocolError('read the file list', `it has more than ${this.#maxEntries} entries`);
    if (this.#count === 0) {
      if (e.path !== '') throw protocolError('read the file list', `its first entry is ${JSON.stringify(e.path)}, not the source itself`);
    } else {
      if (e.path === '') throw protocolError('read the file list', 'it lists the source itself twice');
      checkTreePath(e.path, 'the listed path');
      if (this.#types.has(e.path)) throw protocolError('read the file list', `it lists ${JSON.stringify(e.path)} twice`);
      const parent = treeParent(e.path);
      const parentType = this.#types.get(parent);
      if (parentType !== 'dir') {
        throw new SyncError(
          ErrorCodes.UNSAFE_PATH,
          `Cannot use the listed path ${JSON.stringify(e.path)}: ${parent === '' ? 'the source' : JSON.stringify(parent)} is ${parentType === undefined ? 'not listed before it' : `a ${parentType === 'symlink' ? 'link' : 'file'}, not a folder`}`,
        );
      }
    }
    this.#types.set(e.path, e.type);
    this.#count++;
  }
}
