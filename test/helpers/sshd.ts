/**
 * Starts a real OpenSSH `sshd` on 127.0.0.1, for tests and benchmarks that want gosync (or
 * rsync) to talk over a genuine SSH connection.
 *
 * Each server gets a private temp dir (mode 700) holding an ed25519 host key, an ed25519 user
 * key, `authorized_keys`, `known_hosts`, `sshd_config`, `ssh_config` and the pid file; nothing
 * under /etc/ssh or ~/.ssh is read or written. sshd runs in the foreground (`-D -e`) on a free
 * port, without PAM, letting in only the current user (root included) with the generated key.
 * Remote sessions get the directory of the running `node` in PATH (server-side `SetEnv`); note
 * that Debian's bash still sources the user's ~/.bashrc for ssh commands, which may prepend
 * directories of its own.
 *
 * The client side is the {@link Sshd.rsh} command line (`ssh -F <dir>/ssh_config`), usable as
 * rsync's `-e` or gosync's `--rsh`, with {@link Sshd.host} as the host of `host:path`.
 *
 * When sshd, ssh or ssh-keygen is missing, {@link requireSshd} skips the test, except under
 * `CI=true` where it throws: CI must run these tests for real.
 *
 * @example
 * ```ts
 * test('sync over ssh', async (t) => {
 *   if (!requireSshd(t)) return;
 *   const sshd = await startSshd();
 *   t.after(() => sshd.stop());
 *   execFileSync('rsync', ['-e', sshd.rsh, 'file', `${sshd.host}:/tmp/copy`]);
 * });
 * ```
 *
 * @module
 */

