/**
 * librsync signatures (`rdiff signature`): reading them into a {@link BlockIndex} for the
 * matcher, and writing the same bytes rdiff 2.3.2 writes. Checked byte by byte against
 * `/usr/bin/rdiff` (librsync 2.3.2).
 *
 *     offset  size  field (big-endian)
 *     0       4     magic: 0x72730136 rollsum + MD4, 0x72730137 rollsum + BLAKE2b-256,
 *                          0x72730146 RabinKarp + MD4, 0x72730147 RabinKarp + BLAKE2b-256 (rdiff's default)
 *     4       4     block_len
 *     8       4     strong_len (1..16 for MD4, 1..32 for BLAKE2)
 *     12      …     per block of the basis: weak sum (4), the first strong_len bytes of the strong hash
 *
 * Blocks are consecutive; the last one may be short and is hashed **unpadded**. No block
 * count, file length or whole-file hash is stored: the count is derived from the size.
 *
 * librsync's two weak sums, for a window `x[0..n−1]`:
 * - **rollsum** (Adler-like): `s1 = Σ (x[i] + 31)`, `s2 = Σ (n − i)·(x[i] + 31)`, both
 *   mod 2^16, stored as `s2 << 16 | s1`. gosync's rollsum (`a = Σ x`, `b = Σ (n − i)·x`,
 *   `a << 16 | b`) is the same sum without the offset: `a = s1 − 31n`,
 *   `b = s2 − 31·n(n+1)/2` (mod 2^16).
 * - **RabinKarp**: `h = M^n + Σ x[i]·M^(n−1−i)` mod 2^32, `M = 0x08104225` (src/rollsum/rabin-karp.ts).
 *
 * The engine stores weak sums of the last block zero-padded to the block size: for a last
 * block of `m` bytes, `b' = b + (B − m)·a` (rollsum) and `h' = h·M^(B−m)` (RabinKarp).
 *
 * @module
 */
import { ErrorCodes, SyncError } from '../core/errors.js';
import { blake2b256 } from '../core/hashing/blake2b.js';
import { md4 } from '../core/hashing/md4.js';
import { bytesEqual, type StrongHash } from '../core/hashing/strong-hash.js';
import { NO_FILE_DIGEST, type BlockIndex } from '../core/index/block-index.js';
import { DEFAULT_MAX_INDEX_BYTES } from '../core/index/format.js';
import { MAX_BLOCK_SIZE } from '../core/index/params.js';
import { RK_MULT, rabinKarpBlockSums, rabinKarpChecksum, rkPower } from '../core/rabin-karp.js';
import { weakChecksum, weakChecksumBlocks } from '../core/rollsum.js';
import { gatherFields, scatterFields } from '../core/index/fields.js';

/** Signature magic: rollsum + MD4 (librsync < 1.0; fast_rsync). */
export const RS_MD4_SIG_MAGIC = 0x72730136;
/** Signature magic: rollsum + BLAKE2b-256 (librsync 1.0 – 2.1 default). */
export const RS_BLAKE2_SIG_MAGIC = 0x72730137;
/** Signature magic: RabinKarp + MD4. */
export const RS_RK_MD4_SIG_MAGIC = 0x72730146;
/** Signature magic: RabinKarp + BLAKE2b-256 (librsync ≥ 2.2 default). */
export const RS_RK_BLAKE2_SIG_MAGIC = 0x72730147;
/** Delta magic. */
export const RS_DELTA_MAGIC = 0x72730236;

/** Bytes before the first block record. */
export const LIBRSYNC_SIG_HEADER_SIZE = 12;
/** Largest block length read or written: the matcher's limit (as for every index format). */
export const LIBRSYNC_MAX_BLOCK_LENGTH = MAX_BLOCK_SIZE;
/** rdiff's block length when the basis size is unknown (read from a pipe). */
export const LIBRSYNC_DEFAULT_BLOCK_LENGTH = 2048;
/** rdiff's `-S -1` strong length when the basis size is unknown (observed with rdiff 2.3.2). */
export const LIBRSYNC_UNKNOWN_SIZE_MIN_STRONG = 12;

