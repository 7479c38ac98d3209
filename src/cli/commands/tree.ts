/**
 * The folder forms of `build`, `patch` and `diff`:
 * `gosync build <dir> -o <publish-dir>`, `gosync patch <dir> <manifest>`, `gosync diff <dir> <manifest>`.
 */
import { mkdir, mkdtemp, readdir, rm, symlink } from '../../util/fs-promises.js';
import type { TreeDiffReport, TreeFileReport, TreePatchReport } from '../../tree/patch-tree.js';
import type { CommandContext } from '../context.js';
import { jsonLine } from '../json.js';
import { ProgressLine } from '../progress.js';
import { UsageError, type Values, filterRules, formatBytes, intOption, levelOption, locationArgument, sizeOption } from '../usage.js';
import { printable } from '../printable.js';
import { httpOptions } from '../http-options.js';
import type { BUILD_TREE_OPTIONS, TREE_UPDATE_OPTIONS } from './tree-options.js';
import { builtin } from '../../util/builtin.js';

const { tmpdir } = builtin('node:os');
const { join, relative, resolve, sep } = builtin('node:path');

export {
  BUILD_TREE_OPTIONS,
  TREE_UPDATE_OPTIONS,
  buildTreeHelp,
  diffTreeHelp,
  isFolder,
  isManifestLocation,
  patchTreeHelp,
} from './tree-options.js';

/** `build <folder>`, its command line parsed by `build`. */
export async function buildTreeCommand(
  values: Values<typeof BUILD_TREE_OPTIONS>,
  positionals: readonly string[],
  ctx: CommandContext,
): Promise<void> {
  if (positionals.length !== 1) throw new UsageError(`build takes one folder, got ${positionals.length} arguments`);
  if (!values.output) throw new UsageError('building a folder needs -o <publish-folder>');
  const threads = intOption(values.threads, 'threads');
  const bases = intOption(values.bases, 'bases', 0);
  const level = levelOption(values.level);
  const noCompress = values['no-compress'] === true;
  if (noCompress && (values.compress || level !== undefined || bases !== undefined))
    throw new UsageError('--no-compress cannot go with --compress, --level or --bases');
  const filter = await filterRules(values, ctx.signal);
  const progress = new ProgressLine(ctx.stderr, !values.json && !values.quiet);
  const { buildTree } = await import('../../tree/build-tree.js');
  const dryRun = values['dry-run'] === true;
  // A dry run builds into a mirror of the publish folder (a link to each of its files, so
  // earlier versions still give their deltas) and reports the files that are not links.
  const mirror = dryRun ? await mirrorFolder(values.output, ctx.signal) : undefined;
  let written: string[] = [];
  const built = buildTree(positionals[0]!, mirror ?? values.output, {
    ...(filter.length > 0 ? { filter } : {}),
    ...(values.name ? { name: values.name } : {}),
    ...(noCompress ? {} : { compress: true }),
    ...(level !== undefined ? { level } : {}),
    ...(bases !== undefined ? { bases } : {}),
    ...(values.checksum ? { checksum: true } : {}),
    ...(values['no-archives'] ? { archives: false } : {}),
    ...(threads ? { threads } : {}),
    signal: ctx.signal,
    onProgress: (done, total) => progress.update('files', done, total, 'files'),
  });
  let report: Awaited<typeof built>;
  try {
    report = await built;
    if (mirror) {
      written = (await newFilesUnder(mirror)).map((p) => join(values.output!, p));
      report = { ...report, manifest: join(values.output, relative(mirror, report.manifest)) };
    }
  } finally {
    if (mirror) await rm(mirror, { recursive: true, force: true });
  }
  progress.done();
  for (const s of report.skipped)
    ctx.stderr.write(`gosync: skipped ${printable(s)} (not a regular file, folder or link, or a name other systems cannot hold)\n`);
  if (values.json) {
    ctx.stdout.write(
      jsonLine('build', {
        form: 'folder',
        dryRun,
        index: report.manifest,
        ...(dryRun ? { wouldWrite: written } : {}),
        files: report.files,
        dirs: report.dirs,
        symlinks: report.symlinks,
        bytes: report.bytes,
        newFiles: report.newFiles,
        objectBytes: report.objectBytes,
        manifestBytes: report.manifestBytes,
        skipped: report.skipped,
        seconds: report.seconds,
      }),
    );
    return;
  }
  if (values.quiet) return;
  ctx.stdout.write(
    `${dryRun ? `dry run (nothing written; ${written.length} files would be): ` : ''}${report.manifest}: ${report.files} files (${formatBytes(report.bytes)}), ${report.dirs} folders, ${report.symlinks} links; ` +
      `${report.newFiles} new contents, ${formatBytes(report.objectBytes)} of objects written, manifest ${formatBytes(report.manifestBytes)}, ${report.seconds.toFixed(2)} s\n`,
  );
}

