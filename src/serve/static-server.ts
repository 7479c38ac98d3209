/**
 * The embedded static HTTP server behind `gosync serve <dir>`.
 *
 * It serves the regular files of one folder with everything a gosync client needs from a
 * web server, and nothing more: GET and HEAD, byte ranges (single, suffix, open, and
 * several at once as `multipart/byteranges`), strong ETags, Last-Modified, `If-Range`,
 * `If-None-Match` / `If-Modified-Since` (304) and `If-Match` / `If-Unmodified-Since` (412).
 * Bodies are streamed from the file; nothing is read whole into memory.
 *
 * It uses only `node:http` and `node:fs`. The steps live beside it: request-path.ts maps a
 * request target to a file inside the root, conditions.ts holds validators and conditional
 * requests, ranges.ts parses `Range` and lays out the body, exchange.ts writes one response.
 *
 * ## Path mapping
 *
 * See request-path.ts: the path is split before percent-decoding, traversal is refused with
 * 403, and the real path must stay inside the real path of the root (symlinks inside the
 * root are followed, symlinks escaping it answer 404, as a missing or unreadable file does:
 * no answer tells what exists outside). Dot-files answer 404 unless `dotfiles` is set.
 * Directories, sockets and other non-regular files answer 404 (there is no directory
 * listing).
 *
 * ## Clients that stop reading
 *
 * A connection on which nothing moves for `idleTimeout` (a client that stopped reading a
 * body, or sends nothing) is dropped, releasing its file. Connections are bounded per
 * client address (`maxConnectionsPerClient`) and in all (`maxConnections`): one past a
 * limit is answered 503 with `Connection: close` and closed, before it is read.
 *
 * The symlink check and the `open` are two steps: a process that can replace files inside
 * the root between them can win a race. The server is meant for folders you publish, not for
 * folders that untrusted local users write to.
 *
 * ## Ranges
 *
 * See {@link parseRange} and ranges.ts for the exact rules. `Range` is honoured on GET and,
 * as nginx and Apache do, on HEAD (the answer a GET would get, without the body): clients
 * probe multi-range support with a HEAD. An unsatisfiable Range answers 416, whose
 * `Content-Range` gives just the size (`bytes`, star, slash, size).
 *
 * @module
 */

import { open, type FileHandle } from '../util/fs-promises.js';
import type { AddressInfo, Socket } from 'node:net';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from 'node:http';

import { ErrorCodes, SyncError } from '../core/errors.js';
import { evaluatePreconditions, ifRangeAllows, validatorsOf, type Validators } from './conditions.js';
import { Exchange } from './exchange.js';
import { parseRange, rangeAnswer, type RangeParseResult } from './ranges.js';
import { realRootDirectory, requestPathSegments, resolveInsideRoot, statusOfFsError } from './request-path.js';
import { builtin } from '../util/builtin.js';

const { constants: fsConstants } = builtin('node:fs');
const { createServer } = builtin('node:http');

export { MAX_RANGES, parseRange, type InclusiveRange, type RangeParseResult } from './ranges.js';
export { requestPathSegments } from './request-path.js';

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
  /** Serve dot-files (names starting with `.`) too. Default false: they answer 404. */
  dotfiles?: boolean;
  /**
   * Milliseconds a connection may go without any byte moving either way (a client that
   * stopped reading a body, or that sends nothing) before it is dropped and its file
   * released. Default {@link DEFAULT_IDLE_TIMEOUT} (60 s).
   */
  idleTimeout?: number;
  /** Open connections in all; one more is answered 503 and closed. Default {@link DEFAULT_MAX_CONNECTIONS}. */
  maxConnections?: number;
  /** Open connections from one client address; one more is answered 503 and closed. Default {@link DEFAULT_MAX_CONNECTIONS_PER_CLIENT}. */
  maxConnectionsPerClient?: number;
}

/** Default {@link StaticServerOptions.idleTimeout}: 60 s, as nginx's `send_timeout`. */
export const DEFAULT_IDLE_TIMEOUT = 60_000;
/** Default {@link StaticServerOptions.maxConnections}. */
export const DEFAULT_MAX_CONNECTIONS = 512;
/**
 * Default {@link StaticServerOptions.maxConnectionsPerClient}: a gosync client opens up
 * to 16 connections per file it fetches, and a folder fetches several files at once.
 */
export const DEFAULT_MAX_CONNECTIONS_PER_CLIENT = 64;

/** The whole answer to a connection over a limit, written before its request is read. */
const BUSY_ANSWER = Buffer.from(
  'HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\nRetry-After: 1\r\nConnection: close\r\n\r\nService Unavailable\n',
  'latin1',
);
/** How long a refused connection may stay open for its 503 to be read. */
const BUSY_GRACE = 1000;

