/**
 * Validators and conditional requests for the static server (RFC 9110 §8.8, §13): the
 * strong ETag of a file, `If-Match` / `If-Unmodified-Since` (412),
 * `If-None-Match` / `If-Modified-Since` (304), and `If-Range`.
 *
 * @module
 */

import type { BigIntStats } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';

/** What identifies the served version of a file. */
export interface Validators {
  /** The strong entity-tag, quotes included. */
  etag: string;
  /** The modification time in whole seconds (Last-Modified's precision). */
  mtimeSeconds: number;
}

/** The validators of a file: a strong ETag from size and mtime (nanoseconds; no inode number: it would tell about the host), and its mtime in seconds. */
export function validatorsOf(st: BigIntStats): Validators {
  return {
    etag: `"${st.size.toString(16)}-${st.mtimeNs.toString(16)}"`,
    mtimeSeconds: Math.floor(Number(st.mtimeMs) / 1000),
  };
}

/** Splits an `If-None-Match` / `If-Match` list into entity-tags (`*` stays `*`); stops at the first malformed element. */
export function parseEtagList(value: string): string[] {
  const tags: string[] = [];
  const re = /\s*(\*|(?:W\/)?"[^"]*")\s*(?:,|$)/gy;
  for (let m = re.exec(value); m !== null && m[0] !== ''; m = re.exec(value)) tags.push(m[1]!);
  return tags;
}

/** Weak comparison: opaque tags equal, ignoring `W/`. */
export function weakMatch(a: string, b: string): boolean {
  return a.replace(/^W\//, '') === b.replace(/^W\//, '');
}

/** Strong comparison: both strong and equal. */
export function strongMatch(a: string, b: string): boolean {
  return !a.startsWith('W/') && !b.startsWith('W/') && a === b;
}

/** Parses an HTTP-date; NaN when invalid. */
function parseHttpDate(value: string): number {
  return /^\s*$/.test(value) ? NaN : Date.parse(value);
}

/** What the conditional headers decided (RFC 9110 §13.2.2). */
export type Precondition = 'proceed' | 'not-modified' | 'failed';

/**
 * Evaluates the preconditions in RFC 9110's order: `If-Match` (or, without it,
 * `If-Unmodified-Since`) can fail the request; then `If-None-Match` (or, without it,
 * `If-Modified-Since`) can make it a 304. An unparsable date is ignored.
 */
export function evaluatePreconditions(headers: IncomingHttpHeaders, v: Validators): Precondition {
  const modifiedMs = v.mtimeSeconds * 1000;
  const ifMatch = headers['if-match'];
  if (ifMatch !== undefined) {
    if (!parseEtagList(ifMatch).some((t) => t === '*' || strongMatch(t, v.etag))) return 'failed';
  } else if (headers['if-unmodified-since'] !== undefined) {
    const date = parseHttpDate(headers['if-unmodified-since']);
    if (!Number.isNaN(date) && modifiedMs > date) return 'failed';
  }
  const ifNoneMatch = headers['if-none-match'];
  if (ifNoneMatch !== undefined) {
    if (parseEtagList(ifNoneMatch).some((t) => t === '*' || weakMatch(t, v.etag))) return 'not-modified';
  } else if (headers['if-modified-since'] !== undefined) {
    const date = parseHttpDate(headers['if-modified-since']);
    if (!Number.isNaN(date) && modifiedMs <= date) return 'not-modified';
  }
  return 'proceed';
}

/**
 * True when `If-Range` (absent, an entity-tag, or an HTTP-date) lets the Range apply.
 * An entity-tag must match strongly; a date must equal Last-Modified to the second.
 */
export function ifRangeAllows(value: string | undefined, v: Validators): boolean {
  if (value === undefined) return true;
  const trimmed = value.trim();
  if (trimmed.startsWith('"') || trimmed.startsWith('W/')) return strongMatch(trimmed, v.etag);
  const date = parseHttpDate(trimmed);
  return !Number.isNaN(date) && date === v.mtimeSeconds * 1000;
}
