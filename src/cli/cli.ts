/**
 * The `gosync` command line, run by main.ts. The only module that sets the exit code or calls
 * `process.exit`: exit code 0 on success, 1 on failure, 2 on misuse.
 *
 * @module
 */
import { ErrorCodes, SyncError } from '../core/errors.js';
import type { CommandContext } from './context.js';
import { INTERNAL_ERROR_CODE, USAGE_ERROR_CODE, jsonErrorLine, version, wantsJson } from './json.js';
import { UsageError, nodeVersionProblem } from './usage.js';
import { printable } from './printable.js';
import { configuredTieringBudget, holdHttpParserInBaselineTier } from './parser-tiering.js';

const mainHelp = `Usage: gosync <command> [options]

Update big files from a static index and HTTP range requests, moving only what changed.

Commands:
  build, b    write the index of a file
  patch, p    update a local file from an index and its reference
  diff, d     show what patch would reuse and fetch
  push        send a file or folder to another machine over ssh (rsync-style)
  pull        fetch a file or folder from another machine over ssh
  serve       serve a folder over HTTP with range support (--stdio: the far end of push/pull)
  publish     upload a publish folder to S3-compatible object storage, manifests last
  prune       remove from a publish folder what no manifest or index references
  rdiff       librsync's rdiff: signature, delta and patch files rdiff reads and writes
  demo        run the whole job on generated files, on 127.0.0.1
  completion  print a bash or zsh completion script

Run "gosync <command> --help" for a command's options.
Options: -h, --help; -v, --version (after a command, -v is --verbose, as in rsync)
Output: -q prints nothing but errors; --json one JSON report (fields: docs/json.md)
`;

type Command = (args: string[], ctx: CommandContext) => Promise<void>;
/**
 * Each command's module is loaded only when it runs: start-up then pays for what the
 * command uses (the HTTP client, the WASM hashes) and nothing else.
 */
const commands: Record<string, () => Promise<[Command, string]>> = {
  build: async () => import('./commands/build.js').then((m) => [m.build, m.buildHelp]),
  patch: async () => import('./commands/patch.js').then((m) => [m.patch, m.patchHelp]),
  diff: async () => import('./commands/patch.js').then((m) => [m.diff, m.diffHelp]),
  serve: async () => import('./commands/serve.js').then((m) => [m.serve, m.serveHelp]),
  push: async () => import('./commands/push-pull.js').then((m) => [m.push, m.pushHelp]),
  pull: async () => import('./commands/push-pull.js').then((m) => [m.pull, m.pullHelp]),
  publish: async () => import('./commands/publish.js').then((m) => [m.publish, m.publishHelp]),
  prune: async () => import('./commands/prune.js').then((m) => [m.prune, m.pruneHelp]),
  rdiff: async () => import('./commands/rdiff.js').then((m) => [m.rdiff, m.rdiffHelp]),
  demo: async () => import('./commands/demo.js').then((m) => [m.demo, m.demoHelp]),
  completion: async () => import('./commands/completion.js').then((m) => [m.completion, m.completionHelp]),
};
const aliases: Record<string, string> = { b: 'build', p: 'patch', d: 'diff' };

function lookup(name: string | undefined): (() => Promise<[Command, string]>) | undefined {
  if (name === undefined) return undefined;
  return Object.hasOwn(commands, aliases[name] ?? name) ? commands[aliases[name] ?? name] : undefined;
}

