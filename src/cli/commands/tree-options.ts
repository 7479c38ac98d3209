/**
 * The option tables and help of the folder forms of `build`, `patch` and `diff`, and the
 * tests that choose a folder form: what every `build`, `patch` and `diff` command line
 * needs, apart from the folder commands themselves (tree.ts, loaded for a folder only:
 * about 1.5 ms of CPU a file patch no longer spends; in-process `process.cpuUsage()` around
 * the import, medians of 31 interleaved fresh processes: 13.2 ms against 14.8).
 *
 * @module
 */
import { stat } from '../../util/fs-promises.js';
import { HTTP_OPTIONS, httpHelp } from '../http-options.js';
import { FILTER_OPTIONS, filterHelp } from '../usage.js';

/** True when `location` names a tree manifest (`….tree.json`). */
export function isManifestLocation(location: string): boolean {
  return /\.tree\.json(\?.*)?$/i.test(location);
}

/** True when `path` is an existing folder. */
export async function isFolder(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

export const buildTreeHelp = `Usage: gosync build <folder> -o <publish-folder> [options]

Publishes <folder> as static files under <publish-folder>: <name>.tree.json (the
manifest: paths, sizes, modes, mtimes, links, each file's SHA-256) and objects/ (each
content under its SHA-256, a block index per file of 16 KiB or more, compressed forms
and deltas from the version published before, unless --no-compress). Objects
never change, so a CDN may cache them forever; only the manifest is replaced.
Publish the next version into the same folder: unchanged content is not written again.

Options:
  -o, --output <folder>   the publish folder (required)
  -n, --name <name>       manifest name (default: the folder's name)
      --no-compress       publish no compressed forms and no deltas (by default each
                          large file's index lists zstd frames and a brotli stream, and
                          small files get a brotli stream)
  -z, --compress          compressed forms (the default; kept for older scripts)
  -l, --level <1-22>      zstd level of the frames (default 19 up to 16 MiB, 9 up to
                          64 MiB, else 5)
      --bases <n>         earlier versions to publish deltas from (default 2)
      --no-archives       index gzip and zip files as plain bytes (by default one whose
                          deflate streams Node's zlib reproduces is indexed by its contents)
  -c, --checksum          hash every file (default: trust size + mtime of the last build)
      --dry-run           write nothing: the build runs against a mirror of the publish
                          folder under $TMPDIR (links to its files), then reports what a real
                          build would write there
${filterHelp(26)}      --json              print a JSON report on stdout (docs/json.md)
  -t, --threads <n>       worker threads for hashing large files
  -q, --quiet             print nothing but errors

Excludes are gitignore patterns; the folder's own .gosyncignore (gitignore syntax,
published like any file) applies after them. Excluded paths are not published.
`;

/** The options of `build <folder>`. */
export const BUILD_TREE_OPTIONS = {
  output: { type: 'string', short: 'o' },
  name: { type: 'string', short: 'n' },
  compress: { type: 'boolean', short: 'z' },
  'no-compress': { type: 'boolean' },
  level: { type: 'string', short: 'l' },
  bases: { type: 'string' },
  'no-archives': { type: 'boolean' },
  checksum: { type: 'boolean', short: 'c' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  threads: { type: 'string', short: 't' },
  ...FILTER_OPTIONS,
} as const;

export const patchTreeHelp = `Usage: gosync patch <folder> <manifest> [options]

Makes <folder> (created if missing) a copy of the published tree whose manifest is
<manifest> (an http(s) URL or a path ending in .tree.json). Unchanged files (same size
and mtime) are not read; content any local file already has is copied, not fetched;
changed files fetch a published delta or only the blocks no local file has. Every file
is verified against the manifest's SHA-256 and replaced atomically. Files the manifest
does not list are kept unless --delete. Excluded paths are neither fetched nor deleted
(unless --delete-excluded); what the folder's own .gosyncignore excludes is not deleted.

Options:
      --content-base <url>  where objects/ is published (default: the manifest's folder)
      --delete              remove local files and folders the manifest does not list
      --delete-excluded     also remove excluded local paths (implies --delete)
${filterHelp(28)}  -n, --dry-run             show what would change (as gosync diff), change nothing
  -i, --seed <file>         another local file whose content and blocks may be reused
                            (repeatable)
  -c, --connections <n>     concurrent HTTP connections (default 8)
  -j, --jobs <n>            files fetched at once (default 8)
      --bwlimit <rate>      cap the download rate of the whole patch (bytes/s; K, M suffixes;
                            a bare number is KiB/s as in rsync)
${httpHelp(28)}      --fsync               flush each new file to disk before it replaces the old one
      --json                print a JSON report on stdout (docs/json.md)
  -t, --threads <n>         worker threads for scanning
  -q, --quiet               print nothing but errors
  -v, --verbose             a line per entry changed, as rsync --itemize-changes:
                            new, changed, metadata (mode or time only) or deleted
`;

export const diffTreeHelp = `Usage: gosync diff <folder> <manifest> [options]

Lists per file what "gosync patch" would reuse and fetch, with totals, downloading only
the manifest and the block indexes of changed files.

Options:
      --content-base <url>  where objects/ is published (default: the manifest's folder)
      --delete              plan as "gosync patch --delete" would (replacing folders in the way)
      --delete-excluded     plan as "gosync patch --delete-excluded" would
  -i, --seed <file>         another local file whose content and blocks may be reused
                            (repeatable)
${filterHelp(28)}${httpHelp(28)}      --json                print a JSON report on stdout (docs/json.md)
  -t, --threads <n>         worker threads for scanning
  -q, --quiet               print nothing but errors
  -v, --verbose             also list files whose metadata alone would change
`;

/**
 * The options of `patch <folder> <manifest>` and `diff <folder> <manifest>` (diff takes
 * the same ones: --connections and --jobs apply to its index downloads, --fsync and
 * --dry-run are ignored).
 */
export const TREE_UPDATE_OPTIONS = {
  'content-base': { type: 'string' },
  delete: { type: 'boolean' },
  'delete-excluded': { type: 'boolean' },
  'dry-run': { type: 'boolean', short: 'n' },
  seed: { type: 'string', short: 'i', multiple: true },
  ...FILTER_OPTIONS,
  connections: { type: 'string', short: 'c' },
  jobs: { type: 'string', short: 'j' },
  bwlimit: { type: 'string' },
  ...HTTP_OPTIONS,
  fsync: { type: 'boolean' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  verbose: { type: 'boolean', short: 'v' },
  threads: { type: 'string', short: 't' },
} as const;
