/**
 * The folder forms of the command line: `gosync build <dir> -o <pub>`,
 * `gosync patch <dir> <manifest>`, `gosync diff <dir> <manifest>`, and a hostile
 * manifest failing with a non-zero exit and its reason.
 */
import assert from 'node:assert/strict';
import { lstat, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { randomBytes } from '../helpers/data.js';
import { T0, assertSameTree, link, put, snapshot, tempDir, writeHandManifest, type HandEntry } from './tree-fixtures.js';

let base: string;
let src: string;
let pub: string;
let manifest: string;
before(async () => {
  base = await tempDir('cli');
  src = join(base, 'site');
  pub = join(base, 'pub');
  await put(src, 'index.html', '<h1>hello</h1>\n');
  await put(src, 'assets/app.js', randomBytes(200_000, 91), 0o644);
  await put(src, 'bin/run', '#!/bin/sh\necho run\n', 0o755);
  await link(src, 'latest', 'assets/app.js');
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

test('build <dir> -o <pub> --json prints the manifest path as "index"', async () => {
  const r = await runCli(['build', src, '-o', pub, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  manifest = join(pub, 'site.tree.json');
  assert.equal(report.index, manifest);
  assert.equal(report.files, 3);
  assert.equal(report.symlinks, 1);
  assert.ok((await lstat(manifest)).isFile());
  // Without --json: one summary line naming the manifest.
  const plain = await runCli(['build', src, '-o', pub]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /site\.tree\.json: 3 files .* 1 links;/);
});

test('patch <dir> <manifest> copies the tree; diff prints the changes and a totals line', async () => {
  const dst = join(base, 'copy');
  const r = await runCli(['patch', dst, manifest]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /3 files, 3 updated, 0 removed; received/);
  assertSameTree(await snapshot(dst), await snapshot(src), { root: false });

  // A local change, and a file the manifest does not list.
  await put(dst, 'index.html', '<h1>HELLO</h1>\n', 0o644, T0 + 1000);
  await put(dst, 'extra.txt', 'not published');
  const before = await snapshot(dst);
  const d = await runCli(['diff', dst, manifest]);
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stdout, /^fetch\s+index\.html: /m);
  assert.match(d.stdout, /^extra\s+extra\.txt \(removed with --delete\)$/m);
  assert.match(d.stdout, /^3 files, 1 to update: reuse .*, fetch .* \+ manifest .* \+ indexes .*$/m);
  assert.deepEqual(await snapshot(dst), before, 'diff writes nothing');

  const j = await runCli(['diff', dst, manifest, '--json']);
  assert.equal(j.code, 0, j.stderr);
  const report = JSON.parse(j.stdout);
  assert.equal(report.totals.changed, 1);
  assert.deepEqual(report.extraneous, ['extra.txt']);

  const p = await runCli(['patch', dst, manifest, '--delete', '--json']);
  assert.equal(p.code, 0, p.stderr);
  const pr = JSON.parse(p.stdout);
  assert.deepEqual(pr.deletedPaths, ['extra.txt']);
  assert.equal(pr.fileList.find((f: { path: string }) => f.path === 'index.html').action, 'whole');
  assertSameTree(await snapshot(dst), await snapshot(src), { root: false });
});

test('a hostile manifest fails with a non-zero exit and the reason, and writes nothing', async () => {
  const outside = join(base, 'outside');
  await put(outside, 'keep', 'outside');
  const dst = join(base, 'victim');
  await put(dst, 'mine.txt', 'mine');
  const cases: [string, HandEntry[], RegExp][] = [
    ['dotdot', [{ type: 'file', path: '../outside/pwned', data: 'evil' }], /"\.\." component.*\[GOSYNC_ERR_UNSAFE_PATH\]/],
    ['absolute', [{ type: 'file', path: join(outside, 'pwned'), data: 'evil' }], /it is absolute.*\[GOSYNC_ERR_UNSAFE_PATH\]/],
    [
      'link',
      [
        { type: 'symlink', path: 'l', target: outside },
        { type: 'file', path: 'l/pwned', data: 'evil' },
      ],
      /symbolic link.*\[GOSYNC_ERR_UNSAFE_PATH\]/,
    ],
    ['orphan', [{ type: 'file', path: 'a/x', data: 'x' }], /not listed.*\[GOSYNC_ERR_MANIFEST_CORRUPT\]/],
  ];
  const outsideBefore = await snapshot(outside);
  const dstBefore = await snapshot(dst);
  for (const [name, entries, why] of cases) {
    const m = await writeHandManifest(join(base, 'evil-pub'), entries, name);
    for (const cmd of ['patch', 'diff']) {
      const r = await runCli([cmd, dst, m, '-q']);
      assert.notEqual(r.code, 0, `${cmd} ${name}: non-zero exit`);
      assert.match(r.stderr, why, `${cmd} ${name}: ${r.stderr}`);
    }
  }
  assert.deepEqual(await snapshot(outside), outsideBefore, 'nothing written outside');
  assert.deepEqual(await snapshot(dst), dstBefore, 'the target is untouched');
  assert.equal(await readFile(join(dst, 'mine.txt'), 'utf8'), 'mine');
});

test('build leaves out a publish folder inside the published one', async () => {
  const inner = join(src, '.pub');
  const r = await runCli(['build', src, '-o', inner, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const text = await readFile(JSON.parse(r.stdout).index, 'utf8');
  assert.ok(!text.includes('.pub'), 'the publish folder is not listed');
  await rm(inner, { recursive: true, force: true });
});
