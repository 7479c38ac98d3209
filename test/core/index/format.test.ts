import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import { ErrorCodes, SyncError } from '../../../src/core/errors.js';
import { IndexBuilder, buildIndex } from '../../../src/core/index/builder.js';
import {
  baseDeltaName,
  decodeIndex,
  encodeExtension,
  encodeHeader,
  encodeIndex,
  encodeTrailer,
  indexSize,
  readIndexHeader,
  readIndexSummary,
  HEADER_SIZE,
  TRAILER_SIZE,
} from '../../../src/core/index/format.js';
import { encodePublished, type PublishedForms } from '../../../src/core/index/published.js';
import type { BlockIndex } from '../../../src/core/index/block-index.js';
import { defaultBlockSize, defaultHashLengths } from '../../../src/core/index/params.js';
import { weakChecksum } from '../../../src/core/rollsum.js';
import { blockDigestOf, chunked, randomBytes } from '../../helpers/data.js';
import { runRecords } from '../../../src/workers/tasks.js';

function code(err: unknown): string | undefined {
  return SyncError.is(err) ? err.code : undefined;
}

test('an index round-trips and records size, hashes and URL', async () => {
  const data = randomBytes(10_000, 5);
  const bytes = await buildIndex(data, { fileSize: data.length, blockSize: 1024, url: 'https://example.com/x.bin' });
  const index = decodeIndex(bytes);
  assert.equal(index.fileSize, 10_000);
  assert.equal(index.blockSize, 1024);
  assert.equal(index.blockCount, 10);
  assert.equal(index.url, 'https://example.com/x.bin');
  assert.deepEqual(Buffer.from(index.fileDigest.digest), createHash('sha256').update(data).digest());
  // Last block is zero-padded before hashing.
  const last = new Uint8Array(1024);
  last.set(data.subarray(9216));
  const mask = index.weakBytes === 4 ? 0xffffffff : (1 << (8 * index.weakBytes)) - 1;
  assert.equal(index.weak[9], (weakChecksum(last) & mask) >>> 0);
  const strong = createHash('sha256').update(last).digest().subarray(0, index.strongBytes);
  assert.deepEqual(Buffer.from(index.strong.subarray(9 * index.strongBytes, 10 * index.strongBytes)), strong);
  assert.equal(bytes.length, indexSize({ ...index, version: 5 }));
  assert.deepEqual(Buffer.from(encodeIndex(index)), Buffer.from(bytes));
});

test('the builder gives the same index whole, byte by byte and in odd splits', async () => {
  const data = randomBytes(7001, 9);
  const whole = Buffer.from(await buildIndex(data, { fileSize: data.length, blockSize: 256 }));
  for (const sizes of [[1], [3, 1000, 7], [255, 257], [7001]]) {
    const b = new IndexBuilder({ fileSize: data.length, blockSize: 256 });
    const parts = [b.headerBytes()];
    for (const c of chunked(data, sizes)) parts.push(b.push(c));
    parts.push(b.end());
    assert.deepEqual(Buffer.concat(parts), whole, `splits ${sizes.join(',')}`);
  }
});

test('the empty file has an index with no blocks', async () => {
  const index = decodeIndex(await buildIndex(new Uint8Array(0), { fileSize: 0 }));
  assert.equal(index.blockCount, 0);
  assert.deepEqual(Buffer.from(index.fileDigest.digest), createHash('sha256').digest());
});

test('index size per block is no more than zsync 0.6.2 at its defaults', () => {
  // zsyncmake 0.6.2 thresholds (research/zsync.md §1.4): bytes per block = rsum + checksum.
  const cases: [number, number][] = [
    [40, 5], // 1,2,3 (≤16 is 1,2,3; 17-2048 gives 1,2,4 = 6)
    [5000, 5], // 2,2,3
    [1_000_000, 6], // 2,2,4
    [20_000_000, 7], // 2,2,5
    [104_953_704, 7], // 2,2,5 with 4 KiB blocks
  ];
  for (const [size, zsyncBytes] of cases) {
    const bs = size <= 2048 ? 2048 : defaultBlockSize(size);
    const h = defaultHashLengths(size, bs);
    const per = h.weakBytes + h.strongBytes;
    assert.ok(per <= Math.max(zsyncBytes, 6), `${size}: ${per} bytes per block`);
  }
  assert.equal(defaultBlockSize(8_900_000), 2048);
  assert.equal(defaultBlockSize(104_953_704), 4096);
  assert.equal(defaultBlockSize(4 * 1024 ** 3), 16384);
});

