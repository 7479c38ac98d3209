/**
 * The undici dispatchers of gosync's HTTP requests: keep-alive connection pools per origin,
 * through the proxy the environment names (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`, as curl
 * and undici read them), HTTP/2 offered to https origins, and extra certificates to trust.
 *
 * @module
 */

import type { TLSSocket } from 'node:tls';
import type { Dispatcher, Pool as PoolType, buildConnector } from 'undici';
import { DEFAULT_TIMEOUT_MS } from './http-request.js';
import { Client, EnvHttpProxyAgent, Pool, getGlobalDispatcher } from './undici.js';
import { builtin } from '../../util/builtin.js';

/** The proxies of {@link HttpDispatcherOptions.proxy}, in the form of the environment variables. */
export interface HttpProxySettings {
  /** Proxy of http URLs (`HTTP_PROXY`); credentials in it are sent as `Proxy-Authorization`. */
  readonly httpProxy?: string;
  /** Proxy of https URLs (`HTTPS_PROXY`); default the http one. */
  readonly httpsProxy?: string;
  /** Hosts reached directly (`NO_PROXY`): names (a leading `.` or `*.` for subdomains), `host:port`, or `*`. */
  readonly noProxy?: string;
}

/** Options of {@link createHttpDispatcher}. */
export interface HttpDispatcherOptions {
  /** Keep-alive connections per origin (HTTP/1.1; an HTTP/2 origin takes one). Default 8. */
  connections?: number;
  /** Connect timeout, headers timeout and body idle timeout. Default 30 000 ms. */
  timeoutMs?: number;
  /** Certificates (PEM) trusted for HTTPS besides Node's (`--cacert`; NODE_EXTRA_CA_CERTS adds to Node's own). */
  ca?: string | Buffer | readonly (string | Buffer)[];
  /**
   * Offer HTTP/2 to https origins (ALPN; the server chooses, HTTP/1.1 otherwise). Default
   * {@link HTTP2_DEFAULT} (docs/hosting.md has the measurement).
   */
  http2?: boolean;
  /**
   * HTTP/2 flow-control windows in bytes: per connection (default 16 MiB) and per stream
   * (default 4 MiB). undici's own are 512 KiB and 256 KiB.
   */
  http2Windows?: { connection?: number; stream?: number };
  /**
   * Proxies: default the environment's (`http_proxy`/`HTTP_PROXY`, `https_proxy`/`HTTPS_PROXY`,
   * `no_proxy`/`NO_PROXY`, read when the dispatcher is made; NO_PROXY also later); `false`
   * connects directly.
   */
  proxy?: HttpProxySettings | false;
}

/**
 * Default of `HttpSourceOptions.singleRangeConnections` (http-source.ts), and so the
 * connections per origin of the dispatcher an `HttpSource` makes for itself. Measured with
 * `node dist/bench/hosts.js --fetch --runs 5 --only s3-first` (50 ms RTT, 100 Mbit/s, the 312
 * ranges of 400 scattered edits; medians against nginx with multi-range): 16 in flight took
 * 2.5x nginx's time, 32 2.2x, 64 1.2-1.4x, with the same bytes.
 */
export const SINGLE_RANGE_CONNECTIONS = 64;

/**
 * Whether https origins are offered HTTP/2 unless told otherwise: yes. Over the emulated
 * WAN link HTTP/2 tied with HTTP/1.1 on bulk transfers and took 0.32× the time with many
 * single-range requests in flight (docs/hosting.md, `npm run bench -- --only http2`). undici
 * 7's HTTP/2 client hung when its one connection was reset mid-transfer (every retry timed
 * out); undici 8 reconnects (test/integration/http2-tls.test.ts, "connection cut").
 */
export const HTTP2_DEFAULT = true;

/**
 * HTTP/2 flow-control windows. undici's defaults (256 KiB per stream, 512 KiB per connection)
 * cap one connection at 512 KiB per round trip: 42 Mbit/s at 100 ms, under a long fat link's
 * rate. 16 MiB per connection covers 100 ms at 1 Gbit/s; a stream's window is a quarter of it
 * so that a few ranges in flight share the connection. What the windows allow in is bounded
 * by them, and the readers apply their own bound (`maxBytesInFlight`).
 */
const HTTP2_CONNECTION_WINDOW = 16 * 1024 * 1024;
const HTTP2_STREAM_WINDOW = 4 * 1024 * 1024;
/** Requests in flight on one HTTP/2 connection at most (nginx allows 128 by default; undici follows a lower limit the server announces). */
const HTTP2_STREAMS = 100;

/**
 * A dispatcher of keep-alive connections (one pool of up to `connections` per origin) to
 * share between several {@link HttpSource}s and `httpGet` calls, e.g. the files of a
 * folder: requests for many files then reuse the same connections. Requests go through the
 * proxy the environment names (see {@link HttpDispatcherOptions.proxy}): http URLs as
 * absolute-URI requests, https URLs through a `CONNECT` tunnel. Close it when done.
 */
