/**
 * Folder patch modes: new files and folders take the manifest's mode less the umask given
 * (the CLI gives its own), as rsync gives new entries; without one, the mode as published.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, rm, stat } from 'node:fs/promises';
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

test('a 1777 folder keeps its sticky bit through build and patch: 1755 when new under umask 022, 1777 when it was there', async (t) => {
  if (process.platform === 'win32') return t.skip('POSIX modes');
  const src = join(base, 'sticky-src');
  await put(src, 'shared/note.txt', 'hello\n');
  await chmod(join(src, 'shared'), 0o1777);
  const pub = join(base, 'sticky-pub');
  const b = await runCli(['build', src, '-o', pub, '-q', '--no-compress']);
  assert.equal(b.code, 0, b.stderr);
  const manifest = join(pub, 'sticky-src.tree.json');
  const published = JSON.parse(await readFile(manifest, 'utf8')) as { entries: { path: string; mode?: number }[] };
  assert.equal(published.entries.find((e) => e.path === 'shared')?.mode, 0o1777, 'the manifest keeps the sticky bit');

  const fresh = join(base, 'sticky-new');
  await patchTree(fresh, manifest, { umask: 0o022 });
  assert.equal((await stat(join(fresh, 'shared'))).mode & 0o7777, 0o1755);

  // A folder that was there (without the bit) takes the published mode, sticky bit included.
  const there = join(base, 'sticky-there');
  await mkdir(join(there, 'shared'), { recursive: true });
  await chmod(join(there, 'shared'), 0o777);
  await patchTree(there, manifest, { umask: 0o022 });
  assert.equal((await stat(join(there, 'shared'))).mode & 0o7777, 0o1777);
  // And a second run finds nothing to change.
  const again = await patchTree(there, manifest, { umask: 0o022 });
  assert.equal((await stat(join(there, 'shared'))).mode & 0o7777, 0o1777);
  assert.ok(
    again.files.every((f) => f.action === 'unchanged'),
    JSON.stringify(again.files),
  );
});
