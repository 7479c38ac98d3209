/**
 * `gosync build` and `gosync patch` pick the archive path by themselves: by content at
 * build, by the index at patch, over HTTP (where a client holding the base archive reads
 * only the index's tail and the delta between payloads).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type StaticServer, startStaticServer } from '../../src/serve/static-server.js';
import { runCli } from '../helpers/cli.js';
import { edited, gzipOf, textPayload, unreproducibleGzip, zipOf } from './fixtures.js';

let dir: string;
let server: StaticServer;
const oldPayload = textPayload(300_000, 5);
const newPayload = edited(oldPayload, [50_000, 250_000], 'tail\n');

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-archive-cli-'));
  server = await startStaticServer({ root: dir });
});
after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

test('build looks inside a .tgz and says so; patch over HTTP rebuilds it, also with a delta from a gzip base', async () => {
  await writeFile(join(dir, 'old.tgz'), gzipOf(oldPayload));
  const published = gzipOf(newPayload);
  await writeFile(join(dir, 'pkg.tgz'), published);
  const built = await runCli(['build', '-q', '--json', '--base', join(dir, 'old.tgz'), join(dir, 'pkg.tgz')]);
  assert.equal(built.code, 0, built.stderr);
  const report = JSON.parse(built.stdout);
  assert.equal(report.archive.reproduced, true);
  assert.equal(report.archive.level, 9);
  assert.equal(report.fileSize, newPayload.length);
  const text = await runCli(['build', '-o', join(dir, 'again.gosync'), join(dir, 'pkg.tgz')]);
  assert.match(text.stdout, /gzip payload .* \(zlib 9\/8\)/);
  const local = join(dir, 'client.tgz');
  await writeFile(local, gzipOf(oldPayload));
  const patched = await runCli(['patch', '--json', local, `${server.url}pkg.tgz.gosync`]);
  assert.equal(patched.code, 0, patched.stderr);
  assert.deepEqual(await readFile(local), published);
  const r = JSON.parse(patched.stdout);
  assert.equal(r.plan, 'base', 'the delta between payloads');
  // Found through the archive summary: the index's tail, not the whole index.
  const indexSize = (await stat(join(dir, 'pkg.tgz.gosync'))).size;
  assert.ok(r.indexBytes < 1024 && r.indexBytes < indexSize, `read ${r.indexBytes} of the index's ${indexSize} bytes`);
  // A client with an edited old version patches by blocks.
  await writeFile(local, gzipOf(edited(oldPayload, [10])));
  const blocks = await runCli(['patch', '--json', local, `${server.url}pkg.tgz.gosync`]);
  assert.equal(blocks.code, 0, blocks.stderr);
  assert.deepEqual(await readFile(local), published);
  assert.notEqual(JSON.parse(blocks.stdout).plan, 'base');
});

test('build says why it did not look inside a gzip file it cannot reproduce', async () => {
  await writeFile(join(dir, 'odd.gz'), unreproducibleGzip(newPayload));
  const built = await runCli(['build', join(dir, 'odd.gz')]);
  assert.equal(built.code, 0, built.stderr);
  assert.match(built.stdout, /gzip not looked into: Node's zlib does not reproduce its deflate stream/);
});

test('build --history keeps the published archives: a client holding the previous .tgz reads the index tail and the payload delta', async () => {
  const folder = join(dir, 'history');
  await mkdir(folder, { recursive: true });
  const input = join(folder, 'app.tgz');
  const v1 = gzipOf(oldPayload);
  const v2 = gzipOf(newPayload);
  await writeFile(input, v1);
  const first = await runCli(['build', '-q', '--history', '2', input]);
  assert.equal(first.code, 0, first.stderr);
  await writeFile(input, v2);
  const second = await runCli(['build', '-q', '--json', '--history', '2', input]);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(JSON.parse(second.stdout).bases.length, 1, 'a delta from the version kept');
  const local = join(dir, 'history-client.tgz');
  await writeFile(local, v1);
  const patched = await runCli(['patch', '--json', local, `${server.url}history/app.tgz.gosync`]);
  assert.equal(patched.code, 0, patched.stderr);
  assert.deepEqual(await readFile(local), v2);
  const r = JSON.parse(patched.stdout);
  assert.equal(r.plan, 'base');
  assert.ok(r.indexBytes < 1024, `read ${r.indexBytes} bytes of the index`);
  // The report says an archive was rebuilt, as the block patch of one does (docs/json.md).
  assert.equal(r.archive?.kind, 'gzip');
  assert.equal(r.archive?.localInflated, true);
  assert.equal(r.archive?.fetchedWhole, false);
  assert.equal(typeof r.archive?.payloadBytes, 'number');
});

test('diff of a zip reports per entry of the local archive what the new version reuses', async () => {
  const a = textPayload(120_000, 21);
  const b = textPayload(90_000, 22);
  const c = textPayload(60_000, 23);
  const files = (second: Buffer) => [
    { name: 'META-INF/MANIFEST.MF', data: Buffer.from('Manifest-Version: 1.0\n') },
    { name: 'a/First.class', data: a, deflate: true },
    // Stored: a zip's payload keeps each entry as the archive holds it, so an edit inside
    // a deflated entry changes all of its bytes; a stored one keeps the rest.
    { name: 'b/Second.txt', data: second },
    { name: 'c/Third.class', data: c, deflate: true },
  ];
  await writeFile(join(dir, 'app.jar'), zipOf(files(edited(b, [40_000], 'changed\n'))));
  const built = await runCli(['build', '-q', join(dir, 'app.jar')]);
  assert.equal(built.code, 0, built.stderr);
  const local = join(dir, 'client.jar');
  await writeFile(local, zipOf(files(b)));
  const d = await runCli(['diff', '--json', local, `${server.url}app.jar.gosync`]);
  assert.equal(d.code, 0, d.stderr);
  const r = JSON.parse(d.stdout);
  assert.equal(r.archive.kind, 'zip');
  assert.equal(r.archive.localInflated, true);
  const state = Object.fromEntries((r.archive.entries as { name: string; state: string }[]).map((e) => [e.name, e.state]));
  assert.equal(state['a/First.class'], 'reused');
  assert.equal(state['c/Third.class'], 'reused');
  assert.equal(state['b/Second.txt'], 'changed');
  // The text names the changed entries, and the share is of the payload.
  const text = await runCli(['diff', local, `${server.url}app.jar.gosync`]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /entries of the local archive: \d+ reused, 1 changed, \d+ gone/);
  assert.match(text.stdout, /changed +b\/Second\.txt/);
  assert.match(text.stdout, /\(zip, payload /);
});