import { execFile, spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdirSync, rmSync, statSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import type { TestContext } from 'node:test';

import { which } from './tools.js';

/** A running sshd from {@link startSshd}. */
export interface Sshd {
  /** The port sshd listens on (127.0.0.1 only). */
  port: number;
  /** Temp folder holding keys, configs, known_hosts and the pid file (removed by {@link Sshd.stop}). */
  dir: string;
  /**
   * A command line usable as rsync's `-e` or gosync's `--rsh`: `ssh -F <dir>/ssh_config`.
   * Contains no quotes; `dir` has no whitespace, so splitting on spaces gives {@link Sshd.rshArgv}.
   */
  rsh: string;
  /** The same as an argv array: `['ssh', '-F', '<dir>/ssh_config']`. */
  rshArgv: string[];
  /** Host name for `host:path`: an alias that `ssh_config` points to 127.0.0.1 (also accepted: `127.0.0.1`, `localhost`). */
  host: string;
  /**
   * Stops the listening sshd (SIGTERM, SIGKILL after 5 s), waits for it to exit and removes
   * {@link Sshd.dir}. Sessions still open keep running in their own processes until their
   * client goes away. Idempotent.
   */
  stop(): Promise<void>;
}

/** Options of {@link startSshd}. */
export interface StartSshdOptions {
  /**
   * Extra environment variables for every remote session (sshd's server-side `SetEnv`). A
   * `PATH` given here replaces the default one (node's directory, then /usr/local/bin:/usr/bin:/bin).
   */
  env?: Record<string, string>;
  /**
   * Restricts the user key to this command (`command="..."` in authorized_keys): whatever the
   * client asks for, sshd runs this instead, with the request in `$SSH_ORIGINAL_COMMAND`.
   */
  forceCommand?: string;
}

/** The host alias defined in every generated ssh_config. */
const HOST_ALIAS = 'gosync-test-sshd';
const STARTUP_TIMEOUT_MS = 10_000;
const LOGIN_TIMEOUT_MS = 15_000;
const PORT_ATTEMPTS = 5;
/** sshd's stderr kept for error messages. */
const STDERR_LIMIT = 64 * 1024;
/** Directory sshd requires for privilege separation when it runs as root. */
const PRIVSEP_DIR = '/run/sshd';

/**
 * The sshd binary: `$GOSYNC_SSHD` when set, else the first `sshd` on PATH, else one in
 * `/usr/sbin` or `/usr/local/sbin`; `undefined` when none is executable. Always absolute
 * (sshd refuses to start otherwise, since it re-executes itself for each connection).
 */
export function sshdPath(): string | undefined {
  const override = process.env.GOSYNC_SSHD;
  if (override !== undefined && override !== '') return override.startsWith('/') && isExecutable(override) ? override : undefined;
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d.startsWith('/'));
  for (const dir of [...dirs, '/usr/sbin', '/usr/local/sbin']) {
    const candidate = join(dir, 'sshd');
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** What is missing to run {@link startSshd}, or `undefined` when nothing is. */
function missingTools(): string | undefined {
  const missing = [...(sshdPath() === undefined ? ['sshd'] : []), ...['ssh', 'ssh-keygen'].filter((cmd) => !which(cmd))];
  return missing.length === 0 ? undefined : `${missing.join(', ')} not installed (apt-get install openssh-server openssh-client)`;
}

/**
 * For a test: true when sshd, ssh and ssh-keygen are all there. Otherwise skips the test and
 * returns false, except under `CI=true` where it throws. Does not start anything; call
 * {@link startSshd} next and `t.after(() => sshd.stop())`.
 */
export function requireSshd(t: TestContext): boolean {
  const missing = missingTools();
  if (missing === undefined) return true;
  if (process.env.CI === 'true') throw new Error(`Cannot start sshd: it is required under CI=true but ${missing}`);
  t.skip(missing);
  return false;
}

/**
 * Starts sshd on 127.0.0.1 and waits until a real `ssh <host> true` gets in.
 *
 * @throws Error when sshd, ssh or ssh-keygen is missing, or when sshd does not start or the
 *   login fails (the message carries sshd's and ssh's stderr).
 */
export async function startSshd(options: StartSshdOptions = {}): Promise<Sshd> {
  const missing = missingTools();
  if (missing !== undefined) throw new Error(`Cannot start sshd: ${missing}`);
  const binary = sshdPath()!;
  ensurePrivsepDir();

  // No whitespace in `dir`: `rsh` is split on spaces by its users.
  const base = /\s/.test(tmpdir()) ? '/tmp' : tmpdir();
  const dir = await mkdtemp(join(base, 'gosync-sshd-'));
  try {
    await chmod(dir, 0o700);
    const files = await writeKeys(dir, options);
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
      const port = await freePort();
      const started = await tryStart(binary, dir, files, port, options);
      if (started.ok) return started.sshd;
      lastError = started.error;
      if (!started.addressInUse) break;
    }
    throw lastError ?? new Error('Cannot start sshd: unknown failure');
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Paths of the generated files. */
interface Files {
  hostKey: string;
  userKey: string;
  /** A second user key restricted to `true`, to prove login works when the user key has a forced command. */
  probeKey: string;
  authorizedKeys: string;
  knownHosts: string;
  sshdConfig: string;
  sshConfig: string;
  probeConfig: string;
  pidFile: string;
}

/** Generates the keys, authorized_keys and known_hosts. */
async function writeKeys(dir: string, options: StartSshdOptions): Promise<Files> {
  const files: Files = {
    hostKey: join(dir, 'ssh_host_ed25519_key'),
    userKey: join(dir, 'id_ed25519'),
    probeKey: join(dir, 'probe_ed25519'),
    authorizedKeys: join(dir, 'authorized_keys'),
    knownHosts: join(dir, 'known_hosts'),
    sshdConfig: join(dir, 'sshd_config'),
    sshConfig: join(dir, 'ssh_config'),
    probeConfig: join(dir, 'probe_ssh_config'),
    pidFile: join(dir, 'sshd.pid'),
  };
  const keys = [files.hostKey, files.userKey, ...(options.forceCommand === undefined ? [] : [files.probeKey])];
  await Promise.all(keys.map((key) => run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'gosync-test', '-f', key])));
  const publicKey = async (key: string): Promise<string> => (await readFile(`${key}.pub`, 'utf8')).trim();

  const userLine =
    options.forceCommand === undefined
      ? await publicKey(files.userKey)
      : `command=${authorizedKeysQuote(options.forceCommand)} ${await publicKey(files.userKey)}\n` +
        `command="true",restrict ${await publicKey(files.probeKey)}`;
  await writeFile(files.authorizedKeys, `${userLine}\n`, { mode: 0o600 });
  // known_hosts is keyed by HostKeyAlias, whatever name or address the client was given.
  const [type, blob] = (await publicKey(files.hostKey)).split(/\s+/);
  await writeFile(files.knownHosts, `${HOST_ALIAS} ${type} ${blob}\n`, { mode: 0o600 });
  for (const key of keys) {
    await chmod(key, 0o600);
    await chmod(`${key}.pub`, 0o600);
  }
  return files;
}

/** The sshd_config for one server. */
function sshdConfigText(files: Files, port: number, options: StartSshdOptions): string {
  const env: Record<string, string> = {
    PATH: [dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].filter((d, i, all) => all.indexOf(d) === i).join(':'),
    ...options.env,
  };
  // Only the first SetEnv line counts in sshd_config, so every variable goes on one line.
  const setEnv = Object.entries(env)
    .map(([name, value]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
        throw new Error(`Cannot start sshd: bad environment variable name ${JSON.stringify(name)}`);
      return configQuote(`${name}=${value}`);
    })
    .join(' ');
  return `# Generated by test/helpers/sshd.ts
ListenAddress 127.0.0.1
Port ${port}
AddressFamily inet
HostKey ${configQuote(files.hostKey)}
PidFile ${configQuote(files.pidFile)}
AuthorizedKeysFile ${configQuote(files.authorizedKeys)}
AllowUsers ${configQuote(userInfo().username)}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
UsePAM no
PermitRootLogin yes
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowAgentForwarding no
MaxStartups 200
MaxSessions 100
LogLevel ERROR
SetEnv ${setEnv}
`;
}

/** The client's ssh_config, used through `ssh -F`. */
function sshConfigText(files: Files, port: number, identity: string): string {
  return `# Generated by test/helpers/sshd.ts
Host ${HOST_ALIAS} 127.0.0.1 localhost
  HostName 127.0.0.1
  Port ${port}
  User ${configQuote(userInfo().username)}
  IdentityFile ${configQuote(identity)}
  IdentitiesOnly yes
  IdentityAgent none
  PasswordAuthentication no
  KbdInteractiveAuthentication no
  UserKnownHostsFile ${configQuote(files.knownHosts)}
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  HostKeyAlias ${HOST_ALIAS}
  UpdateHostKeys no
  CheckHostIP no
  BatchMode yes
  ControlMaster no
  ControlPath none
  ForwardAgent no
  ForwardX11 no
  ConnectTimeout 10
  LogLevel ERROR
`;
}

type StartResult = { ok: true; sshd: Sshd } | { ok: false; error: Error; addressInUse: boolean };

/** Writes the configs for `port`, starts sshd and waits for its banner and a real login. */
async function tryStart(binary: string, dir: string, files: Files, port: number, options: StartSshdOptions): Promise<StartResult> {
  await writeFile(files.sshdConfig, sshdConfigText(files, port, options), { mode: 0o600 });
  await writeFile(files.sshConfig, sshConfigText(files, port, files.userKey), { mode: 0o600 });
  const withProbe = options.forceCommand !== undefined;
  if (withProbe) await writeFile(files.probeConfig, sshConfigText(files, port, files.probeKey), { mode: 0o600 });

  // Check the config first: a bad one is a clear error, not a timeout.
  const check = await run(binary, ['-t', '-f', files.sshdConfig]);
  if (check.code !== 0) {
    return {
      ok: false,
      addressInUse: false,
      error: new Error(`Cannot start sshd: its config is rejected (sshd -t exit ${check.code})\n${check.stderr.trim()}`),
    };
  }

  const child = spawn(binary, ['-D', '-e', '-f', files.sshdConfig], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    if (stderr.length < STDERR_LIMIT) stderr += chunk;
  });
  const stderrEnded = new Promise<void>((done) => child.stderr!.once('close', done));
  let exited = false;
  let spawnError: Error | undefined;
  const exitPromise = new Promise<void>((done) => {
    child.once('exit', () => {
      exited = true;
      done();
    });
    child.once('error', (err) => {
      spawnError = err;
      exited = true;
      done();
    });
  });
  // Never leave an sshd (or its dir) behind if the test process exits without stop().
  const cleanupOnExit = (): void => {
    if (!exited) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', cleanupOnExit);

  const fail = async (why: string, extra = ''): Promise<StartResult> => {
    if (!exited) {
      child.kill('SIGKILL');
      await exitPromise;
    }
    process.off('exit', cleanupOnExit);
    // 'exit' can come before the last of stderr (e.g. "Address already in use"): give it a moment.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([stderrEnded, new Promise<void>((done) => (timer = setTimeout(done, 500)))]);
    clearTimeout(timer);
    const log = [
      ...(stderr.trim() === '' ? [] : [`sshd said:\n${stderr.trim()}`]),
      ...(extra.trim() === '' ? [] : [`ssh said:\n${extra.trim()}`]),
    ].join('\n');
    return {
      ok: false,
      addressInUse: /Address already in use/i.test(stderr),
      error: new Error(`Cannot start sshd on 127.0.0.1:${port}: ${why}${log ? `\n${log}` : ''}`),
    };
  };

  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let banner: string | undefined;
  while (!exited && Date.now() < deadline) {
    banner = await readBanner(port);
    if (banner !== undefined) break;
    await sleep(25);
  }
  if (exited)
    return fail(
      spawnError
        ? `it did not run (${spawnError.message})`
        : `it exited (code ${String(child.exitCode)}, signal ${String(child.signalCode)})`,
    );
  if (banner === undefined) return fail('no SSH-2.0 banner within 10 s');

  // A real login, with the unrestricted key (or the probe key when the user key runs a forced command).
  const login = await run('ssh', ['-F', withProbe ? files.probeConfig : files.sshConfig, HOST_ALIAS, 'true'], LOGIN_TIMEOUT_MS);
  if (login.code !== 0) return fail(`\`ssh ${HOST_ALIAS} true\` failed (exit ${login.code})`, login.stderr);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      for (const [signal, waitMs] of [
        ['SIGTERM', 5000],
        ['SIGKILL', 5000],
      ] as const) {
        if (exited) break;
        child.kill(signal);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([exitPromise, new Promise<void>((done) => (timer = setTimeout(done, waitMs)))]);
        clearTimeout(timer);
      }
      process.off('exit', cleanupOnExit);
      await rm(dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  // Let the test process end even if a test forgot stop(); `cleanupOnExit` then reaps sshd.
  // (Only now: while starting, waiting for sshd's exit must keep the event loop alive.)
  child.unref();
  (child.stderr as unknown as { unref?: () => void }).unref?.();

  const rshArgv = ['ssh', '-F', files.sshConfig];
  return { ok: true, sshd: { port, dir, rsh: rshArgv.join(' '), rshArgv, host: HOST_ALIAS, stop } };
}

/** As root, sshd insists on its privilege separation dir (normally made by systemd's RuntimeDirectory). */
function ensurePrivsepDir(): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return;
  try {
    if (statSync(PRIVSEP_DIR).isDirectory()) return;
  } catch {
    // missing: create it below
  }
  mkdirSync(PRIVSEP_DIR, { recursive: true, mode: 0o755 });
}

/** Connects to `port` and resolves with the server's identification line when it starts with `SSH-2.0-`. */
function readBanner(port: number): Promise<string | undefined> {
  return new Promise((done) => {
    let buffered = '';
    let result: string | undefined;
    let settled = false;
    const socket = connect({ host: '127.0.0.1', port });
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      done(result);
    };
    const timer = setTimeout(finish, 1000);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      if (result !== undefined || settled) return;
      buffered += chunk;
      const eol = buffered.indexOf('\n');
      if (eol < 0) return;
      if (!buffered.startsWith('SSH-2.0-')) return finish();
      result = buffered.slice(0, eol).trimEnd();
      // Answer with an identification line before hanging up: a silent close makes sshd log
      // "kex_exchange_identification: Connection closed by remote host" at level ERROR.
      socket.end('SSH-2.0-gosync-probe\r\n', finish);
    });
    socket.once('error', finish);
    socket.once('end', finish);
    socket.once('close', finish);
  });
}

/** A port that was free a moment ago (bind to 0, read it, close). */
function freePort(): Promise<number> {
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

/** Runs a command to completion; never rejects. */
function run(file: string, args: string[], timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = execFile(file, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as unknown as { code: number }).code : -1;
      done({ code, stdout, stderr: err !== null && code === -1 ? `${stderr}${err.message}` : stderr });
    });
    child.stdin?.end();
  });
}

/** A double-quoted sshd_config/ssh_config argument (both split arguments with the same quoting rules). */
function configQuote(value: string): string {
  if (/["\\\n\r]/.test(value)) throw new Error(`Cannot start sshd: unsupported character in config value ${JSON.stringify(value)}`);
  return `"${value}"`;
}

/** A double-quoted authorized_keys option value (`\"` is the only escape). */
function authorizedKeysQuote(value: string): string {
  if (/[\n\r]/.test(value)) throw new Error('Cannot start sshd: a forced command cannot contain a line break');
  return `"${value.replace(/"/g, '\\"')}"`;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}
