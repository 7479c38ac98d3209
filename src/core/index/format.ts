/**
 * Encoding and decoding of the gosync index format, version 1 (docs/format.md).
 *
 *     offset  size  field
 *     0       8     magic "GOSYNCIX"
 *     8       2     version = 1                      (u16 LE)
 *     10      2     URL length U, ≤ 4096             (u16 LE)
 *     12      8     file size                        (u64 LE, ≤ 2^53 − 1)
 *     20      4     block size, power of two         (u32 LE, 16 B .. 16 MiB)
 *     24      1     weak checksum algorithm: 1 = rollsum (a, b mod 2^16)
 *     25      1     weak bytes per block, 1..4
 *     26      1     strong hash algorithm: 1 = SHA-256
 *     27      1     strong bytes per block, 3..32
 *     28      1     sequential matches, 1 or 2
 *     29      1     whole-file hash algorithm: 1 = SHA-256
 *     30      2     reserved, 0
 *     32      U     reference URL (UTF-8), may be empty
 *     32+U    N·R   block records, N = ⌈size / block⌉, R = weak + strong bytes:
 *                   weak checksum (low bytes, LE), then the strong hash prefix
 *     …       32    SHA-256 of the whole reference
 *     …       4     CRC-32 of every preceding byte of the index (u32 LE)
 *
 * The layout is fixed by the header, so a decoder knows the exact total length after 32
 * bytes and rejects a truncated, padded or oversized index before allocating anything.
 * The trailer comes last so that a builder can stream the records as it hashes.
 *
 * Version 2 adds the published forms (published.ts) between the records and the trailer:
 * the section, then its length (u32 LE). Version 3 keeps that and ends with a summary a
 * client can read alone, with one suffix range request (`Range: bytes=-57` for one base):
 *
 *     8·n   first 8 bytes of the SHA-256 of each earlier version with a delta ("base"),
 *           in the order of the published base entries; its delta is the file
 *           `<index name>d-<those 8 bytes in hex>` beside the index
 *     1     n, 0..255
 *     8     file size (u64 LE), equal to the header's
 *     32    SHA-256 of the whole reference
 *     4     "GSIT"
 *     4     CRC-32 of every preceding byte of the index (u32 LE)
 *
 * A client holding exactly one of those versions fetches only the summary and the delta.
 *
 * Version 4 is version 3 whose forms section holds an archive entry (published.ts, a
 * critical type): the blocks describe the payload inside the published file. Its summary
 * ends with `GSIA` instead of `GSIT`, so a client that reads the summary alone (which
 * describes the payload, not the published file) reads the whole index instead.
 *
 * A version 4 index may end its forms section with an archive summary entry (type 6,
 * optional, so earlier readers skip it): a copy of the archive entry, the first 8 bytes
 * of the SHA-256 of each base's published archive (in the order of the base entries), and
 * the entry's own length, last, so a client reads it from the index's end:
 *
 *     A     the archive entry (type | length | payload), as in the forms section
 *     8·n   first 8 bytes of the SHA-256 of each base's published archive
 *     4     A + 8·n + 4 (u32 LE)
 *
 * A client holding one of those archives needs only the summary, this entry and the delta
 * between payloads (docs/archives.md).
 *
 * Versions 5 and 6 are versions 1 and 3 with the block digest right after the records:
 *
 *     32    SHA-256 of the full 32-byte SHA-256 of every block, block after block (the
 *           last block zero-padded to the block size, as its record is hashed)
 *
 * A client that has the full hash of every block of its result (it computed them anyway:
 * local blocks when the matcher accepted them, fetched blocks when it checked them)
 * verifies the whole result with this digest instead of a second pass over the file; by
 * collision resistance that is as strong as the whole-file SHA-256, which these versions
 * keep for users (`sha256sum`). Everything after the digest is laid out as in version 1
 * or 3, so the readers of an index's tail (its summary) are unchanged.
 *
 * @module
 */
import { crc32 } from 'node:zlib';
import { ErrorCodes, SyncError } from '../errors.js';
import { sha256 } from '../hashing/strong-hash.js';
import type { BlockIndex } from './block-index.js';
import { type ArchiveForm, decodePublished, encodePublished } from './published.js';
import { MAX_BLOCK_SIZE, MIN_BLOCK_SIZE, blockCountOf } from './params.js';
import { gatherFields } from './fields.js';

