/**
 * The .zsync codec against golden bytes (the worked example checked against zsync 0.6.2,
 * docs/formats.md), its own writer, hand-made files of the newer form, and hostile input.
 * Interop with the real zsync binaries is in test/integration/zsync-interop.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { md4Digest } from '../../src/core/hashing/md4.js';
import { toHex } from '../../src/core/hashing/strong-hash.js';
import {
  ZsyncBuilder,
  buildZsync,
  decodeZsync,
  formatMTime,
  isZsyncControl,
  zsyncBlockSize,
  zsyncHashLengths,
} from '../../src/formats/zsync-control.js';
import { weakChecksum, weakMask } from '../../src/core/rollsum.js';
import { chunked, concat, randomBytes } from '../helpers/data.js';
import { patchMemory } from '../helpers/memory-patch.js';

const enc = new TextEncoder();
const DEMO = enc.encode('zsync demo: block one|block two.|tail!!\n');
const DEMO_HEADER =
  'zsync: 0.6.2\nFilename: demo.txt\nMTime: Sat, 02 Mar 2024 10:00:00 +0000\nBlocksize: 16\nLength: 40\nHash-Lengths: 2,2,3\n' +
  'URL: demo.txt\nSHA-1: 17a8b8781b33fc749f6ecd0bd8a83af791c3d82e\n\n';
// The 15 record bytes zsyncmake 0.6.2 writes for DEMO with -b 16 (b_hi b_lo, then MD4[0..3) of each padded block).
const DEMO_RECORDS = Buffer.from('3484c408ef' + '33784ef887' + '214e9d89c3', 'hex');
const DEMO_FILE = concat(enc.encode(DEMO_HEADER), DEMO_RECORDS);

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return SyncError.is(err) ? err.code : `not a SyncError: ${(err as Error).message}`;
  }
  return undefined;
}

function padded(data: Uint8Array, i: number, bs: number): Uint8Array {
  const b = new Uint8Array(bs);
  b.set(data.subarray(i * bs, Math.min(data.length, (i + 1) * bs)));
  return b;
}

/** A .zsync made by hand from header lines and the records of `data` (for the newer form and broken files). */
function handMade(
  data: Uint8Array,
  lines: string[],
  opts: { bs: number; rsum: number; strong: number; hash?: (b: Uint8Array) => Uint8Array },
): Uint8Array {
  const hash = opts.hash ?? md4Digest;
  const n = Math.ceil(data.length / opts.bs);
  const recs: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const block = padded(data, i, opts.bs);
    const w = weakChecksum(block);
    const r = new Uint8Array(opts.rsum + opts.strong);
    for (let k = 0; k < opts.rsum; k++) r[k] = (w >>> (8 * (opts.rsum - 1 - k))) & 0xff;
    r.set(hash(block).subarray(0, opts.strong), opts.rsum);
    recs.push(r);
  }
  return concat(enc.encode(`${lines.join('\n')}\n\n`), ...recs);
}

test("the worked example decodes to the sums zsync 0.6.2 wrote, in gosync's weak convention", () => {
  assert.ok(isZsyncControl(DEMO_FILE));
  const z = decodeZsync(DEMO_FILE);
  const { index } = z;
  assert.equal(z.version, '0.6.2');
  assert.equal(z.filename, 'demo.txt');
  assert.equal(z.mtime, 'Sat, 02 Mar 2024 10:00:00 +0000');
  assert.deepEqual(z.urls, ['demo.txt']);
  assert.equal(index.url, 'demo.txt');
  assert.equal(index.fileSize, 40);
  assert.equal(index.blockSize, 16);
  assert.equal(index.blockCount, 3);
  assert.equal(index.seqMatches, 2);
  assert.equal(index.weakBytes, 2);
  assert.equal(index.strongBytes, 3);
  assert.equal(index.strongHash.name, 'md4');
  assert.equal(index.fileDigest.algorithm, 'sha1');
  assert.equal(toHex(index.fileDigest.digest), '17a8b8781b33fc749f6ecd0bd8a83af791c3d82e');
  assert.equal(toHex(index.fileDigest.digest), createHash('sha1').update(DEMO).digest('hex'));
  // Stored b_hi b_lo are the low two bytes of (a << 16) | b.
  assert.deepEqual([...index.weak], [0x3484, 0x3378, 0x214e]);
  for (let i = 0; i < 3; i++) {
    assert.equal(index.weak[i], weakChecksum(padded(DEMO, i, 16)) & weakMask(2), `weak ${i}`);
    const want = new Uint8Array(3);
    index.strongHash.hashInto(padded(DEMO, i, 16), 0, 16, want, 0, 3);
    assert.deepEqual(index.strong.subarray(3 * i, 3 * i + 3), want, `strong ${i}`);
  }
  assert.equal(toHex(index.strong), 'c408ef4ef8879d89c3');
  // Block 2 by hand: a = 0x0272, b = 0x214e.
  assert.equal(weakChecksum(padded(DEMO, 2, 16)), 0x0272214e);
});

