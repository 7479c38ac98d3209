/** Runs the built `gosync` command line as a child process. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The command as npm installs it: the bundle of scripts/bundle.ts. */
export const CLI = fileURLToPath(new URL('../../bundle/cli/main.cjs', import.meta.url));
/** The same command as tsc wrote it, one module per source file (for tests of what it loads). */
export const MODULES_CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The proxy variables curl and undici read, in both cases. */
const PROXY_VARIABLES = ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY', 'all_proxy', 'ALL_PROXY'];

/**
 * Runs `gosync ...args`; never rejects on a non-zero exit. `env` adds to (and overrides)
 * this process's environment; `proxyEnv` replaces its proxy variables (none of this
 * process's are passed on).
 */
export function runCli(
  args: string[],
  options: { cwd?: string; timeoutMs?: number; env?: Record<string, string>; proxyEnv?: Record<string, string>; cli?: string } = {},
): Promise<CliResult> {
  let env: NodeJS.ProcessEnv | undefined = options.env ? { ...process.env, ...options.env } : undefined;
  if (options.proxyEnv) {
    env = { ...(env ?? process.env) };
    for (const name of PROXY_VARIABLES) delete env[name];
    Object.assign(env, options.proxyEnv);
  }
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [options.cli ?? CLI, ...args],
      {
        cwd: options.cwd,
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 16 << 20,
        ...(env ? { env } : {}),
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? (err as unknown as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
