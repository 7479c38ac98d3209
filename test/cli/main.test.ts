import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { decodeIndex } from '../../src/core/index/format.js';
import { runCli } from '../helpers/cli.js';
import { randomBytes } from '../helpers/data.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-cli-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('--version and --help exit 0 and print to stdout', async () => {
  const v = await runCli(['--version']);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^gosync \d+\.\d+\.\d+\n$/);
  const h = await runCli(['--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /Commands:/);
  const ph = await runCli(['patch', '--help']);
  assert.equal(ph.code, 0);
  assert.match(ph.stdout, /Usage: gosync patch/);
});

test('misuse exits 2 with a one-line reason and a pointer to --help', async () => {
  const cases: [string[], RegExp][] = [
    [[], /Usage: gosync/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['build'], /build takes one file/],
    [['build', 'a', '--nope'], /Unknown option '--nope'/],
    [['build', 'a', '--block-size', '1000'], /power of two/],
    [['patch', 'only-one'], /patch takes <local> <index>/],
    [['patch', 'a', 'b', '--connections', 'zero'], /--connections must be an integer/],
    [['patch', 'a', 'b', '--bwlimit', 'fast'], /--bwlimit must be a size/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr + r.stdout, re, args.join(' '));
    if (args.length > 0) assert.match(r.stderr, /--help/);
  }
});

test('build writes <file>.gosync and --json reports it', async () => {
  const file = join(dir, 'data.bin');
  await writeFile(file, randomBytes(100_000, 1));
  const r = await runCli(['build', '--json', '--block-size', '4K', '--url', 'http://example.com/data.bin', file]);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.index, `${file}.gosync`);
  assert.equal(report.blockSize, 4096);
  assert.equal(report.fileSize, 100_000);
  const index = decodeIndex(await readFile(`${file}.gosync`));
  assert.equal(index.url, 'http://example.com/data.bin');
  assert.equal(index.blockCount, 25);
  assert.equal((await readFile(`${file}.gosync`)).length, report.indexBytes);
});

test('a failure exits 1 and names the error code', async () => {
  const r = await runCli(['build', join(dir, 'missing.bin')]);
  assert.equal(r.code, 1);
  // Read first to see whether it is an archive (gzip, zip) to publish by its payload.
  assert.match(r.stderr, /Cannot read .*missing\.bin.*\[GOSYNC_ERR_IO\]/);
  const p = await runCli(['patch', join(dir, 'x'), join(dir, 'missing.gosync')]);
  assert.equal(p.code, 1);
  assert.match(p.stderr, /GOSYNC_ERR_IO/);
});

test('a command ends as its event loop runs dry, not by process.exit, with its exit code', async () => {
  // 'beforeExit' is emitted only when the loop empties; process.exit skips it (the exit that
  // can hang: nodejs/node#54918).
  const mark = "process.on('beforeExit',()=>process.stderr.write('[loop ran dry]'))";
  const env = { NODE_OPTIONS: `--import=data:text/javascript,${encodeURIComponent(mark)}` };
  const file = join(dir, 'natural.bin');
  await writeFile(file, randomBytes(50_000, 41));
  const cases: [string[], number][] = [
    [['build', '-q', file], 0],
    [['patch', '-q', file, `${file}.gosync`, file, '-o', join(dir, 'natural-out.bin')], 0],
    [['build', join(dir, 'missing.bin')], 1],
    [['build', '--no-such-option'], 2],
  ];
  for (const [args, code] of cases) {
    const r = await runCli(args, { env });
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /\[loop ran dry\]/, args.join(' '));
  }
});

test('patch and diff from a local index and a local reference path', async () => {
  const oldData = randomBytes(200_000, 2);
  const newData = Buffer.concat([oldData.subarray(0, 100_000), Buffer.from('inserted'), oldData.subarray(100_000)]);
  const ref = join(dir, 'ref.bin');
  const local = join(dir, 'local.bin');
  await writeFile(ref, newData);
  await writeFile(local, oldData);
  assert.equal((await runCli(['build', '-q', ref])).code, 0);
  const d = await runCli(['d', '--json', local, `${ref}.gosync`]);
  assert.equal(d.code, 0, d.stderr);
  const dr = JSON.parse(d.stdout);
  assert.ok(dr.fetchedBytes > 0 && dr.fetchedBytes <= 3 * 2048, `would fetch ${dr.fetchedBytes}`);
  assert.equal(dr.ranges, dr.rangeList.length);
  // No reference URL in the index and the index is a path: the reference must be given.
  const noRef = await runCli(['p', local, `${ref}.gosync`]);
  assert.equal(noRef.code, 1);
  assert.match(noRef.stderr, /GOSYNC_ERR_NO_REFERENCE/);
  const p = await runCli(['p', '--json', local, `${ref}.gosync`, ref]);
  assert.equal(p.code, 0, p.stderr);
  assert.deepEqual(await readFile(local), newData);
  assert.equal(JSON.parse(p.stdout).fetchedBytes, dr.fetchedBytes);
});
