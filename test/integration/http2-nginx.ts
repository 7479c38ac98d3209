/**
 * nginx over HTTPS for the tests and the bench: a self-signed certificate for 127.0.0.1 made
 * with `openssl`, a TLS listener (`listen … ssl http2` when HTTP/2 is wanted) beside the
 * helper's plain one, and an access log in nginx's predefined `combined` format, whose
 * `"$request"` ends with the protocol each request used (`HTTP/2.0`, `HTTP/1.1`).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startNginx } from '../helpers/nginx.js';

export interface TlsNginx {
  /** `https://127.0.0.1:<port>/`. */
  readonly url: string;
  readonly port: number;
  /** The certificate nginx presents (PEM), to trust through a CA option. */
  readonly cert: string;
  /** Path of the certificate file. */
  readonly certPath: string;
  /** The requests logged so far over TLS. */
  entries(): Promise<TlsLogEntry[]>;
  close(): Promise<void>;
}

export interface TlsLogEntry {
  readonly method: string;
  readonly path: string;
  /** `HTTP/2.0` or `HTTP/1.1`. */
  readonly protocol: string;
  readonly status: number;
  readonly bodyBytesSent: number;
}

/** Starts nginx over `root` with a TLS listener; `undefined` when nginx or openssl is missing. */
export async function startTlsNginx(root: string, options: { http2: boolean; directives?: string }): Promise<TlsNginx | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'gosync-tls-'));
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  const logPath = join(dir, 'tls-access.log');
  try {
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ]);
  } catch {
    await rm(dir, { recursive: true, force: true });
    return undefined;
  }
  await writeFile(logPath, '');
  const port = await freePort();
  const q = (path: string): string => JSON.stringify(path);
  const nginx = await startNginx(root, {
    serverDirectives: [
      `listen 127.0.0.1:${port} ssl${options.http2 ? ' http2' : ''};`,
      `ssl_certificate ${q(certPath)};`,
      `ssl_certificate_key ${q(keyPath)};`,
      `access_log ${q(logPath)} combined;`,
      options.directives ?? '',
    ].join('\n        '),
  }).catch(async (error: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw error;
  });
  if (nginx === undefined) {
    await rm(dir, { recursive: true, force: true });
    return undefined;
  }
  const server = nginx;
  return {
    url: `https://127.0.0.1:${port}/`,
    port,
    cert: await readFile(certPath, 'utf8'),
    certPath,
    entries: async () => parseCombined(await readFile(logPath, 'utf8')),
    close: async () => {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function parseCombined(text: string): TlsLogEntry[] {
  const entries: TlsLogEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /"(\S+) (\S+) (HTTP\/[\d.]+)" (\d{3}) (\d+)/.exec(line);
    if (m === null) continue;
    entries.push({ method: m[1]!, path: m[2]!, protocol: m[3]!, status: Number(m[4]), bodyBytesSent: Number(m[5]) });
  }
  return entries;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}
