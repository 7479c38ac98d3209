/**
 * go-sync 0.2 indexes. The go-sync binary is not available, so the golden bytes below are
 * worked out by hand from go-sync's source (gosync/common.go writeHeaders,
 * filechecksum.GenerateChecksums, rollsum/rollsum_32_base.go GetSum); the MD5 values are
 * those of `printf 'hello wo' | md5sum` and `printf 'rld!' | md5sum`.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { decodeAnyIndex, detectIndexFormat } from '../../src/formats/detect.js';
import {
  decodeGoSyncV0Index,
  encodeGoSyncV0Index,
  goSyncV0ToBlockIndex,
  isGoSyncV0Index,
  swapHalves,
} from '../../src/formats/gosync-v0.js';
import { toHex } from '../../src/core/hashing/strong-hash.js';
import { loadIndex } from '../../src/file/load-index.js';
import { weakChecksum } from '../../src/core/rollsum.js';
import { MemorySource } from '../../src/sources/memory-source.js';
import { concat, randomBytes } from '../helpers/data.js';
import { patchMemory } from '../helpers/memory-patch.js';
import { runCli } from '../helpers/cli.js';

const HELLO = new TextEncoder().encode('hello world!');

// "hello world!" in 8-byte blocks: "hello wo" and the short last block "rld!" (hashed unpadded).
//   block 0: a = 104+101+108+108+111+32+119+111 = 794 = 0x031a
//            b = 8·104+7·101+6·108+5·108+4·111+3·32+2·119+1·111 = 3616 = 0x0e20
//            stored as LE uint32 a | b<<16 = 0x0e20031a -> 1a 03 20 0e
//   block 1: a = 114+108+100+33 = 355 = 0x0163, b = 4·114+3·108+2·100+1·33 = 1013 = 0x03f5 -> 63 01 f5 03
const GOLDEN = Buffer.from(
  [
    '47 30 53 39 4e 43', // "G0S9NC"
    '00 00 02 00 01 00', // version 0.2.1 (3 × uint16 LE)
    '0c 00 00 00 00 00 00 00', // file size 12 (int64 LE)
    '08 00 00 00', // block size 8 (uint32 LE)
    '1a 03 20 0e',
    '64a59a3b0ba341645ad4f836dffe1fea', // block 0: rollsum, MD5("hello wo")
    '63 01 f5 03',
    '39a1f9b316b8f4eae496560b0d183929', // block 1: rollsum, MD5("rld!")
  ]
    .join('')
    .replace(/ /g, ''),
  'hex',
);

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return SyncError.is(err) ? err.code : `not a SyncError: ${(err as Error).message}`;
  }
  return undefined;
}

test('the hand-computed go-sync index of "hello world!" decodes, and the writer produces exactly it', () => {
  assert.equal(GOLDEN.length, 24 + 2 * 20);
  assert.ok(isGoSyncV0Index(GOLDEN));
  assert.equal(detectIndexFormat(GOLDEN), 'go-sync');
  const g = decodeGoSyncV0Index(GOLDEN);
  assert.deepEqual(g.version, [0, 2, 1]);
  assert.equal(g.fileSize, 12);
  assert.equal(g.blockSize, 8);
  assert.equal(g.blockCount, 2);
  // gosync's (a << 16) | b: the stored halves swapped.
  assert.deepEqual([...g.weak], [0x031a0e20, 0x016303f5]);
  assert.equal(g.weak[0], weakChecksum(HELLO.subarray(0, 8)));
  assert.equal(g.weak[1], weakChecksum(HELLO.subarray(8)), 'the last block is summed unpadded');
  assert.equal(toHex(g.md5), '64a59a3b0ba341645ad4f836dffe1fea39a1f9b316b8f4eae496560b0d183929');
  assert.deepEqual(Buffer.from(encodeGoSyncV0Index(HELLO, 8)), GOLDEN);
  assert.equal(swapHalves(0x0e20031a), 0x031a0e20);
});

test("mapping onto a BlockIndex pads the last block (checked against go-sync's MD5) and needs a whole-file digest", async () => {
  const g = decodeGoSyncV0Index(GOLDEN);
  const fileDigest = { algorithm: 'sha256', digest: new Uint8Array(createHash('sha256').update(HELLO).digest()) };
  const index = await goSyncV0ToBlockIndex(g, { fileDigest, lastBlock: HELLO.subarray(8) });
  assert.equal(index.seqMatches, 1);
  assert.equal(index.weakBytes, 4);
  assert.equal(index.strongBytes, 16);
  assert.equal(index.strongHash.name, 'md5');
  assert.equal(index.weak[0], 0x031a0e20);
  // Padded to 8 bytes: b' = b + (8 − 4)·a = 1013 + 4·355 = 2433 = 0x0981.
  assert.equal(index.weak[1], 0x01630981);
  assert.equal(index.weak[1], weakChecksum(Uint8Array.from([...HELLO.subarray(8), 0, 0, 0, 0])));
  assert.equal(toHex(index.strong.subarray(16)), createHash('md5').update(Buffer.from('rld!\0\0\0\0', 'latin1')).digest('hex'));
  assert.equal(toHex(index.strong.subarray(0, 16)), '64a59a3b0ba341645ad4f836dffe1fea');
  // The same from a source.
  const viaSource = await goSyncV0ToBlockIndex(g, { fileDigest, source: new MemorySource(HELLO) });
  assert.deepEqual(viaSource.strong, index.strong);
  // Never without a whole-file digest, nor without the short last block, nor with a wrong one.
  await assert.rejects(goSyncV0ToBlockIndex(g, {} as never), TypeError);
  await assert.rejects(goSyncV0ToBlockIndex(g, { fileDigest }), /lastBlock or options\.source/);
  await assert.rejects(
    goSyncV0ToBlockIndex(g, { fileDigest: { algorithm: 'sha256', digest: new Uint8Array(5) }, lastBlock: HELLO.subarray(8) }),
    RangeError,
  );
  await assert.rejects(
    goSyncV0ToBlockIndex(g, { fileDigest: { algorithm: 'nope', digest: new Uint8Array(5) }, lastBlock: HELLO.subarray(8) }),
    RangeError,
  );
  await assert.rejects(
    goSyncV0ToBlockIndex(g, { fileDigest, lastBlock: new TextEncoder().encode('rld?') }),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.BLOCK_MISMATCH,
  );
  await assert.rejects(
    goSyncV0ToBlockIndex(g, { fileDigest, lastBlock: new TextEncoder().encode('rld!!') }),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.BLOCK_MISMATCH,
  );
});

test('go-sync writes no extra record for an exact multiple of the block size, none for an empty file', () => {
  const exact = decodeGoSyncV0Index(encodeGoSyncV0Index(HELLO.subarray(0, 8), 4));
  assert.equal(exact.blockCount, 2);
  assert.equal(encodeGoSyncV0Index(HELLO.subarray(0, 8), 4).length, 24 + 40);
  const empty = decodeGoSyncV0Index(encodeGoSyncV0Index(new Uint8Array(0), 8192));
  assert.equal(empty.blockCount, 0);
  assert.equal(empty.fileSize, 0);
});

test('a go-sync index round-trips and patches through the engine once given the file digest', async () => {
  const ref = randomBytes(100_000, 21);
  const old = concat(ref.subarray(0, 30_000), randomBytes(1234, 22), ref.subarray(30_000, 70_000), ref.subarray(72_000));
  for (const bs of [1000, 4096, 8192, 100_000, 200_000]) {
    const g = decodeGoSyncV0Index(encodeGoSyncV0Index(ref, bs));
    assert.equal(g.blockCount, Math.ceil(ref.length / bs));
    for (let i = 0; i < g.blockCount; i++) {
      const block = ref.subarray(i * bs, Math.min(ref.length, (i + 1) * bs));
      assert.equal(g.weak[i], weakChecksum(block));
      assert.equal(toHex(g.md5.subarray(16 * i, 16 * i + 16)), createHash('md5').update(block).digest('hex'));
    }
    const source = new MemorySource(ref);
    const index = await goSyncV0ToBlockIndex(g, {
      fileDigest: { algorithm: 'sha256', digest: new Uint8Array(createHash('sha256').update(ref).digest()) },
      source,
    });
    const { output } = await patchMemory(index, [old], source);
    assert.deepEqual(output, ref, `block size ${bs}`);
    // A wrong digest fails the patch (fail closed), it is never skipped.
    const wrong = await goSyncV0ToBlockIndex(g, { fileDigest: { algorithm: 'sha256', digest: new Uint8Array(32) }, source });
    await assert.rejects(patchMemory(wrong, [old], source), (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.FILE_MISMATCH);
  }
});

test('malformed go-sync indexes fail with INDEX_CORRUPT or INDEX_UNSUPPORTED', () => {
  const C = ErrorCodes.INDEX_CORRUPT;
  const U = ErrorCodes.INDEX_UNSUPPORTED;
  const patch = (offset: number, hex: string) => {
    const b = Buffer.from(GOLDEN);
    Buffer.from(hex, 'hex').copy(b, offset);
    return b;
  };
  const cases: [string, Uint8Array, string, RegExp?][] = [
    ['wrong magic', patch(0, '4730533939'), C, /magic/],
    ['truncated header', GOLDEN.subarray(0, 20), C, /shorter than the 24-byte header/],
    ['partial record', GOLDEN.subarray(0, GOLDEN.length - 1), C, /partial/],
    ['a record missing', GOLDEN.subarray(0, GOLDEN.length - 20), C, /1 block records/],
    ['an extra record', concat(GOLDEN, GOLDEN.subarray(24, 44)), C, /3 block records/],
    ['negative size', patch(12, 'ffffffffffffffff'), C, /negative/],
    ['size over 2^53', patch(12, '0000000000000001'), C, /2\^53/],
    ['absurd block count', patch(12, 'ffffffffffff1f00'), C, /over the limit/],
    ['block size 0', patch(20, '00000000'), C, /block size is 0/],
    ['block size over 16 MiB', patch(20, '00000002'), U, /block size/],
    ['version 0.1.0', patch(6, '000001000000'), U, /0\.1\.0/],
    ['version 1.0.0', patch(6, '010000000000'), U, /1\.0\.0/],
  ];
  for (const [name, data, want, message] of cases) {
    assert.equal(
      code(() => decodeGoSyncV0Index(data)),
      want,
      name,
    );
    if (message) assert.throws(() => decodeGoSyncV0Index(data), message, name);
  }
  assert.equal(
    code(() => decodeGoSyncV0Index(GOLDEN, { maxBytes: 50 })),
    C,
  );
});

test('loadIndex reads a go-sync index (no whole-file digest: verified block by block); unknown data is INDEX_CORRUPT', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gosync-gosyncv0-'));
  try {
    const file = join(dir, 'hello.gosync');
    await writeFile(file, GOLDEN);
    const loaded = await loadIndex(file);
    assert.equal(loaded.format, 'go-sync');
    assert.equal(loaded.index.fileDigest.algorithm, 'none');
    assert.equal(loaded.index.paddedLastBlock, false);
    assert.equal(loaded.index.strongHash.name, 'md5');
    // A damaged one is reported as damaged.
    await writeFile(file, GOLDEN.subarray(0, 30));
    await assert.rejects(loadIndex(file), (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.INDEX_CORRUPT);
    await writeFile(file, 'hello, not an index');
    await assert.rejects(
      loadIndex(file),
      (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.INDEX_CORRUPT && /not a gosync index, a \.zsync/.test(e.message),
    );
    assert.equal(
      code(() => decodeAnyIndex(new Uint8Array(0))),
      ErrorCodes.INDEX_CORRUPT,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('gosync patch updates a file from a go-sync index, checking every block, and refuses a wrong reference', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gosync-gosyncv0-'));
  try {
    const oldData = randomBytes(100_000, 3);
    const newData = concat(oldData.subarray(0, 30_000), randomBytes(100, 4), oldData.subarray(30_000, 99_000));
    const local = join(dir, 'app.bin');
    const ref = join(dir, 'ref.bin');
    await writeFile(local, oldData);
    await writeFile(ref, newData);
    // go-sync's default block size is 8192; the file is not a multiple of it.
    await writeFile(join(dir, 'app.gosync'), encodeGoSyncV0Index(newData, 8192));
    const r = await runCli(['patch', '--json', local, join(dir, 'app.gosync'), ref]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readFile(local), Buffer.from(newData));
    const report = JSON.parse(r.stdout);
    assert.ok(report.reusedBytes >= newData.length - 3 * 8192, `reused ${report.reusedBytes}`);
    // A reference that is not the file the index describes is refused, nothing written.
    const other = Uint8Array.from(newData);
    other[30_050]! ^= 1; // inside the inserted bytes, which must be fetched
    await writeFile(ref, other);
    await writeFile(local, oldData);
    const bad = await runCli(['patch', local, join(dir, 'app.gosync'), ref]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /GOSYNC_ERR_BLOCK_MISMATCH/);
    assert.deepEqual(await readFile(local), Buffer.from(oldData));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('without a whole-file digest, a local block that is not what the index says is refused', async () => {
  const { assemble } = await import('../../src/core/patcher.js');
  const { goSyncV0AsBlockIndex } = await import('../../src/formats/gosync-v0.js');
  const data = randomBytes(10_000, 9);
  const index = goSyncV0AsBlockIndex(decodeGoSyncV0Index(encodeGoSyncV0Index(data, 4096)));
  const wrong = Uint8Array.from(data);
  wrong[5000]! ^= 1; // block 1
  const found = new Int32Array([0, 0, -1]);
  const offsets = new Float64Array([0, 4096, 0]);
  const reader = {
    async readInto(t: Uint8Array, pos: number) {
      const n = Math.min(t.length, wrong.length - pos);
      t.set(wrong.subarray(pos, pos + n));
      return n;
    },
  };
  await assert.rejects(
    assemble({
      index,
      foundSource: found,
      foundOffset: offsets,
      locals: [reader],
      ranges: [{ start: 8192, end: 10_000, firstBlock: 2, blockCount: 1 }],
      source: new MemorySource(data),
      sink: { async write() {} },
    }),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.BLOCK_MISMATCH && e.blockIndex === 1,
  );
  // The same with the right local bytes goes through, the short last block checked unpadded.
  const right = {
    async readInto(t: Uint8Array, pos: number) {
      const n = Math.min(t.length, data.length - pos);
      t.set(data.subarray(pos, pos + n));
      return n;
    },
  };
  const r = await assemble({
    index,
    foundSource: found,
    foundOffset: offsets,
    locals: [right],
    ranges: [{ start: 8192, end: 10_000, firstBlock: 2, blockCount: 1 }],
    source: new MemorySource(data),
    sink: { async write() {} },
  });
  assert.equal(r.reusedBytes, 8192);
  assert.equal(r.fetchedBytes, 10_000 - 8192);
});
