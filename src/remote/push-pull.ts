/**
 * `push` and `pull`: make a path on one machine a copy of a path on another, through
 * `ssh` and a `gosync serve --stdio` at the far end, moving only what changed (rsync's
 * model: the receiver sends signatures of its old files, the sender answers with deltas).
 * Without a host, both ends run in this process over an in-memory pipe: the same
 * protocol, the same code.
 *
 * The destination path itself becomes a copy of the source path, whatever it was
 * before and whether it existed or not (a non-empty folder is replaced by a file or link
 * only with `delete`).
 *
 * @module
 */
import { realpath } from '../util/fs-promises.js';
import { ErrorCodes, SyncError, ioError, throwIfAborted } from '../core/errors.js';
import type { FilterRule } from '../localfs/filter.js';
import { TokenBucket } from '../util/token-bucket.js';
import { Channel, streamCompression, type CompressionOptions, type Transport } from './wire/channel.js';
import { FrameType } from './wire/frames.js';
import {
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  ZSTD_VERSION,
  decodeWelcome,
  encodeGreeting,
  encodeJson,
  type Hello,
} from './wire/handshake.js';
import { parseRemote, type RemoteLocation } from './remote-path.js';
import type { FinishReport, SyncProgress, SyncReport } from './wire/report.js';
import { resolveServedPath, serveSession } from './serve-stdio.js';
import { listSource, listedBytes, type SourceList } from './source-list.js';
import type { SenderOptions } from './sender.js';
import { commandTransport, memoryPipe, sshTransport } from './transport.js';
import { builtin } from '../util/builtin.js';

const { resolve } = builtin('node:path');

/** Options of {@link push} and {@link pull}. */
export interface PushPullOptions {
  /** Remove entries of the destination the source does not have (rsync's `--delete`). */
  delete?: boolean;
  /** Report what would change; the destination is not touched. */
  dryRun?: boolean;
  /**
   * Decide which files to update by their content's SHA-256 instead of size and mtime
   * (rsync's `--checksum`): every file of the same size is read at both ends. Refused by
   * a server too old to apply it.
   */
  checksum?: boolean;
  /**
   * Other files of the receiving end whose blocks a new file may reuse (`-i`), as a folder
   * patch's seeds: a file the destination does not have is signed against them, end to
   * end, instead of nothing (when it is at least 8 times the size of their signature).
   * Regular files; a link is followed. Pull: local paths. Push: paths on the server, as the
   * destination's path is given (inside its root when it has one; refused by a server too
   * old to apply them).
   */
  seeds?: readonly string[];
  /**
   * Excludes and includes, first match decides (localfs/filter.ts): the sender leaves out
   * what they (or its folder's `.gosyncignore`) exclude; the receiver does not delete what
   * they (or its folder's `.gosyncignore`) exclude.
   */
  filter?: readonly FilterRule[];
  /** Delete excluded entries of the destination too (implies `delete`; rsync's `--delete-excluded`). */
  deleteExcluded?: boolean;
  /** The ssh command line (default `ssh`), split on whitespace with quotes, as rsync's `-e`. */
  rsh?: string;
  /** The gosync command on the remote machine (default `gosync`); `serve --stdio` is appended. */
  remoteCmd?: string;
  /**
   * The connection to the host, already started (an {@link sshTransport} of the host): the
   * command line starts ssh before it loads the rest of gosync, so that ssh's handshake
   * overlaps gosync's start. Used instead of starting ssh (`rsh`, `remoteCmd` and `stderr`
   * are then ssh's business); the session closes it. Only with a `host:path`.
   */
  transport?: Transport;
  /** Where ssh's stderr goes (its last lines are also in error messages). */
  stderr?: NodeJS.WritableStream;
  /**
   * The umask new files and folders are masked with where this process writes them (a
   * pull; a push to a local path served in this process): those that were there take the
   * source's mode. The CLI passes `process.umask()`; default: no masking. A server over
   * ssh uses its own.
   */
  umask?: number;
  /**
   * Caps the bytes per second this end sends (push) or receives (pull), as they cross
   * the wire (compressed): rsync's `--bwlimit`. Default: no cap.
   */
  bytesPerSecond?: number;
  /** Compression of the sender's stream (zstd level; brotli quality with a protocol version 1 peer). */
  compression?: CompressionOptions;
  /**
   * Without a host: run the far end as this command (an argv that speaks the protocol on
   * stdin/stdout, e.g. `[node, '…/main.js', 'serve', '--stdio']`), so both ends have a
   * thread each; by default it runs in this process.
   */
  localCommand?: readonly string[];
  signal?: AbortSignal;
  onProgress?: (p: SyncProgress) => void;
}

