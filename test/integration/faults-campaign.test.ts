/**
 * The fault campaign: many patches of a real pair through nginx behind a proxy that faults a
 * quarter of the requests (resets, stalls, truncation, a flipped byte, 503/429 with
 * Retry-After, Range ignored), the index included. Every run must end with the exact file or a
 * clean SyncError, the local file unchanged and nothing left beside it; at least 29 of 30 runs
 * must succeed. And a reference replaced mid-transfer must fail cleanly.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SyncError } from '../../src/core/errors.js';
import { buildIndex } from '../../src/core/index/builder.js';
import { loadIndex } from '../../src/file/load-index.js';
import { patchFile } from '../../src/file/patch-file.js';
import { HttpSource } from '../../src/sources/http/http-source.js';
import { binaryUpdate } from '../helpers/host-data.js';
import { startHostProxy } from '../helpers/host-proxy.js';
import { type NginxServer, startNginx } from '../helpers/nginx.js';

const RUNS = 30;
const pair = binaryUpdate(2 << 20, 31);
let dir: string;
let www: string;
let nginx: NginxServer | undefined;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-campaign-'));
  www = join(dir, 'www');
  await mkdir(www);
  await writeFile(join(www, 'app.bin'), pair.next);
  await writeFile(join(www, 'app.bin.gosync'), await buildIndex(pair.next, { fileSize: pair.next.length }));
  nginx = await startNginx(www);
});
after(async () => {
  await nginx?.close();
  await rm(dir, { recursive: true, force: true });
});

/** One patch of the old version into a folder of its own, through `base`. */
async function patchOnce(base: string, name: string): Promise<{ error: unknown; folder: string; local: string }> {
  const folder = join(dir, name);
  await mkdir(folder);
  const local = join(folder, 'app.bin');
  await writeFile(local, pair.old);
  const loaded = await loadIndex(`${base}app.bin.gosync`).catch((error: unknown) => ({ error }));
  if ('error' in loaded) return { error: loaded.error, folder, local };
  const source = new HttpSource(`${base}app.bin`, {
    expectedSize: loaded.index.fileSize,
    timeoutMs: 400,
    retryDelayMs: 20,
    maxRetryDelayMs: 200,
  });
  try {
    await patchFile({ local, index: loaded.index, source });
    return { error: undefined, folder, local };
  } catch (error) {
    return { error, folder, local };
  } finally {
    await source.close();
  }
}

test(`fault campaign: ${RUNS} patches with 25% of requests faulted`, { timeout: 120_000 }, async (t) => {
  if (nginx === undefined) return t.skip('nginx is not installed');
  let succeeded = 0;
  const failures: string[] = [];
  let faulted = 0;
  for (let run = 0; run < RUNS; run++) {
    const proxy = await startHostProxy({
      target: { port: nginx.port },
      behaviour: 'nginx',
      faults: { rate: 0.25, seed: 1000 + run, stallMs: 500 },
    });
    try {
      const { error, folder, local } = await patchOnce(proxy.url, `run-${run}`);
      faulted += proxy.log.filter((e) => e.fault !== undefined).length;
      if (error === undefined) {
        assert.ok(Buffer.from(pair.next).equals(await readFile(local)), `run ${run}: the output is exact`);
        succeeded++;
      } else {
        assert.ok(error instanceof SyncError, `run ${run}: a clean SyncError, not ${String(error)}`);
        assert.ok(Buffer.from(pair.old).equals(await readFile(local)), `run ${run}: the local file is unchanged`);
        failures.push(`run ${run}: ${error.code} ${error.message}`);
      }
      assert.deepEqual(await readdir(folder), ['app.bin'], `run ${run}: nothing left behind`);
    } finally {
      await proxy.close();
    }
  }
  t.diagnostic(`${succeeded}/${RUNS} succeeded, ${faulted} requests faulted${failures.length > 0 ? `; ${failures.join('; ')}` : ''}`);
  assert.ok(faulted >= RUNS, `faults were injected (${faulted})`);
  assert.ok(succeeded >= RUNS - 1, `${succeeded}/${RUNS} succeeded: ${failures.join('; ')}`);
});

test('a flipped byte in every first answer is fetched again; a source that always flips fails cleanly', async (t) => {
  if (nginx === undefined) return t.skip('nginx is not installed');
  const once = await startHostProxy({
    target: { port: nginx.port },
    behaviour: 'nginx',
    faults: { rate: 1, seed: 7, kinds: ['flip'], only: (path) => path === '/app.bin' },
  });
  try {
    // Every GET of the reference carries a flipped byte: the re-reads are bounded, so this
    // ends in a clean BLOCK_MISMATCH with the local file untouched.
    const { error, folder, local } = await patchOnce(once.url, 'always-flipped');
    assert.ok(error instanceof SyncError && error.code === 'GOSYNC_ERR_BLOCK_MISMATCH', String(error));
    assert.ok(Buffer.from(pair.old).equals(await readFile(local)));
    assert.deepEqual(await readdir(folder), ['app.bin']);
    const gets = once.log.filter((e) => e.method === 'GET' && e.path === '/app.bin').length;
    assert.ok(gets >= 3 && gets <= 40, `${gets} GETs: re-read, a bounded number of times`);
  } finally {
    await once.close();
  }
  // Half of the answers flipped, the index's included: fetched again until exact.
  const flips = await startHostProxy({
    target: { port: nginx.port },
    behaviour: 'nginx',
    faults: { rate: 0.5, seed: 3, kinds: ['flip'] },
  });
  try {
    const { error, local } = await patchOnce(flips.url, 'some-flipped');
    assert.equal(error, undefined, String(error));
    assert.ok(Buffer.from(pair.next).equals(await readFile(local)));
    assert.ok(
      flips.log.some((e) => e.fault === 'flip'),
      'bytes were flipped',
    );
  } finally {
    await flips.close();
  }
});

test('a reference replaced mid-transfer fails cleanly with the local file unchanged', async (t) => {
  if (nginx === undefined) return t.skip('nginx is not installed');
  // Different in every block: whichever ranges the requests after the replacement carry (the
  // client's connections take the ranges in no fixed order), they bring the wrong bytes. With
  // only the first 4 KiB changed, a run whose first requests had carried them succeeded.
  const other = new Uint8Array(pair.next);
  for (let i = 0; i < other.length; i += 512) other[i] = other[i]! ^ 0xff;
  await writeFile(join(www, 'other.bin'), other);
  let requests = 0;
  const proxy = await startHostProxy({
    target: { port: nginx.port },
    behaviour: 'nginx',
    onRequest: async (e) => {
      // The probe (HEAD) and the first GET see the old version, the second GET the new one.
      if (e.path === '/app.bin' && ++requests === 3) {
        // Replaced in one rename: requests in flight meanwhile never find the file missing.
        await copyFile(join(www, 'app.bin'), join(www, 'app.bin.old'));
        await rename(join(www, 'other.bin'), join(www, 'app.bin'));
      }
    },
  });
  try {
    const { error, folder, local } = await patchOnce(proxy.url, 'replaced');
    assert.ok(error instanceof SyncError, String(error));
    assert.ok(['GOSYNC_ERR_SOURCE_CHANGED', 'GOSYNC_ERR_BLOCK_MISMATCH', 'GOSYNC_ERR_FILE_MISMATCH'].includes(error.code), error.code);
    assert.ok(Buffer.from(pair.old).equals(await readFile(local)));
    assert.deepEqual(await readdir(folder), ['app.bin']);
  } finally {
    await proxy.close();
    await rename(join(www, 'app.bin.old'), join(www, 'app.bin')).catch(() => {});
  }
});
