/** `gosync publish <publish-folder> s3://<bucket>/<prefix> [--endpoint <url>] [--region <r>] [--force-path-style] [-n] [--json]` */
import type { PublishS3Report } from '../../publish/s3.js';
import type { CommandContext } from '../context.js';
import { jsonLine } from '../json.js';
import { printable } from '../printable.js';
import { ProgressLine } from '../progress.js';
import { UsageError, formatBytes, intOption, parse } from '../usage.js';

export const publishHelp = `Usage: gosync publish <publish-folder> s3://<bucket>/<prefix> [options]

Uploads a publish folder to S3-compatible object storage (AWS S3, Cloudflare R2, MinIO,
Google Cloud Storage's XML API): what "gosync build" wrote, objects first and the
manifests (or a single file's indexes) last, so a client never reads a manifest whose
objects are not there yet. Only what the bucket lacks is sent: content-addressed
objects found by one listing of the prefix, other files by their SHA-256 (kept in the
object's metadata). A rerun after an interruption sends only what did not arrive.

A folder publish sends the objects its manifests reference, with
"Cache-Control: public, max-age=31536000, immutable", and the manifests with "no-cache".
A single-file publish sends each index's file (the reference), frames, whole stream and
deltas, then the index, all with "no-cache" (their names do not change between versions).

Credentials and the default region come from the AWS SDK's usual chain:
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN), AWS_PROFILE and
~/.aws/credentials, ~/.aws/config, SSO, instance and container roles.

Options:
      --endpoint <url>      the service's URL, for other services than AWS
                            (https://<account>.r2.cloudflarestorage.com,
                            https://storage.googleapis.com, http://127.0.0.1:9000)
      --region <region>     the region to sign for (default: AWS_REGION, AWS_DEFAULT_REGION
                            or the profile's; with --endpoint, us-east-1)
      --force-path-style    address the bucket in the path (endpoint/bucket/key), as MinIO
                            and most self-hosted servers need
  -j, --jobs <n>            uploads at once (default 8)
      --manifest-cache-control <value>
                            Cache-Control of manifests, indexes and a single file's data
                            (default no-cache; e.g. "public, max-age=60" for a short TTL)
  -n, --dry-run             list what would be uploaded (the bucket is still read)
      --json                print a JSON report on stdout (docs/json.md)
  -q, --quiet               print nothing but errors
`;

/** The options of `publish`. */
export const PUBLISH_OPTIONS = {
  endpoint: { type: 'string' },
  region: { type: 'string' },
  'force-path-style': { type: 'boolean' },
  jobs: { type: 'string', short: 'j' },
  'manifest-cache-control': { type: 'string' },
  'dry-run': { type: 'boolean', short: 'n' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

/** The URL of an `--endpoint` (a usage error when it is not an http(s) URL). */
function endpointOption(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--endpoint must be an http(s) URL, not "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--endpoint must be an http(s) URL, not "${value}"`);
  return value;
}

export async function publish(args: string[], ctx: CommandContext): Promise<void> {
  const { values, positionals } = parse(args, PUBLISH_OPTIONS);
  if (positionals.length !== 2)
    throw new UsageError(`publish takes a publish folder and an s3:// URL, got ${positionals.length} arguments`);
  const [folder, url] = positionals as [string, string];
  const { parseS3Url, publishToS3 } = await import('../../publish/s3.js');
  try {
    parseS3Url(url);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const endpoint = endpointOption(values.endpoint);
  const region =
    values.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? (endpoint !== undefined ? 'us-east-1' : undefined);
  const jobs = intOption(values.jobs, 'jobs');
  const quiet = values.quiet === true;
  const progress = new ProgressLine(ctx.stderr, !values.json && !quiet);
  let report: PublishS3Report;
  try {
    report = await publishToS3(folder, url, {
      ...(endpoint !== undefined ? { endpoint } : {}),
      ...(region !== undefined ? { region } : {}),
      ...(values['force-path-style'] ? { forcePathStyle: true } : {}),
      ...(jobs !== undefined ? { concurrency: jobs } : {}),
      ...(values['manifest-cache-control'] !== undefined ? { mutableCacheControl: values['manifest-cache-control'] } : {}),
      ...(values['dry-run'] ? { dryRun: true } : {}),
      signal: ctx.signal,
      onProgress: (p) => progress.update('upload', p.bytes, p.totalBytes, 'bytes'),
    });
  } finally {
    progress.done();
  }
  if (values.json) {
    ctx.stdout.write(
      jsonLine('publish', {
        form: report.kind === 'tree' ? 'folder' : 'file',
        dryRun: report.dryRun,
        bucket: report.bucket,
        prefix: report.prefix,
        uploaded: report.uploaded.map((o) => ({ key: o.key, bytes: o.bytes, contentType: o.contentType, cacheControl: o.cacheControl })),
        uploadedBytes: report.uploadedBytes,
        present: report.present,
        presentBytes: report.presentBytes,
        seconds: report.seconds,
      }),
    );
    return;
  }
  if (quiet) return;
  const target = `s3://${report.bucket}/${report.prefix}`;
  if (report.dryRun) for (const o of report.uploaded) ctx.stdout.write(`would upload ${printable(o.key)} (${formatBytes(o.bytes)})\n`);
  ctx.stdout.write(
    `${report.dryRun ? 'would upload' : 'uploaded'} ${report.uploaded.length} files (${formatBytes(report.uploadedBytes)}) to ${printable(target)}; ` +
      `${report.present} present already (${formatBytes(report.presentBytes)}), ${report.seconds.toFixed(1)} s\n`,
  );
}