/** `GOSYNCIX` */
export const MAGIC = Uint8Array.from([0x47, 0x4f, 0x53, 0x59, 0x4e, 0x43, 0x49, 0x58]);
/** The format version of an index that lists only the plain reference. */
export const VERSION = 1;
/** The format version of an index that also lists published forms (published.ts), without a summary. */
export const VERSION_PUBLISHED = 2;
/** The format version of an index with published forms and the summary trailer (written today). */
export const VERSION_SUMMARY = 3;
/** The format version of an index whose reference is inside a published archive (docs/archives.md). */
export const VERSION_ARCHIVE = 4;
/** Version 1 with the block digest after the records (written by the builder today for an index without forms). */
export const VERSION_DIGEST = 5;
/** Version 3 with the block digest after the records (written by the builder today for an index with forms). */
export const VERSION_SUMMARY_DIGEST = 6;
/** The highest version this gosync reads. */
export const VERSION_LATEST = VERSION_SUMMARY_DIGEST;
/** Bytes of the block digest of versions 5 and 6. */
export const BLOCK_DIGEST_SIZE = 32;
/** Every version this gosync reads. */
export type IndexVersion = 1 | 2 | 3 | 4 | 5 | 6;
/** The version whose layout `version` follows apart from the block digest (5 → 1, 6 → 3). */
export function layoutOf(version: IndexVersion): 1 | 2 | 3 | 4 {
  return version === VERSION_DIGEST ? VERSION : version === VERSION_SUMMARY_DIGEST ? VERSION_SUMMARY : version;
}
/** True when indexes of `version` carry a block digest. */
export function hasBlockDigest(version: IndexVersion): boolean {
  return version === VERSION_DIGEST || version === VERSION_SUMMARY_DIGEST;
}
/** Version 3's summary trailer without its base prefixes. */
export const SUMMARY_FIXED_SIZE = 49;
/** Bytes of a base's SHA-256 the summary keeps (and the delta's file name spells in hex). */
export const BASE_PREFIX_BYTES = 8;
/** Most bases one index lists. */
export const MAX_BASES = 255;
/** `GSIT`: the last 8..4 bytes of a version 3 index. */
const SUMMARY_MAGIC = Uint8Array.from([0x47, 0x53, 0x49, 0x54]);
/** `GSIA`: version 4's summary magic (the summary describes the payload inside an archive). */
const ARCHIVE_SUMMARY_MAGIC = Uint8Array.from([0x47, 0x53, 0x49, 0x41]);
/** The archive summary entry's type in the forms section (optional: below 0x80). */
const T_ARCHIVE_SUMMARY = 6;
/** The longest archive summary entry read from an index's tail (a gzip header is at most 64 KiB). */
export const MAX_ARCHIVE_SUMMARY = 128 * 1024;
/** Version 2's trailer before the SHA-256 and CRC: the extension section's length. */
const EXT_LENGTH_SIZE = 4;
/** Fixed header bytes before the URL. */
export const HEADER_SIZE = 32;
/** Trailer bytes: whole-file SHA-256 + CRC-32. */
export const TRAILER_SIZE = 36;
/** Longest reference URL an index may carry, in bytes. */
export const MAX_URL_BYTES = 4096;
/** Default cap on an index's total size (a client refuses to load larger ones). */
export const DEFAULT_MAX_INDEX_BYTES = 1024 * 1024 * 1024;

const WEAK_ROLLSUM = 1;
const STRONG_SHA256 = 1;
const FILE_SHA256 = 1;

/** The header fields of an index, known before any block is hashed. */
export interface IndexHeader {
  /**
   * 3 (or the older 2) when published forms follow the records, 4 with an archive entry, else
   * 1; 5 and 6 are 1 and 3 with the block digest.
   */
  version?: IndexVersion;
  fileSize: number;
  blockSize: number;
  seqMatches: 1 | 2;
  weakBytes: number;
  strongBytes: number;
  url?: string;
}

function corrupt(reason: string): SyncError {
  return new SyncError(ErrorCodes.INDEX_CORRUPT, `Cannot read the index: ${reason}`);
}

