/**
 * Folders containing archives: a .tgz (Node's zlib at level 9, so it reproduces) and a zip
 * get archive indexes when the folder is built (blocks over their payloads), and a folder
 * patch moves what changed inside them, rebuilding each archive and checking it is the
 * published file. The same patch with `archives: false` (opaque bytes) is the comparison.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { decodeIndex, encodeArchiveIndex } from '../../src/core/index/format.js';
import { buildArchiveFile } from '../../src/file/build-archive.js';
import { diffArchive } from '../../src/file/patch-archive.js';
import { prunePublishFolder } from '../../src/publish/prune.js';
import { buildTree } from '../../src/tree/build-tree.js';
import { diffTree, patchTree } from '../../src/tree/patch-tree.js';
import type { TreePatchReport } from '../../src/tree/patch-types.js';
import { textPayload, zipOf } from '../archive/fixtures.js';
import { runCli } from '../helpers/cli.js';
import { randomBytes } from '../helpers/data.js';
import { requireNginx } from '../helpers/nginx.js';

const run = promisify(execFile);

/** The source files of a package, version `v` (2 edits one of them). */
function packageFiles(v: 1 | 2): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (let i = 0; i < 6; i++) files.set(`package/lib/m${i}.js`, textPayload(120_000, 10 + i));
  if (v === 2) {
    const m3 = Buffer.from(files.get('package/lib/m3.js')!);
    m3.write('// edited in version 2\n', 40_000);
    files.set('package/lib/m3.js', m3);
  }
  return files;
}

/** A .tgz of `files` as npm pack makes one: a ustar archive sorted by name, gzip level 9 (Node's zlib). */
async function tgzOf(files: Map<string, Buffer>, work: string): Promise<Buffer> {
  const root = await mkdtemp(join(work, 'tar-'));
  for (const [name, data] of files) {
    await mkdir(join(root, name, '..'), { recursive: true });
    await writeFile(join(root, name), data);
  }
  const tar = join(work, 'out.tar');
  await run('tar', [
    '--format=ustar',
    '--sort=name',
    '--mtime=1985-10-26 08:15:00 UTC',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '-cf',
    tar,
    '-C',
    root,
    'package',
  ]);
  const out = gzipSync(await readFile(tar), { level: 9 });
  await rm(root, { recursive: true, force: true });
  await rm(tar, { force: true });
  return out;
}

/** A jar-like zip: deflated classes, one of them edited in version 2. */
function jarOf(v: 1 | 2): Buffer {
  return zipOf(
    Array.from({ length: 5 }, (_, i) => {
      let data = textPayload(90_000, 40 + i);
      if (v === 2 && i === 1) data = Buffer.concat([data.subarray(0, 30_000), Buffer.from('edited entry'), data.subarray(30_000)]);
      return { name: `com/example/C${i}.class`, data, deflate: true };
    }),
  );
}

async function writeVersion(src: string, v: 1 | 2, work: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>([
    ['vendor/pkg.tgz', await tgzOf(packageFiles(v), work)],
    ['lib/app.jar', jarOf(v)],
    ['data.bin', Buffer.from(randomBytes(40_000, 90))],
  ]);
  for (const [name, data] of files) {
    await mkdir(join(src, name, '..'), { recursive: true });
    await writeFile(join(src, name), data);
    // Another mtime per version, so the quick check never takes one for the other.
    const t = new Date(v === 1 ? '2026-01-01T00:00:00Z' : '2026-02-01T00:00:00Z');
    await utimes(join(src, name), t, t);
  }
  return files;
}

async function objectNamesUnder(pub: string): Promise<string[]> {
  const names: string[] = [];
  for (const shard of await readdir(join(pub, 'objects'))) {
    for (const f of await readdir(join(pub, 'objects', shard)).catch(() => [])) names.push(f);
  }
  return names;
}

