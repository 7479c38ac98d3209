/**
 * file/build-archive.ts and file/patch-archive.ts end to end on local files: a gzip file
 * published by its payload and patched from an older one (by blocks, with a delta from a
 * gzip base, from a seed), the fallbacks (a stream zlib does not reproduce, a client whose
 * rebuild differs, a damaged published file), and hostile local files.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import type { BlockIndex } from '../../src/core/index/block-index.js';
import { buildArchiveFile } from '../../src/file/build-archive.js';
import { PUBLISH_DEFAULTS, buildIndexFile } from '../../src/file/build-file.js';
import { loadIndex } from '../../src/file/load-index.js';
import { patchArchive } from '../../src/file/patch-archive.js';
import { FileSource } from '../../src/sources/file-source.js';
import { edited, gzipOf, textPayload, unreproducibleGzip } from './fixtures.js';

let dir: string;
const oldPayload = textPayload(400_000, 3);
const newPayload = edited(oldPayload, [1000, 150_000, 390_000], 'a new file at the end\n');
const compress = { ...PUBLISH_DEFAULTS, frameBytes: 64 * 1024 };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-archive-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A fresh folder with the published `pkg.tgz` (from `published`) and its index, built with `options`. */
async function publish(published: Buffer, options: Parameters<typeof buildArchiveFile>[2] = { compress }) {
  const pub = await mkdtemp(join(dir, 'pub-'));
  const input = join(pub, 'pkg.tgz');
  await writeFile(input, published);
  const report = await buildArchiveFile(input, `${input}.gosync`, options);
  const loaded = await loadIndex(`${input}.gosync`);
  return { pub, input, report, index: loaded.index };
}

/** Patches `local` to the published file, opening forms beside the index. */
async function patch(index: BlockIndex, input: string, local: string, extra: { seeds?: string[]; output?: string } = {}) {
  const source = new FileSource(input);
  try {
    return await patchArchive({ local, index, source, openForm: (name) => new FileSource(join(dirname(input), name)), ...extra });
  } finally {
    await source.close();
  }
}

async function leftovers(folder: string): Promise<string[]> {
  return (await readdir(folder)).filter((n) => n.includes('gosync-tmp') || n.includes('gosync-part'));
}

test('a reproducible gzip file is published by its payload and patched from an older one, byte for byte', async () => {
  const published = gzipOf(newPayload);
  const { pub, input, report, index } = await publish(published);
  assert.equal(report.archive?.reproduced, true);
  assert.ok(report.archive?.reproduced && report.archive.level === 9 && report.archive.payloadBytes === newPayload.length);
  assert.equal(report.fileSize, newPayload.length, 'the index describes the payload');
  assert.deepEqual(await readFile(`${input}.gosyncu`), newPayload, 'the payload is published beside the index');
  assert.equal(index.published?.archive?.size, published.length);
  assert.equal(index.published?.archive?.payload, 'pkg.tgz.gosyncu');
  const client = await mkdtemp(join(dir, 'client-'));
  const local = join(client, 'pkg.tgz');
  await writeFile(local, gzipOf(oldPayload));
  const r = await patch(index, input, local);
  assert.deepEqual(await readFile(local), published);
  assert.equal(r.archive?.localInflated, true);
  assert.equal(r.archive?.fetchedWhole, false);
  assert.equal(r.fileSize, published.length);
  assert.ok(r.reusedBytes > 300_000, `most of the payload reused (${r.reusedBytes})`);
  assert.ok(r.receivedBytes < published.length / 2, `moved ${r.receivedBytes} of a ${published.length}-byte file`);
  assert.deepEqual(await leftovers(client), []);
  assert.deepEqual(await leftovers(pub), []);
  // Patching again: already the published file, left as it is.
  const again = await patch(index, input, local);
  assert.equal(again.upToDate, true);
});

test('a gzip file zlib does not reproduce is published as opaque bytes, as before, and says why', async () => {
  const published = unreproducibleGzip(newPayload);
  const { input, report, index } = await publish(published);
  assert.equal(report.archive?.reproduced, false);
  assert.match(report.archive?.reproduced === false ? report.archive.reason : '', /does not reproduce/);
  assert.equal(index.published?.archive, undefined);
  assert.equal(index.fileSize, published.length);
  // The same index bytes as a build that never looked inside.
  const plain = join(dirname(input), 'plain.gosync');
  await buildIndexFile(input, plain, { compress });
  const [a, b] = await Promise.all([readFile(`${input}.gosync`), readFile(plain)]);
  assert.equal(a.length, b.length);
  const local = join(await mkdtemp(join(dir, 'client-')), 'pkg.tgz');
  await writeFile(local, unreproducibleGzip(oldPayload));
  const r = await patch(index, input, local);
  assert.equal(r.archive, undefined, 'an ordinary patch');
  assert.deepEqual(await readFile(local), published);
});