test('a corrupt, truncated or inconsistent index is rejected with a typed error', async () => {
  const data = randomBytes(5000, 1);
  const good = Buffer.from(await buildIndex(data, { fileSize: data.length, blockSize: 512 }));
  const cases: [string, Buffer, string][] = [
    ['empty', Buffer.alloc(0), ErrorCodes.INDEX_CORRUPT],
    ['short header', good.subarray(0, 20), ErrorCodes.INDEX_CORRUPT],
    ['truncated records', good.subarray(0, good.length - 50), ErrorCodes.INDEX_CORRUPT],
    ['trailing data', Buffer.concat([good, Buffer.from([0])]), ErrorCodes.INDEX_CORRUPT],
    ['wrong magic', Buffer.concat([Buffer.from('ZSYNCIX!'), good.subarray(8)]), ErrorCodes.INDEX_CORRUPT],
    ['flipped record byte', flip(good, HEADER_SIZE + 3), ErrorCodes.INDEX_CORRUPT],
    ['flipped file hash', flip(good, good.length - TRAILER_SIZE + 1), ErrorCodes.INDEX_CORRUPT],
    ['future version', set16(good, 8, 7), ErrorCodes.INDEX_UNSUPPORTED],
    ['block size not a power of two', set32(good, 20, 1000), ErrorCodes.INDEX_CORRUPT],
    ['block count from size disagrees with records', set64(good, 12, 5000n + 512n), ErrorCodes.INDEX_CORRUPT],
    ['absurd size needing gigabytes', set64(good, 12, 2n ** 50n), ErrorCodes.INDEX_CORRUPT],
    ['size over 2^53', set64(good, 12, 2n ** 60n), ErrorCodes.INDEX_CORRUPT],
    ['weak bytes 9', setByte(good, 25, 9), ErrorCodes.INDEX_CORRUPT],
    ['URL length past the end', set16(good, 10, 4000), ErrorCodes.INDEX_CORRUPT],
  ];
  for (const [name, bytes, want] of cases) {
    assert.throws(
      () => decodeIndex(bytes),
      (e: unknown) => code(e) === want && /^Cannot read the index/.test((e as Error).message),
      name,
    );
  }
});

test('an absurd block count is refused from the header alone, before allocation', () => {
  const h = Buffer.alloc(32);
  Buffer.from('GOSYNCIX').copy(h);
  h.writeUInt16LE(1, 8);
  h.writeBigUInt64LE(2n ** 52n, 12);
  h.writeUInt32LE(16, 20);
  h[24] = 1;
  h[25] = 4;
  h[26] = 1;
  h[27] = 16;
  h[28] = 2;
  h[29] = 1;
  assert.throws(
    () => readIndexHeader(h),
    (e: unknown) => code(e) === ErrorCodes.INDEX_CORRUPT && /over the limit/.test((e as Error).message),
  );
  assert.throws(() => readIndexHeader(h, { maxBytes: 1000 }), /over the limit of 1000/);
});

function flip(b: Buffer, at: number): Buffer {
  const c = Buffer.from(b);
  c[at] = c[at]! ^ 0xff;
  return c;
}
function setByte(b: Buffer, at: number, v: number): Buffer {
  const c = Buffer.from(b);
  c[at] = v;
  return c;
}
function set16(b: Buffer, at: number, v: number): Buffer {
  const c = Buffer.from(b);
  c.writeUInt16LE(v, at);
  return c;
}
function set32(b: Buffer, at: number, v: number): Buffer {
  const c = Buffer.from(b);
  c.writeUInt32LE(v, at);
  return c;
}
function set64(b: Buffer, at: number, v: bigint): Buffer {
  const c = Buffer.from(b);
  c.writeBigUInt64LE(v, at);
  return c;
}

