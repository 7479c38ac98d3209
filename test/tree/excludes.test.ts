/**
 * Excludes and includes of the folder commands, through the command line on real
 * folders: `build <dir>` (--exclude, --include, --exclude-from, .gosyncignore) and
 * `patch <dir> <manifest>` (excluded paths neither fetched nor deleted, unless
 * --delete-excluded; --dry-run writes nothing).
 */
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { put, snapshot, tempDir } from './tree-fixtures.js';

let base: string;
let src: string;
before(async () => {
  base = await tempDir('excl');
  src = join(base, 'site');
  await put(src, 'index.html', '<h1>hi</h1>\n');
  await put(src, 'app.log', 'log\n');
  await put(src, 'important.log', 'keep me\n');
  await put(src, 'cache/blob.bin', 'cached\n');
  await put(src, 'docs/a.md', '# a\n');
  await put(src, 'docs/draft.md', '# draft\n');
  await put(src, 'secret/key.pem', 'KEY\n');
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

async function published(pub: string, name = 'site'): Promise<string[]> {
  const m = JSON.parse(await readFile(join(pub, `${name}.tree.json`), 'utf8')) as { entries: { path: string }[] };
  return m.entries.map((e) => e.path).sort();
}

test('build --exclude / --include / --exclude-from: first match decides; excluded folders are not published', async () => {
  const rules = join(base, 'rules.txt');
  await writeFile(rules, '# drafts stay local\ndocs/draft.md\n');
  const pub = join(base, 'pub1');
  const r = await runCli([
    'build',
    src,
    '-o',
    pub,
    '-q',
    '--include',
    'important.log',
    '--exclude',
    '*.log',
    '--exclude',
    'cache/',
    '--exclude-from',
    rules,
    '--exclude',
    'secret',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await published(pub), ['docs', 'docs/a.md', 'important.log', 'index.html']);

  // The order matters: an include after the exclude does not re-include.
  const pub2 = join(base, 'pub2');
  const late = await runCli(['build', src, '-o', pub2, '-q', '--exclude', '*.log', '--include', 'important.log']);
  assert.equal(late.code, 0, late.stderr);
  assert.ok(!(await published(pub2)).includes('important.log'));
  assert.ok((await published(pub2)).includes('cache/blob.bin'));
});

test("build reads the folder's .gosyncignore (published itself); a rule given first overrides it", async () => {
  const dir = join(base, 'withignore');
  await put(dir, '.gosyncignore', '*.tmp\nprivate/\n');
  await put(dir, 'a.txt', 'a');
  await put(dir, 'b.tmp', 'b');
  await put(dir, 'c.tmp', 'c');
  await put(dir, 'private/p.txt', 'p');
  const pub = join(base, 'pub3');
  const r = await runCli(['build', dir, '-o', pub, '-q']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await published(pub, 'withignore'), ['.gosyncignore', 'a.txt']);
  const again = await runCli(['build', dir, '-o', pub, '-q', '--include', 'c.tmp', '--exclude', '.gosyncignore']);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(await published(pub, 'withignore'), ['a.txt', 'c.tmp']);
});

test('build --exclude-from of a missing file fails before writing (exit 1, IO)', async () => {
  const pub = join(base, 'pub-missing');
  const r = await runCli(['build', src, '-o', pub, '--exclude-from', join(base, 'nope.txt')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Cannot read the exclude file .*nope\.txt/);
  // A file build takes no folder option.
  const f = await runCli(['build', join(src, 'index.html'), '--exclude', 'x']);
  assert.equal(f.code, 2);
});

test('patch --exclude neither fetches nor deletes excluded paths; --delete-excluded removes them; -n writes nothing', async () => {
  const pub = join(base, 'pub-all');
  const b = await runCli(['build', src, '-o', pub, '-q']);
  assert.equal(b.code, 0, b.stderr);
  const manifest = join(pub, 'site.tree.json');
  const dst = join(base, 'dst');
  await put(dst, 'local.log', 'only here\n');
  await put(dst, 'cache/mine.bin', 'local cache\n');
  await put(dst, 'stale.txt', 'stale\n');

  const dry = await runCli(['patch', dst, manifest, '-n', '--delete', '--exclude', '*.log']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^extra\s+stale\.txt/m);
  assert.doesNotMatch(dry.stdout, /local\.log/);
  assert.deepEqual(
    Object.keys(await snapshot(dst))
      .filter((p) => p !== '.')
      .sort(),
    ['cache', 'cache/mine.bin', 'local.log', 'stale.txt'],
    'a dry run changes nothing',
  );

  const r = await runCli(['patch', dst, manifest, '-q', '--json', '--delete', '--exclude', '*.log', '--exclude', 'cache/']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { deletedPaths: string[]; fileList: { path: string }[] };
  assert.deepEqual(report.deletedPaths, ['stale.txt']);
  const files = report.fileList.map((f) => f.path).sort();
  assert.ok(!files.includes('app.log') && !files.includes('cache/blob.bin'), 'excluded paths are not fetched');
  const after1 = await snapshot(dst);
  assert.equal(after1['local.log']?.type, 'file', 'an excluded local file is kept');
  assert.equal(after1['cache/mine.bin']?.type, 'file');
  assert.equal(after1['cache/blob.bin'], undefined);
  assert.equal(after1['app.log'], undefined);
  assert.equal(await readFile(join(dst, 'secret/key.pem'), 'utf8'), 'KEY\n');

  const del = await runCli(['patch', dst, manifest, '-q', '--json', '--delete-excluded', '--exclude', '*.log', '--exclude', 'cache/']);
  assert.equal(del.code, 0, del.stderr);
  assert.deepEqual((JSON.parse(del.stdout) as { deletedPaths: string[] }).deletedPaths.sort(), ['cache', 'local.log']);
  const after2 = await snapshot(dst);
  assert.equal(after2['local.log'], undefined);
  assert.equal(after2.cache, undefined);
});

test("patch keeps what the local folder's .gosyncignore excludes, even with --delete", async () => {
  const pub = join(base, 'pub-all2');
  const b = await runCli(['build', src, '-o', pub, '-q']);
  assert.equal(b.code, 0, b.stderr);
  const dst = join(base, 'dst2');
  await put(dst, '.gosyncignore', '/settings.local\n');
  await put(dst, 'settings.local', 'mine\n');
  await put(dst, 'junk.txt', 'junk\n');
  const r = await runCli(['patch', dst, join(pub, 'site.tree.json'), '-q', '--json', '--delete']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((JSON.parse(r.stdout) as { deletedPaths: string[] }).deletedPaths.sort(), ['.gosyncignore', 'junk.txt']);
  assert.equal(await readFile(join(dst, 'settings.local'), 'utf8'), 'mine\n');
});
