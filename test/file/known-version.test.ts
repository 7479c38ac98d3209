/**
 * Known versions through a real nginx: a client holding a base the publisher named reads
 * the index's summary and that base's delta, nothing else; every other case falls back to
 * the whole index, and a damaged delta never touches the local file.
 */
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { buildIndexFile } from '../../src/file/build-file.js';
import { patchKnownVersion } from '../../src/file/known-version.js';
import { tempPath } from '../../src/localfs/staging.js';
import { runCli } from '../helpers/cli.js';
import { concat, randomBytes } from '../helpers/data.js';
import { startHostProxy } from '../helpers/host-proxy.js';
import { requireNginx, type NginxServer } from '../helpers/nginx.js';

let dir: string;
let root: string;
const v1 = randomBytes(400_000, 501);
const v2 = concat(v1.subarray(0, 100_000), randomBytes(2000, 502), v1.subarray(100_500, 300_000), v1.subarray(310_000));
const v3 = concat(v2.subarray(0, 50_000), randomBytes(1000, 503), v2.subarray(50_000));

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-known-'));
  root = join(dir, 'www');
  await mkdir(root);
  await writeFile(join(dir, 'v1.bin'), v1);
  await writeFile(join(dir, 'v2.bin'), v2);
  await writeFile(join(root, 'app.bin'), v3);
  await buildIndexFile(join(root, 'app.bin'), join(root, 'app.bin.gosync'), {
    compress: { bases: [join(dir, 'v2.bin'), join(dir, 'v1.bin')] },
  });
  await writeFile(join(root, 'plain.bin'), v3);
  await buildIndexFile(join(root, 'plain.bin'), join(root, 'plain.bin.gosync'));
  await writeFile(join(root, 'framed.bin'), v3);
  await buildIndexFile(join(root, 'framed.bin'), join(root, 'framed.bin.gosync'), { compress: {} });
  await writeFile(join(root, 'one.bin'), v3);
  await buildIndexFile(join(root, 'one.bin'), join(root, 'one.bin.gosync'), { compress: { bases: [join(dir, 'v2.bin')] } });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function local(name: string, data: Uint8Array): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, data);
  return p;
}

async function served(t: TestContext): Promise<NginxServer | undefined> {
  const server = await requireNginx(t, root);
  if (server) t.after(() => server.close());
  return server;
}

/**
 * A proxy in front of `server` that logs when each request arrives and when each answer is
 * let through (`index asked`, `delta answered 404`, …), holding every answer for an index
 * `hold` ms (changeable).
 */