for (const compress of [false, true]) {
  test(`folder with a .tgz and a zip (compress: ${compress}): patched by what changed inside them, exact, fewer bytes than opaque`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'gosync-tree-archives-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const served = join(dir, 'served');
    await mkdir(served);
    const nginx = await requireNginx(t, served);
    if (!nginx) return;
    t.after(() => nginx.close());

    const src = join(dir, 'app');
    const v1Copy = join(dir, 'v1');
    await writeVersion(src, 1, dir);
    await cp(src, v1Copy, { recursive: true, preserveTimestamps: true });
    for (const archives of [true, false]) {
      await buildTree(src, join(served, archives ? 'on' : 'off'), { name: 'app', compress, archives });
    }
    const v2 = await writeVersion(src, 2, dir);
    const builds = new Map<boolean, Awaited<ReturnType<typeof buildTree>>>();
    for (const archives of [true, false]) {
      builds.set(archives, await buildTree(src, join(served, archives ? 'on' : 'off'), { name: 'app', compress, archives }));
    }
    // With archives: each archive's payload is published beside its index (`<index>u`).
    const onNames = await objectNamesUnder(join(served, 'on'));
    assert.equal(onNames.filter((n) => n.endsWith('.gosyncu')).length, 4, onNames.join(' '));
    assert.equal((await objectNamesUnder(join(served, 'off'))).filter((n) => n.endsWith('.gosyncu')).length, 0);

    const reports = new Map<boolean, TreePatchReport>();
    for (const archives of [true, false]) {
      const client = join(dir, `client-${archives}`);
      await cp(v1Copy, client, { recursive: true, preserveTimestamps: true });
      const manifest = `${nginx.url}${archives ? 'on' : 'off'}/app.tree.json`;
      const diff = await diffTree(client, manifest);
      const report = await patchTree(client, manifest);
      reports.set(archives, report);
      for (const [name, data] of v2) assert.deepEqual(await readFile(join(client, name)), data, `${name} (archives: ${archives})`);
      const tgz = report.files.find((f) => f.path === 'vendor/pkg.tgz')!;
      const jar = report.files.find((f) => f.path === 'lib/app.jar')!;
      const diffTgz = diff.files.find((f) => f.path === 'vendor/pkg.tgz')!;
      t.diagnostic(
        `archives ${archives}, compress ${compress}: received ${report.receivedBytes} B in ${report.requests} requests ` +
          `(index ${report.indexBytes} B); tgz ${tgz.action}/${tgz.plan} ${tgz.fetchBytes} B of ${tgz.size} (diff said ${diffTgz.fetchBytes}); ` +
          `jar ${jar.action}/${jar.plan} ${jar.fetchBytes} B of ${jar.size}; objects written ${builds.get(archives)!.objectBytes} B`,
      );
      if (archives) {
        // What changed inside: a small part of each archive moved.
        assert.ok(tgz.fetchBytes < tgz.size / 4, `tgz fetched ${tgz.fetchBytes} of ${tgz.size}`);
        assert.ok(jar.fetchBytes < jar.size / 3, `jar fetched ${jar.fetchBytes} of ${jar.size}`);
        assert.ok(diffTgz.fetchBytes < tgz.size / 4, `diff of the tgz: ${diffTgz.fetchBytes}`);
      }
    }
    const on = reports.get(true)!;
    const off = reports.get(false)!;
    assert.ok(on.receivedBytes < off.receivedBytes, `with archives ${on.receivedBytes} B, without ${off.receivedBytes} B`);

    // Pruning keeps the current payloads (the manifest names the index, the payload is beside it)
    // and drops the previous version's; a patch still works after it.
    await prunePublishFolder(join(served, 'on'), { keep: 1 });
    assert.equal((await objectNamesUnder(join(served, 'on'))).filter((n) => n.endsWith('.gosyncu')).length, 2);
    const again = join(dir, 'client-pruned');
    await cp(v1Copy, again, { recursive: true, preserveTimestamps: true });
    const afterPrune = await patchTree(again, `${nginx.url}on/app.tree.json`);
    for (const [name, data] of v2) assert.deepEqual(await readFile(join(again, name)), data, `${name} (after prune)`);
    assert.equal(afterPrune.receivedBytes, on.receivedBytes);
  });
}

test('a folder patch of an archive whose old file is missing or not an archive: rebuilt from the payload, exact', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gosync-tree-archives-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const src = join(dir, 'app');
  const pub = join(dir, 'pub');
  const v = await writeVersion(src, 2, dir);
  await buildTree(src, pub, { name: 'app' });
  const client = join(dir, 'client');
  await mkdir(join(client, 'lib'), { recursive: true });
  // Garbage where the jar goes; no .tgz at all.
  await writeFile(join(client, 'lib', 'app.jar'), randomBytes(50_000, 3));
  const report = await patchTree(client, join(pub, 'app.tree.json'));
  for (const [name, data] of v) assert.deepEqual(await readFile(join(client, name)), data, name);
  assert.equal(report.files.find((f) => f.path === 'lib/app.jar')?.action, 'blocks');
});

