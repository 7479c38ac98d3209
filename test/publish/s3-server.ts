/**
 * An S3-compatible server on 127.0.0.1 for the publishing tests: s3rver (npm, a
 * devDependency), behind a small recording proxy.
 *
 * Why s3rver: Debian offers no S3 server that runs alone (no MinIO, Garage, SeaweedFS or
 * versitygw package; bookworm's radosgw 16.2 needs a running Ceph cluster, its
 * stand-alone dbstore back end came later), and npm's `@zenko/cloudserver` (Scality's
 * production server) is an old beta whose dependencies are git repositories, not
 * registry packages. s3rver is the most faithful server npm has: it implements the REST
 * API over HTTP (path-style), ListObjectsV2 with pagination, HEAD, multipart uploads,
 * stored Content-Type, Cache-Control and x-amz-meta-* metadata, S3's XML errors, and
 * anonymous GET with single ranges, so the published bucket can be patched from. Its
 * gaps: it refuses an unknown access key but does not verify SigV4 signatures (a wrong
 * secret passes); it reads a multi-range request as one range from the first start to
 * the end of the object (a 206 gosync's client accepts; S3 documents no multi-range
 * GET either); and it has no suffix ranges (`bytes=-n`, which S3 serves): it answers the
 * first bytes instead. The proxy rewrites a suffix range into the explicit range S3
 * would serve (a HEAD upstream tells the size), so a single-file client's first request,
 * the index summary, works as against S3.
 *
 * The proxy records every request (method, key, query, Range, status) in order, so tests
 * check the order of PUTs and count them, and can answer chosen requests with an error
 * instead of forwarding them (a server that fails some PUTs).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { type IncomingMessage, type Server, type ServerResponse, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The credentials s3rver accepts. */
export const S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
export const S3_REGION = 'us-east-1';

/** One request the proxy saw. */
export interface LoggedRequest {
  method: string;
  bucket: string;
  /** The object key (decoded), empty for bucket requests. */
  key: string;
  query: string;
  range: string | undefined;
  status: number;
}

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverClass = new (options: {
  port: number;
  address: string;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string }[];
}) => S3rverInstance;

/** A running server: `endpoint` is the proxy's URL, `log` what it saw. */
export interface S3TestServer {
  endpoint: string;
  log: LoggedRequest[];
  /** Answer a request with this status instead of forwarding it, when it returns one. */
  fault: ((method: string, key: string, query: string) => number | undefined) | undefined;
  /** The object PUTs (whole objects and multipart completions) that succeeded, by key, in order, from request `from` of the log on. */
  objectPuts(from?: number): string[];
  close(): Promise<void>;
}

function parsePath(url: string): { bucket: string; key: string; query: string } {
  const u = new URL(url, 'http://x');
  const [, bucket = '', ...rest] = u.pathname.split('/');
  return { bucket: decodeURIComponent(bucket), key: decodeURIComponent(rest.join('/')), query: u.search.slice(1) };
}

/** The size of the object at `path` upstream (an anonymous HEAD), if it exists. */
function upstreamSize(port: number, path: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const head = request({ host: '127.0.0.1', port, method: 'HEAD', path }, (answer) => {
      answer.resume();
      const length = Number(answer.headers['content-length']);
      resolve(answer.statusCode === 200 && Number.isSafeInteger(length) ? length : undefined);
    });
    head.on('error', () => resolve(undefined));
    head.end();
  });
}

/** Starts s3rver with `buckets` on 127.0.0.1 and the recording proxy in front of it. */
export async function startS3Server(buckets: string[]): Promise<S3TestServer> {
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;
  const directory = await mkdtemp(join(tmpdir(), 'gosync-s3rver-'));
  const s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: buckets.map((name) => ({ name })) });
  const upstream = await s3.run();
  const log: LoggedRequest[] = [];
  const server: S3TestServer = {
    endpoint: '',
    log,
    fault: undefined,
    objectPuts: (from = 0) =>
      log
        .slice(from)
        .filter(
          (r) =>
            r.status === 200 &&
            ((r.method === 'PUT' && !r.query.includes('uploadId')) || (r.method === 'POST' && r.query.includes('uploadId'))),
        )
        .map((r) => r.key),
    async close() {
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      proxy.closeAllConnections();
      await s3.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
  const proxy: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const { bucket, key, query } = parsePath(req.url ?? '/');
    const entry: LoggedRequest = { method: req.method ?? '', bucket, key, query, range: req.headers.range, status: 0 };
    log.push(entry);
    const status = server.fault?.(entry.method, key, query);
    if (status !== undefined) {
      req.resume();
      req.on('end', () => {
        entry.status = status;
        res.writeHead(status, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected by the test</Message></Error>');
      });
      return;
    }
    const headers = { ...req.headers };
    const suffix = /^bytes=-(\d+)$/.exec(req.headers.range ?? '');
    if (suffix && req.method === 'GET') {
      const size = await upstreamSize(upstream.port, req.url ?? '/');
      if (size !== undefined) headers.range = `bytes=${Math.max(0, size - Number(suffix[1]))}-${size - 1}`;
    }
    const up = request({ host: '127.0.0.1', port: upstream.port, method: req.method, path: req.url, headers }, (answer) => {
      entry.status = answer.statusCode ?? 0;
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  server.endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  return server;
}