async function loggingProxy(t: TestContext, server: NginxServer, hold: number): Promise<{ url: string; events: string[]; hold: number }> {
  const state = { url: '', events: [] as string[], hold };
  const proxy = createServer((req, res) => {
    const isIndex = req.url!.endsWith('.gosync');
    state.events.push(`${isIndex ? 'index' : 'delta'} asked`);
    const upstream = httpRequest(`${server.url}${req.url!.slice(1)}`, { headers: req.headers }, (answer) => {
      const release = () => {
        state.events.push(`${isIndex ? 'index' : 'delta'} answered ${answer.statusCode}`);
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      };
      if (isIndex && state.hold > 0) setTimeout(release, state.hold);
      else release();
    });
    upstream.end();
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
  state.url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/`;
  return state;
}

test('a listed base fetches the summary and its delta only, and is rebuilt exactly', async (t) => {
  const server = await served(t);
  if (!server) return;
  for (const [name, data, requests] of [
    ['one', v2, 2],
    ['app', v2, 3],
    ['app', v1, 3],
  ] as const) {
    const before = await server.bytesSent();
    const entriesBefore: number = (await server.accessEntries()).length;
    const path = await local(`${name}-local.bin`, data);
    const r = await patchKnownVersion({ local: path, indexUrl: `${server.url}${name}.bin.gosync` });
    assert.equal(r.applied, true, JSON.stringify(r));
    if (!r.applied) return;
    assert.deepEqual(await readFile(path), Buffer.from(v3));
    assert.equal(r.requests, requests, `${name}: the summary (in one or two parts) and the delta`);
    const entries: unknown[] = (await server.accessEntries({ requests: entriesBefore + requests })).slice(entriesBefore);
    assert.equal(entries.length, requests);
    const wire: number = (await server.bytesSent()) - before;
    assert.equal(wire, r.indexBytes + r.deltaBytes, 'nothing else crossed the wire');
    assert.ok(r.indexBytes <= 49 + 8 * 2 + 8, `summary ${r.indexBytes} B`);
    assert.ok(r.deltaBytes < 6000, `delta ${r.deltaBytes} B`);
  }
});

test('a small file is hashed without a thread of its own, a large one on it: the same result', async (t) => {
  const server = await served(t);
  if (!server) return;
  let threads = 0;
  const counted = () => threads++;
  subscribe('worker_threads', counted);
  t.after(() => unsubscribe('worker_threads', counted));
  for (const [hashThreadMinSize, expected] of [
    [undefined, 0],
    [0, 1],
  ] as const) {
    threads = 0;
    const path = await local('threads-local.bin', v2);
    const r = await patchKnownVersion({
      local: path,
      indexUrl: `${server.url}one.bin.gosync`,
      ...(hashThreadMinSize === undefined ? {} : { hashThreadMinSize }),
    });
    assert.equal(r.applied, true, JSON.stringify(r));
    assert.deepEqual(await readFile(path), Buffer.from(v3));
    assert.equal(threads, expected, `threads started with hashThreadMinSize ${hashThreadMinSize}`);
    // A local version the index does not list: its digest is compared, nothing applied.
    const other = await local('threads-other.bin', randomBytes(400_000, 506));
    const miss = await patchKnownVersion({
      local: other,
      indexUrl: `${server.url}one.bin.gosync`,
      ...(hashThreadMinSize === undefined ? {} : { hashThreadMinSize }),
    });
    assert.equal(miss.applied, false);
  }
});

test('behind redirects to signed URLs (GitHub release assets), the delta is named from the URL asked for', async (t) => {
  const server = await served(t);
  if (!server) return;
  const proxy = await startHostProxy({ target: { port: server.port }, behaviour: 'github' });
  t.after(() => proxy.close());
  const path = await local('github-local.bin', v1);
  const r = await patchKnownVersion({ local: path, indexUrl: `${proxy.url}app.bin.gosync` });
  assert.equal(r.applied, true, JSON.stringify(r));
  assert.deepEqual(await readFile(path), Buffer.from(v3));
  // Every request went to a public name first, then to its own signed URL.
  const asked = proxy.log.filter((e) => !e.path.startsWith('/signed')).map((e) => e.path);
  assert.ok(
    asked.some((p) => p.startsWith('/app.bin.gosyncd-')),
    JSON.stringify(asked),
  );
});

test('temporary files a stopped run left beside the output are removed once the delta is applied', async (t) => {
  const server = await served(t);
  if (!server) return;
  const path = await local('stale-local.bin', v2);
  const stale = [tempPath(path), tempPath(path)];
  for (const p of stale) await writeFile(p, v3.subarray(0, 50_000));
  assert.equal((await readdir(dir)).filter((n) => n.startsWith('.stale-local.bin.') && n.endsWith('.gosync-tmp')).length, 2);
  const r = await patchKnownVersion({ local: path, indexUrl: `${server.url}one.bin.gosync` });
  assert.equal(r.applied, true, JSON.stringify(r));
  assert.deepEqual(await readFile(path), Buffer.from(v3));
  const temps = async () => (await readdir(dir)).filter((n) => n.startsWith('.stale-local.bin.') && n.endsWith('.gosync-tmp'));
  assert.deepEqual(await temps(), []);
});

test('no summary, no listed base, or a damaged delta: nothing is applied and the local file is untouched', async (t) => {
  const server = await served(t);
  if (!server) return;
  const other = await local('other.bin', randomBytes(400_000, 504));
  const miss = await patchKnownVersion({ local: other, indexUrl: `${server.url}app.bin.gosync` });
  assert.equal(miss.applied, false);
  assert.match((miss as { reason: string }).reason, /no delta from this local version/);
  // A miss hands over the whole index, read as the summary plus the bytes before it: no byte twice.
  const whole = await readFile(join(root, 'app.bin.gosync'));
  assert.deepEqual(Buffer.from((miss as { index?: { body: Uint8Array } }).index!.body), whole);
  assert.equal(miss.indexBytes, whole.length);
  const old = await local('plain-local.bin', v2);
  const plain = await patchKnownVersion({ local: old, indexUrl: `${server.url}plain.bin.gosync` });
  assert.equal(plain.applied, false);
  assert.match((plain as { reason: string }).reason, /no summary/);
  assert.deepEqual(Buffer.from((plain as { index?: { body: Uint8Array } }).index!.body), await readFile(join(root, 'plain.bin.gosync')));
  // A summary that lists no base (compressed forms, no --base): a miss without the local digest.
  const framed = await patchKnownVersion({ local: old, indexUrl: `${server.url}framed.bin.gosync`, hashThreadMinSize: 0 });
  assert.equal(framed.applied, false);
  assert.match((framed as { reason: string }).reason, /^the index lists no delta$/);
  assert.deepEqual(Buffer.from((framed as { index?: { body: Uint8Array } }).index!.body), await readFile(join(root, 'framed.bin.gosync')));
  const none = await patchKnownVersion({ local: join(dir, 'missing.bin'), indexUrl: `${server.url}app.bin.gosync` });
  assert.equal(none.applied, false);
  // The delta for v2 damaged on the server: refused, the local file stays v2, no temporary file.
  const deltaName = (await readdir(root)).find((n) => n.startsWith('one.bin.gosyncd-'))!;
  const saved = await readFile(join(root, deltaName));
  try {
    const damaged = Buffer.from(saved);
    damaged[damaged.length >> 1]! ^= 0x40;
    await writeFile(join(root, deltaName), damaged);
    const path = await local('damaged-local.bin', v2);
    const r = await patchKnownVersion({ local: path, indexUrl: `${server.url}one.bin.gosync` });
    assert.equal(r.applied, false);
    assert.deepEqual(await readFile(path), Buffer.from(v2));
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.startsWith('.damaged-local.bin')),
      [],
    );
    // The command line then patches from the whole index, and gets there.
    const cli = await runCli(['patch', '--json', path, `${server.url}one.bin.gosync`]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.deepEqual(await readFile(path), Buffer.from(v3));
  } finally {
    await writeFile(join(root, deltaName), saved);
  }
});

test('the command line patches a known version with the summary and the delta', async (t) => {
  const server = await served(t);
  if (!server) return;
  const path = await local('cli-local.bin', v1);
  const out = join(dir, 'cli-out.bin');
  await copyFile(path, `${path}.copy`);
  const before = await server.bytesSent();
  const r = await runCli(['patch', '--json', path, `${server.url}app.bin.gosync`, '-o', out]);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.plan, 'base');
  assert.deepEqual(await readFile(out), Buffer.from(v3));
  assert.deepEqual(await readFile(path), await readFile(`${path}.copy`), 'the local file is left as it was with -o');
  assert.equal((await server.bytesSent({ requests: 0 })) - before, report.receivedBytes);
});

test('the delta is asked for beside the summary, not after it; an unlisted version costs one 404', async (t) => {
  const server = await served(t);
  if (!server) return;
  // Every answer for an index held 300 ms; each request and each answer logged.
  const { url, events } = await loggingProxy(t, server, 300);
  const path = await local('early-local.bin', v2);
  const r = await patchKnownVersion({ local: path, indexUrl: `${url}one.bin.gosync`, earlyDeltaMinSize: 0 });
  assert.equal(r.applied, true, JSON.stringify(r));
  assert.deepEqual(await readFile(path), Buffer.from(v3));
  assert.equal(r.requests, 2);
  assert.ok(
    events.indexOf('delta asked') >= 0 && events.indexOf('delta asked') < events.indexOf('index answered 206'),
    `the delta was asked for before the summary came back: ${events.join(', ')}`,
  );
  // A version the index does not list: its early request finds nothing (404), and the
  // client goes on with the whole index.
  events.length = 0;
  const other = await local('early-other.bin', randomBytes(400_000, 505));
  const miss = await patchKnownVersion({ local: other, indexUrl: `${url}one.bin.gosync`, earlyDeltaMinSize: 0 });
  assert.equal(miss.applied, false);
  assert.ok(events.includes('delta answered 404'), events.join(', '));
  assert.equal((miss as { index?: { body: Uint8Array } }).index?.body.length, (await readFile(join(root, 'one.bin.gosync'))).length);
  // Below EARLY_DELTA_MIN_SIZE (the default) nothing is asked for early: no 404 for a small
  // file the index does not list.
  events.length = 0;
  const small = await patchKnownVersion({ local: other, indexUrl: `${url}one.bin.gosync` });
  assert.equal(small.applied, false);
  assert.ok(!events.some((e) => e.startsWith('delta')), events.join(', '));
});

test('a local file that already is the new version reads the summary only: copied to -o, or left as it is', async (t) => {
  const server = await served(t);
  if (!server) return;
  // app.bin lists bases, so the local digest is waited for: the outcome does not depend on which answer comes first.
  const path = await local('same-local.bin', v3);
  const out = join(dir, 'same-out.bin');
  const before = await server.bytesSent();
  const copied = await patchKnownVersion({ local: path, indexUrl: `${server.url}app.bin.gosync`, output: out });
  assert.equal(copied.applied, true, JSON.stringify(copied));
  if (!copied.applied) return;
  assert.equal(copied.kind, 'identical');
  assert.equal(copied.upToDate, false);
  assert.equal(copied.deltaBytes, 0);
  assert.deepEqual(await readFile(out), Buffer.from(v3));
  assert.ok(copied.indexBytes <= 49 + 8 * 2 + 8, `summary ${copied.indexBytes} B`);
  // Nothing else crossed the wire (for a file this small no delta is asked for beside the summary).
  const wire = (await server.bytesSent()) - before;
  assert.ok(wire < copied.indexBytes + 1000, `${wire} B crossed the wire`);

  const inPlace = await patchKnownVersion({ local: path, indexUrl: `${server.url}app.bin.gosync` });
  assert.equal(inPlace.applied, true, JSON.stringify(inPlace));
  if (!inPlace.applied) return;
  assert.equal(inPlace.kind, 'identical');
  assert.equal(inPlace.upToDate, true);
  assert.deepEqual(await readFile(path), Buffer.from(v3));

  // The command line says so, in the usual report's fields.
  const r = await runCli(['patch', '--json', path, `${server.url}app.bin.gosync`, '-o', join(dir, 'same-cli.bin')]);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.plan, 'raw');
  assert.equal(report.reusedBytes, v3.length);
  assert.equal(report.fetchedBytes, 0);
  assert.equal(report.upToDate, false);
  assert.deepEqual(await readFile(join(dir, 'same-cli.bin')), Buffer.from(v3));
});

test('with few cores a large local file is hashed only once the summary is slow to come or needs it', async (t) => {
  const server = await served(t);
  if (!server) return;
  const proxy = await loggingProxy(t, server, 0);
  const { url, events } = proxy;
  // Every file counts as large here, and every early delta is asked for.
  const large = { hashThreadMinSize: 0, earlyDeltaMinSize: 0 };

  // A slow summary: the digest starts while it is awaited and the delta is asked for before it comes.
  proxy.hold = 300;
  const path = await local('lazy-local.bin', v2);
  const r = await patchKnownVersion({ local: path, indexUrl: `${url}one.bin.gosync`, ...large, eagerDigest: false });
  assert.equal(r.applied, true, JSON.stringify(r));
  assert.deepEqual(await readFile(path), Buffer.from(v3));
  assert.ok(
    events.indexOf('delta asked') >= 0 && events.indexOf('delta asked') < events.indexOf('index answered 206'),
    `the delta was asked for before the summary came back: ${events.join(', ')}`,
  );

  // A quick summary that lists no base: the whole index is read, the local file is not hashed
  // (no thread started, no early delta asked for), though it has the new version's size.
  proxy.hold = 0;
  events.length = 0;
  let threads = 0;
  const counted = () => threads++;
  process.on('worker', counted);
  t.after(() => process.off('worker', counted));
  const sameSize = await local('lazy-same-size.bin', randomBytes(v3.length, 506));
  const onMiss: string[] = [];
  const miss = await patchKnownVersion({
    local: sameSize,
    indexUrl: `${url}framed.bin.gosync`,
    ...large,
    eagerDigest: false,
    onMiss: () => onMiss.push('miss'),
  });
  assert.equal(miss.applied, false);
  assert.equal((miss as { index?: { body: Uint8Array } }).index?.body.length, (await readFile(join(root, 'framed.bin.gosync'))).length);
  assert.ok(!events.some((e) => e.startsWith('delta')), events.join(', '));
  assert.deepEqual(onMiss, ['miss']);
  assert.equal(threads, 0);
  // Started at once, the same digest takes a thread.
  const eager = await patchKnownVersion({ local: sameSize, indexUrl: `${url}framed.bin.gosync`, ...large, eagerDigest: true });
  assert.equal(eager.applied, false);
  assert.equal(threads, 1);

  // A quick summary that lists bases: the digest is computed then, and the delta applies.
  events.length = 0;
  const known = await local('lazy-known.bin', v2);
  const applied = await patchKnownVersion({ local: known, indexUrl: `${url}one.bin.gosync`, ...large, eagerDigest: false });
  assert.equal(applied.applied, true, JSON.stringify(applied));
  assert.deepEqual(await readFile(known), Buffer.from(v3));
});
