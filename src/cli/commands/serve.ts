/** `gosync serve <dir> [--host 127.0.0.1] [--port <n>]` */
import { startStaticServer } from '../../serve/static-server.js';
import type { CommandContext } from '../context.js';
import { UsageError, intOption, parse } from '../usage.js';

export const serveHelp = `Usage: gosync serve <dir> [options]

Serves the files under <dir> over HTTP with single and multi-range requests, HEAD,
ETag and Last-Modified: enough to publish references and indexes for trying gosync
and for small deployments. Runs until interrupted.

Options:
      --host <addr>     address to listen on (default 127.0.0.1)
  -p, --port <n>        port (default 8080; 0 picks a free one)
      --log             print one line per request on stderr
`;

export async function serve(args: string[], ctx: CommandContext): Promise<void> {
  const { values, positionals } = parse(args, {
    host: { type: 'string' },
    port: { type: 'string', short: 'p' },
    log: { type: 'boolean' },
  });
  if (positionals.length !== 1) throw new UsageError(`serve takes one folder, got ${positionals.length} arguments`);
  const port = intOption(values.port, 'port', 0) ?? 8080;
  const server = await startStaticServer({
    root: positionals[0]!,
    host: values.host ?? '127.0.0.1',
    port,
    ...(values.log ? { log: (line: string) => ctx.stderr.write(`${line}\n`) } : {}),
  });
  ctx.stdout.write(`serving ${positionals[0]} at ${server.url}\n`);
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await server.close();
}
