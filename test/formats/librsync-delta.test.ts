import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import {
  LIBRSYNC_MAX_LITERAL,
  LibrsyncDeltaEncoder,
  LibrsyncDeltaGenerator,
  LibrsyncDeltaParser,
  applyLibrsyncDelta,
  decodeLibrsyncDelta,
  encodeLibrsyncDelta,
  isLibrsyncDelta,
  type DeltaEvent,
} from '../../src/formats/librsync-delta.js';
import {
  decodeLibrsyncSignature,
  encodeLibrsyncSignature,
  type LibrsyncHash,
  type LibrsyncRollsum,
} from '../../src/formats/librsync-signature.js';
import { chunked, concat, randomBytes } from '../helpers/data.js';

const enc = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const OLD = enc('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!?');
const NEW = concat(OLD.subarray(0, 16), enc('hello, '), OLD.subarray(16));

const KINDS: [LibrsyncHash, LibrsyncRollsum][] = [
  ['md4', 'rollsum'],
  ['blake2', 'rollsum'],
  ['md4', 'rabinkarp'],
  ['blake2', 'rabinkarp'],
];

const isCode = (code: string, message?: RegExp) => (e: unknown) =>
  SyncError.is(e) && e.code === code && (!message || message.test(e.message));

test('the worked example: rdiff delta of "hello, " inserted, byte for byte', () => {
  const sig = decodeLibrsyncSignature(encodeLibrsyncSignature(OLD, { blockLength: 16, strongLength: 8 }));
  const delta = encodeLibrsyncDelta(sig, NEW);
  assert.equal(hex(delta), '72730236' + '450010' + '0768656c6c6f2c20' + '451030' + '00');
  assert.deepEqual(applyLibrsyncDelta(OLD, delta), NEW);
  assert.ok(isLibrsyncDelta(delta));
});

test('the encoder picks the narrowest widths, immediate literals up to 64 bytes, and merges continuing copies', () => {
  const e = new LibrsyncDeltaEncoder();
  e.copy(66048, 3904); // 4e 00010200 0f40, as rdiff wrote it
  e.literal(new Uint8Array(564)); // 42 0234
  e.literal(new Uint8Array(64)); // 40
  e.literal(new Uint8Array(65)); // 41 41
  e.copy(0, 16);
  e.copy(16, 48); // merged: 45 00 40
  e.copy(2 ** 32, 2 ** 32); // 54 (8-byte offset, 8-byte length)
  e.end();
  const out = e.take();
  const expect =
    '72730236' +
    '4e000102000f40' +
    '420234' +
    '00'.repeat(564) +
    '40' +
    '00'.repeat(64) +
    '4141' +
    '00'.repeat(65) +
    '450040' +
    '54' +
    '0000000100000000' +
    '0000000100000000' +
    '00';
  assert.equal(hex(out), expect);
  assert.deepEqual(e.stats, {
    literalCommands: 3,
    literalBytes: 693,
    literalCommandBytes: 3 + 1 + 2,
    copyCommands: 3,
    copyBytes: 3904 + 64 + 2 ** 32,
    copyCommandBytes: 7 + 3 + 17,
  });
  assert.throws(() => e.literal(Uint8Array.of(1)), /after end/);
});

test('literals are cut at 32 KiB, as librsync does', () => {
  const e = new LibrsyncDeltaEncoder();
  e.literal(new Uint8Array(LIBRSYNC_MAX_LITERAL * 2 + 10));
  e.end();
  const events = decodeLibrsyncDelta(e.take());
  assert.deepEqual(
    events.map((x) => (x.type === 'literal' ? x.data.length : x.type)),
    [32768, 32768, 10, 'end'],
  );
  assert.equal(e.stats.literalCommandBytes, 3 + 3 + 1);
});

