/**
 * Starts a real nginx over a folder, for integration tests that want a production web
 * server on the other end of the wire (its own range, multipart and keep-alive behaviour).
 *
 * Each server gets a private prefix in a temp dir (config, pid, error log, access log and
 * every temp path), so nothing under /var or /etc is read or written and several servers
 * can run at once. nginx runs in the foreground as a single process (`daemon off;
 * master_process off;`), listening on 127.0.0.1 on a free port.
 *
 * The access log has one line per request, written unbuffered as each request finishes:
 * `$status $body_bytes_sent $request_length "$http_range"`. {@link NginxServer.bytesSent}
 * sums the second field.
 *
 * When nginx is not installed, {@link startNginx} returns `undefined` (tests skip), except
 * under `CI=true` where it throws: CI must run these tests for real.
 *
 * @example
 * ```ts
 * test('download through nginx', async (t) => {
 *   const nginx = await requireNginx(t, folder);
 *   if (nginx === undefined) return;
 *   t.after(() => nginx.close());
 *   const res = await fetch(new URL('file.bin', nginx.url), { headers: { Range: 'bytes=0-99' } });
 * });
 * ```
 *
 * @module
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import type { TestContext } from 'node:test';

/** A running nginx from {@link startNginx}. */
export interface NginxServer {
  /** Base URL ending in `/`, e.g. `http://127.0.0.1:40123/`. */
  url: string;
  /** The port nginx listens on. */
  port: number;
  /** The served folder (real path). */
  root: string;
  /** Path of the access log (format: `$status $body_bytes_sent $request_length "$http_range"`). */
  accessLog: string;
  /**
   * Sum of `$body_bytes_sent` over the access log so far: the response body bytes nginx sent
   * (multipart boundaries and part headers included, response headers excluded).
   *
   * nginx writes a log line just *after* it has sent a response, so a client that has read a
   * whole body can be a hair ahead of the log. Pass `requests` (how many requests you expect to
   * be logged in total) to wait, up to 2 s, until that many lines are there.
   */
  bytesSent(options?: { requests?: number }): Promise<number>;
  /** The parsed access log so far (same waiting rule as {@link NginxServer.bytesSent}). */
  accessEntries(options?: { requests?: number }): Promise<AccessLogEntry[]>;
  /** Stops nginx (SIGQUIT, then SIGTERM/SIGKILL if it lingers), waits for it, removes the temp dir. Idempotent. */
  close(): Promise<void>;
}

/** One access-log line. */
export interface AccessLogEntry {
  status: number;
  bodyBytesSent: number;
  requestLength: number;
  /** The request's Range header, `''` when absent. */
  range: string;
}

/** Options of {@link startNginx}. */
export interface StartNginxOptions {
  /** The nginx binary to run. Default {@link nginxPath}(). A path that is not executable counts as "not installed". */
  nginx?: string;
  /** Extra directives placed in the `server { }` block, e.g. `max_ranges 4;`. */
  serverDirectives?: string;
  /** Startup timeout in milliseconds. Default 10 000. */
  timeoutMs?: number;
}

const STARTUP_TIMEOUT_MS = 10_000;
const PORT_ATTEMPTS = 5;
const READY_PATH = '/__gosync_nginx_ready__';

/**
 * The nginx binary: `$GOSYNC_NGINX` when set, else the first `nginx` on PATH, else one in
 * `/usr/sbin`, `/usr/local/sbin` or `/usr/local/nginx/sbin`; `undefined` when none is executable.
 */
