/**
 * A local `node:http` server for tests of HTTP clients: it serves one resource and lets each
 * test choose, per request, a correct answer or one of the faults met in the wild (ignored
 * Range, odd multipart shapes, wrong bytes, error statuses, Retry-After, connections cut or
 * stalled mid-body, redirects, a changed ETag, a bogus Content-Range).
 *
 * @module
 */

import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** The resource served. */
export interface Resource {
  /** The bytes. */
  readonly body: Uint8Array;
  /** ETag header; omitted when null. Default `"v1"`. */
  readonly etag?: string | null;
  /** Last-Modified header; omitted when null. Default a fixed date. */
  readonly lastModified?: string | null;
}

/** A request the server received. */
export interface FaultRequest {
  /** `GET`, `HEAD`, ... */
  readonly method: string;
  /** 0 for the first request of its method (so HEAD probes do not shift the GETs' numbers). */
  readonly index: number;
  /** Path and query. */
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  /** The Range header, if any. */
  readonly range: string | undefined;
  /** The If-Range header, if any. */
  readonly ifRange: string | undefined;
  /** Set when the client closed the connection before the answer was complete. */
  aborted: boolean;
}

/** Shapes of a multipart/byteranges answer. */
export interface MultipartStyle {
  /** Start the body with CRLF before the first boundary (Apache, nginx). Default true. */
  readonly leadingCrlf?: boolean;
  /** Use bare LF line ends. */
  readonly lf?: boolean;
  /** Send the parts in reverse order. */
  readonly reverse?: boolean;
  /** Merge adjacent or overlapping ranges into one part. */
  readonly mergeAdjacent?: boolean;
  /** Leave out the part with this index. */
  readonly dropPart?: number;
  /** Make the first part this many bytes longer than asked (up to the end of the resource), in its Content-Range and its body. */
  readonly grow?: number;
  /** Break the body: a part one byte shorter than its Content-Range says, a part without Content-Range, or a wrong boundary. */
  readonly garble?: 'short-part' | 'no-content-range' | 'bad-boundary';
}

/** How to answer one request. Fields combine: e.g. `{ cutAfter: 100 }` is a correct answer cut after 100 body bytes. */
export interface Reply {
  /**
   * - `normal` (default): honour Range and If-Range like a correct server (single 206, or
   *   multipart for several ranges).
   * - `full`: ignore Range, answer 200 with the whole body.
   * - `multipart`: always answer multipart (shaped by `multipart`).
   * - `coalesce`: answer several ranges with one 206 spanning all of them (as nginx may).
   * - `whole-206`: answer any range with a 206 of the whole body (`bytes 0-(size-1)/size`).
   * - `status`: answer `status` with `headers` and a short text body.
   * - `redirect`: answer `status` (default 302) with `Location: location`.
   * - `content-range`: a 206 with the asked bytes but `Content-Range: contentRange`.
   * - `stall`: never answer.
   */
  readonly kind?: 'normal' | 'full' | 'multipart' | 'coalesce' | 'whole-206' | 'status' | 'redirect' | 'content-range' | 'stall';
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly location?: string;
  readonly contentRange?: string;
  readonly multipart?: MultipartStyle;
  /** Invert every body byte (right headers, wrong bytes). */
  readonly corrupt?: boolean;
  /** Destroy the connection after this many body bytes. */
  readonly cutAfter?: number;
  /** Stop sending (connection left open) after this many body bytes. */
  readonly stallAfter?: number;
  /** Wait this long before answering. */
  readonly delayMs?: number;
  /** Send the body with chunked encoding instead of a Content-Length. */
  readonly chunked?: boolean;
  /** Write the body in pieces of this many bytes with a short pause between them. */
  readonly trickle?: number;
}

/** Options of {@link startFaultServer}. */
export interface FaultServerOptions {
  /** The resource, or a function choosing it per request (to simulate a replaced file). */
  readonly resource: Resource | ((request: FaultRequest) => Resource);
  /** Chooses the answer per request. Default: always `normal`. */
  readonly reply?: (request: FaultRequest) => Reply | Promise<Reply>;
}

