/**
 * `gosync build` publishes compressed forms by default (file and folder); `--no-compress`
 * writes the index alone; `--level` is a zstd level, for folders too.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadIndex } from '../../src/file/load-index.js';
import { runCli } from '../helpers/cli.js';
import { randomBytes } from '../helpers/data.js';

let dir: string;
let text: Buffer;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-cli-compress-'));
  const words = ['let ', 'x', 'y', ' = ', '1', ';\n', 'if (', ') ', '{ ', '} ', 'return ', 'null'];
  text = Buffer.from(Array.from(randomBytes(80_000, 21), (b) => words[b % words.length]).join('')).subarray(0, 200_000);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Every file under `root`, as paths relative to it. */
async function listAll(root: string): Promise<string[]> {
  return ((await readdir(root, { recursive: true, withFileTypes: true })) as { isFile(): boolean; parentPath: string; name: string }[])
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
    .sort();
}

test('build <file> at defaults writes zstd frames and a brotli whole stream; patch uses them', async () => {
  const work = join(dir, 'default');
  await mkdir(work);
  const ref = join(work, 'app.js');
  await writeFile(ref, text);
  const b = await runCli(['build', '--json', ref]);
  assert.equal(b.code, 0, b.stderr);
  const report = JSON.parse(b.stdout);
  assert.equal(report.frames.codec, 'zstd');
  assert.equal(report.whole.codec, 'brotli');
  assert.deepEqual(await readdir(work).then((n) => n.sort()), ['app.js', 'app.js.gosync', 'app.js.gosync.br', 'app.js.gosyncz']);
  const index = (await loadIndex(`${ref}.gosync`)).index;
  assert.equal(index.published?.frames?.codec, 'zstd');
  // A local file with nothing of the reference: the whole stream is fetched, not the plain file.
  const local = join(work, 'local.js');
  await writeFile(local, 'nothing in common\n');
  const p = await runCli(['patch', '--json', local, `${ref}.gosync`, ref]);
  assert.equal(p.code, 0, p.stderr);
  assert.equal(JSON.parse(p.stdout).plan, 'whole');
  assert.deepEqual(await readFile(local), text);
  // The human summary names the codecs.
  const s = await runCli(['build', ref]);
  assert.match(s.stdout, /frames .* zstd 19\), whole .* \(brotli 11\)/);
});

test('--no-compress writes only the index; -z/--compress is still accepted', async () => {
  const work = join(dir, 'plain');
  await mkdir(work);
  const ref = join(work, 'app.js');
  await writeFile(ref, text);
  const b = await runCli(['build', '-q', '--no-compress', ref]);
  assert.equal(b.code, 0, b.stderr);
  assert.deepEqual(await readdir(work).then((n) => n.sort()), ['app.js', 'app.js.gosync']);
  assert.equal((await loadIndex(`${ref}.gosync`)).index.published, undefined);
  const z = await runCli(['build', '-q', '-z', '--level', '3', '--no-whole', ref]);
  assert.equal(z.code, 0, z.stderr);
  assert.deepEqual(await readdir(work).then((n) => n.sort()), ['app.js', 'app.js.gosync', 'app.js.gosyncz']);
});

test('random input at defaults gets no compressed forms', async () => {
  const work = join(dir, 'random');
  await mkdir(work);
  const ref = join(work, 'blob.bin');
  await writeFile(ref, randomBytes(600_000, 22));
  const b = await runCli(['build', '--json', ref]);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(JSON.parse(b.stdout).incompressible, true);
  assert.deepEqual(await readdir(work).then((n) => n.sort()), ['blob.bin', 'blob.bin.gosync']);
});

