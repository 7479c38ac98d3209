/**
 * `node:http2` as undici's HTTP/2 client sees it, loaded only when a connection is made.
 *
 * undici's client requires `node:http2` when it is loaded, to read a few constants, although
 * only a TLS connection that negotiates h2 uses it; `node:http2` loads `node:tls` and the
 * crypto bindings with it. Measured (hyperfine, 30 runs, Node 24, this machine): `node -e 0`
 * 27 ms, `require('node:http2')` 48 ms; every plain-HTTP command paid those 21 ms and ~10 MiB
 * of memory. undici.ts hands undici this module instead: its constants are the protocol's own
 * values (header names of RFC 9110/9113, error codes of RFC 9113 section 7), worked out here
 * without the module, and anything else (`connect`, another constant) loads the real one.
 * test/sources/http/lazy-http2.test.ts checks every constant against `node:http2`'s.
 *
 * @module
 */
import { builtin } from '../../util/builtin.js';

let real: typeof import('node:http2') | undefined;
const http2 = (): typeof import('node:http2') => {
  real ??= builtin('node:http2');
  return real;
};

/** RFC 9113 section 7: the error codes of RST_STREAM and GOAWAY frames. */
const ERROR_CODES: Readonly<Record<string, number>> = {
  NGHTTP2_NO_ERROR: 0x0,
  NGHTTP2_PROTOCOL_ERROR: 0x1,
  NGHTTP2_INTERNAL_ERROR: 0x2,
  NGHTTP2_FLOW_CONTROL_ERROR: 0x3,
  NGHTTP2_SETTINGS_TIMEOUT: 0x4,
  NGHTTP2_STREAM_CLOSED: 0x5,
  NGHTTP2_FRAME_SIZE_ERROR: 0x6,
  NGHTTP2_REFUSED_STREAM: 0x7,
  NGHTTP2_CANCEL: 0x8,
  NGHTTP2_COMPRESSION_ERROR: 0x9,
  NGHTTP2_CONNECT_ERROR: 0xa,
  NGHTTP2_ENHANCE_YOUR_CALM: 0xb,
  NGHTTP2_INADEQUATE_SECURITY: 0xc,
  NGHTTP2_HTTP_1_1_REQUIRED: 0xd,
};

/** The pseudo-headers of RFC 9113 section 8.3 (and RFC 8441's `:protocol`). */
const PSEUDO_HEADERS = new Set(['AUTHORITY', 'METHOD', 'PATH', 'SCHEME', 'STATUS', 'PROTOCOL']);

/**
 * `HTTP2_HEADER_<NAME>` is the header's name in lower case with `-` for `_` (`:` first for a
 * pseudo-header); the headers whose names do not follow that rule are left to the real module.
 */
function headerName(key: string): string | undefined {
  const name = key.slice('HTTP2_HEADER_'.length);
  if (PSEUDO_HEADERS.has(name)) return `:${name.toLowerCase()}`;
  return /^[A-Z0-9_]+$/.test(name) ? name.toLowerCase().replaceAll('_', '-') : undefined;
}

/** The constants undici reads when it is loaded, and the real module's for any other. */
export const constants: typeof import('node:http2').constants = new Proxy({} as typeof import('node:http2').constants, {
  get(_target, key) {
    if (typeof key === 'string') {
      const code = ERROR_CODES[key];
      if (code !== undefined) return code;
      if (key.startsWith('HTTP2_HEADER_')) {
        const name = headerName(key);
        if (name !== undefined) return name;
      }
    }
    return Reflect.get(http2().constants, key);
  },
});

/** `http2.connect`, loading `node:http2` on the first connection. */
export const connect: typeof import('node:http2').connect = ((...args: Parameters<typeof import('node:http2').connect>) =>
  http2().connect(...args)) as typeof import('node:http2').connect;
