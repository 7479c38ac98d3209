#!/usr/bin/env node
/**
 * The `gosync` command line. The only module that calls `process.exit`: exit code 0 on
 * success, 1 on failure, 2 on misuse.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { SyncError } from '../errors.js';
import { build, buildHelp } from './commands/build.js';
import { demo, demoHelp } from './commands/demo.js';
import { diff, diffHelp, patch, patchHelp } from './commands/patch.js';
import { rdiff, rdiffHelp } from './commands/rdiff.js';
import { serve, serveHelp } from './commands/serve.js';
import type { CommandContext } from './context.js';
import { UsageError } from './usage.js';

const mainHelp = `Usage: gosync <command> [options]

Update big files from a static index and HTTP range requests, moving only what changed.

Commands:
  build, b    write the index of a file
  patch, p    update a local file from an index and its reference
  diff, d     show what patch would reuse and fetch
  serve       serve a folder over HTTP with range support
  rdiff       librsync's rdiff: signature, delta and patch files rdiff reads and writes
  demo        run the whole job on generated files, on 127.0.0.1

Run "gosync <command> --help" for a command's options.
Options: -h, --help; -v, --version
`;

type Command = (args: string[], ctx: CommandContext) => Promise<void>;
const commands: Record<string, [Command, string]> = {
  build: [build, buildHelp],
  b: [build, buildHelp],
  patch: [patch, patchHelp],
  p: [patch, patchHelp],
  diff: [diff, diffHelp],
  d: [diff, diffHelp],
  serve: [serve, serveHelp],
  rdiff: [rdiff, rdiffHelp],
  demo: [demo, demoHelp],
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    process.stdout.write(topic && commands[topic] ? commands[topic][1] : mainHelp);
    return name === undefined ? 2 : 0;
  }
  if (name === '-v' || name === '--version') {
    process.stdout.write(`gosync ${version()}\n`);
    return 0;
  }
  const entry = commands[name];
  if (!entry) {
    process.stderr.write(`gosync: unknown command "${name}"\nRun "gosync --help" for the list of commands.\n`);
    return 2;
  }
  if (rest.includes('-h') || rest.includes('--help')) {
    process.stdout.write(entry[1]);
    return 0;
  }
  const controller = new AbortController();
  const stop = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await entry[0](rest, { stdout: process.stdout, stderr: process.stderr, signal: controller.signal });
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`gosync ${name}: ${err.message}\nRun "gosync ${name} --help" for usage.\n`);
      return 2;
    }
    if (SyncError.is(err)) {
      process.stderr.write(`gosync ${name}: ${err.message} [${err.code}]\n`);
      return 1;
    }
    process.stderr.write(`gosync ${name}: ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

const code = await main(process.argv.slice(2));
// Let stdout drain before leaving.
process.stdout.write('', () => process.exit(code));
