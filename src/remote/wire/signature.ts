/**
 * Signatures of the receiver's old files (the basis), as the receiver sends them and the
 * sender reads them: librsync's RabinKarp weak sum and MD4 strong sum per block (the
 * records of `rdiff signature`), built by {@link LibrsyncSignatureBuilder} and matched by
 * {@link LibrsyncDeltaGenerator}.
 *
 * SIG payload: `varint file index, u8 flags, u8 algorithm (1: RabinKarp + MD4), varint
 * basis size, varint block length, u8 strong length`, then whole records (4-byte weak
 * sum, `strong length` bytes of MD4); SIG_MORE frames carry the rest of the records. The
 * record count follows from the basis size, so the sender knows how many bytes to
 * expect, and refuses a signature over its limit before allocating it. The sender keeps
 * only signatures worth their memory ({@link SignatureAssembler}'s `admit`): the records
 * of any other are read and dropped, and the file is sent whole.
 *
 * @module
 */
import {
  LibrsyncSignatureBuilder,
  librsyncSignatureMagic,
  type LibrsyncSignature,
  type LibrsyncSignatureParams,
} from '../../formats/librsync-signature.js';
import { MAX_BLOCK_SIZE } from '../../core/index/params.js';
import { ByteReader, ByteWriter, protocolError } from './binary.js';
import { MAX_FRAME_PAYLOAD } from './frames.js';
import { gatherFields } from '../../core/index/fields.js';

/** SIG flag: the sender must answer with the delta at once (no REFINE). */
export const SIG_FINAL = 1;
/** SIG flag: the answer to a REFINE; the basis is the ranges it named, end to end. */
export const SIG_REFINED = 2;
/** SIG flag: the file failed verification once; this is the second and last try. */
export const SIG_REDO = 4;
const KNOWN_FLAGS = SIG_FINAL | SIG_REFINED | SIG_REDO;

/** The one signature algorithm of protocol version 1. */
export const SIG_RABINKARP_MD4 = 1;

/** Largest signature the sender accepts (bytes of records). */
export const MAX_SIGNATURE_BYTES = 256 * 1024 * 1024;

/** rsync's smallest block (`BLOCK_SIZE`) and largest (`MAX_BLOCK_SIZE` of protocol 30). */
const RSYNC_MIN_BLOCK = 700;
const RSYNC_MAX_BLOCK = 128 * 1024;

/** rsync's block length for a basis of `size` bytes: 700, or about √size (a multiple of 8), at most 128 KiB. */
export function rsyncBlockLength(size: number): number {
  if (size <= RSYNC_MIN_BLOCK * RSYNC_MIN_BLOCK) return RSYNC_MIN_BLOCK;
  const b = Math.floor(Math.sqrt(size));
  return Math.min(RSYNC_MAX_BLOCK, b - (b % 8));
}

/**
 * rsync's strong sum length (`sum_sizes_sqroot`): enough bits that a false match over the
 * whole file is unlikely, 2 to 16 bytes. A false match is caught by the whole-file
 * SHA-256 and the file is sent again with full-length sums.
 */
export function rsyncStrongLength(size: number, blockLength: number): number {
  let b = 10;
  for (let l = Math.floor(size / 2); l > 0; l = Math.floor(l / 2)) b += 2;
  for (let c = blockLength >> 1; c > 0 && b > 0; c >>= 1) b--;
  return Math.min(16, Math.max(2, Math.floor((b + 1 - 32 + 7) / 8)));
}

/** What a signature is made of. */
export interface SignatureSpec {
  blockLength: number;
  strongLength: number;
}

/**
 * The first signature of a basis of `size` bytes: blocks of twice rsync's length (half
 * its signature bytes: what unrelated and identical files cost), rsync's strong length.
 * Where it leaves literal data between matches, the sender asks for a finer one
 * ({@link refineSpec}). `redo`, the retry after a failed verification: full MD4 sums.
 *
 * Measured (signature + delta after brotli, with refinement): typescript 5.5.4 → 5.6.2
 * folder 666 kB (rsync-sized blocks, one round: 971 kB; √size/4 blocks: 828 kB); 32 MiB
 * of random data with 16 edits 118 kB (one round: 223–237 kB); an unrelated 32 MiB
 * file 33,574,959 B (rsync-sized: 33,598,135 B); esbuild 0.25.0 → 0.25.1 2.65 MB.
 */
