/** `gosync prune <publish-folder> [--keep <n>] [-n|--dry-run] [--json]` */
import type { CommandContext } from '../context.js';
import { jsonLine } from '../json.js';
import { printable } from '../printable.js';
import { UsageError, formatBytes, intOption, parse } from '../usage.js';

export const pruneHelp = `Usage: gosync prune <publish-folder> [options]

Removes from a publish folder what no manifest (<name>.tree.json) or single-file index
(*.gosync, *.zsync) at its top references: the objects of contents no manifest lists
any more, with their indexes, compressed forms and deltas; beside single-file indexes,
the frames, whole streams and deltas they no longer list. Every manifest and index in
the folder is kept, with all it references. Like rsync --delete and npm prune, it
removes; -n shows what would go first.

Objects newer than the oldest manifest are left (a build may be writing them): prune
after builds, not during one. Prune the local folder only: a bucket published to keeps
its objects (clients holding a manifest from before may still read them).

Options:
      --keep <n>    versions to keep: the current one and n-1 earlier ones whose
                    content stays as a base for the next build's deltas (build's --bases
                    and --history). Default: every earlier version the folder records
  -n, --dry-run     list what would be removed, remove nothing
      --json        print a JSON report on stdout (docs/json.md)
  -q, --quiet       print nothing but errors
`;

/** The options of `prune`. */
export const PRUNE_OPTIONS = {
  keep: { type: 'string' },
  'dry-run': { type: 'boolean', short: 'n' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

export async function prune(args: string[], ctx: CommandContext): Promise<void> {
  const { values, positionals } = parse(args, PRUNE_OPTIONS);
  if (positionals.length !== 1) throw new UsageError(`prune takes one publish folder, got ${positionals.length} arguments`);
  const keep = intOption(values.keep, 'keep');
  const dryRun = values['dry-run'] === true;
  const { prunePublishFolder } = await import('../../publish/prune.js');
  const report = await prunePublishFolder(positionals[0]!, { ...(keep !== undefined ? { keep } : {}), dryRun, signal: ctx.signal });
  if (values.json) {
    ctx.stdout.write(
      jsonLine('prune', {
        form: report.kind === 'tree' ? 'folder' : 'file',
        dryRun: report.dryRun,
        kept: report.kept,
        removed: report.removed.map((f) => ({ path: f.name, bytes: f.bytes })),
        removedBytes: report.bytes,
        recent: report.recent.map((f) => ({ path: f.name, bytes: f.bytes })),
        seconds: report.seconds,
      }),
    );
    return;
  }
  if (values.quiet) return;
  if (dryRun) for (const f of report.removed) ctx.stdout.write(`would remove ${printable(f.name)} (${formatBytes(f.bytes)})\n`);
  const recent = report.recent.length > 0 ? `; ${report.recent.length} newer than a manifest left for a later prune` : '';
  ctx.stdout.write(
    `${dryRun ? 'would remove' : 'removed'} ${report.removed.length} files, ${formatBytes(report.bytes)} ${dryRun ? 'to free' : 'freed'}` +
      ` (kept ${report.kept.map(printable).join(', ')} and what ${report.kept.length > 1 ? 'they reference' : 'it references'})${recent}\n`,
  );
}
