/**
 * The published forms an index may list besides the plain reference (index format
 * version 2): compressed frames, a whole compressed copy, and deltas from known earlier
 * versions. A client picks the cheapest way to get what it lacks from the index alone.
 *
 * Encoded as a sequence of entries `type u8 | length u32 LE | payload`, after the block
 * records (docs/format.md, "Version 2: published forms"). Unknown types below 0x80 are
 * skipped, so later versions can add forms that older clients ignore; from 0x80 up a type
 * is critical and an unknown one is refused (version 4's archive entry is one).
 *
 * @module
 */
import { ErrorCodes, SyncError } from '../errors.js';

/** Compression codecs. */
export type Codec = 'brotli' | 'zstd';
const CODEC_IDS: Record<Codec, number> = { brotli: 1, zstd: 2 };

/** The reference in independently decompressible frames of whole blocks. */
export interface FramesForm {
  codec: Codec;
  /** Blocks per frame (the last frame may hold fewer). */
  blocksPerFrame: number;
  /** Compressed size of each frame; frames are stored back to back in this order. */
  frameSizes: Uint32Array;
  /** The frames file: a plain file name, in the index's folder (see {@link publishedNameProblem}). */
  name: string;
}

/** The whole reference compressed as one stream. */
export interface WholeForm {
  codec: Codec;
  size: number;
  name: string;
}

/**
 * How a base delta is stored: `brotli`, a librsync delta compressed with brotli (what
 * version 2 indexes list); `gosync`, a gosync delta file, whose first byte names its kind
 * (a zstd dictionary delta, a bsdiff-class delta, …; see src/forms/delta-file.ts).
 */
export type BaseCodec = 'brotli' | 'gosync';
const BASE_CODEC_GOSYNC = 3;

/** A delta that rebuilds the reference from one earlier version (matched by SHA-256). */
export interface BaseDeltaForm {
  /** Size and SHA-256 of the earlier version. */
  baseSize: number;
  baseSha256: Uint8Array;
  codec: BaseCodec;
  size: number;
  name: string;
}

/**
 * The published file is a gzip member whose deflate stream Node's zlib reproduces with
 * these parameters (index format version 4, docs/archives.md). The index's blocks, size
 * and SHA-256 then describe the uncompressed payload, published beside the index as
 * `payload`; a client patches its own inflated copy and recompresses it. The result must
 * be `size` bytes with SHA-256 `sha256`, else it is not used.
 */
export type GzipArchive = Extract<ArchiveForm, { kind: 'gzip' }>;

/**
 * The published file is a zip archive (zip, jar, apk, docx…) whose payload is the archive
 * itself with the offsets of its central directory (each entry's local header offset and
 * the directory's own offset) set to zero: those are the only bytes that change for
 * every entry after a change, and they are computed again from the entries' layout when
 * the archive is rebuilt (docs/archives.md).
 */
export type ZipArchive = Extract<ArchiveForm, { kind: 'zip' }>;

/** A published container around the reference the index describes (see {@link GzipArchive}, {@link ZipArchive}). */
export type ArchiveForm = NonNullable<PublishedForms['archive']>;

/** Every published form an index lists. */
export interface PublishedForms {
  frames?: FramesForm;
  whole?: WholeForm;
  bases?: BaseDeltaForm[];
  /**
   * Set only in a version 4 index: what the blocks describe is the payload inside this
   * archive (docs/archives.md). For `gzip`: the published file's size and SHA-256, the
   * zlib deflate level 0..9, memLevel 1..9, strategy 0..4 and windowBits 9..15 that
   * reproduce its stream, the gzip header (every byte before the stream, 10..65,536
   * bytes) and trailer (CRC-32 and size of the payload, 8 bytes). For `zip`: the archive's
   * size and SHA-256 (its payload is the archive with its directory offsets zeroed).
   * `payload` is the payload's file name in the index's folder.
   */
  archive?:
    | {
        kind: 'gzip';
        size: number;
        sha256: Uint8Array;
        level: number;
        memLevel: number;
        strategy: number;
        windowBits: number;
        header: Uint8Array;
        trailer: Uint8Array;
        payload: string;
      }
    | { kind: 'zip'; size: number; sha256: Uint8Array; payload: string };
}

const T_FRAMES = 1;
const T_WHOLE = 2;
const T_BASE = 3;
/**
 * Entry types from 0x80 up are critical: a reader that does not know one must refuse the
 * index (INDEX_UNSUPPORTED) instead of skipping it, because the rest of the index means
 * something else with it. Types below 0x80 stay optional (skipped when unknown).
 */