test('diffArchive with entries: which entries of the local .tgz and zip the new version reuses', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gosync-archive-entries-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cases = [
    { name: 'pkg.tgz', v1: await tgzOf(packageFiles(1), dir), v2: await tgzOf(packageFiles(2), dir), changed: 'package/lib/m3.js' },
    { name: 'app.jar', v1: jarOf(1), v2: jarOf(2), changed: 'com/example/C1.class' },
  ];
  for (const c of cases) {
    const published = join(dir, `new-${c.name}`);
    const local = join(dir, c.name);
    await writeFile(published, c.v2);
    await writeFile(local, c.v1);
    const built = await buildArchiveFile(published, `${published}.gosync`);
    assert.equal(built.archive?.reproduced, true, c.name);
    const index = decodeIndex(await readFile(`${published}.gosync`));
    const d = await diffArchive({ local, index, entries: true });
    assert.equal(d.archive?.localInflated, true);
    assert.deepEqual(d.files, [local]);
    const entries = d.archive?.entries ?? [];
    // A path relative to the working folder finds the same.
    const relativeLocal = relative(process.cwd(), local);
    const fromRelative = await diffArchive({ local: relativeLocal, index, entries: true });
    assert.deepEqual(fromRelative.archive?.entries, entries);
    assert.deepEqual(fromRelative.files, [relativeLocal]);
    t.diagnostic(`${c.name}: ${entries.map((e) => `${e.name} ${e.state} ${e.reusedBytes}/${e.size}`).join('; ')}`);
    const members = entries.filter((e) => e.name !== '(central directory)');
    assert.equal(members.length, c.name === 'pkg.tgz' ? 8 : 5, c.name);
    for (const e of members) {
      // A deflated zip entry edited a third of the way in differs from its first deflate block on: nothing of it is left.
      if (e.name === c.changed) assert.equal(e.state, c.name === 'pkg.tgz' ? 'changed' : 'gone', `${c.name} ${e.name}`);
      else if (e.size >= 8 * index.blockSize) assert.equal(e.state, 'reused', `${c.name} ${e.name}`);
    }
    // The same diff of a local file that is not an archive: no entries, and why.
    await writeFile(local, randomBytes(30_000, 5));
    const opaque = await diffArchive({ local, index, entries: true });
    assert.equal(opaque.archive?.localInflated, false);
    assert.match(opaque.archive?.entriesProblem ?? '', /not an archive/);
  }
});

test('a folder patch of an archive whose payload is not served: the published archive is fetched whole, exact', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gosync-tree-archives-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const src = join(dir, 'app');
  const pub = join(dir, 'pub');
  await writeVersion(src, 1, dir);
  const client = join(dir, 'client');
  await cp(src, client, { recursive: true, preserveTimestamps: true });
  const v2 = await writeVersion(src, 2, dir);
  await buildTree(src, pub, { name: 'app' });
  // A host that did not get the payloads (copied by hand, an older uploader).
  for (const shard of await readdir(join(pub, 'objects'))) {
    for (const f of await readdir(join(pub, 'objects', shard))) if (f.endsWith('.gosyncu')) await rm(join(pub, 'objects', shard, f));
  }
  const report = await patchTree(client, join(pub, 'app.tree.json'));
  for (const [name, data] of v2) assert.deepEqual(await readFile(join(client, name)), data, name);
  const tgz = report.files.find((f) => f.path === 'vendor/pkg.tgz')!;
  assert.equal(tgz.action, 'blocks');
  assert.ok(tgz.fetchBytes >= tgz.size, `fetched ${tgz.fetchBytes} of ${tgz.size}`);
});