/** The commands that print a JSON report with --json (and a JSON error when they fail). */
const JSON_COMMANDS = new Set(['build', 'patch', 'diff', 'push', 'pull', 'publish', 'prune']);

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    const topic = lookup(name === 'help' ? rest[0] : undefined);
    process.stdout.write(topic ? (await topic())[1] : mainHelp);
    return name === undefined ? 2 : 0;
  }
  if (name === '-v' || name === '--version') {
    process.stdout.write(`gosync ${version()}\n`);
    return 0;
  }
  const load = lookup(name);
  if (!load) {
    process.stderr.write(`gosync: unknown command "${name}"\nRun "gosync --help" for the list of commands.\n`);
    return 2;
  }
  // Before the command's modules load: on an older Node they fail as they load (node:zlib has no zstd).
  const tooOld = nodeVersionProblem(process.versions.node);
  if (tooOld !== undefined) {
    process.stderr.write(`gosync ${name}: ${tooOld}\n`);
    return 1;
  }
  const entry = await load();
  const command = aliases[name] ?? name;
  const json = JSON_COMMANDS.has(command) && wantsJson(rest);
  /** With --json, a failure is also a JSON report on stdout (the message stays on stderr). */
  const jsonError = (code: string, message: string) => {
    if (json) process.stdout.write(jsonErrorLine(command, code, message));
  };
  if (rest.includes('-h') || rest.includes('--help')) {
    process.stdout.write(entry[1]);
    return 0;
  }
  // A proxy the environment names serves every request, those made without a dispatcher
  // included (the library leaves undici's global dispatcher to its caller). Only then is
  // undici loaded here: it costs about 0.1 s of start-up.
  if (['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY'].some((k) => (process.env[k] ?? '') !== '')) {
    const [{ createHttpDispatcher }, { setGlobalDispatcher }] = await Promise.all([
      import('../sources/http/dispatcher.js'),
      import('../sources/http/undici.js'),
    ]);
    setGlobalDispatcher(createHttpDispatcher());
  }
  // Without this, an HTTP command waits 60-190 ms at exit for V8 to optimize undici's parser.
  const stopHolding = holdHttpParserInBaselineTier(configuredTieringBudget(process.execArgv, process.env.NODE_OPTIONS));
  const controller = new AbortController();
  // The shell's convention: 128 + the signal's number, once the command has cleaned up
  // (temp files removed, the target untouched) through the abort.
  let signalled: number | undefined;
  const stops = Object.entries(SIGNAL_EXIT).map(([sig, code]) => {
    const stop = () => {
      signalled ??= code;
      controller.abort(new SyncError(ErrorCodes.ABORTED, `Cannot continue: interrupted by ${sig}`));
    };
    process.once(sig as NodeJS.Signals, stop);
    return [sig, stop] as const;
  });
  try {
    await entry[0](rest, { stdout: process.stdout, stderr: process.stderr, signal: controller.signal });
    return signalled ?? 0;
  } catch (err) {
    if (signalled !== undefined) {
      process.stderr.write(`gosync ${name}: interrupted\n`);
      jsonError(ErrorCodes.ABORTED, 'interrupted');
      return signalled;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`gosync ${name}: ${printable(err.message)}\nRun "gosync ${name} --help" for usage.\n`);
      jsonError(USAGE_ERROR_CODE, err.message);
      return 2;
    }
    if (SyncError.is(err)) {
      // `quiet`: already reported elsewhere (serve --stdio: to the client).
      if ((err as { quiet?: unknown }).quiet !== true) process.stderr.write(`gosync ${name}: ${printable(err.message)} [${err.code}]\n`);
      jsonError(err.code, err.message);
      return 1;
    }
    process.stderr.write(`gosync ${name}: ${(err as Error)?.stack ?? String(err)}\n`);
    jsonError(INTERNAL_ERROR_CODE, (err as Error)?.message ?? String(err));
    return 1;
  } finally {
    stopHolding();
    for (const [sig, stop] of stops) process.off(sig, stop);
  }
}

/** Exit codes for the signals that end a command: 128 + the signal number on every platform Node names them. */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;

/**
 * How long a finished command leaves the event loop to run dry before `process.exit`. The
 * process ends as the event loop empties, not by `process.exit`: that stops V8's worker
 * threads while the heap is still up, and a background compile job that waits for a garbage
 * collection then waits forever (nodejs/node#54918). Seen here as a `gosync build` of a
 * 90 kB archive that never ended in a bench run (gdb: the main thread joining the platform's
 * threads in `NodePlatform::Shutdown`, a Maglev job parked in
 * `CollectionBarrier::AwaitCollectionBackground`); a natural exit tears the heap down
 * first, which releases such jobs. A handle a command left open would keep the loop alive:
 * after this grace `process.exit` ends the process as before.
 */
const EXIT_GRACE_MS = 200;

/** Sets the exit code and, once stdout has drained, the exit's fallback (unref'd: it holds nothing open). */
function finish(code: number): void {
  process.exitCode = code;
  process.stdout.write('', () => setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref());
}

// Not awaited at the top level: the command's bundle (scripts/bundle.ts) is a CommonJS script.
main(process.argv.slice(2)).then(finish, (err: unknown) => {
  process.stderr.write(`gosync: ${(err as Error)?.stack ?? String(err)}\n`);
  finish(1);
});