export function createHttpDispatcher(options: HttpDispatcherOptions = {}): Dispatcher {
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const http2 = options.http2 ?? HTTP2_DEFAULT;
  // Node's default list (its bundle, and NODE_EXTRA_CA_CERTS) stays trusted beside the given ones.
  // `node:tls` only when certificates are given: loading it costs ~6 ms of every command's
  // start-up (hyperfine, `require('node:tls')` 40.6 ms vs `require('node:crypto')` 34.4 ms), and
  // undici loads it itself for the first https connection.
  const ca =
    options.ca === undefined
      ? undefined
      : [...builtin('node:tls').getCACertificates('default'), ...(Array.isArray(options.ca) ? options.ca : [options.ca])];
  const tls = { timeout, allowH2: http2, ...(ca === undefined ? {} : { ca }) };
  const pool: PoolType.Options = {
    connections: options.connections ?? 8,
    pipelining: 1,
    headersTimeout: timeout,
    bodyTimeout: timeout,
    allowH2: http2,
    ...(http2
      ? {
          initialWindowSize: options.http2Windows?.stream ?? HTTP2_STREAM_WINDOW,
          connectionWindowSize: options.http2Windows?.connection ?? HTTP2_CONNECTION_WINDOW,
        }
      : {}),
  };
  const proxy = options.proxy === false ? { httpProxy: '', httpsProxy: '', noProxy: '' } : (options.proxy ?? {});
  return new EnvHttpProxyAgent({
    ...pool,
    connect: tls,
    // Through a CONNECT tunnel, the TLS session with the origin.
    requestTls: tls,
    // http URLs as absolute-URI requests (as curl sends them): proxies often allow CONNECT to port 443 only.
    proxyTunnel: false,
    // One pool per origin, and one per proxy for the absolute-URI requests, with the
    // connection settings above; undici's own connector (direct, or the tunnel) is kept.
    factory: (origin: string | URL, opts: object) => {
      const connect = (opts as PoolType.Options).connect;
      return keptPool(origin, { ...pool, connect: connect ?? tls });
    },
    ...(proxy.httpProxy === undefined ? {} : { httpProxy: proxy.httpProxy }),
    ...(proxy.httpsProxy === undefined ? {} : { httpsProxy: proxy.httpsProxy }),
    ...(proxy.noProxy === undefined ? {} : { noProxy: proxy.noProxy }),
  });
}

/**
 * The dispatcher of requests made without one: undici's global dispatcher, which belongs
 * to the caller (the library reads no environment). The `gosync` command sets it to a
 * {@link createHttpDispatcher} when the environment names a proxy (src/cli/main.ts); a
 * program using the library does the same with undici's `setGlobalDispatcher`, or passes
 * a dispatcher.
 */
export function defaultHttpDispatcher(): Dispatcher {
  return getGlobalDispatcher();
}

/**
 * A pool that undici's `Agent` (under the proxy agents) never closes by itself. The Agent
 * closes an origin's pool when its last connection drops (a `Connection: close` answer, a
 * server's per-connection request limit, an idle timeout), and the `disconnect` handler of
 * the closing pool then closes whatever pool serves the origin by then, so each new pool is
 * closed after its first request and every later request opens a new connection
 * (nodejs/undici#5022; still so in 7.30.2, the last undici 7). The Agent decides on the
 * pool's `disconnect` and `connectionError` events, so this pool takes no new listeners for
 * them (the pool's own, added when it is made, still drop clients that failed to connect);
 * the pools live until the dispatcher is closed.
 *
 * Its connections carry one request at a time over HTTP/1.1 and up to
 * {@link HTTP2_STREAMS} over HTTP/2: undici 7 caps the streams of an HTTP/2 connection at
 * the `pipelining` option (default 1), which would also pipeline HTTP/1.1, so each
 * connection sets it once the server's choice of protocol (ALPN) is known.
 */
function keptPool(origin: string | URL, options: PoolType.Options): PoolType {
  const pool = new Pool(origin, {
    ...options,
    factory: (url: URL, clientOptions: object) => {
      const connector = (clientOptions as { connect: buildConnector.connector }).connect;
      const client = new Client(url, {
        ...clientOptions,
        connect: (connectOptions, callback) =>
          connector(connectOptions, (...args) => {
            if (args[1] != null) client.pipelining = (args[1] as TLSSocket).alpnProtocol === 'h2' ? HTTP2_STREAMS : 1;
            callback(...args);
          }),
      });
      return client;
    },
  });
  const on = pool.on.bind(pool) as unknown as (event: string | symbol, listener: (...args: unknown[]) => void) => PoolType;
  return Object.assign(pool, {
    on: (event: string | symbol, listener: (...args: unknown[]) => void): PoolType =>
      event === 'disconnect' || event === 'connectionError' ? pool : on(event, listener),
  });
}
