/**
 * Patching a known version of an archive published by its payload (an index of format
 * version 4, docs/archives.md) from the index's tail alone. The summary of such an index
 * describes the payload, and its archive summary entry says how the published archive is
 * rebuilt and names each base by its published archive's SHA-256: a client whose local
 * file is exactly one of those archives fetches the summary, that entry and the delta
 * between payloads, nothing else. It turns its archive into its payload (a gzip file
 * inflated, a zip archive with its directory offsets zeroed), applies the delta as it
 * arrives, checks the new payload against the summary, rebuilds the archive with the
 * recorded parameters and replaces the output only when the result is the published file,
 * byte for byte (its size and SHA-256). Anything else is a miss: the caller reads the whole
 * index and patches as usual, and nothing has been written.
 *
 * @module
 */
import { unlink } from '../util/fs-promises.js';
import { ErrorCodes, SyncError } from '../core/errors.js';
import { BASE_PREFIX_BYTES, baseDeltaName, readArchiveSummary, type ArchiveSummary } from '../core/index/format.js';
import { FileVerifier } from '../core/verify.js';
import { type ScratchPayload, scratchFor } from '../archive/payload.js';
import { applyDeltaChunks, type DeltaKind } from '../forms/delta-file.js';
import { rebuildArchive } from './patch-archive.js';
import { AtomicFile, staleTempFiles } from '../localfs/atomic-file.js';
import type { KnownVersionMiss, KnownVersionOptions, KnownVersionPatch } from './known-version.js';
import { httpGet, type HttpGetOptions } from '../sources/http/http-get.js';
import { httpGetStream } from '../sources/http/http-stream.js';

/** Bytes read beyond the summary's at first: an archive summary entry with a short gzip header and name fits. */
const ENTRY_GUESS = 256;

/** The index's last bytes read so far (shared with the caller, which reads the rest on a miss). */
export interface ArchiveTail {
  bytes: Uint8Array;
  url: string;
  /** The index's size, from Content-Range. */
  total?: number;
  etag?: string;
}

/** What the caller of {@link patchKnownArchive} has done so far. */
export interface KnownArchiveContext {
  options: KnownVersionOptions;
  tail: ArchiveTail;
  /** The options of every request (headers, dispatcher, signal). */
  get: HttpGetOptions;
  /** The local file's SHA-256, computed while the summary was on its way. */
  digest: Promise<Uint8Array>;
  /** `performance.now()` when the patch began. */
  started: number;
  /** Bytes of the index read and requests made so far. */
  indexBytes: number;
  requests: number;
  /** Reads the rest of the index (for the usual patch) and reports why no delta was applied. */
  miss(reason: string): Promise<KnownVersionMiss>;
}

/** A patch made from a delta between payloads found through the archive summary. */
export interface KnownArchivePatch extends KnownVersionPatch {
  archive: {
    kind: 'gzip' | 'zip';
    /** Size of the payload the delta rebuilt. */
    payloadBytes: number;
    /** True when the local file was an archive of the index's kind whose payload was the delta's base. */
    localInflated: boolean;
  };
}

/**
 * Patches the local archive from the delta the archive summary lists for its exact
 * version; resolves with what was done, or with why not (the whole index then, when it
 * could be read). Rejects only when the caller's request fails or is aborted.
 */
export async function patchKnownArchive(ctx: KnownArchiveContext): Promise<KnownArchivePatch | KnownVersionMiss> {
  const { options, tail, get } = ctx;
  let indexBytes = 0;
  let requests = 0;
  const miss = async (reason: string): Promise<KnownVersionMiss> => {
    const r = await ctx.miss(reason);
    return { ...r, indexBytes: r.indexBytes + indexBytes };
  };
  // The summary, then the archive summary entry before it: one more request (a few hundred
  // bytes cover an entry with a plain gzip header), two when the entry is longer.
  let summary = readArchiveSummary(tail.bytes);
  for (let round = 0; round < 2 && summary !== undefined && 'need' in summary; round++) {
    // The whole index is in hand already: it has no archive summary, whatever it claims.
    if (tail.total !== undefined && tail.bytes.length >= tail.total) break;
    const range = rangeBefore(tail, summary.need + (round === 0 ? ENTRY_GUESS : 0));
    const got = await httpGet(tail.url, { ...get, ...range, headers: { ...get.headers, ...range.headers }, maxBytes: 1 << 30 });
    requests++;
    indexBytes += got.body.length;
    if (!got.partial)
      return {
        applied: false,
        reason: 'the index changed meanwhile',
        index: { body: got.body, url: got.url },
        indexBytes: ctx.indexBytes + indexBytes,
      };
    tail.bytes = tail.total === undefined ? got.body : Buffer.concat([got.body, tail.bytes]);
    summary = readArchiveSummary(tail.bytes);
  }
  if (summary === undefined || 'need' in summary) return miss('the archive index has no archive summary (an older version 4 index)');
  const local = Buffer.from(await ctx.digest);
  const at = summary.archiveBases.findIndex((b) => local.subarray(0, BASE_PREFIX_BYTES).equals(b));
  if (at < 0) return miss('the index lists no delta from this local version');
  const applied = await applyArchiveDelta(summary, at, ctx);
  if ('reason' in applied) return miss(applied.reason);
  return {
    applied: true,
    output: options.output ?? options.local,
    fileSize: summary.archive.size,
    sha256: summary.archive.sha256,
    kind: applied.kind,
    deltaBytes: applied.deltaBytes,
    indexBytes: ctx.indexBytes + indexBytes,
    requests: ctx.requests + requests + 1,
    seconds: (performance.now() - ctx.started) / 1000,
    archive: { kind: summary.archive.kind, payloadBytes: summary.fileSize, localInflated: applied.localInflated },
  };
}

