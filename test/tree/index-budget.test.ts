/**
 * A folder fetches up to 8 block indexes at once, each bounded by its own file
 * (`indexByteLimit`); the bytes they may buffer together are bounded too: each fetch takes
 * its bound from a budget shared by the fetches (`indexBytesInFlight`, default 256 MiB)
 * before it starts, so at most that many bytes of index are buffered at once, however many
 * large files change. (Before, 8 fetches of up to 1 GiB each could be in flight: 8 GiB.)
 */
import assert from 'node:assert/strict';
import { readFile, rm, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TreeRoot } from '../../src/localfs/tree-path.js';
import { walkTree } from '../../src/localfs/walk.js';
import { ByteBudget } from '../../src/tree/byte-budget.js';
import { decodeManifest } from '../../src/tree/manifest.js';
import { openObjectStore, type ObjectStore } from '../../src/tree/object-store.js';
import { DEFAULT_INDEX_BYTES_IN_FLIGHT, TreePlanner, indexByteLimit } from '../../src/tree/tree-planner.js';
import { patchTree } from '../../src/tree/patch-tree.js';
import { runCli } from '../helpers/cli.js';
import { randomBytes } from '../helpers/data.js';
import { put, tempDir } from './tree-fixtures.js';

let base: string;
let pub: string;
const FILES = 8;
const SIZE = 700_000;
before(async () => {
  base = await tempDir('index-budget');
  const src = join(base, 'site');
  for (let k = 0; k < FILES; k++) await put(src, `f${k}.bin`, randomBytes(SIZE, 10 + k));
  pub = join(base, 'pub');
  const b = await runCli(['build', src, '-o', pub, '-q', '--no-compress']);
  assert.equal(b.code, 0, b.stderr);
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

/** A local copy of the site with every file edited (so each needs its index), and an older time. */
async function edited(name: string): Promise<string> {
  const dst = join(base, name);
  for (let k = 0; k < FILES; k++) {
    const data = randomBytes(SIZE, 10 + k);
    data.fill(7, 1000, 3000);
    await put(dst, `f${k}.bin`, data);
    await utimes(join(dst, `f${k}.bin`), 1_000_000, 1_000_000);
  }
  return dst;
}

/** A store that records the bytes its index fetches may buffer at once (their bounds) at their peak. */
function watched(store: ObjectStore): { store: ObjectStore; peak: () => number; fetches: () => number } {
  let active = 0;
  let peak = 0;
  let fetches = 0;
  return {
    store: {
      ...store,
      name: store.name,
      async get(name, maxBytes, signal) {
        fetches++;
        active += maxBytes;
        peak = Math.max(peak, active);
        try {
          // Slow enough that fetches allowed together overlap.
          await new Promise((resolve) => setTimeout(resolve, 30));
          return await store.get(name, maxBytes, signal);
        } finally {
          active -= maxBytes;
        }
      },
    },
    peak: () => peak,
    fetches: () => fetches,
  };
}

async function plan(dst: string, indexBytesInFlight?: number): Promise<{ peak: number; fetches: number; indexed: number }> {
  const manifestPath = join(pub, 'site.tree.json');
  const manifest = decodeManifest(await readFile(manifestPath));
  const real = await openObjectStore(pub);
  const w = watched(real);
  const planner = new TreePlanner({
    manifest,
    root: new TreeRoot(dst),
    local: await walkTree(dst),
    store: w.store,
    options: { threads: 1, ...(indexBytesInFlight !== undefined ? { indexBytesInFlight } : {}) },
  });
  const planned = await planner.plan();
  return { peak: w.peak(), fetches: w.fetches(), indexed: planned.needed.filter((n) => n.index !== undefined).length };
}

test('the index fetches of a folder buffer at most the budget at once (each counted at its bound)', async () => {
  const limit = indexByteLimit(SIZE);
  const budget = 2 * limit + 1000;
  const r = await plan(await edited('small-budget'), budget);
  assert.equal(r.fetches, FILES);
  assert.equal(r.indexed, FILES, 'every file still gets its index');
  // Before: all 8 in flight at once, 8 bounds (25 MB) for a 6 MB budget.
  assert.ok(r.peak <= budget, `${r.peak} bytes of index in flight, over the budget of ${budget}`);
  assert.ok(r.peak >= limit, 'fetches do run');
});

test('an index whose bound exceeds the whole budget is fetched alone, not refused', async () => {
  const r = await plan(await edited('tiny-budget'), 1000);
  assert.equal(r.indexed, FILES);
  assert.equal(r.peak, indexByteLimit(SIZE));
});

test('by default 8 of these fetches fit in the budget together, and a patch is exact', async () => {
  assert.ok(FILES * indexByteLimit(SIZE) <= DEFAULT_INDEX_BYTES_IN_FLIGHT);
  const dst = await edited('default');
  const r = await plan(dst);
  assert.equal(r.indexed, FILES);
  assert.equal(r.peak, FILES * indexByteLimit(SIZE), 'all 8 in flight together');
  const report = await patchTree(dst, join(pub, 'site.tree.json'), { threads: 1 });
  assert.equal(report.totals.changed, FILES);
  for (let k = 0; k < FILES; k++) assert.deepEqual(new Uint8Array(await readFile(join(dst, `f${k}.bin`))), randomBytes(SIZE, 10 + k));
});

test('the budget: waits in order, lets one over the whole budget run alone, and gives up on abort', async () => {
  const b = new ByteBudget(100);
  await b.acquire(60);
  const order: string[] = [];
  const second = b.acquire(60).then(() => order.push('second'));
  const third = b.acquire(10).then(() => order.push('third'));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, [], 'the second waits, and the third waits behind it (first come, first served)');
  b.release(60);
  await Promise.all([second, third]);
  assert.deepEqual(order, ['second', 'third']);
  assert.equal(b.used, 70);
  b.release(70);
  await b.acquire(500);
  assert.equal(b.used, 100, 'a request over the budget takes all of it');
  const ac = new AbortController();
  const waiting = b.acquire(1, ac.signal);
  ac.abort();
  await assert.rejects(waiting, /aborted/);
  b.release(100);
  assert.equal(b.used, 0);
});
