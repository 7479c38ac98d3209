/**
 * The reference named by an index fetched over HTTP is always an http(s) URL: a server
 * must not choose a local file for `patch` to read. Another scheme, a Windows drive or
 * UNC path is refused with NO_REFERENCE; a relative URL (an absolute path included) is
 * resolved against the index URL. Only a local index or the explicit argument may lead
 * to a local file.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { buildIndex } from '../../src/core/index/builder.js';
import { loadIndex, resolveReference } from '../../src/file/load-index.js';
import { buildZsync } from '../../src/formats/zsync-control.js';
import { startStaticServer, type StaticServer } from '../../src/serve/static-server.js';
import { randomBytes } from '../helpers/data.js';

let dir: string;
let server: StaticServer;
const data = randomBytes(20_000, 41);

/** Reference URLs a hostile index may name, by the file name of the index. */
let hostile: Record<string, string>;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-remote-ref-'));
  const bait = join(dir, 'bait.bin');
  await writeFile(bait, data);
  hostile = {
    drive: 'c:/etc/passwd',
    'drive-backslash': 'c:\\Windows\\win.ini',
    file: pathToFileURL(bait).href,
    ftp: 'ftp://mirror.example/app.bin',
    unc: '\\\\server\\share\\app.bin',
    data: 'data:application/octet-stream;base64,AAAA',
  };
  for (const [name, url] of Object.entries(hostile)) {
    await writeFile(join(dir, `${name}.gosync`), await buildIndex(data, { fileSize: data.length, url }));
    await writeFile(join(dir, `${name}.zsync`), await buildZsync(data, { fileSize: data.length, urls: [url] }));
  }
  for (const format of ['gosync', 'zsync']) {
    const url = '/elsewhere/app.bin';
    await writeFile(
      join(dir, `abspath.${format}`),
      format === 'gosync'
        ? await buildIndex(data, { fileSize: data.length, url })
        : await buildZsync(data, { fileSize: data.length, urls: [url] }),
    );
  }
  server = await startStaticServer({ root: dir, port: 0 });
});
after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

for (const format of ['gosync', 'zsync'] as const) {
  test(`a ${format} index fetched over HTTP that names a local file or another scheme is refused with NO_REFERENCE`, async () => {
    for (const [name, url] of Object.entries(hostile)) {
      const loaded = await loadIndex(`${server.url}${name}.${format}`);
      assert.equal(loaded.format, format);
      assert.equal(loaded.index.url, url, name);
      assert.throws(
        () => resolveReference(loaded),
        (e: unknown) =>
          SyncError.is(e) &&
          e.code === ErrorCodes.NO_REFERENCE &&
          e.url === `${server.url}${name}.${format}` &&
          e.message.startsWith('Cannot patch: ') &&
          e.message.includes(url) &&
          /http\(s\)/.test(e.message),
        `${format} ${name}`,
      );
      // The command line's reference still wins, and may be a local path.
      assert.equal(resolveReference(loaded, join(dir, 'bait.bin')), join(dir, 'bait.bin'));
    }
  });

  test(`a ${format} index fetched over HTTP that names an absolute path gets it from the index's server`, async () => {
    const loaded = await loadIndex(`${server.url}abspath.${format}`);
    const reference = resolveReference(loaded);
    assert.equal(reference, new URL('/elsewhere/app.bin', server.url).href);
    assert.match(reference, /^http:\/\//);
  });
}

test('a local index that names a local file or another scheme is refused as before: the reference must be given', async () => {
  for (const name of Object.keys(hostile)) {
    const loaded = await loadIndex(join(dir, `${name}.gosync`));
    assert.throws(
      () => resolveReference(loaded),
      (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.NO_REFERENCE,
    );
    assert.equal(resolveReference(loaded, join(dir, 'bait.bin')), join(dir, 'bait.bin'));
  }
});

test('resolveReference refuses what a remote index names unless it resolves to http(s)', () => {
  const index = (url: string) => ({ url }) as unknown as Parameters<typeof resolveReference>[0]['index'];
  const at = 'https://cdn.example/files/app.gosync';
  const ok: [string, string][] = [
    ['app.bin', 'https://cdn.example/files/app.bin'],
    ['../v2/app.bin', 'https://cdn.example/v2/app.bin'],
    ['/abs/app.bin', 'https://cdn.example/abs/app.bin'],
    ['//mirror.example/app.bin', 'https://mirror.example/app.bin'],
    ['HTTP://mirror.example/app.bin', 'HTTP://mirror.example/app.bin'],
  ];
  for (const [named, expected] of ok) assert.equal(resolveReference({ index: index(named), url: at, bytes: 1 }), expected, named);
  for (const named of [
    'c:/x',
    'C:\\x',
    'file:///etc/passwd',
    'FILE:/etc/passwd',
    'ftp://h/x',
    '\\\\srv\\share\\x',
    'a\\b',
    'javascript:x',
    'blob:x',
  ]) {
    assert.throws(
      () => resolveReference({ index: index(named), url: at, bytes: 1 }),
      (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.NO_REFERENCE && e.url === at,
      named,
    );
  }
});