/** Checks header fields for consistency; throws INDEX_CORRUPT (decode) or RangeError (encode). */
function checkHeader(h: IndexHeader, fail: (reason: string) => never): void {
  if (!Number.isSafeInteger(h.fileSize) || h.fileSize < 0) fail(`file size ${h.fileSize} is not a non-negative safe integer`);
  const bs = h.blockSize;
  if (!Number.isInteger(bs) || bs < MIN_BLOCK_SIZE || bs > MAX_BLOCK_SIZE || (bs & (bs - 1)) !== 0) {
    fail(`block size ${bs} is not a power of two between ${MIN_BLOCK_SIZE} and ${MAX_BLOCK_SIZE}`);
  }
  if (!(h.weakBytes >= 1 && h.weakBytes <= 4)) fail(`weak checksum length ${h.weakBytes} is not 1..4`);
  if (!(h.strongBytes >= 3 && h.strongBytes <= 32)) fail(`strong hash length ${h.strongBytes} is not 3..32`);
  if (h.seqMatches !== 1 && h.seqMatches !== 2) fail(`sequential match count ${h.seqMatches as number} is not 1 or 2`);
}

/** Size in bytes of the header of an index with this URL. */
export function headerSize(url: string | undefined): number {
  return HEADER_SIZE + (url ? Buffer.byteLength(url, 'utf8') : 0);
}

/** Total size in bytes of a version 1 or 5 index with these header fields (5: with the block digest). */
export function indexSize(h: IndexHeader): number {
  const digest = h.version !== undefined && hasBlockDigest(h.version) ? BLOCK_DIGEST_SIZE : 0;
  return headerSize(h.url) + blockCountOf(h.fileSize, h.blockSize) * (h.weakBytes + h.strongBytes) + digest + TRAILER_SIZE;
}

