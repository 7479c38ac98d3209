/**
 * The source gets ready while the local file is scanned (BlockSource.prepare): for a large
 * reference the HTTP source's multi-range probe goes out when the matcher's scan starts, not
 * as the fetch's first round trip, and the patch's report still counts it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { patchFile } from '../../src/file/patch-file.js';
import { HttpSource } from '../../src/sources/http/http-source.js';
import { concat, indexOf, randomBytes } from '../helpers/data.js';
import { startFaultServer } from '../helpers/fault-server.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-prepare-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Patches `oldData` to `newData` through a fault server; what the server saw, and when. */
async function patchThrough(name: string, oldData: Uint8Array, newData: Uint8Array) {
  const server = await startFaultServer({ resource: { body: newData } });
  const local = join(dir, name);
  await writeFile(local, oldData);
  const index = await indexOf(newData);
  const source = new HttpSource(server.url('/app.bin'), { expectedSize: newData.length });
  // The requests the server had seen at each progress report of the scan.
  const seenDuringScan: number[] = [];
  try {
    const report = await patchFile({
      local,
      index,
      source,
      threads: 1,
      onProgress: (p) => {
        if (p.phase === 'scan') seenDuringScan.push(server.requests.length);
      },
    });
    assert.deepEqual(await readFile(local), Buffer.from(newData));
    return { report, requests: server.requests.map((r) => r.method), seenDuringScan };
  } finally {
    await source.close();
    await server.close();
  }
}

test('a large reference: the multi-range probe is answered while the local file is scanned', async () => {
  const newData = randomBytes(24 * 1024 * 1024, 3);
  // Another size (so not the in-place check), two places changed: a multi-range fetch.
  const oldData = concat(
    randomBytes(1000, 4),
    newData.subarray(0, 8_000_000),
    randomBytes(5000, 5),
    newData.subarray(8_010_000, 20_000_000),
    newData.subarray(20_050_000),
  );
  const r = await patchThrough('large.bin', oldData, newData);
  assert.equal(r.requests[0], 'HEAD');
  assert.ok(r.requests.slice(1).every((m) => m === 'GET'));
  assert.ok(r.requests.length >= 2);
  // The last progress report of the scan comes after its last read: the HEAD was in by then.
  assert.ok(r.seenDuringScan.length > 1);
  assert.ok(r.seenDuringScan.at(-1)! >= 1, `requests seen during the scan: ${r.seenDuringScan.join(' ')}`);
  // The report counts the probe with the GETs.
  assert.equal(r.report.requests, r.requests.length);
});

test('a small reference: nothing is asked before the fetch', async () => {
  const newData = randomBytes(2 * 1024 * 1024, 6);
  const oldData = concat(
    newData.subarray(0, 500_000),
    randomBytes(3000, 7),
    newData.subarray(510_000, 1_500_000),
    newData.subarray(1_600_000),
  );
  const r = await patchThrough('small.bin', oldData, newData);
  assert.ok(r.seenDuringScan.length > 0);
  assert.ok(
    r.seenDuringScan.every((n) => n === 0),
    `requests seen during the scan: ${r.seenDuringScan.join(' ')}`,
  );
  assert.deepEqual(r.requests.slice(0, 1), ['HEAD']);
  assert.equal(r.report.requests, r.requests.length);
});
