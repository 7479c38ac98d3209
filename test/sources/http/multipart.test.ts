import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ErrorCodes, SyncError } from '../../../src/core/errors.js';
import { MultipartByteRangesParser, multipartBoundary, type ByteRangePart } from '../../../src/sources/http/multipart.js';
import { multipartBody, testBytes } from '../../helpers/fault-server.js';

const BOUNDARY = 'b0undary';

function parseAll(body: Uint8Array, splits: readonly number[] = []): ByteRangePart[] {
  const parser = new MultipartByteRangesParser(BOUNDARY);
  const parts: ByteRangePart[] = [];
  let at = 0;
  for (const cut of [...splits].sort((a, b) => a - b)) {
    parts.push(...parser.push(body.subarray(at, cut)));
    at = cut;
  }
  parts.push(...parser.push(body.subarray(at)));
  parser.finish();
  return parts;
}

function bytesOf(part: ByteRangePart): Buffer {
  return Buffer.concat(part.chunks);
}

function expectGarbled(run: () => unknown): void {
  assert.throws(run, (error: unknown) => SyncError.is(error) && error.code === ErrorCodes.HTTP_RESPONSE);
}

describe('multipartBoundary', () => {
  it('extracts plain and quoted boundaries, case-insensitively', () => {
    assert.equal(multipartBoundary('multipart/byteranges; boundary=abc'), 'abc');
    assert.equal(multipartBoundary('Multipart/ByteRanges;charset=x; BOUNDARY="a b=c"'), 'a b=c');
  });
  it('returns undefined for other types and empty string when the boundary is missing', () => {
    assert.equal(multipartBoundary('application/octet-stream'), undefined);
    assert.equal(multipartBoundary(undefined), undefined);
    assert.equal(multipartBoundary('multipart/byteranges'), '');
  });
});

