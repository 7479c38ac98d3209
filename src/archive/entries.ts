/**
 * The entries of an archive's payload and what a diff reuses of each: a tar inside a
 * gzip file (ustar, pax and GNU long names), or a zip archive. The names are only
 * reported, never used as paths.
 *
 * @module
 */
import { type FileHandle, open } from '../util/fs-promises.js';
import { ioError, throwIfAborted } from '../core/errors.js';
import { zipEntryRanges } from './zip.js';

/** Where one entry lies in a payload: its header and data, `start` to `end` (exclusive). */
export interface EntryRange {
  name: string;
  start: number;
  end: number;
}

const TAR_BLOCK = 512;
/** The most entries listed (a payload with more is reported without them). */
export const MAX_ENTRIES = 1_000_000;

/** A tar header's numeric field: octal digits, or base-256 when the top bit is set. */
function tarNumber(b: Buffer): number {
  if (b[0]! & 0x80) {
    let n = b[0]! & 0x7f;
    for (let i = 1; i < b.length; i++) n = n * 256 + b[i]!;
    return n;
  }
  const s = b
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .trim();
  return s === '' ? 0 : Number.parseInt(s, 8);
}

function tarString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.toString('utf8', 0, end < 0 ? b.length : end);
}

/** The `path` of a pax extended header's records, if any. */
function paxPath(data: Buffer): string | undefined {
  let p = 0;
  let path: string | undefined;
  while (p < data.length) {
    const space = data.indexOf(0x20, p);
    if (space < 0) break;
    const length = Number.parseInt(data.toString('latin1', p, space), 10);
    if (!Number.isSafeInteger(length) || length <= 0 || p + length > data.length) break;
    const record = data.toString('utf8', space + 1, p + length - 1);
    if (record.startsWith('path=')) path = record.slice(5);
    p += length;
  }
  return path;
}

/**
 * The entries of the tar archive at `path`: each from its first header (pax or GNU
 * long-name headers included) to the end of its padded data; the end-of-archive blocks are
 * left out. A problem when it is not a tar archive (no `ustar` magic, a bad checksum).
 */
export async function tarEntryRanges(path: string, signal?: AbortSignal): Promise<EntryRange[] | { problem: string }> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch {
    return { problem: 'it cannot be read' };
  }
  const read = async (length: number, position: number): Promise<Buffer> => {
    const buf = Buffer.alloc(length);
    try {
      const { bytesRead } = await fh.read(buf, 0, length, position);
      return buf.subarray(0, bytesRead);
    } catch (cause) {
      throw ioError('read', path, cause);
    }
  };
  try {
    const size = (await fh.stat()).size;
    const ranges: EntryRange[] = [];
    let pos = 0;
    let start = 0;
    let longName: string | undefined;
    while (pos + TAR_BLOCK <= size) {
      if ((ranges.length & 1023) === 0) throwIfAborted(signal);
      const h = await read(TAR_BLOCK, pos);
      if (h.every((b) => b === 0)) break;
      if (h.toString('latin1', 257, 262) !== 'ustar') return { problem: `no tar header at offset ${pos}` };
      let sum = 0;
      for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
      if (sum !== tarNumber(h.subarray(148, 156))) return { problem: `a damaged tar header at offset ${pos}` };
      const dataSize = tarNumber(h.subarray(124, 136));
      const type = String.fromCharCode(h[156]!);
      const next = pos + TAR_BLOCK + Math.ceil(dataSize / TAR_BLOCK) * TAR_BLOCK;
      if (!Number.isSafeInteger(next) || next > size) return { problem: `the tar entry at offset ${pos} runs past the end` };
      if (type === 'x' || type === 'L') {
        // Extended header: the name of the entry that follows.
        if (dataSize <= 1024 * 1024) {
          const data = await read(dataSize, pos + TAR_BLOCK);
          longName = type === 'L' ? tarString(data) : (paxPath(data) ?? longName);
        }
        pos = next;
        continue;
      }
      if (type === 'g') {
        pos = next;
        start = next;
        continue;
      }
      const prefix = tarString(h.subarray(345, 500));
      const name = longName ?? (prefix ? `${prefix}/${tarString(h.subarray(0, 100))}` : tarString(h.subarray(0, 100)));
      ranges.push({ name, start, end: next });
      if (ranges.length > MAX_ENTRIES) return { problem: `it has over ${MAX_ENTRIES} entries` };
      longName = undefined;
      pos = next;
      start = next;
    }
    return ranges;
  } finally {
    await fh.close();
  }
}

/** The entries of a payload of `kind` (a gzip payload is looked at as a tar archive). */
export function payloadEntries(kind: 'gzip' | 'zip', path: string, signal?: AbortSignal): Promise<EntryRange[] | { problem: string }> {
  return kind === 'zip' ? zipEntryRanges(path, signal) : tarEntryRanges(path, signal);
}

/** What a diff reuses of one entry of the local payload. */
export interface EntryReuse {
  name: string;
  /** Bytes of the entry in the local payload (header and data). */
  size: number;
  /** Bytes of it the new version reuses. */
  reusedBytes: number;
  /**
   * `reused`: all of it is in the new version (but for less than a block at either end,
   * where a block of the new version straddles into a neighbour that changed); `changed`:
   * part of it is; `gone`: none of it (removed, or changed throughout).
   */
  state: 'reused' | 'changed' | 'gone';
}

/**
 * Classifies each entry of a local payload by the byte ranges of it the new version
 * reuses (`used`, sorted or not, may overlap), with blocks of `blockSize` bytes.
 */
export function entryReuse(
  entries: readonly EntryRange[],
  used: readonly { start: number; end: number }[],
  blockSize: number,
): EntryReuse[] {
  // Merge the used ranges.
  const sorted = [...used].sort((a, b) => a.start - b.start);
  const merged: { start: number; end: number }[] = [];
  for (const r of sorted) {
    const last = merged[merged.length - 1];
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else merged.push({ ...r });
  }
  const out: EntryReuse[] = [];
  let k = 0;
  for (const e of entries) {
    while (k < merged.length && merged[k]!.end <= e.start) k++;
    let reused = 0;
    let gapInside = false;
    let at = e.start;
    for (let j = k; j < merged.length && merged[j]!.start < e.end; j++) {
      const s = Math.max(e.start, merged[j]!.start);
      const t = Math.min(e.end, merged[j]!.end);
      if (s > at && at > e.start) gapInside = true;
      if (s - e.start >= blockSize && s > at) gapInside = true;
      reused += t - s;
      at = t;
    }
    if (reused > 0 && e.end - at >= blockSize) gapInside = true;
    const size = e.end - e.start;
    const state = reused === 0 ? 'gone' : gapInside ? 'changed' : 'reused';
    out.push({ name: e.name, size, reusedBytes: reused, state });
  }
  return out;
}