test('the parser reads every opcode width, in any chunking, literal data sliced without copying', () => {
  const parts: string[] = ['72730236'];
  const expected: (string | [number, number])[] = [];
  for (let op = 1; op <= 0x40; op += 21) {
    parts.push(op.toString(16).padStart(2, '0') + 'ab'.repeat(op));
    expected.push('ab'.repeat(op));
  }
  for (const [op, w] of [
    [0x41, 1],
    [0x42, 2],
    [0x43, 4],
    [0x44, 8],
  ] as const) {
    parts.push(`${op.toString(16) + '3'.padStart(2 * w, '0')}cdcdcd`);
    expected.push('cdcdcd');
  }
  const widths = [1, 2, 4, 8];
  for (let k = 0; k < 16; k++) {
    const ow = widths[k >> 2]!;
    const lw = widths[k & 3]!;
    parts.push((0x45 + k).toString(16) + (k + 1).toString(16).padStart(2 * ow, '0') + (k + 7).toString(16).padStart(2 * lw, '0'));
    expected.push([k + 1, k + 7]);
  }
  parts.push('00');
  const delta = unhex(parts.join(''));
  const summarise = (events: DeltaEvent[]) => {
    const out: (string | [number, number])[] = [];
    let lit = '';
    for (const e of events) {
      if (e.type === 'literal') lit += hex(e.data);
      else {
        if (lit) out.push(lit);
        lit = '';
        if (e.type === 'copy') out.push([e.offset, e.length]);
      }
    }
    return out;
  };
  for (const sizes of [[delta.length], [1], [2, 3], [7]]) {
    const p = new LibrsyncDeltaParser();
    const events: DeltaEvent[] = [];
    for (const c of chunked(delta, sizes)) events.push(...p.push(c));
    p.end();
    assert.ok(p.done);
    // Adjacent literal commands merge in the summary; compare against the same.
    const merged: (string | [number, number])[] = [];
    for (const x of expected) {
      if (typeof x === 'string' && typeof merged[merged.length - 1] === 'string') merged[merged.length - 1] += x;
      else merged.push(x);
    }
    assert.deepEqual(summarise(events), merged, sizes.join(','));
    assert.equal(p.stats.copyCommands, 16);
    assert.equal(p.stats.literalCommands, 8);
  }
});