const T_CRITICAL = 0x80;
/** A gzip member around the reference (critical: the blocks are not the published file's). */
const T_GZIP = 0x84;
/** A zip archive whose central directory offsets are rebuilt (critical). */
const T_ZIP = 0x85;
const MAX_NAME = 4096;
/** Longest gzip header kept (its optional name, comment and extra field included). */
export const MAX_GZIP_HEADER = 65536;
const GZIP_TRAILER = 8;

function corrupt(reason: string): SyncError {
  return new SyncError(ErrorCodes.INDEX_CORRUPT, `Cannot read the index: ${reason}`);
}

function codecId(codec: Codec): number {
  const id = CODEC_IDS[codec];
  if (id === undefined) throw new RangeError(`Cannot encode the index: unknown codec ${codec}`);
  return id;
}

function codecOf(id: number): Codec {
  if (id === 1) return 'brotli';
  if (id === 2) return 'zstd';
  throw new SyncError(
    ErrorCodes.INDEX_UNSUPPORTED,
    `Cannot read the index: it lists a form compressed with codec ${id}, which this gosync does not know`,
  );
}

function baseCodecOf(id: number): BaseCodec {
  const codec = codecOf(id);
  if (codec !== 'brotli') throw corrupt(`a base-delta entry has codec ${id}, which is not one for deltas`);
  return codec;
}

/**
 * Why `name` cannot name a published form, or undefined when it can. A form lives in the
 * index's own folder: its name is a plain file name, without `/` or `\`, and not `.` or
 * `..`. (Clients still resolve it as a file name: escaped in a URL, not as a URL.)
 */
export function publishedNameProblem(name: string): string | undefined {
  if (name.includes('/') || name.includes('\\')) return 'it contains a path separator';
  if (name === '.' || name === '..') return `it is "${name}"`;
  return undefined;
}

function nameBytes(name: string): Buffer {
  const b = Buffer.from(name, 'utf8');
  if (b.length === 0 || b.length > MAX_NAME) throw new RangeError(`Cannot encode the index: a published name must be 1..${MAX_NAME} bytes`);
  const problem = publishedNameProblem(name);
  if (problem !== undefined)
    throw new RangeError(`Cannot encode the index: the published name ${JSON.stringify(name)} is not a plain file name (${problem})`);
  return b;
}

/** Encodes the published forms (the version 2 extension section). */
export function encodePublished(forms: PublishedForms, blockCount: number): Uint8Array {
  const parts: Buffer[] = [];
  const entry = (type: number, payload: Buffer) => {
    const h = Buffer.alloc(5);
    h[0] = type;
    h.writeUInt32LE(payload.length, 1);
    parts.push(h, payload);
  };
  if (forms.frames) {
    const f = forms.frames;
    const count = Math.ceil(blockCount / f.blocksPerFrame);
    if (f.frameSizes.length !== count)
      throw new RangeError(`Cannot encode the index: ${f.frameSizes.length} frame sizes for ${count} frames`);
    const name = nameBytes(f.name);
    const p = Buffer.alloc(14 + name.length + 4 * count);
    p[0] = codecId(f.codec);
    p.writeUInt32LE(f.blocksPerFrame, 4);
    p.writeUInt32LE(count, 8);
    p.writeUInt16LE(name.length, 12);
    name.copy(p, 14);
    for (let i = 0; i < count; i++) p.writeUInt32LE(f.frameSizes[i]!, 14 + name.length + 4 * i);
    entry(T_FRAMES, p);
  }
  if (forms.whole) {
    const w = forms.whole;
    const name = nameBytes(w.name);
    const p = Buffer.alloc(14 + name.length);
    p[0] = codecId(w.codec);
    p.writeBigUInt64LE(BigInt(w.size), 4);
    p.writeUInt16LE(name.length, 12);
    name.copy(p, 14);
    entry(T_WHOLE, p);
  }
  for (const b of forms.bases ?? []) {
    const name = nameBytes(b.name);
    if (b.baseSha256.length !== 32) throw new RangeError('Cannot encode the index: a base SHA-256 must be 32 bytes');
    const p = Buffer.alloc(54 + name.length);
    p.writeBigUInt64LE(BigInt(b.baseSize), 0);
    p.set(b.baseSha256, 8);
    p[40] = b.codec === 'gosync' ? BASE_CODEC_GOSYNC : codecId(b.codec);
    p.writeBigUInt64LE(BigInt(b.size), 44);
    p.writeUInt16LE(name.length, 52);
    name.copy(p, 54);
    entry(T_BASE, p);
  }
  if (forms.archive?.kind === 'gzip') entry(T_GZIP, encodeGzip(forms.archive));
  else if (forms.archive?.kind === 'zip') entry(T_ZIP, encodeZip(forms.archive));
  return new Uint8Array(Buffer.concat(parts));
}

