/**
 * Index format version 4: the archive entry (a critical forms type), the GSIA summary,
 * and that indexes without an archive are still written as versions 1 and 3.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import type { BlockIndex } from '../../src/core/index/block-index.js';
import { decodeIndex, encodeIndex, readIndexSummary } from '../../src/core/index/format.js';
import { type GzipArchive, decodePublished, encodePublished } from '../../src/core/index/published.js';
import { indexOf } from '../helpers/data.js';
import { PLAIN_HEADER, textPayload } from './fixtures.js';

const archive: GzipArchive = {
  kind: 'gzip',
  size: 12_345,
  sha256: new Uint8Array(32).fill(7),
  level: 9,
  memLevel: 8,
  strategy: 0,
  windowBits: 15,
  header: PLAIN_HEADER,
  trailer: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]),
  payload: 'pkg.tgz.gosyncu',
};

async function payloadIndex(): Promise<BlockIndex> {
  return indexOf(textPayload(50_000), { blockSize: 1024 });
}

/** `data` with its CRC-32 (the last 4 bytes) recomputed after an edit. */
function recrc(data: Uint8Array): Uint8Array {
  const out = Buffer.from(data);
  out.writeUInt32LE(crc32(out.subarray(0, out.length - 4)), out.length - 4);
  return out;
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return SyncError.is(err) ? err.code : `not a SyncError: ${String(err)}`;
  }
  return undefined;
}

test('an index with an archive entry is version 4, ends with GSIA, and decodes to the same entry', async () => {
  const index = await payloadIndex();
  const bases = [
    { baseSize: 9, baseSha256: new Uint8Array(32).fill(3), codec: 'gosync' as const, size: 5, name: 'x.gosyncd-0303030303030303' },
  ];
  const encoded = encodeIndex({ ...index, published: { archive, bases } });
  assert.equal(Buffer.from(encoded).readUInt16LE(8), 4);
  assert.equal(Buffer.from(encoded.subarray(-8, -4)).toString(), 'GSIA');
  // A client that reads the summary alone (it describes the payload) reads the whole index instead.
  assert.equal(readIndexSummary(encoded), undefined);
  const back = decodeIndex(encoded);
  assert.deepEqual(back.published?.archive, { ...archive, header: Uint8Array.from(PLAIN_HEADER) });
  assert.equal(back.published?.bases?.[0]?.name, bases[0]!.name);
  assert.equal(back.fileSize, index.fileSize);
  assert.ok(Buffer.from(back.fileDigest.digest).equals(index.fileDigest.digest));
});

test('without an archive entry the versions written are unchanged: 5 bare, 6 with forms (GSIT); 1 and 3 without a block digest', async () => {
  const withDigest = await payloadIndex();
  assert.ok(withDigest.blockDigest, 'the builder writes the block digest by default');
  const { blockDigest: _, ...index } = withDigest;
  const whole = { codec: 'zstd' as const, size: 10, name: 'a.gosync.zst' };
  for (const [i, bare, forms] of [
    [withDigest, 5, 6],
    [index, 1, 3],
  ] as const) {
    assert.equal(Buffer.from(encodeIndex(i)).readUInt16LE(8), bare);
    const summarized = encodeIndex({ ...i, published: { whole } });
    assert.equal(Buffer.from(summarized).readUInt16LE(8), forms);
    assert.equal(Buffer.from(summarized.subarray(-8, -4)).toString(), 'GSIT');
    assert.equal(decodeIndex(summarized).published?.archive, undefined);
  }
});

test('a version 4 index without an archive entry, or an older one with it, is corrupt', async () => {
  const index = await payloadIndex();
  const whole = { codec: 'zstd' as const, size: 10, name: 'a.gosync.zst' };
  // Version 3 relabelled 4 with the GSIA magic: no archive entry.
  const v3 = Buffer.from(encodeIndex({ ...index, published: { whole } }));
  v3.writeUInt16LE(4, 8);
  v3.write('GSIA', v3.length - 8);
  assert.equal(
    code(() => decodeIndex(recrc(v3))),
    ErrorCodes.INDEX_CORRUPT,
  );
  // Version 4 relabelled 3 with the GSIT magic: an archive entry a version 3 reader would misuse.
  const v4 = Buffer.from(encodeIndex({ ...index, published: { archive } }));
  v4.writeUInt16LE(3, 8);
  v4.write('GSIT', v4.length - 8);
  assert.equal(
    code(() => decodeIndex(recrc(v4))),
    ErrorCodes.INDEX_CORRUPT,
  );
});

test('forms entries: unknown optional types are skipped, unknown critical ones refused', () => {
  const entry = (type: number, payload: number[]) => {
    const b = Buffer.alloc(5 + payload.length);
    b[0] = type;
    b.writeUInt32LE(payload.length, 1);
    b.set(payload, 5);
    return b;
  };
  const known = Buffer.from(encodePublished({ archive }, 1));
  assert.deepEqual(decodePublished(Buffer.concat([entry(9, [1, 2, 3]), known]), 1).archive?.payload, archive.payload);
  assert.equal(
    code(() => decodePublished(Buffer.concat([entry(0x9f, [1, 2, 3]), known]), 1)),
    ErrorCodes.INDEX_UNSUPPORTED,
  );
  assert.equal(
    code(() => decodePublished(Buffer.concat([known, known]), 1)),
    ErrorCodes.INDEX_CORRUPT,
  );
});

test('archive entries with bad fields are corrupt; bad ones are not encoded', () => {
  const good = Buffer.from(encodePublished({ archive }, 1));
  const at = (field: number) => 5 + field;
  const tamper = (offset: number, value: number) => {
    const b = Buffer.from(good);
    b[offset] = value;
    return b;
  };
  // level 10, memLevel 0, strategy 5, windowBits 16
  for (const [field, value] of [
    [40, 10],
    [41, 0],
    [42, 5],
    [43, 16],
  ] as const) {
    assert.equal(
      code(() => decodePublished(tamper(at(field), value), 1)),
      ErrorCodes.INDEX_CORRUPT,
      `field ${field} = ${value}`,
    );
  }
  // Not a gzip header (first byte), a header length past the entry, a name with a separator.
  assert.equal(
    code(() => decodePublished(tamper(at(48), 0), 1)),
    ErrorCodes.INDEX_CORRUPT,
  );
  assert.equal(
    code(() => decodePublished(tamper(at(46), 0xff), 1)),
    ErrorCodes.INDEX_CORRUPT,
  );
  const slash = Buffer.from(good);
  slash.write('/', slash.length - 3);
  assert.equal(
    code(() => decodePublished(slash, 1)),
    ErrorCodes.INDEX_CORRUPT,
  );
  // A truncated entry.
  const short = Buffer.from(good.subarray(0, 30));
  short.writeUInt32LE(25, 1);
  assert.equal(
    code(() => decodePublished(short, 1)),
    ErrorCodes.INDEX_CORRUPT,
  );
  assert.throws(() => encodePublished({ archive: { ...archive, level: 12 } }, 1), RangeError);
  assert.throws(() => encodePublished({ archive: { ...archive, payload: '../x' } }, 1), RangeError);
  assert.throws(() => encodePublished({ archive: { ...archive, trailer: new Uint8Array(4) } }, 1), RangeError);
});