export function signatureSpec(size: number, kind: 'normal' | 'redo' = 'normal'): SignatureSpec {
  const blockLength = Math.min(MAX_BLOCK_SIZE, 2 * rsyncBlockLength(size));
  return { blockLength, strongLength: kind === 'redo' ? 16 : rsyncStrongLength(size, blockLength) };
}

/** Smallest block of a refined signature. */
export const MIN_REFINED_BLOCK = 128;

/**
 * The second signature, of `size` bytes of unmatched ranges, after a first one in
 * `firstBlock`-byte blocks: a sixteenth of the block (at least 128 bytes).
 */
export function refineSpec(size: number, firstBlock: number): SignatureSpec {
  const blockLength = Math.max(MIN_REFINED_BLOCK, Math.floor(firstBlock / 16));
  return { blockLength, strongLength: rsyncStrongLength(size, blockLength) };
}

/** Smallest block length of a signature the sender keeps: a refined signature's, the smallest gosync sends. */
export const MIN_KEPT_BLOCK = MIN_REFINED_BLOCK;
/** Smallest strong sum of a signature the sender keeps: rsync's and gosync's (2 bytes). */
export const MIN_KEPT_STRONG = 2;
/**
 * Blocks a kept signature may have whatever the size of the file it is matched against:
 * what a first signature of a 16 GiB basis has (64 Ki blocks of 256 KiB).
 */
export const KEEP_BLOCKS_FLOOR = 65_536;

/**
 * Whether the sender keeps a signature of `head` to match `scanBytes` bytes against it
 * (the file, or a first round's literal data for a refined one). Not kept: blocks or
 * sums shorter than gosync ever sends, a first signature in blocks under a quarter of
 * those {@link signatureSpec} gives its basis, or more blocks than twice what
 * `scanBytes` can hold (at least {@link KEEP_BLOCKS_FLOOR}). Such a signature costs
 * more memory than it can save bytes: the file goes whole instead. Bounds a kept
 * signature's blocks by about 2√(2·scanBytes) (90,000 for a 1 GiB file) whatever the
 * peer claims its basis is.
 */
export function worthKeeping(head: SignatureHead, scanBytes: number): boolean {
  if (head.blockCount === 0) return true;
  if (head.blockLength < MIN_KEPT_BLOCK || head.strongLength < MIN_KEPT_STRONG) return false;
  if ((head.flags & SIG_REFINED) === 0 && head.blockLength < Math.floor(signatureSpec(head.basisSize).blockLength / 4)) return false;
  return head.blockCount <= Math.max(KEEP_BLOCKS_FLOOR, 2 * Math.ceil(scanBytes / head.blockLength) + 2);
}

/** Bytes of kept signatures one sending session holds at most: the receiver's window (64 MiB) and one more signature. */
export const SESSION_SIGNATURE_BYTES = 80 * 1024 * 1024;
/** Bytes of kept signatures all the sending sessions of a process hold at most. */
export const PROCESS_SIGNATURE_BYTES = 128 * 1024 * 1024;

/** Bytes of kept signatures, counted against a limit: a signature that would go over is not kept. */
export class SignatureBudget {
  readonly limit: number;
  #used = 0;

  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`Cannot make a signature budget of ${limit} bytes`);
    this.limit = limit;
  }

  /** Bytes taken and not yet released. */
  get used(): number {
    return this.#used;
  }

  /** Takes `bytes` if they fit; false (nothing taken) otherwise. */
  take(bytes: number): boolean {
    if (this.#used + bytes > this.limit) return false;
    this.#used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
  }
}

const processBudget = new SignatureBudget(PROCESS_SIGNATURE_BYTES);

/** The budget every sender of this process shares by default ({@link PROCESS_SIGNATURE_BYTES}). */
export function processSignatureBudget(): SignatureBudget {
  return processBudget;
}