test("the writer reproduces zsyncmake 0.6.2's bytes for the worked example", async () => {
  const out = await buildZsync(DEMO, {
    fileSize: 40,
    blockSize: 16,
    urls: ['demo.txt'],
    filename: 'demo.txt',
    mtime: new Date('2024-03-02T10:00:00Z'),
  });
  assert.equal(Buffer.from(out).toString('latin1'), Buffer.from(DEMO_FILE).toString('latin1'));
  assert.equal(formatMTime(new Date('2024-03-02T10:00:00Z')), 'Sat, 02 Mar 2024 10:00:00 +0000');
});

test("zsyncmake's parameters: block size and Hash-Lengths at every threshold, on both sides", () => {
  assert.equal(zsyncBlockSize(99_999_999), 2048);
  assert.equal(zsyncBlockSize(100_000_000), 4096);
  const cases: [number, string][] = [
    [1, '1,2,3'],
    [16, '1,2,3'],
    [17, '1,2,4'],
    [2048, '1,2,4'],
    [2049, '2,2,3'],
    [34815, '2,2,3'],
    [34816, '2,2,4'],
    [8_988_671, '2,2,4'],
    [8_988_672, '2,2,5'],
    [99_999_999, '2,2,5'],
    [100_000_000, '2,2,5'],
    [406_872_067, '2,2,5'],
    [406_872_068, '2,3,5'],
    [4_603_228_159, '2,3,5'],
    [4_603_228_160, '2,3,6'],
  ];
  for (const [len, want] of cases) {
    const h = zsyncHashLengths(len, zsyncBlockSize(len));
    assert.equal(`${h.seqMatches},${h.weakBytes},${h.strongBytes}`, want, `length ${len}`);
  }
  // 100 MiB gives 4096-byte blocks, 2,2,5: 7 bytes per block (the research note's example).
  assert.deepEqual(zsyncHashLengths(104_953_704, 4096), { seqMatches: 2, weakBytes: 2, strongBytes: 5 });
});

test('written files decode to the sums of the padded blocks, for any chunking, block size and length', async () => {
  for (const [len, bs] of [
    [1, 2048],
    [2048, 2048],
    [4096, 1024],
    [10_001, 256],
    [70_000, 4096],
    [33, 16],
  ] as const) {
    const data = randomBytes(len, len);
    const whole = await buildZsync(data, { fileSize: len, blockSize: bs, urls: ['x'] });
    const b = new ZsyncBuilder({ fileSize: len, blockSize: bs, urls: ['x'] });
    for (const c of chunked(data, [1, bs - 1, 3 * bs + 7])) b.push(c);
    assert.deepEqual(b.end(), whole, `splits ${len}/${bs}`);
    const { index } = decodeZsync(whole);
    assert.equal(index.blockCount, Math.ceil(len / bs));
    assert.equal(whole.length, b.totalSize);
    const lengths = zsyncHashLengths(len, bs);
    assert.equal(index.weakBytes, lengths.weakBytes);
    for (let i = 0; i < index.blockCount; i++) {
      const block = padded(data, i, bs);
      assert.equal(index.weak[i], (weakChecksum(block) & weakMask(index.weakBytes)) >>> 0);
      assert.deepEqual(
        index.strong.subarray(i * index.strongBytes, (i + 1) * index.strongBytes),
        md4Digest(block).subarray(0, index.strongBytes),
      );
    }
    assert.deepEqual(Buffer.from(index.fileDigest.digest), createHash('sha1').update(data).digest());
  }
});

