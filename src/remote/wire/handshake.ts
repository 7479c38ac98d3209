/**
 * The start of a session (docs/protocol.md#handshake). Both ends send a 16-byte greeting
 * at once, without waiting:
 *
 *     offset  size  field
 *     0       8     magic: 0x89 "GOSYNC" 0x0a
 *     8       2     highest protocol version spoken (u16 BE)
 *     10      2     lowest protocol version spoken (u16 BE)
 *     12      1     role: 1 client, 2 server
 *     13      1     flags: bit 0 read-only (a server that refuses to receive)
 *     14      2     reserved, 0
 *
 * The session speaks the highest version both ends know; when there is none, both ends
 * stop with a PROTOCOL error naming both ranges. Then the client sends HELLO (what to do,
 * and where) and the server answers WELCOME, or ERROR when it refuses.
 *
 * @module
 */
import { ErrorCodes, SyncError } from '../../core/errors.js';
import { type FilterRule, checkRules } from '../../localfs/filter.js';
import { protocolError } from './binary.js';

/**
 * The highest protocol version this build speaks. Version 2: the sender's stream is zstd
 * instead of brotli (docs/protocol.md#frames); everything else is as in version 1.
 */
export const PROTOCOL_VERSION = 2;
/** The first protocol version whose sender's stream is zstd. */
export const ZSTD_VERSION = 2;
/** The oldest protocol version this build speaks. */
export const MIN_PROTOCOL_VERSION = 1;
/** Bytes of a greeting. */
export const GREETING_SIZE = 16;
/** The first 8 bytes of every session, each way. */
export const MAGIC = Uint8Array.from([0x89, 0x47, 0x4f, 0x53, 0x59, 0x4e, 0x43, 0x0a]);

/** Which end of the connection: the one that ran `push`/`pull`, or `serve --stdio`. */
export type Role = 'client' | 'server';

/** The protocol versions an end speaks. */
export interface VersionRange {
  maxVersion: number;
  minVersion: number;
}

/** What a greeting says. */
export interface Greeting {
  role: Role;
  maxVersion: number;
  minVersion: number;
  readOnly: boolean;
}

const ROLE_CODE: Record<Role, number> = { client: 1, server: 2 };

/** The greeting this end sends. */
export function encodeGreeting(g: Greeting): Uint8Array {
  const out = new Uint8Array(GREETING_SIZE);
  out.set(MAGIC, 0);
  out[8] = g.maxVersion >>> 8;
  out[9] = g.maxVersion & 0xff;
  out[10] = g.minVersion >>> 8;
  out[11] = g.minVersion & 0xff;
  out[12] = ROLE_CODE[g.role];
  out[13] = g.readOnly ? 1 : 0;
  return out;
}

/** Printable text of bytes a peer sent instead of a greeting (for the error message). */
function printable(data: Uint8Array): string {
  let s = '';
  for (const b of data.subarray(0, 200))
    s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : b === 0x0a ? '\\n' : `\\x${b.toString(16).padStart(2, '0')}`;
  return s;
}

function versions(max: number, min: number): string {
  return max === min ? `version ${max}` : `versions ${min} to ${max}`;
}

/**
 * Reads the peer's greeting. Throws PROTOCOL when the bytes are not a gosync greeting
 * (for example a login banner or a shell error printed on stdout), or come from an end of
 * the same role.
 */
export function decodeGreeting(data: Uint8Array, expected: Role): Greeting {
  for (let i = 0; i < MAGIC.length; i++) {
    if (data[i] !== MAGIC[i]) {
      const hint =
        expected === 'server'
          ? ': check that the remote command runs gosync (--remote-cmd) and that the login prints nothing on stdout'
          : '';
      throw protocolError(
        'start the session',
        `the ${expected === 'server' ? 'remote end' : 'client'} sent "${printable(data)}" instead of gosync's greeting${hint}`,
      );
    }
  }
  const role = data[12] === 1 ? 'client' : data[12] === 2 ? 'server' : undefined;
  if (role === undefined) throw protocolError('start the session', `the peer's greeting has the unknown role ${data[12]}`);
  if (role !== expected) throw protocolError('start the session', `the peer is a ${role} too, not a ${expected}`);
  const maxVersion = (data[8]! << 8) | data[9]!;
  const minVersion = (data[10]! << 8) | data[11]!;
  return { role, maxVersion, minVersion, readOnly: (data[13]! & 1) !== 0 };
}

/**
 * The protocol version both ends speak: the highest in both ranges. Throws PROTOCOL
 * naming both ranges when there is none.
 */
export function agreeVersion(
  peer: Greeting,
  local: VersionRange = { maxVersion: PROTOCOL_VERSION, minVersion: MIN_PROTOCOL_VERSION },
): number {
  const version = Math.min(peer.maxVersion, local.maxVersion);
  if (version < Math.max(peer.minVersion, local.minVersion) || peer.minVersion > peer.maxVersion) {
    const who = peer.role === 'server' ? 'remote' : 'client';
    throw protocolError(
      `talk to the ${who} gosync`,
      `it speaks protocol ${versions(peer.maxVersion, peer.minVersion)} and this gosync speaks ${versions(local.maxVersion, local.minVersion)}: install the same gosync version on both ends`,
    );
  }
  return version;
}