test('a non-gzip input builds exactly the index it built before', async () => {
  const pub = await mkdtemp(join(dir, 'pub-'));
  const input = join(pub, 'app.js');
  await writeFile(input, newPayload);
  const r = await buildArchiveFile(input, join(pub, 'a.gosync'), { compress: { ...compress, whole: false } });
  await buildIndexFile(input, join(pub, 'b.gosync'), { compress: { ...compress, whole: false } });
  assert.equal(r.archive, undefined);
  const [a, b] = await Promise.all([readFile(join(pub, 'a.gosync')), readFile(join(pub, 'b.gosync'))]);
  // Only the frames' file name differs (a.gosyncz / b.gosyncz).
  assert.equal(a.length, b.length);
  // Version 3: forms with a summary; no block digest below BLOCK_DIGEST_MIN_SIZE (1 MiB).
  assert.equal(a.readUInt16LE(8), 3);
});

test('with a gzip base the delta is made between payloads, and a client holding that base fetches only it', async () => {
  const pub = await mkdtemp(join(dir, 'pub-'));
  const base = join(pub, 'old.tgz');
  await writeFile(base, gzipOf(oldPayload));
  const published = gzipOf(newPayload);
  const { input, report, index } = await publish(published, { compress: { ...compress, bases: [base] } });
  assert.equal(report.bases?.length, 1);
  assert.equal(report.bases?.[0]?.baseSize, oldPayload.length, 'the base is the old payload');
  const local = join(await mkdtemp(join(dir, 'client-')), 'pkg.tgz');
  await writeFile(local, gzipOf(oldPayload));
  const r = await patch(index, input, local);
  assert.equal(r.plan, 'base');
  assert.deepEqual(await readFile(local), published);
  assert.ok(r.receivedBytes < 2000, `a small delta (${r.receivedBytes} B)`);
  assert.deepEqual(await leftovers(pub), []);
});

test('a gzip seed is looked into too; a missing local file is no obstacle', async () => {
  const published = gzipOf(newPayload);
  const { input, index } = await publish(published);
  const client = await mkdtemp(join(dir, 'client-'));
  const seed = join(client, 'other-name.tgz');
  await writeFile(seed, gzipOf(oldPayload, { level: 6 }));
  const local = join(client, 'pkg.tgz');
  const r = await patch(index, input, local, { seeds: [seed] });
  assert.deepEqual(await readFile(local), published);
  assert.ok(r.reusedBytes > 300_000, `the seed's payload reused (${r.reusedBytes})`);
  assert.equal(r.archive?.localInflated, false);
  assert.deepEqual(await leftovers(client), []);
});

test('a client whose rebuild differs fetches the published file whole, checked; a damaged one fails and replaces nothing', async () => {
  const published = gzipOf(newPayload);
  const { pub, input, index } = await publish(published);
  // As a client whose zlib deflates differently at these settings would.
  const archive = index.published!.archive!;
  assert.equal(archive.kind, 'gzip');
  const other: BlockIndex = { ...index, published: { ...index.published, archive: { ...archive, level: 1 } as typeof archive } };
  const client = await mkdtemp(join(dir, 'client-'));
  const local = join(client, 'pkg.tgz');
  await writeFile(local, gzipOf(oldPayload));
  const r = await patch(other, input, local);
  assert.equal(r.archive?.fetchedWhole, true);
  assert.equal(r.receivedBytes, published.length);
  assert.deepEqual(await readFile(local), published);
  // The same with a damaged published file: nothing is replaced.
  const oldBytes = gzipOf(oldPayload);
  await writeFile(local, oldBytes);
  const damaged = join(pub, 'damaged.tgz');
  const bad = Buffer.from(published);
  bad[500]! ^= 0xff;
  await writeFile(damaged, bad);
  await assert.rejects(patch(other, damaged, local), (err: unknown) => SyncError.is(err) && err.code === ErrorCodes.FILE_MISMATCH);
  assert.deepEqual(await readFile(local), oldBytes);
  assert.deepEqual(await leftovers(client), []);
});

test('hostile local files: a gzip bomb and a gzip with a wrong CRC are not looked into, and the result is still right', async () => {
  const published = gzipOf(newPayload);
  const { input, index } = await publish(published);
  const client = await mkdtemp(join(dir, 'client-'));
  const local = join(client, 'pkg.tgz');
  await writeFile(local, gzipSync(Buffer.alloc(70 * 1024 * 1024)));
  const bombed = await patch(index, input, local);
  assert.equal(bombed.archive?.localInflated, false);
  assert.deepEqual(await readFile(local), published);
  const badCrc = gzipOf(oldPayload);
  badCrc[badCrc.length - 8]! ^= 1;
  await writeFile(local, badCrc);
  const r = await patch(index, input, local);
  assert.equal(r.archive?.localInflated, false);
  assert.deepEqual(await readFile(local), published);
  assert.deepEqual(await leftovers(client), []);
});

test('a bomb published is not looked into: it is published as opaque bytes', async () => {
  const bomb = gzipSync(Buffer.alloc(70 * 1024 * 1024));
  const { report } = await publish(bomb, { compress: { ...compress, whole: false } });
  assert.equal(report.archive?.reproduced, false);
  assert.match(report.archive?.reproduced === false ? report.archive.reason : '', /payload is over/);
  assert.equal(report.fileSize, bomb.length);
});