/** librsync parameters of a spec. */
export function librsyncParams(spec: SignatureSpec): LibrsyncSignatureParams {
  return {
    magic: librsyncSignatureMagic('md4', 'rabinkarp'),
    hash: 'md4',
    rollsum: 'rabinkarp',
    blockLength: spec.blockLength,
    strongLength: spec.strongLength,
  };
}

/** A signature as the receiver built it. */
export interface BuiltSignature {
  spec: SignatureSpec;
  /** Bytes of basis read. */
  basisSize: number;
  /** The records, end to end. */
  records: Uint8Array;
}

/** Builds a signature from the basis bytes, pushed in any chunking. */
export class SignatureMaker {
  readonly spec: SignatureSpec;
  readonly #builder: LibrsyncSignatureBuilder;
  readonly #parts: Uint8Array[] = [];

  constructor(spec: SignatureSpec) {
    this.spec = spec;
    this.#builder = new LibrsyncSignatureBuilder(librsyncParams(spec));
  }

  push(chunk: Uint8Array): void {
    const r = this.#builder.push(chunk);
    if (r.length > 0) this.#parts.push(r);
  }

  end(): BuiltSignature {
    const last = this.#builder.end();
    if (last.length > 0) this.#parts.push(last);
    return { spec: this.spec, basisSize: this.#builder.bytes, records: Buffer.concat(this.#parts) };
  }
}

/** The SIG and SIG_MORE payloads of a signature (each at most one frame). */
export function encodeSignature(index: number, flags: number, sig: BuiltSignature): { first: Uint8Array; more: Uint8Array[] } {
  const head = new ByteWriter(32)
    .varint(index)
    .u8(flags)
    .u8(SIG_RABINKARP_MD4)
    .varint(sig.basisSize)
    .varint(sig.spec.blockLength)
    .u8(sig.spec.strongLength)
    .finish();
  const rec = 4 + sig.spec.strongLength;
  const perFrame = Math.floor((MAX_FRAME_PAYLOAD - 64) / rec) * rec;
  const firstRecords = sig.records.subarray(0, Math.min(sig.records.length, perFrame));
  const first = new Uint8Array(head.length + firstRecords.length);
  first.set(head, 0);
  first.set(firstRecords, head.length);
  const more: Uint8Array[] = [];
  for (let p = firstRecords.length; p < sig.records.length; p += perFrame)
    more.push(sig.records.subarray(p, Math.min(sig.records.length, p + perFrame)));
  return { first, more };
}

/** A signature request as the sender receives it. */
export interface SignatureRequest {
  index: number;
  flags: number;
  basisSize: number;
  /** The blocks kept: none (`blockCount` 0) when `admit` did not keep them. */
  signature: LibrsyncSignature;
  /** Bytes of records kept in memory (0 when they were dropped). */
  keptBytes: number;
}

/** A signature's header, checked, before any record is read or memory is allocated for them. */
export interface SignatureHead {
  index: number;
  flags: number;
  basisSize: number;
  blockLength: number;
  strongLength: number;
  /** Blocks the records describe. */
  blockCount: number;
  /** Bytes they take in memory if kept (weak and strong sums). */
  bytes: number;
}

/**
 * Decides from its header whether a signature is kept (true) or its records dropped as
 * they come (false: the file is answered without it); may throw to refuse it.
 */
export type SignatureAdmit = (head: SignatureHead) => boolean;

/**
 * Reassembles signatures from SIG and SIG_MORE frames on the sender, checking every
 * field: the flags and algorithm known, the block length 1 B – 16 MiB, the strong length
 * 1–16, the records exactly as many as the basis size implies, and their total within
 * {@link MAX_SIGNATURE_BYTES}. Then `admit` (default: keep all) sees the header before
 * anything is allocated: a kept signature's records are decoded straight into its weak
 * and strong sums as they come; a dropped one's are only counted.
 */
export class SignatureAssembler {
  readonly #admit: SignatureAdmit;
  #pending:
    | {
        head: Omit<SignatureRequest, 'signature' | 'keptBytes'>;
        blockLength: number;
        strongLength: number;
        blockCount: number;
        /** The sums, when kept. */
        weak: Uint32Array | undefined;
        strong: Uint8Array | undefined;
        /** Records read so far. */
        have: number;
      }
    | undefined;

