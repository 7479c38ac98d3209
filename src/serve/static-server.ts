/**
 * The embedded static HTTP server behind `gosync serve <dir>`.
 *
 * It serves the regular files of one folder with everything a gosync client needs from a
 * web server, and nothing more: GET and HEAD, byte ranges (single, suffix, open, and
 * several at once as `multipart/byteranges`), strong ETags, Last-Modified, `If-Range`,
 * `If-None-Match` / `If-Modified-Since` (304) and `If-Match` / `If-Unmodified-Since` (412).
 * Bodies are streamed from the file; nothing is read whole into memory.
 *
 * It uses only `node:http` and `node:fs`.
 *
 * ## Path mapping
 *
 * The request path is split on `/` **before** percent-decoding, and each segment is decoded
 * on its own. A segment that decodes to `..`, or that contains `/`, `\` or NUL, is refused
 * with 403 (so `%2e%2e`, `%2F` and `%00` cannot smuggle a traversal past the check). Empty
 * and `.` segments are dropped, so `//etc/passwd` maps to `<root>/etc/passwd`. The result
 * is resolved with `realpath` and must stay inside the real path of the root: symlinks that
 * point inside the root are followed, symlinks escaping it answer 403. Directories, sockets
 * and other non-regular files answer 404 (there is no directory listing). Query strings are
 * ignored. Malformed percent-encoding answers 400.
 *
 * The symlink check and the `open` are two steps: a process that can replace files inside
 * the root between them can win a race. The server is meant for folders you publish, not for
 * folders that untrusted local users write to.
 *
 * ## Ranges
 *
 * See {@link parseRange} for the exact rules; in short (RFC 9110 §14):
 * - `Range` is honoured on GET and, as nginx and Apache do, on HEAD (the answer a GET
 *   would get, without the body): clients probe multi-range support with a HEAD.
 * - A malformed header, a unit other than `bytes`, or more than {@link MAX_RANGES}
 *   range-specs makes the server ignore the header and answer 200 with the whole file
 *   (the same as nginx's `max_ranges`).
 * - Ranges past the end are clipped; ranges starting at or past the end are dropped; when
 *   none is left the answer is 416, whose `Content-Range` gives just the size (`bytes`, star, slash, size).
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
import { constants as fsConstants, type BigIntStats } from 'node:fs';
import { open, realpath, stat, type FileHandle } from 'node:fs/promises';
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve, sep } from 'node:path';

import { ErrorCodes, SyncError } from '../core/errors.js';
import { drainOrClose } from '../util/drain.js';

/** Bytes read from the file per step while sending a body. */
const READ_CHUNK = 64 * 1024;

/** The most range-specs one `Range` header may hold; more and the header is ignored (200). */
export const MAX_RANGES = 200;

/** Options of {@link startStaticServer}. */
export interface StaticServerOptions {
  /** The folder to serve. */
  root: string;
  /** The address to listen on. Default `127.0.0.1`. */
  host?: string;
  /** The port to listen on. Default 0: any free port (read it back from {@link StaticServer.port}). */
  port?: number;
  /** Closes the server when it fires. */
  signal?: AbortSignal;
  /** Receives one access-log line per finished request, when given. */
  log?: (line: string) => void;
}

