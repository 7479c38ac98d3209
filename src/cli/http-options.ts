/**
 * The HTTP options every command that fetches over HTTP takes: `-H/--header` (repeatable),
 * `GOSYNC_BEARER_TOKEN` in the environment, and `--cacert`.
 *
 * @module
 */
import type { Dispatcher } from 'undici';
import { readFile } from '../util/fs-promises.js';
import { UsageError } from './usage.js';

/** The option table entries. */
export const HTTP_OPTIONS = {
  header: { type: 'string', short: 'H', multiple: true },
  cacert: { type: 'string' },
} as const;

/** Their help lines, options starting at column 2 and descriptions at `column`. */
export function httpHelp(column: number): string {
  const pad = (s: string) => s.padEnd(column);
  return (
    `${pad('  -H, --header <h>')}an HTTP request header 'Name: value' (repeatable); GOSYNC_BEARER_TOKEN\n` +
    `${pad('')}in the environment sends 'Authorization: Bearer <token>'\n` +
    `${pad('      --cacert <file>')}trust the certificates in <file> (PEM) for HTTPS, besides\n` +
    `${pad('')}Node's own and NODE_EXTRA_CA_CERTS\n`
  );
}

/** What the options give: headers for every request, and a dispatcher trusting --cacert (the caller closes it). */
export interface HttpCliOptions {
  headers?: Record<string, string>;
  dispatcher?: Dispatcher;
}

/** `-H 'Name: value'`, GOSYNC_BEARER_TOKEN and `--cacert` as HTTP options. */
export async function httpOptions(lines: readonly string[] | undefined, cacert: string | undefined): Promise<HttpCliOptions> {
  const headers: Record<string, string> = {};
  const token = process.env.GOSYNC_BEARER_TOKEN;
  if (token) headers.authorization = `Bearer ${token}`;
  for (const line of lines ?? []) {
    const colon = line.indexOf(':');
    if (colon < 1) throw new UsageError(`--header takes 'Name: value', got ${JSON.stringify(line)}`);
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const out: HttpCliOptions = {};
  if (Object.keys(headers).length > 0) out.headers = headers;
  if (cacert !== undefined) {
    const { createHttpDispatcher } = await import('../sources/http/dispatcher.js');
    out.dispatcher = createHttpDispatcher({
      ca: await readFile(cacert).catch((cause: unknown) =>
        Promise.reject(new UsageError(`Cannot read --cacert ${cacert}: ${(cause as Error).message}`)),
      ),
    });
  }
  return out;
}