/** A running fault server. */
export interface FaultServer {
  /** `http://127.0.0.1:port`. */
  readonly origin: string;
  /** The URL of a path (default `/file`). */
  url(path?: string): string;
  /** Every request received, in order. */
  readonly requests: FaultRequest[];
  /** The GET requests received, in order. */
  readonly gets: FaultRequest[];
  /** Largest number of requests being answered at the same time. */
  readonly maxConcurrent: number;
  /** Body bytes written so far. */
  readonly bytesSent: number;
  /** Closes all connections and the server. */
  close(): Promise<void>;
}

const BOUNDARY = 'gosync-test-3d6b6a416f9b';
const DEFAULT_LAST_MODIFIED = 'Tue, 02 Jan 2024 03:04:05 GMT';

/** Starts a fault server on 127.0.0.1 with a free port. */
export async function startFaultServer(options: FaultServerOptions): Promise<FaultServer> {
  const requests: FaultRequest[] = [];
  let active = 0;
  let maxConcurrent = 0;
  let bytesSent = 0;

  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    const request: FaultRequest = {
      method,
      index: requests.filter((r) => r.method === method).length,
      path: req.url ?? '/',
      headers: req.headers,
      range: req.headers.range,
      ifRange: req.headers['if-range'] as string | undefined,
      aborted: false,
    };
    requests.push(request);
    active++;
    maxConcurrent = Math.max(maxConcurrent, active);
    res.on('close', () => {
      active--;
      if (!res.writableFinished) request.aborted = true;
    });
    const resource = typeof options.resource === 'function' ? options.resource(request) : options.resource;
    void Promise.resolve(options.reply?.(request) ?? {})
      .then(async (reply) => {
        if (reply.delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
        await answer(req, res, resource, reply, (n) => (bytesSent += n));
      })
      .catch((error: unknown) => {
        res.destroy(error instanceof Error ? error : new Error(String(error)));
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    url: (path = '/file') => `${origin}${path}`,
    requests,
    get gets() {
      return requests.filter((r) => r.method === 'GET');
    },
    get maxConcurrent() {
      return maxConcurrent;
    },
    get bytesSent() {
      return bytesSent;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

async function answer(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  resource: Resource,
  reply: Reply,
  sent: (n: number) => void,
): Promise<void> {
  const kind = reply.kind ?? 'normal';
  if (kind === 'stall') return;
  const built = build(req, resource, reply);
  if (reply.corrupt) for (let i = 0; i < built.body.length; i++) built.body[i] = built.body[i]! ^ 0xff;
  const headers: Record<string, string> = { ...built.headers, ...reply.headers };
  if (reply.chunked) delete headers['content-length'];
  else headers['content-length'] ??= String(built.body.length);
  res.writeHead(built.status, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const limit = reply.cutAfter ?? reply.stallAfter;
  const body = limit === undefined ? built.body : built.body.subarray(0, limit);
  const step = reply.trickle ?? body.length;
  for (let at = 0; at < body.length; at += step) {
    const piece = body.subarray(at, at + step);
    sent(piece.length);
    if (!res.write(piece)) await new Promise((resolve) => res.once('drain', resolve));
    if (reply.trickle !== undefined) await new Promise((resolve) => setTimeout(resolve, 2));
    if (res.destroyed) return;
  }
  if (reply.cutAfter !== undefined) {
    // Let the written bytes reach the client, then drop the connection.
    await new Promise((resolve) => setTimeout(resolve, 10));
    res.socket?.destroy();
    return;
  }
  if (reply.stallAfter !== undefined) return;
  res.end();
}

function build(req: http.IncomingMessage, resource: Resource, reply: Reply): Answer {
  const data = Buffer.from(resource.body);
  const validators: Record<string, string> = {};
  const etag = resource.etag === undefined ? '"v1"' : resource.etag;
  const lastModified = resource.lastModified === undefined ? DEFAULT_LAST_MODIFIED : resource.lastModified;
  if (etag !== null) validators.etag = etag;
  if (lastModified !== null) validators['last-modified'] = lastModified;
  const text = (status: number, extra: Record<string, string> = {}): Answer => ({
    status,
    headers: { 'content-type': 'text/plain', ...extra },
    body: Buffer.from(`${http.STATUS_CODES[status] ?? status}\n`),
  });
  const whole = (): Answer => ({ status: 200, headers: { ...validators, 'content-type': 'application/octet-stream' }, body: data });

  const kind = reply.kind ?? 'normal';
  if (kind === 'status') return text(reply.status ?? 500);
  if (kind === 'redirect') return text(reply.status ?? 302, { location: reply.location ?? '/' });
  if (kind === 'full') return whole();

  const ranges = parseRange(req.headers.range, data.length);
  if (ranges === undefined) return whole();
  if (ranges === 'unsatisfiable') return text(416, { 'content-range': `bytes */${data.length}` });
  const ifRange = req.headers['if-range'];
  if (kind === 'normal' && ifRange !== undefined && ifRange !== etag && ifRange !== lastModified) return whole();

  const partial = (start: number, end: number, contentRange = `bytes ${start}-${end - 1}/${data.length}`): Answer => ({
    status: 206,
    headers: { ...validators, 'content-type': 'application/octet-stream', 'content-range': contentRange },
    body: Buffer.from(data.subarray(start, end)),
  });
  if (kind === 'content-range')
    return { ...partial(ranges[0]!.start, ranges[0]!.end), headers: { ...validators, 'content-range': reply.contentRange ?? '' } };
  if (kind === 'coalesce') return partial(ranges[0]!.start, ranges[ranges.length - 1]!.end);
  if (kind === 'whole-206') return partial(0, data.length);
  if (kind === 'normal' && ranges.length === 1) return partial(ranges[0]!.start, ranges[0]!.end);
  return {
    status: 206,
    headers: { ...validators, 'content-type': `multipart/byteranges; boundary=${BOUNDARY}` },
    body: multipartBody(data, ranges, reply.multipart ?? {}),
  };
}

/** Builds a multipart/byteranges body for `ranges` of `data`. */
export function multipartBody(
  data: Uint8Array,
  ranges: readonly { start: number; end: number }[],
  style: MultipartStyle = {},
  boundary = BOUNDARY,
): Buffer {
  const nl = style.lf ? '\n' : '\r\n';
  let parts = ranges.map((r) => ({ ...r }));
  if (style.mergeAdjacent) {
    const merged: { start: number; end: number }[] = [];
    for (const part of parts) {
      const last = merged[merged.length - 1];
      if (last !== undefined && part.start <= last.end) last.end = Math.max(last.end, part.end);
      else merged.push(part);
    }
    parts = merged;
  }
  if (style.dropPart !== undefined) parts.splice(style.dropPart, 1);
  if (style.grow !== undefined && parts.length > 0) parts[0]!.end = Math.min(data.length, parts[0]!.end + style.grow);
  if (style.reverse) parts.reverse();
  const out: Buffer[] = [];
  parts.forEach((part, i) => {
    const lead = i === 0 && style.leadingCrlf === false ? '' : nl;
    const mark = style.garble === 'bad-boundary' && i === 1 ? `${boundary}X` : boundary;
    const contentRange =
      style.garble === 'no-content-range' && i === 0 ? '' : `Content-Range: bytes ${part.start}-${part.end - 1}/${data.length}${nl}`;
    out.push(Buffer.from(`${lead}--${mark}${nl}Content-Type: application/octet-stream${nl}${contentRange}${nl}`, 'latin1'));
    const end = style.garble === 'short-part' && i === 0 ? part.end - 1 : part.end;
    out.push(Buffer.from(data.subarray(part.start, end)));
  });
  out.push(Buffer.from(`${nl}--${boundary}--${nl}`, 'latin1'));
  return Buffer.concat(out);
}

/** Parses `bytes=a-b,c-,...` into half-open ranges clipped to `size`. */
function parseRange(header: string | undefined, size: number): { start: number; end: number }[] | 'unsatisfiable' | undefined {
  if (header === undefined || !header.startsWith('bytes=')) return undefined;
  const ranges: { start: number; end: number }[] = [];
  for (const spec of header.slice('bytes='.length).split(',')) {
    const match = /^\s*(\d+)-(\d*)\s*$/.exec(spec);
    if (match === null) return undefined;
    const start = Number(match[1]);
    const end = match[2] === '' ? size : Math.min(size, Number(match[2]) + 1);
    if (start >= size || end <= start) continue;
    ranges.push({ start, end });
  }
  return ranges.length === 0 ? 'unsatisfiable' : ranges;
}

/** Deterministic pseudo-random bytes (for test bodies). */
export function testBytes(length: number, seed = 1): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