describe('MultipartByteRangesParser', () => {
  const data = testBytes(1000, 7);
  const ranges = [
    { start: 0, end: 10 },
    { start: 100, end: 250 },
    { start: 990, end: 1000 },
  ];

  it('parses an RFC body with a leading CRLF', () => {
    const parts = parseAll(multipartBody(data, ranges, {}, BOUNDARY));
    assert.deepEqual(
      parts.map((p) => [p.start, p.end, p.total]),
      ranges.map((r) => [r.start, r.end, 1000]),
    );
    for (const part of parts) assert.deepEqual(bytesOf(part), data.subarray(part.start, part.end));
  });

  it('parses a body without the leading CRLF, with LF line ends, in any part order', () => {
    const parts = parseAll(multipartBody(data, ranges, { leadingCrlf: false, lf: true, reverse: true }, BOUNDARY));
    assert.deepEqual(
      parts.map((p) => p.start),
      [990, 100, 0],
    );
    for (const part of parts) assert.deepEqual(bytesOf(part), data.subarray(part.start, part.end));
  });

  it('gives the same parts however the body is split into chunks (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 999 }), { minLength: 2, maxLength: 12 }),
        fc.record({ leadingCrlf: fc.boolean(), lf: fc.boolean(), reverse: fc.boolean(), mergeAdjacent: fc.boolean() }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (cuts, style, splitSeeds) => {
          const points = [...cuts].sort((a, b) => a - b);
          const asked = [];
          for (let i = 0; i + 1 < points.length; i += 2) asked.push({ start: points[i]!, end: points[i + 1]! + 1 });
          fc.pre(asked.length > 0);
          const body = multipartBody(data, asked, style, BOUNDARY);
          const parts = parseAll(
            body,
            splitSeeds.map((s) => s % (body.length + 1)),
          );
          for (const part of parts) assert.deepEqual(bytesOf(part), data.subarray(part.start, part.end));
          const covered = parts.reduce((n, p) => n + p.end - p.start, 0);
          assert.equal(
            covered,
            asked.reduce((n, r) => n + r.end - r.start, 0),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('handles a header split across chunks followed by a chunk of many small parts', () => {
    const big = testBytes(100_000, 9);
    const many = Array.from({ length: 400 }, (_, i) => ({ start: i * 200, end: i * 200 + 10 }));
    const body = multipartBody(big, many, {}, BOUNDARY);
    assert.ok(body.length > 40_000);
    for (const split of [3, 20, 60]) {
      const parts = parseAll(body, [split]);
      assert.equal(parts.length, many.length);
      for (const part of parts) assert.deepEqual(bytesOf(part), big.subarray(part.start, part.end));
    }
  });

  it('hands out part bodies as views of the input, not copies', () => {
    const body = multipartBody(data, ranges, {}, BOUNDARY);
    const parts = new MultipartByteRangesParser(BOUNDARY).push(body);
    assert.equal(parts.length, ranges.length);
    for (const part of parts) for (const chunk of part.chunks) assert.equal(chunk.buffer, body.buffer);
  });

  it('rejects a part shorter than its Content-Range says (no boundary where expected)', () => {
    expectGarbled(() => parseAll(multipartBody(data, ranges, { garble: 'short-part' }, BOUNDARY)));
  });

  it('hands out a part only once the boundary after it is seen, and keeps it when the next part is garbled', () => {
    const parser = new MultipartByteRangesParser(BOUNDARY);
    const body = multipartBody(data, ranges, { garble: 'bad-boundary' }, BOUNDARY);
    const second = body.indexOf(`\r\n--${BOUNDARY}X`);
    assert.deepEqual(parser.push(body.subarray(0, second + 4)), []);
    // The first part is verified by the delimiter; the line after it ("X") is garbage.
    assert.deepEqual(
      parser.push(body.subarray(second + 4)).map((p) => [p.start, p.end]),
      [[0, 10]],
    );
    expectGarbled(() => parser.push(Buffer.from('more')));
    expectGarbled(() => parser.finish());
  });

  it('rejects a part without Content-Range', () => {
    expectGarbled(() => parseAll(multipartBody(data, ranges, { garble: 'no-content-range' }, BOUNDARY)));
  });

  it('rejects an oversized header block, and a body cut before the closing boundary', () => {
    const parser = new MultipartByteRangesParser(BOUNDARY);
    expectGarbled(() => parser.push(Buffer.concat([Buffer.from(`--${BOUNDARY}\r\nX-Junk: `), Buffer.alloc(40_000, 0x61)])));
    const body = multipartBody(data, ranges, {}, BOUNDARY);
    const cut = new MultipartByteRangesParser(BOUNDARY);
    cut.push(body.subarray(0, body.length - 20));
    expectGarbled(() => cut.finish());
  });

  it('rejects a part outside the span asked for from its headers, before its body comes in', () => {
    // Every part inside the span: accepted, also one part covering all of it (merged ranges).
    const span = { start: 0, end: 1000 };
    for (const asked of [ranges, [span]]) {
      const parser = new MultipartByteRangesParser(BOUNDARY, undefined, { within: span });
      const parts = parser.push(multipartBody(data, asked, {}, BOUNDARY));
      assert.deepEqual(
        parts.map((p) => [p.start, p.end]),
        asked.map((r) => [r.start, r.end]),
      );
      parser.finish();
    }
    // A part declared past the span or before it (by one byte, or by gigabytes): refused at
    // its header block, with none of its body pushed.
    const within = { start: 100, end: 250 };
    for (const [start, end, total] of [
      [100, 251, 1000],
      [99, 250, 1000],
      [0, 5_000_000_000, 5_000_000_000],
    ] as const) {
      const parser = new MultipartByteRangesParser(BOUNDARY, 'http://example.com/x', { within });
      const headers = `\r\n--${BOUNDARY}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes ${start}-${end - 1}/${total}\r\n\r\n`;
      assert.throws(
        () => parser.push(Buffer.from(headers, 'latin1')),
        (error: unknown) =>
          SyncError.is(error) && error.code === ErrorCodes.HTTP_RESPONSE && /outside the bytes asked for \(100-249\)/.test(error.message),
        `${start}-${end - 1}`,
      );
    }
  });

  it('rejects a part longer than maxPartBytes from its headers', () => {
    const part = (start: number, end: number) =>
      Buffer.from(`\r\n--${BOUNDARY}\r\nContent-Range: bytes ${start}-${end - 1}/1000\r\n\r\n`, 'latin1');
    // Exactly the limit: accepted (its body is awaited); one byte more: refused.
    const atLimit = new MultipartByteRangesParser(BOUNDARY, undefined, { maxPartBytes: 100 });
    assert.deepEqual(atLimit.push(part(0, 100)), []);
    const over = new MultipartByteRangesParser(BOUNDARY, undefined, { maxPartBytes: 100 });
    assert.throws(
      () => over.push(part(0, 101)),
      (error: unknown) =>
        SyncError.is(error) && error.code === ErrorCodes.HTTP_RESPONSE && /longer than the 100 bytes accepted/.test(error.message),
    );
  });

  it('rejects a boundary-less multipart type', () => {
    expectGarbled(() => new MultipartByteRangesParser(''));
  });
});