function readName(p: Buffer, at: number, what: string): string {
  if (at + 2 > p.length) throw corrupt(`the ${what} entry is truncated`);
  const n = p.readUInt16LE(at);
  if (n === 0 || n > MAX_NAME || at + 2 + n > p.length) throw corrupt(`the ${what} entry has a bad name length ${n}`);
  const name = p.toString('utf8', at + 2, at + 2 + n);
  if (name.includes('\uFFFD') || /[\u0000-\u001f\u007f]/.test(name)) throw corrupt(`the ${what} entry's name is not valid UTF-8 text`);
  const problem = publishedNameProblem(name);
  if (problem !== undefined) throw corrupt(`the ${what} entry names ${JSON.stringify(name)}, outside the index's folder (${problem})`);
  return name;
}

function readU64(p: Buffer, at: number, what: string): number {
  const v = p.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(`the ${what} entry has a size over 2^53 − 1`);
  return Number(v);
}

function checkGzip(a: GzipArchive, fail: (reason: string) => never): void {
  const inRange = (v: number, lo: number, hi: number) => Number.isInteger(v) && v >= lo && v <= hi;
  if (!inRange(a.level, 0, 9) || !inRange(a.memLevel, 1, 9) || !inRange(a.strategy, 0, 4) || !inRange(a.windowBits, 9, 15)) {
    fail(`the gzip entry's deflate parameters ${a.level}/${a.memLevel}/${a.strategy}/${a.windowBits} are out of range`);
  }
  const h = a.header;
  if (h.length < 10 || h.length > MAX_GZIP_HEADER || h[0] !== 0x1f || h[1] !== 0x8b || h[2] !== 8)
    fail("the gzip entry's header is not a gzip header");
  if (a.trailer.length !== GZIP_TRAILER) fail(`the gzip entry's trailer is ${a.trailer.length} bytes, not ${GZIP_TRAILER}`);
  if (a.sha256.length !== 32) fail("the gzip entry's SHA-256 is not 32 bytes");
  if (!Number.isSafeInteger(a.size) || a.size < h.length + GZIP_TRAILER + 2) fail(`the gzip entry's size ${a.size} is too small`);
}

function encodeGzip(a: GzipArchive): Buffer {
  checkGzip(a, (reason) => {
    throw new RangeError(`Cannot encode the index: ${reason}`);
  });
  const name = nameBytes(a.payload);
  const p = Buffer.alloc(48 + a.header.length + 2 + GZIP_TRAILER + 2 + name.length);
  p.writeBigUInt64LE(BigInt(a.size), 0);
  p.set(a.sha256, 8);
  p[40] = a.level;
  p[41] = a.memLevel;
  p[42] = a.strategy;
  p[43] = a.windowBits;
  p.writeUInt32LE(a.header.length, 44);
  p.set(a.header, 48);
  let at = 48 + a.header.length;
  p.writeUInt16LE(GZIP_TRAILER, at);
  p.set(a.trailer, at + 2);
  at += 2 + GZIP_TRAILER;
  p.writeUInt16LE(name.length, at);
  name.copy(p, at + 2);
  return p;
}

function decodeGzip(e: Buffer): GzipArchive {
  if (e.length < 48) throw corrupt('the gzip entry is truncated');
  const headerLength = e.readUInt32LE(44);
  if (headerLength > MAX_GZIP_HEADER || 48 + headerLength + 2 > e.length) throw corrupt('the gzip entry has a bad header length');
  let at = 48 + headerLength;
  const trailerLength = e.readUInt16LE(at);
  if (at + 2 + trailerLength > e.length) throw corrupt('the gzip entry has a bad trailer length');
  const trailer = Uint8Array.from(e.subarray(at + 2, at + 2 + trailerLength));
  at += 2 + trailerLength;
  const payload = readName(e, at, 'gzip');
  if (at + 2 + Buffer.byteLength(payload, 'utf8') !== e.length) throw corrupt('the gzip entry has trailing bytes');
  const a: GzipArchive = {
    kind: 'gzip',
    size: readU64(e, 0, 'gzip'),
    sha256: Uint8Array.from(e.subarray(8, 40)),
    level: e[40]!,
    memLevel: e[41]!,
    strategy: e[42]!,
    windowBits: e[43]!,
    header: Uint8Array.from(e.subarray(48, 48 + headerLength)),
    trailer,
    payload,
  };
  checkGzip(a, (reason) => {
    throw corrupt(reason);
  });
  return a;
}