/** A version 2 index as gosync wrote it before version 3: forms, then SHA-256 and CRC. */
function encodeVersion2(index: BlockIndex, published: PublishedForms): Uint8Array {
  const header = encodeHeader({ ...index, version: 2 });
  const rec = index.weakBytes + index.strongBytes;
  const records = Buffer.alloc(index.blockCount * rec);
  for (let i = 0; i < index.blockCount; i++) {
    records.writeUIntLE(index.weak[i]!, i * rec, index.weakBytes);
    records.set(index.strong.subarray(i * index.strongBytes, (i + 1) * index.strongBytes), i * rec + index.weakBytes);
  }
  const body = Buffer.concat([header, records, encodeExtension(encodePublished(published, index.blockCount))]);
  return Buffer.concat([body, encodeTrailer(index.fileDigest.digest, crc32(body))]);
}

const samplePublished = {
  frames: { codec: 'zstd' as const, blocksPerFrame: 8, frameSizes: Uint32Array.from([700, 650, 300]), name: 'x.bin.gosyncz' },
  whole: { codec: 'brotli' as const, size: 1234, name: 'x.bin.gosync.br' },
  bases: [
    {
      baseSize: 19_000,
      baseSha256: new Uint8Array(32).fill(9),
      codec: 'gosync' as const,
      size: 321,
      name: 'x.bin.gosyncd-0909090909090909',
    },
    {
      baseSize: 18_000,
      baseSha256: new Uint8Array(32).fill(7),
      codec: 'brotli' as const,
      size: 400,
      name: 'x.bin.gosyncd-0707070707070707',
    },
  ],
};

test('version 3 lists published forms, round-trips them, ends with a summary, and a streaming builder writes the same bytes', async () => {
  const data = randomBytes(20_000, 31);
  const plain = decodeIndex(await buildIndex(data, { fileSize: data.length, blockSize: 1024, blockDigest: false }));
  const published = samplePublished;
  const bytes = encodeIndex({ ...plain, published });
  assert.equal(Buffer.from(bytes).readUInt16LE(8), 3);
  const back = decodeIndex(bytes);
  assert.deepEqual(back.published, published);
  assert.deepEqual(back.weak, plain.weak);
  assert.deepEqual(Buffer.from(back.fileDigest.digest), Buffer.from(plain.fileDigest.digest));
  const b = new IndexBuilder({ fileSize: data.length, blockSize: 1024, published: true, blockDigest: false });
  const streamed = Buffer.concat([b.headerBytes(), b.push(data), b.end(published)]);
  assert.deepEqual(streamed, Buffer.from(bytes));
  // The summary alone, from the last 49 + 8·n bytes.
  const summary = readIndexSummary(bytes.subarray(bytes.length - 65));
  assert.deepEqual(summary, {
    fileSize: data.length,
    sha256: Uint8Array.from(plain.fileDigest.digest),
    bases: [new Uint8Array(8).fill(9), new Uint8Array(8).fill(7)],
  });
  assert.deepEqual(readIndexSummary(bytes.subarray(bytes.length - 57)), { need: 65 }, 'too short for two bases: asks for more');
  assert.deepEqual(readIndexSummary(bytes.subarray(bytes.length - 20)), { need: 49 });
  assert.equal(readIndexSummary(encodeIndex(plain).subarray(-57)), undefined, 'a version 1 index has no summary');
  assert.equal(baseDeltaName('x.bin.gosync', new Uint8Array(32).fill(9)), 'x.bin.gosyncd-0909090909090909');
  // Damage in the section is caught (CRC), and an inconsistent frame count is refused.
  const bad = Buffer.from(bytes);
  bad[bad.length - 120]! ^= 1;
  assert.throws(
    () => decodeIndex(bad),
    (e: unknown) => code(e) === ErrorCodes.INDEX_CORRUPT,
  );
  const wrongCount = { ...published, frames: { ...published.frames, blocksPerFrame: 4, frameSizes: Uint32Array.from([1, 2, 3]) } };
  assert.throws(() => encodeIndex({ ...plain, published: wrongCount }), RangeError);
  // Truncated, and a summary that disagrees with the base entries (CRC made right again).
  for (const cut of [1, 10, 60, 70]) {
    assert.throws(
      () => decodeIndex(bytes.subarray(0, bytes.length - cut)),
      (e: unknown) => code(e) === ErrorCodes.INDEX_CORRUPT,
      `cut ${cut}`,
    );
  }
  const swapped = Buffer.from(bytes);
  swapped[swapped.length - 65]! ^= 1;
  swapped.writeUInt32LE(crc32(swapped.subarray(0, swapped.length - 4)), swapped.length - 4);
  assert.throws(
    () => decodeIndex(swapped),
    (e: unknown) => code(e) === ErrorCodes.INDEX_CORRUPT && /summary/.test((e as Error).message),
  );
  const otherSize = Buffer.from(bytes);
  otherSize.writeBigUInt64LE(1n, otherSize.length - 48);
  otherSize.writeUInt32LE(crc32(otherSize.subarray(0, otherSize.length - 4)), otherSize.length - 4);
  assert.throws(
    () => decodeIndex(otherSize),
    (e: unknown) => code(e) === ErrorCodes.INDEX_CORRUPT && /summary/.test((e as Error).message),
  );
});

