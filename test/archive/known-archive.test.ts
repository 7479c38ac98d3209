/**
 * file/known-archive.ts through patchKnownVersion over HTTP: a client holding exactly a
 * base archive reads the index's tail (summary and archive summary) and the delta between
 * payloads, for a .tgz and a zip; the misses (another local version, an older version 4
 * index without the archive summary, a delta that does not apply, a rebuild that is not the
 * published file) fall back cleanly with nothing written; a gzip file that does not
 * reproduce keeps the plain known-version path. Also the archive summary's layout.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { crc32 } from 'node:zlib';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import {
  baseDeltaName,
  decodeIndex,
  encodeArchiveIndex,
  encodeIndex,
  readArchiveSummary,
  readIndexSummary,
} from '../../src/core/index/format.js';
import { buildArchiveFile } from '../../src/file/build-archive.js';
import { PUBLISH_DEFAULTS } from '../../src/file/build-file.js';
import type { KnownArchivePatch } from '../../src/file/known-archive.js';
import { patchKnownVersion } from '../../src/file/known-version.js';
import { type StaticServer, startStaticServer } from '../../src/serve/static-server.js';
import { edited, gzipOf, textPayload, unreproducibleGzip, zipOf } from './fixtures.js';

let dir: string;
let server: StaticServer;
const compress = { ...PUBLISH_DEFAULTS, frameBytes: 64 * 1024 };
const oldPayload = textPayload(300_000, 11);
const newPayload = edited(oldPayload, [2_000, 120_000, 280_000], 'one more line\n');

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-known-archive-'));
  server = await startStaticServer({ root: dir });
});
after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();

/** Publishes `published` as `name` in a fresh folder, with a delta from `base`; returns the index URL and path. */
async function publish(name: string, published: Buffer, base: Buffer) {
  const folder = await mkdtemp(join(dir, 'pub-'));
  const input = join(folder, name);
  await writeFile(input, published);
  const basePath = join(folder, `base-of-${name}`);
  await writeFile(basePath, base);
  const report = await buildArchiveFile(input, `${input}.gosync`, { compress: { ...compress, bases: [basePath] } });
  await rm(basePath);
  const rel = folder.slice(dir.length + 1);
  return { folder, index: `${input}.gosync`, url: `${server.url}${rel}/${name}.gosync`, report };
}

/** A client folder holding `content` as `name`. */
async function client(name: string, content: Buffer) {
  const folder = await mkdtemp(join(dir, 'client-'));
  const local = join(folder, name);
  await writeFile(local, content);
  return { folder, local };
}

async function leftovers(folder: string): Promise<string[]> {
  return (await readdir(folder)).filter((n) => n.includes('gosync-tmp') || n.includes('gosync-part'));
}

test('a client holding the base .tgz reads the index tail and the payload delta, and gets the published file', async () => {
  const oldTgz = gzipOf(oldPayload);
  const published = gzipOf(newPayload);
  const pub = await publish('pkg.tgz', published, oldTgz);
  assert.equal(pub.report.archive?.reproduced, true);
  // The summary names the base by its payload (the delta's name); the archive summary by its archive.
  const data = await readFile(pub.index);
  const tail = readArchiveSummary(data);
  assert.ok(tail && !('need' in tail));
  assert.deepEqual(Buffer.from(tail.bases[0]!), sha256(oldPayload).subarray(0, 8));
  assert.deepEqual(Buffer.from(tail.archiveBases[0]!), sha256(oldTgz).subarray(0, 8));
  assert.equal(tail.archive.kind, 'gzip');
  assert.deepEqual(Buffer.from(tail.archive.sha256), sha256(published));
  const c = await client('pkg.tgz', oldTgz);
  const r = await patchKnownVersion({ local: c.local, indexUrl: pub.url });
  assert.equal(r.applied, true, r.applied ? '' : r.reason);
  const got = r as KnownArchivePatch;
  assert.deepEqual(await readFile(c.local), published);
  assert.equal(got.fileSize, published.length);
  assert.deepEqual(Buffer.from(got.sha256), sha256(published));
  assert.equal(got.archive.kind, 'gzip');
  assert.equal(got.archive.localInflated, true);
  assert.equal(got.archive.payloadBytes, newPayload.length);
  assert.equal(got.deltaBytes, pub.report.bases![0]!.bytes);
  assert.ok(got.indexBytes < 1024 && got.indexBytes < data.length, `read ${got.indexBytes} of ${data.length} index bytes`);
  // Summary, archive summary, delta (a file this small asks for no delta early: see
  // EARLY_DELTA_MIN_SIZE; a larger archive's early request would be a 404, archive deltas
  // being named by their payload's digest).
  assert.equal(got.requests, 3, 'summary, archive summary, delta');
  assert.deepEqual(await leftovers(c.folder), []);
});

