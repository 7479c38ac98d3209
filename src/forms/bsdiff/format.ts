/**
 * The file layout of a bsdiff-class delta (all integers little-endian):
 *
 * ```
 * "GSBD"  magic
 * u8      version: 1 or 2, which says the order of the streams in the file
 * u8      diff stream codec: 0 zstd, 1 the context-mixing model of diff-model.ts, 2 zstd of
 *         the runs form of runs.ts
 * u64     old size, u64 new size
 * u64     compressed length of the control, diff and extra streams (three u64, in this order
 *         whatever the version)
 * ...     the three streams back to back, nothing after: control and extra one zstd frame
 *         each, diff one zstd frame or the model's arithmetic code. Version 1: control, diff,
 *         extra. Version 2: control, extra, diff.
 * ```
 *
 * The order matters to a client that applies the delta while it downloads (apply.ts's
 * applyBsdiffDeltaChunks): every stream is consumed from its start, roughly in proportion to
 * the output, so the smaller streams come first and the largest last; then the apply waits
 * only for the small ones (bun 1.4.4 → 1.4.5: control 267 kB and extra 260 kB before a diff
 * of 3.40 MB) instead of for the whole file. The encoder writes version 2 when the diff
 * stream is the largest, else version 1 (extra the largest, as on text).
 *
 * bsdiff compresses with bzip2; here each stream is zstd at a high level with a window as
 * large as the stream (up to 2^27, the window a default zstd decoder accepts) and long
 * distance matching, which finds the repeats of the extra bytes far apart.
 *
 * Encoding memory: the old and new files, the suffix array (4 bytes per old byte), made in a
 * WebAssembly memory beside copies of both files (1 + 1) and type flags (1/4), the
 * uncompressed diff and extra streams there (up to 1 byte per new byte each), then the runs
 * form and zstd's tables: about 11.6 bytes per byte of old for a new file of the same size
 * (bun 1.4.4 → 1.4.5, 107 MB: 1,186 MiB peak and 46 s, bsdiff 4.3 944 MB and 72 s; 915 MB
 * when the suffix array and the scan ran as JavaScript, without the copies, and the whole
 * `build --base` took 91.0 s on the same machine instead of 47.3).
 */
import { constants, zstdCompressSync } from 'node:zlib';
import { ErrorCodes, SyncError } from '../../core/errors.js';
import { bsdiffStreams } from './diff.js';
import { encodeDiffStream } from './diff-model.js';
import { encodeRuns } from './runs.js';

export const BSDIFF_MAGIC = 'GSBD';
/** The version written when the streams are in the order control, diff, extra. */
export const BSDIFF_VERSION = 1;
/** The version written when the streams are in the order control, extra, diff. */
export const BSDIFF_VERSION_DIFF_LAST = 2;
export const BSDIFF_HEADER_SIZE = 4 + 2 + 5 * 8;
/** How the diff stream is coded. */
export const DiffCodec = { zstd: 0, model: 1, runs: 2 } as const;
export type DiffCodecName = keyof typeof DiffCodec;
const CODEC_NAMES: readonly DiffCodecName[] = ['zstd', 'model', 'runs'];
/**
 * The largest new file whose diff stream 'auto' codes with the model; larger ones get 'runs'.
 * The model halves the delta of a relinked executable (esbuild 0.25.0 → 0.25.1, 10 MB: 117 kB
 * against 233 kB in runs) but decodes at about 16 MB/s where runs apply at several hundred:
 * up to 16 MiB that is at most about 1 s (1.7 s when it ran as JavaScript, which set the
 * limit), less than a slow link (1 Mbit/s) takes for the bytes saved; above, the delta is large enough for runs to be the better trade (bun 1.4.4 → 1.4.5,
 * 107 MB: 3.93 MB in runs, under bsdiff's 4.23 MB, applied in well under a second, against
 * 2.84 MB and 13 s of decoding with the model). On text (typescript.js, jquery) the model gains nothing.
 */
export const MODEL_MAX_NEW_SIZE = 16 << 20;
/** The largest zstd window a delta may use: what a stock zstd decoder accepts by default. */
export const BSDIFF_WINDOW_LOG_MAX = 27;

/** The header and the three compressed streams of a delta. */
export interface BsdiffDelta extends BsdiffHeader {
  control: Uint8Array;
  diff: Uint8Array;
  extra: Uint8Array;
}

/** What the first {@link BSDIFF_HEADER_SIZE} bytes of a delta say. */
export interface BsdiffHeader {
  diffCodec: DiffCodecName;
  oldSize: number;
  newSize: number;
  /** The streams in the order the file holds them, each with its compressed length. */
  layout: readonly { stream: BsdiffStreamName; length: number }[];
  /** The size of the whole delta: the header and the three streams. */
  totalSize: number;
}

export type BsdiffStreamName = 'control' | 'diff' | 'extra';

/** Options of {@link encodeBsdiffDelta}. */
export interface EncodeBsdiffOptions {
  /** zstd level of the streams, 1 to 22 (default 19). */
  level?: number;
  /**
   * How to code the diff stream: 'model' (about half the size of zstd's on executables, slow to
   * apply), 'runs' (zstd over zero runs: fast), 'zstd', or 'auto' (the default): the model up to
   * `modelMaxNewSize` bytes of new data, 'runs' above.
   */
  diffCodec?: DiffCodecName | 'auto';
  /** The largest new file 'auto' codes with the model (default {@link MODEL_MAX_NEW_SIZE}). */
  modelMaxNewSize?: number;
}

