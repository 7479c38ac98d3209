/**
 * `gosync push <local-path> [user@]host:<path>` and `gosync pull [user@]host:<path> <local-path>`:
 * rsync over ssh, with gosync at both ends (`gosync serve --stdio` on the host).
 */
import { parseRemote, splitCommand } from '../../remote/remote-path.js';
import { sshTransport } from '../../remote/transport.js';
import type { SyncReport } from '../../remote/wire/report.js';
import type { CommandContext } from '../context.js';
import { readdir } from '../../util/fs-promises.js';
import { jsonLine } from '../json.js';
import { printable } from '../printable.js';
import { ProgressLine } from '../progress.js';
import { FILTER_OPTIONS, UsageError, filterHelp, filterRules, formatBytes, looksLikeUrl, parse, sizeOption } from '../usage.js';
import { builtin } from '../../util/builtin.js';

const { sep } = builtin('node:path');

const options = `Options:
      --delete            remove entries of the destination the source does not have
      --delete-excluded   also remove excluded entries of the destination (implies --delete)
${filterHelp(26)}  -n, --dry-run           show what would change, change nothing
  -c, --checksum          decide which files to update by their content (SHA-256), not
                          by size and modification time (reads every file of the same
                          size at both ends)
  -i, --seed <file>       another file of the receiving end whose blocks a new file may
                          reuse (repeatable): pull, a local path; push, a path on the
                          server, given as the destination's is (inside its root, if any)
      --bwlimit <rate>    cap the bytes sent (push) or received (pull) per second, as
                          they cross the wire (K, M suffixes; a bare number is KiB/s as
                          in rsync)
  -e, --rsh <command>     the ssh command line (default: ssh), split like rsync's -e,
                          e.g. "ssh -p 2222 -i ~/.ssh/deploy"
      --remote-cmd <cmd>  the gosync command on the host (default: gosync), e.g.
                          "node /opt/gosync/dist/bundle/cli/main.cjs"; "serve --stdio" is appended
      --json              print a JSON report on stdout (docs/json.md)
  -q, --quiet             print nothing but errors
  -v, --verbose           a line per entry sent or deleted, as rsync --itemize-changes:
                          new or changed (told apart when the destination is local),
                          deleted
`;

const common = `The destination path itself becomes a copy of the source path (a file, a folder
or a link), whether it exists or not; a non-empty folder is replaced by a file or link
only with --delete. ssh runs "<remote-cmd> serve --stdio" on the host, so ~/.ssh/config,
keys and the agent apply. A remote path is relative to the home folder there (or to the
root of a server run as "serve --stdio --root <dir>"). Without a host (no "host:"),
both ends run in this process.

The side that receives sends signatures of its old files and the other side answers
with deltas (rsync's model): only the changed parts of files cross the wire, and
compressed. Files with the same size and modification time are not read (rsync's quick
check), unless --checksum. Every file is verified (size and SHA-256) before anything is
replaced; each file is replaced atomically, all at the end, so an interrupted run
leaves every file old or new.

Excludes are gitignore patterns, matched against paths below the source folder: the
sender leaves out what they exclude, then what the .gosyncignore at the root of its
folder excludes (the file itself is sent unless excluded); the receiver does not delete
what they or its own folder's .gosyncignore exclude, unless --delete-excluded.
`;

export const pushHelp = `Usage: gosync push <local-path> [user@]host:<path> [options]

Makes <path> on the host a copy of <local-path>, sending only what changed.

${common}
${options}`;

export const pullHelp = `Usage: gosync pull [user@]host:<path> <local-path> [options]

Makes <local-path> a copy of <path> on the host, fetching only what changed.

${common}
${options}`;

