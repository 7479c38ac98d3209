/**
 * A folder patch from a private CDN: HTTPS with a certificate from a CA the client is told
 * to trust (a dispatcher made with `ca`, what `--cacert` builds), and a header every request
 * must carry. nginx answers 403 without the header, so the manifest, the indexes and the
 * objects all had to carry it.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createHttpDispatcher } from '../../src/sources/http/dispatcher.js';
import { buildTree } from '../../src/tree/build-tree.js';
import { patchTree } from '../../src/tree/patch-tree.js';
import { runCli } from '../helpers/cli.js';
import { randomBytes } from '../helpers/data.js';
import { startTlsNginx } from '../integration/http2-nginx.js';

test('folder patch over HTTPS with a private CA and a required header', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gosync-private-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const src = join(dir, 'app');
  const pub = join(dir, 'pub');
  await mkdir(join(src, 'lib'), { recursive: true });
  const big = randomBytes(300_000, 71);
  await writeFile(join(src, 'lib', 'big.bin'), big);
  await writeFile(join(src, 'readme.txt'), 'hello\n');
  await buildTree(src, pub, { name: 'app' });
  const nginx = await startTlsNginx(pub, {
    http2: false,
    // Either header lets a request through: -H's, or GOSYNC_BEARER_TOKEN's.
    directives: [
      'set $allowed 0;',
      'if ($http_x_cdn_token = "s3cret") { set $allowed 1; }',
      'if ($http_authorization = "Bearer t0ken") { set $allowed 1; }',
      'if ($allowed = 0) { return 403; }',
    ].join(' '),
  });
  if (nginx === undefined) {
    if (process.env.CI === 'true') assert.fail('nginx and openssl are needed');
    t.skip('nginx or openssl missing');
    return;
  }
  t.after(() => nginx.close());
  const manifest = `${nginx.url}app.tree.json`;
  // A local copy holding part of the data, so indexes and object ranges are fetched too.
  const local = join(dir, 'local');
  await mkdir(join(local, 'lib'), { recursive: true });
  await writeFile(join(local, 'lib', 'big.bin'), Buffer.concat([big.subarray(0, 100_000), randomBytes(5000, 72), big.subarray(150_000)]));

  // Without the CA the certificate is refused; without the header nginx answers 403.
  await assert.rejects(patchTree(local, manifest, { headers: { 'x-cdn-token': 's3cret' } }));
  const dispatcher = createHttpDispatcher({ ca: nginx.cert });
  t.after(() => dispatcher.close());
  await assert.rejects(patchTree(local, manifest, { dispatcher }), /403/);

  const before = (await nginx.entries()).length;
  const report = await patchTree(local, manifest, { dispatcher, headers: { 'x-cdn-token': 's3cret' } });
  assert.deepEqual(await readFile(join(local, 'lib', 'big.bin')), Buffer.from(big));
  assert.equal(await readFile(join(local, 'readme.txt'), 'utf8'), 'hello\n');
  const entries = (await nginx.entries()).slice(before);
  assert.ok(entries.length >= 2, `requests: ${entries.map((e) => e.path).join(' ')}`);
  assert.ok(
    entries.every((e) => e.status === 200 || e.status === 206),
    entries.map((e) => `${e.status} ${e.path}`).join(', '),
  );
  assert.ok(report.receivedBytes > 0);
  // The caller's dispatcher is left open for the caller: a second patch (nothing to do) still works.
  await patchTree(local, manifest, { dispatcher, headers: { 'x-cdn-token': 's3cret' } });

  // The command line: --cacert and -H, or GOSYNC_BEARER_TOKEN; refused without them.
  const fresh = async (name: string) => {
    const d = join(dir, name);
    await mkdir(join(d, 'lib'), { recursive: true });
    await writeFile(join(d, 'lib', 'big.bin'), big.subarray(0, 200_000));
    return d;
  };
  const a = await fresh('cli-a');
  const noCa = await runCli(['patch', '-q', a, manifest, '-H', 'X-CDN-Token: s3cret']);
  assert.notEqual(noCa.code, 0);
  const noHeader = await runCli(['patch', '-q', a, manifest, '--cacert', nginx.certPath]);
  assert.notEqual(noHeader.code, 0);
  assert.match(noHeader.stderr, /403/);
  const ok = await runCli(['patch', '--json', a, manifest, '--cacert', nginx.certPath, '-H', 'X-CDN-Token: s3cret']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(await readFile(join(a, 'lib', 'big.bin')), Buffer.from(big));
  const b = await fresh('cli-b');
  const bearer = await runCli(['patch', '-q', b, manifest, '--cacert', nginx.certPath], { env: { GOSYNC_BEARER_TOKEN: 't0ken' } });
  assert.equal(bearer.code, 0, bearer.stderr);
  assert.deepEqual(await readFile(join(b, 'lib', 'big.bin')), Buffer.from(big));
  // diff takes them too.
  const diff = await runCli(['diff', '--json', b, manifest, '--cacert', nginx.certPath, '-H', 'X-CDN-Token: s3cret']);
  assert.equal(diff.code, 0, diff.stderr);
});
