/**
 * The byte streams a session runs over: an `ssh` child (its stdin and stdout), a pair of
 * in-memory pipes (both ends in one process: the local-to-local form and the tests), or
 * any readable and writable (`serve --stdio` uses the process's stdin and stdout).
 *
 * @module
 */
import type { Readable, Writable } from 'node:stream';
import { ErrorCodes, SyncError } from '../core/errors.js';
import type { Transport } from './wire/channel.js';
import { splitCommand } from './remote-path.js';
import { builtin } from '../util/builtin.js';

const { spawn } = builtin('node:child_process');
const { PassThrough } = builtin('node:stream');

/** Buffering of each in-memory pipe. */
const PIPE_BUFFER = 1024 * 1024;

/** Two connected transports: what one writes, the other reads. */
export function memoryPipe(): [Transport, Transport] {
  const aToB = new PassThrough({ highWaterMark: PIPE_BUFFER });
  const bToA = new PassThrough({ highWaterMark: PIPE_BUFFER });
  return [streamTransport(bToA, aToB), streamTransport(aToB, bToA)];
}

/**
 * A transport over a readable and a writable. `close()` stops reading and, unless the
 * output was ended cleanly, cuts it: a peer blocked writing to us, or reading from us,
 * is released with an error.
 */
export function streamTransport(input: Readable, output: Writable, options: { closeOutput?: boolean } = {}): Transport {
  return {
    input,
    output,
    async close() {
      input.destroy();
      if (!output.writableEnded && options.closeOutput !== false) output.destroy();
    },
  };
}

/**
 * Runs `argv` (a command that speaks the protocol on its stdin and stdout, such as
 * `gosync serve --stdio`) and returns its stdio as a transport; its stderr is handled as
 * ssh's is.
 */
export function commandTransport(argv: readonly string[], options: { stderr?: NodeJS.WritableStream } = {}): Transport {
  if (argv.length === 0) throw new TypeError('Cannot run the far end: the command is empty');
  return childTransport(argv[0]!, argv.slice(1), options.stderr);
}

/** Options of {@link sshTransport}. */
export interface SshOptions {
  /** The ssh command line, split like rsync's `-e` (default `ssh`). */
  rsh?: string;
  /** The gosync command on the remote (default `gosync`); `serve --stdio` is appended. */
  remoteCmd?: string;
  /** Where ssh's stderr goes as it comes (its last 4 KiB are also kept for error messages). */
  stderr?: NodeJS.WritableStream;
}

/** Bytes of ssh's stderr kept for error messages. */
const STDERR_TAIL = 4096;

/**
 * Runs `<rsh> <host> <remote-cmd> serve --stdio` and returns its stdin/stdout as a
 * transport. `close()` ends ssh's stdin and waits for it (killing it after 5 s).
 */
export function sshTransport(host: string, options: SshOptions = {}): Transport {
  const argv = splitCommand(options.rsh ?? 'ssh');
  if (argv.length === 0) throw new TypeError('Cannot run ssh: the --rsh command is empty');
  const remote = `${options.remoteCmd ?? 'gosync'} serve --stdio`;
  return childTransport(argv[0]!, [...argv.slice(1), host, remote], options.stderr);
}

function childTransport(command: string, args: string[], stderr: NodeJS.WritableStream | undefined): Transport {
  const argv = [command];
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let tail = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    stderr?.write(s);
    tail = (tail + s).slice(-STDERR_TAIL);
  });
  let spawnError: Error | undefined;
  const exited = new Promise<string>((resolve) => {
    child.once('error', (err) => {
      spawnError = err;
      resolve(`${argv[0]} could not be run: ${err.message}`);
    });
    child.once('close', (code, sig) => resolve(sig ? `${argv[0]} was ended by ${sig}` : `${argv[0]} exited with code ${code}`));
  });
  child.stdin.on('error', () => {});
  const describe = async (): Promise<string | undefined> => {
    let timer: NodeJS.Timeout | undefined;
    const how = await Promise.race([exited, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 2000)))]);
    clearTimeout(timer);
    const said = tail.trim().split('\n').slice(-3).join(' / ');
    return [how, said ? `it said: ${said}` : undefined].filter(Boolean).join('; ') || undefined;
  };
  let closing: Promise<void> | undefined;
  return {
    input: child.stdout,
    output: child.stdin,
    describeEnd: describe,
    close() {
      closing ??= (async () => {
        if (!child.stdin.writableEnded) child.stdin.end();
        let timer: NodeJS.Timeout | undefined;
        const late = await Promise.race([
          exited.then(() => false),
          new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), 5000))),
        ]);
        clearTimeout(timer);
        if (late) {
          child.kill('SIGTERM');
          await exited;
        }
        child.stdout.destroy();
        if (spawnError) throw new SyncError(ErrorCodes.NETWORK, `Cannot run ${argv[0]}: ${spawnError.message}`, { cause: spawnError });
      })();
      return closing;
    },
  };
}
