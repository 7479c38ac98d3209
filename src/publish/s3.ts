/**
 * Publishing a publish folder to S3-compatible object storage (AWS S3, Cloudflare R2,
 * MinIO, Google Cloud Storage's XML API, …) with the AWS SDK, which is loaded only here
 * and only when called.
 *
 * The order is the one a static server's clients need (publish-folder.ts): every object
 * the manifests or indexes reference first, then the manifests or indexes, so a client
 * that reads a new manifest finds all it names. Only what the bucket lacks is sent:
 * content-addressed objects (a folder publish's `objects/`) are looked up with one
 * listing of the prefix (ListObjectsV2, 1,000 keys a request) and skipped when present
 * at the same size, since their name fixes their content; other files (manifests,
 * indexes, a single file's data) carry their SHA-256 in the object's metadata
 * (`x-amz-meta-gosync-sha256`), and a HEAD request skips those whose size and hash match.
 * A stopped upload leaves no partial object (S3 makes an object visible only once it is
 * complete), so a rerun sends exactly what did not arrive.
 *
 * Every request goes through the SDK's standard retry strategy (`maxAttempts`, default
 * 5: exponential backoff with jitter on throttling, 5xx and network errors). Bodies are
 * buffers, so a retried request sends the same bytes again; files over `partSize` go up
 * as multipart uploads of `partSize` parts, each retried on its own, and a failed
 * multipart upload is aborted so no parts are left to bill.
 *
 * @module
 */
import { open, readFile } from '../util/fs-promises.js';
import type { S3Client } from '@aws-sdk/client-s3';
import { ErrorCodes, SyncError, abortError, ioError, throwIfAborted } from '../core/errors.js';
import { fileSha256 } from '../localfs/file-chunks.js';
import { forEachLimit } from '../util/limit.js';
import { type PublishItem, publishPlan } from './publish-folder.js';

/** Cache-Control of content-addressed objects: they never change, so any cache may keep them forever. */
export const IMMUTABLE_CACHE_CONTROL = 'public, max-age=31536000, immutable';
/** Cache-Control of manifests, indexes and a single file's data: revalidated on every use. */
export const MUTABLE_CACHE_CONTROL = 'no-cache';
/** The object metadata (`x-amz-meta-…`) that holds a mutable file's SHA-256. */
const SHA_METADATA = 'gosync-sha256';
/** Default part size of multipart uploads (and the largest file sent in one PUT). */
const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
/** S3's limits: parts of at least 5 MiB (but the last), at most 10,000 parts. */
const MIN_PART_SIZE = 5 * 1024 * 1024;
const MAX_PARTS = 10_000;

/** Options of {@link publishToS3}. */
export interface PublishS3Options {
  /** The service's URL for other services than AWS (`https://<account>.r2.cloudflarestorage.com`, `http://127.0.0.1:9000`). */
  endpoint?: string;
  /** The region to sign for (default: the SDK's, from `AWS_REGION` or the profile). */
  region?: string;
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (MinIO and most self-hosted servers). */
  forcePathStyle?: boolean;
  /** Credentials (default: the SDK's chain: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `~/.aws/credentials`, SSO, instance roles…). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Uploads in flight (default 8). */
  concurrency?: number;
  /** Attempts per request, retries included (default 5). */
  maxAttempts?: number;
  /** Files larger than this go up in parts of this size (default 8 MiB; at least 5 MiB). */
  partSize?: number;
  /** Cache-Control of content-addressed objects (default {@link IMMUTABLE_CACHE_CONTROL}). */
  immutableCacheControl?: string;
  /** Cache-Control of manifests, indexes and a single file's data (default {@link MUTABLE_CACHE_CONTROL}). */
  mutableCacheControl?: string;
  /** Look up what the bucket lacks and report it, uploading nothing. */
  dryRun?: boolean;
  signal?: AbortSignal;
  /** Called after each file is uploaded or found present. */
  onProgress?: (progress: PublishProgress) => void;
}

/** Progress of {@link publishToS3}. */
export interface PublishProgress {
  /** Files handled (uploaded or present already), of `total`. */
  done: number;
  total: number;
  /** Bytes uploaded so far, of `totalBytes` to upload. */
  bytes: number;
  totalBytes: number;
}

/** One file sent (or, in a dry run, to send). */
export interface PublishedObject {
  key: string;
  bytes: number;
  contentType: string;
  cacheControl: string;
}

