/**
 * A patch stopped in the middle: `kill -9` at random points, then a rerun that reuses what
 * the stopped runs wrote; SIGINT, SIGTERM and SIGHUP, which clean up. The `gosync patch`
 * command runs as a child process against the embedded server, with --bwlimit so the
 * signals land while it transfers. (The full 100 MB × 10 version: bench/kill-resume.ts.)
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeIndex } from '../../src/core/index/format.js';
import { buildIndexFile } from '../../src/file/build-file.js';
import { diffFile } from '../../src/file/patch-file.js';
import { isTempNameOf, tempPath } from '../../src/localfs/staging.js';
import { type StaticServer, startStaticServer } from '../../src/serve/static-server.js';
import { concat, randomBytes } from '../helpers/data.js';
import { CLI } from '../helpers/cli.js';

const SIZE = 12 * 1024 * 1024;
/** Shared with the old version (the rest is new). */
const SHARED = 2 * 1024 * 1024;
const RATE = '2M';
/** The patcher writes its output in pieces of 4 MiB: the temporary file grows by steps. */
const STEP = 4 * 1024 * 1024;

let dir: string;
let server: StaticServer;
let oldData: Uint8Array;
let newData: Uint8Array;
let indexUrl: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-interrupt-'));
  const pub = join(dir, 'pub');
  await mkdir(pub);
  oldData = randomBytes(SIZE, 21);
  newData = concat(oldData.subarray(0, SHARED), randomBytes(SIZE - SHARED, 22));
  await writeFile(join(pub, 'app.bin'), newData);
  await buildIndexFile(join(pub, 'app.bin'), join(pub, 'app.bin.gosync'), { threads: 1 });
  server = await startStaticServer({ root: pub });
  indexUrl = `${server.url}app.bin.gosync`;
});
after(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

function sha(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

async function temps(folder: string): Promise<string[]> {
  return (await readdir(folder)).filter((n) => isTempNameOf(n, 'app.bin'));
}

function startPatch(local: string, extra: string[] = []): { child: ChildProcess; exit: Promise<number | null>; stdout: () => string } {
  const child = spawn(process.execPath, [CLI, 'patch', local, indexUrl, '--raw', '--bwlimit', RATE, '-q', '-t', '1', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.resume();
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exit, stdout: () => out };
}

/** Waits until a temporary file not in `known` holds at least `bytes`; false if the child ended first. */
async function waitForTemp(folder: string, known: readonly string[], bytes: number, running: () => boolean): Promise<boolean> {
  while (running()) {
    for (const n of await temps(folder)) {
      if (known.includes(n)) continue;
      const size = await stat(join(folder, n)).then(
        (s) => s.size,
        () => -1,
      );
      if (size >= bytes) return true;
    }
    await sleep(5);
  }
  return false;
}

test('kill -9 at random points, then a rerun: the target is never changed before the rename, the rerun fetches only what no stopped run wrote, and nothing is left', async () => {
  const folder = await mkdtemp(join(dir, 'kill-'));
  const local = join(folder, 'app.bin');
  await writeFile(local, oldData);
  const oldSha = sha(oldData);
  const points: string[] = [];
  for (let k = 0; k < 4; k++) {
    const run = startPatch(local);
    let ended = false;
    void run.exit.then(() => {
      ended = true;
    });
    // A random time after the start (for the first run, even before its temporary file
    // exists), but before the last step of the output is written, so no run finishes.
    // The last run is stopped only once it wrote a first step: something to reuse.
    const known = await temps(folder);
    if (k === 3) assert.ok(await waitForTemp(folder, known, STEP, () => !ended), 'the last run ended early');
    const ms = Math.floor(Math.random() * (k === 0 ? 800 : k === 3 ? 1000 : 3000));
    const started = Date.now();
    await Promise.race([sleep(ms), waitForTemp(folder, known, SIZE - STEP, () => !ended && Date.now() - started < ms)]);
    points.push(`${ms} ms`);
    assert.ok(!ended, `run ${k} ended before it was killed`);
    run.child.kill('SIGKILL');
    assert.equal(await run.exit, null);
    assert.equal(sha(await readFile(local)), oldSha, `the target changed after kill ${k} (${points.join(', ')})`);
  }
  // What is still missing: the reference's bytes neither the local file nor any stopped
  // run's temporary file holds (diffFile reads those too).
  const index = decodeIndex(await readFile(join(dir, 'pub', 'app.bin.gosync')));
  const left = await temps(folder);
  const diff = await diffFile({ local, index, threads: 1 });
  assert.ok(
    diff.fetchBytes < SIZE - SHARED,
    `nothing of the stopped runs was reusable (${left.length} temporary files, kills at ${points.join(', ')})`,
  );
  const rerun = startPatch(local, ['--json']);
  assert.equal(await rerun.exit, 0);
  const report = JSON.parse(rerun.stdout()) as { fetchedBytes: number; receivedBytes: number };
  assert.equal(sha(await readFile(local)), sha(newData));
  assert.deepEqual(await temps(folder), []);
  assert.deepEqual(await readdir(folder), ['app.bin']);
  assert.ok(
    report.receivedBytes <= 1.1 * diff.fetchBytes,
    `the rerun received ${report.receivedBytes} B for ${diff.fetchBytes} B missing (kills at ${points.join(', ')})`,
  );
});

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
] as const) {
  test(`${signal} during a patch: exit ${code}, the target unchanged, no temporary file left (a stale one removed too)`, async () => {
    const folder = await mkdtemp(join(dir, `${signal}-`));
    const local = join(folder, 'app.bin');
    await writeFile(local, oldData);
    const stale = tempPath(local);
    // It holds new blocks past the shared part, so it is read, not dropped after the scan.
    await writeFile(stale, newData.subarray(0, 4 * 1024 * 1024));
    const run = startPatch(local);
    let ended = false;
    void run.exit.then(() => {
      ended = true;
    });
    const known = await temps(folder);
    // Its first step holds the stale file's blocks; then a moment of transfer.
    assert.ok(await waitForTemp(folder, known, STEP, () => !ended), 'the patch ended before the signal');
    await sleep(300);
    assert.ok(!ended, 'the patch ended before the signal');
    run.child.kill(signal);
    assert.equal(await run.exit, code);
    assert.equal(sha(await readFile(local)), sha(oldData));
    assert.deepEqual(await readdir(folder), ['app.bin']);
  });
}
