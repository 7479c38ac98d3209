/**
 * Excludes and includes of push and pull: through the CLI with both ends in one process,
 * and through a real sshd with the built CLI at the far end (the rules cross the wire in
 * HELLO). The sender leaves out what the rules and its folder's .gosyncignore exclude;
 * the receiver keeps (does not delete) what the rules and its own .gosyncignore exclude,
 * unless --delete-excluded.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes } from '../../src/core/errors.js';
import { decodeHello, decodeWelcome, encodeJson } from '../../src/remote/wire/handshake.js';
import { CLI, runCli } from '../helpers/cli.js';
import { requireSshd, startSshd } from '../helpers/sshd.js';
import { describe, makeTree, tempDir } from './trees.js';

const REMOTE_CMD = `node ${CLI}`;

let dir: string;
let cleanup: () => Promise<void>;
before(async () => {
  ({ dir, cleanup } = await tempDir('gosync-excl-'));
});
after(() => cleanup());

/** The paths below `root`, sorted ('.' left out). */
async function paths(root: string): Promise<string[]> {
  return Object.keys(await describe(root))
    .filter((p) => p !== '.')
    .sort();
}

async function source(root: string): Promise<void> {
  await makeTree(root, {
    'index.html': '<h1>hi</h1>',
    'app.log': 'log',
    'important.log': 'keep',
    'cache/blob': 'cached',
    'docs/a.md': 'a',
    'docs/draft.md': 'draft',
    '.gosyncignore': '/docs/draft.md\n',
  });
}

test('push (local): excluded paths are not sent; the destination keeps its excluded entries unless --delete-excluded', async () => {
  const src = join(dir, 'src1');
  await source(src);
  const dst = join(dir, 'dst1');
  await makeTree(dst, { 'local.log': 'mine', 'stale.txt': 'old', 'cache/local': 'mine' });
  const rules = join(dir, 'rules1');
  await writeFile(rules, 'cache/\n');
  const args = ['push', '-q', '--delete', '--include', 'important.log', '--exclude', '*.log', '--exclude-from', rules, src, dst];
  const r = await runCli(args);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await paths(dst), [
    '.gosyncignore',
    'cache',
    'cache/local',
    'docs',
    'docs/a.md',
    'important.log',
    'index.html',
    'local.log',
  ]);

  // A dry run with --delete-excluded lists what it would remove and removes nothing.
  const dry = await runCli([...args.slice(0, 2), '-n', '--json', '--delete-excluded', ...args.slice(3)]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.deepEqual((JSON.parse(dry.stdout) as { deletedPaths: string[] }).deletedPaths.sort(), ['cache', 'local.log']);
  assert.ok((await paths(dst)).includes('local.log'));

  const del = await runCli([
    'push',
    '-q',
    '--delete-excluded',
    '--include',
    'important.log',
    '--exclude',
    '*.log',
    '--exclude-from',
    rules,
    src,
    dst,
  ]);
  assert.equal(del.code, 0, del.stderr);
  assert.deepEqual(await paths(dst), ['.gosyncignore', 'docs', 'docs/a.md', 'important.log', 'index.html']);
});

test("pull (local): the receiver's own .gosyncignore keeps what it excludes from --delete", async () => {
  const src = join(dir, 'src2');
  await source(src);
  const dst = join(dir, 'dst2');
  await makeTree(dst, { '.gosyncignore': 'settings.local\n', 'settings.local': 'mine', junk: 'x' });
  const r = await runCli(['pull', '-q', '--delete', '--exclude', 'cache', src, dst]);
  assert.equal(r.code, 0, r.stderr);
  const got = await paths(dst);
  assert.ok(got.includes('settings.local'), 'protected by the destination .gosyncignore');
  assert.ok(!got.includes('junk'), 'not protected: deleted');
  assert.ok(!got.includes('cache') && !got.includes('docs/draft.md'), 'excluded by the rule and by the source .gosyncignore');
  assert.ok(got.includes('app.log'));
});

test('push and pull through sshd carry the rules to the far end', async (t) => {
  if (!requireSshd(t)) return;
  const sshd = await startSshd();
  t.after(() => sshd.stop());
  const src = join(dir, 'src3');
  await source(src);
  const remote = join(dir, 'remote3');
  await makeTree(remote, { 'server.log': 'theirs', 'old.txt': 'old' });
  const ssh = ['-e', sshd.rsh, '--remote-cmd', REMOTE_CMD];
  const p = await runCli(['push', '-q', '--delete', ...ssh, '--exclude', '*.log', src, `${sshd.host}:${remote}`]);
  assert.equal(p.code, 0, p.stderr);
  // The remote receiver kept its excluded server.log and deleted old.txt.
  assert.deepEqual(await paths(remote), ['.gosyncignore', 'cache', 'cache/blob', 'docs', 'docs/a.md', 'index.html', 'server.log']);

  // Pull: the remote sender applies the rules (and its .gosyncignore).
  const back = join(dir, 'back3');
  await makeTree(back, { 'mine.log': 'local' });
  const q = await runCli(['pull', '-q', '--delete', ...ssh, '--exclude', '*.log', '--exclude', 'cache/', `${sshd.host}:${src}`, back]);
  assert.equal(q.code, 0, q.stderr);
  assert.deepEqual(await paths(back), ['.gosyncignore', 'docs', 'docs/a.md', 'index.html', 'mine.log']);
});

test('HELLO carries the rules; malformed rules are a PROTOCOL error; WELCOME says whether the server applies them', () => {
  const base = { op: 'push', path: 'x', delete: true, dryRun: false };
  const hello = decodeHello(encodeJson({ ...base, filter: [{ kind: 'exclude', pattern: '*.log' }], deleteExcluded: true }));
  assert.deepEqual(hello.filter, [{ kind: 'exclude', pattern: '*.log' }]);
  assert.equal(hello.deleteExcluded, true);
  assert.equal(decodeHello(encodeJson(base)).filter, undefined);
  for (const filter of [[{ kind: 'run', pattern: 'x' }], [{ kind: 'file', lines: [1] }], 'x']) {
    assert.throws(() => decodeHello(encodeJson({ ...base, filter })), { code: ErrorCodes.PROTOCOL });
  }
  assert.equal(decodeWelcome(encodeJson({ readOnly: false })).filters, false);
  assert.equal(decodeWelcome(encodeJson({ readOnly: false, filters: true })).filters, true);
});
