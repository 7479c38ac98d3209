/**
 * Byte ranges for the static server: parsing a `Range` header, and laying out the body that
 * answers it (the whole file, one range, or `multipart/byteranges`).
 *
 * Everything here is pure: the server decides *what* to send from these answers, then
 * streams the file pieces itself.
 *
 * ## The rules (RFC 9110 §14)
 *
 * - A malformed header, a unit other than `bytes`, or more than {@link MAX_RANGES}
 *   range-specs makes the server ignore the header and answer 200 with the whole file
 *   (the same as nginx's `max_ranges`).
 * - Ranges past the end are clipped; ranges starting at or past the end are dropped; when
 *   none is left the answer is 416.
 * - One satisfiable range answers a plain 206 with `Content-Range`.
 * - Several ranges answer `206 multipart/byteranges`. Ranges that are ascending and do not
 *   overlap are sent **exactly as asked**, one part each, even when adjacent (so a client
 *   gets the parts it asked for). Ranges that overlap or are out of order are sorted and
 *   merged (overlapping *and* adjacent ones), which bounds the answer to the file size; if
 *   that leaves a single range, it is sent as a plain 206.
 *
 * The multipart body is the RFC 9110 §14.6 layout: the first delimiter starts the body
 * (no leading CRLF, unlike nginx which sends one), then for every part
 * `--B CRLF Content-Type CRLF Content-Range CRLF CRLF <bytes> CRLF`, and finally `--B--`.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';

/** The most range-specs one `Range` header may hold; more and the header is ignored (200). */
export const MAX_RANGES = 200;

/** A closed byte range `[start, end]` (both inclusive, as in `Content-Range`). */
export interface InclusiveRange {
  start: number;
  end: number;
}

/** The outcome of {@link parseRange}. */
export type RangeParseResult =
  /** Ignore the header and send the whole representation (malformed, other unit, too many ranges). */
  | { kind: 'ignore' }
  /** No range is satisfiable: 416. */
  | { kind: 'unsatisfiable' }
  /** Send these ranges (already clipped, and merged when they overlapped or were out of order). */
  | { kind: 'ranges'; ranges: InclusiveRange[] };

const RANGE_SPEC = /^(\d*)-(\d*)$/;

/**
 * What one range-spec means against `size` bytes: a range, nothing to send (`skip`: past the
 * end, or `-0`), a non-empty suffix of an empty file (`empty-suffix`), or a malformed spec.
 */
type SpecResult = InclusiveRange | 'skip' | 'empty-suffix' | 'malformed';

function parseSpec(spec: string, size: number): SpecResult {
  const m = RANGE_SPEC.exec(spec);
  if (m === null) return 'malformed';
  const [, first = '', last = ''] = m;
  if (first === '') {
    if (last === '') return 'malformed';
    const suffix = Number(last);
    if (suffix === 0) return 'skip';
    if (size === 0) return 'empty-suffix';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? Infinity : Number(last);
  if (end < start) return 'malformed';
  if (start >= size) return 'skip';
  return { start, end: Math.min(end, size - 1) };
}

/**
 * Parses a `Range` header value against a representation of `size` bytes (RFC 9110 §14.1.2).
 *
 * - The unit must be `bytes` (case-insensitive); the list may have optional whitespace and
 *   empty elements (`bytes=0-1, ,5-6`), as the `#rule` allows.
 * - `a-b` with `b < a`, `-`, signs, or non-digits make the whole header malformed: ignored.
 * - More than `maxRanges` specs: ignored.
 * - `a-` runs to the end; `-n` is the last `n` bytes (`-0` is unsatisfiable); `b` past the
 *   end is clipped; `a` at or past the end is unsatisfiable.
 * - A zero-length file: a suffix range with non-zero length is "satisfiable" but has no
 *   bytes to send, so it answers as `ignore` (200, empty body); anything else is unsatisfiable.
 */
export function parseRange(header: string, size: number, maxRanges = MAX_RANGES): RangeParseResult {
  const eq = header.indexOf('=');
  if (eq < 0 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return { kind: 'ignore' };
  const specs = header
    .slice(eq + 1)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (specs.length === 0 || specs.length > maxRanges) return { kind: 'ignore' };

  const ranges: InclusiveRange[] = [];
  let emptySuffix = false;
  for (const spec of specs) {
    const result = parseSpec(spec, size);
    if (result === 'malformed') return { kind: 'ignore' };
    if (result === 'empty-suffix') emptySuffix = true;
    else if (result !== 'skip') ranges.push(result);
  }
  if (ranges.length === 0) return emptySuffix ? { kind: 'ignore' } : { kind: 'unsatisfiable' };
  return { kind: 'ranges', ranges: normalizeRanges(ranges) };
}

/**
 * Keeps ranges as asked when they are ascending and disjoint; otherwise sorts them and
 * merges overlapping and adjacent ones (RFC 9110 §14.2 lets a server coalesce, and doing so
 * stops a request for the same bytes many times from multiplying the answer).
 */
export function normalizeRanges(ranges: InclusiveRange[]): InclusiveRange[] {
  let orderly = true;
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i]!.start <= ranges[i - 1]!.end) {
      orderly = false;
      break;
    }
  }
  if (orderly) return ranges;
  const sorted = [...ranges].sort((a, b) => a.start - b.start || a.end - b.end);
  const merged: InclusiveRange[] = [{ ...sorted[0]! }];
  for (const r of sorted.slice(1)) {
    const lastRange = merged[merged.length - 1]!;
    if (r.start <= lastRange.end + 1) lastRange.end = Math.max(lastRange.end, r.end);
    else merged.push({ ...r });
  }
  return merged;
}