function summary(r: SyncReport, destination: string): string {
  const lines: string[] = [];
  if (r.dryRun) {
    for (const p of r.changedPaths) lines.push(`${p === '' ? '.' : printable(p)}`);
    for (const p of r.deletedPaths) lines.push(`deleting ${printable(p)}`);
    const more = r.changed + r.deleted - r.changedPaths.length - r.deletedPaths.length;
    if (more > 0) lines.push(`… and ${more} more`);
    lines.push(
      `dry run: ${r.changed} of ${r.files} files would change (${formatBytes(r.transferredFileBytes)})${r.deleted ? `, ${r.deleted} entries would be deleted` : ''}; nothing was written`,
    );
  } else {
    lines.push(
      `${destination}: ${r.changed} of ${r.files} files changed (${formatBytes(r.transferredFileBytes)}: ${formatBytes(r.matchedBytes)} reused, ${formatBytes(r.literalBytes)} new)` +
        `${r.deleted ? `, ${r.deleted} entries deleted` : ''}; sent ${formatBytes(r.bytesSent)}, received ${formatBytes(r.bytesReceived)}, ${r.seconds.toFixed(2)} s`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * `-v`: one line per entry sent or deleted (rsync's --itemize-changes): `new` or `changed`
 * when the destination's entries were listed before (a local destination), else `sent`.
 */
function itemized(r: SyncReport, existed: ReadonlySet<string> | undefined): string {
  const lines: string[] = [];
  for (const p of r.changedPaths) {
    const what = existed === undefined ? 'sent' : existed.has(p) ? 'changed' : 'new';
    lines.push(`${what.padEnd(9)} ${p === '' ? '.' : printable(p)}`);
  }
  for (const p of r.deletedPaths) lines.push(`${'deleted'.padEnd(9)} ${printable(p)}`);
  const more = r.changed + r.deleted - r.changedPaths.length - r.deletedPaths.length;
  if (more > 0) lines.push(`… and ${more} more`);
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/** The tree paths under a local destination before the run ('' for the destination itself), to tell new from changed. */
async function existingPaths(destination: string): Promise<Set<string>> {
  const found = new Set<string>();
  try {
    const names = await readdir(destination, { recursive: true });
    found.add('');
    for (const n of names) found.add(n.split(sep).join('/'));
  } catch (err) {
    // A file (not a folder) is the destination itself; a missing one is new.
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') found.add('');
  }
  return found;
}

/** The `--json` fields of push and pull (docs/json.md). */
function syncJson(r: SyncReport): Record<string, unknown> {
  return {
    dryRun: r.dryRun,
    files: r.files,
    changed: r.changed,
    deleted: r.deleted,
    literalBytes: r.literalBytes,
    matchedBytes: r.matchedBytes,
    transferredFileBytes: r.transferredFileBytes,
    changedPaths: r.changedPaths,
    deletedPaths: r.deletedPaths,
    sentBytes: r.bytesSent,
    receivedBytes: r.bytesReceived,
    seconds: r.seconds,
  };
}

/** Runs a parser of remote-path.ts; the TypeError it throws for a malformed argument becomes a usage error. */
function misuse<T>(parsePath: () => T): T {
  try {
    return parsePath();
  } catch (err) {
    if (err instanceof TypeError) throw new UsageError(err.message.replace(/^Cannot [^:]*: /, ''));
    throw err;
  }
}

/** The options of `push` and `pull`. */
export const SYNC_OPTIONS = {
  delete: { type: 'boolean' },
  'delete-excluded': { type: 'boolean' },
  ...FILTER_OPTIONS,
  'dry-run': { type: 'boolean', short: 'n' },
  checksum: { type: 'boolean', short: 'c' },
  seed: { type: 'string', short: 'i', multiple: true },
  bwlimit: { type: 'string' },
  rsh: { type: 'string', short: 'e' },
  'remote-cmd': { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  verbose: { type: 'boolean', short: 'v' },
} as const;

async function run(op: 'push' | 'pull', args: string[], ctx: CommandContext): Promise<void> {
  const { values, positionals } = parse(args, SYNC_OPTIONS);
  if (positionals.length !== 2) {
    throw new UsageError(
      op === 'push'
        ? `push takes <local-path> [user@]host:<path>, got ${positionals.length} arguments`
        : `pull takes [user@]host:<path> <local-path>, got ${positionals.length} arguments`,
    );
  }
  const [source, destination] = positionals as [string, string];
  for (const p of [source, destination])
    if (looksLikeUrl(p)) throw new UsageError(`${op} takes [user@]host:<path> and local paths, not a URL ("${p}")`);
  // The library refuses these with a TypeError; here they are the user's to fix (exit 2).
  const from = misuse(() => parseRemote(source));
  const to = misuse(() => parseRemote(destination));
  if (op === 'push' && from) throw new UsageError(`push sends a local path (use pull to fetch from ${from.host})`);
  if (op === 'pull' && to) throw new UsageError(`pull writes a local path (use push to send to ${to.host})`);
  if (values.rsh !== undefined && misuse(() => splitCommand(values.rsh!)).length === 0) throw new UsageError('--rsh must not be empty');
  if (values['remote-cmd'] !== undefined && values['remote-cmd'].trim() === '') throw new UsageError('--remote-cmd must not be empty');
  const bytesPerSecond = sizeOption(values.bwlimit, 'bwlimit', 1024);
  // ssh starts first: its handshake and the remote gosync's start (the longest wait of a
  // small push or pull) overlap the loading of the engine here. Loading it before
  // starting ssh put 30-80 ms on every run's wall time (jquery.js through a loopback sshd,
  // timing marks on both ends).
  const far = op === 'push' ? to : from;
  const transport = far
    ? sshTransport(far.host, {
        ...(values.rsh !== undefined ? { rsh: values.rsh } : {}),
        ...(values['remote-cmd'] !== undefined ? { remoteCmd: values['remote-cmd'] } : {}),
        stderr: ctx.stderr,
      })
    : undefined;
  const progress = new ProgressLine(ctx.stderr, !values.json && !values.quiet);
  try {
    const filter = await filterRules(values, ctx.signal);
    const { push, pull } = await import('../../remote/push-pull.js');
    const verbose = values.verbose === true && !values.json && !values.quiet;
    const existed = verbose && !to ? await existingPaths(destination) : undefined;
    const report = await (op === 'push' ? push : pull)(source, destination, {
      delete: values.delete ?? false,
      dryRun: values['dry-run'] ?? false,
      ...(values.checksum ? { checksum: true } : {}),
      ...(values.seed?.length ? { seeds: values.seed } : {}),
      // New files and folders written here are masked by this process's umask, as rsync's.
      umask: process.umask(),
      ...(filter.length > 0 ? { filter } : {}),
      ...(values['delete-excluded'] ? { deleteExcluded: true } : {}),
      ...(bytesPerSecond !== undefined ? { bytesPerSecond } : {}),
      ...(values.rsh !== undefined ? { rsh: values.rsh } : {}),
      ...(values['remote-cmd'] !== undefined ? { remoteCmd: values['remote-cmd'] } : {}),
      ...(transport ? { transport } : {}),
      stderr: ctx.stderr,
      signal: ctx.signal,
      onProgress: (p) => {
        if (p.phase === 'transfer') progress.update(op, p.done, p.total, 'bytes');
      },
    });
    progress.done();
    if (values.json) ctx.stdout.write(jsonLine(op, syncJson(report)));
    else if (!values.quiet) ctx.stdout.write((verbose && !report.dryRun ? itemized(report, existed) : '') + summary(report, destination));
  } finally {
    progress.done();
    // The session closed it; not when it failed before it began.
    await transport?.close().catch(() => {});
  }
}

export function push(args: string[], ctx: CommandContext): Promise<void> {
  return run('push', args, ctx);
}

export function pull(args: string[], ctx: CommandContext): Promise<void> {
  return run('pull', args, ctx);
}
