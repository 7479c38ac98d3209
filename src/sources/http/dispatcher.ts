/**
 * The undici dispatchers of gosync's HTTP requests: keep-alive connection pools per origin,
 * through the proxy the environment names (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`, as curl
 * and undici read them), HTTP/2 offered to https origins, and extra certificates to trust.
 *
 * @module
 */

import type { EventEmitter } from 'node:events';
import { getCACertificates } from 'node:tls';
import { EnvHttpProxyAgent, Pool, getGlobalDispatcher, type Dispatcher } from 'undici';
import { DEFAULT_TIMEOUT_MS } from './http-request.js';

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
   * Proxies: default the environment's (`http_proxy`/`HTTP_PROXY`, `https_proxy`/`HTTPS_PROXY`,
   * `no_proxy`/`NO_PROXY`, read when the dispatcher is made; NO_PROXY also later); `false`
   * connects directly.
   */
  proxy?: HttpProxySettings | false;
}

/** Whether https origins are offered HTTP/2 unless told otherwise. */
export const HTTP2_DEFAULT = false;

/**
 * HTTP/2 flow-control windows. undici's defaults (256 KiB per stream, 512 KiB per connection)
 * cap one connection at 512 KiB per round trip: 42 Mbit/s at 100 ms, under a long fat link's
 * rate. 16 MiB per connection covers 100 ms at 1 Gbit/s; a stream's window is a quarter of it
 * so that a few ranges in flight share the connection. What the windows allow in is bounded
 * by them, and the readers apply their own bound (`maxBytesInFlight`).
 */
const HTTP2_CONNECTION_WINDOW = 16 * 1024 * 1024;
const HTTP2_STREAM_WINDOW = 4 * 1024 * 1024;

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
  const ca =
    options.ca === undefined ? undefined : [...getCACertificates('default'), ...(Array.isArray(options.ca) ? options.ca : [options.ca])];
  const tls = { timeout, allowH2: http2, ...(ca === undefined ? {} : { ca }) };
  const pool: Pool.Options = {
    connections: options.connections ?? 8,
    pipelining: 1,
    headersTimeout: timeout,
    bodyTimeout: timeout,
    allowH2: http2,
    ...(http2 ? { initialWindowSize: HTTP2_STREAM_WINDOW, connectionWindowSize: HTTP2_CONNECTION_WINDOW } : {}),
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
      const connect = (opts as Pool.Options).connect;
      return keptPool(origin, { ...pool, connect: connect ?? tls });
    },
    ...(proxy.httpProxy === undefined ? {} : { httpProxy: proxy.httpProxy }),
    ...(proxy.httpsProxy === undefined ? {} : { httpsProxy: proxy.httpsProxy }),
    ...(proxy.noProxy === undefined ? {} : { noProxy: proxy.noProxy }),
  });
}

/**
 * The dispatcher of requests made without one: undici's global dispatcher, unless the
 * environment names a proxy, then one shared dispatcher from {@link createHttpDispatcher}
 * (made on first use, never closed: its idle connections do not keep the process alive).
 */
export function defaultHttpDispatcher(): Dispatcher {
  if (!environmentNamesProxy()) return getGlobalDispatcher();
  shared ??= createHttpDispatcher();
  return shared;
}

let shared: Dispatcher | undefined;

function environmentNamesProxy(): boolean {
  const env = process.env;
  return [env.http_proxy, env.HTTP_PROXY, env.https_proxy, env.HTTPS_PROXY].some((value) => value !== undefined && value !== '');
}

/**
 * A pool that undici's `Agent` (under the proxy agents) never closes by itself. The Agent
 * closes an origin's pool when its last connection drops (a `Connection: close` answer, a
 * server's per-connection request limit, an idle timeout), and the `disconnect` handler of
 * the closing pool then closes whatever pool serves the origin by then, so each new pool is
 * closed after its first request and every later request opens a new connection
 * (nodejs/undici#5022; still so in 7.30.2, the last undici 7). The Agent decides on the
 * pool's `disconnect` and `connectionError` events, so this pool does not emit them; the
 * pools live until the dispatcher is closed.
 */
function keptPool(origin: string | URL, options: Pool.Options): Pool {
  const pool = new Pool(origin, options);
  const emit = pool.emit.bind(pool) as unknown as EventEmitter['emit'];
  return Object.assign(pool, {
    emit: (event: string | symbol, ...args: unknown[]): boolean =>
      event === 'disconnect' || event === 'connectionError' ? false : emit(event, ...args),
  });
}
