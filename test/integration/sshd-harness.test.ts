/**
 * Self-check of the sshd helper against a real OpenSSH sshd: a command runs remotely through
 * `rshArgv`, the remote PATH finds the same node as this process, a forced command is honoured,
 * and stop() closes the port and removes the temp dir.
 *
 * Needs sshd, ssh and ssh-keygen. Outside CI a missing one skips the tests; with CI=true it fails them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { requireSshd, startSshd } from '../helpers/sshd.js';

const run = promisify(execFile);

/** Runs `command` on the sshd's host through the `ssh -F ...` argv. */
function remote(rshArgv: string[], host: string, command: string[]) {
  const [ssh, ...args] = rshArgv;
  return run(ssh!, [...args, host, ...command], { timeout: 30_000 });
}

/** True when a TCP connection to 127.0.0.1:port is accepted. */
function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

test('sshd runs commands over a real ssh login, finds node, and stops cleanly', async (t) => {
  if (!requireSshd(t)) return;
  const sshd = await startSshd();
  t.after(() => sshd.stop());

  assert.deepEqual(sshd.rshArgv, ['ssh', '-F', `${sshd.dir}/ssh_config`]);
  assert.equal(sshd.rsh, sshd.rshArgv.join(' '));
  assert.deepEqual(sshd.rsh.split(' '), sshd.rshArgv, 'rsh survives splitting on spaces');
  assert.ok(await portOpen(sshd.port));

  const hello = await remote(sshd.rshArgv, sshd.host, ['echo', 'hello']);
  assert.equal(hello.stdout, 'hello\n');
  assert.equal(hello.stderr, '');

  const version = await remote(sshd.rshArgv, sshd.host, ['node', '--version']);
  assert.equal(version.stdout, `${process.version}\n`);

  // 127.0.0.1 works as the host too (same config block, same host key alias).
  const viaIp = await remote(sshd.rshArgv, '127.0.0.1', ['echo', 'ip']);
  assert.equal(viaIp.stdout, 'ip\n');

  await sshd.stop();
  assert.equal(await portOpen(sshd.port), false, 'the port is closed after stop()');
  assert.equal(existsSync(sshd.dir), false, 'the temp dir is removed by stop()');
  await sshd.stop(); // idempotent
});

test('sshd passes extra session variables and honours a forced command', async (t) => {
  if (!requireSshd(t)) return;
  const sshd = await startSshd({
    env: { GOSYNC_SSHD_TEST: 'a value with spaces' },
    forceCommand: 'echo "forced: $SSH_ORIGINAL_COMMAND [$GOSYNC_SSHD_TEST]"',
  });
  t.after(() => sshd.stop());

  const out = await remote(sshd.rshArgv, sshd.host, ['echo', 'ignored']);
  assert.equal(out.stdout, 'forced: echo ignored [a value with spaces]\n');
});