test('a client holding the base zip gets the published zip the same way, into another output', async () => {
  const files = (p: Buffer) => [
    { name: 'META-INF/MANIFEST.MF', data: Buffer.from('Manifest-Version: 1.0\n') },
    { name: 'a/Big.class', data: p.subarray(0, 150_000), deflate: true },
    { name: 'b/Other.class', data: p.subarray(150_000), deflate: true },
    { name: 'c/Stored.txt', data: p.subarray(100_000, 140_000) },
  ];
  const oldZip = zipOf(files(oldPayload));
  const published = zipOf(files(newPayload));
  const pub = await publish('app.jar', published, oldZip);
  assert.equal(pub.report.archive?.reproduced, true);
  const c = await client('app.jar', oldZip);
  const output = join(c.folder, 'new.jar');
  const r = await patchKnownVersion({ local: c.local, indexUrl: pub.url, output });
  assert.equal(r.applied, true, r.applied ? '' : r.reason);
  assert.equal((r as KnownArchivePatch).archive.kind, 'zip');
  assert.deepEqual(await readFile(output), published);
  assert.deepEqual(await readFile(c.local), oldZip, 'the local file is left as it was');
  assert.deepEqual(await leftovers(c.folder), []);
});

test('another local version misses cleanly: the whole index is handed over, nothing is written', async () => {
  const oldTgz = gzipOf(oldPayload);
  const pub = await publish('pkg.tgz', gzipOf(newPayload), oldTgz);
  // The same payload in another gzip file (another header): not the base archive.
  const other = gzipOf(oldPayload, { header: Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 2, 3]) });
  const c = await client('pkg.tgz', other);
  const r = await patchKnownVersion({ local: c.local, indexUrl: pub.url });
  assert.equal(r.applied, false);
  assert.ok(!r.applied);
  assert.match(r.reason, /no delta from this local version/);
  assert.deepEqual(r.index?.body, await readFile(pub.index), 'the whole index, for the usual patch');
  assert.equal(r.indexBytes, (await stat(pub.index)).size, 'every byte of the index read once');
  assert.deepEqual(await readFile(c.local), other);
  assert.deepEqual(await leftovers(c.folder), []);
});

test('a delta that does not apply, or a rebuild that is not the published file, writes nothing', async () => {
  const oldTgz = gzipOf(oldPayload);
  const published = gzipOf(newPayload);
  const pub = await publish('pkg.tgz', published, oldTgz);
  const deltaName = baseDeltaName('pkg.tgz.gosync', sha256(oldPayload));
  const deltaPath = join(pub.folder, deltaName);
  const delta = await readFile(deltaPath);
  // A damaged delta (hostile server): the payload it makes is refused.
  const damaged = Buffer.from(delta);
  damaged[damaged.length >> 1]! ^= 0x5a;
  await writeFile(deltaPath, damaged);
  let c = await client('pkg.tgz', oldTgz);
  let r = await patchKnownVersion({ local: c.local, indexUrl: pub.url });
  assert.ok(!r.applied);
  assert.match(r.reason, /did not apply/);
  assert.deepEqual(await readFile(c.local), oldTgz);
  assert.deepEqual(await leftovers(c.folder), []);
  // A missing delta: the same.
  await rm(deltaPath);
  r = await patchKnownVersion({ local: c.local, indexUrl: pub.url });
  assert.ok(!r.applied);
  assert.deepEqual(await readFile(c.local), oldTgz);
  // The right payload, but an archive entry that rebuilds something else (another level):
  // checked against the published SHA-256 before anything replaces the output.
  await writeFile(deltaPath, delta);
  const index = decodeIndex(await readFile(pub.index));
  const archive = index.published!.archive!;
  assert.equal(archive.kind, 'gzip');
  const lying = { ...index, published: { ...index.published, archive: { ...archive, level: archive.kind === 'gzip' ? 1 : 0 } } };
  await writeFile(pub.index, encodeArchiveIndex(lying, [sha256(oldTgz)]));
  c = await client('pkg.tgz', oldTgz);
  r = await patchKnownVersion({ local: c.local, indexUrl: pub.url });
  assert.ok(!r.applied);
  assert.match(r.reason, /not the published file/);
  assert.ok(r.index, 'the whole index, for the usual patch');
  assert.deepEqual(await readFile(c.local), oldTgz);
  assert.deepEqual(await leftovers(c.folder), []);
});