test('version 2 indexes (published forms, no summary) are still read', async () => {
  const data = randomBytes(20_000, 33);
  const plain = decodeIndex(await buildIndex(data, { fileSize: data.length, blockSize: 1024 }));
  const published = { ...samplePublished, bases: samplePublished.bases.filter((b) => b.codec === 'brotli') };
  const bytes = encodeVersion2(plain, published);
  assert.equal(Buffer.from(bytes).readUInt16LE(8), 2);
  const back = decodeIndex(bytes);
  assert.deepEqual(back.published, published);
  assert.deepEqual(back.fileDigest, plain.fileDigest);
  assert.equal(readIndexSummary(bytes), undefined);
  assert.throws(
    () => decodeIndex(bytes.subarray(0, bytes.length - 10)),
    (e: unknown) => code(e) === ErrorCodes.INDEX_CORRUPT,
  );
});

test('a published form whose name leaves the index folder is refused when decoded, and never encoded', async () => {
  const data = randomBytes(20_000, 32);
  const plain = decodeIndex(await buildIndex(data, { fileSize: data.length, blockSize: 1024 }));
  const frames = (name: string) => ({
    frames: { codec: 'brotli' as const, blocksPerFrame: 8, frameSizes: Uint32Array.from([700, 650, 300]), name },
  });
  const whole = (name: string) => ({ whole: { codec: 'brotli' as const, size: 1234, name } });
  const base = (name: string) => ({
    bases: [{ baseSize: 19_000, baseSha256: new Uint8Array(32).fill(9), codec: 'brotli' as const, size: 321, name }],
  });
  // An index as a hostile publisher would write it: encoded with a harmless name of the
  // same length, then that name swapped for the bad one and the CRC made right again.
  const hostile = (form: (name: string) => object, bad: string): Buffer => {
    const n = Buffer.byteLength(bad);
    const b = Buffer.from(encodeIndex({ ...plain, published: form('q'.repeat(n)) }));
    // Where the name is: the first byte that differs from the same index with another name.
    const other = Buffer.from(encodeIndex({ ...plain, published: form('r'.repeat(n)) }));
    const at = b.findIndex((v, i) => v !== other[i]);
    assert.equal(b.toString('latin1', at, at + n), 'q'.repeat(n));
    b.write(bad, at);
    b.writeUInt32LE(crc32(b.subarray(0, b.length - 4)), b.length - 4);
    return b;
  };
  for (const [kind, form] of [
    ['frames', frames],
    ['whole', whole],
    ['base', base],
  ] as const) {
    for (const bad of ['../x', '..', '.', 'sub/x', 'sub\\x', '..\\x', '/etc/passwd']) {
      assert.throws(
        () => decodeIndex(hostile(form, bad)),
        (e: unknown) =>
          code(e) === ErrorCodes.INDEX_CORRUPT && /^Cannot read the index: .*outside the index's folder/.test((e as Error).message),
        `${kind} ${bad}`,
      );
      assert.throws(() => encodeIndex({ ...plain, published: form(bad) }), RangeError, `${kind} ${bad}`);
    }
    // The swap alone is harmless: a plain name (a dotfile's forms start with a dot) decodes.
    for (const ok of ['x.bin.gosyncz', '.bashrc.gosyncz', '..x', 'a..b']) {
      const back = decodeIndex(hostile(form, ok));
      assert.deepEqual(back.published, form(ok), `${kind} ${ok}`);
    }
  }
});