test('the sha256 option adds File-Hash (listed in Safe) and the reader prefers it', async () => {
  const data = randomBytes(5000, 2);
  const out = await buildZsync(data, { fileSize: data.length, urls: ['x'], sha256: true });
  const text = Buffer.from(out).toString('latin1');
  assert.match(text, /^zsync: 0\.6\.2\nSafe: File-Hash\n/);
  assert.match(text, new RegExp(`\nFile-Hash: SHA-256:${createHash('sha256').update(data).digest('hex')}\n\n`));
  const { index } = decodeZsync(out);
  assert.equal(index.fileDigest.algorithm, 'sha256');
});

test('the newer form (Safe, Strong-Hash-Algorithm, File-Hash SHA-256, no SHA-1) is read and patches through the engine', async () => {
  const ref = randomBytes(50_000, 7);
  const old = concat(ref.subarray(0, 20_000), randomBytes(500, 8), ref.subarray(21_000));
  const md5 = (b: Uint8Array) => new Uint8Array(createHash('md5').update(b).digest());
  const sha256 = createHash('sha256').update(ref).digest('hex');
  for (const [lines, rsum, strong, hash] of [
    // As upstream's Go zsyncmake 0.7 writes it (MD4, Hash-Lengths 1,4,16).
    [
      [
        'zsync: 0.7.2',
        'Filename: ref',
        'MTime: Sat, 02 Mar 2024 10:00:00 +0000',
        'Blocksize: 1024',
        'Length: 50000',
        'Hash-Lengths: 1,4,16',
        'Safe: File-Hash',
        `File-Hash: SHA-256:${sha256}`,
        'URL: ref',
      ],
      4,
      16,
      md4Digest,
    ],
    // MD5 blocks, no Hash-Lengths (defaults 1,4,16), an unknown header and a Min-Version this reader meets.
    [
      [
        'zsync: 0.8',
        'Min-Version: 0.6.2',
        'Blocksize: 1024',
        'Length: 50000',
        'Strong-Hash-Algorithm: MD5',
        'X-Unknown: whatever',
        `File-Hash: SHA-256:${sha256}`,
        'URL: http://example.com/ref',
      ],
      4,
      16,
      md5,
    ],
  ] as const) {
    const file = handMade(ref, [...lines], { bs: 1024, rsum, strong, hash });
    const { index } = decodeZsync(file);
    assert.equal(index.fileDigest.algorithm, 'sha256');
    assert.equal(index.seqMatches, 1);
    assert.equal(index.strongBytes, 16);
    const { output, result } = await patchMemory(index, [old], ref);
    assert.deepEqual(output, ref);
    // The edit replaced bytes 20,000–20,999, which lie in blocks 19 and 20: every other
    // block is found, the 19 before the edit in place and the 28 after it 500 bytes earlier
    // (the short last block included), so exactly those two blocks are fetched.
    assert.equal(result.reusedBytes, ref.length - 2 * 1024, `reused ${result.reusedBytes}`);
  }
});

test('CRLF line ends, unknown headers and Z-Map2 data are tolerated', async () => {
  const data = randomBytes(9000, 4);
  const good = await buildZsync(data, { fileSize: data.length, blockSize: 1024, urls: ['a'] });
  const want = decodeZsync(good).index;
  const text = Buffer.from(good).toString('latin1');
  const split = text.indexOf('\n\n') + 2;
  const header = text.slice(0, split);
  const records = good.subarray(split);
  // CRLF everywhere in the header, blank line included.
  const crlf = decodeZsync(concat(Buffer.from(header.replace(/\n/g, '\r\n'), 'latin1'), records)).index;
  assert.deepEqual(crlf.weak, want.weak);
  assert.deepEqual(crlf.strong, want.strong);
  // An unknown header and Z-Map2 with binary data that contains line feeds and an empty line.
  const zmap = Uint8Array.from([0x0a, 0x0a, 0x00, 0x50, 0x0d, 0x0a, 0xff, 0x0a]);
  const withZmap = concat(Buffer.from(header.replace('Blocksize:', 'X-Future: 1\nZ-URL: a.gz\nZ-Map2: 2\nBlocksize:'), 'latin1'), records);
  // Put the Z-Map2 data right after its line.
  const zi = Buffer.from(withZmap).indexOf('Z-Map2: 2\n') + 'Z-Map2: 2\n'.length;
  const file = concat(withZmap.subarray(0, zi), zmap, withZmap.subarray(zi));
  const z = decodeZsync(file);
  assert.deepEqual(z.index.weak, want.weak);
  assert.deepEqual(z.index.strong, want.strong);
  assert.equal(z.index.url, 'a');
  // zsyncmake 0.6.2 appends one or two junk records to look-inside files; they are ignored there, and only there.
  for (const extra of [1, 2]) {
    const junk = decodeZsync(concat(file, new Uint8Array(extra * (want.weakBytes + want.strongBytes)).fill(0x0a)));
    assert.deepEqual(junk.index.strong, want.strong);
  }
  assert.equal(
    code(() => decodeZsync(concat(file, new Uint8Array(3 * (want.weakBytes + want.strongBytes))))),
    ErrorCodes.INDEX_CORRUPT,
  );
  assert.equal(
    code(() => decodeZsync(concat(file, new Uint8Array(1)))),
    ErrorCodes.INDEX_CORRUPT,
  );
  assert.equal(
    code(() => decodeZsync(concat(good, new Uint8Array(want.weakBytes + want.strongBytes)))),
    ErrorCodes.INDEX_CORRUPT,
  );
  // Without a plain URL, look-inside is refused clearly.
  const noUrl = Buffer.from(Buffer.from(file).toString('latin1').replace('URL: a\n', ''), 'latin1');
  assert.equal(
    code(() => decodeZsync(noUrl)),
    ErrorCodes.INDEX_UNSUPPORTED,
  );
  assert.throws(() => decodeZsync(noUrl), /gzip/);
});

