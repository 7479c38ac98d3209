/**
 * `gosync push`/`pull` on the command line (the local form, no ssh): reports, --dry-run,
 * --json, and misuse (exit code 2). And host:path parsing and rsync-style -e splitting.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseRemote, splitCommand } from '../../src/remote/remote-path.js';
import { runCli } from '../helpers/cli.js';
import { makeTree, tempDir } from './trees.js';

let dir: string;
let cleanup: () => Promise<void>;
before(async () => {
  ({ dir, cleanup } = await tempDir('gosync-remote-cli-'));
});
after(() => cleanup());

test('push and pull between local paths: summary, --json, --dry-run', async () => {
  const src = join(dir, 'src');
  await makeTree(src, { 'a.txt': 'hello', 'sub/b.txt': 'world' });
  const dst = join(dir, 'dst');
  const dry = await runCli(['push', '-n', src, dst]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^a\.txt\nsub\/b\.txt\ndry run: 2 of 2 files would change \(10 B\); nothing was written\n$/);
  const r = await runCli(['push', src, dst]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /: 2 of 2 files changed \(10 B: 0 B reused, 10 B new\); sent \d+ B, received \d+ B, [\d.]+ s\n$/);
  assert.equal(await readFile(join(dst, 'sub/b.txt'), 'utf8'), 'world');
  const back = await runCli(['pull', '--json', dst, join(dir, 'back')]);
  assert.equal(back.code, 0, back.stderr);
  const report = JSON.parse(back.stdout);
  assert.equal(report.files, 2);
  assert.equal(report.changed, 2);
  assert.equal(typeof report.sentBytes, 'number');
  assert.equal(report.dryRun, false);
});

test('misuse exits 2 with a reason', async () => {
  const cases: [string[], RegExp][] = [
    [['push', 'only-one'], /push takes <local-path> \[user@\]host:<path>, got 1 arguments/],
    [['pull', 'a', 'b', 'c'], /pull takes \[user@\]host:<path> <local-path>, got 3 arguments/],
    [['push', 'host:a', 'b'], /push sends a local path \(use pull to fetch from host\)/],
    [['pull', 'a', 'host:b'], /pull writes a local path/],
    [['push', 'a', 'host::module'], /rsync daemon modules/],
    [['push', '--rsh', ' ', 'a', 'h:b'], /--rsh must not be empty/],
    [['push', '-e', 'ssh "-p 22', 'a', 'h:b'], /a " quote is not closed/],
    [['pull', ':x', 'b'], /the host is empty/],
    [['push', '--frobnicate', 'a', 'b'], /Unknown option '--frobnicate'/],
    [['serve', '--stdio', 'x'], /serve --stdio takes no folder/],
    [['serve', 'x', '--read-only'], /--root and --read-only go with --stdio/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
  }
  const help = await runCli(['push', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: gosync push <local-path> \[user@\]host:<path>/);
});

test('host:path parsing as rsync and scp read it', () => {
  assert.deepEqual(parseRemote('web1:/srv/app'), { host: 'web1', path: '/srv/app' });
  assert.deepEqual(parseRemote('deploy@web1:app'), { host: 'deploy@web1', path: 'app' });
  assert.deepEqual(parseRemote('web1:'), { host: 'web1', path: '' });
  assert.deepEqual(parseRemote('[::1]:x'), { host: '::1', path: 'x' });
  assert.deepEqual(parseRemote('u@[fe80::1]:x'), { host: 'u@fe80::1', path: 'x' });
  assert.equal(parseRemote('./a:b'), undefined);
  assert.equal(parseRemote('dir/file:with:colons'), undefined);
  assert.equal(parseRemote('plain'), undefined);
  assert.throws(() => parseRemote(':x'), TypeError);
  assert.throws(() => parseRemote('h::m'), TypeError);
});

test('-e is split like rsync: whitespace, quotes, backslashes', () => {
  assert.deepEqual(splitCommand('ssh -p 2222'), ['ssh', '-p', '2222']);
  assert.deepEqual(splitCommand(`ssh -o "ProxyCommand=nc %h %p" -i 'my key'`), ['ssh', '-o', 'ProxyCommand=nc %h %p', '-i', 'my key']);
  assert.deepEqual(splitCommand('ssh a\\ b ""'), ['ssh', 'a b', '']);
  assert.throws(() => splitCommand('ssh "open'), TypeError);
});