test('versions 5 and 6 carry the block digest after the records; the builder writes them by default, streamed or on workers alike', async () => {
  const data = randomBytes(20_000, 41);
  const bytes = await buildIndex(data, { fileSize: data.length, blockSize: 1024 });
  assert.equal(Buffer.from(bytes).readUInt16LE(8), 5);
  const index = decodeIndex(bytes);
  assert.deepEqual(Buffer.from(index.blockDigest!), Buffer.from(blockDigestOf(data, 1024)));
  assert.equal(bytes.length, indexSize({ ...index, version: 5 }));
  assert.deepEqual(Buffer.from(encodeIndex(index)), Buffer.from(bytes), 'encodeIndex writes version 5 for an index with a block digest');
  const v1 = decodeIndex(await buildIndex(data, { fileSize: data.length, blockSize: 1024, blockDigest: false }));
  assert.equal(v1.blockDigest, undefined);
  assert.deepEqual(v1.strong, index.strong);
  // Blocks hashed elsewhere (as the worker threads do): records, then the full hashes.
  const b = new IndexBuilder({ fileSize: data.length, blockSize: 1024 });
  const parts = [b.headerBytes()];
  const whole = data.subarray(0, 19 * 1024);
  b.feedWholeBlocks(whole);
  parts.push(
    b.takeRecords(
      new Uint8Array(runRecords({ kind: 'records', shape: b.header, buffer: Uint8Array.from(whole).buffer, length: whole.length }).records),
    ),
  );
  parts.push(b.push(data.subarray(19 * 1024)), b.end());
  assert.deepEqual(Buffer.concat(parts), Buffer.from(bytes));
  // Version 6: version 3 with the digest; the summary still reads from the tail alone.
  const b6 = new IndexBuilder({ fileSize: data.length, blockSize: 1024, published: true });
  const v6 = Buffer.concat([b6.headerBytes(), b6.push(data), b6.end(samplePublished)]);
  assert.equal(v6.readUInt16LE(8), 6);
  const back = decodeIndex(v6);
  assert.deepEqual(back.published, samplePublished);
  assert.deepEqual(Buffer.from(back.blockDigest!), Buffer.from(blockDigestOf(data, 1024)));
  assert.deepEqual(Buffer.from(encodeIndex(back)), v6);
  const summary = readIndexSummary(v6.subarray(v6.length - 65));
  assert.equal(summary !== undefined && 'bases' in summary ? summary.bases.length : -1, 2);
  // The digest is covered by the CRC, and a version 5 index cut by its 32 bytes is truncated.
  const recordsEnd = readIndexHeader(bytes).recordsOffset + index.blockCount * (index.weakBytes + index.strongBytes);
  assert.throws(
    () => decodeIndex(flip(Buffer.from(bytes), recordsEnd + 5)),
    (e: unknown) => code(e) === ErrorCodes.INDEX_CORRUPT,
  );
  assert.throws(
    () => decodeIndex(bytes.subarray(0, bytes.length - 32)),
    (e: unknown) => code(e) === ErrorCodes.INDEX_CORRUPT,
  );
});
