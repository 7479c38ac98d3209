import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatRangeHeader, parseContentRange, parseUnsatisfiedRange } from '../../../src/sources/http/range-headers.js';
import { TokenBucket } from '../../../src/util/token-bucket.js';
import {
  isRetryable,
  isTransientStatus,
  parseRetryAfter,
  retryDelayMs,
  TransientStatusError,
} from '../../../src/sources/http/retry-policy.js';

describe('range headers', () => {
  it('formats half-open ranges as inclusive specs', () => {
    assert.equal(
      formatRangeHeader([
        { start: 0, end: 10 },
        { start: 20, end: 21 },
      ]),
      'bytes=0-9,20-20',
    );
  });

  it('parses Content-Range with and without a total', () => {
    assert.deepEqual(parseContentRange('bytes 0-9/100'), { start: 0, end: 10, total: 100 });
    assert.deepEqual(parseContentRange('Bytes  5-5/*'), { start: 5, end: 6, total: undefined });
    assert.deepEqual(parseContentRange('bytes 4294967296-8589934591/8589934592'), { start: 2 ** 32, end: 2 ** 33, total: 2 ** 33 });
  });

  it('rejects malformed and contradictory Content-Range values', () => {
    for (const bad of [undefined, '', 'bytes 9-0/100', 'bytes 0-100/100', 'items 0-9/100', 'bytes 0-9', 'bytes */100', 'bytes -1-9/100']) {
      assert.equal(parseContentRange(bad), undefined, String(bad));
    }
    assert.equal(parseUnsatisfiedRange('bytes */1234'), 1234);
    assert.equal(parseUnsatisfiedRange('bytes 0-1/2'), undefined);
  });
});

describe('retry policy', () => {
  it('parses Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('Tue, 02 Jan 2024 03:04:05 GMT');
    assert.equal(parseRetryAfter('3', now), 3000);
    assert.equal(parseRetryAfter('Tue, 02 Jan 2024 03:04:15 GMT', now), 10_000);
    assert.equal(parseRetryAfter('Tue, 02 Jan 2024 03:00:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(undefined, now), undefined);
  });

  it('backs off exponentially with jitter, capped, and never below Retry-After', () => {
    const policy = { retries: 5, baseDelayMs: 200, maxDelayMs: 1000 };
    assert.equal(
      retryDelayMs(1, policy, new Error('x'), () => 0),
      100,
    );
    assert.equal(
      retryDelayMs(1, policy, new Error('x'), () => 1),
      200,
    );
    assert.equal(
      retryDelayMs(3, policy, new Error('x'), () => 1),
      800,
    );
    assert.equal(
      retryDelayMs(10, policy, new Error('x'), () => 1),
      1000,
    );
    assert.equal(
      retryDelayMs(1, policy, new TransientStatusError('busy', 503, 5000), () => 1),
      5000,
    );
  });

  it('classifies statuses and errors', () => {
    for (const s of [408, 429, 500, 502, 503, 504]) assert.ok(isTransientStatus(s), String(s));
    for (const s of [400, 401, 403, 404, 410, 416, 501, 505]) assert.ok(!isTransientStatus(s), String(s));
    assert.ok(isRetryable(Object.assign(new Error('reset'), { code: 'ECONNRESET' })));
    assert.ok(isRetryable(Object.assign(new Error('closed'), { code: 'UND_ERR_SOCKET' })));
    assert.ok(!isRetryable(Object.assign(new Error('cert'), { code: 'CERT_HAS_EXPIRED' })));
    assert.ok(!isRetryable(Object.assign(new Error('dns'), { code: 'ENOTFOUND' })));
    assert.ok(!isRetryable(new TransientStatusError('busy', 503, 3_600_000)), 'a Retry-After of an hour is not waited for');
  });
});

describe('TokenBucket', () => {
  it('paces 200 KB at 1 MB/s to at least ~150 ms', async () => {
    const bucket = new TokenBucket(1_000_000);
    const started = performance.now();
    for (let i = 0; i < 50; i++) await bucket.take(4000);
    assert.ok(performance.now() - started >= 150, `took ${performance.now() - started} ms`);
  });

  it('rejects a non-positive rate', () => {
    assert.throws(() => new TokenBucket(0), RangeError);
  });
});
