/**
 * `--bwlimit` on a folder patch caps the download of the whole patch, every file and index
 * together: a lower bound on the time (a limiter that lets more through is wrong), never a
 * speed measurement.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildTree } from '../../src/tree/build-tree.js';
import { runCli } from '../helpers/cli.js';
import { randomBytes } from '../helpers/data.js';
import { requireNginx } from '../helpers/nginx.js';

test('folder patch --bwlimit holds the whole patch (several files at once) to the rate', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gosync-bwlimit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const src = join(dir, 'app');
  await mkdir(src);
  // Four incompressible files fetched side by side (--jobs 4): one limit for all of them.
  const files = [0, 1, 2, 3].map((i) => randomBytes(300_000, 90 + i));
  for (const [i, data] of files.entries()) await writeFile(join(src, `f${i}.bin`), data);
  await buildTree(src, join(dir, 'pub'), { name: 'app' });
  const server = await requireNginx(t, join(dir, 'pub'));
  if (!server) return;
  t.after(() => server.close());
  const rate = 400 * 1024;
  const r = await runCli(['patch', '--json', '--jobs', '4', '--bwlimit', '400', join(dir, 'out'), `${server.url}app.tree.json`]);
  assert.equal(r.code, 0, r.stderr);
  for (const [i, data] of files.entries()) assert.deepEqual(await readFile(join(dir, 'out', `f${i}.bin`)), Buffer.from(data));
  const report = JSON.parse(r.stdout);
  assert.ok(report.receivedBytes >= 1_200_000, `received ${report.receivedBytes}`);
  // The bucket starts with 20 ms of tokens; the manifest is not limited.
  const floor = (report.receivedBytes - report.manifestBytes - rate / 50) / rate;
  assert.ok(
    report.seconds >= 0.9 * floor,
    `${report.seconds} s for ${report.receivedBytes} B at ${rate} B/s (at least ${floor.toFixed(2)} s)`,
  );
  // A malformed rate is a usage error.
  const bad = await runCli(['patch', '--bwlimit', 'fast', join(dir, 'out2'), `${server.url}app.tree.json`]);
  assert.equal(bad.code, 2, bad.stderr);
});
