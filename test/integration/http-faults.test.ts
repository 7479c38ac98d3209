/**
 * Patching through a misbehaving HTTP server: each fault ends in a correct result or in
 * the documented error, and the local file is never changed by a failed patch.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/errors.js';
import { patchFile } from '../../src/patch-file.js';
import { HttpSource } from '../../src/sources/http-source.js';
import { concat, indexOf, randomBytes } from '../helpers/data.js';
import { startFaultServer, type FaultRequest, type Reply } from '../helpers/fault-server.js';

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
  const source = new HttpSource(server.url('/app.bin'), { expectedSize: newData.length, retries: 2, retryDelayMs: 5, maxRetryDelayMs: 20, timeoutMs: 2000 });
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
  assert.deepEqual((await readdir(dir)).filter((f) => f.includes('gosync-tmp')), [], 'no temporary file left');
}

test('a server that ignores Range (200 with the whole body) still gives the right file', async () => {
  const r = await patchThrough('full', () => ({ kind: 'full' }));
  assert.equal(r.error, undefined);
  assert.deepEqual(await readFile(r.local), Buffer.from(newData));
});

test('a connection dropped mid-body is resumed', async () => {
  let cut = false;
  const r = await patchThrough('cut', (req) => {
    if (req.method === 'GET' && !cut) {
      cut = true;
      return { cutAfter: 1000 };
    }
    return {};
  });
  assert.equal(r.error, undefined, String(r.error));
  assert.deepEqual(await readFile(r.local), Buffer.from(newData));
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
