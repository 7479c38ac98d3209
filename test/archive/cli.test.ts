/**
 * `gosync build` and `gosync patch` pick the archive path by themselves: by content at
 * build, by the index at patch, over HTTP (where the summary-only path must read the whole
 * version 4 index instead of applying a payload delta to the gzip file).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type StaticServer, startStaticServer } from '../../src/serve/static-server.js';
import { runCli } from '../helpers/cli.js';
import { edited, gzipOf, textPayload, unreproducibleGzip } from './fixtures.js';

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
  const text = await runCli(['build', '-q', '-o', join(dir, 'again.gosync'), join(dir, 'pkg.tgz')]);
  assert.match(text.stdout, /gzip payload .* \(zlib 9\/8\)/);
  const local = join(dir, 'client.tgz');
  await writeFile(local, gzipOf(oldPayload));
  const patched = await runCli(['patch', '--json', local, `${server.url}pkg.tgz.gosync`]);
  assert.equal(patched.code, 0, patched.stderr);
  assert.deepEqual(await readFile(local), published);
  const r = JSON.parse(patched.stdout);
  assert.equal(r.plan, 'base', 'the delta between payloads');
  assert.equal(r.archive.localInflated, true);
  // A client with an edited old version patches by blocks.
  await writeFile(local, gzipOf(edited(oldPayload, [10])));
  const blocks = await runCli(['patch', '--json', local, `${server.url}pkg.tgz.gosync`]);
  assert.equal(blocks.code, 0, blocks.stderr);
  assert.deepEqual(await readFile(local), published);
  assert.notEqual(JSON.parse(blocks.stdout).plan, 'base');
});

test('build says why it did not look inside a gzip file it cannot reproduce', async () => {
  await writeFile(join(dir, 'odd.gz'), unreproducibleGzip(newPayload));
  const built = await runCli(['build', '-q', join(dir, 'odd.gz')]);
  assert.equal(built.code, 0, built.stderr);
  assert.match(built.stdout, /gzip not looked into: Node's zlib does not reproduce its deflate stream/);
});
