/**
 * archive/zip.ts and zip archives end to end: the payload (directory offsets zeroed) and
 * the rebuild byte for byte, hostile archives (a prefix, overlapping entries, entries the
 * directory does not list, a truncated directory, zip64 markers, hostile names, lying
 * sizes and CRCs), and a jar-like update patched from the old version.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ZipArchive } from '../../src/core/index/published.js';
import { writeZip, zipToScratch } from '../../src/archive/zip.js';
import { buildArchiveFile } from '../../src/file/build-archive.js';
import { PUBLISH_DEFAULTS } from '../../src/file/build-file.js';
import { loadIndex } from '../../src/file/load-index.js';
import { patchArchive } from '../../src/file/patch-archive.js';
import { FileSource } from '../../src/sources/file-source.js';
import { randomBytes } from '../helpers/data.js';
import { type ZipEntrySpec, textPayload, zipOf } from './fixtures.js';

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-zip-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Many small deflated classes and a few stored resources, as a jar holds. */
function jarEntries(version: number): ZipEntrySpec[] {
  const out: ZipEntrySpec[] = [];
  for (let i = 0; i < 120; i++) {
    const changed = version > 1 && (i === 7 || i === 80);
    out.push({
      name: `com/example/pkg${i % 7}/Class${i}.class`,
      data: textPayload(3000 + (i % 5) * 500, changed ? 1000 + i : i + 1),
      deflate: true,
      descriptor: true,
    });
  }
  out.push({
    name: 'META-INF/MANIFEST.MF',
    data: Buffer.from(`Manifest-Version: 1.0\nImplementation-Version: ${version}\n`),
    descriptor: true,
    deflate: true,
  });
  out.push({ name: 'res/blob.bin', data: randomBytes(20_000, 9) });
  if (version > 1) out.push({ name: 'com/example/New.class', data: textPayload(4000, 77), deflate: true, descriptor: true });
  return out;
}

async function payloadRoundTrip(zip: Buffer): Promise<{ payload?: Buffer; rebuilt?: Buffer; problem?: string }> {
  const sub = await mkdtemp(join(dir, 'rt-'));
  const path = join(sub, 'a.zip');
  await writeFile(path, zip);
  const scratch = await zipToScratch(path, join(sub, 'payload'));
  if ('problem' in scratch) {
    assert.deepEqual(await readdir(sub), ['a.zip'], 'nothing left behind');
    return { problem: scratch.problem };
  }
  try {
    const payload = await readFile(scratch.path);
    const parts: Uint8Array[] = [];
    const archive: ZipArchive = { kind: 'zip', size: zip.length, sha256: new Uint8Array(32), payload: 'p' };
    const r = await writeZip(scratch.path, archive, async (c) => void parts.push(Buffer.from(c)));
    assert.ok(!('problem' in r));
    return { payload, rebuilt: Buffer.concat(parts) };
  } finally {
    await scratch.discard();
  }
}

test('a zip payload is the archive with its directory offsets zeroed, and rebuilds it byte for byte', async () => {
  const zip = zipOf(jarEntries(1), { comment: 'built by a test' });
  const { payload, rebuilt } = await payloadRoundTrip(zip);
  assert.deepEqual(rebuilt, zip);
  assert.equal(payload!.length, zip.length);
  // Only the offsets differ: 4 bytes per directory record, 4 in the end record.
  let differing = 0;
  for (let i = 0; i < zip.length; i++) if (zip[i] !== payload![i]) differing++;
  assert.ok(differing > 0 && differing <= 4 * (jarEntries(1).length + 1), `${differing} bytes differ`);
  // Entries laid out in another order than the directory lists them, stored entries without descriptors.
  const shuffled = zipOf(
    [
      { name: 'b', data: Buffer.from('second') },
      { name: 'a', data: textPayload(5000), deflate: true },
      { name: 'c', data: Buffer.alloc(0) },
    ],
    { localOrder: [2, 0, 1] },
  );
  assert.deepEqual((await payloadRoundTrip(shuffled)).rebuilt, shuffled);
  const empty = zipOf([]);
  assert.deepEqual((await payloadRoundTrip(empty)).rebuilt, empty);
});

test('hostile names and lying sizes or CRCs do not confuse the rebuild: nothing is inflated, names never become paths', async () => {
  const entries: ZipEntrySpec[] = [
    { name: '../../etc/passwd', data: Buffer.from('root') },
    { name: '/absolute/path', data: Buffer.from('x') },
    { name: 'dup', data: Buffer.from('first') },
    { name: 'dup', data: Buffer.from('second copy') },
  ];
  const zip = zipOf(entries);
  // A bomb's declared uncompressed size, and a wrong CRC, in the directory of the first entry.
  const cdStart = zip.readUInt32LE(zip.length - 22 + 16);
  zip.writeUInt32LE(0xfffffff0, cdStart + 24);
  zip.writeUInt32LE(0x12345678, cdStart + 16);
  const sub = await mkdtemp(join(dir, 'names-'));
  const { rebuilt } = await payloadRoundTrip(zip);
  assert.deepEqual(rebuilt, zip);
  assert.deepEqual(await readdir(sub), []);
});

