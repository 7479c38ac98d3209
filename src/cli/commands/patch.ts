/**
 * `gosync patch <local> <index> [<reference>] [-o <out>] [-i <seed>]... [--json]` and
 * `gosync diff <local> <index> [-i <seed>]... [--json]`.
 */
import { mkdtemp, rm } from '../../util/fs-promises.js';
import { pipeline } from 'node:stream/promises';
import type { BlockSource } from '../../core/block-source.js';
import { type BlockIndex, NO_FILE_DIGEST } from '../../core/index/block-index.js';
import { isHttpUrl, loadIndex, resolveReference } from '../../file/load-index.js';
import type { KnownArchivePatch } from '../../file/known-archive.js';
import type { KnownVersionPatch } from '../../file/known-version.js';
import { checkReplaceable } from '../../localfs/atomic-file.js';
import type { CommandContext } from '../context.js';
import { ProgressLine } from '../progress.js';
import { printable } from '../printable.js';
import { HTTP_OPTIONS, httpHelp, httpOptions } from '../http-options.js';
import { jsonLine, withoutCredentials } from '../json.js';
import { UsageError, type Values, formValues, formatBytes, intOption, locationArgument, mergeForms, parse, sizeOption } from '../usage.js';
// The folder commands (tree.ts) load for a folder only.
import { TREE_UPDATE_OPTIONS, diffTreeHelp, isFolder, isManifestLocation, patchTreeHelp } from './tree-options.js';
import { builtin } from '../../util/builtin.js';

const { createReadStream } = builtin('node:fs');
const { tmpdir } = builtin('node:os');
const { basename, dirname, join } = builtin('node:path');

const patchFileHelp = `Usage: gosync patch <local> <index> [<reference>] [options]    (alias: p)

Makes <local> identical to the reference described by <index> (a path or an http(s)
URL), fetching only the blocks no local file has. <local> need not exist. The
reference is <reference> (a URL or a path), else the URL in the index, else the
index URL without ".gosync". An index fetched over HTTP may only name an http(s)
URL (a relative one is resolved against the index URL), never a local file. The
output is verified, then replaces <local> atomically.

Options:
  -o, --output <path>      write the result here instead of replacing <local>; "-o -"
                           writes it to stdout (made and verified in a temporary file
                           under $TMPDIR first: the SHA-256 is known only at the end, and
                           no unverified byte is written; the summary goes to stderr)
  -n, --dry-run            show what would be reused and fetched (as gosync diff),
                           fetching nothing but the index
  -i, --seed <file>        another local file whose blocks may be reused (repeatable)
  -c, --connections <n>    concurrent HTTP connections (default 4)
      --bwlimit <rate>     cap the download rate (bytes/s; K, M suffixes; a bare number is KiB/s as in rsync)
${httpHelp(27)}      --fsync              flush the result to disk before replacing the file (as rsync's --fsync)
      --raw                fetch raw ranges of the plain reference only, even when the
                           index lists compressed forms
      --json               print a JSON report on stdout (docs/json.md)
  -t, --threads <n>        worker threads for scanning (default: every core; on 2 cores, one below 128 MiB)
  -q, --quiet              print nothing but errors
`;

const diffFileHelp = `Usage: gosync diff <local> <index> [options]    (alias: d)

Shows what "gosync patch" would reuse from local files and fetch, downloading
nothing but the index.

Options:
  -i, --seed <file>        another local file whose blocks may be reused (repeatable)
      --json               print a JSON report on stdout (docs/json.md)
  -t, --threads <n>        worker threads for scanning (default: every core; on 2 cores, one below 128 MiB)
  -q, --quiet              print nothing but errors
`;

export const patchHelp = `${patchFileHelp}\n${patchTreeHelp}`;
export const diffHelp = `${diffFileHelp}\n${diffTreeHelp}`;

