/**
 * End to end through real HTTP servers: `gosync build` + `gosync patch` via the real
 * command line, against a real nginx and against `gosync serve`'s server.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startStaticServer, type StaticServer } from '../../src/serve/static-server.js';
import { runCli } from '../helpers/cli.js';
import { concat, randomBytes } from '../helpers/data.js';
import { requireNginx, type NginxServer } from '../helpers/nginx.js';

let dir: string;
let root: string;
const oldData = randomBytes(3_000_000, 100);
// New version: an insertion, a deletion, an overwrite and a new tail.
const newData = concat(
  oldData.subarray(0, 500_000),
  randomBytes(3000, 101),
  oldData.subarray(500_000, 1_500_000),
  oldData.subarray(1_510_000, 2_000_000),
  randomBytes(20_000, 102),
  oldData.subarray(2_020_000, 2_990_000),
  randomBytes(777, 103),
);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-http-'));
  root = join(dir, 'www');
  await (await import('node:fs/promises')).mkdir(root);
  await writeFile(join(root, 'app.bin'), newData);
  const built = await runCli(['build', '--json', join(root, 'app.bin')]);
  assert.equal(built.code, 0, built.stderr);
  assert.equal(JSON.parse(built.stdout).index, join(root, 'app.bin.gosync'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function freshLocal(name: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, oldData);
  return p;
}

async function checkPatch(baseUrl: string, name: string, bytesOnWire: () => Promise<number>) {
  const local = await freshLocal(name);
  const before = await bytesOnWire();
  const r = await runCli(['patch', '--json', local, `${baseUrl}app.bin.gosync`]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await readFile(local), Buffer.from(newData));
  const report = JSON.parse(r.stdout);
  for (const k of ['fileSize', 'blockSize', 'reusedBytes', 'fetchedBytes', 'requests', 'seconds'])
    assert.equal(typeof report[k], 'number', k);
  assert.equal(report.fileSize, newData.length);
  assert.equal(report.reusedBytes + report.fetchedBytes, newData.length);
  assert.ok(report.fetchedBytes < 60_000, `fetched ${report.fetchedBytes}`);
  const wire = (await bytesOnWire()) - before;
  // Counted at the server: index + range bodies, far less than the file.
  assert.ok(wire >= report.fetchedBytes + report.indexBytes, `wire ${wire}`);
  assert.ok(wire < report.fetchedBytes + report.indexBytes + 10_000, `wire ${wire}`);
  assert.deepEqual(
    (await readdir(dir)).filter((f) => f.includes('gosync-tmp')),
    [],
  );
  return report;
}

describe('through nginx', () => {
  let nginx: NginxServer | undefined;
  before(async (t) => {
    nginx = await requireNginx(t as never, root);
  });
  after(async () => nginx?.close());

  test('patch reproduces the new version and fetches only what changed', async (t) => {
    if (!nginx) return t.skip('nginx not installed');
    await checkPatch(nginx.url, 'nginx.local', () => nginx!.bytesSent());
  });

  test('diff fetches nothing but the index', async (t) => {
    if (!nginx) return t.skip('nginx not installed');
    const local = await freshLocal('nginx.diff');
    const before = await nginx.bytesSent();
    const r = await runCli(['diff', '--json', local, `${nginx.url}app.bin.gosync`]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.ok(report.fetchedBytes > 0 && report.fetchedBytes < 60_000);
    assert.equal((await nginx.bytesSent({ requests: 1 })) - before, report.indexBytes);
    assert.deepEqual(await readFile(local), Buffer.from(oldData));
  });

  test('a missing local file is fetched whole; -o leaves the local file alone', async (t) => {
    if (!nginx) return t.skip('nginx not installed');
    const out = join(dir, 'nginx.out');
    const r = await runCli(['patch', '-q', join(dir, 'nope'), `${nginx.url}app.bin.gosync`, '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readFile(out), Buffer.from(newData));
  });

  test('multi-range off (max_ranges 1) still works', async (t) => {
    if (!nginx) return t.skip('nginx not installed');
    const single = await requireNginx(t, root, { serverDirectives: 'max_ranges 1;' });
    if (!single) return;
    try {
      await checkPatch(single.url, 'nginx1.local', () => single.bytesSent());
    } finally {
      await single.close();
    }
  });
});

describe('through gosync serve', () => {
  let server: StaticServer;
  before(async () => {
    server = await startStaticServer({ root });
  });
  after(async () => server.close());

  test('patch reproduces the new version', async () => {
    await checkPatch(server.url, 'serve.local', async () => server.stats.bodyBytes);
  });

  test('a reference path given on the command line is used instead of HTTP', async () => {
    const local = await freshLocal('serve.path');
    const r = await runCli(['patch', '-q', local, `${server.url}app.bin.gosync`, join(root, 'app.bin')]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readFile(local), Buffer.from(newData));
  });

  test('patching a file onto itself with an explicit -o of the same path works', async () => {
    const local = await freshLocal('serve.self');
    const r = await runCli(['patch', '-q', local, `${server.url}app.bin.gosync`, '-o', local]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readFile(local), Buffer.from(newData));
  });

  test('a 404 index is a clear error (exit 1) and the local file is unchanged', async () => {
    const local = await freshLocal('serve.404');
    const r = await runCli(['patch', local, `${server.url}missing.gosync`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /404/);
    assert.match(r.stderr, /GOSYNC_ERR_HTTP_STATUS/);
    assert.deepEqual(await readFile(local), Buffer.from(oldData));
  });

  test('a corrupt index is a clear error and the local file is unchanged', async () => {
    const bad = Buffer.from(await readFile(join(root, 'app.bin.gosync')));
    bad[100]! ^= 0xff;
    await writeFile(join(root, 'bad.gosync'), bad);
    const local = await freshLocal('serve.badindex');
    const r = await runCli(['patch', local, `${server.url}bad.gosync`, `${server.url}app.bin`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /GOSYNC_ERR_INDEX_CORRUPT/);
    assert.deepEqual(await readFile(local), Buffer.from(oldData));
  });

  test('a reference replaced by other bytes is refused and the local file is unchanged', async () => {
    // The index describes app.bin, but the URL serves a different file of the same size.
    const other = Uint8Array.from(newData);
    for (let i = 0; i < other.length; i += 4096) other[i]! ^= 0x5a;
    await writeFile(join(root, 'other.bin'), other);
    await copyFile(join(root, 'app.bin.gosync'), join(root, 'other.bin.gosync'));
    const local = await freshLocal('serve.wrong');
    const r = await runCli(['patch', local, `${server.url}other.bin.gosync`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /GOSYNC_ERR_BLOCK_MISMATCH/);
    assert.deepEqual(await readFile(local), Buffer.from(oldData));
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.includes('gosync-tmp')),
      [],
    );
  });
});
