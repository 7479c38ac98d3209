/**
 * An HTTP proxy in front of a real server (nginx) that answers range requests the way the
 * hosts users publish to do (see docs/hosting.md), and optionally injects faults into a share
 * of the requests. Tests point gosync at the proxy and compare what it moved with the same
 * patch through the `nginx` behaviour (a plain pass-through).
 *
 * Behaviours (what a multi-range `Range: bytes=a-b,c-d` gets; single ranges pass through
 * unless said otherwise):
 * - `nginx`: everything passes through.
 * - `s3-whole`: 200 with the whole object (Amazon S3, R2, GCS as reported).
 * - `s3-first`: a 206 holding only the first range (S3, MinIO as reported).
 * - `github`: the path answers `302` to a signed URL that expires after `signedTtlMs` (then
 *   403); a multi-range request to the signed URL gets 501.
 * - `http-server`: a 206 holding only the first range (Node's `http-server`, `serve`).
 * - `cloudflare`: more than 300 ranges → 200 whole; overlapping or out-of-order → 416.
 * - `apache`: more than 200 ranges (`MaxRanges`) → 200 whole.
 * - `python`: `python -m http.server`: no Range support at all (200 whole), HTTP/1.0, one
 *   connection per request.
 *
 * Faults (`faults.rate` of the GETs for the reference, chosen by a seeded generator): a reset
 * before or during the body, a stall, a truncated body, one flipped byte, 503/429 with
 * Retry-After, Range ignored (200 whole).
 *
 * @module
 */

import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** A host's way of answering range requests. */
export type HostBehaviour = 'nginx' | 's3-whole' | 's3-first' | 'github' | 'http-server' | 'cloudflare' | 'apache' | 'python';

/** Every behaviour, for matrices. */
export const HOST_BEHAVIOURS: readonly HostBehaviour[] = [
  'nginx',
  's3-whole',
  's3-first',
  'github',
  'http-server',
  'cloudflare',
  'apache',
  'python',
];

/** A fault the proxy can inject. */
export type FaultKind = 'reset' | 'stall' | 'truncate' | 'flip' | '503' | '429' | 'ignore-range';

export const FAULT_KINDS: readonly FaultKind[] = ['reset', 'stall', 'truncate', 'flip', '503', '429', 'ignore-range'];

export interface FaultOptions {
  /** Share of the GETs that are faulted, 0..1. */
  readonly rate: number;
  /** Seed of the generator choosing which requests and which fault. */
  readonly seed: number;
  /** The faults to choose from (default all). */
  readonly kinds?: readonly FaultKind[];
  /** How long a stalled answer hangs before its connection is cut (default 3000 ms). */
  readonly stallMs?: number;
  /** Only requests whose path passes this are faulted (default all). */
  readonly only?: (path: string) => boolean;
}

export interface HostProxyOptions {
  /** The real server, e.g. nginx on 127.0.0.1. */
  readonly target: { readonly host?: string; readonly port: number };
  readonly behaviour: HostBehaviour;
  /** For `github`: how long a signed URL works. Default 60 000 ms. */
  readonly signedTtlMs?: number;
  readonly faults?: FaultOptions;
  /** Called as each request comes in, before it is answered. */
  readonly onRequest?: (entry: ProxyLogEntry) => void | Promise<void>;
}

/** One request the proxy answered. */
export interface ProxyLogEntry {
  readonly method: string;
  readonly path: string;
  readonly range: string | undefined;
  status: number;
  /** Body bytes sent to the client. */
  bodyBytes: number;
  fault: FaultKind | undefined;
}

export interface HostProxy {
  /** Base URL ending in `/`. */
  readonly url: string;
  readonly port: number;
  /** Every request so far. */
  readonly log: ProxyLogEntry[];
  /** Body bytes sent to clients so far. */
  bodyBytes(): number;
  /** Clears the log. */
  reset(): void;
  close(): Promise<void>;
}

/** A parsed byte range, inclusive end as on the wire (open end / suffix kept as undefined). */
interface Spec {
  readonly first: number | undefined;
  readonly last: number | undefined;
}

