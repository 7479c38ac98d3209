/**
 * The server end of a session (`gosync serve --stdio`): what ssh runs on the remote
 * machine, or a forced command in `authorized_keys` runs whatever the client asked.
 *
 * The client says what to do in its HELLO frame (push or pull, and a path); the server
 * checks it against its own settings before anything else happens: with `root`, the
 * path is a tree path below that folder (no `..`, not absolute, no link on the way) and
 * every write stays inside it; with `readOnly`, a push is refused. Then it answers
 * WELCOME and runs the receiving or sending end.
 *
 * @module
 */
import { ErrorCodes, SyncError } from '../core/errors.js';
import { TreeRoot, checkTreePath } from '../localfs/tree-path.js';
import { Channel, streamCompression, type CompressionOptions, type Transport } from './wire/channel.js';
import { FrameType, frameName } from './wire/frames.js';
import { openRegularFile } from './read-file.js';
import { decodeHello, encodeGreeting, encodeJson, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, type Hello } from './wire/handshake.js';
import { protocolError } from './wire/binary.js';
import type { ReceiverTarget } from './destination.js';
import { listSource, listedBytes } from './source-list.js';
import type { FinishReport } from './wire/report.js';
import { builtin } from '../util/builtin.js';

const { basename, dirname, resolve } = builtin('node:path');

/** Options of {@link serveSession}. */
export interface ServeSessionOptions {
  /** Confine every path to this folder (relative paths only, nothing outside it). */
  root?: string;
  /** Refuse to receive (pushes). */
  readOnly?: boolean;
  /** Folder relative paths start from without `root` (default: the working directory). */
  cwd?: string;
  /** The sender's compression. */
  compression?: CompressionOptions;
  /** The umask new files and folders of a push are masked with (the CLI passes `process.umask()`); default: none. */
  umask?: number;
  signal?: AbortSignal;
}

/** What a served session did. */
export interface ServedSession {
  hello: Hello;
  /** The receiver's report (from this end or from the client). */
  report: FinishReport;
}

/**
 * Where a path the client named is, as a root folder and a tree path in it. With `root`
 * the path must be a safe tree path (or '', '.' for the root itself; a trailing `/` is
 * ignored); without it, any path, relative to `cwd`.
 */
export function resolveServedPath(path: string, options: { root?: string; cwd?: string } = {}): ReceiverTarget {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, '') : path;
  if (options.root !== undefined) {
    const root = resolve(options.root);
    if (trimmed === '' || trimmed === '.' || trimmed === '/') return { container: new TreeRoot(root), name: '' };
    const rel = trimmed.replace(/^(\.\/)+/, '');
    try {
      checkTreePath(rel, 'the requested path');
    } catch (err) {
      throw new SyncError(ErrorCodes.UNSAFE_PATH, `${(err as Error).message}; this server only serves paths inside its root folder`, {
        path: rel,
      });
    }
    return { container: new TreeRoot(root), name: rel };
  }
  const abs = resolve(options.cwd ?? '.', trimmed === '' ? '.' : trimmed);
  if (abs === dirname(abs)) return { container: new TreeRoot(abs), name: '' };
  return { container: new TreeRoot(dirname(abs)), name: basename(abs) };
}

/**
 * Serves one session over `transport` (the process's stdin and stdout for `serve
 * --stdio`). Resolves when the session is done; rejects with the reason it failed,
 * after telling the client.
 */
export async function serveSession(transport: Transport, options: ServeSessionOptions = {}): Promise<ServedSession> {
  const channel = new Channel(transport, { peer: 'the client', ...(options.signal ? { signal: options.signal } : {}) });
  const readOnly = options.readOnly ?? false;
  try {
    await channel.writeRaw(encodeGreeting({ role: 'server', maxVersion: PROTOCOL_VERSION, minVersion: MIN_PROTOCOL_VERSION, readOnly }));
    channel.expectGreeting('client');
    // A push's data (from the client) is compressed from the byte after HELLO.
    channel.decompressAfter((f) => {
      if (f.type !== FrameType.HELLO) return false;
      try {
        return decodeHello(f.payload).op === 'push';
      } catch {
        return false;
      }
    });
    const frame = await channel.next();
    if (!frame) throw await channel.closedError();
    if (frame.type !== FrameType.HELLO)
      throw protocolError('start the session', `the client sent a ${frameName(frame.type)} frame instead of HELLO`);
    const hello = decodeHello(frame.payload);
    // The end this session runs loads while the request is checked, and only that end:
    // the client's HELLO is here by the time this process has started (ssh's handshake
    // and Node's start are far longer than its trip), so loading both ends at start only
    // delayed the answer.
    const receiver = hello.op === 'push' ? import('./receiver.js') : undefined;
    const sender = hello.op === 'push' ? undefined : import('./sender.js');
    receiver?.catch(() => {});
    sender?.catch(() => {});
    const target = resolveServedPath(hello.path, options);
    const shown = target.name === '' ? target.container.root : target.container.local(target.name);
    if (hello.op === 'push' && readOnly) {
      throw new SyncError(ErrorCodes.REFUSED, `Cannot write ${shown}: the server is read-only (serve --read-only)`, { path: shown });
    }
    if (target.name !== '') await target.container.checkParents(target.name);
    // A push's seeds are the server's files, found as the path is: inside the root, if any.
    const seeds: string[] = [];
    if (hello.op === 'push') {
      for (const p of hello.seeds ?? []) {
        const seed = resolveServedPath(p, options);
        if (seed.name === '') throw new SyncError(ErrorCodes.UNSAFE_PATH, `Cannot use the seed ${p}: it is a folder`, { path: p });
        await seed.container.checkParents(seed.name);
        const local = seed.container.local(seed.name);
        // Checked before WELCOME, so that a missing seed is the session's one answer.
        const f = await openRegularFile(local);
        await f.fh.close().catch(() => {});
        seeds.push(local);
      }
    }
    await channel.send(FrameType.WELCOME, encodeJson({ readOnly, filters: true, checksum: true, seeds: true }));
    let report: FinishReport;
    if (hello.op === 'push') {
      const { runReceiver } = await receiver!;
      report = await runReceiver(channel, target, {
        delete: hello.delete,
        dryRun: hello.dryRun,
        ...(hello.filter ? { filter: hello.filter } : {}),
        ...(hello.deleteExcluded ? { deleteExcluded: true } : {}),
        ...(hello.checksum ? { checksum: true } : {}),
        ...(seeds.length > 0 ? { seeds } : {}),
        ...(options.umask !== undefined ? { umask: options.umask } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } else {
      const list = listSource(shown, options.signal, hello.filter);
      list.catch(() => {});
      // Its level follows the size of the source (a failed listing is reported through the stream).
      const listed = await list.catch(() => undefined);
      channel.compressOutgoing(streamCompression(listed ? listedBytes(listed) : 0, options.compression));
      const { runSender } = await sender!;
      report = await runSender(channel, shown, {
        list,
        ...(hello.checksum ? { checksum: true } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    }
    await transport.close();
    return { hello, report };
  } catch (err) {
    throw await channel.failSession(err);
  }
}