function encodeZip(a: ZipArchive): Buffer {
  if (!Number.isSafeInteger(a.size) || a.size < 22 || a.sha256.length !== 32)
    throw new RangeError('Cannot encode the index: bad zip entry');
  const name = nameBytes(a.payload);
  const p = Buffer.alloc(40 + 2 + name.length);
  p.writeBigUInt64LE(BigInt(a.size), 0);
  p.set(a.sha256, 8);
  p.writeUInt16LE(name.length, 40);
  name.copy(p, 42);
  return p;
}

function decodeZip(e: Buffer): ZipArchive {
  if (e.length < 42) throw corrupt('the zip entry is truncated');
  const payload = readName(e, 40, 'zip');
  if (42 + Buffer.byteLength(payload, 'utf8') !== e.length) throw corrupt('the zip entry has trailing bytes');
  const size = readU64(e, 0, 'zip');
  if (size < 22) throw corrupt(`the zip entry's size ${size} is too small for a zip archive`);
  return { kind: 'zip', size, sha256: Uint8Array.from(e.subarray(8, 40)), payload };
}

/** Decodes the extension section; every length is checked before it is used. */
export function decodePublished(data: Uint8Array, blockCount: number): PublishedForms {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const forms: PublishedForms = {};
  let p = 0;
  while (p < buf.length) {
    if (p + 5 > buf.length) throw corrupt('a published-form entry header is truncated');
    const type = buf[p]!;
    const len = buf.readUInt32LE(p + 1);
    if (p + 5 + len > buf.length) throw corrupt(`a published-form entry declares ${len} bytes past the end of its section`);
    const e = buf.subarray(p + 5, p + 5 + len);
    p += 5 + len;
    if (type === T_FRAMES) {
      if (e.length < 14) throw corrupt('the frames entry is truncated');
      const codec = codecOf(e[0]!);
      const blocksPerFrame = e.readUInt32LE(4);
      const count = e.readUInt32LE(8);
      if (blocksPerFrame < 1) throw corrupt('the frames entry has zero blocks per frame');
      if (count !== Math.ceil(blockCount / blocksPerFrame))
        throw corrupt(
          `the frames entry lists ${count} frames, but ${blockCount} blocks in frames of ${blocksPerFrame} make ${Math.ceil(blockCount / blocksPerFrame)}`,
        );
      const name = readName(e, 12, 'frames');
      const at = 14 + Buffer.byteLength(name, 'utf8');
      if (e.length !== at + 4 * count) throw corrupt('the frames entry does not hold one size per frame');
      const frameSizes = new Uint32Array(count);
      for (let i = 0; i < count; i++) {
        frameSizes[i] = e.readUInt32LE(at + 4 * i);
        if (frameSizes[i] === 0) throw corrupt(`frame ${i} has a compressed size of zero`);
      }
      forms.frames = { codec, blocksPerFrame, frameSizes, name };
    } else if (type === T_WHOLE) {
      if (e.length < 14) throw corrupt('the whole-file entry is truncated');
      forms.whole = { codec: codecOf(e[0]!), size: readU64(e, 4, 'whole-file'), name: readName(e, 12, 'whole-file') };
    } else if (type === T_BASE) {
      if (e.length < 54) throw corrupt('a base-delta entry is truncated');
      forms.bases ??= [];
      forms.bases.push({
        baseSize: readU64(e, 0, 'base-delta'),
        baseSha256: Uint8Array.from(e.subarray(8, 40)),
        codec: e[40] === BASE_CODEC_GOSYNC ? 'gosync' : baseCodecOf(e[40]!),
        size: readU64(e, 44, 'base-delta'),
        name: readName(e, 52, 'base-delta'),
      });
    } else if (type === T_GZIP || type === T_ZIP) {
      if (forms.archive) throw corrupt('it lists two archive entries');
      forms.archive = type === T_GZIP ? decodeGzip(e) : decodeZip(e);
    } else if (type >= T_CRITICAL) {
      throw new SyncError(
        ErrorCodes.INDEX_UNSUPPORTED,
        `Cannot read the index: it has a critical section of type ${type}, which this gosync does not know`,
      );
    }
    // Unknown types below 0x80: skipped (a later form an older client does not use).
  }
  return forms;
}