/** The limits of one server, resolved. */
interface Limits {
  idleTimeout: number;
  maxConnections: number;
  maxConnectionsPerClient: number;
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

/** The text of the error statuses the server answers with. */
const STATUS_TEXT = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
} as const;

/** The URL host a client reaches `address` through: loopback for a wildcard address, brackets for IPv6. */
export function reachableHost(address: string): string {
  const reachable = address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '::1' : address;
  return reachable.includes(':') ? `[${reachable}]` : reachable;
}

/** The format of one access-log line: client, request line, status, body bytes, Range, and whether it was cut short. */
export function accessLogLine(
  who: string,
  method: string,
  url: string,
  status: number,
  bytes: number,
  range: string,
  finished: boolean,
): string {
  return `${who} "${method} ${url}" ${status} ${bytes} "${range}"${finished ? '' : ' aborted'}`;
}

/** The static file server: serves the regular files under one real root folder. */
class StaticFileServer implements StaticServer {
  readonly stats = { requests: 0, bodyBytes: 0 };
  readonly #rootReal: string;
  readonly #dotfiles: boolean;
  readonly #log: ((line: string) => void) | undefined;
  readonly #http: Server;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #limits: Limits;
  /** Open connections, in all and by client address. */
  #open = 0;
  readonly #byClient = new Map<string, number>();
  /** Connections over a limit: answered 503, their requests never handled. */
  readonly #refused = new WeakSet<Socket>();
  #port = 0;
  #url = '';
  #closing: Promise<void> | undefined;
  #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => {
    void this.close();
  };

  constructor(rootReal: string, log: ((line: string) => void) | undefined, dotfiles: boolean, limits: Limits) {
    this.#rootReal = rootReal;
    this.#log = log;
    this.#dotfiles = dotfiles;
    this.#limits = limits;
    this.#http = createServer({ keepAliveTimeout: 5000 }, (req, res) => this.#onRequest(req, res));
    // No 'timeout' listener: node:http destroys a socket idle this long (nothing read or written).
    this.#http.setTimeout(limits.idleTimeout);
    this.#http.on('connection', (socket: Socket) => this.#admit(socket));
  }

  /** Counts a new connection, or answers it 503 and closes it when it is over a limit. */
  #admit(socket: Socket): void {
    const who = socket.remoteAddress ?? '';
    const mine = this.#byClient.get(who) ?? 0;
    if (this.#open >= this.#limits.maxConnections || mine >= this.#limits.maxConnectionsPerClient) {
      this.#refused.add(socket);
      socket.on('error', () => {});
      socket.end(BUSY_ANSWER);
      socket.setTimeout(BUSY_GRACE, () => socket.destroy());
      return;
    }
    this.#open++;
    this.#byClient.set(who, mine + 1);
    socket.once('close', () => {
      this.#open--;
      const left = (this.#byClient.get(who) ?? 1) - 1;
      if (left === 0) this.#byClient.delete(who);
      else this.#byClient.set(who, left);
    });
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return this.#url;
  }

  /** Starts listening; a failure (the port is taken) is an IO SyncError. */
  async listen(host: string, port: number): Promise<void> {
    await new Promise<void>((resolveListen, rejectListen) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        const reason = err.code === 'EADDRINUSE' ? 'the address is in use' : err.message;
        // Not a file operation, so not ioError (which names a path); the code stays IO as documented for the CLI.
        rejectListen(new SyncError(ErrorCodes.IO, `Cannot listen on ${host}:${port}: ${reason}`, { cause: err }));
      };
      this.#http.once('error', onError);
      this.#http.listen(port, host, () => {
        this.#http.off('error', onError);
        resolveListen();
      });
    });
    const address = this.#http.address() as AddressInfo;
    this.#port = address.port;
    this.#url = `http://${reachableHost(address.address)}:${address.port}/`;
  }

  /** Closes the server when `signal` fires (at once if it already has). */
  async closeOn(signal: AbortSignal | undefined): Promise<void> {
    if (signal === undefined) return;
    if (signal.aborted) return this.close();
    this.#signal = signal;
    signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#signal?.removeEventListener('abort', this.#onAbort);
      const closed = new Promise<void>((done) => this.#http.close(() => done()));
      this.#http.closeAllConnections();
      await closed;
      await Promise.allSettled([...this.#inFlight]);
    })();
    return this.#closing;
  }

  /** Counts the request, logs it once it closes, and answers it; a failure answers 500 or drops the connection. */
  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (this.#refused.has(req.socket)) {
      // Already answered 503 at connection time.
      req.socket.destroy();
      return;
    }
    this.stats.requests++;
    const ex = new Exchange(res, this.stats);
    res.on('error', () => {
      /* a client that went away; the 'close' handling cleans up */
    });
    const log = this.#log;
    if (log !== undefined) {
      const who = req.socket.remoteAddress ?? '-';
      res.once('close', () => {
        log(accessLogLine(who, req.method ?? '-', req.url ?? '-', res.statusCode, ex.bytes, req.headers.range ?? '', res.writableFinished));
      });
    }
    const job = this.#handle(req, ex)
      .catch(() => {
        if (!res.headersSent) {
          try {
            ex.sendText(500, 'Internal Server Error');
            return;
          } catch {
            /* fall through to destroy */
          }
        }
        res.destroy();
      })
      .finally(() => this.#inFlight.delete(job));
    this.#inFlight.add(job);
  }

  /** Answers one request: the method, then the path, then the file. */
  async #handle(req: IncomingMessage, ex: Exchange): Promise<void> {
    const method = req.method ?? 'GET';
    const head = method === 'HEAD';
    if (method !== 'GET' && !head) {
      ex.sendText(405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
      return;
    }
    const parsed = requestPathSegments(req.url ?? '/', { dotfiles: this.#dotfiles });
    if (!parsed.ok) {
      ex.sendText(parsed.status, STATUS_TEXT[parsed.status], {}, head);
      return;
    }
    const resolved = await resolveInsideRoot(this.#rootReal, parsed.segments);
    if (!resolved.ok) {
      ex.sendText(resolved.status, STATUS_TEXT[resolved.status], {}, head);
      return;
    }
    let file: FileHandle;
    try {
      // O_NONBLOCK so that a FIFO placed in the folder cannot hang the request; no effect on regular files.
      file = await open(resolved.real, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    } catch (err) {
      const status = statusOfFsError(err);
      ex.sendText(status, STATUS_TEXT[status], {}, head);
      return;
    }
    try {
      await this.#answerFile(req, ex, file, head);
    } finally {
      await file.close();
    }
  }

  /** Answers with the open `file`: 404 unless it is a regular file, then preconditions, then the Range. */
  async #answerFile(req: IncomingMessage, ex: Exchange, file: FileHandle, head: boolean): Promise<void> {
    const st = await file.stat({ bigint: true });
    if (!st.isFile()) {
      ex.sendText(404, STATUS_TEXT[404], {}, head);
      return;
    }
    const size = Number(st.size);
    const v = validatorsOf(st);
    const common: OutgoingHttpHeaders = {
      'Accept-Ranges': 'bytes',
      ETag: v.etag,
      'Last-Modified': new Date(v.mtimeSeconds * 1000).toUTCString(),
    };
    const precondition = evaluatePreconditions(req.headers, v);
    if (precondition === 'not-modified') {
      ex.writeHead(304, common);
      ex.end();
      return;
    }
    if (precondition === 'failed') {
      ex.sendText(412, 'Precondition Failed', common, head);
      return;
    }
    const ranges = requestedRanges(req.headers, v, size);
    if (ranges.kind === 'unsatisfiable') {
      ex.sendText(416, 'Range Not Satisfiable', { ...common, 'Content-Range': `bytes */${size}` }, head);
      return;
    }
    const answer = rangeAnswer(ranges, size);
    const headers: OutgoingHttpHeaders = { ...common, 'Content-Type': answer.contentType };
    if (answer.contentRange !== undefined) headers['Content-Range'] = answer.contentRange;
    headers['Content-Length'] = answer.length;
    ex.writeHead(answer.status, headers);
    if (head) ex.end();
    else await ex.sendBody(file, answer.pieces);
  }
}

/**
 * The ranges a request asks of a file of `size` bytes with validators `v`: its `Range`
 * header, when there is one and `If-Range` lets it apply; else the whole file (`ignore`).
 */
export function requestedRanges(headers: IncomingHttpHeaders, v: Validators, size: number): RangeParseResult {
  const header = headers.range;
  // node:http joins a repeated unknown header into one string, so If-Range is never an array here.
  if (header === undefined || !ifRangeAllows(headers['if-range'] as string | undefined, v)) return { kind: 'ignore' };
  return parseRange(header, size);
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
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`port must be an integer in [0, 65535], got ${String(port)}`);
  }
  const limits: Limits = {
    idleTimeout: positiveInteger(options.idleTimeout, 'idleTimeout', DEFAULT_IDLE_TIMEOUT),
    maxConnections: positiveInteger(options.maxConnections, 'maxConnections', DEFAULT_MAX_CONNECTIONS),
    maxConnectionsPerClient: positiveInteger(
      options.maxConnectionsPerClient,
      'maxConnectionsPerClient',
      DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
    ),
  };
  const server = new StaticFileServer(await realRootDirectory(options.root), options.log, options.dotfiles === true, limits);
  await server.listen(host, port);
  await server.closeOn(options.signal);
  return server;
}

/** `value` when it is a positive integer, `fallback` when it is undefined; RangeError otherwise. */
function positiveInteger(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
  return value;
}
