/** `gosync build <file> [-o <index>] [--format gosync|zsync] [--block-size <n>] [--url <reference-url>] [--no-compress] [--json]` */
import { mkdtemp, rm } from '../../util/fs-promises.js';
import { MAX_BLOCK_SIZE, MIN_BLOCK_SIZE } from '../../core/index/params.js';
import { type BuildReport, type CompressOptions, PUBLISH_DEFAULTS } from '../../file/build-file.js';
import { type ArchiveBuildReport, buildArchiveFile } from '../../file/build-archive.js';
import type { CommandContext } from '../context.js';
import { jsonLine, roundSeconds } from '../json.js';
import { ProgressLine } from '../progress.js';
import {
  UsageError,
  type Values,
  formValues,
  formatBytes,
  intOption,
  levelOption,
  locationArgument,
  mergeForms,
  parse,
  sizeOption,
} from '../usage.js';
import { BUILD_TREE_OPTIONS, buildTreeHelp, isFolder } from './tree-options.js';
import { builtin } from '../../util/builtin.js';

const { tmpdir } = builtin('node:os');
const { basename, dirname, join, relative } = builtin('node:path');

export const buildFileHelp = `Usage: gosync build <file> [options]    (alias: b)

Writes the index of <file> (default <file>.gosync, or <file>.zsync with --format zsync).
Publish both on any HTTP server.

Options:
  -o, --output <path>     where to write the index
  -f, --format <format>   gosync (default), or zsync: a .zsync control file as zsyncmake
                          writes it, for zsync clients (and gosync)
  -b, --block-size <n>    block size, a power of two (default: from the file size)
  -u, --url <url>         the reference URL to record in the index (for zsync the
                          default is the file's name, relative to the .zsync)
      --no-compress       publish only the index. By default compressed forms are
                          published next to it: <index>z (zstd frames of whole blocks,
                          fetched by clients for the blocks they lack) and, up to 32 MiB,
                          <index>.br (the whole file, one brotli stream); none when the
                          file does not compress (a sample is tested first). With --base
                          or --history: frames at level 17 up to 16 MiB (12 for a file of
                          one frame) and no whole stream there; above, the whole stream is
                          zstd -19 (<index>.zst)
  -z, --compress          compressed forms (the default; kept for older scripts)
  -l, --level <1-22>      zstd level of the frames (default 19 up to 16 MiB, 9 up to
                          64 MiB, else 5; 17 up to 16 MiB with --base, 12 for one frame)
      --frame-size <n>    uncompressed bytes per frame (default 1M)
      --no-whole          do not write the whole-file stream
      --base <file>       an earlier version of the file (repeatable): also publish the
                          smallest delta from it (zstd, LZ or bsdiff-class, each checked),
                          for clients that have exactly it; they fetch only the index's
                          last 57 bytes and that delta
      --history <n>       keep the last <n> published versions in <index>-versions/ and
                          publish a delta from each, as --base does (default 0)
      --dry-run           write nothing: the index and its forms are made in a temporary
                          folder under $TMPDIR (for their sizes), then removed
      --json              print a JSON report on stdout (docs/json.md)
  -t, --threads <n>       worker threads for hashing (default: every core)
  -q, --quiet             print nothing but errors
`;

export const buildHelp = `${buildFileHelp}\n${buildTreeHelp}`;

