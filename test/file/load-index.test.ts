/** loadIndex detects the format; resolveReference treats relative URLs of local indexes as zsync does. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { buildZsync } from '../../src/formats/zsync-control.js';
import { buildIndex } from '../../src/core/index/builder.js';
import { loadIndex, resolveReference, type LoadedIndex } from '../../src/file/load-index.js';
import { startStaticServer, type StaticServer } from '../../src/serve/static-server.js';
import { randomBytes } from '../helpers/data.js';

let dir: string;
let server: StaticServer;
const data = randomBytes(10_000, 31);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-load-'));
  await writeFile(join(dir, 'app.bin.zsync'), await buildZsync(data, { fileSize: data.length, urls: ['app.bin'] }));
  await writeFile(join(dir, 'nourl.bin.zsync'), await buildZsync(data, { fileSize: data.length }));
  await writeFile(
    join(dir, 'abs.bin.zsync'),
    await buildZsync(data, { fileSize: data.length, urls: ['http://mirror.example/abs.bin', 'other.bin'] }),
  );
  await writeFile(join(dir, 'app.bin.gosync'), await buildIndex(data, { fileSize: data.length }));
  server = await startStaticServer({ root: dir, port: 0 });
});
after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

test('a local .zsync loads as zsync, and its relative URL needs the reference argument (as zsync needs -u)', async () => {
  const loaded = await loadIndex(join(dir, 'app.bin.zsync'));
  assert.equal(loaded.format, 'zsync');
  assert.equal(loaded.index.fileSize, data.length);
  assert.equal(loaded.index.strongHash.name, 'md4');
  assert.deepEqual(loaded.zsync?.urls, ['app.bin']);
  assert.throws(
    () => resolveReference(loaded),
    (e: unknown) =>
      SyncError.is(e) && e.code === ErrorCodes.NO_REFERENCE && /"app\.bin", relative to the URL the index is published at/.test(e.message),
  );
  assert.equal(resolveReference(loaded, 'http://example.com/app.bin'), 'http://example.com/app.bin');
  assert.equal((await loadIndex(join(dir, 'app.bin.gosync'))).format, 'gosync');
});

test('a .zsync fetched over HTTP resolves its relative URL against its own URL; absolute URLs are used as they are', async () => {
  const base = server.url;
  const loaded = await loadIndex(`${base}app.bin.zsync`);
  assert.equal(loaded.format, 'zsync');
  assert.equal(resolveReference(loaded), `${base}app.bin`);
  assert.equal(resolveReference(await loadIndex(`${base}abs.bin.zsync`)), 'http://mirror.example/abs.bin');
  // No URL header at all: the .zsync suffix is dropped, as .gosync is.
  assert.equal(resolveReference(await loadIndex(`${base}nourl.bin.zsync`)), `${base}nourl.bin`);
});

test('resolveReference keeps its gosync behaviour', () => {
  const index = { url: undefined } as unknown as LoadedIndex['index'];
  assert.equal(resolveReference({ index, url: 'http://h/x/app.gosync', bytes: 1 }), 'http://h/x/app');
  assert.throws(
    () => resolveReference({ index, path: '/tmp/app.gosync', bytes: 1 }),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.NO_REFERENCE,
  );
});