/** The options of `patch <file> <index> [<reference>]`. */
export const PATCH_FILE_OPTIONS = {
  output: { type: 'string', short: 'o' },
  seed: { type: 'string', short: 'i', multiple: true },
  connections: { type: 'string', short: 'c' },
  bwlimit: { type: 'string' },
  ...HTTP_OPTIONS,
  fsync: { type: 'boolean' },
  raw: { type: 'boolean' },
  'dry-run': { type: 'boolean', short: 'n' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  threads: { type: 'string', short: 't' },
} as const;

/** The options of `diff <file> <index>`. */
export const DIFF_FILE_OPTIONS = {
  seed: { type: 'string', short: 'i', multiple: true },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  threads: { type: 'string', short: 't' },
} as const;

const PATCH_OPTIONS = mergeForms(PATCH_FILE_OPTIONS, TREE_UPDATE_OPTIONS);
const DIFF_OPTIONS = mergeForms(DIFF_FILE_OPTIONS, TREE_UPDATE_OPTIONS);

/** The folder form applies when the index is a tree manifest or the local path is a folder. */
async function isTreeForm(positionals: readonly string[]): Promise<boolean> {
  const [local, location] = positionals;
  return (location !== undefined && isManifestLocation(location)) || (local !== undefined && (await isFolder(local)));
}

/** How the result was verified, for the summary line. */
function describeCheck(index: BlockIndex): string {
  const { algorithm } = index.fileDigest;
  return algorithm === NO_FILE_DIGEST ? `every block by ${index.strongHash.name}` : algorithm;
}

/** A plan's name for people. */
function planName(kind: string): string {
  return (
    { raw: 'raw ranges', frames: 'compressed frames', whole: 'the whole compressed file', base: 'a delta from this exact local version' }[
      kind
    ] ?? kind
  );
}

function percent(part: number, whole: number): string {
  return whole === 0 ? '100%' : `${((100 * part) / whole).toFixed(1)}%`;
}

/** `patch <file> <index> [<reference>]`, or `patch <folder> <manifest>`. */
export async function patch(args: string[], ctx: CommandContext): Promise<void> {
  const line = parse(args, PATCH_OPTIONS);
  if (await isTreeForm(line.positionals))
    return (await import('./tree.js')).treeCommand('patch', formValues(line, TREE_UPDATE_OPTIONS), line.positionals, ctx);
  const values = formValues(line, PATCH_FILE_OPTIONS);
  const { positionals } = line;
  const threads = intOption(values.threads, 'threads');
  if (positionals.length < 2 || positionals.length > 3) {
    throw new UsageError(`patch takes <local> <index> [<reference>], got ${positionals.length} arguments`);
  }
  const [local, indexLocation, explicitReference] = positionals as [string, string, string?];
  locationArgument(indexLocation, 'the index');
  if (explicitReference !== undefined) locationArgument(explicitReference, 'the reference');
  if (values['dry-run']) {
    if (values.output !== undefined || values.fsync || values.bwlimit !== undefined || values.connections !== undefined)
      throw new UsageError('--dry-run fetches nothing: it cannot go with -o, --fsync, --bwlimit or --connections');
    return diffCommand('patch', local, indexLocation, { ...values, http: await httpOptions(values.header, values.cacert) }, threads, ctx);
  }
  const toStdout = values.output === '-';
  if (toStdout && values.json) throw new UsageError('-o - writes the file to stdout: it cannot go with --json');
  // -o -: the result is made and verified in a temporary folder, then copied to stdout.
  const scratch = toStdout ? await mkdtemp(join(tmpdir(), 'gosync-stdout-')) : undefined;
  const output = scratch !== undefined ? join(scratch, basename(local) || 'out') : values.output;
  try {
    // A device, FIFO, socket or folder as the output is refused before anything is fetched.
    await checkReplaceable(output ?? local);
    const report = await patchToFile(local, indexLocation, explicitReference, output, values, threads, ctx);
    if (scratch !== undefined) await copyToStdout(output!, ctx);
    if (values.json) ctx.stdout.write(jsonLine('patch', report.json));
    // With -o - the summary goes to stderr: stdout is the file.
    else if (!values.quiet) (scratch !== undefined ? ctx.stderr : ctx.stdout).write(report.text);
  } finally {
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  }
}

/** What a block patch loads; the HTTP client only when something is fetched over HTTP. */
function loadBlockPatch(overHttp: boolean) {
  return Promise.all([
    overHttp ? import('../../sources/http/http-source.js') : { HttpSource: undefined },
    import('../../sources/file-source.js'),
    import('../../file/patch-archive.js'),
  ]);
}

/** Copies the verified result to stdout; a reader that stops early (`| head`) is no failure. */
async function copyToStdout(path: string, ctx: CommandContext): Promise<void> {
  try {
    await pipeline(createReadStream(path), ctx.stdout, { end: false, signal: ctx.signal });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
  }
}

/** What a file patch prints: the JSON fields and the summary text. */
interface PatchOutcome {
  json: Record<string, unknown>;
  text: string;
}

/** Patches `local` (into `output`, default `local`) and describes what was done. */
async function patchToFile(
  local: string,
  indexLocation: string,
  explicitReference: string | undefined,
  output: string | undefined,
  values: Values<typeof PATCH_FILE_OPTIONS>,
  threads: number | undefined,
  ctx: CommandContext,
): Promise<PatchOutcome> {
  const connections = intOption(values.connections, 'connections');
  const bytesPerSecond = sizeOption(values.bwlimit, 'bwlimit', 1024);
  const http = await httpOptions(values.header, values.cacert);
  // One dispatcher for every request of the patch (the index, a delta, the reference and its
  // forms), sized as a source's own: the block requests reuse the index's connection instead
  // of opening their own (jquery.js through nginx: 1 connection instead of 3).
  if (http.dispatcher === undefined && [indexLocation, explicitReference ?? ''].some(isHttpUrl)) {
    const { SINGLE_RANGE_CONNECTIONS, createHttpDispatcher } = await import('../../sources/http/dispatcher.js');
    http.dispatcher = createHttpDispatcher({ connections: connections ?? SINGLE_RANGE_CONNECTIONS });
  }
  const progress = new ProgressLine(ctx.stderr, !values.json && !values.quiet);
  // The block patch's modules, loaded here, not with the command: a known version (below)
  // needs none of them. When the known-version attempt misses they load while the whole
  // index is downloaded (17 ms of loading after the index on the identical 256 MiB patch
  // through nginx, perf trace of the process).
  // Loaded once: the first call decides whether the HTTP client comes too (the known-version
  // attempt, which asks first, runs only for an index over HTTP).
  let blockPatchModules: ReturnType<typeof loadBlockPatch> | undefined;
  const blockPatch = (overHttp: boolean) => (blockPatchModules ??= loadBlockPatch(overHttp));
  // A local file that is exactly a version the publisher made a delta from needs only the
  // index's summary and that delta (file/known-version.ts); anything else reads the index.
  let prefetched: { body: Uint8Array; url: string } | undefined;
  let summaryBytes = 0;
  try {
    if (isHttpUrl(indexLocation) && !values.raw) {
      const { patchKnownVersion } = await import('../../file/known-version.js');
      const known = await patchKnownVersion({
        local,
        indexUrl: indexLocation,
        ...(output ? { output } : {}),
        ...(values.fsync ? { fsync: true } : {}),
        ...http,
        onMiss: () => blockPatch(true),
        signal: ctx.signal,
      });
      if (known.applied) return knownVersionOutcome(known, values.output === '-' ? '-' : known.output);
      prefetched = known.index;
      summaryBytes = prefetched ? 0 : known.indexBytes;
    }
    const loaded = await loadIndex(indexLocation, { signal: ctx.signal, ...(prefetched ? { prefetched } : {}), ...http });
    loaded.bytes += summaryBytes;
    const reference = resolveReference(loaded, explicitReference);
    const [{ HttpSource }, { FileSource }, { patchArchive }] = await blockPatch([reference, indexLocation].some(isHttpUrl));
    const open = (location: string, expectedSize?: number): BlockSource =>
      isHttpUrl(location)
        ? new HttpSource!(location, {
            ...(expectedSize !== undefined ? { expectedSize } : {}),
            ...(connections ? { connections } : {}),
            ...(bytesPerSecond ? { bytesPerSecond } : {}),
            ...http,
          })
        : new FileSource(location);
    // An archive index describes the payload; the reference is the published archive.
    const source = open(reference, loaded.index.published?.archive?.size ?? loaded.index.fileSize);
    // Compressed forms the index lists live next to it. The decoder refused names with a
    // separator or "."/".."; escaping keeps one like "http:host" or "%2e%2e" a file name too.
    const openForm = values.raw
      ? undefined
      : (name: string) => open(loaded.url ? new URL(encodeURIComponent(name), loaded.url).href : join(dirname(loaded.path!), name));
    try {
      const report = await patchArchive({
        local,
        index: loaded.index,
        source,
        ...(output ? { output } : {}),
        seeds: values.seed ?? [],
        ...(threads ? { threads } : {}),
        ...(values.fsync ? { fsync: true } : {}),
        ...(openForm ? { openForm } : {}),
        signal: ctx.signal,
        onProgress: progress.patch,
      });
      progress.done();
      const shown = values.output === '-' ? '-' : report.output;
      return {
        json: {
          form: 'file',
          dryRun: false,
          output: shown,
          // A user:password@ in the URL authenticates; it is not printed.
          reference: withoutCredentials(reference),
          fileSize: report.fileSize,
          blockSize: report.blockSize,
          blockCount: report.blockCount,
          reusedBytes: report.reusedBytes,
          fetchedBytes: report.fetchedBytes,
          ranges: report.ranges,
          plan: report.plan,
          requests: report.requests,
          receivedBytes: report.receivedBytes,
          indexBytes: loaded.bytes,
          refetched: report.refetched,
          upToDate: report.upToDate,
          ...(report.archive ? { archive: report.archive } : {}),
          seconds: report.seconds,
        },
        text:
          `${shown}: ${formatBytes(report.fileSize)} verified (${describeCheck(loaded.index)})${report.upToDate ? ', already up to date' : ''}\n` +
          `reused ${formatBytes(report.reusedBytes)} (${percent(report.reusedBytes, report.fileSize)}) from local files, ` +
          `fetched ${formatBytes(report.fetchedBytes)} in ${report.ranges} ranges${report.plan === 'raw' ? '' : ` (from ${planName(report.plan)})`} with ${report.requests} requests, ${formatBytes(report.receivedBytes)} received, ` +
          `index ${formatBytes(loaded.bytes)}, ${report.seconds.toFixed(2)} s${report.refetched ? ' (refetched in full after a false match)' : ''}\n`,
      };
    } finally {
      await source.close();
    }
  } finally {
    progress.done();
    await http.dispatcher?.close();
  }
}

/**
 * What a patch through the index's summary prints: made from a delta for the local file's
 * exact version, or none needed (`identical`: the local file already was the new version,
 * reported as a block patch that reused every byte).
 */
function knownVersionOutcome(known: KnownVersionPatch, shown: string): PatchOutcome {
  const identical = known.kind === 'identical';
  const upToDate = known.upToDate === true;
  return {
    json: {
      form: 'file',
      dryRun: false,
      output: shown,
      fileSize: known.fileSize,
      ...(identical ? { reusedBytes: known.fileSize, ranges: 0 } : {}),
      fetchedBytes: known.deltaBytes,
      plan: identical ? 'raw' : 'base',
      ...(identical ? {} : { deltaKind: known.kind }),
      requests: known.requests,
      receivedBytes: known.deltaBytes + known.indexBytes,
      indexBytes: known.indexBytes,
      sha256: Buffer.from(known.sha256).toString('hex'),
      refetched: false,
      upToDate,
      // An archive rebuilt from a payload delta (file/known-archive.ts) says so, as a block patch of one does.
      ...('archive' in known ? { archive: { ...(known as KnownArchivePatch).archive, fetchedWhole: false } } : {}),
      seconds: known.seconds,
    },
    text:
      `${shown}: ${formatBytes(known.fileSize)} verified (sha256)${upToDate ? ', already up to date' : ''}\n` +
      (identical
        ? "the local file is the new version (its size and SHA-256 are the index's), fetched nothing, "
        : `fetched a ${known.kind} delta of ${formatBytes(known.deltaBytes)} (from ${planName('base')}) with ${known.requests} requests, `) +
      `index summary ${formatBytes(known.indexBytes)}, ${known.seconds.toFixed(2)} s\n`,
  };
}

/** `diff <file> <index>`, or `diff <folder> <manifest>`. */
export async function diff(args: string[], ctx: CommandContext): Promise<void> {
  const line = parse(args, DIFF_OPTIONS);
  if (await isTreeForm(line.positionals))
    return (await import('./tree.js')).treeCommand('diff', formValues(line, TREE_UPDATE_OPTIONS), line.positionals, ctx);
  const values = formValues(line, DIFF_FILE_OPTIONS);
  const { positionals } = line;
  const threads = intOption(values.threads, 'threads');
  if (positionals.length !== 2) throw new UsageError(`diff takes <local> <index>, got ${positionals.length} arguments`);
  const [local, indexLocation] = positionals as [string, string];
  locationArgument(indexLocation, 'the index');
  return diffCommand('diff', local, indexLocation, { ...values, http: {} }, threads, ctx);
}

/** `diff <file> <index>` and `patch --dry-run <file> <index>`: what a patch would reuse and fetch. */
async function diffCommand(
  command: 'diff' | 'patch',
  local: string,
  indexLocation: string,
  values: {
    seed?: string[] | undefined;
    json?: boolean | undefined;
    quiet?: boolean | undefined;
    http: { headers?: Record<string, string>; dispatcher?: import('undici').Dispatcher };
  },
  threads: number | undefined,
  ctx: CommandContext,
): Promise<void> {
  const progress = new ProgressLine(ctx.stderr, !values.json && !values.quiet);
  const started = performance.now();
  try {
    const loaded = await loadIndex(indexLocation, { signal: ctx.signal, ...values.http });
    // An archive index is compared with the local archive's payload, entry by entry.
    const report = await (await import('../../file/patch-archive.js')).diffArchive({
      local,
      index: loaded.index,
      seeds: values.seed ?? [],
      entries: true,
      ...(threads ? { threads } : {}),
      signal: ctx.signal,
      onProgress: progress.patch,
    });
    const { archive } = report;
    progress.done();
    const seconds = (performance.now() - started) / 1000;
    const { plan } = report;
    if (values.json) {
      ctx.stdout.write(
        jsonLine(command, {
          form: 'file',
          ...(command === 'patch' ? { dryRun: true } : {}),
          fileSize: report.fileSize,
          blockSize: report.blockSize,
          blockCount: report.blockCount,
          reusedBytes: report.reusedBytes,
          fetchedBytes: report.fetchBytes,
          ranges: report.ranges.length,
          rangeList: report.ranges.map((r) => [r.start, r.end]),
          plan: plan.kind,
          planBytes: plan.bytes,
          estimates: plan.estimates,
          scannedPaths: report.files,
          ...(archive ? { archive } : {}),
          indexBytes: loaded.bytes,
          seconds,
        }),
      );
      return;
    }
    if (values.quiet) return;
    const ways = [`raw ranges ${formatBytes(plan.estimates.raw)}`];
    if (plan.estimates.frames !== undefined) ways.push(`compressed frames ${formatBytes(plan.estimates.frames)}`);
    if (plan.estimates.whole !== undefined) ways.push(`whole compressed file ${formatBytes(plan.estimates.whole)}`);
    if (plan.estimates.base !== undefined) ways.push(`delta from this exact version ${formatBytes(plan.estimates.base)}`);
    // Of an archive, the blocks describe its payload: the share is of the payload.
    const described = archive ? archive.payloadBytes : report.fileSize;
    ctx.stdout.write(
      `${command === 'patch' ? 'dry run: ' : ''}${local}: ${formatBytes(report.fileSize)}${archive ? ` (${archive.kind}, payload ${formatBytes(archive.payloadBytes)})` : ''} in ${report.blockCount} blocks of ${report.blockSize} B\n` +
        `would reuse ${formatBytes(report.reusedBytes)} (${percent(report.reusedBytes, described)}) and fetch ${formatBytes(report.fetchBytes)} in ${report.ranges.length} ranges, plus the index (${formatBytes(loaded.bytes)})\n` +
        `plan: ${planName(plan.kind)}, about ${formatBytes(plan.bytes)} on the wire (${ways.join('; ')})\n`,
    );
    if (archive?.entries) {
      const count = (state: string) => archive.entries!.filter((e) => e.state === state).length;
      ctx.stdout.write(
        `entries of the local archive: ${count('reused')} reused, ${count('changed')} changed, ${count('gone')} gone (entries only the new version has are in the fetch)\n`,
      );
      for (const e of archive.entries) {
        if (e.state !== 'reused')
          ctx.stdout.write(
            `  ${e.state.padEnd(8)} ${printable(e.name)} (${formatBytes(e.reusedBytes)} of ${formatBytes(e.size)} reused)\n`,
          );
      }
    } else if (archive?.entriesProblem) {
      ctx.stdout.write(`entries of the local archive: not listed (${printable(archive.entriesProblem)})\n`);
    }
  } finally {
    progress.done();
    await values.http.dispatcher?.close();
  }
}
