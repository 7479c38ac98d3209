/**
 * What a session reports: the receiver's FINISH frame (what it changed), and the report
 * `push` and `pull` return (that, plus the bytes on the wire and the time).
 *
 * @module
 */
import { protocolError } from './binary.js';
import { parseJson } from './handshake.js';

/** Progress of a session: bytes of files the sender has read, or the receiver has written. */
export interface SyncProgress {
  phase: 'transfer' | 'commit';
  done: number;
  total: number;
}

/** The receiver's account of the session (the FINISH frame, JSON). */
export interface FinishReport {
  /** Regular files in the source. */
  files: number;
  /** Files whose content was sent (or would be, in a dry run). */
  changed: number;
  /** Entries removed (or that would be) with `delete`. */
  deleted: number;
  /** Bytes of the new files that came as literal data, and that were copied from old files. */
  literalBytes: number;
  matchedBytes: number;
  /** Bytes of the files sent (their new size). */
  transferredFileBytes: number;
  /** The receiver wrote nothing. */
  dryRun: boolean;
  /** Tree paths of the changed files ('' for the destination itself), at most {@link MAX_LISTED_PATHS}. */
  changedPaths: string[];
  /** Tree paths removed, at most {@link MAX_LISTED_PATHS}. */
  deletedPaths: string[];
}

/** Paths listed in a FINISH report (the counts are always complete). */
export const MAX_LISTED_PATHS = 5000;

/** What {@link push} and {@link pull} return. */
export interface SyncReport extends FinishReport {
  /** Bytes this end wrote to and read from the connection (what crossed the wire, before ssh). */
  bytesSent: number;
  bytesReceived: number;
  seconds: number;
}

function num(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw protocolError('read the FINISH frame', `"${field}" is not a count`);
  return v;
}

function paths(v: unknown, field: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > MAX_LISTED_PATHS || !v.every((p) => typeof p === 'string' && p.length <= 4096))
    throw protocolError('read the FINISH frame', `"${field}" is not a list of paths`);
  return v as string[];
}

/** Reads a FINISH payload from the peer (the receiver writes it with `encodeJson`), checking every field. */
export function parseFinish(payload: Uint8Array): FinishReport {
  const v = parseJson(payload, 'FINISH frame');
  return {
    files: num(v.files, 'files'),
    changed: num(v.changed, 'changed'),
    deleted: num(v.deleted, 'deleted'),
    literalBytes: num(v.literalBytes, 'literalBytes'),
    matchedBytes: num(v.matchedBytes, 'matchedBytes'),
    transferredFileBytes: num(v.transferredFileBytes, 'transferredFileBytes'),
    dryRun: v.dryRun === true,
    changedPaths: paths(v.changedPaths, 'changedPaths'),
    deletedPaths: paths(v.deletedPaths, 'deletedPaths'),
  };
}