/** The Range (and If-Range) of the last `need` bytes of the index, less those in `tail`. */
function rangeBefore(tail: ArchiveTail, need: number): Pick<HttpGetOptions, 'range' | 'headers'> {
  if (tail.total === undefined) return { range: `bytes=-${need}` };
  return {
    range: `bytes=${Math.max(0, tail.total - need)}-${tail.total - tail.bytes.length - 1}`,
    ...(tail.etag ? { headers: { 'if-range': tail.etag } } : {}),
  };
}

/**
 * Turns the local archive into its payload, applies the delta from base `at` as it
 * arrives, and rebuilds the archive into the output. Resolves with why not when the
 * delta's result or the rebuilt archive is not what the index says (nothing written).
 */
async function applyArchiveDelta(
  summary: ArchiveSummary,
  at: number,
  ctx: KnownArchiveContext,
): Promise<{ kind: DeltaKind; deltaBytes: number; localInflated: boolean } | { reason: string }> {
  const { options, tail, get } = ctx;
  const { signal } = options;
  const output = options.output ?? options.local;
  const { archive } = summary;
  // Temporary files stopped runs left beside the output: removed once the result is in place.
  const stale = await staleTempFiles(output, { maxSize: Math.max(4 * Math.max(summary.fileSize, archive.size), 64 << 20) });
  const scratch: ScratchPayload | { problem: string } = await scratchFor(archive.kind, options.local, output, { signal });
  // A base the publisher could not look into was used as it is; so is the local file then.
  const basis = 'problem' in scratch ? options.local : scratch.path;
  let payload: AtomicFile | undefined;
  try {
    const indexName = decodeURIComponent(new URL(tail.url).pathname.split('/').pop() ?? '');
    const deltaUrl = new URL(encodeURIComponent(baseDeltaName(indexName, summary.bases[at]!)), tail.url).href;
    // A delta larger than its result would never be published: that bounds the download.
    const maxDeltaBytes = summary.fileSize + 4096;
    const delta = await httpGetStream(deltaUrl, { ...get, maxBytes: maxDeltaBytes });
    let deltaBytes = 0;
    const counted = (async function* () {
      for await (const chunk of delta.body) {
        deltaBytes += chunk.length;
        yield chunk;
      }
    })();
    // The new payload, in a temporary file that is never committed: the archive is.
    payload = await AtomicFile.create(output);
    const verifier = new FileVerifier({ fileSize: summary.fileSize, fileDigest: { algorithm: 'sha256', digest: summary.sha256 } });
    const target = payload;
    const { kind } = await applyDeltaChunks(
      counted,
      basis,
      {
        async write(chunk) {
          verifier.update(chunk);
          await target.write(chunk);
        },
      },
      { newSize: summary.fileSize, maxDeltaBytes, ...(signal ? { signal } : {}) },
    );
    verifier.finish();
    // The old payload is not needed any more: its disk space is freed before the rebuild.
    if (!('problem' in scratch)) await scratch.discard();
    if (!(await rebuildArchive(payload.tempPath, archive, output, options))) {
      return { reason: 'the archive rebuilt from the payload is not the published file' };
    }
    await Promise.all(stale.map((path) => unlink(path).catch(() => {})));
    return { kind, deltaBytes, localInflated: !('problem' in scratch) };
  } catch (err) {
    if (SyncError.is(err) && err.code === ErrorCodes.ABORTED) throw err;
    return { reason: `the delta did not apply (${(err as Error).message})` };
  } finally {
    await payload?.abort();
    if (!('problem' in scratch)) await scratch.discard();
  }
}
