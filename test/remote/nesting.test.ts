/**
 * A push of deeply nested folders costs linear work on the receiving end: each folder is
 * checked and made once per session, not once per entry below it (1,000 nested folders
 * were about a million calls). Calls are counted, not timed. (The sending end checks the
 * folders above each file it reads every time, on purpose: its source is its own.)
 */
import assert from 'node:assert/strict';
import { lstat, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { push } from '../../src/remote/push-pull.js';
import { countFsCalls } from '../localfs/fs-counter.js';
import { tempDir } from './trees.js';

let dir: string;
let cleanup: () => Promise<void>;
before(async () => {
  ({ dir, cleanup } = await tempDir());
});
after(() => cleanup());

const DEPTH = 1000;

test('push of 1,000 nested folders (a file in the deepest): a few lstat/mkdir calls per folder', async () => {
  const src = join(dir, 'src');
  let p = src;
  for (let i = 0; i < DEPTH; i++) {
    p = join(p, 'd');
    await mkdir(p, { recursive: true });
  }
  await writeFile(join(p, 'f'), 'the deepest file');
  const dst = join(dir, 'dst');
  // Quadratic code makes about DEPTH²/2 calls: stop it long before.
  const counter = countFsCalls(['lstat', 'mkdir'], 20 * DEPTH);
  let r: Awaited<ReturnType<typeof push>>;
  try {
    r = await push(src, dst);
  } finally {
    counter.restore();
  }
  const { lstat: l, mkdir: m } = counter.counts;
  assert.equal(r.files, 1);
  assert.ok(l + m <= 8 * DEPTH, `lstat + mkdir calls for ${DEPTH} folders, both ends: ${l} + ${m}`);
  assert.ok((await lstat(join(dst, ...Array<string>(DEPTH).fill('d'), 'f'))).isFile());
});