const ACTION: Record<TreeFileReport['action'], string> = {
  unchanged: 'unchanged',
  metadata: 'metadata',
  copy: 'copy',
  resume: 'resume',
  delta: 'delta',
  blocks: 'blocks',
  whole: 'fetch',
};

/** One line per file that changes, or with `all` also per file whose metadata alone changes. */
function printFiles(ctx: CommandContext, report: TreeDiffReport, all: boolean): void {
  for (const f of report.files) {
    if (f.action === 'unchanged' || (f.action === 'metadata' && !all)) continue;
    ctx.stdout.write(`${ACTION[f.action].padEnd(9)} ${printable(f.path)}: ${fileDetails(f)}\n`);
  }
}

/** What was (or would be) done for one file: sizes, the plan, the local file reused. */
function fileDetails(f: TreeFileReport): string {
  const from = f.from ? ` from ${printable(f.from)}` : '';
  const plan = f.plan ? ` (${f.plan})` : '';
  return `${formatBytes(f.size)}, reuse ${formatBytes(f.reusedBytes)}, fetch ${formatBytes(f.fetchBytes)}${plan}${from}`;
}

/**
 * `-v` after a folder patch: one line per entry that changed, as rsync's --itemize-changes
 * gives them: `new`, `changed` (content), `metadata` (mode or time only) or `deleted`,
 * then the path and, for content, what was reused and fetched.
 */
function printItemized(ctx: CommandContext, report: TreePatchReport, existed: ReadonlySet<string>): void {
  for (const f of report.files) {
    if (f.action === 'unchanged') continue;
    const what = f.action === 'metadata' ? 'metadata' : existed.has(f.path) ? 'changed' : 'new';
    const details = f.action === 'metadata' ? '' : `  (${ACTION[f.action]}: ${fileDetails(f)})`;
    ctx.stdout.write(`${what.padEnd(9)} ${printable(f.path)}${details}\n`);
  }
  for (const p of report.deleted) ctx.stdout.write(`${'deleted'.padEnd(9)} ${printable(p)}\n`);
}

/** The paths under `dir` (`/`-separated, relative), before a patch: which files are new. */
async function existingPaths(dir: string): Promise<Set<string>> {
  try {
    const names = await readdir(dir, { recursive: true });
    return new Set(names.map((n) => n.split(sep).join('/')));
  } catch {
    return new Set();
  }
}

/** The `--json` fields of one file of a folder diff or patch (docs/json.md). */
function fileJson(f: TreeFileReport): Record<string, unknown> {
  return {
    path: f.path,
    action: f.action,
    size: f.size,
    reusedBytes: f.reusedBytes,
    fetchedBytes: f.fetchBytes,
    ...(f.from !== undefined ? { from: f.from } : {}),
    ...(f.plan !== undefined ? { plan: f.plan } : {}),
  };
}

/** The `--json` fields of a folder diff (`dryRun` only for `patch --dry-run` of a folder). */
function treeDiffJson(report: TreeDiffReport, dryRun: boolean | undefined): Record<string, unknown> {
  const t = report.totals;
  return {
    form: 'folder',
    ...(dryRun !== undefined ? { dryRun } : {}),
    fileList: report.files.map(fileJson),
    extraneous: report.extraneous,
    manifestBytes: report.manifestBytes,
    indexBytes: report.indexBytes,
    totals: { files: t.files, changed: t.changed, bytes: t.bytes, reusedBytes: t.reusedBytes, fetchedBytes: t.fetchBytes },
  };
}

/** The `--json` fields of a folder patch. */
function treePatchJson(report: TreePatchReport): Record<string, unknown> {
  return {
    ...treeDiffJson(report, false),
    deleted: report.deleted.length,
    deletedPaths: report.deleted,
    requests: report.requests,
    receivedBytes: report.receivedBytes,
    seconds: report.seconds,
  };
}

type TreeUpdateValues = Values<typeof TREE_UPDATE_OPTIONS>;

