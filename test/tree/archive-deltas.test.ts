/**
 * Deltas between an archive's payloads in a folder (docs/archives.md): a folder build
 * publishes, for a gzip file whose previous version is in the publish folder, the delta
 * between the two payloads, named in the manifest's top-level `payloadBases`; a folder
 * patch whose local file is that version inflates it, applies the delta, rebuilds the
 * archive and keeps it only when it is the published file; anything else falls back to
 * the payload's blocks with nothing written. Publish and prune know those objects.
 */
import assert from 'node:assert/strict';
import { cp, mkdir, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { inflateToScratch } from '../../src/archive/payload.js';
import { ErrorCodes } from '../../src/core/errors.js';
import { writeBaseDelta } from '../../src/forms/base-delta.js';
import { manifestObjects, publishPlan } from '../../src/publish/publish-folder.js';
import { prunePublishFolder } from '../../src/publish/prune.js';
import { buildTree } from '../../src/tree/build-tree.js';
import { decodeManifest, encodeManifest, objectNames, type FileEntry, type Manifest } from '../../src/tree/manifest.js';
import { diffTree, patchTree } from '../../src/tree/patch-tree.js';
import { partPath, planTree } from '../../src/tree/tree-planner.js';
import { TreeStager } from '../../src/tree/tree-stager.js';
import { textPayload } from '../archive/fixtures.js';
import { hasCode, sha256, tempDir } from './tree-fixtures.js';

let base: string;
before(async () => {
  base = await tempDir('archive-deltas');
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

/** The payload of version `v`: text files laid end to end, one edited per version (as a tar of a package would be). */
function payloadOf(v: number): Buffer {
  const parts = Array.from({ length: 6 }, (_, i) => textPayload(100_000, 20 + i));
  for (let k = 2; k <= v; k++) {
    const p = Buffer.from(parts[k % parts.length]!);
    p.write(`// edited in version ${k}\n`, 30_000 + 997 * k);
    parts[k % parts.length] = Buffer.concat([p.subarray(0, 60_000), Buffer.from(`added in ${k}\n`.repeat(40)), p.subarray(60_000)]);
  }
  return Buffer.concat(parts);
}

/** Version `v` of the .tgz: its payload at level 9, as npm deflates (Node's zlib reproduces it). */
function tgzOf(v: number): Buffer {
  return gzipSync(payloadOf(v), { level: 9 });
}

/** Writes version `v` of the folder (the .tgz and a plain file), each version with its own mtime. */
async function writeVersion(src: string, v: number): Promise<Buffer> {
  const tgz = tgzOf(v);
  const t = new Date(Date.UTC(2026, 0, v));
  for (const [name, data] of [
    ['vendor/pkg.tgz', tgz],
    ['notes.txt', Buffer.from(`version ${v}\n`.repeat(100))],
  ] as const) {
    await mkdir(join(src, name, '..'), { recursive: true });
    await writeFile(join(src, name), data);
    await utimes(join(src, name), t, t);
  }
  return tgz;
}

/** A folder published in versions 1..`versions` (compressed, so with deltas), and a copy of version 1. */
async function twoVersions(name: string, versions = 2) {
  const dir = join(base, name);
  const src = join(dir, 'src');
  const pub = join(dir, 'pub');
  const v1Copy = join(dir, 'v1');
  const tgz = [await writeVersion(src, 1)];
  await buildTree(src, pub, { name: 'app', compress: true });
  await cp(src, v1Copy, { recursive: true, preserveTimestamps: true });
  for (let v = 2; v <= versions; v++) {
    tgz.push(await writeVersion(src, v));
    await buildTree(src, pub, { name: 'app', compress: true });
  }
  const manifestPath = join(pub, 'app.tree.json');
  const manifest = decodeManifest(await readFile(manifestPath));
  const entry = manifest.entries.find((e): e is FileEntry => e.path === 'vendor/pkg.tgz')!;
  return { dir, src, pub, v1Copy, tgz, manifestPath, manifest, entry };
}

/** A client folder holding version 1. */
async function clientOf(fixture: { dir: string; v1Copy: string }, name: string): Promise<string> {
  const client = join(fixture.dir, name);
  await cp(fixture.v1Copy, client, { recursive: true, preserveTimestamps: true });
  return client;
}

/** gosync's staging files left under `dir`. */
async function leftovers(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).filter((n) => /\.gosync-(part|tmp)$/.test(n) || n.includes('.tmp'));
}

test('a folder .tgz updated between builds: the delta between payloads moves fewer bytes than the payload blocks, exact', async (t) => {
  const f = await twoVersions('update');
  const [v1, v2] = f.tgz as [Buffer, Buffer];
  // The manifest names the delta at its top level; the entry itself has only the fields every client knows.
  const text = await readFile(f.manifestPath, 'utf8');
  const doc = JSON.parse(text) as { entries: Record<string, unknown>[]; payloadBases: { sha256: string; bases: unknown[] }[] };
  const line = doc.entries.find((e) => e.path === 'vendor/pkg.tgz')!;
  assert.deepEqual(Object.keys(line).sort(), ['index', 'mode', 'mtime', 'path', 'sha256', 'size', 'type']);
  assert.equal(doc.payloadBases.length, 1);
  assert.equal(doc.payloadBases[0]!.sha256, sha256(v2));
  const pb = f.entry.payloadBases!;
  assert.equal(pb.length, 1);
  assert.equal(pb[0]!.sha256, sha256(v1));
  assert.equal(pb[0]!.size, v1.length);
  assert.equal(f.entry.bases, undefined, 'no delta between the compressed bytes');
  const deltaObject = join(f.pub, objectNames.payloadDelta(f.entry.sha256, pb[0]!.sha256));
  assert.equal((await stat(deltaObject)).size, pb[0]!.delta);
  assert.ok(pb[0]!.delta < 8_000, `delta ${pb[0]!.delta} B`);

  // The same publish folder under a manifest without payloadBases: what a client that does not know them does.
  const { payloadBases: _, ...plain } = f.entry;
  const blocksManifest = join(f.pub, 'blocks.tree.json');
  await writeFile(
    blocksManifest,
    encodeManifest({ ...f.manifest, entries: f.manifest.entries.map((e) => (e.path === f.entry.path ? plain : e)) }),
  );

  const diffClient = await clientOf(f, 'diff');
  const diff = await diffTree(diffClient, f.manifestPath);
  const planned = diff.files.find((x) => x.path === 'vendor/pkg.tgz')!;
  assert.equal(planned.action, 'delta');
  assert.equal(planned.fetchBytes, pb[0]!.delta);

  const withDelta = await clientOf(f, 'with-delta');
  const r = await patchTree(withDelta, f.manifestPath);
  assert.deepEqual(await readFile(join(withDelta, 'vendor/pkg.tgz')), v2);
  const tgz = r.files.find((x) => x.path === 'vendor/pkg.tgz')!;
  assert.equal(tgz.action, 'delta');
  assert.equal(tgz.from, join(withDelta, 'vendor/pkg.tgz'));

  const withBlocks = await clientOf(f, 'with-blocks');
  const rb = await patchTree(withBlocks, blocksManifest);
  assert.deepEqual(await readFile(join(withBlocks, 'vendor/pkg.tgz')), v2);
  const tgzBlocks = rb.files.find((x) => x.path === 'vendor/pkg.tgz')!;
  assert.equal(tgzBlocks.action, 'blocks');
  t.diagnostic(
    `tgz ${v2.length} B: delta between payloads ${tgz.fetchBytes} B (received ${r.receivedBytes} B in all, ${r.requests} requests), ` +
      `payload blocks ${tgzBlocks.fetchBytes} B (received ${rb.receivedBytes} B, index ${rb.indexBytes} B)`,
  );
  // The delta, and the index's end (summary and archive summary), nothing else for the archive.
  assert.ok(tgz.fetchBytes >= pb[0]!.delta && tgz.fetchBytes < pb[0]!.delta + 600, `${tgz.fetchBytes}`);
  assert.ok(tgz.fetchBytes * 2 < tgzBlocks.fetchBytes, `delta ${tgz.fetchBytes} B, blocks ${tgzBlocks.fetchBytes} B`);
  assert.ok(r.receivedBytes * 2 < rb.receivedBytes, `received ${r.receivedBytes} B against ${rb.receivedBytes} B`);
  assert.deepEqual(await leftovers(withDelta), []);
});

test('deltas between payloads chain over versions: a client holding either earlier version takes its own', async () => {
  const f = await twoVersions('chain', 3);
  const [v1, v2, v3] = f.tgz as [Buffer, Buffer, Buffer];
  assert.deepEqual(
    f.entry.payloadBases!.map((b) => b.sha256),
    [sha256(v2), sha256(v1)],
  );
  const client = await clientOf(f, 'from-v1');
  const r = await patchTree(client, f.manifestPath);
  assert.deepEqual(await readFile(join(client, 'vendor/pkg.tgz')), v3);
  assert.equal(r.files.find((x) => x.path === 'vendor/pkg.tgz')!.action, 'delta');
  // An unchanged .tgz keeps its list in the next build.
  await writeFile(join(f.src, 'notes.txt'), 'changed\n');
  await buildTree(f.src, f.pub, { name: 'app', compress: true });
  const again = decodeManifest(await readFile(f.manifestPath)).entries.find((e): e is FileEntry => e.path === 'vendor/pkg.tgz')!;
  assert.deepEqual(again.payloadBases, f.entry.payloadBases);
});

test('a hostile or mismatching delta between payloads is refused with nothing written; the payload blocks are used', async () => {
  const f = await twoVersions('hostile');
  const [v1, v2] = f.tgz as [Buffer, Buffer];
  const pb = f.entry.payloadBases![0]!;
  const deltaObject = join(f.pub, objectNames.payloadDelta(f.entry.sha256, pb.sha256));
  const good = await readFile(deltaObject);

  // A valid delta file of the right size that makes another payload: refused by the payload's SHA-256.
  const scratch = join(f.dir, 'scratch');
  await mkdir(scratch);
  await writeFile(join(scratch, 'v1.tgz'), v1);
  const p1 = await inflateToScratch(join(scratch, 'v1.tgz'), join(scratch, 'p1'));
  assert.ok(!('problem' in p1));
  const other = Buffer.from(payloadOf(2));
  other.write('XXXX', 123_456);
  await writeFile(join(scratch, 'other'), other);
  const forged = await writeBaseDelta(p1.path, join(scratch, 'other'), join(scratch, 'd-'), { level: 5 });
  await p1.discard();
  const manifestFor = async (delta: number) => {
    const entries = f.manifest.entries.map((e) => (e.path === f.entry.path ? { ...f.entry, payloadBases: [{ ...pb, delta }] } : e));
    await writeFile(f.manifestPath, encodeManifest({ ...f.manifest, entries }));
  };
  const cases: [string, () => Promise<void>][] = [
    [
      'another payload',
      async () => {
        await writeFile(deltaObject, await readFile(forged.path));
        await manifestFor(forged.size);
      },
    ],
    [
      'damaged bytes',
      async () => {
        const bad = Buffer.from(good);
        for (let i = 8; i < bad.length; i += 97) bad[i]! ^= 0x5a;
        await writeFile(deltaObject, bad);
        await manifestFor(good.length);
      },
    ],
    [
      'cut short',
      async () => {
        await writeFile(deltaObject, good.subarray(0, good.length >> 1));
        await manifestFor(good.length);
      },
    ],
  ];
  for (const [what, make] of cases) {
    await make();
    const client = await clientOf(f, `client-${what.replace(/ /g, '-')}`);
    const r = await patchTree(client, f.manifestPath);
    assert.deepEqual(await readFile(join(client, 'vendor/pkg.tgz')), v2, what);
    const tgz = r.files.find((x) => x.path === 'vendor/pkg.tgz')!;
    assert.equal(tgz.action, 'blocks', what);
    assert.deepEqual(await leftovers(client), [], what);
  }

  // The local file changes after the plan (same size, other bytes): checked before the delta is applied.
  await writeFile(deltaObject, good);
  await manifestFor(good.length);
  const client = await clientOf(f, 'changed-after-plan');
  const plan = await planTree(client, f.manifestPath, {});
  try {
    const n = plan.needed.find((x) => x.entry.path === 'vendor/pkg.tgz')!;
    assert.equal(n.action, 'delta');
    assert.equal(n.payloadDelta, true);
    const local = join(client, 'vendor/pkg.tgz');
    const changed = Buffer.from(v1);
    changed[changed.length >> 1]! ^= 0xff;
    await writeFile(local, changed);
    const stager = new TreeStager(plan.root, plan.store);
    const part = plan.root.local(partPath(n.entry));
    assert.equal(await stager.applyPayloadDelta(n, part), false);
    await assert.rejects(stat(part), /ENOENT/);
    assert.deepEqual(await leftovers(client), []);
    assert.equal(n.action, 'blocks');
    assert.equal(n.report.action, 'blocks');
    assert.ok(n.index?.published?.archive, 'the archive index is fetched for the fallback');
    // The fallback then makes the part from the payload's blocks.
    await stager.stage(n);
    assert.deepEqual(await readFile(part), v2);
  } finally {
    await plan.store.close();
  }
});

test('publish and prune know the deltas between payloads and the earlier archives they are made from', async () => {
  const f = await twoVersions('prune');
  const [v1] = f.tgz as [Buffer, Buffer];
  const deltaName = objectNames.payloadDelta(f.entry.sha256, f.entry.payloadBases![0]!.sha256);
  const refs = manifestObjects(f.manifest, 1);
  assert.deepEqual(
    refs.find((r) => r.name === deltaName),
    { name: deltaName, required: true, served: true },
  );
  assert.deepEqual(
    refs.find((r) => r.name === objectNames.content(sha256(v1))),
    { name: objectNames.content(sha256(v1)), required: false, served: false },
  );
  const plan = await publishPlan(f.pub);
  assert.ok(plan.data.some((i) => i.name === deltaName && i.immutable));
  assert.ok(!plan.data.some((i) => i.name === objectNames.content(sha256(v1))), 'the earlier archive is the publisher’s');

  // keep 2: the earlier archive stays (the next build's base); keep 1: it goes, the delta stays.
  const kept = await prunePublishFolder(f.pub, { keep: 2 });
  assert.ok(!kept.removed.some((r) => r.name === deltaName || r.name === objectNames.content(sha256(v1))));
  const trimmed = await prunePublishFolder(f.pub, { keep: 1 });
  assert.ok(trimmed.removed.some((r) => r.name === objectNames.content(sha256(v1))));
  assert.ok(!trimmed.removed.some((r) => r.name === deltaName));
  await stat(join(f.pub, deltaName));
  const client = await clientOf(f, 'after-prune');
  const r = await patchTree(client, f.manifestPath);
  assert.equal(r.files.find((x) => x.path === 'vendor/pkg.tgz')!.action, 'delta');
  assert.deepEqual(await readFile(join(client, 'vendor/pkg.tgz')), f.tgz[1]);

  // A missing delta is refused by publish before anything is uploaded.
  await rm(join(f.pub, deltaName));
  await assert.rejects(publishPlan(f.pub), /missing/);
});

test('payloadBases: old manifests read as before; a hostile list is refused', () => {
  const sha = (c: string) => c.repeat(64);
  const file = (path: string, s: string, index = true) => ({
    type: 'file',
    path,
    size: 40_000,
    mode: 0o644,
    mtime: 1,
    sha256: sha(s),
    ...(index ? { index: 'compressed' } : {}),
  });
  const doc = (extra: Record<string, unknown>) =>
    new TextEncoder().encode(
      JSON.stringify({ gosync: 'tree', version: 1, entries: [file('a.tgz', 'a'), file('b.bin', 'b', false)], ...extra }),
    );
  // Without the field: the same manifest, encoded byte for byte as before.
  const old = decodeManifest(doc({}));
  assert.equal((old.entries[0] as FileEntry).payloadBases, undefined);
  assert.ok(!new TextDecoder().decode(encodeManifest(old)).includes('payloadBases'));
  // With it: attached to the entries of that content, and written back at the top level.
  const base = { sha256: sha('c'), size: 39_000, delta: 1234 };
  const m: Manifest = decodeManifest(doc({ payloadBases: [{ sha256: sha('a'), bases: [base] }] }));
  assert.deepEqual((m.entries[0] as FileEntry).payloadBases, [base]);
  assert.deepEqual(decodeManifest(encodeManifest(m)), m);
  const bad: [string, unknown][] = [
    ['not a list', { sha256: sha('a') }],
    ['no such content', [{ sha256: sha('d'), bases: [base] }]],
    ['a file without an index', [{ sha256: sha('b'), bases: [base] }]],
    [
      'twice',
      [
        { sha256: sha('a'), bases: [base] },
        { sha256: sha('a'), bases: [] },
      ],
    ],
    ['an unknown field', [{ sha256: sha('a'), bases: [base], extra: 1 }]],
    ['a codec', [{ sha256: sha('a'), bases: [{ ...base, codec: 'gosync' }] }]],
    ['an empty delta', [{ sha256: sha('a'), bases: [{ ...base, delta: 0 }] }]],
    ['a bad digest', [{ sha256: sha('a'), bases: [{ ...base, sha256: 'x' }] }]],
    ['too many', [{ sha256: sha('a'), bases: Array.from({ length: 65 }, () => base) }]],
  ];
  for (const [what, payloadBases] of bad) {
    assert.throws(() => decodeManifest(doc({ payloadBases })), hasCode(ErrorCodes.MANIFEST_CORRUPT), what);
  }
  // Other top-level fields are ignored, as before.
  assert.deepEqual(decodeManifest(doc({ somethingNew: [1, 2] })), old);
});