/** What the client asks for. */
export interface Hello {
  /** `push`: the client sends, the server receives; `pull`: the other way. */
  op: 'push' | 'pull';
  /** The server's path: relative to its working directory, or to its root. */
  path: string;
  /** Remove what the source does not have. */
  delete: boolean;
  /** The receiver reports what it would change and writes nothing. */
  dryRun: boolean;
  /**
   * Excludes and includes (localfs/filter.ts): the sender leaves out what they exclude, the
   * receiver keeps (does not delete) it. Absent: none.
   */
  filter?: FilterRule[];
  /** The receiver deletes excluded entries too (with `delete`). */
  deleteExcluded?: boolean;
  /**
   * Files are compared by content, not size and mtime (rsync's `--checksum`): the sender
   * lists each file's SHA-256, the receiver asks for those whose content differs.
   */
  checksum?: boolean;
  /**
   * Push: files of the server whose blocks a new file may reuse (as pull's seeds are the
   * client's), by paths resolved as `path` is (inside the server's root when it has one).
   */
  seeds?: string[];
}

/** The most seeds a HELLO may name. */
export const MAX_SEEDS = 64;

/** What the server answers. */
export interface Welcome {
  /** The server refuses to receive. */
  readOnly: boolean;
  /** The server applies HELLO's `filter` and `deleteExcluded` (an older one ignores them). */
  filters: boolean;
  /** The server applies HELLO's `checksum` (an older one ignores it). */
  checksum: boolean;
  /** The server applies HELLO's `seeds` (an older one ignores them). */
  seeds: boolean;
}

const MAX_PATH_CHARS = 4096;

/** Reads a JSON object payload (`what`: the frame, for messages); anything else is a PROTOCOL error. */
export function parseJson(payload: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    throw protocolError(`read the ${what}`, 'it is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw protocolError(`read the ${what}`, 'it is not a JSON object');
  return value as Record<string, unknown>;
}

export function encodeJson(value: object): Uint8Array {
  return new Uint8Array(Buffer.from(JSON.stringify(value), 'utf8'));
}

/** Reads a HELLO payload; unknown fields are ignored (newer clients may add some). */
export function decodeHello(payload: Uint8Array): Hello {
  const v = parseJson(payload, 'HELLO frame');
  if (v.op !== 'push' && v.op !== 'pull')
    throw protocolError('read the HELLO frame', `the operation ${JSON.stringify(v.op)} is not push or pull`);
  if (typeof v.path !== 'string' || v.path.length > MAX_PATH_CHARS || v.path.includes('\0')) {
    throw protocolError('read the HELLO frame', `the path is not a string of at most ${MAX_PATH_CHARS} characters without NUL`);
  }
  for (const k of ['delete', 'dryRun', 'deleteExcluded', 'checksum'] as const) {
    if (v[k] !== undefined && typeof v[k] !== 'boolean') throw protocolError('read the HELLO frame', `"${k}" is not a boolean`);
  }
  const hello: Hello = { op: v.op, path: v.path, delete: v.delete === true, dryRun: v.dryRun === true };
  if (v.filter !== undefined) {
    try {
      checkRules(v.filter as FilterRule[]);
    } catch (err) {
      throw protocolError('read the HELLO frame', (err as Error).message.replace(/^Cannot use the filter: /, 'the filter: '));
    }
    hello.filter = v.filter as FilterRule[];
  }
  if (v.deleteExcluded === true) hello.deleteExcluded = true;
  if (v.checksum === true) hello.checksum = true;
  if (v.seeds !== undefined) {
    const ok =
      Array.isArray(v.seeds) &&
      v.seeds.length <= MAX_SEEDS &&
      v.seeds.every((p) => typeof p === 'string' && p.length > 0 && p.length <= MAX_PATH_CHARS && !p.includes('\0'));
    if (!ok)
      throw protocolError(
        'read the HELLO frame',
        `"seeds" is not a list of at most ${MAX_SEEDS} paths of at most ${MAX_PATH_CHARS} characters`,
      );
    if ((v.seeds as string[]).length > 0) hello.seeds = v.seeds as string[];
  }
  return hello;
}

export function decodeWelcome(payload: Uint8Array): Welcome {
  const v = parseJson(payload, 'WELCOME frame');
  return { readOnly: v.readOnly === true, filters: v.filters === true, checksum: v.checksum === true, seeds: v.seeds === true };
}

/** An ERROR frame's payload. */
export function encodeError(err: unknown): Uint8Array {
  const code = SyncError.is(err) ? err.code : ErrorCodes.IO;
  const message = SyncError.is(err) ? err.message : `Cannot continue: ${(err as Error)?.message ?? String(err)}`;
  return encodeJson({ code, message: message.slice(0, 4000) });
}

const knownCodes = new Set<string>(Object.values(ErrorCodes));
const fromPeer = new WeakSet<object>();

/** True for an error the peer reported in an ERROR frame (not to be sent back). */
export function isPeerError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && fromPeer.has(err);
}

/**
 * The error a peer's ERROR frame reports, as a SyncError of the peer's code (PROTOCOL
 * when the code is unknown here), its message marked as the peer's.
 */
export function decodeError(payload: Uint8Array, peer: string): SyncError {
  let code: string = ErrorCodes.PROTOCOL;
  let message = 'Cannot continue: the peer failed without a readable reason';
  try {
    const v = parseJson(payload, 'ERROR frame');
    if (typeof v.code === 'string' && knownCodes.has(v.code)) code = v.code;
    if (typeof v.message === 'string') message = v.message.slice(0, 4000).replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '?');
  } catch {
    // keep the generic message
  }
  const err = new SyncError(code as SyncError['code'], `${message} (reported by ${peer})`);
  fromPeer.add(err);
  return err;
}
