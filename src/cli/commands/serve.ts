/**
 * `gosync serve <dir> [--host 127.0.0.1] [--port <n>]` (HTTP) and
 * `gosync serve --stdio [--root <dir>] [--read-only]` (the far end of push and pull).
 */
import { stat } from '../../util/fs-promises.js';
import { SyncError, ioError } from '../../core/errors.js';
import type { CommandContext } from '../context.js';
import { UsageError, intOption, parse } from '../usage.js';

export const serveHelp = `Usage: gosync serve <dir> [options]
       gosync serve --stdio [--root <dir>] [--read-only]

Serves the files under <dir> over HTTP with single and multi-range requests, HEAD,
ETag and Last-Modified: enough to publish references and indexes for trying gosync
and for small deployments. Runs until interrupted.

With --stdio, speaks gosync's sync protocol on stdin and stdout instead: the far end
of "gosync push" and "gosync pull", which run it through ssh. As a forced command in
~/.ssh/authorized_keys it limits what a key can do:
  command="gosync serve --stdio --root /srv/backup --read-only" ssh-ed25519 AAAA…

Options:
      --host <addr>     address to listen on (default 127.0.0.1)
  -p, --port <n>        port (default 8080; 0 picks a free one)
      --log             print one line per request on stderr
      --dotfiles        also serve files and folders whose names start with "."
                        (by default they answer 404, as missing files do)
      --stdio           serve one push or pull session on stdin/stdout
      --root <dir>      (--stdio) confine every path to <dir>: paths are relative to it,
                        and one that leaves it (.., absolute, through a link) is refused
      --read-only       (--stdio) refuse pushes (only pulls are served)
`;

/** The options of `serve` (--host, --port and --log for HTTP; --root and --read-only with --stdio). */
export const SERVE_OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string', short: 'p' },
  log: { type: 'boolean' },
  dotfiles: { type: 'boolean' },
  stdio: { type: 'boolean' },
  root: { type: 'string' },
  'read-only': { type: 'boolean' },
} as const;

export async function serve(args: string[], ctx: CommandContext): Promise<void> {
  const { values, positionals } = parse(args, SERVE_OPTIONS);
  if (values.stdio) {
    if (positionals.length > 0)
      throw new UsageError(`serve --stdio takes no folder (use --root <dir>), got ${positionals.length} arguments`);
    if (values.host !== undefined || values.port !== undefined || values.log || values.dotfiles)
      throw new UsageError('--host, --port, --log and --dotfiles are for the HTTP server, not --stdio');
    return serveStdio(values.root, values['read-only'] ?? false, ctx);
  }
  if (values.root !== undefined || values['read-only']) throw new UsageError('--root and --read-only go with --stdio');
  if (positionals.length !== 1) throw new UsageError(`serve takes one folder, got ${positionals.length} arguments`);
  const port = intOption(values.port, 'port', 0) ?? 8080;
  const { startStaticServer } = await import('../../serve/static-server.js');
  const server = await startStaticServer({
    root: positionals[0]!,
    host: values.host ?? '127.0.0.1',
    port,
    ...(values.log ? { log: (line: string) => ctx.stderr.write(`${line}\n`) } : {}),
    ...(values.dotfiles ? { dotfiles: true } : {}),
  });
  ctx.stdout.write(`serving ${positionals[0]} at ${server.url}\n`);
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await server.close();
}

async function serveStdio(root: string | undefined, readOnly: boolean, ctx: CommandContext): Promise<void> {
  if (root !== undefined) {
    const st = await stat(root).catch((cause: unknown) => {
      throw ioError('serve', root, cause);
    });
    if (!st.isDirectory()) throw ioError('serve', root, new Error('it is not a folder'));
  }
  const [{ serveSession }, { streamTransport }] = await Promise.all([
    import('../../remote/serve-stdio.js'),
    import('../../remote/transport.js'),
  ]);
  // stdout carries the protocol: nothing else may be written to it.
  const transport = streamTransport(process.stdin, process.stdout, { closeOutput: false });
  try {
    // New files and folders a push makes are masked by this process's umask, as rsync's.
    await serveSession(transport, { ...(root !== undefined ? { root } : {}), readOnly, umask: process.umask(), signal: ctx.signal });
  } catch (err) {
    // The session's failure was sent to the client (or came from it, or the client went
    // away): the client reports it, and this stderr reaches the client's terminal through
    // ssh. Exit 1 without saying it twice.
    if (SyncError.is(err)) Object.defineProperty(err, 'quiet', { value: true });
    throw err;
  }
}