test('an older version 4 index (no archive summary) is read whole, as before', async () => {
  const oldTgz = gzipOf(oldPayload);
  const pub = await publish('pkg.tgz', gzipOf(newPayload), oldTgz);
  const index = decodeIndex(await readFile(pub.index));
  const older = encodeIndex(index);
  assert.equal(readArchiveSummary(older), undefined);
  assert.equal(readIndexSummary(older), undefined, 'GSIA is not a plain summary');
  await writeFile(pub.index, older);
  const c = await client('pkg.tgz', oldTgz);
  const r = await patchKnownVersion({ local: c.local, indexUrl: pub.url });
  assert.ok(!r.applied);
  assert.match(r.reason, /no archive summary/);
  assert.deepEqual(r.index?.body, Buffer.from(older));
  assert.deepEqual(await readFile(c.local), oldTgz);
});

test('a gzip file that does not reproduce is published opaque: the plain known-version path applies its delta', async () => {
  const oldGz = unreproducibleGzip(oldPayload);
  const published = unreproducibleGzip(newPayload);
  const pub = await publish('data.gz', published, oldGz);
  assert.equal(pub.report.archive?.reproduced, false);
  assert.ok(readIndexSummary(await readFile(pub.index)), 'a version 3 index');
  const c = await client('data.gz', oldGz);
  const r = await patchKnownVersion({ local: c.local, indexUrl: pub.url });
  assert.equal(r.applied, true, r.applied ? '' : r.reason);
  assert.equal('archive' in r, false);
  assert.deepEqual(await readFile(c.local), published);
});

test('the archive summary is read from the tail alone, asks for what it lacks, and must agree with the index', async () => {
  const oldTgz = gzipOf(oldPayload);
  const pub = await publish('pkg.tgz', gzipOf(newPayload), oldTgz);
  const data = await readFile(pub.index);
  const whole = readArchiveSummary(data);
  assert.ok(whole && !('need' in whole));
  // From 57 bytes: the length field is 8 bytes further; then the entry's own length.
  const first = readArchiveSummary(data.subarray(-57));
  assert.ok(first && 'need' in first);
  assert.equal(first.need, 65);
  const second = readArchiveSummary(data.subarray(-first.need));
  assert.ok(second && 'need' in second);
  const third = readArchiveSummary(data.subarray(-second.need));
  assert.deepEqual(third, whole);
  // Garbage before a GSIA summary is no archive summary.
  const garbage = Buffer.concat([Buffer.alloc(300, 0xee), data.subarray(-57)]);
  assert.equal(readArchiveSummary(garbage), undefined);
  // An archive summary that disagrees with the archive entry makes the index corrupt: the
  // copy's size field changed (the CRC made right again).
  const end = data.length - 57 - 4;
  const length = data.readUInt32LE(end - 4);
  const start = end - length - 5;
  assert.equal(data[start], 6, 'the archive summary entry');
  const changed = Buffer.from(data);
  changed[start + 10]! ^= 1;
  changed.writeUInt32LE(crc32(changed.subarray(0, changed.length - 4)), changed.length - 4);
  const read = readArchiveSummary(changed);
  assert.ok(read && !('need' in read) && read.archive.size !== whole.archive.size);
  assert.throws(
    () => decodeIndex(changed),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.INDEX_CORRUPT,
  );
  const index = decodeIndex(data);
  assert.throws(() => encodeArchiveIndex(index, []), RangeError);
  // Hostile tails (a real one with bytes changed, cut at any length): the reader returns
  // nothing, what it needs, or a summary, or throws INDEX_CORRUPT; never anything else.
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 400 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
      (cut, flips) => {
        const tail = Buffer.from(data.subarray(-Math.min(data.length, cut + 1)));
        for (const [at, x] of flips) tail[at % tail.length]! ^= x;
        try {
          const r = readArchiveSummary(tail);
          if (r !== undefined && 'need' in r) assert.ok(r.need > tail.length && r.need < data.length + (1 << 17));
        } catch (e) {
          assert.ok(SyncError.is(e) && e.code === ErrorCodes.INDEX_CORRUPT, String(e));
        }
      },
    ),
    { numRuns: 2000 },
  );
});