export function nginxPath(): string | undefined {
  const override = process.env.GOSYNC_NGINX;
  if (override !== undefined && override !== '') return isExecutable(override) ? override : undefined;
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  for (const dir of [...dirs, '/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin']) {
    const candidate = join(dir, 'nginx');
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts nginx serving `root` on 127.0.0.1.
 *
 * @returns the server, or `undefined` when nginx is not installed and `CI` is not `'true'`.
 * @throws Error when nginx is missing under `CI=true`, or when it does not start in time
 *   (the message carries the tail of its error log).
 */
export async function startNginx(root: string, options: StartNginxOptions = {}): Promise<NginxServer | undefined> {
  const binary = options.nginx === undefined ? nginxPath() : isExecutable(options.nginx) ? options.nginx : undefined;
  if (binary === undefined) {
    if (process.env.CI === 'true') throw new Error('Cannot start nginx: it is required under CI=true but is not installed');
    return undefined;
  }
  const realRoot = await realpath(resolve(root));
  const prefix = await mkdtemp(join(tmpdir(), 'gosync-nginx-'));
  try {
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
      const port = await freePort();
      const started = await tryStart(binary, prefix, realRoot, port, options);
      if (started.ok) return started.server;
      lastError = started.error;
      if (!started.addressInUse) break;
    }
    throw lastError ?? new Error('Cannot start nginx: unknown failure');
  } catch (err) {
    await rm(prefix, { recursive: true, force: true });
    throw err;
  }
}

/**
 * {@link startNginx} for a test: skips the test (and returns `undefined`) when nginx is
 * missing outside CI. Does not register cleanup; call `t.after(() => server.close())`.
 */
export async function requireNginx(t: TestContext, root: string, options?: StartNginxOptions): Promise<NginxServer | undefined> {
  const server = await startNginx(root, options);
  if (server === undefined) t.skip('nginx not installed');
  return server;
}

/** A port that was free a moment ago (bind to 0, read it, close). */
async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolvePort(port));
    });
  });
}

/** The nginx.conf for one server. */
function configText(prefix: string, root: string, port: number, options: StartNginxOptions): string {
  const q = (path: string): string => JSON.stringify(path); // nginx accepts double-quoted strings with \-escapes
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  return `# Generated by test/helpers/nginx.ts
daemon off;
master_process off;
${asRoot ? 'user root;\n' : ''}worker_processes 1;
pid ${q(join(prefix, 'nginx.pid'))};
error_log ${q(join(prefix, 'error.log'))} warn;

events {
    worker_connections 512;
}

http {
    types { }
    default_type application/octet-stream;

    log_format gosync '$status $body_bytes_sent $request_length "$http_range"';
    access_log ${q(join(prefix, 'access.log'))} gosync;

    client_body_temp_path ${q(join(prefix, 'client_body'))};
    proxy_temp_path ${q(join(prefix, 'proxy'))};
    fastcgi_temp_path ${q(join(prefix, 'fastcgi'))};
    uwsgi_temp_path ${q(join(prefix, 'uwsgi'))};
    scgi_temp_path ${q(join(prefix, 'scgi'))};

    sendfile on;
    tcp_nopush on;
    keepalive_requests 10000;
    keepalive_timeout 30s;
    server_tokens on;

    server {
        listen 127.0.0.1:${port};
        server_name localhost;
        root ${q(root)};
        ${options.serverDirectives ?? ''}
        location / {
        }
        # The readiness probe of the helper; kept out of the access log.
        location = ${READY_PATH} {
            access_log off;
            return 204;
        }
    }
}
`;
}

type StartResult = { ok: true; server: NginxServer } | { ok: false; error: Error; addressInUse: boolean };