test('zip archives whose layout the walk does not reproduce are refused with a reason', async () => {
  const good = zipOf(jarEntries(1).slice(0, 5));
  const problem = async (zip: Buffer) => (await payloadRoundTrip(zip)).problem;
  // A self-extractor's stub before the first entry (its offsets are past it).
  assert.match(
    (await problem(zipOf(jarEntries(1).slice(0, 3), { prefix: Buffer.from('#!/bin/sh\nexit 0\n') }))) ?? '',
    /no local header at offset 0/,
  );
  // Overlapping entries: two directory records pointing at the same local header.
  const overlap = zipOf([
    { name: 'same', data: Buffer.from('one') },
    { name: 'same', data: Buffer.from('two') },
  ]);
  const cd = overlap.readUInt32LE(overlap.length - 22 + 16);
  const firstRecord = 46 + 4;
  overlap.writeUInt32LE(0, cd + firstRecord + 42);
  assert.match((await problem(overlap)) ?? '', /offsets are not those of one contiguous run/);
  // A truncated central directory (the end record still claims all of it).
  const cdAt = good.readUInt32LE(good.length - 22 + 16);
  const truncated = Buffer.concat([good.subarray(0, cdAt + 30), good.subarray(good.length - 22)]);
  assert.match((await problem(truncated)) ?? '', /central directory/);
  // Cut off: no end record at all.
  assert.match((await problem(good.subarray(0, good.length - 10))) ?? '', /no zip end record/);
  // A zip64 marker in the end record.
  const z64 = Buffer.from(good);
  z64.writeUInt16LE(0xffff, z64.length - 22 + 8);
  z64.writeUInt16LE(0xffff, z64.length - 22 + 10);
  assert.match((await problem(z64)) ?? '', /zip64/);
  // A local entry the directory does not list: the end record counts one record fewer.
  const hidden = Buffer.from(good);
  const count = hidden.readUInt16LE(hidden.length - 22 + 10);
  const lastRecord = hidden.lastIndexOf(Buffer.from([0x50, 0x4b, 1, 2]));
  const shorter = Buffer.concat([hidden.subarray(0, lastRecord), hidden.subarray(hidden.length - 22)]);
  shorter.writeUInt16LE(count - 1, shorter.length - 22 + 8);
  shorter.writeUInt16LE(count - 1, shorter.length - 22 + 10);
  shorter.writeUInt32LE(lastRecord - cdAt, shorter.length - 22 + 12);
  assert.match((await problem(shorter)) ?? '', /runs into the central directory|not in the central directory/);
  // Several disks.
  const disks = Buffer.from(good);
  disks.writeUInt16LE(1, disks.length - 22 + 4);
  assert.match((await problem(disks)) ?? '', /several disks/);
});

test('a jar-like update: published by its payload, patched from the old version byte for byte, moving little more than the changed entries', async () => {
  const pub = await mkdtemp(join(dir, 'pub-'));
  const input = join(pub, 'app.jar');
  const published = zipOf(jarEntries(2));
  await writeFile(input, published);
  const report = await buildArchiveFile(input, `${input}.gosync`, { compress: { ...PUBLISH_DEFAULTS, frameBytes: 64 * 1024 } });
  assert.equal(report.archive?.kind, 'zip');
  assert.equal(report.archive?.reproduced, true);
  const { index } = await loadIndex(`${input}.gosync`);
  assert.equal(index.published?.archive?.kind, 'zip');
  const client = await mkdtemp(join(dir, 'client-'));
  const local = join(client, 'app.jar');
  await writeFile(local, zipOf(jarEntries(1)));
  const source = new FileSource(input);
  try {
    const r = await patchArchive({ local, index, source, openForm: (name) => new FileSource(join(dirname(input), name)) });
    assert.deepEqual(await readFile(local), published);
    assert.equal(r.archive?.localInflated, true);
    assert.equal(r.archive?.fetchedWhole, false);
    assert.ok(r.receivedBytes < published.length / 4, `moved ${r.receivedBytes} of ${published.length}`);
  } finally {
    await source.close();
  }
  assert.deepEqual(
    (await readdir(client)).filter((n) => n.includes('gosync')),
    [],
  );
  // A zip with overlapping entries is published as opaque bytes, and says why.
  const odd = join(pub, 'overlap.zip');
  const overlap = zipOf([
    { name: 'same', data: Buffer.from('one') },
    { name: 'same', data: Buffer.from('two') },
  ]);
  overlap.writeUInt32LE(0, overlap.readUInt32LE(overlap.length - 22 + 16) + 50 + 42);
  await writeFile(odd, overlap);
  const opaque = await buildArchiveFile(odd, `${odd}.gosync`, { compress: PUBLISH_DEFAULTS });
  assert.equal(opaque.archive?.reproduced, false);
  assert.match(
    opaque.archive?.reproduced === false ? opaque.archive.reason : '',
    /not those of one contiguous run of entries; published as opaque bytes/,
  );
});