function parseRanges(header: string | undefined): Spec[] | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(.*)$/i.exec(header.trim());
  if (m === null) return undefined;
  return m[1]!.split(',').map((part) => {
    const [a, b] = part.trim().split('-');
    return { first: a === '' || a === undefined ? undefined : Number(a), last: b === '' || b === undefined ? undefined : Number(b) };
  });
}

function formatSpec(s: Spec): string {
  return `bytes=${s.first ?? ''}-${s.last ?? ''}`;
}

/** True when the ranges are ascending and do not overlap (Cloudflare's condition). */
function ascending(specs: readonly Spec[]): boolean {
  let prev = -1;
  for (const s of specs) {
    if (s.first === undefined) return specs.length === 1;
    if (s.first <= prev) return false;
    prev = s.last ?? Number.MAX_SAFE_INTEGER;
  }
  return true;
}

/** What the behaviour does with a request before it goes upstream. */
type Decision =
  | { readonly kind: 'forward'; readonly range: string | undefined; readonly close?: boolean; readonly http10?: boolean }
  | { readonly kind: 'status'; readonly status: number; readonly headers?: Record<string, string> };

function decide(behaviour: HostBehaviour, range: string | undefined): Decision {
  const specs = parseRanges(range);
  const multi = specs !== undefined && specs.length > 1;
  switch (behaviour) {
    case 'nginx':
    case 'github':
      return { kind: 'forward', range };
    case 's3-whole':
      return { kind: 'forward', range: multi ? undefined : range };
    case 's3-first':
    case 'http-server':
      return { kind: 'forward', range: multi ? formatSpec(specs[0]!) : range };
    case 'cloudflare':
      if (specs !== undefined && !ascending(specs)) return { kind: 'status', status: 416 };
      return { kind: 'forward', range: specs !== undefined && specs.length > 300 ? undefined : range };
    case 'apache':
      return { kind: 'forward', range: specs !== undefined && specs.length > 200 ? undefined : range };
    case 'python':
      return { kind: 'forward', range: undefined, close: true, http10: true };
  }
}

/** xorshift32 in [0, 1). */
function generator(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x1_0000_0000;
  };
}

