/**
 * A session over a connection its caller started (PushPullOptions.transport): the command
 * line starts ssh before it loads the engine and hands the connection over. Here the
 * connection is a `serve --stdio` child, and the host a name no ssh could reach: the
 * session must use the connection it was given, not start ssh.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pull, push } from '../../src/remote/push-pull.js';
import { commandTransport } from '../../src/remote/transport.js';
import { makeTree, serveCommand, tempDir } from './trees.js';

let dir: string;
let cleanup: () => Promise<void>;
before(async () => {
  ({ dir, cleanup } = await tempDir('gosync-remote-transport-'));
});
after(() => cleanup());

const T = Date.UTC(2024, 0, 2, 3, 4, 5);
const serve = () => commandTransport(serveCommand);
const rsh = `${process.execPath} -e process.exit(255)`;

test('push and pull use the connection they are given instead of starting ssh', { timeout: 60_000 }, async () => {
  const src = join(dir, 'src');
  await makeTree(src, { 'a.txt': { data: 'pushed', mtime: T }, 'sub/b.txt': { data: 'bee', mtime: T } });
  const pushed = join(dir, 'pushed');
  const r = await push(src, `no-such-host.invalid:${pushed}`, { transport: serve(), rsh });
  assert.equal(r.changed, 2);
  assert.equal(await readFile(join(pushed, 'sub/b.txt'), 'utf8'), 'bee');

  const pulled = join(dir, 'pulled');
  const p = await pull(`no-such-host.invalid:${pushed}`, pulled, { transport: serve(), rsh });
  assert.equal(p.changed, 2);
  assert.equal(await readFile(join(pulled, 'a.txt'), 'utf8'), 'pushed');
});