/** A running server from {@link startStaticServer}. */
export interface StaticServer {
  /**
   * The base URL, ending in `/`, e.g. `http://127.0.0.1:40123/` (`[::1]` for IPv6; a server
   * on `0.0.0.0` or `::` is given its loopback address here).
   */
  readonly url: string;
  /** The port the server listens on. */
  readonly port: number;
  /**
   * Live counters: requests received, and bytes of response bodies written to the
   * connections (multipart headers and boundaries included, response headers excluded).
   */
  readonly stats: { requests: number; bodyBytes: number };
  /** Stops listening, drops open connections and waits for in-flight responses to release their files. Idempotent. */
  close(): Promise<void>;
}

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
    const m = RANGE_SPEC.exec(spec);
    if (m === null) return { kind: 'ignore' };
    const [, first = '', last = ''] = m;
    if (first === '') {
      if (last === '') return { kind: 'ignore' };
      const suffix = Number(last);
      if (suffix === 0) continue;
      if (size === 0) {
        emptySuffix = true;
        continue;
      }
      ranges.push({ start: Math.max(0, size - suffix), end: size - 1 });
    } else {
      const start = Number(first);
      const end = last === '' ? Infinity : Number(last);
      if (end < start) return { kind: 'ignore' };
      if (start >= size) continue;
      ranges.push({ start, end: Math.min(end, size - 1) });
    }
  }
  if (ranges.length === 0) return emptySuffix ? { kind: 'ignore' } : { kind: 'unsatisfiable' };
  return { kind: 'ranges', ranges: normalizeRanges(ranges) };
}

/**
 * Keeps ranges as asked when they are ascending and disjoint; otherwise sorts them and
 * merges overlapping and adjacent ones (RFC 9110 §14.2 lets a server coalesce, and doing so
 * stops a request for the same bytes many times from multiplying the answer).
 */
