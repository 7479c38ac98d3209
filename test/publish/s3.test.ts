/**
 * `publishToS3` and `gosync publish` against an S3-compatible server started here on
 * 127.0.0.1 (s3rver behind a recording proxy; s3-server.ts says why that server): a
 * folder publish goes up objects first and manifest last, a rerun sends nothing, an
 * interrupted upload is completed by a rerun that does not send again what arrived,
 * failed PUTs are retried, Content-Type and Cache-Control are set, a client patches a
 * folder from the bucket over HTTP, and a single-file publish sends the index last.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { indexDataNames } from '../../src/publish/publish-folder.js';
import { publishToS3, type PublishS3Options } from '../../src/publish/s3.js';
import { CLI, runCli } from '../helpers/cli.js';
import { randomBytes } from '../helpers/data.js';
import { assertSameTree, put, snapshot, tempDir, T0 } from '../tree/tree-fixtures.js';
import { S3_CREDENTIALS, S3_REGION, type S3TestServer, startS3Server } from './s3-server.js';

const BUCKET = 'releases';
let server: S3TestServer;
let base: string;
let src1: string;
let src2: string;
let pub: string;

/** Runs `gosync …args` with `env` added to the environment (credentials for the SDK). */
function runCliWith(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** The SDK's environment for the test server, isolated from any profile of the machine. */
function s3Env(): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
    AWS_REGION: S3_REGION,
    AWS_CONFIG_FILE: join(base, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(base, 'no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

function options(extra: PublishS3Options = {}): PublishS3Options {
  return { endpoint: server.endpoint, region: S3_REGION, forcePathStyle: true, credentials: { ...S3_CREDENTIALS }, ...extra };
}

/** Every file under `dir`, `/`-separated relative names. */
async function filesOf(dir: string): Promise<string[]> {
  const names = await readdir(dir, { recursive: true, withFileTypes: true });
  return names
    .filter((d) => d.isFile())
    .map((d) => relative(dir, join(d.parentPath, d.name)).split(sep).join('/'))
    .sort();
}

/**
 * What clients of the publish folder read, by docs/tree.md: the manifest, and per file its
 * content, its index (with the frames and whole stream beside a compressed one), its brotli
 * stream when listed, and its deltas. (A small file's brotli stream that is not smaller
 * than the file is written but not listed.)
 */
async function servedNames(dir: string): Promise<string[]> {
  const local = new Set(await filesOf(dir));
  const names = ['app.tree.json'];
  const manifest = JSON.parse(await readFile(join(dir, 'app.tree.json'), 'utf8')) as {
    entries: { type: string; sha256?: string; index?: string; br?: number; bases?: { sha256: string; codec?: string }[] }[];
  };
  for (const e of manifest.entries) {
    if (e.type !== 'file' || e.sha256 === undefined) continue;
    const object = `objects/${e.sha256.slice(0, 2)}/${e.sha256}`;
    names.push(object);
    if (e.index === 'plain') names.push(`${object}.gosync`);
    if (e.index === 'compressed')
      names.push(...[`${object}.z.gosync`, `${object}.z.gosyncz`, `${object}.z.gosync.br`].filter((n) => local.has(n)));
    if (e.br !== undefined) names.push(`${object}.br`);
    for (const b of e.bases ?? []) names.push(`${object}.${b.codec === 'gosync' ? 'g' : 'd'}-${b.sha256.slice(0, 16)}`);
  }
  return [...new Set(names)].sort();
}

async function build(src: string, out: string, ...extra: string[]): Promise<void> {
  const r = await runCli(['build', src, '-o', out, '-n', 'app', ...extra], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
}

const TEXT = 'gosync publishes folders as static files that any web server or CDN can serve.\n';

before(async () => {
  server = await startS3Server([BUCKET]);
  base = await tempDir('s3');
  src1 = join(base, 'v1');
  src2 = join(base, 'v2');
  pub = join(base, 'pub');
  const app = randomBytes(300_000, 7);
  await put(src1, 'index.html', '<h1>v1</h1>\n');
  await put(src1, 'assets/app.js', app);
  await put(src1, 'docs/guide.txt', TEXT.repeat(600));
  await put(src1, 'bin/tool', '#!/bin/sh\necho v1\n', 0o755);
  const app2 = Buffer.from(app);
  app2.set(randomBytes(64, 8), 150_000);
  await put(src2, 'index.html', '<h1>v2</h1>\n', 0o644, T0 + 1000);
  await put(src2, 'assets/app.js', app2, 0o644, T0 + 1000);
  await put(src2, 'docs/guide.txt', `${TEXT.repeat(300)}a new paragraph\n${TEXT.repeat(300)}`, 0o644, T0 + 1000);
  await put(src2, 'bin/tool', '#!/bin/sh\necho v1\n', 0o755);
  await put(src2, 'docs/new.txt', 'added in v2\n', 0o644, T0 + 1000);
  await build(src1, pub);
});

after(async () => {
  await server?.close();
  if (base) await rm(base, { recursive: true, force: true });
});

test('a folder publish uploads every object, then the manifest, with Content-Type and Cache-Control', async () => {
  const r = await publishToS3(pub, `s3://${BUCKET}/app`, options());
  const local = await servedNames(pub);
  assert.ok(local.some((n) => n.endsWith('.z.gosyncz')) && local.some((n) => n.endsWith('.br')), local.join());
  assert.deepEqual(r.uploaded.map((u) => u.key.slice('app/'.length)).sort(), local);
  assert.equal(r.present, 0);
  assert.equal(r.kind, 'tree');
  const puts = server.objectPuts();
  assert.deepEqual(
    [...puts].sort(),
    local.map((n) => `app/${n}`),
  );
  assert.equal(puts.at(-1), 'app/app.tree.json', 'the manifest is the last PUT');

  const manifest = await fetch(`${server.endpoint}/${BUCKET}/app/app.tree.json`);
  assert.equal(manifest.status, 200);
  assert.equal(manifest.headers.get('content-type'), 'application/json');
  assert.equal(manifest.headers.get('cache-control'), 'no-cache');
  assert.deepEqual(new Uint8Array(await manifest.arrayBuffer()), new Uint8Array(await readFile(join(pub, 'app.tree.json'))));
  const objectName = local.find((n) => n.endsWith('.z.gosync'))!;
  const object = await fetch(`${server.endpoint}/${BUCKET}/app/${objectName}`);
  assert.equal(object.headers.get('content-type'), 'application/octet-stream');
  assert.equal(object.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(object.headers.get('content-encoding'), null, 'a .br object is served as the bytes it is, not decoded on the way');
  assert.deepEqual(new Uint8Array(await object.arrayBuffer()), new Uint8Array(await readFile(join(pub, objectName))));
});

test('a rerun finds everything present and uploads nothing', async () => {
  const before = server.log.length;
  const r = await publishToS3(pub, `s3://${BUCKET}/app`, options());
  assert.equal(r.uploaded.length, 0);
  assert.equal(r.present, (await servedNames(pub)).length);
  const requests = server.log.slice(before);
  assert.deepEqual(
    requests.filter((q) => q.method !== 'GET' && q.method !== 'HEAD'),
    [],
    'no request but the listing and the manifest HEAD',
  );
  assert.equal(requests.filter((q) => q.method === 'HEAD').length, 1, 'one HEAD: the manifest (objects come from the listing)');
});

test('an interrupted upload is completed by a rerun that sends only what did not arrive, manifest last', async () => {
  const v1 = new Set(server.objectPuts());
  await build(src2, pub);
  const before = server.log.length;
  const stop = new AbortController();
  let uploads = 0;
  await assert.rejects(
    publishToS3(
      pub,
      `s3://${BUCKET}/app`,
      options({
        concurrency: 1,
        signal: stop.signal,
        onProgress: (p) => {
          if (p.bytes > 0 && ++uploads === 2) stop.abort();
        },
      }),
    ),
    (err: unknown) => SyncError.is(err) && err.code === ErrorCodes.ABORTED,
  );
  const first = server.objectPuts(before);
  assert.equal(first.length, 2, `two objects arrived before the abort: ${first.join()}`);
  assert.ok(!first.includes('app/app.tree.json'), 'the manifest is not sent before its objects');
  const middle = server.log.length;
  const r = await publishToS3(pub, `s3://${BUCKET}/app`, options());
  const second = server.objectPuts(middle);
  assert.equal(second.at(-1), 'app/app.tree.json');
  assert.deepEqual(
    second.filter((k) => first.includes(k)),
    [],
    'nothing that arrived is sent again',
  );
  const expected = (await servedNames(pub)).map((n) => `app/${n}`);
  assert.ok(
    expected.some((n) => /\.g-[0-9a-f]{16}$/.test(n)),
    'v2 lists deltas from v1',
  );
  assert.deepEqual(
    [...first, ...second].sort(),
    expected.filter((n) => !v1.has(n) || n === 'app/app.tree.json').sort(),
    'what v2 adds and the new manifest, each once',
  );
  assert.equal(r.uploaded.length, second.length);
  assert.ok(second.length >= 3, `the rest of v2 went up: ${second.join()}`);

  // Everything the manifest names is in the bucket now: listing the prefix shows each local file.
  const rerun = await publishToS3(pub, `s3://${BUCKET}/app`, options({ dryRun: true }));
  assert.deepEqual(rerun.uploaded, []);
});

test('a client patches its folder from the bucket over HTTP, with range requests', async () => {
  const local = join(base, 'client');
  await cp(src1, local, { recursive: true, preserveTimestamps: true });
  const before = server.log.length;
  const r = await runCli(['patch', local, `${server.endpoint}/${BUCKET}/app/app.tree.json`, '--delete', '--json'], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  assertSameTree(await snapshot(local), await snapshot(src2), { root: false });
  const gets = server.log.slice(before).filter((q) => q.method === 'GET');
  assert.ok(
    gets.some((q) => q.range !== undefined && q.status === 206 && q.key.startsWith('app/objects/')),
    'blocks of a changed file were fetched as ranges',
  );
  assert.ok(gets.every((q) => q.status === 200 || q.status === 206));
});

test('PUTs the server fails are retried (the SDK standard strategy); a PUT that keeps failing stops the publish before the manifest', async () => {
  const prefix = 'retried';
  const failed = new Map<string, number>();
  server.fault = (method, key, query) => {
    if (method !== 'PUT' || !key.startsWith(`${prefix}/objects/`) || query.includes('uploadId')) return undefined;
    const n = failed.get(key) ?? 0;
    failed.set(key, n + 1);
    return n === 0 ? 503 : undefined;
  };
  try {
    const before = server.log.length;
    const r = await publishToS3(pub, `s3://${BUCKET}/${prefix}`, options());
    const objects = r.uploaded.filter((u) => u.key.includes('/objects/')).length;
    assert.ok(objects > 0);
    const putsOfObjects = server.log.slice(before).filter((q) => q.method === 'PUT' && q.key.startsWith(`${prefix}/objects/`));
    assert.equal(putsOfObjects.length, 2 * objects, 'each object: a 503, then its retry');
    assert.equal(server.objectPuts().at(-1), `${prefix}/app.tree.json`);

    server.fault = (method, key) => (method === 'PUT' && key.startsWith('broken/objects/') ? 500 : undefined);
    const brokenBefore = server.log.length;
    await assert.rejects(publishToS3(pub, `s3://${BUCKET}/broken`, options({ maxAttempts: 2 })), (err: unknown) => {
      assert.ok(SyncError.is(err) && err.code === ErrorCodes.NETWORK, String(err));
      return true;
    });
    const brokenPuts = server.log.slice(brokenBefore).filter((q) => q.method === 'PUT');
    assert.ok(brokenPuts.length > 0 && brokenPuts.every((q) => q.key !== 'broken/app.tree.json'), 'the manifest is never sent');
  } finally {
    server.fault = undefined;
  }
});

test('large files go up as multipart uploads, and arrive whole', async () => {
  const dir = join(base, 'big');
  const out = join(base, 'big-pub');
  const big = randomBytes(11 * 1024 * 1024 + 123, 21);
  await put(dir, 'big.bin', big);
  await build(dir, out, '--no-compress');
  const before = server.log.length;
  const r = await publishToS3(out, `s3://${BUCKET}/big`, options({ partSize: 5 * 1024 * 1024 }));
  const key = r.uploaded.find((u) => u.bytes === big.length)!.key;
  const parts = server.log.slice(before).filter((q) => q.method === 'PUT' && q.key === key && q.query.includes('partNumber'));
  assert.equal(parts.length, 3, 'three parts of at most 5 MiB');
  const got = await fetch(`${server.endpoint}/${BUCKET}/${key}`);
  assert.deepEqual(new Uint8Array(await got.arrayBuffer()), big);
});

test('gosync publish: credentials from the environment, --dry-run lists and sends nothing, --json reports', async () => {
  const env = s3Env();
  const target = `s3://${BUCKET}/cli`;
  const before = server.log.length;
  const dry = await runCliWith(['publish', pub, target, '--endpoint', server.endpoint, '--force-path-style', '-n'], env);
  assert.equal(dry.code, 0, dry.stderr);
  const listed = dry.stdout.split('\n').filter((l) => l.startsWith('would upload cli/'));
  assert.equal(listed.length, (await servedNames(pub)).length);
  assert.equal(listed.at(-1)?.startsWith('would upload cli/app.tree.json'), true, 'the manifest is listed last');
  assert.deepEqual(
    server.log.slice(before).filter((q) => q.method === 'PUT'),
    [],
  );

  const real = await runCliWith(['publish', pub, target, '--endpoint', server.endpoint, '--force-path-style', '--json'], env);
  assert.equal(real.code, 0, real.stderr);
  const report = JSON.parse(real.stdout);
  assert.equal(report.bucket, BUCKET);
  assert.equal(report.prefix, 'cli/');
  assert.equal(report.uploaded.length, listed.length);
  assert.equal(report.dryRun, false);

  const denied = await runCliWith(['publish', pub, target, '--endpoint', server.endpoint, '--force-path-style'], {
    ...env,
    AWS_ACCESS_KEY_ID: 'UNKNOWN',
  });
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /InvalidAccessKeyId.*GOSYNC_ERR_HTTP_STATUS/);

  // The shared credentials file, as the SDK's chain reads it (s3rver refuses an unknown key id, so this one was read).
  const credentials = join(base, 'aws-credentials');
  await writeFile(
    credentials,
    `[gosync-test]\naws_access_key_id = ${S3_CREDENTIALS.accessKeyId}\naws_secret_access_key = ${S3_CREDENTIALS.secretAccessKey}\n`,
  );
  const { AWS_ACCESS_KEY_ID: _id, AWS_SECRET_ACCESS_KEY: _secret, ...noKeys } = env;
  const fromFile = await runCliWith(['publish', pub, target, '--endpoint', server.endpoint, '--force-path-style', '--json'], {
    ...noKeys,
    AWS_ACCESS_KEY_ID: '',
    AWS_SECRET_ACCESS_KEY: '',
    AWS_SHARED_CREDENTIALS_FILE: credentials,
    AWS_PROFILE: 'gosync-test',
  });
  assert.equal(fromFile.code, 0, fromFile.stderr);
  assert.equal(JSON.parse(fromFile.stdout).present, listed.length);

  const usage = await runCliWith(['publish', pub, 'https://example.com/x'], env);
  assert.equal(usage.code, 2);
});

test('a single-file publish uploads the file and its forms and deltas first, the index last; the history stays home', async () => {
  const dir = join(base, 'single');
  const file = join(dir, 'notes.txt');
  await put(dir, 'notes.txt', TEXT.repeat(2000));
  let r = await runCli(['build', '--history', '2', file], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  await put(dir, 'notes.txt', `${TEXT.repeat(1000)}changed\n${TEXT.repeat(1000)}`, 0o644, T0 + 1000);
  r = await runCli(['build', '--history', '2', file], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  const local = (await filesOf(dir)).filter((n) => !n.startsWith('notes.txt.gosync-versions/'));
  assert.ok(
    local.some((n) => n.startsWith('notes.txt.gosyncd-')),
    `a delta was published: ${local.join()}`,
  );

  const before = server.log.length;
  const report = await publishToS3(dir, `s3://${BUCKET}/single/`, options());
  assert.equal(report.kind, 'file');
  const puts = server.objectPuts(before);
  // What the index names, and the index (a whole stream an earlier build wrote and the
  // index no longer lists stays home).
  const listed = [...(await indexDataNames(dir, 'notes.txt.gosync')), 'notes.txt.gosync'].sort();
  assert.ok(listed.every((n) => local.includes(n)));
  assert.deepEqual(
    [...puts].sort(),
    listed.map((n) => `single/${n}`),
  );
  assert.equal(puts.at(-1), 'single/notes.txt.gosync');
  for (const key of puts) {
    const got = await fetch(`${server.endpoint}/${BUCKET}/${key}`, { method: 'HEAD' });
    assert.equal(got.headers.get('cache-control'), 'no-cache', key);
  }
  const again = await publishToS3(dir, `s3://${BUCKET}/single/`, options());
  assert.deepEqual(again.uploaded, [], 'a rerun: every file present with its SHA-256');

  const old = join(base, 'old-notes.txt');
  await put(base, 'old-notes.txt', TEXT.repeat(1999));
  const patched = await runCli(['patch', old, `${server.endpoint}/${BUCKET}/single/notes.txt.gosync`], { timeoutMs: 120_000 });
  assert.equal(patched.code, 0, patched.stderr);
  assert.deepEqual(await readFile(old), await readFile(file));
});

/**
 * Runs the CLI with a module hook that reports, on exit, whether any module of the AWS
 * SDK was loaded.
 */
async function loadsSdk(args: string[], env: Record<string, string> = {}): Promise<{ code: number; sdk: boolean; stderr: string }> {
  const hook = [
    "import { registerHooks } from 'node:module';",
    'let sdk = false;',
    "registerHooks({ load(url, context, next) { if (url.includes('@aws-sdk')) sdk = true; return next(url, context); } });",
    "process.on('exit', () => process.stderr.write('\\nSDK-LOADED=' + sdk + '\\n'));",
  ].join('\n');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', `data:text/javascript,${encodeURIComponent(hook)}`, CLI, ...args],
      { env: { ...process.env, ...env }, timeout: 120_000 },
      (err, _stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, sdk: stderr.includes('SDK-LOADED=true'), stderr });
      },
    );
  });
}

test('the AWS SDK is loaded by publish only: not by other commands, nor by importing the package', async () => {
  const publishRun = await loadsSdk(
    ['publish', pub, `s3://${BUCKET}/app`, '--endpoint', server.endpoint, '--force-path-style', '-n'],
    s3Env(),
  );
  assert.equal(publishRun.code, 0, publishRun.stderr);
  assert.equal(publishRun.sdk, true, 'publish loads it (the probe sees the SDK)');
  const other = join(base, 'sdk-probe');
  await put(other, 'a.txt', TEXT);
  const buildRun = await loadsSdk(['build', other, '-o', join(base, 'sdk-probe-pub')]);
  assert.equal(buildRun.code, 0, buildRun.stderr);
  assert.equal(buildRun.sdk, false, 'build does not');
  const pruneRun = await loadsSdk(['prune', join(base, 'sdk-probe-pub'), '-n']);
  assert.equal(pruneRun.code, 0, pruneRun.stderr);
  assert.equal(pruneRun.sdk, false, 'prune does not');

  const entry = new URL('../../src/mod.js', import.meta.url).href;
  const probe = [
    "import { registerHooks } from 'node:module';",
    'let sdk = false;',
    "registerHooks({ load(url, context, next) { if (url.includes('@aws-sdk')) sdk = true; return next(url, context); } });",
    `const api = await import(${JSON.stringify(entry)});`,
    "if (typeof api.publishToS3 !== 'function' || typeof api.prunePublishFolder !== 'function') throw new Error('not exported');",
    'process.stdout.write(String(sdk));',
  ].join('\n');
  const imported = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ['--input-type=module', '-e', probe], (err, stdout, stderr) =>
      err ? reject(new Error(stderr)) : resolve(stdout),
    ),
  );
  assert.equal(imported, 'false', 'importing the package does not');
});