function compress(data: Uint8Array, level: number): Uint8Array {
  const windowLog = Math.min(BSDIFF_WINDOW_LOG_MAX, Math.max(10, Math.ceil(Math.log2(data.length + 1))));
  const out = zstdCompressSync(data, {
    params: {
      [constants.ZSTD_c_compressionLevel]: level,
      [constants.ZSTD_c_windowLog]: windowLog,
      [constants.ZSTD_c_enableLongDistanceMatching]: data.length > 1 << 20 ? 1 : 0,
      [constants.ZSTD_c_checksumFlag]: 0,
      [constants.ZSTD_c_dictIDFlag]: 0,
    },
  });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** The delta turning `old` into `next`, in the layout above. */
export function encodeBsdiffDelta(old: Uint8Array, next: Uint8Array, options: EncodeBsdiffOptions = {}): Uint8Array {
  const level = options.level ?? 19;
  const streams = bsdiffStreams(old, next);
  const control = compress(streams.control, level);
  const chosen = options.diffCodec ?? 'auto';
  const diffCodec: DiffCodecName =
    chosen !== 'auto' ? chosen : next.length <= (options.modelMaxNewSize ?? MODEL_MAX_NEW_SIZE) ? 'model' : 'runs';
  const diff =
    diffCodec === 'model'
      ? encodeDiffStream(old, streams.control, streams.diff, next.length)
      : compress(diffCodec === 'runs' ? encodeRuns(streams.diff) : streams.diff, level);
  const extra = compress(streams.extra, level);
  const out = new Uint8Array(BSDIFF_HEADER_SIZE + control.length + diff.length + extra.length);
  const view = new DataView(out.buffer);
  const diffLast = diff.length > extra.length;
  out.set(Buffer.from(BSDIFF_MAGIC, 'latin1'), 0);
  out[4] = diffLast ? BSDIFF_VERSION_DIFF_LAST : BSDIFF_VERSION;
  out[5] = DiffCodec[diffCodec];
  const fields = [old.length, next.length, control.length, diff.length, extra.length];
  for (const [i, value] of fields.entries()) view.setBigUint64(6 + 8 * i, BigInt(value), true);
  let at = BSDIFF_HEADER_SIZE;
  for (const part of diffLast ? [control, extra, diff] : [control, diff, extra]) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function corrupt(state: string): SyncError {
  return new SyncError(ErrorCodes.DELTA_CORRUPT, `Cannot read the bsdiff delta: ${state}`);
}

/** Limits checked by {@link decodeBsdiffDelta} before anything is allocated. */
export interface DecodeBsdiffOptions {
  /** The largest new size accepted (default 2^40). */
  maxNewSize?: number;
}

/**
 * The header of a delta, checked (magic, version, codec, sizes within limits), from its first
 * {@link BSDIFF_HEADER_SIZE} bytes at least.
 */
export function decodeBsdiffHeader(delta: Uint8Array, options: DecodeBsdiffOptions = {}): BsdiffHeader {
  if (delta.length < BSDIFF_HEADER_SIZE) throw corrupt(`it has ${delta.length} bytes, less than a header`);
  if (Buffer.from(delta.subarray(0, 4)).toString('latin1') !== BSDIFF_MAGIC) throw corrupt('it does not start with GSBD');
  const version = delta[4];
  if (version !== BSDIFF_VERSION && version !== BSDIFF_VERSION_DIFF_LAST)
    throw corrupt(`version ${version} is not ${BSDIFF_VERSION} or ${BSDIFF_VERSION_DIFF_LAST}`);
  const codec = delta[5]!;
  const diffCodec = CODEC_NAMES[codec];
  if (diffCodec === undefined) throw corrupt(`diff codec ${codec} is unknown`);
  const view = new DataView(delta.buffer, delta.byteOffset, delta.byteLength);
  const field = (i: number): number => {
    const value = view.getBigUint64(6 + 8 * i, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(`a header field is ${value}`);
    return Number(value);
  };
  const oldSize = field(0);
  const newSize = field(1);
  const maxNewSize = options.maxNewSize ?? 2 ** 40;
  if (newSize > maxNewSize) throw corrupt(`the new size ${newSize} is over the limit ${maxNewSize}`);
  const [control, diff, extra] = [field(2), field(3), field(4)];
  const totalSize = BSDIFF_HEADER_SIZE + control + diff + extra;
  if (!Number.isSafeInteger(totalSize)) throw corrupt(`the header describes ${totalSize} bytes`);
  const layout =
    version === BSDIFF_VERSION_DIFF_LAST
      ? [
          { stream: 'control' as const, length: control },
          { stream: 'extra' as const, length: extra },
          { stream: 'diff' as const, length: diff },
        ]
      : [
          { stream: 'control' as const, length: control },
          { stream: 'diff' as const, length: diff },
          { stream: 'extra' as const, length: extra },
        ];
  return { diffCodec, oldSize, newSize, layout, totalSize };
}

/**
 * The header and the streams of a delta (subarrays of `delta`, still compressed), checked:
 * magic, version, sizes within limits, and stream lengths that add up to the file exactly.
 */
export function decodeBsdiffDelta(delta: Uint8Array, options: DecodeBsdiffOptions = {}): BsdiffDelta {
  const header = decodeBsdiffHeader(delta, options);
  if (header.totalSize !== delta.length) throw corrupt(`the header describes ${header.totalSize} bytes, the file has ${delta.length}`);
  const streams: Record<BsdiffStreamName, Uint8Array> = { control: delta, diff: delta, extra: delta };
  let at = BSDIFF_HEADER_SIZE;
  for (const { stream, length } of header.layout) {
    streams[stream] = delta.subarray(at, at + length);
    at += length;
  }
  return { ...header, ...streams };
}