  constructor(options: { admit?: SignatureAdmit } = {}) {
    this.#admit = options.admit ?? (() => true);
  }

  /** Feeds a SIG payload; returns the request when it is complete. */
  first(payload: Uint8Array): SignatureRequest | undefined {
    if (this.#pending) throw protocolError('read a SIG frame', 'it starts a signature before the previous one is complete');
    const r = new ByteReader(payload, 'a SIG frame');
    const index = r.varint('file index', 0xffffffff);
    const flags = r.u8('flags');
    if ((flags & ~KNOWN_FLAGS) !== 0) throw protocolError('read a SIG frame', `it has the unknown flags 0x${flags.toString(16)}`);
    const algorithm = r.u8('algorithm');
    if (algorithm !== SIG_RABINKARP_MD4) throw protocolError('read a SIG frame', `the signature algorithm ${algorithm} is unknown`);
    const basisSize = r.varint('basis size');
    const blockLength = r.varint('block length', MAX_BLOCK_SIZE);
    if (blockLength === 0) throw protocolError('read a SIG frame', 'the block length is 0');
    const strongLength = r.u8('strong length');
    if (strongLength < 1 || strongLength > 16)
      throw protocolError('read a SIG frame', `the strong sum length ${strongLength} is not 1 to 16`);
    const blocks = Math.ceil(basisSize / blockLength);
    const total = blocks * (4 + strongLength);
    if (total > MAX_SIGNATURE_BYTES)
      throw protocolError(
        'read a SIG frame',
        `the signature of a ${basisSize}-byte basis in ${blockLength}-byte blocks would be ${total} bytes, over the limit of ${MAX_SIGNATURE_BYTES}`,
      );
    const keep = this.#admit({ index, flags, basisSize, blockLength, strongLength, blockCount: blocks, bytes: total });
    this.#pending = {
      head: { index, flags, basisSize },
      blockLength,
      strongLength,
      blockCount: blocks,
      weak: keep ? new Uint32Array(blocks) : undefined,
      strong: keep ? new Uint8Array(blocks * strongLength) : undefined,
      have: 0,
    };
    return this.#add(r.rest(), 'SIG');
  }

  /** Feeds a SIG_MORE payload; returns the request when it is complete. */
  more(payload: Uint8Array): SignatureRequest | undefined {
    if (!this.#pending) throw protocolError('read a SIG_MORE frame', 'no signature is in progress');
    return this.#add(payload, 'SIG_MORE');
  }

  /** True while a signature is partly received. */
  get busy(): boolean {
    return this.#pending !== undefined;
  }

  #add(data: Uint8Array, what: string): SignatureRequest | undefined {
    const p = this.#pending!;
    const rec = 4 + p.strongLength;
    if (data.length % rec !== 0)
      throw protocolError(`read a ${what} frame`, `it holds ${data.length} bytes of records, not a whole number of ${rec}-byte records`);
    const count = data.length / rec;
    if (p.have + count > p.blockCount)
      throw protocolError(`read a ${what} frame`, `it holds more records than a ${p.head.basisSize}-byte basis has blocks`);
    const { weak, strong } = p;
    if (weak && strong) {
      const S = p.strongLength;
      for (let i = 0, o = 0, b = p.have; i < count; i++, o += rec, b++) {
        weak[b] = ((data[o]! << 24) | (data[o + 1]! << 16) | (data[o + 2]! << 8) | data[o + 3]!) >>> 0;
      }
      gatherFields(data, 4, rec, S, count, strong, p.have * S);
    }
    p.have += count;
    if (p.have < p.blockCount) return undefined;
    this.#pending = undefined;
    const kept = weak !== undefined && strong !== undefined;
    const signature: LibrsyncSignature = {
      magic: librsyncSignatureMagic('md4', 'rabinkarp'),
      hash: 'md4',
      rollsum: 'rabinkarp',
      blockLength: p.blockLength,
      strongLength: p.strongLength,
      blockCount: kept ? p.blockCount : 0,
      weak: weak ?? new Uint32Array(0),
      strong: strong ?? new Uint8Array(0),
    };
    return { ...p.head, signature, keptBytes: kept ? p.blockCount * rec : 0 };
  }
}