/** Starts the proxy on 127.0.0.1. */
export async function startHostProxy(options: HostProxyOptions): Promise<HostProxy> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const log: ProxyLogEntry[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const random = generator(options.faults?.seed ?? 1);
  const ttl = options.signedTtlMs ?? 60_000;

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const path = url.pathname;
    const range = req.headers.range;
    const entry: ProxyLogEntry = {
      method: req.method ?? 'GET',
      path: `${url.pathname}${url.search}`,
      range,
      status: 0,
      bodyBytes: 0,
      fault: undefined,
    };
    log.push(entry);
    void Promise.resolve(options.onRequest?.(entry)).then(() => handle(req, res, url, path, range, entry));
  });
  const handle = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    start: string,
    range: string | undefined,
    entry: ProxyLogEntry,
  ): void => {
    let path = start;
    const answer = (status: number, headers: Record<string, string> = {}): void => {
      entry.status = status;
      const body = Buffer.from(`${status}\n`);
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': String(body.length), ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
      if (req.method !== 'HEAD') entry.bodyBytes += body.length;
    };
    if (options.behaviour === 'github') {
      // GitHub release assets: 302 to a signed object URL valid for minutes (then 403), and
      // 501 for multi-range requests (electron/update-electron-app#232, probonopd/zsync-curl#15).
      if (!path.startsWith('/signed/')) {
        answer(302, { location: `/signed${path}?expires=${Date.now() + ttl}` });
        return;
      }
      if (Number(url.searchParams.get('expires')) < Date.now()) {
        answer(403);
        return;
      }
      path = path.slice('/signed'.length);
      if ((parseRanges(range)?.length ?? 0) > 1) {
        answer(501);
        return;
      }
    }
    let decision = decide(options.behaviour, range);
    if (decision.kind === 'status') {
      answer(decision.status, decision.headers);
      return;
    }
    const faults = options.faults;
    let fault: FaultKind | undefined;
    if (faults !== undefined && req.method === 'GET' && (faults.only?.(path) ?? true) && random() < faults.rate) {
      const kinds = faults.kinds ?? FAULT_KINDS;
      fault = kinds[Math.floor(random() * kinds.length)]!;
      entry.fault = fault;
    }
    if (fault === '503' || fault === '429') {
      answer(Number(fault), { 'retry-after': random() < 0.8 ? '0' : '1' });
      return;
    }
    if (fault === 'reset' && random() < 0.5) {
      req.socket.destroy();
      return;
    }
    if (fault === 'ignore-range') decision = { ...decision, range: undefined };
    const headers: http.OutgoingHttpHeaders = { ...req.headers, host: `127.0.0.1:${options.target.port}` };
    delete headers.range;
    delete headers.connection;
    if (decision.range !== undefined) headers.range = decision.range;
    else delete headers['if-range'];
    const upstream = http.request(
      {
        host: options.target.host ?? '127.0.0.1',
        port: options.target.port,
        method: req.method,
        path: `${path}${url.search}`,
        headers,
        agent,
      },
      (up) => relay(up),
    );
    upstream.on('error', () => req.socket.destroy());
    upstream.end();

    const relay = (up: http.IncomingMessage): void => {
      entry.status = up.statusCode ?? 502;
      const outHeaders = { ...up.headers };
      delete outHeaders.connection;
      delete outHeaders['keep-alive'];
      const length = Number(up.headers['content-length'] ?? Number.NaN);
      // Where a body fault strikes: a byte offset within the body.
      const at = Number.isFinite(length) && length > 0 ? Math.floor(random() * length) : 0;
      if (decision.http10) {
        // python's http.server: an HTTP/1.0 status line, Connection: close, nothing kept.
        const lines = [`HTTP/1.0 ${entry.status} ${http.STATUS_CODES[entry.status] ?? ''}`];
        for (const [name, value] of Object.entries(outHeaders)) if (value !== undefined) lines.push(`${name}: ${String(value)}`);
        lines.push('connection: close', '', '');
        const socket = req.socket;
        socket.write(lines.join('\r\n'));
        up.on('data', (chunk: Buffer) => {
          entry.bodyBytes += chunk.length;
          if (!socket.write(chunk)) up.pause();
        });
        socket.on('drain', () => up.resume());
        up.on('end', () => socket.end());
        socket.on('close', () => up.destroy());
        return;
      }
      res.writeHead(entry.status, outHeaders);
      if (decision.close) res.shouldKeepAlive = false;
      let sent = 0;
      if (fault === 'stall') {
        const timer = setTimeout(() => {
          timers.delete(timer);
          req.socket.destroy();
          up.destroy();
        }, faults?.stallMs ?? 3000);
        timers.add(timer);
        up.pause();
        return;
      }
      up.on('data', (chunk: Buffer) => {
        let out = chunk;
        if ((fault === 'reset' || fault === 'truncate') && sent + chunk.length > at) {
          out = chunk.subarray(0, at - sent);
          entry.bodyBytes += out.length;
          res.write(out);
          up.destroy();
          // A truncated body ends cleanly on the wire as far as it goes; a reset is abrupt.
          if (fault === 'truncate') req.socket.end();
          else req.socket.destroy();
          return;
        }
        if (fault === 'flip' && sent <= at && at < sent + chunk.length) {
          out = Buffer.from(chunk);
          out[at - sent] = out[at - sent]! ^ 0x5a;
        }
        sent += chunk.length;
        entry.bodyBytes += out.length;
        if (!res.write(out)) up.pause();
      });
      res.on('drain', () => up.resume());
      up.on('end', () => res.end());
      res.on('close', () => up.destroy());
    };
  };
  server.keepAliveTimeout = 30_000;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', () => done()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    log,
    bodyBytes: () => log.reduce((n, e) => n + e.bodyBytes, 0),
    reset: () => {
      log.length = 0;
    },
    close: () =>
      new Promise<void>((done) => {
        for (const t of timers) clearTimeout(t);
        for (const s of sockets) s.destroy();
        agent.destroy();
        server.close(() => done());
      }),
  };
}
