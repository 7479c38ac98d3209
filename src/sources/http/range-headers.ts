/**
 * Formatting of `Range` request headers and parsing of `Content-Range` response headers
 * (RFC 9110 §14). Ranges here are half-open `[start, end)`; the wire format is inclusive.
 *
 * @module
 */

import type { ByteRange } from '../../core/block-source.js';

/** A parsed `Content-Range: bytes a-b/total` value, as a half-open range. */
export interface ContentRange {
  /** First byte offset sent. */
  readonly start: number;
  /** One past the last byte offset sent. */
  readonly end: number;
  /** The full length of the resource, or undefined for `/*`. */
  readonly total: number | undefined;
}

const CONTENT_RANGE = /^bytes[ \t]+(\d{1,16})-(\d{1,16})\/(\d{1,16}|\*)$/i;
const UNSATISFIED_RANGE = /^bytes[ \t]+\*\/(\d{1,16})$/i;

/**
 * Formats ranges as a `Range` header value, e.g. `bytes=0-9,20-29` for `[0,10)` and `[20,30)`.
 */
export function formatRangeHeader(ranges: readonly ByteRange[]): string {
  return `bytes=${ranges.map(formatRangeSpec).join(',')}`;
}

/** The wire form `a-b` of one range (inclusive end). */
export function formatRangeSpec(range: ByteRange): string {
  return `${range.start}-${range.end - 1}`;
}

/**
 * Parses a `Content-Range` value of a 206 answer or of a multipart part. Returns undefined
 * when the value is missing, malformed or self-contradictory (end before start, end past total).
 */
export function parseContentRange(value: string | undefined): ContentRange | undefined {
  const match = value === undefined ? null : CONTENT_RANGE.exec(value.trim());
  if (match === null) return undefined;
  const start = Number(match[1]);
  const last = Number(match[2]);
  const total = match[3] === '*' ? undefined : Number(match[3]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(last) || last < start) return undefined;
  if (total !== undefined && (!Number.isSafeInteger(total) || last >= total)) return undefined;
  return { start, end: last + 1, total };
}

/** Parses the `bytes *\/total` form that comes with a 416 answer; undefined if absent. */
export function parseUnsatisfiedRange(value: string | undefined): number | undefined {
  const match = value === undefined ? null : UNSATISFIED_RANGE.exec(value.trim());
  if (match === null) return undefined;
  const total = Number(match[1]);
  return Number.isSafeInteger(total) ? total : undefined;
}
