/**
 * zsync's `.zsync` control files: reading them into a {@link BlockIndex} and writing ones
 * the real zsync 0.6.2 client accepts. The format, as checked against zsync 0.6.2 byte by
 * byte, is described in docs/formats.md.
 *
 *     zsync: 0.6.2                      first line, always
 *     Filename: app.bin                 (ignored when read)
 *     MTime: Sat, 02 Mar 2024 10:00:00 +0000
 *     Blocksize: 2048                   a power of two
 *     Length: 1234567                   the target's length
 *     Hash-Lengths: 2,2,5               seq matches, rsum bytes, strong bytes (default 1,4,16)
 *     URL: app.bin                      repeatable; absolute or relative to the .zsync's URL
 *     SHA-1: <40 hex>                   whole-file hash (or File-Hash: SHA-256:<hex>)
 *     <empty line>
 *     ⌈Length / Blocksize⌉ records of (rsum bytes + strong bytes)
 *
 * A record keeps the *last* `rsum bytes` of the big-endian `a_hi a_lo b_hi b_lo`, which
 * are exactly the low bytes of gosync's weak checksum `(a << 16) | b`, then the first
 * `strong bytes` of MD4 (or `Strong-Hash-Algorithm`) of the block, zero-padded to the
 * block size. Everything maps onto a {@link BlockIndex} without conversion.
 *
 * @module
 */
import { createHash, type Hash } from 'node:crypto';
import { ErrorCodes, SyncError, throwIfAborted } from '../core/errors.js';
import { md4, md4Into } from '../core/hashing/md4.js';
import { nodeHash, type StrongHash } from '../core/hashing/strong-hash.js';
import type { BlockIndex, FileDigest } from '../core/index/block-index.js';
import { DEFAULT_MAX_INDEX_BYTES } from '../core/index/format.js';
import { MAX_BLOCK_SIZE, blockCountOf, defaultHashLengths, type HashLengths } from '../core/index/params.js';
import { weakChecksum } from '../core/rollsum.js';
import { isZsyncControl } from './index-magic.js';
import { gatherFields } from '../core/index/fields.js';

/** The value of the `zsync:` line this module writes (the format of zsync 0.6.2). */
export const ZSYNC_WRITTEN_VERSION = '0.6.2';
/** Longest header line accepted when reading, in bytes (zsync 0.6.2 itself reads 1023). */
export const MAX_ZSYNC_LINE = 8192;
/** Most header text accepted when reading (Z-Map2 data not counted). */
export const MAX_ZSYNC_HEADER_TEXT = 64 * 1024;
/** Longest header line zsync 0.6.2 reads whole (an `fgets` into 1024 bytes); the writer stays within it. */
const ZSYNC_062_LINE = 1023;
/** Highest `Min-Version` this reader honours: zsync 0.6.2 plus the SPEC.md 0.8 fields. */
const SUPPORTED_MIN_VERSION: readonly number[] = [0, 8];

/** A decoded `.zsync` control file. */
export interface ZsyncControl {
  /** The blocks, lengths and hashes, ready for the matcher and patcher. `index.url` is the first `URL`. */
  index: BlockIndex;
  /** The value of the `zsync:` line (the generator's version). */
  version: string;
  /** Every `URL` header, in order (absolute, or relative to the control file's URL). */
  urls: string[];
  /** `Filename`, when present (a suggested output name; gosync does not use it). */
  filename?: string;
  /** `MTime`, as written (gosync does not use it). */
  mtime?: string;
  /** Every header line, in order, as `[name, value]` (Z-Map2 data left out). */
  headers: [string, string][];
}

/** Options of {@link decodeZsync}. */
export interface DecodeZsyncOptions {
  /** Refuse control files larger than this many bytes (default 1 GiB). */
  maxBytes?: number;
}

function corrupt(reason: string): SyncError {
  return new SyncError(ErrorCodes.INDEX_CORRUPT, `Cannot read the .zsync file: ${reason}`);
}

function unsupported(reason: string): SyncError {
  return new SyncError(ErrorCodes.INDEX_UNSUPPORTED, `Cannot use the .zsync file: ${reason}`);
}

// The test of the first bytes lives with the other formats' (index-magic.ts: no codec to load).
export { isZsyncControl } from './index-magic.js';

