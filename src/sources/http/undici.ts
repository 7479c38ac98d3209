/**
 * The parts of undici gosync uses, loaded from undici's own files instead of its index,
 * which loads every other part too (fetch, WebSocket, EventSource, the cache stores and
 * their SQLite, the mock agents, the interceptors): 543 modules. The classes are the same
 * objects a program gets from `import 'undici'` (one module per file), so dispatchers, errors
 * and the global dispatcher mix freely with those of the full package.
 *
 * Measured (hyperfine, 20 runs, Node 24, user + system CPU): `require('undici')` 139 ms,
 * these files 80 ms, `node -e 0` 26 ms. The file layout is undici 8's (the version
 * package.json pins); the tests of sources/http run every class through it.
 *
 * @module
 */
import module, { createRequire } from 'node:module';
import type * as Undici from 'undici';

const load = createRequire(import.meta.url);

// undici's client reads `node:http2` when it is loaded; it gets lazy-http2.js instead, which
// loads the real module on the first HTTP/2 connection (lazy-http2.js says what that saves).
// The hook sees only the client's own require and is gone once the client is loaded.
const LAZY_HTTP2 = new URL('./lazy-http2.js', import.meta.url).href;
const hooks = module.registerHooks?.({
  resolve(specifier, context, nextResolve) {
    if (specifier === 'node:http2' && context.parentURL?.endsWith('/undici/lib/dispatcher/client-h2.js')) {
      return { url: LAZY_HTTP2, format: 'module', shortCircuit: true };
    }
    return nextResolve(specifier, context);
  },
});
let client: typeof Undici.Client;
try {
  client = load('undici/lib/dispatcher/client.js') as typeof Undici.Client;
} finally {
  hooks?.deregister();
}

export const Client = client;
export const Pool = load('undici/lib/dispatcher/pool.js') as typeof Undici.Pool;
export const EnvHttpProxyAgent = load('undici/lib/dispatcher/env-http-proxy-agent.js') as typeof Undici.EnvHttpProxyAgent;
export const { getGlobalDispatcher, setGlobalDispatcher } = load('undici/lib/global.js') as {
  getGlobalDispatcher: typeof Undici.getGlobalDispatcher;
  setGlobalDispatcher: typeof Undici.setGlobalDispatcher;
};

// `request` and the other calls on a dispatcher, as undici's index adds them to every
// dispatcher (the same assignment, so loading the index later changes nothing).
const Dispatcher = load('undici/lib/dispatcher/dispatcher.js') as typeof Undici.Dispatcher;
Object.assign(Dispatcher.prototype, load('undici/lib/api/index.js') as object);
