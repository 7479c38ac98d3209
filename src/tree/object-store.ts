/**
 * Where a published tree's manifest and objects are read from: an http(s) base URL (one
 * shared pool of keep-alive connections for every file) or a local folder.
 *
 * @module
 */
import { open, readFile, stat } from '../util/fs-promises.js';
import type { Dispatcher } from 'undici';
import { ErrorCodes, SyncError, ioError } from '../core/errors.js';
import { isHttpUrl } from '../file/load-index.js';
import type { BlockSource } from '../core/block-source.js';
import { FileSource } from '../sources/file-source.js';
import { builtin } from '../util/builtin.js';

const { dirname, join } = builtin('node:path');

/** Reads objects by their name relative to the content base. */
export interface ObjectStore {
  /** A description for messages. */
  readonly name: string;
  /** The whole object (small ones: indexes), refused above `maxBytes`. */
  get(name: string, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array>;
  /**
   * The last `bytes` bytes of the object (all of it when shorter; an index's summary),
   * with the object's size when known.
   */
  tail(name: string, bytes: number, signal?: AbortSignal): Promise<{ body: Uint8Array; total?: number }>;
  /** A block source over the object, of `size` bytes when known. */
  open(name: string, size?: number): BlockSource;
  /** Requests and body bytes so far, over every object read. */
  stats(): { requests: number; bytes: number };
  close(): Promise<void>;
}

/** Options of {@link openObjectStore}. */
export interface ObjectStoreOptions {
  /** Keep-alive connections per origin (default 8). */
  connections?: number;
  headers?: Record<string, string>;
  /** The dispatcher of every request (the caller's: not closed here); default one made here. */
  dispatcher?: Dispatcher;
  /** Download cap in bytes per second, shared by every object and index read (`--bwlimit`). */
  bytesPerSecond?: number;
}

/** The folder (URL or path) a manifest location lives in. */
export function manifestFolder(location: string): string {
  return isHttpUrl(location) ? new URL('./', location).href : dirname(location);
}

/** Opens the store at `base` (an http(s) URL of a folder, or a local folder). */
export async function openObjectStore(base: string, options: ObjectStoreOptions = {}): Promise<ObjectStore> {
  if (isHttpUrl(base)) {
    const { createHttpDispatcher, HttpSource } = await import('../sources/http/http-source.js');
    const { httpGet } = await import('../sources/http/http-get.js');
    const { TokenBucket } = await import('../util/token-bucket.js');
    const limiter = options.bytesPerSecond === undefined ? undefined : new TokenBucket(options.bytesPerSecond);
    const root = base.endsWith('/') ? base : `${base}/`;
    const dispatcher: Dispatcher = options.dispatcher ?? createHttpDispatcher({ connections: options.connections ?? 8 });
    const counted = { requests: 0, bytes: 0 };
    const open = new Set<BlockSource>();
    return {
      name: root,
      async get(name, maxBytes, signal) {
        counted.requests++;
        const got = await httpGet(new URL(name, root), {
          dispatcher,
          maxBytes,
          ...(signal ? { signal } : {}),
          ...(options.headers ? { headers: options.headers } : {}),
        });
        counted.bytes += got.body.length;
        // An index or small object comes whole; the limit then holds on average.
        await limiter?.take(got.body.length, signal);
        return got.body;
      },
      async tail(name, bytes, signal) {
        counted.requests++;
        // A server that ignores ranges sends the whole object: bounded like an index.
        const got = await httpGet(new URL(name, root), {
          dispatcher,
          range: `bytes=-${bytes}`,
          maxBytes: Math.max(bytes, 1 << 20),
          ...(signal ? { signal } : {}),
          ...(options.headers ? { headers: options.headers } : {}),
        });
        counted.bytes += got.body.length;
        await limiter?.take(got.body.length, signal);
        if (!got.partial) return { body: got.body.subarray(Math.max(0, got.body.length - bytes)), total: got.body.length };
        return { body: got.body, ...(got.totalSize !== undefined ? { total: got.totalSize } : {}) };
      },
      open(name, size) {
        const source = new HttpSource(new URL(name, root).href, {
          dispatcher,
          connections: options.connections ?? 8,
          ...(size !== undefined ? { expectedSize: size } : {}),
          ...(options.headers ? { headers: options.headers } : {}),
          ...(limiter ? { limiter } : {}),
        });
        open.add(source);
        // Count what it received once it is closed.
        const close = source.close.bind(source);
        source.close = async () => {
          if (open.delete(source)) {
            counted.requests += source.stats.requests;
            counted.bytes += source.stats.bytes;
          }
          await close();
        };
        return source;
      },
      stats() {
        let { requests, bytes } = counted;
        for (const s of open) {
          requests += s.stats?.requests ?? 0;
          bytes += s.stats?.bytes ?? 0;
        }
        return { requests, bytes };
      },
      async close() {
        await Promise.all([...open].map((s) => s.close().catch(() => {})));
        if (options.dispatcher === undefined) await dispatcher.close();
      },
    };
  }
  const counted = { requests: 0, bytes: 0 };
  const local = (name: string) => join(base, ...name.split('/'));
  return {
    name: base,
    async get(name, maxBytes) {
      const path = local(name);
      try {
        const st = await stat(path);
        if (st.size > maxBytes)
          throw new SyncError(ErrorCodes.INDEX_CORRUPT, `Cannot read ${path}: it is ${st.size} bytes, over the limit of ${maxBytes}`, {
            path,
          });
        const data = await readFile(path);
        counted.requests++;
        counted.bytes += data.length;
        return data;
      } catch (cause) {
        throw ioError('read', path, cause);
      }
    },
    async tail(name, bytes) {
      const path = local(name);
      try {
        const fh = await open(path, 'r');
        try {
          const { size } = await fh.stat();
          const n = Math.min(size, bytes);
          const body = Buffer.alloc(n);
          const { bytesRead } = await fh.read(body, 0, n, size - n);
          counted.requests++;
          counted.bytes += bytesRead;
          return { body: body.subarray(0, bytesRead), total: size };
        } finally {
          await fh.close();
        }
      } catch (cause) {
        throw ioError('read', path, cause);
      }
    },
    open(name) {
      const source = new FileSource(local(name));
      const close = source.close.bind(source);
      let closed = false;
      source.close = async () => {
        if (!closed) {
          closed = true;
          counted.requests += source.stats.requests;
          counted.bytes += source.stats.bytes;
        }
        await close();
      };
      return source;
    },
    stats: () => ({ ...counted }),
    async close() {},
  };
}