test('malformed and hostile .zsync files fail with INDEX_CORRUPT or INDEX_UNSUPPORTED', () => {
  const withLine = (name: string, line: string | null) => {
    const lines = DEMO_HEADER.trimEnd()
      .split('\n')
      .flatMap((l) => (l.startsWith(`${name}:`) ? (line === null ? [] : [line]) : [l]));
    return concat(enc.encode(`${lines.join('\n')}\n\n`), DEMO_RECORDS);
  };
  const C = ErrorCodes.INDEX_CORRUPT;
  const U = ErrorCodes.INDEX_UNSUPPORTED;
  const cases: [string, Uint8Array, string, RegExp?][] = [
    ['not a .zsync', enc.encode('GOSYNCIX and more'), C, /zsync:/],
    ['empty', new Uint8Array(0), C],
    ['no space after the colon', concat(enc.encode('zsync:0.6.2\n\n')), C, /Name: value/],
    ['zsync 0.0.4', withLine('zsync', 'zsync: 0.0.4'), U, /0\.0\.4/],
    ['Min-Version above 0.8', withLine('Filename', 'Min-Version: 0.9.1'), U, /Min-Version/],
    ['truncated header', DEMO_FILE.subarray(0, 60), C, /truncated/],
    ['header line too long', withLine('URL', `URL: http://x/${'a'.repeat(9000)}`), C, /longer than 8192/],
    [
      'header too long in all',
      withLine('URL', Array.from({ length: 200 }, (_, i) => `URL: http://x/${i}/${'a'.repeat(400)}`).join('\n')),
      C,
      /header section is over/,
    ],
    ['no Length', withLine('Length', null), C, /no Length/],
    ['no Blocksize', withLine('Blocksize', null), C, /no Blocksize/],
    ['Length not a number', withLine('Length', 'Length: 4e1'), C, /not a decimal/],
    ['Length negative', withLine('Length', 'Length: -40'), C],
    ['Length over 2^53', withLine('Length', 'Length: 99999999999999999999'), C],
    ['Blocksize not a power of two', withLine('Blocksize', 'Blocksize: 1000'), C, /power of two/],
    ['Blocksize 0', withLine('Blocksize', 'Blocksize: 0'), C],
    ['Blocksize over 16 MiB', withLine('Blocksize', 'Blocksize: 33554432'), U, /block size/],
    ['Blocksize 2^40', withLine('Blocksize', 'Blocksize: 1099511627776'), U, /block size/],
    ['Hash-Lengths seq 3', withLine('Hash-Lengths', 'Hash-Lengths: 3,2,3'), C, /sequential/],
    ['Hash-Lengths rsum 5', withLine('Hash-Lengths', 'Hash-Lengths: 2,5,3'), C, /rsum/],
    ['Hash-Lengths rsum 0', withLine('Hash-Lengths', 'Hash-Lengths: 2,0,3'), C, /rsum/],
    ['Hash-Lengths strong 2', withLine('Hash-Lengths', 'Hash-Lengths: 2,2,2'), C, /strong/],
    ['Hash-Lengths strong 17 for MD4', withLine('Hash-Lengths', 'Hash-Lengths: 2,2,17'), C, /strong/],
    ['Hash-Lengths two values', withLine('Hash-Lengths', 'Hash-Lengths: 2,2'), C],
    ['Length twice', withLine('Length', 'Length: 40\nLength: 41'), C, /twice/],
    ['SHA-1 not hex', withLine('SHA-1', `SHA-1: ${'zz'.repeat(20)}`), C, /hexadecimal/],
    ['SHA-1 short', withLine('SHA-1', 'SHA-1: 17a8b8'), C],
    ['File-Hash bad digest', withLine('SHA-1', 'File-Hash: SHA-256:abcd'), C],
    ['no whole-file hash', withLine('SHA-1', null), U, /whole-file hash/],
    ['only an unknown whole-file hash', withLine('SHA-1', 'File-Hash: BLAKE3:abcd'), U, /whole-file hash/],
    ['unknown strong hash', withLine('Filename', 'Strong-Hash-Algorithm: BLAKE2'), U, /BLAKE2/],
    ['truncated records', DEMO_FILE.subarray(0, DEMO_FILE.length - 1), C, /truncated/],
    ['trailing data', concat(DEMO_FILE, Uint8Array.of(0)), C, /trailing/],
    ['absurd block count', withLine('Length', `Length: ${Number.MAX_SAFE_INTEGER}`), C, /declares 562949953421312 blocks/],
    ['Z-Map2 count past the end', withLine('URL', 'URL: demo.txt\nZ-Map2: 4294967295'), C, /Z-Map2/],
    ['Z-Map2 count not a number', withLine('URL', 'URL: demo.txt\nZ-Map2: lots'), C, /Z-Map2/],
    [
      'invalid UTF-8 in a header',
      concat(enc.encode('zsync: 0.6.2\nFilename: '), Uint8Array.of(0xff, 0xfe), enc.encode('\n\n')),
      C,
      /UTF-8/,
    ],
    ['NUL in a header', concat(enc.encode('zsync: 0.6.2\nFilename: a'), Uint8Array.of(0), enc.encode('\n\n')), C, /control/],
    ['empty URL', withLine('URL', 'URL: '), C, /URL/],
  ];
  for (const [name, data, want, message] of cases) {
    assert.equal(
      code(() => decodeZsync(data)),
      want,
      name,
    );
    if (message) assert.throws(() => decodeZsync(data), message, name);
  }
  assert.equal(
    code(() => decodeZsync(DEMO_FILE, { maxBytes: 100 })),
    C,
    'over maxBytes',
  );
  // A Min-Version this reader meets is fine.
  assert.equal(decodeZsync(withLine('Filename', 'Min-Version: 0.6.2')).index.blockCount, 3);
});