/** `patch <folder> <manifest>` and `diff <folder> <manifest>`, their command line parsed by `patch` or `diff`. */
export async function treeCommand(
  kind: 'patch' | 'diff',
  values: TreeUpdateValues,
  positionals: readonly string[],
  ctx: CommandContext,
): Promise<void> {
  if (positionals.length !== 2) throw new UsageError(`${kind} of a folder takes <folder> <manifest>, got ${positionals.length} arguments`);
  const [dir, manifest] = positionals as [string, string];
  locationArgument(manifest, 'the manifest');
  if (values['content-base'] !== undefined) locationArgument(values['content-base'], '--content-base');
  const threads = intOption(values.threads, 'threads');
  const connections = intOption(values.connections, 'connections');
  const jobs = intOption(values.jobs, 'jobs');
  const bytesPerSecond = sizeOption(values.bwlimit, 'bwlimit', 1024);
  const filter = await filterRules(values, ctx.signal);
  const http = await httpOptions(values.header, values.cacert);
  const progress = new ProgressLine(ctx.stderr, !values.json && !values.quiet);
  const started = performance.now();
  const common = {
    ...(http.headers ? { headers: http.headers } : {}),
    ...(http.dispatcher ? { dispatcher: http.dispatcher } : {}),
    ...(filter.length > 0 ? { filter } : {}),
    ...(values['delete-excluded'] ? { deleteExcluded: true } : {}),
    ...(values.seed?.length ? { seeds: values.seed } : {}),
    ...(values['content-base'] ? { contentBase: values['content-base'] } : {}),
    ...(threads ? { threads } : {}),
    ...(connections ? { connections } : {}),
    ...(jobs ? { concurrency: jobs } : {}),
    ...(bytesPerSecond ? { bytesPerSecond } : {}),
    ...(values.delete ? { delete: true } : {}),
    signal: ctx.signal,
    // Scanning counts bytes; the other phases count files.
    onProgress: (p: { phase: string; done: number; total: number }) =>
      progress.update(p.phase, p.done, p.total, p.phase === 'scan' ? 'bytes' : 'files'),
  };
  const { diffTree, patchTree } = await import('../../tree/patch-tree.js');
  try {
    // A dry run of patch is the diff: the same plan, nothing written.
    if (kind === 'diff' || values['dry-run']) {
      const report = await diffTree(dir, manifest, common);
      progress.done();
      const seconds = (performance.now() - started) / 1000;
      if (values.json) ctx.stdout.write(jsonLine(kind, { ...treeDiffJson(report, kind === 'patch' ? true : undefined), seconds }));
      else if (!values.quiet) printDiff(ctx, report, values.verbose === true);
      return;
    }
    const existed = values.verbose && !values.json && !values.quiet ? await existingPaths(dir) : new Set<string>();
    const report = await patchTree(dir, manifest, { ...common, umask: process.umask(), ...(values.fsync ? { fsync: true } : {}) });
    progress.done();
    if (values.json) ctx.stdout.write(jsonLine('patch', treePatchJson(report)));
    else if (!values.quiet) {
      if (values.verbose) printItemized(ctx, report, existed);
      printPatch(ctx, dir, report);
    }
  } finally {
    progress.done();
    await http.dispatcher?.close();
  }
}

function printDiff(ctx: CommandContext, report: TreeDiffReport, verbose: boolean): void {
  printFiles(ctx, report, verbose);
  for (const p of report.extraneous) ctx.stdout.write(`extra     ${printable(p)} (removed with --delete)\n`);
  const t = report.totals;
  ctx.stdout.write(
    `${t.files} files, ${t.changed} to update: reuse ${formatBytes(t.reusedBytes)}, fetch ${formatBytes(t.fetchBytes)} ` +
      `+ manifest ${formatBytes(report.manifestBytes)} + indexes ${formatBytes(report.indexBytes)}\n`,
  );
}

function printPatch(ctx: CommandContext, dir: string, report: TreePatchReport): void {
  const t = report.totals;
  ctx.stdout.write(
    `${dir}: ${t.files} files, ${t.changed} updated, ${report.deleted.length} removed; received ${formatBytes(report.receivedBytes)} in ${report.requests} requests ` +
      `(manifest ${formatBytes(report.manifestBytes)}, indexes ${formatBytes(report.indexBytes)}), reused ${formatBytes(t.reusedBytes)}, ${report.seconds.toFixed(2)} s\n`,
  );
}

/** A temporary folder mirroring `folder`: the same subfolders, a symbolic link to each file. */
async function mirrorFolder(folder: string, signal: AbortSignal): Promise<string> {
  const mirror = await mkdtemp(join(tmpdir(), 'gosync-dry-run-'));
  try {
    const walk = async (from: string, to: string): Promise<void> => {
      if (signal.aborted) throw signal.reason;
      const entries = await readdir(from, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return [];
        throw err;
      });
      for (const e of entries) {
        const source = join(from, e.name);
        if (e.isDirectory()) {
          await mkdir(join(to, e.name));
          await walk(source, join(to, e.name));
        } else await symlink(resolve(source), join(to, e.name));
      }
    };
    await walk(folder, mirror);
    return mirror;
  } catch (err) {
    await rm(mirror, { recursive: true, force: true });
    throw err;
  }
}

/** The files under `folder` that are not symbolic links, as paths relative to it. */
async function newFilesUnder(folder: string): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir(folder, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) found.push(relative(folder, join(e.parentPath, e.name)));
  }
  return found.sort();
}