test('malformed deltas are DELTA_CORRUPT, naming the byte', () => {
  const cases: [string, RegExp][] = [
    ['72730236 55 00', /byte 4 holds the reserved opcode 0x55/],
    ['72730236 ff', /reserved opcode 0xff/],
    ['72730236 45 00', /inside the command at byte 4 \(truncated\)/],
    ['72730236 4e 000102', /truncated/],
    ['72730236 05 6162', /3 bytes of the literal at byte 4 missing/],
    ['72730236 0161', /without an END command/],
    ['72730236', /without an END command/],
    ['727302', /shorter than the 4-byte magic/],
    ['', /shorter than the 4-byte magic/],
    ['72730236 00 00', /follow the END command/],
    ['72730236 0161 00 616263', /follow the END command at byte 6/],
    ['72730237 00', /not a librsync delta \(magic 0x72730237/],
    ['72730147 00', /a librsync signature, not a delta/],
    ['72730236 45 00 00 00', /COPY at byte 4 has length 0/],
    ['72730236 41 00 00', /LITERAL at byte 4 has length 0/],
    ['72730236 44 ffffffffffffffff', /over 2\^53 − 1/],
    ['72730236 54 0020000000000000 0000000000000001 00', /copy offset of the command at byte 4 is over 2\^53 − 1/],
    ['72730236 54 001fffffffffffff 0000000000000002 00', /the copy at byte 4 ends past 2\^53 − 1/],
  ];
  for (const [h, message] of cases) {
    assert.throws(() => decodeLibrsyncDelta(unhex(h)), isCode(ErrorCodes.DELTA_CORRUPT, message), h);
  }
  assert.throws(
    () => applyLibrsyncDelta(OLD, unhex('72730236 45 30 20 00')),
    isCode(ErrorCodes.DELTA_CORRUPT, /past the end of the 64-byte basis/),
  );
  assert.throws(() => applyLibrsyncDelta(OLD, unhex('72730236 45 40 01 00')), isCode(ErrorCodes.DELTA_CORRUPT));
  assert.deepEqual(applyLibrsyncDelta(OLD, unhex('72730236 45 3f 01 00')), enc('?'));
});

/** An older version of `data`: an insertion, a deletion and an overwrite. */
function edited(data: Uint8Array, seed: number): Uint8Array {
  const n = data.length;
  if (n < 40) return concat(data.subarray(0, n >> 1), randomBytes(5, seed), data.subarray(n >> 1));
  const q = Math.floor(n / 4);
  return concat(
    data.subarray(0, q),
    randomBytes(37, seed),
    data.subarray(q + 11, 2 * q),
    data.subarray(2 * q + 90, 3 * q),
    randomBytes(13, seed + 1),
    data.subarray(3 * q + 13),
  );
}

test('generated deltas rebuild the new file, for all four magics and awkward sizes', () => {
  const B = 64;
  const olds: [string, Uint8Array][] = [
    ['exact multiple', randomBytes(B * 40, 1)],
    ['short last block', randomBytes(B * 40 + 17, 2)],
    ['one byte', randomBytes(1, 3)],
    ['empty', new Uint8Array(0)],
    ['shorter than a block', randomBytes(50, 4)],
  ];
  for (const [hash, rollsum] of KINDS) {
    for (const [name, old] of olds) {
      const sig = decodeLibrsyncSignature(encodeLibrsyncSignature(old, { hash, rollsum, blockLength: B }));
      const news: [string, Uint8Array][] = [
        ['same', old],
        ['edited', edited(old, 9)],
        ['empty', new Uint8Array(0)],
        ['appended', concat(old, randomBytes(100, 5))],
        ['prepended', concat(randomBytes(3, 6), old)],
        ['unrelated', randomBytes(3000, 7)],
        ['doubled', concat(old, old)],
      ];
      for (const [what, nw] of news) {
        const delta = encodeLibrsyncDelta(sig, nw);
        assert.deepEqual(applyLibrsyncDelta(old, delta), nw, `${hash}/${rollsum} ${name} → ${what}`);
      }
      // The same old file as new: all copies (one, merged), except for an empty file.
      const same = decodeLibrsyncDelta(encodeLibrsyncDelta(sig, old));
      if (old.length > 0)
        assert.deepEqual(same, [{ type: 'copy', offset: 0, length: old.length }, { type: 'end' }], `${hash}/${rollsum} ${name} identity`);
    }
  }
});

test('a short last block is copied where librsync copies it: at the end of the new file', () => {
  const old = randomBytes(1000, 11); // blocks of 300: last one 100 bytes
  const sig = decodeLibrsyncSignature(encodeLibrsyncSignature(old, { blockLength: 300 }));
  const nw = concat(randomBytes(77, 12), old.subarray(900));
  assert.deepEqual(
    decodeLibrsyncDelta(encodeLibrsyncDelta(sig, nw)).map((e) => (e.type === 'literal' ? e.data.length : e)),
    [77, { type: 'copy', offset: 900, length: 100 }, { type: 'end' }],
  );
});

test('the delta is the same whatever the chunking of the new file', () => {
  const old = randomBytes(20000, 13);
  const nw = edited(old, 14);
  const sig = decodeLibrsyncSignature(encodeLibrsyncSignature(old, { blockLength: 256, hash: 'md4', rollsum: 'rollsum' }));
  const whole = encodeLibrsyncDelta(sig, nw);
  for (const sizes of [[1], [255, 3], [4096], [1000, 7]]) {
    const g = new LibrsyncDeltaGenerator(sig);
    const parts: Uint8Array[] = [];
    for (const c of chunked(nw, sizes)) {
      g.push(c);
      parts.push(g.take());
    }
    g.end();
    parts.push(g.take());
    assert.deepEqual(concat(...parts), whole, sizes.join(','));
  }
});

test('long unmatched runs go out as 32 KiB literals while scanning (memory stays bounded)', () => {
  const old = randomBytes(4096, 15);
  const sig = decodeLibrsyncSignature(encodeLibrsyncSignature(old, { blockLength: 512 }));
  const g = new LibrsyncDeltaGenerator(sig);
  const nw = randomBytes(300_000, 16);
  let maxPending = 0;
  for (const c of chunked(nw, [10_000])) {
    g.push(c);
    maxPending = Math.max(maxPending, g.bytesIn - (g.encoder.stats.literalBytes + g.encoder.stats.copyBytes));
  }
  g.end();
  assert.ok(maxPending < LIBRSYNC_MAX_LITERAL + 3 * 512 + 10_000, `pending ${maxPending}`);
  assert.equal(g.encoder.stats.literalCommands, Math.ceil(300_000 / LIBRSYNC_MAX_LITERAL));
  assert.deepEqual(applyLibrsyncDelta(old, g.take()), nw);
});

test('property: random files with random edits, any block length and magic, round-trip through signature, delta and patch', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 3000 }),
      fc.array(fc.tuple(fc.nat(), fc.nat({ max: 200 }), fc.uint8Array({ maxLength: 100 })), { maxLength: 5 }),
      fc.integer({ min: 1, max: 400 }),
      fc.constantFrom(...KINDS),
      fc.integer({ min: 1, max: 16 }),
      (old, edits, blockLength, [hash, rollsum], strongLength) => {
        let nw: Uint8Array = old;
        for (const [at, del, ins] of edits) {
          const p = nw.length === 0 ? 0 : at % (nw.length + 1);
          nw = concat(nw.subarray(0, p), ins, nw.subarray(Math.min(nw.length, p + del)));
        }
        const sig = decodeLibrsyncSignature(encodeLibrsyncSignature(old, { hash, rollsum, blockLength, strongLength }));
        const delta = encodeLibrsyncDelta(sig, nw);
        assert.deepEqual(applyLibrsyncDelta(old, delta), nw);
      },
    ),
    { numRuns: 300 },
  );
});