/** One piece of a response body: literal bytes, or a byte range of the file. */
export type BodyPiece = { bytes: Buffer } | { range: InclusiveRange };

/** The number of body bytes `pieces` make. */
export function piecesLength(pieces: readonly BodyPiece[]): number {
  let n = 0;
  for (const p of pieces) n += 'bytes' in p ? p.bytes.length : p.range.end - p.range.start + 1;
  return n;
}

/** A fresh multipart boundary: random, so that no file content can contain it by chance. */
export function randomBoundary(): string {
  return `gosync-${randomBytes(16).toString('hex')}`;
}

/**
 * The body of a `multipart/byteranges` answer (RFC 9110 §14.6): the first delimiter starts
 * the body, each part has its Content-Type and Content-Range, and the close delimiter ends it.
 */
export function multipartPieces(ranges: readonly InclusiveRange[], size: number, boundary: string): BodyPiece[] {
  const pieces: BodyPiece[] = [];
  ranges.forEach((r, i) => {
    const partHead =
      `${i === 0 ? '' : '\r\n'}--${boundary}\r\n` +
      'Content-Type: application/octet-stream\r\n' +
      `Content-Range: bytes ${r.start}-${r.end}/${size}\r\n\r\n`;
    pieces.push({ bytes: Buffer.from(partHead, 'latin1') }, { range: r });
  });
  pieces.push({ bytes: Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1') });
  return pieces;
}

/** How to answer a GET (or HEAD) whose Range is satisfiable or ignored: status, headers and body. */
export interface RangeAnswer {
  status: 200 | 206;
  contentType: string;
  /** The `Content-Range` of a single-range 206. */
  contentRange?: string;
  pieces: BodyPiece[];
  /** The `Content-Length`: {@link piecesLength} of `pieces`. */
  length: number;
}

/**
 * Lays out the answer to `result` for a file of `size` bytes: the whole file (200), one
 * range (206), or several as multipart (206, with a boundary from `boundary`).
 */
export function rangeAnswer(
  result: Exclude<RangeParseResult, { kind: 'unsatisfiable' }>,
  size: number,
  boundary: () => string = randomBoundary,
): RangeAnswer {
  const octets = 'application/octet-stream';
  if (result.kind === 'ignore') {
    const pieces: BodyPiece[] = size === 0 ? [] : [{ range: { start: 0, end: size - 1 } }];
    return { status: 200, contentType: octets, pieces, length: size };
  }
  const [only] = result.ranges;
  if (result.ranges.length === 1 && only !== undefined) {
    const pieces: BodyPiece[] = [{ range: only }];
    return {
      status: 206,
      contentType: octets,
      contentRange: `bytes ${only.start}-${only.end}/${size}`,
      pieces,
      length: piecesLength(pieces),
    };
  }
  const b = boundary();
  const pieces = multipartPieces(result.ranges, size, b);
  return { status: 206, contentType: `multipart/byteranges; boundary=${b}`, pieces, length: piecesLength(pieces) };
}