/** Starts nginx on `port` and waits until it answers HTTP, or until it exits or times out. */
async function tryStart(binary: string, prefix: string, root: string, port: number, options: StartNginxOptions): Promise<StartResult> {
  const confPath = join(prefix, 'nginx.conf');
  const errorLog = join(prefix, 'error.log');
  const accessLog = join(prefix, 'access.log');
  await writeFile(confPath, configText(prefix, root, port, options));
  await writeFile(errorLog, '');
  await writeFile(accessLog, '');

  // -e (nginx >= 1.19.5): the error log used before the config is read, instead of the
  // compiled-in default (which may be an unwritable /var/log path: nginx then only warns).
  const args = ['-p', `${prefix}/`, ...(supportsErrorLogFlag(binary) ? ['-e', errorLog] : []), '-c', confPath];
  const child = spawn(binary, args, { stdio: 'ignore' });
  let exited = false;
  const exitPromise = new Promise<void>((done) => {
    child.once('exit', () => {
      exited = true;
      done();
    });
    child.once('error', () => {
      exited = true;
      done();
    });
  });
  // Never leave an nginx behind if the test process exits without close().
  const killOnExit = (): void => {
    if (!exited) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  // Let the test process end even if a test forgot close(); `killOnExit` then reaps nginx.
  child.unref();

  const deadline = Date.now() + (options.timeoutMs ?? STARTUP_TIMEOUT_MS);
  let ready = false;
  while (!exited && Date.now() < deadline) {
    if (await isNginxListening(port)) {
      ready = true;
      break;
    }
    await sleep(25);
  }
  if (!ready || exited) {
    if (!exited) {
      child.kill('SIGKILL');
      await exitPromise;
    }
    process.off('exit', killOnExit);
    const log = await readFile(errorLog, 'utf8').catch(() => '');
    const tail = log.trim().split('\n').slice(-5).join('\n');
    return {
      ok: false,
      addressInUse: /Address already in use|EADDRINUSE/i.test(log),
      error: new Error(
        `Cannot start nginx on 127.0.0.1:${port}: ${exited ? `it exited (code ${String(child.exitCode)})` : 'timed out'}${tail ? `\n${tail}` : ''}`,
      ),
    };
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await stopChild(child, exitPromise, () => exited);
      process.off('exit', killOnExit);
      await rm(prefix, { recursive: true, force: true });
    })();
    return closing;
  };

  const accessEntries = async (opts: { requests?: number } = {}): Promise<AccessLogEntry[]> => {
    const want = opts.requests ?? 0;
    const waitUntil = Date.now() + 2000;
    for (;;) {
      const entries = parseAccessLog(await readFile(accessLog, 'utf8'));
      if (entries.length >= want || Date.now() >= waitUntil) return entries;
      await sleep(10);
    }
  };

  return {
    ok: true,
    server: {
      url: `http://127.0.0.1:${port}/`,
      port,
      root,
      accessLog,
      accessEntries,
      bytesSent: async (opts) => (await accessEntries(opts)).reduce((sum, e) => sum + e.bodyBytesSent, 0),
      close,
    },
  };
}

const errorLogFlagSupport = new Map<string, boolean>();

/** True when `binary -v` reports nginx 1.19.5 or later (which has the `-e` option). */
function supportsErrorLogFlag(binary: string): boolean {
  let known = errorLogFlagSupport.get(binary);
  if (known === undefined) {
    const out = spawnSync(binary, ['-v'], { encoding: 'utf8' });
    const m = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(`${out.stderr ?? ''}${out.stdout ?? ''}`);
    const [major, minor, patch] = m === null ? [0, 0, 0] : [Number(m[1]), Number(m[2]), Number(m[3])];
    known = major > 1 || (major === 1 && (minor > 19 || (minor === 19 && patch >= 5)));
    errorLogFlagSupport.set(binary, known);
  }
  return known;
}

/** SIGQUIT (graceful), then SIGTERM, then SIGKILL, waiting for the exit each time. */
async function stopChild(child: ChildProcess, exitPromise: Promise<void>, hasExited: () => boolean): Promise<void> {
  for (const [signal, waitMs] of [
    ['SIGQUIT', 5000],
    ['SIGTERM', 2000],
    ['SIGKILL', 5000],
  ] as const) {
    if (hasExited()) return;
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exitPromise, new Promise<void>((done) => (timer = setTimeout(done, waitMs)))]);
    clearTimeout(timer);
  }
}

/** Parses the access log written with the `gosync` log_format. */
function parseAccessLog(text: string): AccessLogEntry[] {
  const entries: AccessLogEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d{3}) (\d+) (\d+) "(.*)"$/.exec(line);
    if (m === null) continue;
    entries.push({
      status: Number(m[1]),
      bodyBytesSent: Number(m[2]),
      requestLength: Number(m[3]),
      range: m[4] === '-' ? '' : m[4]!,
    });
  }
  return entries;
}

/** True when something on `port` answers HTTP with a `Server: nginx...` header. */
function isNginxListening(port: number): Promise<boolean> {
  return new Promise((done) => {
    // A cheap TCP probe first, so that a refused connection costs no HTTP machinery.
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('error', () => done(false));
    socket.once('connect', () => {
      socket.destroy();
      const req = request({ host: '127.0.0.1', port, method: 'GET', path: READY_PATH, agent: false, timeout: 1000 }, (res) => {
        res.resume();
        done(/^nginx/i.test(String(res.headers.server ?? '')));
      });
      req.once('timeout', () => req.destroy());
      req.once('error', () => done(false));
      req.end();
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}
