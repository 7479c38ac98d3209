/**
 * The file and folder forms of build, patch and diff are told apart after one parse of
 * the command line: grouped short options such as `-qt 4` do not shift the positionals,
 * and an option only the other form takes is refused. `-q` prints nothing but errors;
 * `patch <folder> -v` prints a line per entry changed.
 */
import assert from 'node:assert/strict';
import { access, mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { randomBytes } from '../helpers/data.js';

let base: string;
let site: string;
let pub: string;
let manifest: string;
/** A working folder holding a subfolder named "4", which a mis-parsed `-t 4` would take for the local folder. */
let cwd: string;
const app = randomBytes(200_000, 7);
const OLD = new Date('2020-01-01T00:00:00Z');

/** Writes the old version of the site: index.html and app.js differ from the published ones. */
async function oldSite(dir: string): Promise<void> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  await writeFile(join(dir, 'index.html'), '<h1>old</h1>\n');
  await writeFile(join(dir, 'app.js'), Buffer.concat([app.subarray(0, 120_000), Buffer.from('old edit'), app.subarray(120_000)]));
  await writeFile(join(dir, 'bin/run'), '#!/bin/sh\necho run\n');
  for (const p of ['index.html', 'app.js', 'bin/run']) await utimes(join(dir, p), OLD, OLD);
}