/** What {@link publishToS3} did. */
export interface PublishS3Report {
  bucket: string;
  /** The key prefix, empty or ending in `/`. */
  prefix: string;
  /** `tree` for a folder publish (manifests and objects), `file` for single-file indexes. */
  kind: 'tree' | 'file';
  /** The files uploaded (would be, in a dry run), in the order they were started. */
  uploaded: PublishedObject[];
  uploadedBytes: number;
  /** Files the bucket had already. */
  present: number;
  presentBytes: number;
  dryRun: boolean;
  seconds: number;
}

/** The bucket and key prefix of an `s3://bucket/prefix` URL (RangeError when it is not one). */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  const bucket = m?.[1];
  if (bucket === undefined || !/^[A-Za-z0-9._-]+$/.test(bucket))
    throw new RangeError(`Cannot publish to ${url}: not an s3://<bucket>/<prefix> URL`);
  const path = (m?.[2] ?? '').replace(/^\/+/, '');
  if (path.split('/').some((part, i, all) => part === '..' || part === '.' || (part === '' && i < all.length - 1)))
    throw new RangeError(`Cannot publish to ${url}: the prefix has an empty, "." or ".." segment`);
  return { bucket, prefix: path === '' || path.endsWith('/') ? path : `${path}/` };
}

/** The SDK's error as gosync's: aborted, an HTTP status the service answered, or the network. */
function uploadError(err: unknown, where: string, signal: AbortSignal | undefined): SyncError {
  if (SyncError.is(err)) return err;
  if (signal?.aborted) return abortError(signal);
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  const what = `${e.name ?? 'Error'}: ${e.message ?? String(err)}`;
  if (status !== undefined && status >= 400 && status < 500)
    return new SyncError(ErrorCodes.HTTP_STATUS, `Cannot publish ${where}: ${what} (HTTP ${status})`, { cause: err, status, url: where });
  return new SyncError(ErrorCodes.NETWORK, `Cannot publish ${where}: ${what}${status ? ` (HTTP ${status})` : ''}`, {
    cause: err,
    url: where,
    ...(status ? { status } : {}),
  });
}

/** A file of the plan with where it goes and how it is served. */
interface Upload extends PublishItem {
  key: string;
  cacheControl: string;
  /** SHA-256 (hex) of a mutable file, recorded in its metadata. */
  sha256?: string;
}

/** One publish session: the client, the bucket, what is present and what was sent. */
class S3Publisher {
  readonly #client: S3Client;
  readonly #sdk: typeof import('@aws-sdk/client-s3');
  readonly #bucket: string;
  readonly #options: PublishS3Options;
  readonly #partSize: number;
  readonly uploaded: PublishedObject[] = [];
  present = 0;
  presentBytes = 0;

  constructor(sdk: typeof import('@aws-sdk/client-s3'), bucket: string, options: PublishS3Options) {
    this.#sdk = sdk;
    this.#bucket = bucket;
    this.#options = options;
    this.#partSize = options.partSize ?? DEFAULT_PART_SIZE;
    this.#client = new sdk.S3Client({
      ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
      ...(options.region !== undefined ? { region: options.region } : {}),
      ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
      forcePathStyle: options.forcePathStyle ?? false,
      maxAttempts: options.maxAttempts ?? 5,
      retryMode: 'standard',
      // Checksums only where S3 requires them: the default (a CRC trailer on every
      // upload) is refused by several S3-compatible services. Bodies are buffers, so the
      // signature covers their SHA-256 anyway.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  get #abort() {
    return this.#options.signal ? { abortSignal: this.#options.signal } : {};
  }