/** `[user@]host:path` or a local path. */
type Location = { remote: RemoteLocation } | { local: string };

function locate(spec: string): Location {
  const remote = parseRemote(spec);
  return remote ? { remote } : { local: spec };
}

/**
 * Sends local `source` (a file, folder or link) to `destination` (`[user@]host:path`, or a
 * local path), which becomes a copy of it.
 *
 * @example
 * ```ts
 * const r = await push('dist/', 'deploy@web1:/srv/app', { delete: true });
 * console.log(`${r.changed} files changed, ${r.bytesSent} bytes sent`);
 * ```
 */
export async function push(source: string, destination: string, options: PushPullOptions = {}): Promise<SyncReport> {
  const from = locate(source);
  if ('remote' in from)
    throw new TypeError(`Cannot push ${JSON.stringify(source)}: push sends a local path (use pull to fetch from ${from.remote.host})`);
  const to = locate(destination);
  // To a local destination the seeds are local files: checked here, as pull checks its own.
  if (!('remote' in to) && options.seeds?.length) {
    return session('push', resolve(from.local), to, { ...options, seeds: await localSeeds(options.seeds) });
  }
  return session('push', resolve(from.local), to, options);
}

/**
 * Fetches `source` (`[user@]host:path`, or a local path) into local `destination`, which
 * becomes a copy of it.
 *
 * @example
 * ```ts
 * await pull('backup@nas:photos', '/data/photos', { delete: true });
 * ```
 */
export async function pull(source: string, destination: string, options: PushPullOptions = {}): Promise<SyncReport> {
  const to = locate(destination);
  if ('remote' in to)
    throw new TypeError(
      `Cannot pull into ${JSON.stringify(destination)}: pull writes a local path (use push to send to ${to.remote.host})`,
    );
  const seeds = await localSeeds(options.seeds ?? []);
  return session('pull', resolve(to.local), locate(source), seeds.length > 0 ? { ...options, seeds } : options);
}

/** Seeds of this machine, resolved (links followed); an IO error names the one that cannot be. */
function localSeeds(paths: readonly string[]): Promise<string[]> {
  return Promise.all(paths.map((p) => realpath(p).catch((cause: unknown) => Promise.reject(ioError('read the seed', p, cause)))));
}

/** A pushing client compressed its list with zstd before the server's greeting said it speaks only brotli. */
class OlderServer extends Error {}

