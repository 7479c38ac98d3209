/**
 * Single-file history: each build records the version it published and publishes deltas
 * from the most recent earlier ones; older versions are pruned.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createHash } from 'node:crypto';
import { decodeIndex } from '../../src/core/index/format.js';
import { buildIndexFile } from '../../src/file/build-file.js';
import { historyBases, historyFolder, recordVersion } from '../../src/file/history.js';
import { concat, randomBytes } from '../helpers/data.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-history-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const hex = (d: Uint8Array) => createHash('sha256').update(d).digest('hex');

test('each build publishes deltas from the last versions kept, and keeps only that many', async () => {
  const input = join(dir, 'app.bin');
  const index = join(dir, 'app.bin.gosync');
  const versions = [randomBytes(50_000, 1)];
  for (let i = 1; i < 4; i++)
    versions.push(concat(versions[i - 1]!.subarray(0, 10_000 * i), randomBytes(300, 10 + i), versions[i - 1]!.subarray(10_000 * i)));
  const listed: string[][] = [];
  for (const v of versions) {
    await writeFile(input, v);
    const bases = await historyBases(input, index, 2);
    await buildIndexFile(input, index, { compress: { bases } });
    await recordVersion(input, index, 2);
    const decoded = decodeIndex(await readFile(index));
    listed.push((decoded.published?.bases ?? []).map((b) => Buffer.from(b.baseSha256).toString('hex')));
  }
  assert.deepEqual(listed, [[], [hex(versions[0]!)], [hex(versions[1]!), hex(versions[0]!)], [hex(versions[2]!), hex(versions[1]!)]]);
  assert.deepEqual((await readdir(historyFolder(index))).sort(), [hex(versions[2]!), hex(versions[3]!)].sort());
  assert.deepEqual(await readFile(join(historyFolder(index), hex(versions[3]!))), Buffer.from(versions[3]!));
  // The same content again is not its own base.
  assert.deepEqual(await historyBases(input, index, 5), [join(historyFolder(index), hex(versions[2]!))]);
  assert.deepEqual(await historyBases(input, join(dir, 'none.gosync'), 5), [], 'no folder yet');
});