/** The options of `build <file>`. */
export const BUILD_FILE_OPTIONS = {
  output: { type: 'string', short: 'o' },
  'block-size': { type: 'string', short: 'b' },
  url: { type: 'string', short: 'u' },
  format: { type: 'string', short: 'f' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  threads: { type: 'string', short: 't' },
  compress: { type: 'boolean', short: 'z' },
  'no-compress': { type: 'boolean' },
  level: { type: 'string', short: 'l' },
  'frame-size': { type: 'string' },
  'no-whole': { type: 'boolean' },
  base: { type: 'string', multiple: true },
  history: { type: 'string' },
  'dry-run': { type: 'boolean' },
} as const;

const BUILD_OPTIONS = mergeForms(BUILD_FILE_OPTIONS, BUILD_TREE_OPTIONS);

/** `build <file>` builds its index, `build <folder>` publishes the folder. */
export async function build(args: string[], ctx: CommandContext): Promise<void> {
  const line = parse(args, BUILD_OPTIONS);
  const [first] = line.positionals;
  if (first !== undefined && (await isFolder(first))) {
    const { buildTreeCommand } = await import('./tree.js');
    return buildTreeCommand(formValues(line, BUILD_TREE_OPTIONS), line.positionals, ctx);
  }
  const values = formValues(line, BUILD_FILE_OPTIONS);
  const settings = fileSettings(values, line.positionals);
  const { input, format, threads } = settings;
  const indexPath = values.output ?? `${input}.${format === 'zsync' ? 'zsync' : 'gosync'}`;
  const history = intOption(values.history, 'history') ?? 0;
  if (history > 0 && !settings.compress)
    throw new UsageError('--history is for the gosync format with compressed forms (not --no-compress)');
  // The input's digest names its copy in the history and keeps it from being its own base.
  let inputSha256: string | undefined;
  if (history > 0 && settings.compress) {
    const [{ historyBases }, { fileSha256 }] = await Promise.all([import('../../file/history.js'), import('../../localfs/file-chunks.js')]);
    inputSha256 = (await fileSha256(input, { signal: ctx.signal })).toString('hex');
    const bases = await historyBases(input, indexPath, history, inputSha256);
    settings.compress = { ...settings.compress, bases: [...(settings.compress.bases ?? []), ...bases] };
  }
  const dryRun = values['dry-run'] === true;
  // A dry run builds into a temporary folder; the report then names the paths a real run writes.
  const scratch = dryRun ? await mkdtemp(join(tmpdir(), 'gosync-build-')) : undefined;
  try {
    const report = await buildInto(scratch !== undefined ? join(scratch, basename(indexPath)) : indexPath);
    if (scratch !== undefined) relocate(report, scratch, dirname(indexPath));
    if (values.json) ctx.stdout.write(jsonLine('build', buildFileJson(report, format, dryRun)));
    else if (!values.quiet) ctx.stdout.write(`${dryRun ? 'dry run (nothing written): ' : ''}${summary(report)}`);
  } finally {
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  }

  async function buildInto(indexPath: string): Promise<BuildReport & ArchiveBuildReport> {
    const progress = new ProgressLine(ctx.stderr, !values.json && !values.quiet);
    const common = {
      ...(settings.blockSize ? { blockSize: settings.blockSize } : {}),
      signal: ctx.signal,
      onProgress: (done: number, total: number) => progress.update('index', done, total),
    };
    // The .zsync writer hashes on the main thread (MD4 at about 600 MB/s); --threads applies to the gosync format.
    const report =
      format === 'zsync'
        ? await (await import('../../file/build-zsync.js'))
            .buildZsyncFile(input, indexPath, { ...common, ...(values.url ? { urls: [values.url] } : {}) })
            .catch((err: unknown) => {
              // A header value zsync clients could not read (a control character, a line over 1023 bytes).
              throw err instanceof RangeError ? new UsageError(err.message) : err;
            })
        : await buildArchiveFile(input, indexPath, {
            ...common,
            ...(values.url ? { url: values.url } : {}),
            ...(threads ? { threads } : {}),
            ...(settings.compress ? { compress: settings.compress } : {}),
          });
    if (history > 0 && !dryRun) {
      const { recordVersion } = await import('../../file/history.js');
      await recordVersion(input, indexPath, history, inputSha256);
    }
    progress.done();
    return report;
  }
}

interface FileSettings {
  input: string;
  format: 'gosync' | 'zsync';
  threads: number | undefined;
  blockSize: number | undefined;
  /** The compressed forms to publish, when any option asks for them. */
  compress: CompressOptions | undefined;
}

/** The checked options of `build <file>`. */
function fileSettings(values: Values<typeof BUILD_FILE_OPTIONS>, positionals: readonly string[]): FileSettings {
  const threads = intOption(values.threads, 'threads');
  if (positionals.length !== 1) throw new UsageError(`build takes one file, got ${positionals.length} arguments`);
  const input = positionals[0]!;
  // Recorded for clients, which fetch http(s) only: an ftp:// or a mistyped scheme is refused now.
  if (values.url !== undefined) locationArgument(values.url, '--url');
  const blockSize = sizeOption(values['block-size'], 'block-size');
  if (blockSize !== undefined && (blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0)) {
    throw new UsageError(`--block-size must be a power of two from ${MIN_BLOCK_SIZE} to ${MAX_BLOCK_SIZE}, not ${blockSize}`);
  }
  const format = values.format ?? 'gosync';
  if (format !== 'gosync' && format !== 'zsync') throw new UsageError(`--format must be gosync or zsync, not "${format}"`);
  const level = levelOption(values.level);
  const frameBytes = sizeOption(values['frame-size'], 'frame-size');
  const bases = values.base ?? [];
  const asked = values.compress || level !== undefined || frameBytes !== undefined || values['no-whole'] || bases.length > 0;
  if (asked && format !== 'gosync') throw new UsageError('--compress is for the gosync format');
  if (asked && values['no-compress'])
    throw new UsageError('--no-compress cannot go with --compress, --level, --frame-size, --no-whole or --base');
  // Compressed forms by default for the gosync format; a .zsync has none.
  const compress =
    format === 'gosync' && !values['no-compress']
      ? {
          ...PUBLISH_DEFAULTS,
          ...(level !== undefined ? { level } : {}),
          ...(frameBytes ? { frameBytes } : {}),
          ...(values['no-whole'] ? { whole: false } : {}),
          ...(bases.length > 0 ? { bases } : {}),
        }
      : undefined;
  return { input, format, threads, blockSize, compress };
}

/** The `--json` fields of `build <file>` (docs/json.md). */
function buildFileJson(report: BuildReport & ArchiveBuildReport, format: 'gosync' | 'zsync', dryRun: boolean): Record<string, unknown> {
  return {
    form: 'file',
    format,
    dryRun,
    index: report.index,
    fileSize: report.fileSize,
    blockSize: report.blockSize,
    blockCount: report.blockCount,
    indexBytes: report.indexBytes,
    ...(report.frames ? { frames: report.frames } : {}),
    ...(report.whole ? { whole: report.whole } : {}),
    ...(report.incompressible ? { incompressible: true } : {}),
    ...(report.bases ? { bases: report.bases } : {}),
    ...(report.archive
      ? { archive: 'seconds' in report.archive ? { ...report.archive, seconds: roundSeconds(report.archive.seconds) } : report.archive }
      : {}),
    seconds: report.seconds,
  };
}

/** Names in `report` the paths a build into `to` would write, for one made in `from`. */
function relocate(report: BuildReport & ArchiveBuildReport, from: string, to: string): void {
  const moved = (path: string) => join(to, relative(from, path));
  report.index = moved(report.index);
  if (report.frames) report.frames.path = moved(report.frames.path);
  if (report.whole) report.whole.path = moved(report.whole.path);
  for (const b of report.bases ?? []) b.path = moved(b.path);
  if (report.archive?.reproduced) report.archive.payload = moved(report.archive.payload);
}

/** The line printed for a built index. */
function summary(report: BuildReport & ArchiveBuildReport): string {
  const extra =
    'frames' in report && report.frames
      ? `; frames ${formatBytes(report.frames.bytes)} (${report.frames.count} × ${formatBytes(report.frames.frameBytes)}, ${report.frames.codec} ${report.frames.level})` +
        (report.whole ? `, whole ${formatBytes(report.whole.bytes)} (${report.whole.codec} ${report.whole.level})` : '') +
        (report.bases
          ? report.bases.map((b) => `, ${b.kind} delta from a ${formatBytes(b.baseSize)} base ${formatBytes(b.bytes)}`).join('')
          : '')
      : '';
  const a = report.archive;
  const inside = a
    ? a.reproduced
      ? `gzip payload ${formatBytes(a.payloadBytes)} (zlib ${a.level}/${a.memLevel}) in ${a.payload}; `
      : `gzip not looked into: ${a.reason}; `
    : '';
  return `${inside}${report.index}: ${report.blockCount} blocks of ${report.blockSize} B for ${formatBytes(report.fileSize)}, index ${formatBytes(report.indexBytes)}${extra}, ${report.seconds.toFixed(2)} s\n`;
}