function normalizeRanges(ranges: InclusiveRange[]): InclusiveRange[] {
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

/** Why a request path was refused, or the segments it maps to. */
type PathResult = { ok: true; segments: string[] } | { ok: false; status: 400 | 403 };

/**
 * Splits the path of a request target into decoded segments, refusing traversal.
 * Accepts origin-form (`/a/b?q`) and absolute-form (`http://host/a/b`) targets.
 */
export function requestPathSegments(target: string): PathResult {
  let path = target;
  const absolute = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(path);
  if (absolute !== null) path = path.slice(absolute[0].length) || '/';
  if (!path.startsWith('/')) return { ok: false, status: 400 };
  const cut = path.search(/[?#]/);
  if (cut >= 0) path = path.slice(0, cut);

  const segments: string[] = [];
  for (const raw of path.split('/')) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return { ok: false, status: 400 };
    }
    if (segment === '' || segment === '.') continue;
    if (segment === '..' || /[/\\\0]/.test(segment)) return { ok: false, status: 403 };
    segments.push(segment);
  }
  return { ok: true, segments };
}

/** A strong ETag from size, mtime (nanoseconds) and inode. */
function makeEtag(st: BigIntStats): string {
  return `"${st.size.toString(16)}-${st.mtimeNs.toString(16)}-${st.ino.toString(16)}"`;
}

/** Splits an `If-None-Match` / `If-Match` list into entity-tags (`*` stays `*`). */
function parseEtagList(value: string): string[] {
  const tags: string[] = [];
  const re = /\s*(\*|(?:W\/)?"[^"]*")\s*(?:,|$)/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(value)) !== null && m[0] !== '') tags.push(m[1]!);
  return tags;
}

/** Weak comparison: opaque tags equal, ignoring `W/`. */
function weakMatch(a: string, b: string): boolean {
  return a.replace(/^W\//, '') === b.replace(/^W\//, '');
}

/** Strong comparison: both strong and equal. */
function strongMatch(a: string, b: string): boolean {
  return !a.startsWith('W/') && !b.startsWith('W/') && a === b;
}

/** Parses an HTTP-date; NaN when invalid. */
function parseHttpDate(value: string): number {
  return /^\s*$/.test(value) ? NaN : Date.parse(value);
}

/** What the conditional headers decided (RFC 9110 §13.2.2). */
type Precondition = 'proceed' | 'not-modified' | 'failed';

function evaluatePreconditions(req: IncomingMessage, etag: string, mtimeSeconds: number): Precondition {
  const ifMatch = req.headers['if-match'];
  if (ifMatch !== undefined) {
    const tags = parseEtagList(ifMatch);
    if (!tags.some((t) => t === '*' || strongMatch(t, etag))) return 'failed';
  } else {
    const ius = req.headers['if-unmodified-since'];
    if (ius !== undefined) {
      const date = parseHttpDate(ius);
      if (!Number.isNaN(date) && mtimeSeconds * 1000 > date) return 'failed';
    }
  }
  const ifNoneMatch = req.headers['if-none-match'];
  if (ifNoneMatch !== undefined) {
    const tags = parseEtagList(ifNoneMatch);
    if (tags.some((t) => t === '*' || weakMatch(t, etag))) return 'not-modified';
  } else {
    const ims = req.headers['if-modified-since'];
    if (ims !== undefined) {
      const date = parseHttpDate(ims);
      if (!Number.isNaN(date) && mtimeSeconds * 1000 <= date) return 'not-modified';
    }
  }
  return 'proceed';
}

/**
 * True when `If-Range` (absent, an entity-tag, or an HTTP-date) lets the Range apply.
 * An entity-tag must match strongly; a date must equal Last-Modified to the second.
 */
function ifRangeAllows(value: string | undefined, etag: string, mtimeSeconds: number): boolean {
  if (value === undefined) return true;
  const v = value.trim();
  if (v.startsWith('"') || v.startsWith('W/')) return strongMatch(v, etag);
  const date = parseHttpDate(v);
  return !Number.isNaN(date) && date === mtimeSeconds * 1000;
}

/** The per-request state shared by the helpers of one response. */
interface Exchange {
  /** Body bytes of this response written to the socket so far. */
  bytes: number;
  /** Set once the response has emitted 'close' (finished, or the client went away). */
  gone: boolean;
}

/** One piece of a response body: literal bytes, or a byte range of the open file. */
type BodyPiece = { bytes: Buffer } | { range: InclusiveRange };

function pieceLength(p: BodyPiece): number {
  return 'bytes' in p ? p.bytes.length : p.range.end - p.range.start + 1;
}

/** The real path of `root`, which must be a directory (else an IO SyncError). */
async function realRootDirectory(root: string): Promise<string> {
  let real: string;
  try {
    real = await realpath(resolve(root));
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (err as Error).message;
    throw new SyncError(ErrorCodes.IO, `Cannot serve ${root}: ${reason}`, { cause: err, path: root });
  }
  if (!(await stat(real)).isDirectory()) {
    throw new SyncError(ErrorCodes.IO, `Cannot serve ${root}: not a directory`, { path: root });
  }
  return real;
}

/**
 * Starts a static file server over `options.root`.
 *
 * @example
 * ```ts
 * const server = await startStaticServer({ root: './public' });
 * console.log(`serving on ${server.url}`);
 * // ...
 * await server.close();
 * ```
 */
export async function startStaticServer(options: StaticServerOptions): Promise<StaticServer> {
  if (typeof options.root !== 'string' || options.root === '') throw new TypeError('root must be a non-empty path');
  const host = options.host ?? '127.0.0.1';
  const requestedPort = options.port ?? 0;
  if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535) {
    throw new RangeError(`port must be an integer in [0, 65535], got ${String(requestedPort)}`);
  }
  const rootReal = await realRootDirectory(options.root);
  const log = options.log;
  const stats = { requests: 0, bodyBytes: 0 };
  const inFlight = new Set<Promise<void>>();

  /** Writes one chunk, counting it once it has reached the socket. */
  const write = (res: ServerResponse, chunk: Buffer, ex: Exchange): boolean =>
    res.write(chunk, (err) => {
      if (err == null) {
        stats.bodyBytes += chunk.length;
        ex.bytes += chunk.length;
      }
    });

  /**
   * Streams `pieces` into `res`, then ends it; destroys it if the file came up short.
   *
   * File ranges are read with positional `FileHandle.read` in {@link READ_CHUNK} pieces,
   * honouring backpressure, rather than with `fs.createReadStream({ fd, start, end })`: every
   * part of a multipart answer shares one descriptor (so all parts come from the same inode the
   * ETag describes), and a ReadStream closes its fd whenever it is destroyed, `autoClose: false`
   * or not. Memory stays bounded by the socket's high-water mark plus one chunk.
   */
  async function sendBody(res: ServerResponse, file: FileHandle, pieces: BodyPiece[], ex: Exchange): Promise<void> {
    for (const piece of pieces) {
      if (ex.gone || res.destroyed) return;
      if ('bytes' in piece) {
        if (!write(res, piece.bytes, ex) && !ex.gone) await drainOrClose(res);
        continue;
      }
      const { start, end } = piece.range;
      let position = start;
      while (position <= end) {
        if (ex.gone || res.destroyed) return;
        // A fresh buffer per chunk: res.write keeps a reference until the socket has sent it.
        const want = Math.min(READ_CHUNK, end - position + 1);
        const { bytesRead, buffer } = await file.read(Buffer.allocUnsafe(want), 0, want, position);
        if (bytesRead === 0) {
          // The file shrank under us: the promised Content-Length cannot be met.
          res.destroy();
          return;
        }
        position += bytesRead;
        if (ex.gone || res.destroyed) return;
        if (!write(res, buffer.subarray(0, bytesRead), ex) && !ex.gone) await drainOrClose(res);
      }
    }
    if (!ex.gone && !res.destroyed) res.end();
  }

  /** Sends a short text body (errors). */
  function sendText(
    res: ServerResponse,
    status: number,
    text: string,
    ex: Exchange,
    headers: OutgoingHttpHeaders = {},
    head = false,
  ): void {
    const body = Buffer.from(text.endsWith('\n') ? text : `${text}\n`);
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length, ...headers });
    if (head) res.end();
    else {
      write(res, body, ex);
      res.end();
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse, ex: Exchange): Promise<void> {
    const method = req.method ?? 'GET';
    const head = method === 'HEAD';
    if (method !== 'GET' && !head) {
      sendText(res, 405, 'Method Not Allowed', ex, { Allow: 'GET, HEAD' });
      return;
    }
    const parsed = requestPathSegments(req.url ?? '/');
    if (!parsed.ok) {
      sendText(res, parsed.status, parsed.status === 400 ? 'Bad Request' : 'Forbidden', ex, {}, head);
      return;
    }

    let real: string;
    try {
      real = await realpath(join(rootReal, ...parsed.segments));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const status = code === 'EACCES' || code === 'EPERM' ? 403 : 404;
      sendText(res, status, status === 403 ? 'Forbidden' : 'Not Found', ex, {}, head);
      return;
    }
    if (real !== rootReal && !real.startsWith(rootReal.endsWith(sep) ? rootReal : rootReal + sep)) {
      sendText(res, 403, 'Forbidden', ex, {}, head);
      return;
    }

    let file: FileHandle;
    try {
      // O_NONBLOCK so that a FIFO placed in the folder cannot hang the request; no effect on regular files.
      file = await open(real, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const status = code === 'EACCES' || code === 'EPERM' ? 403 : 404;
      sendText(res, status, status === 403 ? 'Forbidden' : 'Not Found', ex, {}, head);
      return;
    }
    try {
      const st = await file.stat({ bigint: true });
      if (!st.isFile()) {
        sendText(res, 404, 'Not Found', ex, {}, head);
        return;
      }
      const size = Number(st.size);
      const etag = makeEtag(st);
      const mtimeSeconds = Math.floor(Number(st.mtimeMs) / 1000);
      const common: OutgoingHttpHeaders = {
        'Accept-Ranges': 'bytes',
        ETag: etag,
        'Last-Modified': new Date(mtimeSeconds * 1000).toUTCString(),
      };

      const precondition = evaluatePreconditions(req, etag, mtimeSeconds);
      if (precondition === 'not-modified') {
        res.writeHead(304, common);
        res.end();
        return;
      }
      if (precondition === 'failed') {
        sendText(res, 412, 'Precondition Failed', ex, common, head);
        return;
      }

      const rangeHeader = req.headers.range;
      let result: RangeParseResult = { kind: 'ignore' };
      if (rangeHeader !== undefined && ifRangeAllows(req.headers['if-range'] as string | undefined, etag, mtimeSeconds)) {
        result = parseRange(rangeHeader, size);
      }

      if (result.kind === 'unsatisfiable') {
        sendText(res, 416, 'Range Not Satisfiable', ex, { ...common, 'Content-Range': `bytes */${size}` }, head);
        return;
      }

      let status = 200;
      let pieces: BodyPiece[];
      const headers: OutgoingHttpHeaders = { ...common };
      if (result.kind === 'ignore') {
        headers['Content-Type'] = 'application/octet-stream';
        pieces = size === 0 ? [] : [{ range: { start: 0, end: size - 1 } }];
      } else if (result.ranges.length === 1) {
        const r = result.ranges[0]!;
        status = 206;
        headers['Content-Type'] = 'application/octet-stream';
        headers['Content-Range'] = `bytes ${r.start}-${r.end}/${size}`;
        pieces = [{ range: r }];
      } else {
        status = 206;
        const boundary = `gosync-${randomBytes(16).toString('hex')}`;
        headers['Content-Type'] = `multipart/byteranges; boundary=${boundary}`;
        pieces = [];
        result.ranges.forEach((r, i) => {
          const partHead =
            `${i === 0 ? '' : '\r\n'}--${boundary}\r\n` +
            'Content-Type: application/octet-stream\r\n' +
            `Content-Range: bytes ${r.start}-${r.end}/${size}\r\n\r\n`;
          pieces.push({ bytes: Buffer.from(partHead, 'latin1') }, { range: r });
        });
        pieces.push({ bytes: Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1') });
      }
      headers['Content-Length'] = pieces.reduce((n, p) => n + pieceLength(p), 0);
      res.writeHead(status, headers);
      if (head) {
        res.end();
        return;
      }
      await sendBody(res, file, pieces, ex);
    } finally {
      await file.close();
    }
  }

  const server: Server = createServer({ keepAliveTimeout: 5000 }, (req, res) => {
    stats.requests++;
    const ex: Exchange = { bytes: 0, gone: false };
    res.once('close', () => {
      ex.gone = true;
    });
    res.on('error', () => {
      /* a client that went away; the 'close' handling below cleans up */
    });
    if (log !== undefined) {
      const who = req.socket.remoteAddress ?? '-';
      res.once('close', () => {
        const range = req.headers.range ?? '';
        const complete = res.writableFinished ? '' : ' aborted';
        log(`${who} "${req.method ?? '-'} ${req.url ?? '-'}" ${res.statusCode} ${ex.bytes} "${range}"${complete}`);
      });
    }
    const job = handle(req, res, ex)
      .catch(() => {
        if (!res.headersSent) {
          try {
            sendText(res, 500, 'Internal Server Error', ex);
            return;
          } catch {
            /* fall through to destroy */
          }
        }
        res.destroy();
      })
      .finally(() => inFlight.delete(job));
    inFlight.add(job);
  });

  await new Promise<void>((resolveListen, rejectListen) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const reason = err.code === 'EADDRINUSE' ? 'the address is in use' : err.message;
      rejectListen(new SyncError(ErrorCodes.IO, `Cannot listen on ${host}:${requestedPort}: ${reason}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(requestedPort, host, () => {
      server.off('error', onError);
      resolveListen();
    });
  });
  const address = server.address() as AddressInfo;
  // A server on every interface is reached through loopback in `url`.
  const reachable = address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '::1' : address.address;
  const urlHost = reachable.includes(':') ? `[${reachable}]` : reachable;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      options.signal?.removeEventListener('abort', onAbort);
      const closed = new Promise<void>((done) => server.close(() => done()));
      server.closeAllConnections();
      await closed;
      await Promise.allSettled([...inFlight]);
    })();
    return closing;
  };
  const onAbort = (): void => {
    void close();
  };
  if (options.signal?.aborted) await close();
  else options.signal?.addEventListener('abort', onAbort, { once: true });

  return {
    url: `http://${urlHost}:${address.port}/`,
    port: address.port,
    stats,
    close,
  };
}
