/**
 * Folder patch modes: new files and folders take the manifest's mode less the umask given
 * (the CLI gives its own), as rsync gives new entries; without one, the mode as published.
 */
import assert from 'node:assert/strict';
import { chmod, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { patchTree } from '../../src/tree/patch-tree.js';
import { runCli } from '../helpers/cli.js';
import { put, tempDir } from './tree-fixtures.js';

let base: string;
before(async () => {
  base = await tempDir('umask');
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

test('new entries are masked by the umask given; without one they get the published mode', async (t) => {
  if (process.platform === 'win32') return t.skip('POSIX modes');
  const src = join(base, 'site');
  await put(src, 'open/run.sh', '#!/bin/sh\necho hi\n');
  await chmod(join(src, 'open/run.sh'), 0o777);
  await chmod(join(src, 'open'), 0o777);
  const pub = join(base, 'pub');
  const b = await runCli(['build', src, '-o', pub, '-q', '--no-compress']);
  assert.equal(b.code, 0, b.stderr);
  const manifest = join(pub, 'site.tree.json');

  const masked = join(base, 'masked');
  await patchTree(masked, manifest, { umask: 0o027 });
  assert.equal((await stat(join(masked, 'open/run.sh'))).mode & 0o7777, 0o750);
  assert.equal((await stat(join(masked, 'open'))).mode & 0o7777, 0o750);

  const asPublished = join(base, 'as-published');
  await patchTree(asPublished, manifest, {});
  assert.equal((await stat(join(asPublished, 'open/run.sh'))).mode & 0o7777, 0o777);
});