async function sameAsSite(dir: string): Promise<void> {
  for (const p of ['index.html', 'app.js', 'bin/run']) {
    assert.deepEqual(await readFile(join(dir, p)), await readFile(join(site, p)), p);
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

before(async () => {
  base = await mkdtemp(join(tmpdir(), 'gosync-cli-forms-'));
  site = join(base, 'site');
  pub = join(base, 'pub');
  manifest = join(pub, 'site.tree.json');
  cwd = join(base, 'cwd');
  await mkdir(join(cwd, '4'), { recursive: true });
  await mkdir(join(site, 'bin'), { recursive: true });
  await writeFile(join(site, 'index.html'), '<h1>hello</h1>\n');
  await writeFile(join(site, 'app.js'), app);
  await writeFile(join(site, 'bin/run'), '#!/bin/sh\necho run\n');
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

test('build, patch and diff of a folder with grouped short options (-qt 4)', async () => {
  // No folder named "4" in the working folder: a mis-parsed "4" is taken for a missing local file.
  const b = await runCli(['build', '-qt', '2', site, '-o', pub], { cwd: base });
  assert.equal(b.code, 0, b.stderr);
  assert.equal(b.stdout, '', '-q: nothing but errors');
  assert.ok(await exists(manifest));

  const dst = join(base, 'copy');
  await oldSite(dst);
  const d = await runCli(['diff', '-qt', '4', '--json', dst, manifest], { cwd: base });
  assert.equal(d.code, 0, d.stderr);
  assert.equal(JSON.parse(d.stdout).totals.changed, 2);

  const p = await runCli(['patch', '-vt', '4', dst, manifest], { cwd: base });
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, /: 3 files, 2 updated, 0 removed; received/);
  await sameAsSite(dst);
});

test('build, patch and diff of a file with grouped short options (-qt 4)', async () => {
  const ref = join(base, 'ref.bin');
  const local = join(base, 'local.bin');
  const newData = Buffer.concat([app.subarray(0, 100_000), Buffer.from('inserted'), app.subarray(100_000)]);
  await writeFile(ref, newData);
  await writeFile(local, app);
  const b = await runCli(['build', '-zt', '4', ref], { cwd });
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stdout, /ref\.bin\.gosync: \d+ blocks/);

  const d = await runCli(['diff', '-qt', '4', '--json', local, `${ref}.gosync`], { cwd });
  assert.equal(d.code, 0, d.stderr);
  const report = JSON.parse(d.stdout);
  assert.equal(report.fileSize, newData.length);
  assert.ok(report.fetchedBytes > 0 && report.fetchedBytes < 10_000, `would fetch ${report.fetchedBytes}`);

  const p = await runCli(['patch', '-qt4', local, `${ref}.gosync`, ref], { cwd });
  assert.equal(p.code, 0, p.stderr);
  assert.deepEqual(await readFile(local), newData);
});

test('each form refuses the options of the other form, before doing anything', async () => {
  const ref = join(base, 'other.bin');
  await writeFile(ref, app.subarray(0, 50_000));
  assert.equal((await runCli(['build', '-q', ref])).code, 0);
  const index = `${ref}.gosync`;
  const local = join(base, 'other-local.bin');
  await writeFile(local, 'local');
  const dst = join(base, 'refused');
  await oldSite(dst);
  const out = join(base, 'refused-pub');
  const cases: [string[], string][] = [
    [['build', site, '-o', out, '--block-size', '4K'], '--block-size'],
    [['build', site, '-o', out, '-qz', '--base', ref], '--base'],
    [['build', ref, '--checksum'], '--checksum'],
    [['build', ref, '-qc'], '-c'],
    [['build', ref, '-n', 'x'], '-n'],
    // The folder form takes -i/--seed, --bwlimit, -H and --cacert too, as the file form does.
    [['patch', dst, manifest, '-qo', out], '-o'],
    [['patch', join(base, 'new-folder'), manifest, '--raw'], '--raw'],
    [['patch', dst, manifest, '-o', out], '-o'],
    [['patch', local, index, ref, '--delete'], '--delete'],
    [['patch', local, index, ref, '-j', '2'], '-j'],
    [['patch', local, index, ref, '--content-base', 'http://example.com/'], '--content-base'],
    [['diff', local, index, '--delete'], '--delete'],
    [['diff', local, index, '-c', '2'], '-c'],
  ];
  for (const [args, option] of cases) {
    const r = await runCli(args, { cwd });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^gosync ${args[0]}: Unknown option '${option}'\\n`), args.join(' '));
    assert.match(r.stderr, /Run "gosync \w+ --help" for usage/);
  }
  assert.equal(await exists(out), false, 'nothing published');
  assert.equal(await exists(join(base, 'new-folder')), false, 'no folder created');
  assert.equal(await readFile(local, 'utf8'), 'local', 'the local file is untouched');
  assert.equal(await readFile(join(dst, 'index.html'), 'utf8'), '<h1>old</h1>\n', 'the folder is untouched');
  // An option neither form takes is refused as before.
  const r = await runCli(['patch', dst, manifest, '--nope'], { cwd });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Unknown option '--nope'/);
});

test('patch <folder> -q prints nothing; -v prints a line per entry changed (new, changed, metadata, deleted)', async () => {
  const quiet = join(base, 'quiet');
  const loud = join(base, 'loud');
  await oldSite(quiet);
  await oldSite(loud);
  // On the loud side: a file the manifest lacks (deleted with --delete), a missing one (new),
  // and one whose content is right but whose time is not (metadata).
  await writeFile(join(loud, 'extra.txt'), 'extra');
  await rm(join(loud, 'index.html'));
  const q = await runCli(['patch', '-q', quiet, manifest]);
  const l = await runCli(['patch', '-v', '--delete', loud, manifest]);
  assert.equal(q.code, 0, q.stderr);
  assert.equal(l.code, 0, l.stderr);
  await sameAsSite(quiet);
  await sameAsSite(loud);
  assert.equal(q.stdout, '', '-q: nothing but errors');
  assert.equal(q.stderr, '');
  const lines = l.stdout.split('\n').slice(0, -2);
  assert.deepEqual(lines.map((x) => x.split(/\s+/).slice(0, 2).join(' ')).sort(), [
    'changed app.js',
    'deleted extra.txt',
    'metadata bin/run',
    'new index.html',
  ]);
  assert.match(l.stdout, /^changed\s+app\.js {2}\(blocks: 200 kB, reuse /m);
  assert.match(l.stdout, /loud: 3 files, 2 updated, 1 removed/);
});