test('a renamed archive (pkg-1.tgz replaced by pkg-2.tgz) and an archive from a seed are patched from the old payloads', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gosync-tree-archives-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const v1 = await tgzOf(packageFiles(1), dir);
  const v2 = await tgzOf(packageFiles(2), dir);
  const src = join(dir, 'app');
  const pub = join(dir, 'pub');
  await mkdir(join(src, 'vendor'), { recursive: true });
  await writeFile(join(src, 'vendor', 'pkg-2.tgz'), v2);
  await writeFile(join(src, 'vendor', 'other.tgz'), gzipSync(randomBytes(30_000, 8), { level: 9 }));
  await buildTree(src, pub, { name: 'app' });
  const manifest = join(pub, 'app.tree.json');

  const client = join(dir, 'client');
  await mkdir(join(client, 'vendor'), { recursive: true });
  await writeFile(join(client, 'vendor', 'pkg-1.tgz'), v1);
  await writeFile(join(client, 'vendor', 'notes.txt'), 'not an archive\n'.repeat(2000));
  const report = await patchTree(client, manifest, { delete: true });
  assert.deepEqual(await readFile(join(client, 'vendor', 'pkg-2.tgz')), v2);
  const renamed = report.files.find((f) => f.path === 'vendor/pkg-2.tgz')!;
  assert.equal(renamed.action, 'blocks');
  assert.ok(renamed.fetchBytes < v2.length / 4, `renamed: fetched ${renamed.fetchBytes} of ${v2.length}`);
  assert.deepEqual(report.deleted.sort(), ['vendor/notes.txt', 'vendor/pkg-1.tgz']);

  const seeded = join(dir, 'seeded');
  const seed = join(dir, 'old.tgz');
  await writeFile(seed, v1);
  const fromSeed = await patchTree(seeded, manifest, { seeds: [seed] });
  assert.deepEqual(await readFile(join(seeded, 'vendor', 'pkg-2.tgz')), v2);
  const f = fromSeed.files.find((x) => x.path === 'vendor/pkg-2.tgz')!;
  assert.ok(f.fetchBytes < v2.length / 4, `seed: fetched ${f.fetchBytes} of ${v2.length}`);
});

test("a folder's archive index whose payload is larger than its archive allows is refused before anything is written", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gosync-tree-archives-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const src = join(dir, 'app');
  const pub = join(dir, 'pub');
  await mkdir(join(src, 'lib'), { recursive: true });
  await writeFile(join(src, 'lib', 'app.jar'), jarOf(1));
  const built = await buildTree(src, pub, { name: 'app' });
  const entry = JSON.parse(
    (await readFile(built.manifest, 'utf8'))
      .split('\n')
      .find((l) => l.includes('app.jar'))!
      .replace(/,$/, ''),
  );
  const indexPath = join(pub, 'objects', entry.sha256.slice(0, 2), `${entry.sha256}.gosync`);
  // A hostile index: the manifest's archive size and digest, over the payload of a larger zip.
  const bigger = join(dir, 'bigger.jar');
  const other = zipOf([{ name: 'big.bin', data: randomBytes(200_000, 9) }]);
  await writeFile(bigger, other);
  await buildArchiveFile(bigger, `${bigger}.gosync`);
  const index = decodeIndex(await readFile(`${bigger}.gosync`));
  const archive = index.published!.archive!;
  assert.ok(index.fileSize > entry.size);
  const forged = encodeArchiveIndex(
    { ...index, published: { ...index.published, archive: { ...archive, size: entry.size, sha256: Buffer.from(entry.sha256, 'hex') } } },
    [],
  );
  await writeFile(indexPath, forged);
  const client = join(dir, 'client');
  await assert.rejects(patchTree(client, built.manifest), (err: unknown) => {
    assert.equal((err as { code?: string }).code, 'GOSYNC_ERR_INDEX_CORRUPT');
    assert.match(String(err), /payload of \d+ bytes is larger than its archive allows/);
    return true;
  });
  assert.deepEqual(await readdir(client).catch(() => []), []);
});

test('build <folder> --no-archives publishes archives as plain bytes; the default looks inside them', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gosync-tree-noarch-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const src = join(dir, 'app');
  await writeVersion(src, 1, dir);
  const on = await runCli(['build', '-q', src, '-o', join(dir, 'on')]);
  assert.equal(on.code, 0, on.stderr);
  const off = await runCli(['build', '-q', '--no-archives', src, '-o', join(dir, 'off')]);
  assert.equal(off.code, 0, off.stderr);
  assert.ok((await objectNamesUnder(join(dir, 'on'))).some((n) => n.endsWith('.gosyncu')));
  assert.equal((await objectNamesUnder(join(dir, 'off'))).filter((n) => n.endsWith('.gosyncu')).length, 0);
});
