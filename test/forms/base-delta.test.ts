/**
 * The publish side of base deltas (writeBaseDelta) read back through the fetch side
 * (findBase, patchFromBase), without HTTP.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import type { BlockIndex } from '../../src/core/index/block-index.js';
import type { BaseDeltaForm } from '../../src/core/index/published.js';
import { baseBlockLength, writeBaseDelta } from '../../src/forms/base-delta.js';
import { findBase, patchFromBase } from '../../src/forms/patch-from-base.js';
import { MemorySource } from '../../src/sources/memory-source.js';
import { concat, indexOf, randomBytes } from '../helpers/data.js';

const oldData = randomBytes(300_000, 7);
// Edits here and there: most of the old file is reused.
const newData = concat(
  oldData.subarray(0, 50_000),
  randomBytes(3000, 8),
  oldData.subarray(60_000, 250_000),
  randomBytes(500, 9),
  oldData.subarray(250_000),
);

let dir: string;
let base: string;
let input: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-base-'));
  base = join(dir, 'v1.bin');
  input = join(dir, 'v2.bin');
  await writeFile(base, oldData);
  await writeFile(input, newData);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha256 = (d: Uint8Array) => new Uint8Array(createHash('sha256').update(d).digest());

async function publish(): Promise<{ index: BlockIndex; form: BaseDeltaForm; delta: Uint8Array }> {
  const r = await writeBaseDelta(base, input, join(dir, 'v2.bin.gosyncd-'), { level: 9 });
  assert.equal(r.baseSize, oldData.length);
  assert.deepEqual(r.baseSha256, sha256(oldData));
  assert.equal(basename(r.path), `v2.bin.gosyncd-${Buffer.from(r.baseSha256.subarray(0, 8)).toString('hex')}`);
  const delta = new Uint8Array(await readFile(r.path));
  assert.equal(r.size, delta.length);
  const form: BaseDeltaForm = { baseSize: r.baseSize, baseSha256: r.baseSha256, codec: 'brotli', size: r.size, name: basename(r.path) };
  const index: BlockIndex = { ...(await indexOf(newData)), published: { bases: [form] } };
  return { index, form, delta };
}

test('baseBlockLength is 32 bytes, doubled until the base has at most 4 Mi blocks', () => {
  assert.equal(baseBlockLength(0), 32);
  assert.equal(baseBlockLength(32 * 4 * 1024 * 1024), 32);
  assert.equal(baseBlockLength(32 * 4 * 1024 * 1024 + 1), 64);
  assert.equal(baseBlockLength(5 * 1024 ** 3), 2048);
});

test('a base delta is small, and rebuilds the new file from the base exactly', async () => {
  const { index, form, delta } = await publish();
  assert.ok(delta.length < 10_000, `${delta.length} bytes for 3.5 kB of new data`);
  const out = join(dir, 'rebuilt.bin');
  const r = await patchFromBase(index, form, new MemorySource(delta), base, out);
  assert.deepEqual(new Uint8Array(await readFile(out)), newData);
  assert.equal(r.deltaBytes, delta.length);
  assert.equal(r.copiedBytes + r.literalBytes, newData.length);
  assert.ok(r.literalBytes < 4000, `${r.literalBytes} literal bytes`);
});

test('findBase finds the delta for exactly the base, and nothing for another file of the same size', async () => {
  const { index, form } = await publish();
  assert.equal(await findBase(index, base), form);
  const sameSize = join(dir, 'same-size.bin');
  const other = Uint8Array.from(oldData);
  other[123_456]! ^= 1;
  await writeFile(sameSize, other);
  assert.equal(await findBase(index, sameSize), undefined);
  assert.equal(await findBase(index, input), undefined);
  assert.equal(await findBase(index, join(dir, 'missing')), undefined);
  assert.equal(await findBase(index, dir), undefined, 'a folder');
  assert.equal(await findBase({ ...index, published: {} }, base), undefined);
});

test('a damaged or truncated delta, or the wrong base, is refused and the output is left as it was', async () => {
  const { index, form, delta } = await publish();
  const out = join(dir, 'kept.bin');
  await writeFile(out, 'previous');
  const refusedWith = (codes: string[]) => (e: unknown) => SyncError.is(e) && codes.includes(e.code);
  // A damaged stream may fail to inflate, inflate to a malformed delta, or to a wrong result.
  const damaged = Uint8Array.from(delta);
  damaged.fill(0x5a, delta.length >> 1, (delta.length >> 1) + 16);
  await assert.rejects(
    patchFromBase(index, form, new MemorySource(damaged), base, out),
    refusedWith([ErrorCodes.FRAME_CORRUPT, ErrorCodes.DELTA_CORRUPT, ErrorCodes.FILE_MISMATCH]),
  );
  const truncated = delta.subarray(0, delta.length - 10);
  await assert.rejects(
    patchFromBase(index, { ...form, size: truncated.length }, new MemorySource(truncated), base, out),
    refusedWith([ErrorCodes.FRAME_CORRUPT]),
  );
  // Another file of the base's size: a result of the right length and the wrong content.
  const wrongBase = join(dir, 'wrong-base.bin');
  await writeFile(wrongBase, randomBytes(oldData.length, 77));
  await assert.rejects(patchFromBase(index, form, new MemorySource(delta), wrongBase, out), refusedWith([ErrorCodes.FILE_MISMATCH]));
  assert.equal(await readFile(out, 'utf8'), 'previous');
  assert.deepEqual(
    (await readdir(dir)).filter((n) => n.startsWith('.kept.bin.')),
    [],
    'no temporary file is left',
  );
});

test('a base that cannot be read is an IO error naming it, and nothing is written', async () => {
  const prefix = join(dir, 'nothing.gosyncd-');
  const missing = join(dir, 'no-base');
  await assert.rejects(
    writeBaseDelta(missing, input, prefix, { level: 5 }),
    (e: unknown) =>
      SyncError.is(e) && e.code === ErrorCodes.IO && e.path === missing && /^Cannot make a delta from the base /.test(e.message),
  );
  assert.deepEqual(
    (await readdir(dir)).filter((n) => n.includes('nothing')),
    [],
  );
});
