/**
 * Compressed transfer end to end: `gosync build --compress` publishes frames and a whole
 * stream; `gosync patch` picks the cheapest way and still produces the exact file when
 * the compressed forms are damaged, truncated, or served by a server ignoring Range.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildIndexFile } from '../../src/file/build-file.js';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { loadIndex } from '../../src/file/load-index.js';
import { patchFile } from '../../src/file/patch-file.js';
import { startStaticServer, type StaticServer } from '../../src/serve/static-server.js';
import { HttpSource } from '../../src/sources/http/http-source.js';
import { runCli } from '../helpers/cli.js';
import { concat, randomBytes } from '../helpers/data.js';
import { startFaultServer } from '../helpers/fault-server.js';

let dir: string;
let root: string;
let server: StaticServer;
// Compressible data (text-like: repeated words), so that compression matters.
const words = Array.from({ length: 400 }, (_, i) => `word${(i * 7919) % 1000} `).join('');
const text = (n: number, seed: number) => {
  const r = randomBytes(n / 8, seed);
  return Buffer.from(Array.from(r, (b, i) => words.slice((b * 13 + i) % 300, ((b * 13 + i) % 300) + 8)).join(''));
};
const oldData = new Uint8Array(text(800_000, 1));
// Localised changes: a few regions rewritten, most frames untouched.
const newData = concat(
  oldData.subarray(0, 300_000),
  text(40_000, 2),
  oldData.subarray(300_000, 600_000),
  text(48_000, 3),
  oldData.subarray(648_000),
);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-z-'));
  root = join(dir, 'www');
  await mkdir(root);
  await writeFile(join(root, 'doc.txt'), newData);
  const b = await runCli(['build', '--json', '-z', '--level', '5', '--frame-size', '64K', join(root, 'doc.txt')]);
  assert.equal(b.code, 0, b.stderr);
  const report = JSON.parse(b.stdout);
  assert.ok(report.frames.bytes < newData.length / 2, 'the frames are compressed');
  assert.ok(report.whole.bytes < report.frames.bytes, 'one stream compresses better than frames');
  server = await startStaticServer({ root });
});
after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function localCopy(name: string, data: Uint8Array = oldData) {
  const p = join(dir, name);
  await writeFile(p, data);
  return p;
}

test('localised changes are fetched as compressed frames, fewer bytes than raw ranges', async () => {
  const local = await localCopy('frames.txt');
  const d = await runCli(['diff', '--json', local, `${server.url}doc.txt.gosync`]);
  const diff = JSON.parse(d.stdout);
  assert.equal(diff.plan, 'frames');
  assert.ok(diff.estimates.frames < diff.estimates.raw);
  const before = server.stats.bodyBytes;
  const r = await runCli(['patch', '--json', local, `${server.url}doc.txt.gosync`]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await readFile(local), Buffer.from(newData));
  const report = JSON.parse(r.stdout);
  assert.equal(report.plan, 'frames');
  const wire = server.stats.bodyBytes - before - report.indexBytes;
  assert.ok(wire < diff.estimates.raw, `moved ${wire} B, raw would be ${diff.estimates.raw}`);
});

test('with no local file the whole compressed file is fetched', async () => {
  const out = join(dir, 'fresh.txt');
  const r = await runCli(['patch', '--json', join(dir, 'none'), `${server.url}doc.txt.gosync`, '-o', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).plan, 'whole');
  assert.deepEqual(await readFile(out), Buffer.from(newData));
});

test('--raw keeps to the plain reference', async () => {
  const local = await localCopy('raw.txt');
  const r = await runCli(['patch', '--json', '--raw', local, `${server.url}doc.txt.gosync`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).plan, 'raw');
  assert.deepEqual(await readFile(local), Buffer.from(newData));
});

test('a damaged frame is fetched raw instead: the result is still exact', async () => {
  // The same patch with intact frames, for comparison.
  const intactLocal = await localCopy('undamaged.txt');
  const intact = await runCli(['patch', '--json', intactLocal, `${server.url}doc.txt.gosync`]);
  assert.equal(intact.code, 0, intact.stderr);
  const undamaged = JSON.parse(intact.stdout);
  assert.equal(undamaged.plan, 'frames');
  assert.ok(undamaged.receivedBytes < undamaged.fetchedBytes, 'compressed: fewer bytes received than the reference bytes they carry');
  const frames = join(root, 'doc.txt.gosyncz');
  const good = await readFile(frames);
  try {
    const bad = Buffer.from(good);
    for (let i = 0; i < bad.length; i += 97) bad[i]! ^= 0x55;
    await writeFile(frames, bad);
    const local = await localCopy('damaged.txt');
    const r = await runCli(['patch', '--json', local, `${server.url}doc.txt.gosync`]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readFile(local), Buffer.from(newData));
    const report = JSON.parse(r.stdout);
    // Still the frames plan (no fallback of the whole patch to raw ranges), no refetch after
    // a failed whole-file check: each damaged frame was replaced by its raw bytes.
    assert.equal(report.plan, 'frames');
    assert.equal(report.refetched, false);
    assert.equal(report.fetchedBytes, undamaged.fetchedBytes);
    // The same compressed frames were fetched as in the intact run, and then each one whole
    // and raw (64 KiB, the --frame-size above), in requests of its own: more bytes than the
    // reference bytes used, at least one whole frame more than the intact run.
    assert.ok(report.receivedBytes > report.fetchedBytes, `received ${report.receivedBytes} B for ${report.fetchedBytes} B`);
    assert.ok(
      report.receivedBytes - undamaged.receivedBytes >= 64 * 1024,
      `received ${report.receivedBytes} B, ${undamaged.receivedBytes} B intact`,
    );
    assert.ok(report.requests > undamaged.requests, `${report.requests} requests, ${undamaged.requests} intact`);
  } finally {
    await writeFile(frames, good);
  }
});

test('a truncated frames file falls back to raw ranges; with no plain file either it is a clear error and nothing is lost', async () => {
  const frames = join(root, 'doc.txt.gosyncz');
  const good = await readFile(frames);
  try {
    await truncate(frames, Math.floor(good.length / 2));
    const local = await localCopy('truncated.txt');
    const r = await runCli(['patch', '--json', local, `${server.url}doc.txt.gosync`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).plan, 'raw', 'fell back to the plain reference');
    assert.deepEqual(await readFile(local), Buffer.from(newData));
    // Now without the plain reference: nothing can give the right bytes.
    await copyFile(join(root, 'doc.txt'), join(dir, 'doc.txt.saved'));
    await rm(join(root, 'doc.txt'));
    try {
      const local2 = await localCopy('truncated2.txt');
      const r2 = await runCli(['patch', local2, `${server.url}doc.txt.gosync`]);
      assert.equal(r2.code, 1);
      assert.match(r2.stderr, /GOSYNC_ERR_/);
      assert.deepEqual(await readFile(local2), Buffer.from(oldData), 'local file unchanged');
    } finally {
      await copyFile(join(dir, 'doc.txt.saved'), join(root, 'doc.txt'));
    }
  } finally {
    await writeFile(frames, good);
  }
});

test('a server that ignores Range still serves the compressed forms correctly', async () => {
  const files = new Map<string, Uint8Array>();
  for (const name of ['doc.txt', 'doc.txt.gosync', 'doc.txt.gosyncz', 'doc.txt.gosync.br'])
    files.set(`/${name}`, await readFile(join(root, name)));
  const faulty = await startFaultServer({
    resource: (req) => ({ body: files.get(req.path.split('?')[0]!) ?? new Uint8Array(0) }),
    reply: () => ({ kind: 'full' }),
  });
  try {
    const loaded = await loadIndex(faulty.url('/doc.txt.gosync'));
    const local = await localCopy('ignores.txt');
    const source = new HttpSource(faulty.url('/doc.txt'), { expectedSize: newData.length });
    try {
      const report = await patchFile({
        local,
        index: loaded.index,
        source,
        openForm: (name) => new HttpSource(new URL(name, faulty.url('/doc.txt.gosync')).href),
      });
      assert.equal(report.plan, 'frames');
    } finally {
      await source.close();
    }
    assert.deepEqual(await readFile(local), Buffer.from(newData));
  } finally {
    await faulty.close();
  }
});

test('a delta from the exact local version is used when published, and ignored otherwise', async () => {
  const pub = join(dir, 'pub');
  await mkdir(pub);
  await writeFile(join(pub, 'doc.txt'), newData);
  const base = join(dir, 'base-v1.txt');
  await writeFile(base, oldData);
  const b = await runCli(['build', '--json', '--base', base, '--level', '5', join(pub, 'doc.txt')]);
  assert.equal(b.code, 0, b.stderr);
  const built = JSON.parse(b.stdout);
  assert.equal(built.bases.length, 1);
  assert.ok(built.bases[0].bytes < 20_000, `delta ${built.bases[0].bytes} B`);
  const s = await startStaticServer({ root: pub });
  try {
    // The exact base: the delta is fetched, nothing else.
    const local = await localCopy('base-exact.txt');
    const d = JSON.parse((await runCli(['diff', '--json', local, `${s.url}doc.txt.gosync`])).stdout);
    assert.equal(d.plan, 'base');
    const before = s.stats.bodyBytes;
    const r = await runCli(['patch', '--json', local, `${s.url}doc.txt.gosync`]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.plan, 'base');
    assert.deepEqual(await readFile(local), Buffer.from(newData));
    // Only the index's summary and the delta crossed the wire.
    assert.equal(report.fetchedBytes, built.bases[0].bytes);
    assert.ok(report.indexBytes <= 57, `summary ${report.indexBytes} B`);
    assert.equal(s.stats.bodyBytes - before, report.indexBytes + built.bases[0].bytes, 'summary + delta, nothing else');
    // Another version of the same size: not the base, so blocks as usual.
    const other = Uint8Array.from(oldData);
    other[10]! ^= 1;
    const local2 = await localCopy('base-other.txt', other);
    const r2 = await runCli(['patch', '--json', local2, `${s.url}doc.txt.gosync`]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.notEqual(JSON.parse(r2.stdout).plan, 'base');
    assert.deepEqual(await readFile(local2), Buffer.from(newData));
    // A damaged delta: the block-based patch takes over, the result is still exact.
    const deltaPath = built.bases[0].path as string;
    const good = await readFile(deltaPath);
    const bad = Buffer.from(good);
    for (let i = 10; i < bad.length; i += 50) bad[i]! ^= 0x33;
    await writeFile(deltaPath, bad);
    const local3 = await localCopy('base-damaged.txt');
    const r3 = await runCli(['patch', '--json', local3, `${s.url}doc.txt.gosync`]);
    assert.equal(r3.code, 0, r3.stderr);
    assert.notEqual(JSON.parse(r3.stdout).plan, 'base');
    assert.deepEqual(await readFile(local3), Buffer.from(newData));
    await writeFile(deltaPath, good);
  } finally {
    await s.close();
  }
});

test('a build whose compressed forms fail rejects with a SyncError and leaves no temporary file', async () => {
  const out = join(dir, 'failing-build');
  await mkdir(out);
  const input = join(out, 'doc.txt');
  await writeFile(input, newData);
  const index = join(out, 'doc.txt.gosync');
  const listing = async () => (await readdir(out)).sort();
  // A base that does not exist: refused before anything is written.
  await assert.rejects(
    buildIndexFile(input, index, { compress: { level: 1, bases: [join(dir, 'no-such-base')] } }),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.IO && e.path === join(dir, 'no-such-base'),
  );
  assert.deepEqual(await listing(), ['doc.txt']);
  // The same from the command line: a clear error, not a crash.
  const cli = await runCli(['build', '--base', join(dir, 'no-such-base'), input]);
  assert.equal(cli.code, 1);
  assert.match(cli.stderr, /GOSYNC_ERR_IO/);
  assert.doesNotMatch(cli.stderr, /\n\s+at /, 'no stack trace');
  assert.deepEqual(await listing(), ['doc.txt']);
  // A quality out of range: RangeError, nothing written.
  await assert.rejects(buildIndexFile(input, index, { compress: { level: 12 } }), RangeError);
  assert.deepEqual(await listing(), ['doc.txt']);
  // A form that fails once written (a folder where the whole-file stream goes): the build
  // rejects with that IO error once the other forms have stopped; no index, no temporary file.
  await mkdir(`${index}.br`);
  await assert.rejects(
    buildIndexFile(input, index, { compress: { level: 1 } }),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.IO,
  );
  assert.deepEqual(
    (await listing()).filter((f) => f.endsWith('.gosync-tmp') || f === 'doc.txt.gosync'),
    [],
  );
});