  #where(key: string): string {
    return `s3://${this.#bucket}/${key}`;
  }

  /** The keys under `prefix` with their sizes (ListObjectsV2, page by page). */
  async list(prefix: string): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    let token: string | undefined;
    do {
      const page = await this.#client
        .send(
          new this.#sdk.ListObjectsV2Command({ Bucket: this.#bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }),
          this.#abort,
        )
        .catch((err: unknown) => Promise.reject(uploadError(err, this.#where(prefix), this.#options.signal)));
      for (const o of page.Contents ?? []) if (o.Key !== undefined) found.set(o.Key, o.Size ?? -1);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return found;
  }

  /** True when the bucket holds `u` already: same size and, for a mutable file, the same SHA-256 in its metadata. */
  async isPresent(u: Upload, listed: Map<string, number> | undefined): Promise<boolean> {
    if (u.immutable && listed) return listed.get(u.key) === u.size;
    try {
      const head = await this.#client.send(new this.#sdk.HeadObjectCommand({ Bucket: this.#bucket, Key: u.key }), this.#abort);
      return head.ContentLength === u.size && (u.sha256 === undefined || head.Metadata?.[SHA_METADATA] === u.sha256);
    } catch (err) {
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
      throw uploadError(err, this.#where(u.key), this.#options.signal);
    }
  }

  /** The fields every upload of `u` sends. */
  #fields(u: Upload) {
    return {
      Bucket: this.#bucket,
      Key: u.key,
      ContentType: u.contentType,
      CacheControl: u.cacheControl,
      ...(u.sha256 !== undefined ? { Metadata: { [SHA_METADATA]: u.sha256 } } : {}),
    };
  }

  /** Uploads `u`: one PUT up to the part size, else a multipart upload. */
  async upload(u: Upload): Promise<void> {
    if (u.size <= this.#partSize) {
      let body: Buffer;
      try {
        body = await readFile(u.path, this.#options.signal ? { signal: this.#options.signal } : {});
      } catch (cause) {
        throwIfAborted(this.#options.signal);
        throw ioError('read', u.path, cause);
      }
      if (body.length !== u.size) throw changed(u.path);
      await this.#client
        .send(new this.#sdk.PutObjectCommand({ ...this.#fields(u), Body: body, ContentLength: body.length }), this.#abort)
        .catch((err: unknown) => Promise.reject(uploadError(err, this.#where(u.key), this.#options.signal)));
      return;
    }
    await this.#multipart(u);
  }

  /** A multipart upload of `u`, aborted (its parts dropped) when anything fails. */
  async #multipart(u: Upload): Promise<void> {
    const partSize = Math.max(this.#partSize, Math.ceil(u.size / MAX_PARTS));
    const where = this.#where(u.key);
    const created = await this.#client
      .send(new this.#sdk.CreateMultipartUploadCommand(this.#fields(u)), this.#abort)
      .catch((err: unknown) => Promise.reject(uploadError(err, where, this.#options.signal)));
    const uploadId = created.UploadId!;
    const fh = await open(u.path, 'r').catch((cause: unknown) => Promise.reject(ioError('read', u.path, cause)));
    try {
      const parts: { ETag: string; PartNumber: number }[] = [];
      for (let offset = 0, n = 1; offset < u.size; offset += partSize, n++) {
        throwIfAborted(this.#options.signal);
        const body = Buffer.allocUnsafe(Math.min(partSize, u.size - offset));
        const { bytesRead } = await fh
          .read(body, 0, body.length, offset)
          .catch((cause: unknown) => Promise.reject(ioError('read', u.path, cause)));
        if (bytesRead !== body.length) throw changed(u.path);
        const part = await this.#client
          .send(
            new this.#sdk.UploadPartCommand({
              Bucket: this.#bucket,
              Key: u.key,
              UploadId: uploadId,
              PartNumber: n,
              Body: body,
              ContentLength: body.length,
            }),
            this.#abort,
          )
          .catch((err: unknown) => Promise.reject(uploadError(err, where, this.#options.signal)));
        parts.push({ ETag: part.ETag!, PartNumber: n });
      }
      await this.#client
        .send(
          new this.#sdk.CompleteMultipartUploadCommand({
            Bucket: this.#bucket,
            Key: u.key,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts },
          }),
          this.#abort,
        )
        .catch((err: unknown) => Promise.reject(uploadError(err, where, this.#options.signal)));
    } catch (err) {
      // Not under the caller's signal: an aborted publish still drops its parts.
      await this.#client
        .send(new this.#sdk.AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: u.key, UploadId: uploadId }))
        .catch(() => {});
      throw err;
    } finally {
      await fh.close();
    }
  }

  destroy(): void {
    this.#client.destroy();
  }
}

function changed(path: string): SyncError {
  return new SyncError(ErrorCodes.SOURCE_CHANGED, `Cannot publish ${path}: it changed while it was read`, { path });
}

/** Checks the numeric options before anything is read or sent. */
function checkOptions(options: PublishS3Options): void {
  const { concurrency, maxAttempts, partSize } = options;
  if (concurrency !== undefined && !(Number.isSafeInteger(concurrency) && concurrency >= 1))
    throw new RangeError(`Cannot publish: concurrency ${concurrency} is not a positive integer`);
  if (maxAttempts !== undefined && !(Number.isSafeInteger(maxAttempts) && maxAttempts >= 1))
    throw new RangeError(`Cannot publish: maxAttempts ${maxAttempts} is not a positive integer`);
  if (partSize !== undefined && !(Number.isSafeInteger(partSize) && partSize >= MIN_PART_SIZE))
    throw new RangeError(`Cannot publish: partSize ${partSize} is under S3's minimum part size of ${MIN_PART_SIZE} bytes`);
}

/**
 * Uploads the publish folder `folder` (a folder publish's manifests and objects, or a
 * single-file publish's indexes and their files) to `url` (`s3://bucket/prefix`): what
 * the bucket lacks, referenced objects first and manifests or indexes last, with
 * Content-Type and Cache-Control set (see the module description).
 *
 * @example
 * ```ts
 * const r = await publishToS3('public/', 's3://releases/app', { endpoint: 'http://127.0.0.1:9000', forcePathStyle: true });
 * console.log(r.uploaded.length, r.uploadedBytes);
 * ```
 */
export async function publishToS3(folder: string, url: string, options: PublishS3Options = {}): Promise<PublishS3Report> {
  const started = performance.now();
  const { bucket, prefix } = parseS3Url(url);
  checkOptions(options);
  const { signal } = options;
  throwIfAborted(signal);
  const plan = await publishPlan(folder, signal ? { signal } : {});
  const sdk = await import('@aws-sdk/client-s3');
  const publisher = new S3Publisher(sdk, bucket, options);
  try {
    const [data, last] = await Promise.all([plan.data, plan.last].map((items) => uploadsOf(items, prefix, options)));
    const immutable = [...data!, ...last!].some((u) => u.immutable);
    // A folder publish's objects are all under objects/: one listing answers for all of them.
    const listed = immutable ? await publisher.list(`${prefix}objects/`) : undefined;
    const progress = { done: 0, total: data!.length + last!.length, bytes: 0, totalBytes: 0 };
    const missing = async (step: Upload[]) => {
      const out: Upload[] = [];
      await forEachLimit(
        step,
        options.concurrency ?? 8,
        async (u) => {
          if (!(await publisher.isPresent(u, listed))) return void out.push(u);
          publisher.present++;
          publisher.presentBytes += u.size;
          progress.done++;
          options.onProgress?.({ ...progress });
        },
        signal,
      );
      progress.totalBytes += out.reduce((a, u) => a + u.size, 0);
      return out;
    };
    const steps = [await missing(data!), await missing(last!)];
    // The manifests or indexes only once every file they name is in place.
    for (const step of steps) {
      await forEachLimit(
        step,
        options.concurrency ?? 8,
        async (u) => {
          publisher.uploaded.push({ key: u.key, bytes: u.size, contentType: u.contentType, cacheControl: u.cacheControl });
          if (!options.dryRun) await publisher.upload(u);
          progress.done++;
          progress.bytes += u.size;
          options.onProgress?.({ ...progress });
        },
        signal,
      );
    }
    return {
      bucket,
      prefix,
      kind: plan.kind,
      uploaded: publisher.uploaded,
      uploadedBytes: publisher.uploaded.reduce((a, u) => a + u.bytes, 0),
      present: publisher.present,
      presentBytes: publisher.presentBytes,
      dryRun: options.dryRun ?? false,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    publisher.destroy();
  }
}

/** The uploads of `items`: keys under `prefix`, their Cache-Control, and the SHA-256 of mutable ones. */
async function uploadsOf(items: readonly PublishItem[], prefix: string, options: PublishS3Options): Promise<Upload[]> {
  const out: Upload[] = [];
  for (const item of items) {
    const cacheControl = item.immutable
      ? (options.immutableCacheControl ?? IMMUTABLE_CACHE_CONTROL)
      : (options.mutableCacheControl ?? MUTABLE_CACHE_CONTROL);
    const u: Upload = { ...item, key: `${prefix}${item.name}`, cacheControl };
    if (!item.immutable) u.sha256 = (await fileSha256(item.path, options.signal ? { signal: options.signal } : {})).toString('hex');
    out.push(u);
  }
  return out;
}