test('--level is a zstd level 1..22; --no-compress refuses the compression options', async () => {
  const ref = join(dir, 'x.js');
  await writeFile(ref, text.subarray(0, 5000));
  for (const [args, message] of [
    [['--level', '23'], /--level must be a zstd level from 1 to 22/],
    [['--level', '0'], /--level must be an integer of at least 1/],
    [['--no-compress', '--level', '5'], /--no-compress cannot go with/],
    [['--no-compress', '-z'], /--no-compress cannot go with/],
    [['--no-compress', '--base', ref], /--no-compress cannot go with/],
  ] as const) {
    const r = await runCli(['build', ...args, ref]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  // A .zsync has no compressed forms, and needs no --no-compress.
  const zs = await runCli(['build', '-q', '--format', 'zsync', ref]);
  assert.equal(zs.code, 0, zs.stderr);
});

test('build <folder>: compressed forms by default, none with --no-compress; --level reaches the files', async () => {
  const site = join(dir, 'site');
  await mkdir(site);
  await writeFile(join(site, 'big.js'), text);
  await writeFile(join(site, 'small.txt'), 'hello hello hello hello hello hello\n');
  const pub = join(dir, 'pub');
  const b = await runCli(['build', '-q', site, '-o', pub, '--level', '4']);
  assert.equal(b.code, 0, b.stderr);
  const objects = await listAll(join(pub, 'objects'));
  assert.ok(
    objects.some((n) => n.endsWith('.z.gosync')),
    objects.join(', '),
  );
  assert.ok(
    objects.some((n) => n.endsWith('.z.gosyncz')),
    objects.join(', '),
  );
  assert.ok(
    objects.some((n) => n.endsWith('.br')),
    objects.join(', '),
  );
  const compressedIndex = objects.find((n) => n.endsWith('.z.gosync'))!;
  const index = (await loadIndex(join(pub, 'objects', compressedIndex))).index;
  assert.equal(index.published?.frames?.codec, 'zstd');
  assert.ok(!objects.some((n) => n.endsWith('.zst')));
  // The frames are those of `build --level 4` of the file (zstd is deterministic), not of the default level.
  const framesName = objects.find((n) => n.endsWith('.z.gosyncz'))!;
  const published = await readFile(join(pub, 'objects', framesName));
  const one = join(dir, 'one.js');
  await writeFile(one, text);
  assert.equal((await runCli(['build', '-q', '--level', '4', one])).code, 0);
  assert.deepEqual(published, await readFile(`${one}.gosyncz`));
  assert.equal((await runCli(['build', '-q', one])).code, 0);
  assert.notDeepEqual(published, await readFile(`${one}.gosyncz`));

  const plainPub = join(dir, 'pub-plain');
  const p = await runCli(['build', '-q', '--no-compress', site, '-o', plainPub]);
  assert.equal(p.code, 0, p.stderr);
  const plain = await listAll(join(plainPub, 'objects'));
  assert.ok(!plain.some((n) => n.endsWith('.z.gosync') || n.endsWith('z') || n.endsWith('.br')), plain.join(', '));
  assert.ok(plain.some((n) => n.endsWith('.gosync')));

  const bad = await runCli(['build', '-q', '--no-compress', '--bases', '1', site, '-o', join(dir, 'pub-bad')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--no-compress cannot go with/);
});

test('--history <n> publishes a delta from each of the last n versions and keeps only those', async () => {
  const work = join(dir, 'history');
  await mkdir(work);
  const file = join(work, 'app.js');
  const versions: Buffer[] = [];
  for (let i = 0; i < 3; i++) {
    const v = Buffer.concat([text.subarray(0, 50_000 * i), Buffer.from(`/* release ${i} */\n`), text.subarray(50_000 * i)]);
    versions.push(v);
    await writeFile(file, v);
    const r = await runCli(['build', '--json', '--history', '2', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout).bases ?? []).length, i, `build ${i}`);
  }
  const loaded = await loadIndex(join(work, 'app.js.gosync'));
  assert.equal(loaded.index.published?.bases?.length, 2);
  assert.equal((await readdir(join(work, 'app.js.gosync-versions'))).length, 2, 'two versions kept');
  const refused = await runCli(['build', '--history', '2', '--no-compress', file]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /--history/);
});