/** librsync's weak (rolling) sums. */
export type LibrsyncRollsum = 'rollsum' | 'rabinkarp';
/** librsync's strong hashes: MD4, or BLAKE2b with a 32-byte digest. */
export type LibrsyncHash = 'md4' | 'blake2';

/** Full digest length of a strong hash: the largest `strong_len`. */
export function librsyncMaxStrongLength(hash: LibrsyncHash): number {
  return hash === 'md4' ? 16 : 32;
}

/** The signature magic for a weak sum and strong hash. */
export function librsyncSignatureMagic(hash: LibrsyncHash, rollsum: LibrsyncRollsum): number {
  return (hash === 'md4' ? RS_MD4_SIG_MAGIC : RS_BLAKE2_SIG_MAGIC) + (rollsum === 'rabinkarp' ? 0x10 : 0);
}

/** The weak sum and strong hash of a signature magic; `undefined` for any other number. */
export function describeLibrsyncMagic(magic: number): { hash: LibrsyncHash; rollsum: LibrsyncRollsum } | undefined {
  switch (magic) {
    case RS_MD4_SIG_MAGIC:
      return { hash: 'md4', rollsum: 'rollsum' };
    case RS_BLAKE2_SIG_MAGIC:
      return { hash: 'blake2', rollsum: 'rollsum' };
    case RS_RK_MD4_SIG_MAGIC:
      return { hash: 'md4', rollsum: 'rabinkarp' };
    case RS_RK_BLAKE2_SIG_MAGIC:
      return { hash: 'blake2', rollsum: 'rabinkarp' };
    default:
      return undefined;
  }
}

/** The {@link StrongHash} of a librsync hash name. */
export function librsyncStrongHash(hash: LibrsyncHash): StrongHash {
  return hash === 'md4' ? md4 : blake2b256;
}

/** True when `data` starts with one of the four signature magics. */
export function isLibrsyncSignature(data: Uint8Array): boolean {
  return data.length >= 4 && describeLibrsyncMagic(readU32(data, 0)) !== undefined;
}

function readU32(data: Uint8Array, p: number): number {
  return ((data[p]! << 24) | (data[p + 1]! << 16) | (data[p + 2]! << 8) | data[p + 3]!) >>> 0;
}

function writeU32(out: Uint8Array, p: number, v: number): void {
  out[p] = v >>> 24;
  out[p + 1] = (v >>> 16) & 0xff;
  out[p + 2] = (v >>> 8) & 0xff;
  out[p + 3] = v & 0xff;
}

// ---------------------------------------------------------------------------------------
// Weak sums

/** `31·n(n+1)/2 mod 2^16`, the offset librsync's rollsum adds to `s2` (exact for any safe n). */
function rollsumS2Offset(n: number): number {
  const t = n % 2 === 0 ? ((n / 2) % 65536) * ((n + 1) % 65536) : (n % 65536) * (((n + 1) / 2) % 65536);
  return (31 * (t % 65536)) % 65536;
}

/** librsync's rollsum digest (`s2 << 16 | s1`) from gosync's `a << 16 | b` over `n` bytes. */
export function librsyncRollsumFromWeak(weak: number, n: number): number {
  const s1 = ((weak >>> 16) + 31 * (n % 65536)) & 0xffff;
  const s2 = ((weak & 0xffff) + rollsumS2Offset(n)) & 0xffff;
  return ((s2 << 16) | s1) >>> 0;
}

/** gosync's `a << 16 | b` from librsync's rollsum digest (`s2 << 16 | s1`) over `n` bytes. */
export function weakFromLibrsyncRollsum(digest: number, n: number): number {
  const a = ((digest & 0xffff) - 31 * (n % 65536) + 0x10000 * 32) & 0xffff;
  const b = ((digest >>> 16) - rollsumS2Offset(n) + 0x10000) & 0xffff;
  return ((a << 16) | b) >>> 0;
}

/** librsync's rollsum digest of `data[start, start + length)`. */
export function librsyncRollsum(data: Uint8Array, start = 0, length = data.length - start): number {
  return librsyncRollsumFromWeak(weakChecksum(data, start, length), length);
}

