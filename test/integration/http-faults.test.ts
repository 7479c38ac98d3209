/**
 * Patching through a misbehaving HTTP server: each fault ends in a correct result or in
 * the documented error, and the local file is never changed by a failed patch.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { patchFile } from '../../src/file/patch-file.js';
import { HttpSource } from '../../src/sources/http/http-source.js';
import { concat, indexOf, randomBytes } from '../helpers/data.js';
import { multipartBody, startFaultServer, type FaultRequest, type Reply } from '../helpers/fault-server.js';

let dir: string;
const oldData = randomBytes(400_000, 7);
const newData = concat(randomBytes(5000, 8), oldData.subarray(0, 200_000), randomBytes(3000, 9), oldData.subarray(210_000));

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-faults-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function patchThrough(name: string, reply: (r: FaultRequest) => Reply) {
  const server = await startFaultServer({ resource: { body: newData }, reply });
  const local = join(dir, name);
  await writeFile(local, oldData);
  const index = await indexOf(newData);
  const source = new HttpSource(server.url('/app.bin'), {
    expectedSize: newData.length,
    retries: 2,
    retryDelayMs: 5,
    maxRetryDelayMs: 20,
    timeoutMs: 2000,
  });
  try {
    const report = await patchFile({ local, index, source });
    return { local, report, requests: server.requests, error: undefined as unknown };
  } catch (error) {
    return { local, report: undefined, requests: server.requests, error };
  } finally {
    await source.close();
    await server.close();
  }
}

async function assertUntouched(local: string) {
  assert.deepEqual(await readFile(local), Buffer.from(oldData), 'local file unchanged');
  assert.deepEqual(
    (await readdir(dir)).filter((f) => f.includes('gosync-tmp')),
    [],
    'no temporary file left',
  );
}

test('a server that ignores Range (200 with the whole body) still gives the right file', async () => {
  const r = await patchThrough('full', () => ({ kind: 'full' }));
  assert.equal(r.error, undefined);
  assert.deepEqual(await readFile(r.local), Buffer.from(newData));
});

/** The ranges of a `Range: bytes=a-b,c-d` header, as half-open [start, end) pairs. */
function rangesOf(header: string | undefined): [number, number][] {
  if (header === undefined || !header.startsWith('bytes=')) assert.fail(`not a byte-range Range header: ${header}`);
  return header
    .slice('bytes='.length)
    .split(',')
    .map((spec) => {
      const [a, b] = spec.split('-').map(Number) as [number, number];
      return [a, b + 1];
    });
}

test('a connection dropped mid-body is resumed: the retry asks only for the ranges still missing', async () => {
  let cut: number | undefined;
  const r = await patchThrough('cut', (req) => {
    if (req.method !== 'GET' || cut !== undefined) return {};
    // Cut the answer inside the body of its second part: the first part is complete (the
    // boundary after it has come in), the second is not.
    const asked = rangesOf(req.range);
    assert.ok(asked.length >= 2, `the first GET asks for several ranges: ${req.range}`);
    const body = multipartBody(
      newData,
      asked.map(([start, end]) => ({ start, end })),
    );
    const [start, end] = asked[1]!;
    const header = body.indexOf(`Content-Range: bytes ${start}-${end - 1}/`);
    const second = body.indexOf('\r\n\r\n', header) + 4;
    assert.ok(header > 0 && end - start > 2, 'the second part is found in the body');
    cut = second + Math.floor((end - start) / 2);
    return { cutAfter: cut };
  });
  assert.equal(r.error, undefined, String(r.error));
  assert.deepEqual(await readFile(r.local), Buffer.from(newData));
  const gets = r.requests.filter((q) => q.method === 'GET');
  assert.ok(cut !== undefined && gets[0]!.aborted, 'the first answer was cut');
  assert.equal(gets.length, 2, gets.map((q) => q.range).join(' | '));
  // The retry: every range of the first request except the first, which had fully arrived.
  assert.deepEqual(rangesOf(gets[1]!.range), rangesOf(gets[0]!.range).slice(1));
});

test('wrong bytes from the server: BLOCK_MISMATCH, nothing lost', async () => {
  const r = await patchThrough('corrupt', (req) => (req.method === 'GET' ? { corrupt: true } : {}));
  assert.ok(SyncError.is(r.error) && r.error.code === ErrorCodes.BLOCK_MISMATCH, String(r.error));
  await assertUntouched(r.local);
});

test('404 for the reference: HTTP_STATUS, nothing lost', async () => {
  const r = await patchThrough('404', () => ({ kind: 'status', status: 404 }));
  assert.ok(SyncError.is(r.error) && r.error.code === ErrorCodes.HTTP_STATUS && r.error.status === 404, String(r.error));
  assert.match((r.error as Error).message, /404/);
  await assertUntouched(r.local);
});

test('a connection that always drops: NETWORK after the retries, nothing lost', async () => {
  const r = await patchThrough('drops', (req) => (req.method === 'GET' ? { cutAfter: 10 } : {}));
  assert.ok(SyncError.is(r.error) && r.error.code === ErrorCodes.NETWORK, String(r.error));
  await assertUntouched(r.local);
});

test('the reference replaced mid-transfer (new ETag): SOURCE_CHANGED, nothing lost', async () => {
  let n = 0;
  const server = await startFaultServer({
    resource: () => ({ body: newData, etag: n++ < 1 ? '"v1"' : '"v2"' }),
  });
  const local = join(dir, 'changed');
  await writeFile(local, oldData);
  const index = await indexOf(newData);
  // Many small requests over one connection, so that a later one sees the new version.
  const source = new HttpSource(server.url('/app.bin'), { connections: 1, maxRangesPerRequest: 1, retries: 0 });
  try {
    await assert.rejects(patchFile({ local, index, source }), (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.SOURCE_CHANGED);
  } finally {
    await source.close();
    await server.close();
  }
  await assertUntouched(local);
});