async function session(op: Hello['op'], localPath: string, far: Location, options: PushPullOptions, guess = true): Promise<SyncReport> {
  const started = performance.now();
  const { signal } = options;
  throwIfAborted(signal);
  // The far end: ssh to the host, or a server in this process over an in-memory pipe.
  let transport: Transport;
  let server: Promise<unknown> | undefined;
  let path: string;
  let peer: string;
  if ('remote' in far) {
    transport =
      options.transport ??
      sshTransport(far.remote.host, {
        ...(options.rsh !== undefined ? { rsh: options.rsh } : {}),
        ...(options.remoteCmd !== undefined ? { remoteCmd: options.remoteCmd } : {}),
        ...(options.stderr ? { stderr: options.stderr } : {}),
      });
    path = far.remote.path;
    peer = `the remote end (${far.remote.host})`;
  } else if (options.localCommand) {
    transport = commandTransport(options.localCommand, options.stderr ? { stderr: options.stderr } : {});
    path = resolve(far.local);
    peer = 'the local server';
  } else {
    const [mine, theirs] = memoryPipe();
    transport = mine;
    path = resolve(far.local);
    peer = 'the local server';
    server = serveSession(theirs, {
      ...(options.compression ? { compression: options.compression } : {}),
      ...(options.umask !== undefined ? { umask: options.umask } : {}),
      ...(signal ? { signal } : {}),
    });
    server.catch(() => {});
  }
  let limit: { limitOut: TokenBucket } | { limitIn: TokenBucket } | undefined;
  if (options.bytesPerSecond !== undefined) {
    const bucket = new TokenBucket(options.bytesPerSecond);
    limit = op === 'push' ? { limitOut: bucket } : { limitIn: bucket };
  }
  const channel = new Channel(transport, { peer, ...(signal ? { signal } : {}), ...limit });
  const filter = options.filter ?? [];
  const filtering = filter.length > 0 || options.deleteExcluded === true;
  const del = (options.delete || options.deleteExcluded) ?? false;
  try {
    // Everything up to the first answer goes out at once: greeting, HELLO, and (push) the file list.
    const list = op === 'push' ? listSource(localPath, signal, filter) : undefined;
    list?.catch(() => {});
    await channel.writeRaw(
      encodeGreeting({ role: 'client', maxVersion: PROTOCOL_VERSION, minVersion: MIN_PROTOCOL_VERSION, readOnly: false }),
    );
    const checksum = options.checksum ?? false;
    const pushSeeds = op === 'push' && options.seeds?.length ? [...options.seeds] : undefined;
    const hello = {
      op,
      path,
      delete: del,
      dryRun: options.dryRun ?? false,
      ...(checksum ? { checksum } : {}),
      ...(pushSeeds ? { seeds: pushSeeds } : {}),
    };
    await channel.send(
      FrameType.HELLO,
      encodeJson(filtering ? { ...hello, filter, ...(options.deleteExcluded ? { deleteExcluded: true } : {}) } : hello),
    );
    channel.expectGreeting('server');
    channel.expectFirst(FrameType.WELCOME, (payload) => {
      const welcome = decodeWelcome(payload);
      // An older server would ignore the rules: its receiver would delete what they protect.
      if (filtering && !welcome.filters)
        throw new SyncError(ErrorCodes.REFUSED, `Cannot use excludes with ${peer}: its gosync is too old to apply them (update it)`);
      // An older server would ignore the seeds: refused rather than sent without them.
      if (pushSeeds && !welcome.seeds)
        throw new SyncError(
          ErrorCodes.REFUSED,
          `Cannot use --seed with ${peer}: its gosync is too old to read seeds of its own (update it)`,
        );
      // An older server would not list sums (pull) or would refuse the list that has them (push).
      if (checksum && !welcome.checksum)
        throw new SyncError(
          ErrorCodes.REFUSED,
          `Cannot use --checksum with ${peer}: its gosync is too old to compare by content (update it)`,
        );
      return welcome;
    });
    const common = { ...(signal ? { signal } : {}), ...(options.onProgress ? { onProgress: options.onProgress } : {}) };
    let finish: FinishReport;
    // The engine (WASM hashes, the matcher) loads while ssh connects.
    if (op === 'push') {
      finish = await pushFrom(channel, localPath, list!, options, { ...common, ...(checksum ? { checksum } : {}) }, guess);
    } else {
      channel.decompressAfter((f) => f.type === FrameType.WELCOME);
      const { runReceiver } = await import('./receiver.js');
      finish = await runReceiver(channel, resolveServedPath(localPath), {
        delete: del,
        dryRun: options.dryRun ?? false,
        filter,
        ...(options.deleteExcluded ? { deleteExcluded: true } : {}),
        ...(checksum ? { checksum } : {}),
        ...(options.seeds?.length ? { seeds: options.seeds } : {}),
        ...(options.umask !== undefined ? { umask: options.umask } : {}),
        ...common,
      });
    }
    await transport.close();
    await server;
    return { ...finish, bytesSent: channel.bytesOut, bytesReceived: channel.bytesIn, seconds: (performance.now() - started) / 1000 };
  } catch (err) {
    if (err instanceof OlderServer) {
      await channel.abort();
      const { transport: _started, ...rest } = options;
      return session(op, localPath, far, rest, false);
    }
    const reported = await channel.failSession(err);
    await server?.catch(() => {});
    throw reported;
  }
}

/**
 * A pushing client's sending end. Its stream's codec follows the session's protocol
 * version, and its level the size of the source (a failed listing is reported through
 * the stream). With `guess`, the list goes out at once, compressed for the newest version
 * (zstd), without waiting for the server's greeting: a round trip less before the server
 * can sign (50 ms on the emulated WAN link). A server that speaks only version 1 (brotli)
 * cannot read it: {@link OlderServer} is thrown as soon as its greeting says so, and the
 * session starts again without guessing.
 */
async function pushFrom(
  channel: Channel,
  localPath: string,
  list: Promise<SourceList>,
  options: PushPullOptions,
  sender: Omit<SenderOptions, 'list'>,
  guess: boolean,
): Promise<FinishReport> {
  const senderModule = import('./sender.js');
  senderModule.catch(() => {});
  const listed = await list.catch(() => undefined);
  const compression = streamCompression(listed ? listedBytes(listed) : 0, options.compression);
  let greeting: Promise<void> | undefined;
  if (guess && PROTOCOL_VERSION >= ZSTD_VERSION) {
    channel.compressOutgoing(compression, PROTOCOL_VERSION);
    greeting = channel.greeted().then(() => {
      if (channel.version < ZSTD_VERSION) throw new OlderServer();
    });
  } else {
    await channel.greeted();
    channel.compressOutgoing(compression);
  }
  const { runSender } = await senderModule;
  const sending = runSender(channel, localPath, { ...sender, list });
  if (!greeting) return sending;
  greeting.catch(() => {});
  sending.catch(() => {});
  await Promise.race([greeting, sending]);
  await greeting;
  return sending;
}