/** librsync's weak sum (`rollsum` or `rabinkarp`) of `data[start, start + length)`, as stored in signatures. */
export function librsyncWeakSum(rollsum: LibrsyncRollsum, data: Uint8Array, start = 0, length = data.length - start): number {
  return rollsum === 'rabinkarp' ? rabinKarpChecksum(data, start, length) : librsyncRollsum(data, start, length);
}

/**
 * A stored weak sum of an `n`-byte block, in the engine's form for a block zero-padded to
 * `blockLength` (`weakAlgorithm` of the index: `rollsum` as gosync's `a << 16 | b`).
 */
export function librsyncWeakToPadded(rollsum: LibrsyncRollsum, stored: number, n: number, blockLength: number): number {
  if (rollsum === 'rabinkarp') return n === blockLength ? stored >>> 0 : Math.imul(stored, rkPower(blockLength - n)) >>> 0;
  const w = weakFromLibrsyncRollsum(stored, n);
  if (n === blockLength) return w;
  const a = w >>> 16;
  const b = ((w & 0xffff) + ((blockLength - n) % 65536) * a) & 0xffff;
  return ((a << 16) | b) >>> 0;
}

// ---------------------------------------------------------------------------------------
// Parameters

/** Options of a signature, as rdiff's `-H`, `-R`, `-b`, `-S`. */
export interface LibrsyncSignatureOptions {
  /** Strong hash (`-H`): `blake2` (default) or `md4`. */
  hash?: LibrsyncHash;
  /** Weak sum (`-R`): `rabinkarp` (default) or `rollsum`. */
  rollsum?: LibrsyncRollsum;
  /** Block length (`-b`), 1 B – 16 MiB; 0 or absent: rdiff's recommendation for the basis size. */
  blockLength?: number;
  /**
   * Strong sum length (`-S`): 0 or absent for the full digest (32 BLAKE2, 16 MD4), −1 for
   * rdiff's minimum for the basis size, else 1 up to the full digest.
   */
  strongLength?: number;
}

/** What a signature is written with. */
export interface LibrsyncSignatureParams {
  magic: number;
  hash: LibrsyncHash;
  rollsum: LibrsyncRollsum;
  blockLength: number;
  strongLength: number;
}

/** ⌊log2 n⌋ for n ≥ 1 (0 for n ≤ 1), as librsync's `rs_long_ln2`. */
function ln2(n: number): number {
  let r = 0;
  let v = Math.floor(n);
  while (v >= 2) {
    v = Math.floor(v / 2);
    r++;
  }
  return r;
}

/** ⌊√n⌋, exact for safe integers. */
function isqrt(n: number): number {
  let r = Math.floor(Math.sqrt(n));
  while (r * r > n) r--;
  while ((r + 1) * (r + 1) <= n) r++;
  return r;
}

/** rdiff's recommended block length: 256 up to 64 KiB, then ⌊√size⌋ rounded down to a multiple of 128; 2048 when the size is unknown. */
export function librsyncRecommendedBlockLength(basisSize: number | undefined): number {
  if (basisSize === undefined) return LIBRSYNC_DEFAULT_BLOCK_LENGTH;
  if (basisSize <= 256 * 256) return 256;
  return isqrt(basisSize) - (isqrt(basisSize) % 128);
}

/**
 * rdiff's minimum strong length (`-S -1`): `2 + (⌊log2(size + 2^24)⌋ + ⌊log2(⌊size / block⌋ + 1)⌋ + 7) / 8`
 * (integer division); 12 when the size is unknown.
 */
export function librsyncMinStrongLength(basisSize: number | undefined, blockLength: number): number {
  if (basisSize === undefined) return LIBRSYNC_UNKNOWN_SIZE_MIN_STRONG;
  return 2 + Math.floor((ln2(basisSize + 2 ** 24) + ln2(Math.floor(basisSize / blockLength) + 1) + 7) / 8);
}

/**
 * The parameters rdiff 2.3.2 would write a signature with, for a basis of `basisSize`
 * bytes (`undefined`: unknown, as for a pipe). Throws RangeError for values rdiff refuses
 * or gosync does not handle (a block over 16 MiB).
 */