test('the writer refuses what zsync clients would reject, before reading anything', async () => {
  assert.throws(
    () => new ZsyncBuilder({ fileSize: 0 }),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.INDEX_UNSUPPORTED && /empty/.test(e.message),
  );
  assert.throws(() => new ZsyncBuilder({ fileSize: 10, blockSize: 1000 }), RangeError);
  assert.throws(() => new ZsyncBuilder({ fileSize: 10, urls: ['http://x/a\nSHA-1: 00'] }), RangeError);
  assert.throws(() => new ZsyncBuilder({ fileSize: 10, urls: [`http://x/${'a'.repeat(1100)}`] }), /1023 bytes/);
  assert.throws(() => new ZsyncBuilder({ fileSize: 10, filename: 'dir/a' }), RangeError);
  assert.throws(() => new ZsyncBuilder({ fileSize: 10, hashLengths: { strongBytes: 17 } }), RangeError);
  assert.throws(() => new ZsyncBuilder({ fileSize: 10, hashLengths: { weakBytes: 0 } }), RangeError);
  const b = new ZsyncBuilder({ fileSize: 10 });
  assert.throws(
    () => b.push(new Uint8Array(11)),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.SOURCE_CHANGED,
  );
  const short = new ZsyncBuilder({ fileSize: 10 });
  short.push(new Uint8Array(9));
  assert.throws(
    () => short.end(),
    (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.SOURCE_CHANGED,
  );
});
