/**
 * push and pull through a real OpenSSH sshd on 127.0.0.1 (test/helpers/sshd.ts), with the
 * built CLI as the remote command: files and trees both ways, the CLI end to end, a
 * connection killed mid-transfer (the destination stays intact, a rerun completes and
 * leaves no temporary file), and `serve --stdio --root … [--read-only]` as a forced
 * command in authorized_keys.
 *
 * Needs sshd, ssh and ssh-keygen: skipped without them, failed under CI=true.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { pull, push } from '../../src/remote/push-pull.js';
import { CLI, runCli } from '../helpers/cli.js';
import { concat, randomBytes } from '../helpers/data.js';
import { requireSshd, startSshd } from '../helpers/sshd.js';
import { describe, leftovers, makeTree, tempDir } from './trees.js';

/** The gosync command on the "remote" machine: this build's CLI. */
const REMOTE_CMD = `node ${CLI}`;

let dir: string;
let cleanup: () => Promise<void>;
before(async () => {
  ({ dir, cleanup } = await tempDir('gosync-sshd-'));
});
after(() => cleanup());

const T0 = Date.UTC(2023, 3, 4, 5, 6, 7, 89);

test('push and pull files and trees through sshd (library and CLI)', async (t) => {
  if (!requireSshd(t)) return;
  const sshd = await startSshd();
  t.after(() => sshd.stop());
  const opts = { rsh: sshd.rsh, remoteCmd: REMOTE_CMD };
  const src = join(dir, 'src');
  await makeTree(src, {
    'a.bin': { data: randomBytes(300_000, 1), mtime: T0 },
    'sub/b.txt': { data: 'b'.repeat(5000), mode: 0o600, mtime: T0 },
    'sub/empty': { dir: true, mtime: T0 },
    link: { link: 'sub/b.txt' },
  });

  // A file, to a path relative to the remote home, and back.
  const remoteFile = join(dir, 'remote-a.bin');
  const r1 = await push(join(src, 'a.bin'), `${sshd.host}:${remoteFile}`, opts);
  assert.equal(r1.changed, 1);
  assert.deepEqual(await readFile(remoteFile), await readFile(join(src, 'a.bin')));
  const back = join(dir, 'back-a.bin');
  const r2 = await pull(`${sshd.host}:${remoteFile}`, back, opts);
  assert.equal(r2.changed, 1);
  assert.deepEqual(await describe(back), await describe(join(src, 'a.bin')));

  // A tree both ways; an update moves only the change.
  const remoteTree = join(dir, 'remote-tree');
  await push(src, `${sshd.host}:${remoteTree}`, opts);
  assert.deepEqual(await describe(remoteTree), await describe(src));
  const pulled = join(dir, 'pulled-tree');
  await pull(`${sshd.host}:${remoteTree}`, pulled, opts);
  assert.deepEqual(await describe(pulled), await describe(src));
  const a = await readFile(join(src, 'a.bin'));
  await writeFile(join(src, 'a.bin'), concat(a.subarray(0, 150_000), Buffer.from('an edit'), a.subarray(150_000)));
  const r3 = await push(src, `${sshd.host}:${remoteTree}`, opts);
  assert.equal(r3.changed, 1);
  assert.ok(r3.literalBytes < 5000, `literal ${r3.literalBytes}`);
  assert.ok(r3.bytesSent < 8000, `sent ${r3.bytesSent}`);
  assert.deepEqual(await describe(remoteTree), await describe(src));

  // The CLI, end to end, with --json and --delete.
  await writeFile(join(remoteTree, 'extra'), 'to be deleted');
  const cli = await runCli(['push', '--json', '--delete', '-e', sshd.rsh, '--remote-cmd', REMOTE_CMD, src, `${sshd.host}:${remoteTree}`]);
  assert.equal(cli.code, 0, cli.stderr);
  const report = JSON.parse(cli.stdout);
  assert.equal(report.deleted, 1);
  assert.equal(report.changed, 0);
  assert.deepEqual(await describe(remoteTree), await describe(src));
  const cliPull = await runCli([
    'pull',
    '-e',
    sshd.rsh,
    '--remote-cmd',
    REMOTE_CMD,
    `${sshd.host}:${remoteTree}/sub/b.txt`,
    join(dir, 'cli-b.txt'),
  ]);
  assert.equal(cliPull.code, 0, cliPull.stderr);
  assert.match(cliPull.stdout, /1 of 1 files changed/);
  assert.equal(await readFile(join(dir, 'cli-b.txt'), 'utf8'), 'b'.repeat(5000));

  // A remote command that is not gosync: a clear error.
  const bad = await runCli([
    'pull',
    '-e',
    sshd.rsh,
    '--remote-cmd',
    'echo hello from a login script; false',
    `${sshd.host}:x`,
    join(dir, 'never'),
  ]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /GOSYNC_ERR_PROTOCOL/);
  assert.match(bad.stderr, /sent "hello from a login script\\n" instead of gosync's greeting/);
});

test('a connection killed mid-transfer leaves the destination intact; a rerun completes', async (t) => {
  if (!requireSshd(t)) return;
  const sshd = await startSshd();
  t.after(() => sshd.stop());
  const pidFile = join(dir, 'ssh.pid');
  // ssh through a wrapper that records its pid, so the test can kill the connection.
  const rsh = `sh -c 'echo $$ > ${pidFile}; exec ${sshd.rsh} "$@"' ssh-wrapper`;
  const src = join(dir, 'kill-src');
  const dst = join(dir, 'kill-dst');
  const old = randomBytes(24 * 1024 * 1024, 2);
  await makeTree(dst, { 'big.bin': { data: old, mtime: T0 }, 'small.txt': 'old small' });
  await makeTree(src, { 'big.bin': randomBytes(24 * 1024 * 1024, 3), 'small.txt': 'new small' });
  const before = await describe(dst);

  let killed = false;
  const err = await push(src, `${sshd.host}:${dst}`, {
    rsh,
    remoteCmd: REMOTE_CMD,
    onProgress: (p) => {
      if (!killed && p.done > 4 * 1024 * 1024) {
        killed = true;
        void readFile(pidFile, 'utf8').then((pid) => process.kill(Number(pid), 'SIGKILL'));
      }
    },
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(killed, `the connection was killed (the push ended with ${String(err)})`);
  assert.ok(
    SyncError.is(err) && err.code === ErrorCodes.NETWORK,
    `expected a NETWORK error, got ${SyncError.is(err) ? err.code : ''} ${String(err)}`,
  );
  assert.match((err as Error).message, /closed the connection|Cannot write to|Cannot read from/);
  // Every file is as it was (the far end may still be removing its temporary file).
  const files = (d: Record<string, string>) =>
    Object.fromEntries(Object.entries(d).filter(([k]) => k !== '.' && !k.endsWith('.gosync-tmp') && !k.endsWith('.gosync-part')));
  assert.deepEqual(files(await describe(dst)), files(before), 'the destination is as it was');

  const r = await push(src, `${sshd.host}:${dst}`, { rsh: sshd.rsh, remoteCmd: REMOTE_CMD });
  assert.equal(r.changed, 2);
  assert.deepEqual(await describe(dst), await describe(src));
  assert.deepEqual(await leftovers(dst), [], 'no temporary file or part is left');
});

test('serve --stdio --root as a forced command confines paths; --read-only refuses pushes', async (t) => {
  if (!requireSshd(t)) return;
  const root = join(dir, 'served');
  const outside = join(dir, 'not-served');
  await makeTree(root, { 'data/file.txt': 'served file' });
  await makeTree(outside, { 'secret.txt': 'not for you' });
  const src = join(dir, 'to-serve');
  await makeTree(src, { 'x.txt': 'pushed' });

  const sshd = await startSshd({ forceCommand: `node ${CLI} serve --stdio --root ${root}` });
  t.after(() => sshd.stop());
  // Whatever the client asks to run, the forced command runs, and the path comes in HELLO.
  const opts = { rsh: sshd.rsh, remoteCmd: 'anything' };
  await push(src, `${sshd.host}:uploads/one`, opts);
  assert.equal(await readFile(join(root, 'uploads/one/x.txt'), 'utf8'), 'pushed');
  await pull(`${sshd.host}:data`, join(dir, 'got-data'), opts);
  assert.equal(await readFile(join(dir, 'got-data/file.txt'), 'utf8'), 'served file');
  for (const path of ['../not-served', outside, `${outside}/secret.txt`]) {
    await assert.rejects(
      pull(`${sshd.host}:${path}`, join(dir, 'stolen'), opts),
      (err: unknown) => SyncError.is(err) && err.code === ErrorCodes.UNSAFE_PATH,
      path,
    );
    await assert.rejects(
      push(src, `${sshd.host}:${path}`, opts),
      (err: unknown) => SyncError.is(err) && err.code === ErrorCodes.UNSAFE_PATH,
      path,
    );
  }
  assert.equal(await readFile(join(outside, 'secret.txt'), 'utf8'), 'not for you');

  const ro = await startSshd({ forceCommand: `node ${CLI} serve --stdio --root ${root} --read-only` });
  t.after(() => ro.stop());
  const roOpts = { rsh: ro.rsh, remoteCmd: 'anything' };
  const served = await describe(join(root, 'data'));
  assert.deepEqual(Object.keys(served).sort(), ['.', 'file.txt']);
  assert.match(served['.']!, /^dir:755@/);
  await assert.rejects(
    push(src, `${ro.host}:data`, roOpts),
    (err: unknown) => SyncError.is(err) && err.code === ErrorCodes.REFUSED && /read-only/.test(err.message),
  );
  assert.deepEqual(await describe(join(root, 'data')), served, 'the refused push changed nothing');
  assert.equal(await readFile(join(root, 'data/file.txt'), 'utf8'), 'served file');
  const r = await pull(`${ro.host}:data/file.txt`, join(dir, 'ro-file.txt'), roOpts);
  assert.equal(r.changed, 1);
  const cli = await runCli(['push', '-e', ro.rsh, src, `${ro.host}:data`]);
  assert.equal(cli.code, 1);
  assert.match(
    cli.stderr,
    /gosync push: Cannot write .*data: the server is read-only \(serve --read-only\) \(reported by the remote end \(.*\)\) \[GOSYNC_ERR_REFUSED\]/,
  );
  assert.doesNotMatch(cli.stderr, /gosync serve:/, 'the server does not repeat the error on stderr');
});