export function librsyncSignatureParams(basisSize: number | undefined, options: LibrsyncSignatureOptions = {}): LibrsyncSignatureParams {
  const hash = options.hash ?? 'blake2';
  const rollsum = options.rollsum ?? 'rabinkarp';
  if (hash !== 'blake2' && hash !== 'md4')
    throw new RangeError(`Cannot make a librsync signature: hash "${String(hash)}" is not blake2 or md4`);
  if (rollsum !== 'rabinkarp' && rollsum !== 'rollsum')
    throw new RangeError(`Cannot make a librsync signature: rollsum "${String(rollsum)}" is not rabinkarp or rollsum`);
  if (basisSize !== undefined && !(Number.isSafeInteger(basisSize) && basisSize >= 0))
    throw new RangeError(`Cannot make a librsync signature: basis size ${basisSize} is not a non-negative integer`);
  const requestedBlock = options.blockLength ?? 0;
  if (!Number.isSafeInteger(requestedBlock) || requestedBlock < 0 || requestedBlock > LIBRSYNC_MAX_BLOCK_LENGTH) {
    throw new RangeError(
      `Cannot make a librsync signature: block length ${requestedBlock} is not 0 (recommended) or 1 to ${LIBRSYNC_MAX_BLOCK_LENGTH}`,
    );
  }
  const blockLength =
    requestedBlock === 0 ? Math.min(librsyncRecommendedBlockLength(basisSize), LIBRSYNC_MAX_BLOCK_LENGTH) : requestedBlock;
  const max = librsyncMaxStrongLength(hash);
  const requestedStrong = options.strongLength ?? 0;
  if (!Number.isSafeInteger(requestedStrong) || requestedStrong < -1 || requestedStrong > max) {
    throw new RangeError(
      `Cannot make a librsync signature: strong length ${requestedStrong} is not 0 (full), -1 (minimum) or 1 to ${max} for ${hash}`,
    );
  }
  const strongLength =
    requestedStrong === 0 ? max : requestedStrong === -1 ? Math.min(max, librsyncMinStrongLength(basisSize, blockLength)) : requestedStrong;
  return { magic: librsyncSignatureMagic(hash, rollsum), hash, rollsum, blockLength, strongLength };
}

// ---------------------------------------------------------------------------------------
// Writing

/**
 * Writes a signature as it is computed: `header()` once, then `push(chunk)` with the
 * basis in any chunking (each returns the records of the blocks it completed), then
 * `end()` (the short last block's record, if any).
 *
 * @example
 * ```ts
 * const b = new LibrsyncSignatureBuilder(librsyncSignatureParams(data.length));
 * const sig = Buffer.concat([b.header(), b.push(data), b.end()]);
 * ```
 */
export class LibrsyncSignatureBuilder {
  readonly params: LibrsyncSignatureParams;
  /** Blocks written so far. */
  blockCount = 0;
  /** Basis bytes consumed so far. */
  bytes = 0;
  readonly #hash: StrongHash;
  readonly #rk: boolean;
  readonly #carry: Uint8Array;
  #carried = 0;
  #ended = false;

  constructor(params: LibrsyncSignatureParams) {
    const d = describeLibrsyncMagic(params.magic);
    if (!d || d.hash !== params.hash || d.rollsum !== params.rollsum)
      throw new RangeError(
        `Cannot make a librsync signature: magic 0x${params.magic.toString(16)} does not match ${params.rollsum} + ${params.hash}`,
      );
    if (!Number.isSafeInteger(params.blockLength) || params.blockLength < 1 || params.blockLength > LIBRSYNC_MAX_BLOCK_LENGTH)
      throw new RangeError(`Cannot make a librsync signature: block length ${params.blockLength} is out of range`);
    if (!Number.isSafeInteger(params.strongLength) || params.strongLength < 1 || params.strongLength > librsyncMaxStrongLength(params.hash))
      throw new RangeError(`Cannot make a librsync signature: strong length ${params.strongLength} is out of range`);
    this.params = params;
    this.#hash = librsyncStrongHash(params.hash);
    this.#rk = params.rollsum === 'rabinkarp';
    this.#carry = new Uint8Array(params.blockLength);
  }

