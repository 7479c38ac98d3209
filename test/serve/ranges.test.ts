/**
 * Tests of Range parsing and body layout on their own: RFC 9110 edge cases of parseRange,
 * when ranges are kept as asked or coalesced, and the exact bytes of a multipart answer.
 */

import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  type BodyPiece,
  MAX_RANGES,
  multipartPieces,
  normalizeRanges,
  parseRange,
  piecesLength,
  randomBoundary,
  rangeAnswer,
} from '../../src/serve/ranges.js';

/** The body `pieces` make over the file `data`. */
function materialise(pieces: readonly BodyPiece[], data: Buffer): Buffer {
  return Buffer.concat(pieces.map((p) => ('bytes' in p ? p.bytes : data.subarray(p.range.start, p.range.end + 1))));
}

const ranges = (...pairs: [number, number][]) => ({ kind: 'ranges', ranges: pairs.map(([start, end]) => ({ start, end })) });

describe('parseRange', () => {
  test('the unit must be bytes, in any case, with optional whitespace around it', () => {
    assert.deepEqual(parseRange('Bytes=0-1', 10), ranges([0, 1]));
    assert.deepEqual(parseRange(' BYTES =0-1', 10), ranges([0, 1]));
    assert.deepEqual(parseRange('items=0-1', 10), { kind: 'ignore' });
    assert.deepEqual(parseRange('0-1', 10), { kind: 'ignore' });
    assert.deepEqual(parseRange('', 10), { kind: 'ignore' });
  });

  test('a malformed spec makes the whole header ignored, even beside good ones', () => {
    for (const header of [
      'bytes=',
      'bytes=,,',
      'bytes=-',
      'bytes=+1-2',
      'bytes=1-+2',
      'bytes=1 - 2',
      'bytes=0x1-2',
      'bytes=1-2x',
      'bytes=a-b',
      'bytes=5-4',
      'bytes=0-1,5-4',
      'bytes=0-1,-',
      'bytes=0-1;2-3',
    ]) {
      assert.deepEqual(parseRange(header, 10), { kind: 'ignore' }, header);
    }
  });

  test('open, suffix and clipped ranges', () => {
    assert.deepEqual(parseRange('bytes=5-', 10), ranges([5, 9]));
    assert.deepEqual(parseRange('bytes=-3', 10), ranges([7, 9]));
    assert.deepEqual(parseRange('bytes=-10', 10), ranges([0, 9]));
    assert.deepEqual(parseRange('bytes=-20', 10), ranges([0, 9]));
    assert.deepEqual(parseRange('bytes=5-100', 10), ranges([5, 9]));
    assert.deepEqual(parseRange('bytes=9-9', 10), ranges([9, 9]));
    assert.deepEqual(parseRange('bytes=0-99999999999999999999', 10), ranges([0, 9]));
  });

  test('ranges at or past the end are dropped; none left is unsatisfiable', () => {
    assert.deepEqual(parseRange('bytes=10-', 10), { kind: 'unsatisfiable' });
    assert.deepEqual(parseRange('bytes=10-20', 10), { kind: 'unsatisfiable' });
    assert.deepEqual(parseRange('bytes=-0', 10), { kind: 'unsatisfiable' });
    assert.deepEqual(parseRange('bytes=10-,-0,99-100', 10), { kind: 'unsatisfiable' });
    assert.deepEqual(parseRange('bytes=0-1,20-30', 10), ranges([0, 1]));
    assert.deepEqual(parseRange('bytes=-0,8-', 10), ranges([8, 9]));
  });

  test('an empty file: a non-empty suffix is ignored (200, empty), anything else is unsatisfiable', () => {
    assert.deepEqual(parseRange('bytes=-5', 0), { kind: 'ignore' });
    assert.deepEqual(parseRange('bytes=-5,0-', 0), { kind: 'ignore' });
    assert.deepEqual(parseRange('bytes=0-', 0), { kind: 'unsatisfiable' });
    assert.deepEqual(parseRange('bytes=0-0', 0), { kind: 'unsatisfiable' });
    assert.deepEqual(parseRange('bytes=-0', 0), { kind: 'unsatisfiable' });
  });

  test('the range count limit: empty list elements do not count, one spec over it ignores the header', () => {
    const specs = (n: number) => Array.from({ length: n }, (_, i) => `${2 * i}-${2 * i}`).join(',');
    const atLimit = parseRange(`bytes=${specs(MAX_RANGES)}`, 1000);
    assert.equal(atLimit.kind, 'ranges');
    assert.equal(atLimit.kind === 'ranges' && atLimit.ranges.length, MAX_RANGES);
    assert.deepEqual(parseRange(`bytes=${specs(MAX_RANGES + 1)}`, 1000), { kind: 'ignore' });
    assert.deepEqual(parseRange('bytes=0-0, , ,', 10, 1), ranges([0, 0]));
    assert.deepEqual(parseRange('bytes=0-0,2-2', 10, 1), { kind: 'ignore' });
  });

  test('ascending disjoint ranges are kept as asked, adjacent included; others are sorted and coalesced', () => {
    assert.deepEqual(parseRange('bytes=0-1,2-3,7-', 10), ranges([0, 1], [2, 3], [7, 9]));
    assert.deepEqual(parseRange('bytes=4-5,0-1,2-3', 10), ranges([0, 5]));
    assert.deepEqual(parseRange('bytes=0-9,0-9,0-9', 10), ranges([0, 9]));
    assert.deepEqual(parseRange('bytes=0-4,3-6,8-9', 10), ranges([0, 6], [8, 9]));
    assert.deepEqual(parseRange('bytes=-2,0-1', 10), ranges([0, 1], [8, 9]));
  });
});

