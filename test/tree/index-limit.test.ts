/**
 * A folder's indexes are bounded by their own files (security review item 6): an index
 * object larger than its file's records and forms could be is refused before it is read.
 */
import assert from 'node:assert/strict';
import { readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { indexByteLimit } from '../../src/tree/tree-planner.js';
import { runCli } from '../helpers/cli.js';
import { randomBytes } from '../helpers/data.js';
import { put, tempDir } from './tree-fixtures.js';

let base: string;
before(async () => {
  base = await tempDir('index-limit');
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out;
}

test('the limit grows with the file, from 1 MiB, up to the format limit', () => {
  assert.equal(indexByteLimit(0), 1 << 20);
  assert.equal(indexByteLimit(1000), (1 << 20) + 3000);
  assert.equal(indexByteLimit(2 ** 40), 1 << 30);
});

test('an index object over its file limit is refused by its size, and the folder is left as it was', async () => {
  const data = randomBytes(600_000, 3);
  const src = join(base, 'site');
  await put(src, 'big.bin', data);
  const pub = join(base, 'pub');
  const b = await runCli(['build', src, '-o', pub, '-q', '--no-compress']);
  assert.equal(b.code, 0, b.stderr);
  const indexes = (await filesUnder(join(pub, 'objects'))).filter((p) => p.endsWith('.gosync'));
  assert.equal(indexes.length, 1);
  await writeFile(indexes[0]!, Buffer.alloc(indexByteLimit(data.length) + 1));

  const dst = join(base, 'dst');
  const old = Buffer.from(data);
  old.fill(9, 1000, 2000);
  await put(dst, 'big.bin', old);
  // Another time than the published file's, so that its size and time do not pass it as unchanged.
  await utimes(join(dst, 'big.bin'), 1_000_000, 1_000_000);
  const r = await runCli(['patch', dst, join(pub, 'site.tree.json'), '--json']);
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, /over the limit of \d+.*GOSYNC_ERR_INDEX_CORRUPT/);
  assert.deepEqual(await import('node:fs/promises').then((fs) => fs.readFile(join(dst, 'big.bin'))), old);
});