  /** Weak sums of a chunk's whole blocks, reused from chunk to chunk. */
  #weak = new Uint32Array(0);

  /** The 12-byte header. */
  header(): Uint8Array {
    const out = new Uint8Array(LIBRSYNC_SIG_HEADER_SIZE);
    writeU32(out, 0, this.params.magic);
    writeU32(out, 4, this.params.blockLength);
    writeU32(out, 8, this.params.strongLength);
    return out;
  }

  #record(data: Uint8Array, start: number, length: number, out: Uint8Array, p: number, weakGiven?: number): void {
    const weak =
      weakGiven ?? (this.#rk ? rabinKarpChecksum(data, start, length) : librsyncRollsumFromWeak(weakChecksum(data, start, length), length));
    writeU32(out, p, weak);
    this.#hash.hashInto(data, start, length, out, p + 4, this.params.strongLength);
    this.blockCount++;
  }

  /** Consumes the next basis bytes; returns the records of the blocks they complete. */
  push(chunk: Uint8Array): Uint8Array {
    if (this.#ended) throw new Error('Cannot push to a signature builder after end()');
    const bs = this.params.blockLength;
    const rec = 4 + this.params.strongLength;
    this.bytes += chunk.length;
    const total = this.#carried + chunk.length;
    const out = new Uint8Array(Math.floor(total / bs) * rec);
    let q = 0;
    let p = 0;
    if (this.#carried > 0) {
      const take = Math.min(bs - this.#carried, chunk.length);
      this.#carry.set(chunk.subarray(0, take), this.#carried);
      this.#carried += take;
      p = take;
      if (this.#carried < bs) return out;
      this.#record(this.#carry, 0, bs, out, q);
      q += rec;
      this.#carried = 0;
    }
    const whole = Math.floor((chunk.length - p) / bs);
    if (whole > 1) {
      // The weak sums of the chunk's whole blocks in one call (WebAssembly, either kind).
      if (this.#weak.length < whole) this.#weak = new Uint32Array(whole);
      const weak = this.#weak;
      if (this.#rk) rabinKarpBlockSums(chunk, p, whole, bs, weak);
      else {
        weakChecksumBlocks(chunk, p, whole, bs, weak);
        for (let k = 0; k < whole; k++) weak[k] = librsyncRollsumFromWeak(weak[k]!, bs);
      }
      for (let k = 0; k < whole; k++, p += bs, q += rec) this.#record(chunk, p, bs, out, q, weak[k]!);
    }
    for (; p + bs <= chunk.length; p += bs, q += rec) this.#record(chunk, p, bs, out, q);
    if (p < chunk.length) {
      this.#carry.set(chunk.subarray(p), 0);
      this.#carried = chunk.length - p;
    }
    return out;
  }

  /** Ends the basis; returns the record of its short last block (empty if none). */
  end(): Uint8Array {
    if (this.#ended) throw new Error('Cannot end a signature builder twice');
    this.#ended = true;
    if (this.#carried === 0) return new Uint8Array(0);
    const out = new Uint8Array(4 + this.params.strongLength);
    this.#record(this.#carry, 0, this.#carried, out, 0);
    return out;
  }
}

/**
 * The signature of `basis` in memory, byte-identical to `rdiff signature` with the same
 * options (`rdiff -b 16 -S 8 signature`: `{ blockLength: 16, strongLength: 8 }`).
 */
export function encodeLibrsyncSignature(basis: Uint8Array, options: LibrsyncSignatureOptions = {}): Uint8Array {
  const b = new LibrsyncSignatureBuilder(librsyncSignatureParams(basis.length, options));
  return new Uint8Array(Buffer.concat([b.header(), b.push(basis), b.end()]));
}

// ---------------------------------------------------------------------------------------
// Reading

/** A decoded librsync signature, values as stored. */
export interface LibrsyncSignature {
  magic: number;
  hash: LibrsyncHash;
  rollsum: LibrsyncRollsum;
  blockLength: number;
  strongLength: number;
  blockCount: number;
  /** Each block's weak sum as librsync computed it (the last block's over its real length). */
  weak: Uint32Array;
  /** `strongLength` bytes per block. */
  strong: Uint8Array;
}

/** Options of {@link decodeLibrsyncSignature}. */
export interface DecodeLibrsyncSignatureOptions {
  /** Refuse signatures larger than this many bytes (default 1 GiB). */
  maxBytes?: number;
}

function corrupt(reason: string): SyncError {
  return new SyncError(ErrorCodes.INDEX_CORRUPT, `Cannot read the librsync signature: ${reason}`);
}

/**
 * Decodes a librsync signature (any of the four magics). Throws INDEX_CORRUPT for a wrong
 * magic, a truncated header or record, a block length of 0 or a strong length out of
 * range for the hash; INDEX_UNSUPPORTED for a block length over 16 MiB.
 *
 * @example
 * ```ts
 * const sig = decodeLibrsyncSignature(await readFile('old.sig'));
 * console.log(sig.blockCount, sig.blockLength, sig.hash, sig.rollsum);
 * ```
 */
export function decodeLibrsyncSignature(data: Uint8Array, options: DecodeLibrsyncSignatureOptions = {}): LibrsyncSignature {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_INDEX_BYTES;
  if (data.length > maxBytes) throw corrupt(`it is ${data.length} bytes, over the limit of ${maxBytes}`);
  if (data.length < 4) throw corrupt(`it is ${data.length} bytes, shorter than the 4-byte magic number`);
  const magic = readU32(data, 0);
  const kind = describeLibrsyncMagic(magic);
  if (!kind) {
    if (magic === RS_DELTA_MAGIC) throw corrupt('it is a delta (magic 0x72730236), not a signature');
    throw corrupt(
      `the magic number 0x${magic.toString(16).padStart(8, '0')} is not one of a signature (0x72730136, 0x72730137, 0x72730146, 0x72730147)`,
    );
  }
  if (data.length < LIBRSYNC_SIG_HEADER_SIZE)
    throw corrupt(`it is ${data.length} bytes, shorter than the ${LIBRSYNC_SIG_HEADER_SIZE}-byte header`);
  const blockLength = readU32(data, 4);
  const strongLength = readU32(data, 8);
  if (blockLength === 0) throw corrupt('the block length is 0');
  if (blockLength > LIBRSYNC_MAX_BLOCK_LENGTH) {
    throw new SyncError(
      ErrorCodes.INDEX_UNSUPPORTED,
      `Cannot use the librsync signature: its block length ${blockLength} is over the ${LIBRSYNC_MAX_BLOCK_LENGTH} bytes gosync handles`,
    );
  }
  const max = librsyncMaxStrongLength(kind.hash);
  if (strongLength < 1 || strongLength > max)
    throw corrupt(`the strong sum length ${strongLength} is not 1 to ${max} (${kind.hash === 'md4' ? 'MD4' : 'BLAKE2'})`);
  const rec = 4 + strongLength;
  const body = data.length - LIBRSYNC_SIG_HEADER_SIZE;
  if (body % rec !== 0) throw corrupt(`its last block record is truncated (${body % rec} of ${rec} bytes)`);
  const blockCount = body / rec;
  const weak = new Uint32Array(blockCount);
  const strong = new Uint8Array(blockCount * strongLength);
  for (let i = 0, p = LIBRSYNC_SIG_HEADER_SIZE; i < blockCount; i++, p += rec) weak[i] = readU32(data, p);
  gatherFields(data, LIBRSYNC_SIG_HEADER_SIZE + 4, rec, strongLength, blockCount, strong);
  return { magic, ...kind, blockLength, strongLength, blockCount, weak, strong };
}

/** Encodes a decoded signature back to bytes (the inverse of {@link decodeLibrsyncSignature}). */
export function encodeLibrsyncSignatureRecords(sig: LibrsyncSignature): Uint8Array {
  const rec = 4 + sig.strongLength;
  const out = new Uint8Array(LIBRSYNC_SIG_HEADER_SIZE + sig.blockCount * rec);
  writeU32(out, 0, sig.magic);
  writeU32(out, 4, sig.blockLength);
  writeU32(out, 8, sig.strongLength);
  for (let i = 0, p = LIBRSYNC_SIG_HEADER_SIZE; i < sig.blockCount; i++, p += rec) writeU32(out, p, sig.weak[i]!);
  scatterFields(sig.strong, 0, sig.strongLength, sig.blockCount, out, LIBRSYNC_SIG_HEADER_SIZE + 4, rec);
  return out;
}

/** Options of {@link librsyncToBlockIndex}. */
export interface LibrsyncToBlockIndexOptions {
  /**
   * Length of the basis's last block, when known (the basis size minus
   * `(blockCount − 1)·blockLength`). A signature does not record it; by default the last
   * block is taken as a full one (exact when the basis is a multiple of the block
   * length), and a short last block is then found by {@link librsyncTailMatch} at the end
   * of the new file, where librsync matches it.
   */
  lastBlockLength?: number;
}

/**
 * Maps a signature onto the {@link BlockIndex} of the basis it describes, for the
 * matcher: one block per match, 4-byte weak sums in the engine's form (padded last
 * block), `strongLength`-byte prefixes of MD4 or BLAKE2b-256, the last block's strong
 * hash over its real bytes (`paddedLastBlock: false`), no whole-file digest.
 */
export function librsyncToBlockIndex(sig: LibrsyncSignature, options: LibrsyncToBlockIndexOptions = {}): BlockIndex {
  const { blockLength, blockCount } = sig;
  const lastLength = options.lastBlockLength ?? blockLength;
  if (!Number.isSafeInteger(lastLength) || lastLength < 1 || lastLength > blockLength) {
    throw new RangeError(`Cannot map the librsync signature: last block length ${lastLength} is not 1 to ${blockLength}`);
  }
  const weak = new Uint32Array(blockCount);
  for (let i = 0; i < blockCount; i++) {
    weak[i] = librsyncWeakToPadded(sig.rollsum, sig.weak[i]!, i === blockCount - 1 ? lastLength : blockLength, blockLength);
  }
  return {
    fileSize: blockCount === 0 ? 0 : (blockCount - 1) * blockLength + lastLength,
    blockSize: blockLength,
    blockCount,
    seqMatches: 1,
    weakBytes: 4,
    strongBytes: sig.strongLength,
    strongHash: librsyncStrongHash(sig.hash),
    weak,
    strong: sig.strong,
    fileDigest: { algorithm: NO_FILE_DIGEST, digest: new Uint8Array(0) },
    paddedLastBlock: false,
    weakAlgorithm: sig.rollsum,
  };
}

/**
 * The length of the longest suffix of `tail` (the end of the new file) that matches the
 * signature's last block by weak sum and strong hash, or 0. That is where librsync
 * matches a short last block: at the very end of the new file, its window shrinking to
 * the bytes left. Costs O(min(tail, blockLength)) plus a strong hash per weak hit.
 */
export function librsyncTailMatch(sig: LibrsyncSignature, tail: Uint8Array, start = 0, end = tail.length): number {
  if (sig.blockCount === 0) return 0;
  const last = sig.blockCount - 1;
  const want = sig.weak[last]!;
  const hash = librsyncStrongHash(sig.hash);
  const S = sig.strongLength;
  const digest = new Uint8Array(S);
  const maxLen = Math.min(sig.blockLength, end - start);
  const rk = sig.rollsum === 'rabinkarp';
  // Grow the suffix one byte to the left at a time, keeping its weak sum.
  let h = 1; // RabinKarp of the empty window (the seed)
  let pk = 1; // M^k
  let s1 = 0;
  let s2 = 0;
  let best = 0;
  for (let k = 1; k <= maxLen; k++) {
    const x = tail[end - k]!;
    let w: number;
    if (rk) {
      h = (h + Math.imul(pk, RK_MULT - 1 + x)) | 0;
      pk = Math.imul(pk, RK_MULT);
      w = h >>> 0;
    } else {
      s1 = (s1 + x + 31) & 0xffff;
      s2 = (s2 + (k % 65536) * (x + 31)) % 65536;
      w = ((s2 << 16) | s1) >>> 0;
    }
    if (w !== want) continue;
    hash.hashInto(tail, end - k, k, digest, 0, S);
    if (bytesEqual(digest, 0, sig.strong, last * S, S)) best = k;
  }
  return best;
}
