/**
 * push/pull --bwlimit: the bytes this end sends (push) or receives (pull) are capped per
 * second. A limiter's lower bound is a correctness property: moving N bytes at R bytes/s
 * cannot take less than about N / R seconds (the bucket holds 20 ms of tokens), and an
 * unlimited run of these sizes in one machine takes a small fraction of that.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pull } from '../../src/remote/push-pull.js';
import { runCli } from '../helpers/cli.js';
import { randomBytes } from '../helpers/data.js';
import { describe, makeTree, serveCommand, tempDir } from './trees.js';

let dir: string;
let cleanup: () => Promise<void>;
before(async () => {
  ({ dir, cleanup } = await tempDir('gosync-remote-bwlimit-'));
});
after(() => cleanup());

const MiB = 1024 * 1024;

test('push --bwlimit 1M: 2 MiB of incompressible data take at least the time the rate allows, and arrive exact', async () => {
  const src = join(dir, 'push-src');
  const dst = join(dir, 'push-dst');
  await makeTree(src, { 'a.bin': randomBytes(MiB, 41), 'sub/b.bin': randomBytes(MiB, 42) });
  const started = performance.now();
  const r = await runCli(['push', '--bwlimit', '1M', '--json', src, dst]);
  const seconds = (performance.now() - started) / 1000;
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.changed, 2);
  assert.ok(report.sentBytes > 2 * MiB, `sent ${report.sentBytes}`);
  // What was sent, at 1 MiB/s, less the bucket's 20 ms of burst.
  const least = report.sentBytes / MiB - 0.05;
  assert.ok(least >= 1.5);
  assert.ok(report.seconds >= least, `the push took ${report.seconds} s, less than the ${least} s the rate allows`);
  assert.ok(seconds >= least);
  assert.deepEqual(await describe(dst), await describe(src));
});

test('pull --bwlimit through a serve --stdio child: the bytes received are capped, the copy is exact', async () => {
  const src = join(dir, 'pull-src');
  const dst = join(dir, 'pull-dst');
  await makeTree(src, { 'c.bin': randomBytes(1.5 * MiB, 43) });
  const rate = 1 * MiB;
  const r = await pull(src, dst, { bytesPerSecond: rate, localCommand: serveCommand });
  assert.equal(r.changed, 1);
  assert.ok(r.bytesReceived > 1.5 * MiB);
  const least = r.bytesReceived / rate - 0.05;
  assert.ok(r.seconds >= least, `the pull took ${r.seconds} s, less than the ${least} s the rate allows`);
  assert.deepEqual(await describe(dst), await describe(src));
});

test('a malformed --bwlimit is a usage error', async () => {
  for (const rate of ['fast', '0', '-1']) {
    const r = await runCli(['pull', `--bwlimit=${rate}`, join(dir, 'nowhere'), join(dir, 'x')]);
    assert.equal(r.code, 2, `${rate}: ${r.stderr}`);
    assert.match(r.stderr, /--bwlimit must be/);
  }
});