/** Strong block hashes a `.zsync` may name in `Strong-Hash-Algorithm` (default MD4). */
function strongHashNamed(name: string): StrongHash | undefined {
  switch (name.toUpperCase().replace(/-/g, '')) {
    case 'MD4':
      return md4;
    case 'MD5':
      return nodeHash('md5', 16);
    case 'SHA224':
      return nodeHash('sha224', 28);
    default:
      return undefined;
  }
}

/** Whole-file hashes a `.zsync` may carry, by their spelling in `File-Hash`. */
function fileHashNamed(name: string): { algorithm: string; length: number } | undefined {
  switch (name.toUpperCase().replace(/-/g, '')) {
    case 'SHA1':
      return { algorithm: 'sha1', length: 20 };
    case 'SHA256':
      return { algorithm: 'sha256', length: 32 };
    default:
      return undefined;
  }
}

function parseHex(name: string, hex: string, length: number): Uint8Array {
  if (hex.length !== 2 * length || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw corrupt(`the ${name} value is not ${2 * length} hexadecimal digits`);
  }
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

function parseCount(name: string, value: string): number {
  if (!/^[0-9]{1,16}$/.test(value)) throw corrupt(`the ${name} value "${clip(value)}" is not a decimal number`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw corrupt(`the ${name} value ${value} is over 2^53 − 1`);
  return n;
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

function versionParts(v: string): number[] {
  return v.split('.').map((x) => (/^\d+$/.test(x) ? Number(x) : 0));
}

/** True when version `a` is above `b`, comparing numerically component by component. */
function versionAbove(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return false;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Splits the header section into `[name, value]` pairs; returns them and the offset of the records. */
function readHeaders(data: Uint8Array): { headers: [string, string][]; recordsAt: number } {
  const headers: [string, string][] = [];
  let p = 0;
  let text = 0;
  for (let lineNo = 1; ; lineNo++) {
    const limit = Math.min(data.length, p + MAX_ZSYNC_LINE + 1);
    const found = data.subarray(p, limit).indexOf(0x0a);
    const nl = found < 0 ? -1 : p + found;
    if (nl < 0) {
      if (limit - p > MAX_ZSYNC_LINE) throw corrupt(`header line ${lineNo} is longer than ${MAX_ZSYNC_LINE} bytes`);
      throw corrupt('it is truncated: the header section does not end (no empty line before the checksums)');
    }
    text += nl + 1 - p;
    if (text > MAX_ZSYNC_HEADER_TEXT) throw corrupt(`the header section is over ${MAX_ZSYNC_HEADER_TEXT} bytes`);
    let end = nl;
    if (end > p && data[end - 1] === 0x0d) end--; // tolerate CRLF
    const start = p;
    p = nl + 1;
    if (end === start) return { headers, recordsAt: p };
    let line: string;
    try {
      line = utf8.decode(data.subarray(start, end));
    } catch {
      throw corrupt(`header line ${lineNo} is not UTF-8 text`);
    }
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(line)) throw corrupt(`header line ${lineNo} contains control characters`);
    const colon = line.indexOf(':');
    if (colon <= 0 || (colon + 1 < line.length && line[colon + 1] !== ' ')) {
      throw corrupt(`header line ${lineNo} ("${clip(line)}") is not "Name: value"`);
    }
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (headers.length === 0 && name !== 'zsync') throw corrupt('the first line is not "zsync: <version>" (not a .zsync control file)');
    headers.push([name, value]);
    if (name === 'Z-Map2') {
      // gzip look-inside data: N binary records of 4 bytes, straight after this line.
      const n = parseCount('Z-Map2', value);
      if (4 * n > data.length - p)
        throw corrupt(`the Z-Map2 header announces ${n} records (${4 * n} bytes) but only ${data.length - p} bytes follow`);
      p += 4 * n;
    }
  }
}

/**
 * Decodes a `.zsync` control file (zsync 0.6.2's, or the newer form with
 * `Strong-Hash-Algorithm` and `File-Hash: SHA-256:…`). Treats the input as hostile: every
 * count is checked against the data before anything sized by it is allocated.
 *
 * Throws INDEX_CORRUPT for a malformed file (not starting with `zsync:`, a bad header line,
 * a missing or invalid Length/Blocksize/Hash-Lengths/hash, a checksum section of the wrong
 * size; only a gzip look-inside file may carry the one or two junk records zsyncmake 0.6.2
 * appends to those) and INDEX_UNSUPPORTED for one gosync cannot use (zsync 0.0.4, a
 * `Min-Version` above 0.8, an unknown strong hash, no whole-file hash, gzip look-inside
 * without a plain `URL`, a block size over 16 MiB). Unknown headers are ignored.
 *
 * @example
 * ```ts
 * const { index, urls } = decodeZsync(await readFile('app.bin.zsync'));
 * ```
 */
export function decodeZsync(data: Uint8Array, options: DecodeZsyncOptions = {}): ZsyncControl {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_INDEX_BYTES;
  if (data.length > maxBytes) throw corrupt(`it is ${data.length} bytes, over the limit of ${maxBytes}`);
  if (!isZsyncControl(data)) throw corrupt('it does not start with "zsync:" (not a .zsync control file)');
  const { headers, recordsAt } = readHeaders(data);
  const fields = collectFields(headers);
  const version = headers[0]![1];
  checkVersion(version, fields.single.get('Min-Version'));
  const shape = readShape(fields.single);
  const fileDigest = readFileDigest(fields);
  if (fields.urls.length === 0 && fields.zUrl) {
    throw unsupported(
      'it describes the inside of a gzip file (Z-URL, "look-inside" mode) and has no plain URL; gosync fetches only uncompressed data (make the .zsync of the uncompressed file, or of the .gz itself with zsyncmake -Z)',
    );
  }
  const blockCount = blockCountOf(shape.fileSize, shape.blockSize);
  const { weak, strong } = readRecords(data, recordsAt, blockCount, shape, fields.zMap2);
  const { urls } = fields;
  const index: BlockIndex = {
    fileSize: shape.fileSize,
    blockSize: shape.blockSize,
    blockCount,
    seqMatches: shape.seqMatches,
    weakBytes: shape.weakBytes,
    strongBytes: shape.strongBytes,
    strongHash: shape.strongHash,
    weak,
    strong,
    fileDigest,
    ...(urls[0] !== undefined ? { url: urls[0] } : {}),
  };
  const filename = headers.find(([n]) => n === 'Filename')?.[1];
  const mtime = headers.find(([n]) => n === 'MTime')?.[1];
  return { index, version, urls, headers, ...(filename !== undefined ? { filename } : {}), ...(mtime !== undefined ? { mtime } : {}) };
}

/** The headers decodeZsync reads, sorted out. */
interface ZsyncFields {
  /** Headers that may appear once, by name. */
  single: Map<string, string>;
  /** `URL` values, in order. */
  urls: string[];
  /** `File-Hash` values, in order. */
  fileHashes: string[];
  /** True when a `Z-URL` header (gzip look-inside) is present. */
  zUrl: boolean;
  /** True when a `Z-Map2` header is present. */
  zMap2: boolean;
}

/** Sorts the headers after the `zsync:` line; a header that may appear once appearing twice is INDEX_CORRUPT. */
function collectFields(headers: readonly [string, string][]): ZsyncFields {
  const fields: ZsyncFields = { single: new Map(), urls: [], fileHashes: [], zUrl: false, zMap2: false };
  for (const [name, value] of headers.slice(1)) {
    switch (name) {
      case 'URL':
        if (value === '') throw corrupt('a URL header is empty');
        fields.urls.push(value);
        break;
      case 'File-Hash':
        fields.fileHashes.push(value);
        break;
      case 'Z-URL':
        fields.zUrl = true;
        break;
      case 'Z-Map2':
        fields.zMap2 = true;
        break;
      case 'Length':
      case 'Blocksize':
      case 'Hash-Lengths':
      case 'SHA-1':
      case 'Strong-Hash-Algorithm':
      case 'Min-Version':
        if (fields.single.has(name)) throw corrupt(`the ${name} header appears twice`);
        fields.single.set(name, value);
        break;
      default:
      // Filename, MTime, Safe, Z-Filename, Recompress and unknown headers: not needed.
    }
  }
  return fields;
}

/** Refuses the 0.0.4 format and a `Min-Version` above what this reader honours. */
function checkVersion(version: string, minVersion: string | undefined): void {
  if (version === '0.0.4') throw unsupported('it is in the zsync 0.0.4 format, which zsync itself no longer reads');
  if (minVersion !== undefined && versionAbove(versionParts(minVersion), SUPPORTED_MIN_VERSION)) {
    throw unsupported(`it needs a zsync client of version ${clip(minVersion)} or later (Min-Version)`);
  }
}

/** The BlockIndex fields the headers give: sizes, block hash and the record layout. */
type ZsyncShape = Pick<BlockIndex, 'fileSize' | 'blockSize' | 'seqMatches' | 'weakBytes' | 'strongBytes' | 'strongHash'>;

/** Reads Length, Blocksize, Strong-Hash-Algorithm and Hash-Lengths. */
function readShape(single: ReadonlyMap<string, string>): ZsyncShape {
  const lengthText = single.get('Length');
  const blockText = single.get('Blocksize');
  if (lengthText === undefined) throw corrupt('it has no Length header');
  if (blockText === undefined) throw corrupt('it has no Blocksize header');
  const fileSize = parseCount('Length', lengthText);
  const blockSize = parseCount('Blocksize', blockText);
  if (!(blockSize >= 1 && Number.isInteger(Math.log2(blockSize)))) throw corrupt(`the block size ${blockSize} is not a power of two`);
  if (blockSize > MAX_BLOCK_SIZE) throw unsupported(`its block size ${blockSize} is over the ${MAX_BLOCK_SIZE} bytes gosync handles`);

  const algorithmName = single.get('Strong-Hash-Algorithm') ?? 'MD4';
  const strongHash = strongHashNamed(algorithmName);
  if (!strongHash) throw unsupported(`its strong hash algorithm "${clip(algorithmName)}" is not one of MD4, MD5, SHA-224`);

  const lengths = single.get('Hash-Lengths');
  if (lengths === undefined) return { fileSize, blockSize, seqMatches: 1, weakBytes: 4, strongBytes: strongHash.digestLength, strongHash };
  const m = /^(\d{1,3}),(\d{1,3}),(\d{1,3})$/.exec(lengths);
  if (!m) throw corrupt(`the Hash-Lengths value "${clip(lengths)}" is not "seq,rsum,strong"`);
  const [s, r, c] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (s !== 1 && s !== 2) throw corrupt(`Hash-Lengths: sequential matches ${s} is not 1 or 2`);
  if (r < 1 || r > 4) throw corrupt(`Hash-Lengths: rsum length ${r} is not 1..4`);
  if (c < 3 || c > strongHash.digestLength)
    throw corrupt(`Hash-Lengths: strong hash length ${c} is not 3..${strongHash.digestLength} for ${strongHash.name.toUpperCase()}`);
  return { fileSize, blockSize, seqMatches: s, weakBytes: r, strongBytes: c, strongHash };
}

/** The whole-file hash: File-Hash SHA-256, else File-Hash SHA-1, else the SHA-1 header. */
function readFileDigest(fields: ZsyncFields): FileDigest {
  let fileDigest: FileDigest | undefined;
  for (const value of fields.fileHashes) {
    const colon = value.indexOf(':');
    const alg = colon > 0 ? fileHashNamed(value.slice(0, colon)) : undefined;
    if (!alg) continue; // an algorithm gosync does not know; another header may still give one
    const digest = parseHex('File-Hash', value.slice(colon + 1), alg.length);
    if (!fileDigest || (fileDigest.algorithm === 'sha1' && alg.algorithm === 'sha256')) fileDigest = { algorithm: alg.algorithm, digest };
  }
  const sha1 = fields.single.get('SHA-1');
  if (sha1 !== undefined) {
    const digest = parseHex('SHA-1', sha1, 20);
    fileDigest ??= { algorithm: 'sha1', digest };
  }
  if (!fileDigest)
    throw unsupported(
      'it has no whole-file hash gosync knows (SHA-1, or File-Hash with SHA-1 or SHA-256), so the result could not be verified',
    );
  return fileDigest;
}

/**
 * Reads the checksum section, whose exact size follows from the header: checked before
 * anything sized by it is allocated.
 */
function readRecords(
  data: Uint8Array,
  recordsAt: number,
  blockCount: number,
  shape: Pick<ZsyncShape, 'weakBytes' | 'strongBytes'>,
  zMap2: boolean,
): { weak: Uint32Array; strong: Uint8Array } {
  const { weakBytes, strongBytes } = shape;
  const record = weakBytes + strongBytes;
  const expected = blockCount * record;
  const actual = data.length - recordsAt;
  // zsyncmake 0.6.2's look-inside mode appends junk records: one from a stray "\n" written
  // into its temporary sums file, one more (a zero block) when the uncompressed length is a
  // multiple of the block size. zsync reads `blocks` records and ignores them; so do we,
  // for such files only.
  const zsyncmakeJunk = zMap2 && actual > expected && actual - expected <= 2 * record && (actual - expected) % record === 0;
  if (expected !== actual && !zsyncmakeJunk) {
    throw corrupt(
      `its header declares ${blockCount} blocks (${expected} bytes of checksums) but ${actual} bytes follow the header (${actual < expected ? 'truncated' : 'trailing data'})`,
    );
  }
  const weak = new Uint32Array(blockCount);
  const strong = new Uint8Array(blockCount * strongBytes);
  for (let i = 0, p = recordsAt; i < blockCount; i++, p += record) {
    let w = 0;
    for (let k = 0; k < weakBytes; k++) w = (w << 8) | data[p + k]!;
    weak[i] = w >>> 0;
  }
  gatherFields(data, recordsAt + weakBytes, record, strongBytes, blockCount, strong);
  return { weak, strong };
}

// ---------------------------------------------------------------------------------------
// Writing

/** zsyncmake 0.6.2's default block size: 2048 bytes below 100,000,000 bytes, else 4096. */
export function zsyncBlockSize(fileSize: number): number {
  return fileSize < 100_000_000 ? 2048 : 4096;
}

/**
 * zsyncmake 0.6.2's hash lengths for a file (its own formulas, natural logs and C integer
 * division included), so that a `.zsync` written here has the same `Hash-Lengths` and
 * size as zsyncmake's.
 */
export function zsyncHashLengths(fileSize: number, blockSize: number): HashLengths {
  if (!(fileSize > 0)) throw new RangeError(`zsync hash lengths need a file size above 0, not ${fileSize}`);
  // gosync's defaults are zsyncmake's formulas; zsync stores at most 16 bytes of MD4.
  const l = defaultHashLengths(fileSize, blockSize);
  return { ...l, strongBytes: Math.min(16, l.strongBytes) };
}

/** Options of {@link ZsyncBuilder}. */
export interface ZsyncBuilderOptions {
  /** Exact length of the file; `end()` fails if a different amount was pushed. Must be above 0. */
  fileSize: number;
  /** A power of two (default {@link zsyncBlockSize}, as zsyncmake). */
  blockSize?: number;
  /** `URL` headers: where clients fetch the file (absolute, or relative to the .zsync's URL). */
  urls?: readonly string[];
  /** `Filename` header: the suggested output name (no `/`). */
  filename?: string;
  /** `MTime` header: the file's modification time (clients give it to their output). */
  mtime?: Date;
  /** Override the hash lengths (default {@link zsyncHashLengths}); strong bytes 3..16. */
  hashLengths?: Partial<HashLengths>;
  /**
   * Also write `File-Hash: SHA-256:<hex>` (listed in `Safe:` so that zsync 0.6.2 accepts
   * it). Newer zsync clients and gosync then verify with SHA-256 instead of SHA-1.
   */
  sha256?: boolean;
}

/** `Sat, 02 Mar 2024 10:00:00 +0000`: zsyncmake's `%a, %d %b %Y %H:%M:%S %z` in UTC. */
export function formatMTime(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new RangeError('Cannot write the MTime header: invalid date');
  return date.toUTCString().replace(/GMT$/, '+0000');
}

function headerLine(name: string, value: string): string {
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new RangeError(`Cannot write the ${name} header: its value contains control characters`);
  const line = `${name}: ${value}`;
  if (Buffer.byteLength(line) > ZSYNC_062_LINE)
    throw new RangeError(`Cannot write the ${name} header: the line is over the ${ZSYNC_062_LINE} bytes zsync 0.6.2 reads`);
  return `${line}\n`;
}

/** The header of a `.zsync` as far as it is known before the file is read. */
export interface ZsyncPlan extends HashLengths {
  fileSize: number;
  blockSize: number;
  blockCount: number;
}

/**
 * Streaming `.zsync` writer: push the file's bytes in any chunking, then `end()` returns
 * the whole control file (header, then the block records). The header holds the file's
 * SHA-1, known only at the end, so the records (the size of the `.zsync` itself, a few
 * bytes per block) are kept until then; the file's data is not.
 *
 * The result follows zsyncmake 0.6.2 byte for byte (same header order, parameters, record
 * layout), so the real zsync client accepts it; with the same name, MTime and URL, the
 * two tools' outputs are identical.
 *
 * @example
 * ```ts
 * const b = new ZsyncBuilder({ fileSize: data.length, urls: ['app.bin'] });
 * b.push(data);
 * await writeFile('app.bin.zsync', b.end());
 * ```
 */
export class ZsyncBuilder {
  /** The parameters this file will have. */
  readonly plan: ZsyncPlan;
  readonly #options: ZsyncBuilderOptions;
  readonly #record: number;
  readonly #carry: Uint8Array;
  #carried = 0;
  #pushed = 0;
  readonly #records: Uint8Array[] = [];
  readonly #sha1: Hash = createHash('sha1');
  readonly #sha256: Hash | undefined;
  #ended = false;

  constructor(options: ZsyncBuilderOptions) {
    const { fileSize } = options;
    if (!Number.isSafeInteger(fileSize) || fileSize < 0)
      throw new RangeError(`Cannot build a .zsync: file size ${fileSize} is not a non-negative safe integer`);
    if (fileSize === 0) {
      throw new SyncError(
        ErrorCodes.INDEX_UNSUPPORTED,
        'Cannot write a .zsync of an empty file: zsync clients reject "Length: 0" (use the gosync index format for empty files)',
      );
    }
    const blockSize = options.blockSize ?? zsyncBlockSize(fileSize);
    if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0) {
      throw new RangeError(`Cannot build a .zsync: block size ${blockSize} is not a power of two from 1 to ${MAX_BLOCK_SIZE}`);
    }
    const lengths = { ...zsyncHashLengths(fileSize, blockSize), ...options.hashLengths };
    if (lengths.seqMatches !== 1 && lengths.seqMatches !== 2)
      throw new RangeError(`Cannot build a .zsync: sequential matches ${lengths.seqMatches as number} is not 1 or 2`);
    if (!(lengths.weakBytes >= 1 && lengths.weakBytes <= 4))
      throw new RangeError(`Cannot build a .zsync: rsum length ${lengths.weakBytes} is not 1..4`);
    if (!(lengths.strongBytes >= 3 && lengths.strongBytes <= 16))
      throw new RangeError(`Cannot build a .zsync: MD4 length ${lengths.strongBytes} is not 3..16 (zsync's limits)`);
    if (options.filename !== undefined && (options.filename === '' || options.filename.includes('/'))) {
      throw new RangeError(`Cannot build a .zsync: the Filename "${options.filename}" is empty or contains "/"`);
    }
    for (const url of options.urls ?? []) if (url === '') throw new RangeError('Cannot build a .zsync: a URL is empty');
    this.plan = { fileSize, blockSize, blockCount: blockCountOf(fileSize, blockSize), ...lengths };
    this.#options = options;
    this.#record = lengths.weakBytes + lengths.strongBytes;
    this.#carry = new Uint8Array(blockSize);
    this.#sha256 = options.sha256 ? createHash('sha256') : undefined;
    // Fail on a bad header value now, before any data is read.
    this.#header('0'.repeat(40), options.sha256 ? '0'.repeat(64) : undefined);
  }

  /** Total size in bytes of the control file. */
  get totalSize(): number {
    return Buffer.byteLength(this.#header('0'.repeat(40), this.#sha256 ? '0'.repeat(64) : undefined)) + this.plan.blockCount * this.#record;
  }

  #header(sha1Hex: string, sha256Hex: string | undefined): string {
    const o = this.#options;
    const p = this.plan;
    let h = `zsync: ${ZSYNC_WRITTEN_VERSION}\n`;
    if (sha256Hex !== undefined) h += 'Safe: File-Hash\n';
    if (o.filename !== undefined) h += headerLine('Filename', o.filename);
    if (o.mtime !== undefined) h += headerLine('MTime', formatMTime(o.mtime));
    h += `Blocksize: ${p.blockSize}\nLength: ${p.fileSize}\nHash-Lengths: ${p.seqMatches},${p.weakBytes},${p.strongBytes}\n`;
    for (const url of o.urls ?? []) h += headerLine('URL', url);
    h += `SHA-1: ${sha1Hex}\n`;
    if (sha256Hex !== undefined) h += `File-Hash: SHA-256:${sha256Hex}\n`;
    return `${h}\n`;
  }

  /** Writes the record of block `data[start, start + blockSize)` at `out[offset]`. */
  #recordOf(data: Uint8Array, start: number, out: Uint8Array, offset: number): void {
    const { blockSize, weakBytes, strongBytes } = this.plan;
    const w = weakChecksum(data, start, blockSize);
    // The last `weakBytes` of big-endian a_hi a_lo b_hi b_lo.
    for (let k = 0; k < weakBytes; k++) out[offset + k] = (w >>> (8 * (weakBytes - 1 - k))) & 0xff;
    md4Into(data, start, blockSize, out, offset + weakBytes, strongBytes);
  }

  /** Pushes the next bytes of the file. */
  push(chunk: Uint8Array): void {
    if (this.#ended) throw new Error('Cannot push data: the .zsync was already ended');
    const bs = this.plan.blockSize;
    if (this.#pushed + chunk.length > this.plan.fileSize) {
      throw new SyncError(
        ErrorCodes.SOURCE_CHANGED,
        `Cannot build the .zsync: the input is longer than the ${this.plan.fileSize} bytes announced (it changed while being read)`,
      );
    }
    this.#pushed += chunk.length;
    this.#sha1.update(chunk);
    this.#sha256?.update(chunk);
    const completed = Math.floor((this.#carried + chunk.length) / bs);
    if (completed === 0) {
      this.#carry.set(chunk, this.#carried);
      this.#carried += chunk.length;
      return;
    }
    const out = new Uint8Array(completed * this.#record);
    let o = 0;
    let p = 0;
    if (this.#carried > 0) {
      p = bs - this.#carried;
      this.#carry.set(chunk.subarray(0, p), this.#carried);
      this.#recordOf(this.#carry, 0, out, o);
      o += this.#record;
      this.#carried = 0;
    }
    for (; p + bs <= chunk.length; p += bs, o += this.#record) this.#recordOf(chunk, p, out, o);
    if (p < chunk.length) {
      this.#carry.set(chunk.subarray(p), 0);
      this.#carried = chunk.length - p;
    }
    this.#records.push(out);
  }

  /** Finishes: hashes the zero-padded last block and returns the whole control file. */
  end(): Uint8Array {
    if (this.#ended) throw new Error('Cannot end the .zsync twice');
    this.#ended = true;
    if (this.#pushed !== this.plan.fileSize) {
      throw new SyncError(
        ErrorCodes.SOURCE_CHANGED,
        `Cannot build the .zsync: read ${this.#pushed} bytes but the input was announced as ${this.plan.fileSize} (it changed while being read)`,
      );
    }
    if (this.#carried > 0) {
      this.#carry.fill(0, this.#carried);
      const last = new Uint8Array(this.#record);
      this.#recordOf(this.#carry, 0, last, 0);
      this.#records.push(last);
      this.#carried = 0;
    }
    const header = Buffer.from(this.#header(this.#sha1.digest('hex'), this.#sha256?.digest('hex')), 'utf8');
    const out = Buffer.concat([header, ...this.#records]);
    this.#records.length = 0;
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  }
}

/**
 * Builds a whole `.zsync` in memory from bytes or an async iterable of chunks.
 *
 * @example
 * ```ts
 * const zsync = await buildZsync(data, { fileSize: data.length, urls: ['https://example.com/app.bin'] });
 * ```
 */
export async function buildZsync(
  input: Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: ZsyncBuilderOptions & { signal?: AbortSignal },
): Promise<Uint8Array> {
  const b = new ZsyncBuilder(options);
  if (input instanceof Uint8Array) b.push(input);
  else {
    for await (const chunk of input) {
      throwIfAborted(options.signal);
      b.push(chunk);
    }
  }
  return b.end();
}
