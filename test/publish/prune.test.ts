/**
 * `prunePublishFolder` and `gosync prune` on publish folders written by `gosync build`:
 * a folder publish after two versions (what only the first version used goes, what the
 * manifest references and the bases of its deltas stay, a client still patches from the
 * pruned folder), `--keep 1`, the dry run, objects newer than the manifest, and a
 * single-file publish with `--history` (deltas no index lists any more, versions beyond
 * `--keep`).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { indexDataNames } from '../../src/publish/publish-folder.js';
import { prunePublishFolder } from '../../src/publish/prune.js';
import { runCli } from '../helpers/cli.js';
import { randomBytes } from '../helpers/data.js';
import { assertSameTree, put, snapshot, T0, tempDir } from '../tree/tree-fixtures.js';

let base: string;

async function filesOf(dir: string): Promise<string[]> {
  const names = await readdir(dir, { recursive: true, withFileTypes: true });
  return names
    .filter((d) => d.isFile())
    .map((d) => relative(dir, join(d.parentPath, d.name)).split(sep).join('/'))
    .sort();
}

async function cli(...args: string[]): Promise<string> {
  const r = await runCli(args, { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

const sha = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');
const object = (hash: string) => `objects/${hash.slice(0, 2)}/${hash}`;
const TEXT = 'a publish folder grows with every version published into it, unless pruned.\n';

before(async () => {
  base = await tempDir('prune');
});
after(async () => {
  if (base) await rm(base, { recursive: true, force: true });
});

/** Publishes two versions of a folder into one publish folder; returns the contents. */
async function twoVersions(name: string) {
  const v1 = join(base, `${name}-v1`);
  const v2 = join(base, `${name}-v2`);
  const pub = join(base, `${name}-pub`);
  const big1 = randomBytes(200_000, 3);
  const big2 = Buffer.from(big1);
  big2.set(randomBytes(100, 4), 90_000);
  const text1 = TEXT.repeat(700);
  const text2 = `${TEXT.repeat(350)}an edit\n${TEXT.repeat(350)}`;
  await put(v1, 'same.txt', 'unchanged\n');
  await put(v1, 'big.bin', big1);
  await put(v1, 'text.txt', text1);
  await put(v1, 'gone.txt', 'only in v1\n');
  await put(v2, 'same.txt', 'unchanged\n');
  await put(v2, 'big.bin', big2, 0o644, T0 + 1000);
  await put(v2, 'text.txt', text2, 0o644, T0 + 1000);
  await cli('build', v1, '-o', pub, '-n', 'app');
  const afterV1 = await filesOf(pub);
  await cli('build', v2, '-o', pub, '-n', 'app');
  return { v1, v2, pub, afterV1, big1: sha(big1), big2: sha(big2), text1: sha(text1), text2: sha(text2), gone: sha('only in v1\n') };
}