describe('normalizeRanges', () => {
  test('returns orderly input as it is, and merges a copy otherwise without touching the input', () => {
    const orderly = [
      { start: 0, end: 1 },
      { start: 2, end: 3 },
    ];
    assert.equal(normalizeRanges(orderly), orderly);
    const input = [
      { start: 5, end: 6 },
      { start: 0, end: 5 },
    ];
    assert.deepEqual(normalizeRanges(input), [{ start: 0, end: 6 }]);
    assert.deepEqual(input, [
      { start: 5, end: 6 },
      { start: 0, end: 5 },
    ]);
  });
});

describe('multipart layout', () => {
  const data = Buffer.from('abcdefghij');

  test('the first delimiter starts the body, each part has its headers, the close delimiter ends it', () => {
    const pieces = multipartPieces(
      [
        { start: 0, end: 1 },
        { start: 4, end: 5 },
      ],
      10,
      'B',
    );
    const expected =
      '--B\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 0-1/10\r\n\r\nab' +
      '\r\n--B\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 4-5/10\r\n\r\nef' +
      '\r\n--B--\r\n';
    const body = materialise(pieces, data);
    assert.equal(body.toString('latin1'), expected);
    assert.equal(piecesLength(pieces), body.length);
  });

  test('piecesLength counts literal bytes and inclusive ranges', () => {
    assert.equal(piecesLength([]), 0);
    assert.equal(piecesLength([{ bytes: Buffer.from('xyz') }, { range: { start: 3, end: 3 } }, { range: { start: 0, end: 9 } }]), 14);
  });

  test('random boundaries are token characters and differ', () => {
    const a = randomBoundary();
    const b = randomBoundary();
    assert.match(a, /^gosync-[0-9a-f]{32}$/);
    assert.notEqual(a, b);
  });
});

describe('rangeAnswer', () => {
  const data = Buffer.from('abcdefghij');
  const noBoundary = () => assert.fail('no boundary is needed');

  test('an ignored Range sends the whole file with 200; an empty file has no pieces', () => {
    const whole = rangeAnswer({ kind: 'ignore' }, 10, noBoundary);
    assert.equal(whole.status, 200);
    assert.equal(whole.contentType, 'application/octet-stream');
    assert.equal(whole.contentRange, undefined);
    assert.equal(whole.length, 10);
    assert.deepEqual(materialise(whole.pieces, data), data);
    const empty = rangeAnswer({ kind: 'ignore' }, 0, noBoundary);
    assert.deepEqual(empty.pieces, []);
    assert.equal(empty.length, 0);
  });

  test('one range is a plain 206 with its Content-Range', () => {
    const one = rangeAnswer({ kind: 'ranges', ranges: [{ start: 2, end: 4 }] }, 10, noBoundary);
    assert.equal(one.status, 206);
    assert.equal(one.contentType, 'application/octet-stream');
    assert.equal(one.contentRange, 'bytes 2-4/10');
    assert.equal(one.length, 3);
    assert.equal(materialise(one.pieces, data).toString(), 'cde');
  });

  test('several ranges are multipart with the boundary asked for, and the length of the whole body', () => {
    const multi = rangeAnswer(
      {
        kind: 'ranges',
        ranges: [
          { start: 0, end: 0 },
          { start: 9, end: 9 },
        ],
      },
      10,
      () => 'XYZ',
    );
    assert.equal(multi.status, 206);
    assert.equal(multi.contentType, 'multipart/byteranges; boundary=XYZ');
    assert.equal(multi.contentRange, undefined);
    const body = materialise(multi.pieces, data).toString('latin1');
    assert.equal(multi.length, body.length);
    assert.ok(body.startsWith('--XYZ\r\n'));
    assert.ok(body.endsWith('\r\n--XYZ--\r\n'));
    assert.match(body, /Content-Range: bytes 0-0\/10\r\n\r\na\r\n--XYZ\r\n/);
    assert.match(body, /Content-Range: bytes 9-9\/10\r\n\r\nj\r\n--XYZ--/);
  });
});
