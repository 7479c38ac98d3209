import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { NO_FILE_DIGEST, type BlockIndex } from '../../src/core/index/block-index.js';
import { BlockVerifier, FileVerifier } from '../../src/core/verify.js';
import { decodeGoSyncV0Index, encodeGoSyncV0Index, goSyncV0AsBlockIndex } from '../../src/formats/gosync-v0.js';
import { chunked, indexOf, randomBytes } from '../helpers/data.js';

const BS = 1024;
// 5 whole blocks and a last one of 300 bytes.
const data = randomBytes(5 * BS + 300, 21);

const code = (c: string, blockIndex?: number) => (e: unknown) =>
  SyncError.is(e) && e.code === c && (blockIndex === undefined || e.blockIndex === blockIndex);

function block(i: number): Uint8Array {
  return data.subarray(i * BS, Math.min(data.length, (i + 1) * BS));
}

test('BlockVerifier passes every block of the reference, the short last one included, at any start offset', async () => {
  const index = await indexOf(data, { blockSize: BS });
  const v = new BlockVerifier(index);
  for (let i = 0; i < index.blockCount; i++) v.verify(i, block(i), 0);
  // The same blocks inside a larger buffer.
  const framed = new Uint8Array(7 + data.length);
  framed.set(data, 7);
  for (let i = 0; i < index.blockCount; i++) v.verify(i, framed, 7 + i * BS);
  // The last block still passes after a full block was checked with the same scratch buffer.
  v.verify(0, block(0), 0);
  v.verify(5, block(5), 0);
});

test('BlockVerifier fails a wrong block with BLOCK_MISMATCH, its index and offset', async () => {
  const index = await indexOf(data, { blockSize: BS });
  const v = new BlockVerifier(index);
  const bad = Uint8Array.from(block(2));
  bad[100]! ^= 1;
  assert.throws(
    () => v.verify(2, bad, 0),
    (e: unknown) => code(ErrorCodes.BLOCK_MISMATCH, 2)(e) && (e as SyncError).offset === 2 * BS,
  );
  // A right block in the wrong place fails too.
  assert.throws(() => v.verify(3, block(2), 0), code(ErrorCodes.BLOCK_MISMATCH, 3));
  // A short last block with junk where the padding would be is judged on its real bytes only.
  const last = new Uint8Array(BS);
  last.set(block(5));
  last.fill(0xff, 300);
  v.verify(5, last, 0);
  last[299]! ^= 1;
  assert.throws(() => v.verify(5, last, 0), code(ErrorCodes.BLOCK_MISMATCH, 5));
});

test('BlockVerifier fails closed: no strong hash to compare with is NO_EXPECTED_HASH, never a pass', async () => {
  const index = await indexOf(data, { blockSize: BS });
  const v = new BlockVerifier(index);
  assert.throws(() => v.verify(index.blockCount, block(0), 0), code(ErrorCodes.NO_EXPECTED_HASH, index.blockCount));
  assert.throws(() => v.verify(-1, block(0), 0), code(ErrorCodes.NO_EXPECTED_HASH, -1));
  const noHashes: BlockIndex = { ...index, strongBytes: 0, strong: new Uint8Array(0) };
  assert.throws(() => new BlockVerifier(noHashes).verify(0, block(0), 0), code(ErrorCodes.NO_EXPECTED_HASH, 0));
  // Hashes missing for the last blocks (a truncated table).
  const truncated: BlockIndex = { ...index, strong: index.strong.subarray(0, 3 * index.strongBytes) };
  const t = new BlockVerifier(truncated);
  t.verify(2, block(2), 0);
  assert.throws(() => t.verify(3, block(3), 0), code(ErrorCodes.NO_EXPECTED_HASH, 3));
});

test('BlockVerifier checks an unpadded last block (go-sync) on its real bytes', () => {
  const index = goSyncV0AsBlockIndex(decodeGoSyncV0Index(encodeGoSyncV0Index(data, BS)));
  assert.equal(index.paddedLastBlock, false);
  const v = new BlockVerifier(index);
  for (let i = 0; i < index.blockCount; i++) v.verify(i, block(i), 0);
  const bad = Uint8Array.from(block(5));
  bad[0]! ^= 0x80;
  assert.throws(() => v.verify(5, bad, 0), code(ErrorCodes.BLOCK_MISMATCH, 5));
});

test('FileVerifier passes exactly the reference, in any chunking', async () => {
  const index = await indexOf(data, { blockSize: BS });
  for (const sizes of [[data.length], [1], [7, 1000, 3], [BS]]) {
    const f = new FileVerifier(index);
    for (const c of chunked(data, sizes)) f.update(c);
    f.finish();
  }
});

test('FileVerifier fails a changed byte, a missing byte and an extra byte with FILE_MISMATCH', async () => {
  const index = await indexOf(data, { blockSize: BS });
  const changed = Uint8Array.from(data);
  changed[4000]! ^= 4;
  for (const [what, bytes, message] of [
    ['a changed byte', changed, /its sha256 is [0-9a-f]{64}, the index says [0-9a-f]{64}/],
    ['a missing byte', data.subarray(0, data.length - 1), new RegExp(`it is ${data.length - 1} bytes, the index says ${data.length}`)],
    ['an extra byte', Buffer.concat([data, new Uint8Array(1)]), new RegExp(`it is ${data.length + 1} bytes`)],
    ['nothing', new Uint8Array(0), /it is 0 bytes/],
  ] as const) {
    const f = new FileVerifier(index);
    f.update(bytes);
    assert.throws(
      () => f.finish(),
      (e: unknown) => code(ErrorCodes.FILE_MISMATCH)(e) && message.test((e as Error).message),
      what,
    );
  }
});

test('FileVerifier without a whole-file digest checks the length only (the patcher then checks every block)', () => {
  const index = { fileSize: data.length, fileDigest: { algorithm: NO_FILE_DIGEST, digest: new Uint8Array(0) } };
  const other = randomBytes(data.length, 99);
  const f = new FileVerifier(index);
  f.update(other);
  f.finish();
  const short = new FileVerifier(index);
  short.update(other.subarray(1));
  assert.throws(() => short.finish(), code(ErrorCodes.FILE_MISMATCH));
});