test('prune removes what only the replaced version used, keeps what the manifest references and its bases; clients still patch', async () => {
  const f = await twoVersions('tree');
  const before = await filesOf(f.pub);

  const dry = await prunePublishFolder(f.pub, { dryRun: true });
  assert.deepEqual(await filesOf(f.pub), before, 'a dry run removes nothing');
  assert.equal(dry.kind, 'tree');
  assert.deepEqual(dry.kept, ['app.tree.json']);

  const removedNames = dry.removed.map((r) => r.name);
  // The v1 objects no v2 entry uses: the removed file's content, v1's indexes and forms.
  for (const gone of [object(f.gone), `${object(f.big1)}.z.gosync`, `${object(f.text1)}.z.gosync`, `${object(f.text1)}.z.gosyncz`])
    assert.ok(removedNames.includes(gone), `${gone} goes: ${removedNames.join()}`);
  // Kept: v2's objects, and v1's contents of the changed files, the bases of v2's deltas.
  for (const kept of [object(f.big2), object(f.text2), object(f.big1), object(f.text1), object(sha('unchanged\n'))])
    assert.ok(!removedNames.includes(kept) && before.includes(kept), `${kept} stays`);
  assert.ok(
    removedNames.every((n) => f.afterV1.includes(n)),
    'only files of the first version go',
  );
  assert.equal(
    dry.bytes,
    (await Promise.all(removedNames.map(async (n) => (await stat(join(f.pub, n))).size))).reduce((a, b) => a + b, 0),
  );

  const real = await prunePublishFolder(f.pub);
  assert.deepEqual(
    real.removed.map((r) => r.name),
    removedNames,
  );
  assert.equal(real.bytes, dry.bytes);
  assert.deepEqual(
    await filesOf(f.pub),
    before.filter((n) => !removedNames.includes(n)),
  );
  const shards = await readdir(join(f.pub, 'objects'));
  for (const s of shards) assert.ok((await readdir(join(f.pub, 'objects', s))).length > 0, `no empty shard folder: ${s}`);

  // Both an empty folder and a copy of v1 are patched to v2 from the pruned folder.
  const empty = join(base, 'tree-client-empty');
  await cli('patch', empty, join(f.pub, 'app.tree.json'));
  assertSameTree(await snapshot(empty), await snapshot(f.v2), { root: false });
  const old = join(base, 'tree-client-v1');
  await cp(f.v1, old, { recursive: true, preserveTimestamps: true });
  await cli('patch', old, join(f.pub, 'app.tree.json'), '--delete');
  assertSameTree(await snapshot(old), await snapshot(f.v2), { root: false });

  const again = await prunePublishFolder(f.pub);
  assert.deepEqual(again.removed, [], 'a second prune finds nothing');
});

test('--keep 1 also drops the earlier contents kept as bases; the deltas clients read stay', async () => {
  const f = await twoVersions('keep');
  await prunePublishFolder(f.pub);
  const r = await prunePublishFolder(f.pub, { keep: 1 });
  assert.deepEqual(r.removed.map((x) => x.name).sort(), [object(f.big1), object(f.text1)].sort());
  const left = await filesOf(f.pub);
  assert.ok(
    left.some((n) => n.startsWith(`${object(f.big2)}.g-${f.big1.slice(0, 16)}`)),
    'the delta from v1 stays',
  );
  const old = join(base, 'keep-client-v1');
  await cp(f.v1, old, { recursive: true, preserveTimestamps: true });
  await cli('patch', old, join(f.pub, 'app.tree.json'), '--delete');
  assertSameTree(await snapshot(old), await snapshot(f.v2), { root: false });
  await assert.rejects(prunePublishFolder(f.pub, { keep: 0 }), RangeError);
});

test('unreferenced objects newer than the manifest are left (a build may be writing them), older ones go', async () => {
  const f = await twoVersions('recent');
  await prunePublishFolder(f.pub);
  const manifestTime = (await stat(join(f.pub, 'app.tree.json'))).mtimeMs;
  await mkdir(join(f.pub, 'objects', 'ff'), { recursive: true });
  const fresh = join(f.pub, 'objects', 'ff', 'f'.repeat(64));
  const stale = join(f.pub, 'objects', 'ff', `${'e'.repeat(64)}.br`);
  await writeFile(fresh, 'being written');
  await writeFile(stale, 'left by a killed build');
  await utimes(fresh, new Date(manifestTime + 60_000), new Date(manifestTime + 60_000));
  await utimes(stale, new Date(manifestTime - 60_000), new Date(manifestTime - 60_000));
  const r = await prunePublishFolder(f.pub);
  assert.deepEqual(
    r.removed.map((x) => x.name),
    [`objects/ff/${'e'.repeat(64)}.br`],
  );
  assert.deepEqual(
    r.recent.map((x) => x.name),
    [`objects/ff/${'f'.repeat(64)}`],
  );
  assert.equal(await readFile(fresh, 'utf8'), 'being written');
});