/** Encodes the header (magic through URL). */
export function encodeHeader(h: IndexHeader): Uint8Array {
  checkHeader(h, (reason) => {
    throw new RangeError(`Cannot encode the index: ${reason}`);
  });
  const url = h.url ? Buffer.from(h.url, 'utf8') : Buffer.alloc(0);
  if (url.length > MAX_URL_BYTES) throw new RangeError(`Cannot encode the index: the URL is ${url.length} bytes, over ${MAX_URL_BYTES}`);
  const out = Buffer.alloc(HEADER_SIZE + url.length);
  out.set(MAGIC, 0);
  out.writeUInt16LE(h.version ?? VERSION, 8);
  out.writeUInt16LE(url.length, 10);
  out.writeBigUInt64LE(BigInt(h.fileSize), 12);
  out.writeUInt32LE(h.blockSize, 20);
  out[24] = WEAK_ROLLSUM;
  out[25] = h.weakBytes;
  out[26] = STRONG_SHA256;
  out[27] = h.strongBytes;
  out[28] = h.seqMatches;
  out[29] = FILE_SHA256;
  out.set(url, HEADER_SIZE);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** Writes one block record (weak low bytes LE, then the strong prefix) at `offset`. */
export function encodeRecord(
  out: Uint8Array,
  offset: number,
  weak: number,
  weakBytes: number,
  strong: Uint8Array,
  strongOffset: number,
  strongBytes: number,
): void {
  for (let k = 0; k < weakBytes; k++) out[offset + k] = (weak >>> (8 * k)) & 0xff;
  out.set(strong.subarray(strongOffset, strongOffset + strongBytes), offset + weakBytes);
}

/** Encodes the trailer; `crcSoFar` is the CRC-32 of every byte before it. */
export function encodeTrailer(fileSha256: Uint8Array, crcSoFar: number): Uint8Array {
  const out = Buffer.alloc(TRAILER_SIZE);
  out.set(fileSha256, 0);
  out.writeUInt32LE(crc32(out.subarray(0, 32), crcSoFar), 32);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/**
 * Encodes version 3's summary trailer; `crcSoFar` is the CRC-32 of every byte before it.
 * `bases` are the SHA-256 digests (or their first 8 bytes) of the bases, in entry order.
 */
export function encodeSummaryTrailer(
  fileSize: number,
  fileSha256: Uint8Array,
  bases: readonly Uint8Array[],
  crcSoFar: number,
  version: 3 | 4 = VERSION_SUMMARY,
): Uint8Array {
  if (bases.length > MAX_BASES) throw new RangeError(`Cannot encode the index: ${bases.length} bases, over ${MAX_BASES}`);
  const p = BASE_PREFIX_BYTES * bases.length;
  const out = Buffer.alloc(p + SUMMARY_FIXED_SIZE);
  bases.forEach((b, i) => {
    if (b.length < BASE_PREFIX_BYTES) throw new RangeError('Cannot encode the index: a base digest is too short');
    out.set(b.subarray(0, BASE_PREFIX_BYTES), BASE_PREFIX_BYTES * i);
  });
  out[p] = bases.length;
  out.writeBigUInt64LE(BigInt(fileSize), p + 1);
  out.set(fileSha256, p + 9);
  out.set(version === VERSION_ARCHIVE ? ARCHIVE_SUMMARY_MAGIC : SUMMARY_MAGIC, p + 41);
  out.writeUInt32LE(crc32(out.subarray(0, p + 45), crcSoFar), p + 45);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** What a version 3 index's summary says (readable from the last bytes alone). */
export interface IndexSummary {
  fileSize: number;
  /** SHA-256 of the whole reference. */
  sha256: Uint8Array;
  /** First 8 bytes of each base's SHA-256, in the order of the base entries. */
  bases: Uint8Array[];
}

/**
 * Reads the summary from the last bytes of an index. Returns `undefined` when they are not
 * a version 3 summary (an older index: read it whole), `{ need }` when `tail` is shorter
 * than the summary (fetch the last `need` bytes), or the summary. Only the layout is
 * checked here (the CRC covers the whole index): a client verifies what it builds against
 * the SHA-256 anyway.
 */
export function readIndexSummary(tail: Uint8Array): IndexSummary | { need: number } | undefined {
  return readSummary(tail, SUMMARY_MAGIC);
}

function readSummary(tail: Uint8Array, magic: Uint8Array): IndexSummary | { need: number } | undefined {
  const len = tail.length;
  if (len < SUMMARY_FIXED_SIZE) return { need: SUMMARY_FIXED_SIZE };
  for (let i = 0; i < 4; i++) if (tail[len - 8 + i] !== magic[i]) return undefined;
  const buf = Buffer.from(tail.buffer, tail.byteOffset, tail.byteLength);
  const n = buf[len - SUMMARY_FIXED_SIZE]!;
  const need = SUMMARY_FIXED_SIZE + BASE_PREFIX_BYTES * n;
  if (len < need) return { need };
  const size = buf.readBigUInt64LE(len - 48);
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(`the summary's file size ${size} is over 2^53 − 1 bytes`);
  const bases: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const at = len - need + BASE_PREFIX_BYTES * i;
    bases.push(Uint8Array.from(tail.subarray(at, at + BASE_PREFIX_BYTES)));
  }
  return { fileSize: Number(size), sha256: Uint8Array.from(tail.subarray(len - 40, len - 8)), bases };
}

/** What a version 4 index's tail says: its summary, and the archive summary entry. */
export interface ArchiveSummary extends IndexSummary {
  /** How the published archive is rebuilt from the payload the summary describes. */
  archive: ArchiveForm;
  /** First 8 bytes of the SHA-256 of each base's published archive, in the order of `bases`. */
  archiveBases: Uint8Array[];
}

/** True when `tail` (the last bytes of an index) ends like a version 4 (archive) index's: `GSIA` 8 bytes from its end. */
export function isArchiveTail(tail: Uint8Array): boolean {
  if (tail.length < 8) return false;
  for (let k = 0; k < 4; k++) if (tail[tail.length - 8 + k] !== ARCHIVE_SUMMARY_MAGIC[k]) return false;
  return true;
}

/**
 * Reads the summary and the archive summary entry from the last bytes of a version 4
 * index. Returns `undefined` when they are not such an index's (another version, or a
 * version 4 index without the entry: read it whole), `{ need }` when `tail` is shorter
 * than what they take (fetch the last `need` bytes), or what they say. Only the layout is
 * checked here, as for {@link readIndexSummary}: a client verifies what it builds.
 */
export function readArchiveSummary(tail: Uint8Array): ArchiveSummary | { need: number } | undefined {
  const summary = readSummary(tail, ARCHIVE_SUMMARY_MAGIC);
  if (summary === undefined || 'need' in summary) return summary;
  const buf = Buffer.from(tail.buffer, tail.byteOffset, tail.byteLength);
  const prefixes = BASE_PREFIX_BYTES * summary.bases.length;
  // The forms section's length, and the entry's own length just before it.
  const end = tail.length - SUMMARY_FIXED_SIZE - prefixes - EXT_LENGTH_SIZE;
  if (end < 4) return { need: tail.length - end + 4 };
  const extLength = buf.readUInt32LE(end);
  const length = buf.readUInt32LE(end - 4);
  if (length > MAX_ARCHIVE_SUMMARY || length < 5 + prefixes + 4 || length + 5 > extLength) return undefined;
  const start = end - length - 5;
  if (start < 0) return { need: tail.length - start };
  if (buf[start] !== T_ARCHIVE_SUMMARY || buf.readUInt32LE(start + 1) !== length) return undefined;
  const body = buf.subarray(start + 5, end);
  const copy = body.subarray(0, body.length - prefixes - 4);
  let archive: ArchiveForm | undefined;
  try {
    // The copy is one forms entry: it decodes as a forms section of its own.
    const forms = decodePublished(copy, 0);
    archive = Object.keys(forms).length === 1 ? forms.archive : undefined;
  } catch {
    return undefined;
  }
  if (archive === undefined) return undefined;
  const archiveBases: Uint8Array[] = [];
  for (let i = 0; i < summary.bases.length; i++) {
    const at = copy.length + BASE_PREFIX_BYTES * i;
    archiveBases.push(Uint8Array.from(body.subarray(at, at + BASE_PREFIX_BYTES)));
  }
  return { ...summary, archive, archiveBases };
}

/** The archive summary entry (type, length, payload) for `archive` and its bases' archive digests. */
function encodeArchiveSummary(archive: ArchiveForm, archiveBases: readonly Uint8Array[]): Uint8Array {
  const copy = encodePublished({ archive }, 0);
  const length = copy.length + BASE_PREFIX_BYTES * archiveBases.length + 4;
  const out = Buffer.alloc(5 + length);
  out[0] = T_ARCHIVE_SUMMARY;
  out.writeUInt32LE(length, 1);
  out.set(copy, 5);
  archiveBases.forEach((b, i) => {
    if (b.length < BASE_PREFIX_BYTES) throw new RangeError('Cannot encode the index: an archive digest is too short');
    out.set(b.subarray(0, BASE_PREFIX_BYTES), 5 + copy.length + BASE_PREFIX_BYTES * i);
  });
  out.writeUInt32LE(length, 1 + length);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** The file name of the delta from a base, beside the index named `indexName`. */
export function baseDeltaName(indexName: string, baseSha256: Uint8Array): string {
  return `${indexName}d-${Buffer.from(baseSha256.subarray(0, BASE_PREFIX_BYTES)).toString('hex')}`;
}

/** Encodes the version 2 extension trailer part: the section, then its length. */
export function encodeExtension(section: Uint8Array): Uint8Array {
  const out = Buffer.alloc(section.length + EXT_LENGTH_SIZE);
  out.set(section, 0);
  out.writeUInt32LE(section.length, section.length);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** Encodes a whole index held in memory (version 2 when it lists published forms). */
export function encodeIndex(index: BlockIndex): Uint8Array {
  return encodeWith(index, new Uint8Array(0));
}

/**
 * Encodes a version 4 index (one with an archive entry) ending its forms section with the
 * archive summary entry: `archiveBases` are the SHA-256 digests (or their first 8 bytes) of
 * each base's published archive, in the order of the base entries.
 */
export function encodeArchiveIndex(index: BlockIndex, archiveBases: readonly Uint8Array[]): Uint8Array {
  const archive = index.published?.archive;
  if (archive === undefined) throw new RangeError('Cannot encode the index: an archive summary needs an archive entry');
  if (archiveBases.length !== (index.published?.bases?.length ?? 0))
    throw new RangeError('Cannot encode the index: one archive digest per base is needed');
  return encodeWith(index, encodeArchiveSummary(archive, archiveBases));
}

/** Encodes `index` with `extra` (whole forms entries) at the end of its forms section. */
function encodeWith(index: BlockIndex, extra: Uint8Array): Uint8Array {
  if (index.strongHash.name !== 'sha256' || index.fileDigest.algorithm !== 'sha256') {
    throw new RangeError('Cannot encode the index: the gosync format stores SHA-256 hashes only');
  }
  const ext = index.published
    ? encodeExtension(Buffer.concat([encodePublished(index.published, index.blockCount), extra]))
    : new Uint8Array(0);
  const layout = index.published?.archive ? VERSION_ARCHIVE : index.published ? VERSION_SUMMARY : VERSION;
  // The block digest goes with the layouts that have a digest version (not archives).
  const blockDigest = layout !== VERSION_ARCHIVE ? index.blockDigest : undefined;
  if (blockDigest !== undefined && blockDigest.length !== BLOCK_DIGEST_SIZE)
    throw new RangeError('Cannot encode the index: the block digest is not 32 bytes');
  const version = blockDigest === undefined ? layout : layout === VERSION ? VERSION_DIGEST : VERSION_SUMMARY_DIGEST;
  const header = encodeHeader({ ...index, version });
  const rec = index.weakBytes + index.strongBytes;
  const bases = (index.published?.bases ?? []).map((b) => b.baseSha256);
  const trailerSize = index.published ? SUMMARY_FIXED_SIZE + BASE_PREFIX_BYTES * bases.length : TRAILER_SIZE;
  const digestSize = blockDigest === undefined ? 0 : BLOCK_DIGEST_SIZE;
  const total = header.length + index.blockCount * rec + digestSize + ext.length + trailerSize;
  const out = new Uint8Array(total);
  out.set(header, 0);
  let p = header.length;
  for (let i = 0; i < index.blockCount; i++, p += rec) {
    encodeRecord(out, p, index.weak[i]!, index.weakBytes, index.strong, i * index.strongBytes, index.strongBytes);
  }
  if (blockDigest !== undefined) out.set(blockDigest, p);
  p += digestSize;
  out.set(ext, p);
  p += ext.length;
  const crc = crc32(out.subarray(0, p));
  out.set(
    index.published
      ? encodeSummaryTrailer(
          index.fileSize,
          index.fileDigest.digest,
          bases,
          crc,
          layout === VERSION_ARCHIVE ? VERSION_ARCHIVE : VERSION_SUMMARY,
        )
      : encodeTrailer(index.fileDigest.digest, crc),
    p,
  );
  return out;
}

/** Options of {@link decodeIndex} and {@link readIndexHeader}. */
export interface DecodeIndexOptions {
  /** Refuse indexes larger than this many bytes (default 1 GiB). */
  maxBytes?: number;
}

/** The header of an encoded index and the exact total size it implies. */
export interface DecodedHeader extends IndexHeader {
  version: IndexVersion;
  /**
   * Total bytes of the index, header to trailer (for versions 2 and 3: the least it can be,
   * without the published forms and, for 3, without the summary's base prefixes).
   */
  totalSize: number;
  /** Offset of the first block record. */
  recordsOffset: number;
  blockCount: number;
}

/** True when `data` starts with the gosync index magic. */
export function isGosyncIndex(data: Uint8Array): boolean {
  if (data.length < MAGIC.length) return false;
  for (let i = 0; i < MAGIC.length; i++) if (data[i] !== MAGIC[i]) return false;
  return true;
}

/**
 * Parses and checks the header, given at least its first 32 bytes (plus the URL for the
 * URL field). Hostile input is rejected here, before the caller allocates anything sized
 * by it.
 */
export function readIndexHeader(data: Uint8Array, options: DecodeIndexOptions = {}): DecodedHeader {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_INDEX_BYTES;
  if (data.length < HEADER_SIZE) throw corrupt(`it is ${data.length} bytes, shorter than the ${HEADER_SIZE}-byte header`);
  if (!isGosyncIndex(data)) throw corrupt('the magic number is wrong (not a gosync index)');
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const version = buf.readUInt16LE(8);
  if (!Number.isInteger(version) || version < VERSION || version > VERSION_LATEST) {
    throw new SyncError(
      ErrorCodes.INDEX_UNSUPPORTED,
      `Cannot read the index: format version ${version} is not supported (this gosync reads versions ${VERSION} to ${VERSION_LATEST})`,
    );
  }
  const layout = layoutOf(version as IndexVersion);
  const urlLength = buf.readUInt16LE(10);
  const size = buf.readBigUInt64LE(12);
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(`the file size ${size} is over 2^53 − 1 bytes`);
  if (buf[24] !== WEAK_ROLLSUM || buf[26] !== STRONG_SHA256 || buf[29] !== FILE_SHA256) {
    throw new SyncError(ErrorCodes.INDEX_UNSUPPORTED, `Cannot read the index: unknown hash algorithm ids ${buf[24]}/${buf[26]}/${buf[29]}`);
  }
  if (buf[30] !== 0 || buf[31] !== 0) throw corrupt('reserved header bytes are not zero');
  if (urlLength > MAX_URL_BYTES) throw corrupt(`the URL length ${urlLength} is over ${MAX_URL_BYTES}`);
  const h: IndexHeader = {
    fileSize: Number(size),
    blockSize: buf.readUInt32LE(20),
    weakBytes: buf[25]!,
    strongBytes: buf[27]!,
    seqMatches: buf[28] as 1 | 2,
  };
  checkHeader(h, (reason) => {
    throw corrupt(reason);
  });
  const blockCount = blockCountOf(h.fileSize, h.blockSize);
  const recordsOffset = HEADER_SIZE + urlLength;
  const trailer =
    (layout === VERSION_SUMMARY || layout === VERSION_ARCHIVE
      ? EXT_LENGTH_SIZE + SUMMARY_FIXED_SIZE
      : layout === VERSION_PUBLISHED
        ? EXT_LENGTH_SIZE + TRAILER_SIZE
        : TRAILER_SIZE) + (hasBlockDigest(version as IndexVersion) ? BLOCK_DIGEST_SIZE : 0);
  const totalSize = recordsOffset + blockCount * (h.weakBytes + h.strongBytes) + trailer;
  if (totalSize > maxBytes) {
    throw corrupt(`it declares ${blockCount} blocks, ${totalSize} bytes in all, over the limit of ${maxBytes} bytes`);
  }
  if (data.length >= recordsOffset && urlLength > 0) {
    const url = buf.toString('utf8', HEADER_SIZE, recordsOffset);
    if (url.includes('\uFFFD') || /[\u0000-\u001f\u007f]/.test(url)) throw corrupt('the URL is not valid UTF-8 text');
    h.url = url;
  }
  return { ...h, version: version as IndexVersion, totalSize, recordsOffset, blockCount };
}

/** The summary's base prefixes must name the base entries, in order. */
function checkSummaryBases(prefixes: readonly Uint8Array[], bases: readonly { baseSha256: Uint8Array }[]): void {
  const agree =
    prefixes.length === bases.length &&
    prefixes.every((p, i) => Buffer.from(p).equals(bases[i]!.baseSha256.subarray(0, BASE_PREFIX_BYTES)));
  if (!agree) throw corrupt("its summary's bases do not match its base-delta entries");
}

/**
 * Decodes a whole gosync index (versions 1 to 4). Throws INDEX_CORRUPT when it is truncated, padded,
 * inconsistent or fails its CRC, and INDEX_UNSUPPORTED for an unknown version.
 *
 * @example
 * ```ts
 * const index = decodeIndex(await readFile('big.iso.gosync'));
 * console.log(index.blockCount, index.blockSize);
 * ```
 */
export function decodeIndex(data: Uint8Array, options: DecodeIndexOptions = {}): BlockIndex {
  const h = readIndexHeader(data, options);
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const len = data.length;
  // Versions 5 and 6 are laid out as 1 and 3 with the block digest after the records.
  const layout = layoutOf(h.version);
  const digestSize = hasBlockDigest(h.version) ? BLOCK_DIGEST_SIZE : 0;
  // Versions 3 and 4 share the layout; 4's summary has its own magic.
  const summarised = layout === VERSION_SUMMARY || layout === VERSION_ARCHIVE;
  // What follows the records: [extension section, its length], then the trailer.
  let extLength = 0;
  let trailerSize = TRAILER_SIZE;
  if (summarised && len >= h.totalSize) {
    trailerSize = SUMMARY_FIXED_SIZE + BASE_PREFIX_BYTES * buf[len - SUMMARY_FIXED_SIZE]!;
    if (len >= h.totalSize - SUMMARY_FIXED_SIZE + trailerSize) extLength = buf.readUInt32LE(len - trailerSize - EXT_LENGTH_SIZE);
  } else if (layout === VERSION_PUBLISHED && len >= h.totalSize) {
    extLength = buf.readUInt32LE(len - TRAILER_SIZE - EXT_LENGTH_SIZE);
  }
  const expected = h.totalSize + extLength + (summarised ? trailerSize - SUMMARY_FIXED_SIZE : 0);
  if (len !== expected) {
    throw corrupt(`it is ${len} bytes but its header and trailer imply ${expected} (${len < expected ? 'truncated' : 'trailing data'})`);
  }
  const crcAt = expected - 4;
  const stored = buf.readUInt32LE(crcAt);
  if (crc32(data.subarray(0, crcAt)) !== stored) throw corrupt('its CRC-32 does not match (the file is damaged)');
  const summary = summarised ? readSummary(data, layout === VERSION_ARCHIVE ? ARCHIVE_SUMMARY_MAGIC : SUMMARY_MAGIC) : undefined;
  if (summary !== undefined && ('need' in summary || summary.fileSize !== h.fileSize)) {
    throw corrupt('its summary does not agree with its header');
  }
  if (summarised && summary === undefined) throw corrupt('its summary is missing');
  const { blockCount, weakBytes, strongBytes } = h;
  const weak = new Uint32Array(blockCount);
  const strong = new Uint8Array(blockCount * strongBytes);
  const rec = weakBytes + strongBytes;
  let p = h.recordsOffset;
  for (let i = 0; i < blockCount; i++, p += rec) {
    let w = 0;
    for (let k = weakBytes - 1; k >= 0; k--) w = (w << 8) | data[p + k]!;
    weak[i] = w >>> 0;
  }
  gatherFields(data, h.recordsOffset + weakBytes, rec, strongBytes, blockCount, strong);
  // Version 3's digest sits before the summary magic; 1 and 2 end with it.
  const digest = summary ? data.slice(crcAt - 36, crcAt - 4) : data.slice(crcAt - 32, crcAt);
  const recordsEnd = h.recordsOffset + blockCount * rec;
  const blockDigest = digestSize > 0 ? data.slice(recordsEnd, recordsEnd + digestSize) : undefined;
  const formsAt = recordsEnd + digestSize;
  const published = layout === VERSION ? undefined : decodePublished(data.subarray(formsAt, formsAt + extLength), blockCount);
  if (summary && !('need' in summary)) checkSummaryBases(summary.bases, published?.bases ?? []);
  if ((layout === VERSION_ARCHIVE) !== (published?.archive !== undefined)) {
    throw corrupt(
      layout === VERSION_ARCHIVE ? 'a version 4 index has no archive entry' : `a version ${h.version} index has an archive entry`,
    );
  }
  if (published?.archive) {
    // The archive summary entry, when there is one, must say what the index says.
    const tail = readArchiveSummary(data);
    if (tail !== undefined && ('need' in tail || !sameArchive(tail.archive, published.archive)))
      throw corrupt('its archive summary does not match its archive entry');
  }
  return {
    fileSize: h.fileSize,
    blockSize: h.blockSize,
    blockCount,
    seqMatches: h.seqMatches,
    weakBytes,
    strongBytes,
    strongHash: sha256,
    weak,
    strong,
    fileDigest: { algorithm: 'sha256', digest },
    ...(blockDigest ? { blockDigest } : {}),
    ...(h.url ? { url: h.url } : {}),
    ...(published ? { published } : {}),
  };
}

function sameArchive(a: ArchiveForm, b: ArchiveForm): boolean {
  return Buffer.from(encodePublished({ archive: a }, 0)).equals(encodePublished({ archive: b }, 0));
}
