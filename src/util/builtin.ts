/**
 * Node's built-in modules by `require` rather than `import` (docs/architecture.md, "Node's
 * built-ins"). An ESM import of a built-in builds a namespace of all its exports, and reading
 * each export runs its lazy getter: `node:fs`'s `promises`, `ReadStream` and `WriteStream` load
 * fs/promises, readline and the stream classes; `node:util`'s the worker threads and the diff
 * printer; `node:http`'s the WebSocket and fetch machinery. `require` hands back the module,
 * which Node's own start-up has mostly loaded already. In a fresh process (medians of 7),
 * `import` against `require`: `node:fs` 4.4 ms against 0.01, `node:util` 3.4 against 0.01,
 * `node:http` 35.6 against 4.8, `node:child_process` 3.9 against 2.8, `node:stream` 2.0
 * against 1.5, `node:os` 0.53 against 0.25, `node:path` and `node:events` 0.23 against 0.01;
 * `node:crypto` and `node:zlib` cost the same either way and are imported; `node:fs/promises`
 * is reached through util/fs-promises.ts, which loads it only to open a FileHandle.
 * One `createRequire` for every module that needs a built-in (each costs 0.05-0.08 ms, and the
 * build command's modules are thirty); sources/http/undici.ts has its own, for undici's files. It also loads a built-in only where it is needed, synchronously (`node:tls`,
 * `node:http2` and `node:worker_threads`, which most commands never use).
 *
 * @example
 * ```ts
 * const { join } = builtin('node:path');
 * ```
 *
 * @module
 */
import { createRequire } from 'node:module';

/** The built-ins gosync loads by `require`, and their types. */
interface Builtins {
  'node:child_process': typeof import('node:child_process');
  'node:diagnostics_channel': typeof import('node:diagnostics_channel');
  'node:events': typeof import('node:events');
  'node:fs': typeof import('node:fs');
  'node:fs/promises': typeof import('node:fs/promises');
  'node:http': typeof import('node:http');
  'node:http2': typeof import('node:http2');
  'node:os': typeof import('node:os');
  'node:path': typeof import('node:path');
  'node:stream': typeof import('node:stream');
  'node:timers/promises': typeof import('node:timers/promises');
  'node:tls': typeof import('node:tls');
  'node:util': typeof import('node:util');
  'node:worker_threads': typeof import('node:worker_threads');
}

const load = createRequire(import.meta.url);

/** The built-in module `name`, loaded on this call if nothing loaded it before. */
export function builtin<K extends keyof Builtins>(name: K): Builtins[K] {
  return load(name) as Builtins[K];
}