test('gosync prune: -n lists, the default removes, --json reports; a folder with nothing published is refused', async () => {
  const f = await twoVersions('cli');
  const before = await filesOf(f.pub);
  const dry = await runCli(['prune', f.pub, '-n'], { timeoutMs: 60_000 });
  assert.equal(dry.code, 0, dry.stderr);
  const lines = dry.stdout.split('\n').filter((l) => l.startsWith('would remove objects/'));
  assert.ok(lines.length > 0);
  assert.match(dry.stdout, /would remove \d+ files, .* to free/);
  assert.deepEqual(await filesOf(f.pub), before);

  const json = await runCli(['prune', f.pub, '--json'], { timeoutMs: 60_000 });
  assert.equal(json.code, 0, json.stderr);
  const report = JSON.parse(json.stdout);
  assert.equal(report.removed.length, lines.length);
  assert.equal(report.dryRun, false);
  assert.equal((await filesOf(f.pub)).length, before.length - lines.length);

  const nothing = join(base, 'empty-folder');
  await mkdir(nothing);
  const refused = await runCli(['prune', nothing], { timeoutMs: 60_000 });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /no manifest.*GOSYNC_ERR_IO/);
  await assert.rejects(prunePublishFolder(nothing), (err: unknown) => SyncError.is(err) && err.code === ErrorCodes.IO);
  const usage = await runCli(['prune', f.pub, '--keep', '0'], { timeoutMs: 60_000 });
  assert.equal(usage.code, 2);
});

test('a single-file publish: deltas the index no longer lists go, and --keep trims the history', async () => {
  const dir = join(base, 'single');
  const file = join(dir, 'notes.txt');
  const versions = [1, 2, 3, 4].map((i) => `${TEXT.repeat(400)}version ${i}\n${TEXT.repeat(400 + i)}`);
  for (const [i, text] of versions.entries()) {
    await put(dir, 'notes.txt', text, 0o644, T0 + i * 1000);
    await cli('build', '--history', '2', file);
  }
  const [h1, h2, h3, h4] = versions.map((v) => sha(v)) as [string, string, string, string];
  const delta = (h: string) => `notes.txt.gosyncd-${h.slice(0, 16)}`;
  const before = await filesOf(dir);
  assert.ok(before.includes(delta(h1)), `the delta from v1 was published at v2 and v3: ${before.join()}`);
  assert.deepEqual(
    before.filter((n) => n.startsWith('notes.txt.gosync-versions/')),
    [`notes.txt.gosync-versions/${h3}`, `notes.txt.gosync-versions/${h4}`].sort(),
  );

  const listed = await indexDataNames(dir, 'notes.txt.gosync');
  const r = await prunePublishFolder(dir);
  assert.equal(r.kind, 'file');
  assert.deepEqual(r.kept, ['notes.txt.gosync']);
  // The delta from v1, and the whole stream the first build (no bases) wrote, which the
  // index no longer lists (a build with bases writes none beside zstd 17 frames up to 16 MiB).
  const removed = r.removed.map((x) => x.name);
  assert.deepEqual([...removed].sort(), [delta(h1), 'notes.txt.gosync.br'].sort());
  for (const n of removed) assert.ok(!listed.includes(n), `${n} is listed`);
  const left = await filesOf(dir);
  for (const kept of ['notes.txt', 'notes.txt.gosync', delta(h2), delta(h3)]) assert.ok(left.includes(kept), kept);

  const keep1 = await prunePublishFolder(dir, { keep: 1 });
  assert.deepEqual(
    keep1.removed.map((x) => x.name),
    [`notes.txt.gosync-versions/${h3}`],
  );
  assert.ok((await filesOf(dir)).includes(`notes.txt.gosync-versions/${h4}`), 'the newest version stays');

  // The pruned folder still patches an old copy (reference given: a local index names it relatively).
  const old = join(base, 'notes-v2.txt');
  await put(base, 'notes-v2.txt', versions[1]!);
  await cli('patch', old, join(dir, 'notes.txt.gosync'), file);
  assert.equal(await readFile(old, 'utf8'), versions[3]);
});
