import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { ErrorCodes, SyncError, type ErrorCode } from '../../../src/core/errors.js';
import type { ByteRange } from '../../../src/core/block-source.js';
import { HttpSource, type HttpSourceOptions } from '../../../src/sources/http/http-source.js';
import {
  startFaultServer,
  testBytes,
  type FaultRequest,
  type FaultServer,
  type FaultServerOptions,
  type Reply,
} from '../../helpers/fault-server.js';

const data = testBytes(300_000, 11);
/** Tiny backoffs so retry tests stay fast. */
const fast: HttpSourceOptions = { retryDelayMs: 1, maxRetryDelayMs: 5 };

/** Waits, up to 5 s, until the server has noticed what the client did (a connection it closed). */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await delay(10);
}

const servers: FaultServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/**
 * Starts a fault server. `reply` chooses the answers to GETs; the source's HEAD probe (sent
 * before its first multi-range GET) is answered normally unless `probeToo` is set.
 */
async function serve(
  reply?: FaultServerOptions['reply'],
  resource: FaultServerOptions['resource'] = { body: data },
  probeToo = false,
): Promise<FaultServer> {
  const chosen = reply;
  const server = await startFaultServer({
    resource,
    ...(chosen === undefined ? {} : { reply: (r) => (r.method === 'HEAD' && !probeToo ? {} : chosen(r)) }),
  });
  servers.push(server);
  return server;
}

/** Reads `ranges` through a fresh source (closed afterwards) and returns the bytes and the source. */
async function fetchRanges(
  url: string,
  ranges: readonly ByteRange[],
  options: HttpSourceOptions = {},
  source = new HttpSource(url, { ...fast, ...options }),
): Promise<{ bytes: Buffer; source: HttpSource }> {
  try {
    return { bytes: await readAll(source, ranges), source };
  } finally {
    await source.close();
  }
}

async function readAll(source: HttpSource, ranges: readonly ByteRange[], signal?: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of source.read(ranges, signal === undefined ? {} : { signal })) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function expected(ranges: readonly ByteRange[], body: Uint8Array = data): Buffer {
  return Buffer.concat(ranges.map((r) => body.subarray(r.start, r.end)));
}

/** `count` ranges of `size` bytes, `stride` apart, from `first`. */
function spaced(count: number, size: number, stride: number, first = 0): ByteRange[] {
  return Array.from({ length: count }, (_, i) => ({ start: first + i * stride, end: first + i * stride + size }));
}

function isCode(code: ErrorCode, check?: (error: SyncError) => void): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(SyncError.is(error), `expected a SyncError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    check?.(error);
    return true;
  };
}

function rangeCount(header: string | undefined): number {
  return header === undefined ? 0 : header.split(',').length;
}

describe('HttpSource: normal servers', () => {
  it('reads one range with a single 206 and sends the expected headers', async () => {
    const server = await serve();
    const ranges = [{ start: 10, end: 20 }];
    const { bytes, source } = await fetchRanges(server.url(), ranges, { headers: { Authorization: 'Bearer t0k' } });
    assert.deepEqual(bytes, expected(ranges));
    assert.deepEqual(source.stats, { requests: 1, bytes: 10 });
    const [request] = server.gets;
    assert.equal(request!.range, 'bytes=10-19');
    assert.equal(request!.headers['accept-encoding'], 'identity');
    assert.equal(request!.headers['user-agent'], 'gosync');
    assert.equal(request!.headers.authorization, 'Bearer t0k');
    assert.equal(request!.ifRange, undefined);
  });

  it('turns user:password in the URL into Basic credentials and keeps them out of names', async () => {
    const server = await serve();
    const url = server.url().replace('http://', 'http://alice:p%40ss@');
    const source = new HttpSource(url, fast);
    assert.equal(source.name, server.url());
    await fetchRanges(url, [{ start: 0, end: 1 }], {}, source);
    assert.equal(server.gets[0]!.headers.authorization, `Basic ${Buffer.from('alice:p@ss').toString('base64')}`);
  });

  it('groups ranges into multi-range requests of at most maxRangesPerRequest and parses multipart answers', async () => {
    const server = await serve();
    const ranges = spaced(40, 100, 1000, 5);
    const { bytes, source } = await fetchRanges(server.url(), ranges, { connections: 2 });
    assert.deepEqual(bytes, expected(ranges));
    assert.deepEqual(
      server.gets.map((r) => rangeCount(r.range)),
      [16, 16, 8],
    );
    assert.equal(server.requests[0]!.method, 'HEAD', 'the multi-range probe comes first');
    assert.equal(rangeCount(server.requests[0]!.range), 16);
    assert.equal(server.requests.length, 4);
    assert.equal(source.stats.requests, 4);
    assert.ok(source.stats.bytes > 4000, 'multipart headers are counted');
  });

  it('sends one range per request when maxRangesPerRequest is 1', async () => {
    const server = await serve();
    const ranges = spaced(5, 10, 100);
    const { bytes } = await fetchRanges(server.url(), ranges, { maxRangesPerRequest: 1 });
    assert.deepEqual(bytes, expected(ranges));
    assert.deepEqual(server.gets.map((r) => r.range).sort(), ranges.map((r) => `bytes=${r.start}-${r.end - 1}`).sort());
  });

  it('splits a big range into maxRequestBytes requests that use all connections', async () => {
    const server = await serve(() => ({ delayMs: 20 }));
    const ranges = [{ start: 1000, end: 257_000 }];
    const { bytes } = await fetchRanges(server.url(), ranges, { connections: 4, maxRequestBytes: 32_000 });
    assert.deepEqual(bytes, expected(ranges));
    assert.equal(server.gets.length, 8);
    assert.equal(server.maxConcurrent, 4);
  });

  it('delivers in order when later requests finish first', async () => {
    const server = await serve((r) => ({ delayMs: (8 - r.index) * 8 }));
    const ranges = spaced(8, 5000, 20_000);
    const { bytes } = await fetchRanges(server.url(), ranges, { connections: 8, maxRangesPerRequest: 1 });
    assert.deepEqual(bytes, expected(ranges));
    assert.ok(server.maxConcurrent >= 4);
  });

  it('keeps buffered bytes within maxBytesInFlight by not starting requests', async () => {
    const server = await serve(() => ({ delayMs: 5 }));
    const ranges = [{ start: 0, end: 100_000 }];
    const { bytes } = await fetchRanges(server.url(), ranges, { connections: 8, maxRequestBytes: 10_000, maxBytesInFlight: 25_000 });
    assert.deepEqual(bytes, expected(ranges));
    assert.equal(server.gets.length, 10);
    assert.ok(server.maxConcurrent <= 2, `${server.maxConcurrent} requests at once`);
  });

  it('reports body bytes through onBytes and stats', async () => {
    const server = await serve();
    const source = new HttpSource(server.url(), fast);
    let seen = 0;
    try {
      for await (const chunk of source.read(spaced(3, 1000, 5000), { onBytes: (n) => (seen += n) })) assert.ok(chunk.length > 0);
    } finally {
      await source.close();
    }
    assert.equal(seen, source.stats.bytes);
    assert.ok(seen > 3000);
  });

  it('yields nothing and sends nothing for no ranges', async () => {
    const server = await serve();
    const { bytes } = await fetchRanges(server.url(), []);
    assert.equal(bytes.length, 0);
    assert.equal(server.gets.length, 0);
  });

  it('rejects bad ranges with OUT_OF_RANGE before any request', async () => {
    const server = await serve();
    const source = new HttpSource(server.url(), { expectedSize: data.length });
    try {
      await assert.rejects(
        readAll(source, [
          { start: 10, end: 20 },
          { start: 5, end: 8 },
        ]),
        isCode(ErrorCodes.OUT_OF_RANGE),
      );
      await assert.rejects(readAll(source, [{ start: 10, end: data.length + 1 }]), isCode(ErrorCodes.OUT_OF_RANGE));
    } finally {
      await source.close();
    }
    assert.equal(server.gets.length, 0);
  });

  it('refuses non-http URLs and bad options with TypeError / RangeError, and reads after close with TypeError', async () => {
    assert.throws(() => new HttpSource('ftp://example.com/x'), TypeError);
    assert.throws(() => new HttpSource('http://example.com/x', { connections: 0 }), RangeError);
    assert.throws(() => new HttpSource('http://example.com/x', { maxRangesPerRequest: 1.5 }), RangeError);
    const source = new HttpSource('http://127.0.0.1:9/x');
    await source.close();
    await source.close();
    await assert.rejects(readAll(source, [{ start: 0, end: 1 }]), TypeError);
  });
});

describe('HttpSource: multi-range quirks', () => {
  const ranges = [...spaced(4, 100, 1000), { start: 4000, end: 4100 }, { start: 4100, end: 4200 }];

  for (const [name, reply] of [
    ['without a leading CRLF', { kind: 'multipart', multipart: { leadingCrlf: false } }],
    ['with bare LF line ends', { kind: 'multipart', multipart: { lf: true } }],
    ['with parts in reverse order', { kind: 'multipart', multipart: { reverse: true } }],
    ['with adjacent ranges merged into one part', { kind: 'multipart', multipart: { mergeAdjacent: true } }],
    ['as one 206 spanning every range (coalesced)', { kind: 'coalesce' }],
  ] as const) {
    it(`accepts a multi-range answer ${name}`, async () => {
      const server = await serve(() => reply as Reply);
      const { bytes } = await fetchRanges(server.url(), ranges);
      assert.deepEqual(bytes, expected(ranges));
      assert.equal(server.gets.length, 1);
    });
  }

  for (const [name, first] of [
    ['a garbled multipart answer (part shorter than its Content-Range)', { kind: 'multipart', multipart: { garble: 'short-part' } }],
    ['a multipart part without Content-Range', { kind: 'multipart', multipart: { garble: 'no-content-range' } }],
    ['a 416 to a multi-range request', { kind: 'status', status: 416 }],
    ['a 400 to a multi-range request', { kind: 'status', status: 400 }],
    ['a 501 to a multi-range request (GitHub release assets)', { kind: 'status', status: 501 }],
  ] as const) {
    it(`falls back to single ranges for the rest of the session after ${name}`, async () => {
      const server = await serve((r) => (r.index === 0 ? (first as Reply) : {}));
      const source = new HttpSource(server.url(), fast);
      const { bytes } = await fetchRanges(server.url(), ranges, {}, source);
      assert.deepEqual(bytes, expected(ranges));
      assert.equal(rangeCount(server.gets[0]!.range), ranges.length);
      assert.equal(server.gets.length, 1 + ranges.length);
      assert.ok(server.gets.slice(1).every((r) => rangeCount(r.range) === 1));
    });
  }

  it('stops reading a 206 that spans far more than asked once every asked byte is in', async () => {
    const big = testBytes(3_000_000, 6);
    const server = await serve(() => ({ kind: 'whole-206', trickle: 65_536 }), { body: big });
    const asked = spaced(4, 10, 100_000, 10);
    const { bytes, source } = await fetchRanges(server.url(), asked, { connections: 1, maxRangesPerRequest: 2 });
    assert.deepEqual(bytes, expected(asked, big));
    assert.equal(server.gets.length, 2);
    // The first request stops after ~100 KB instead of reading all 3 MB before the second starts.
    assert.ok(source.stats.bytes < 1_000_000, `read ${source.stats.bytes} bytes`);
  });

  describe('a server answering several ranges with the whole body (nginx max_ranges 1)', () => {
    const big = testBytes(3_000_000, 4);
    const limitRanges = (r: FaultRequest): Reply => (rangeCount(r.range) > 1 ? { kind: 'full', trickle: 65_536 } : {});

    it('is found out by the HEAD probe: no multi-range GET is ever sent', async () => {
      const server = await serve(limitRanges, { body: big }, true);
      const { bytes, source } = await fetchRanges(server.url(), ranges);
      assert.deepEqual(bytes, expected(ranges, big));
      assert.deepEqual(
        server.requests.map((r) => [r.method, rangeCount(r.range)]),
        [['HEAD', ranges.length], ...ranges.map(() => ['GET', 1])],
      );
      assert.equal(source.stats.bytes, 600);
      assert.ok(server.bytesSent < 1000);
    });

    it('is handled without downloading the body when only the GET gets the 200', async () => {
      const server = await serve(limitRanges, { body: big });
      const { bytes, source } = await fetchRanges(server.url(), ranges);
      assert.deepEqual(bytes, expected(ranges, big));
      assert.equal(server.gets.length, 1 + ranges.length);
      assert.ok(source.stats.bytes < 300_000, `read ${source.stats.bytes} bytes`);
    });
  });

  it('probes once per source, and ignores a refused probe', async () => {
    const server = await serve((r) => (r.method === 'HEAD' ? { kind: 'status', status: 405 } : {}), { body: data }, true);
    const source = new HttpSource(server.url(), fast);
    try {
      assert.deepEqual(await readAll(source, ranges.slice(0, 3)), expected(ranges.slice(0, 3)));
      assert.deepEqual(await readAll(source, ranges.slice(3)), expected(ranges.slice(3)));
    } finally {
      await source.close();
    }
    assert.deepEqual(
      server.requests.map((r) => [r.method, rangeCount(r.range)]),
      [
        ['HEAD', 3],
        ['GET', 3],
        ['GET', 3],
      ],
    );
  });

  describe('prepare', () => {
    it('sends the probe now: the reads after it send no other, and learn from it', async () => {
      const big = testBytes(3_000_000, 4);
      const limited = (r: FaultRequest): Reply => (rangeCount(r.range) > 1 ? { kind: 'full', trickle: 65_536 } : {});
      const server = await serve(limited, { body: big }, true);
      const source = new HttpSource(server.url(), fast);
      try {
        await source.prepare([
          { start: 0, end: 1 },
          { start: big.length - 1, end: big.length },
        ]);
        assert.deepEqual(
          server.requests.map((r) => [r.method, r.range]),
          [['HEAD', `bytes=0-0,${big.length - 1}-${big.length - 1}`]],
        );
        assert.deepEqual(await readAll(source, ranges), expected(ranges, big));
      } finally {
        await source.close();
      }
      // The probe's 200 said one range per request: no multi-range GET, no second HEAD.
      assert.deepEqual(
        server.requests.map((r) => [r.method, rangeCount(r.range)]),
        [['HEAD', 2], ...ranges.map(() => ['GET', 1])],
      );
      assert.equal(source.stats.requests, 1 + ranges.length);
    });

    it('resolves when the host cannot be reached (the read finds out again)', async () => {
      const server = await serve();
      const url = server.url();
      await server.close();
      const source = new HttpSource(url, { ...fast, retries: 0 });
      try {
        await source.prepare([
          { start: 0, end: 1 },
          { start: 5, end: 6 },
        ]);
      } finally {
        await source.close();
      }
    });
  });

  for (const status of [416, 501]) {
    it(`falls back before any multi-range GET when the probe gets a ${status}`, async () => {
      const server = await serve((r) => (r.method === 'HEAD' ? { kind: 'status', status } : {}), { body: data }, true);
      const { bytes } = await fetchRanges(server.url(), ranges);
      assert.deepEqual(bytes, expected(ranges));
      assert.ok(server.gets.every((r) => rangeCount(r.range) === 1));
      assert.equal(server.gets.length, ranges.length);
    });
  }

  it('still fails with HTTP_STATUS when a single range gets a 501', async () => {
    const server = await serve(() => ({ kind: 'status', status: 501 }));
    await assert.rejects(
      fetchRanges(server.url(), [{ start: 0, end: 10 }]),
      isCode(ErrorCodes.HTTP_STATUS, (e) => assert.equal(e.status, 501)),
    );
  });

  describe('a multipart part larger than asked (a server making the client buffer)', () => {
    const big = testBytes(3_000_000, 8);
    const asked = [
      { start: 10, end: 20 },
      { start: 100, end: 110 },
    ];
    const sparse = [
      { start: 10, end: 20 },
      { start: 2_900_000, end: 2_900_010 },
    ];

    // The first part claims (and starts to send) far more bytes than asked, then the server
    // stalls: a client buffering the part would wait for the idle timeout.
    for (const [name, ranges, grow] of [
      ['past the span asked for', asked, 3_000_000],
      ['inside the span but across a large gap between the ranges asked for', sparse, 2_899_990],
    ] as const) {
      it(`is refused from its part headers, without waiting for its body (${name}); single ranges take over`, async () => {
        const server = await serve((r) => (r.index === 0 ? { kind: 'multipart', multipart: { grow }, stallAfter: 1000 } : {}), {
          body: big,
        });
        const started = performance.now();
        const { bytes, source } = await fetchRanges(server.url(), ranges, { timeoutMs: 20_000 });
        assert.deepEqual(bytes, expected(ranges, big));
        assert.ok(performance.now() - started < 10_000, 'not held up by the stalled body');
        assert.deepEqual(
          server.gets.map((r) => rangeCount(r.range)),
          [2, 1, 1],
        );
        assert.ok(source.stats.bytes <= 1000 + 20, `received ${source.stats.bytes} B`);
      });
    }

    it('fails with HTTP_RESPONSE when every answer has one, after reading a small part of it', async () => {
      const server = await serve(() => ({ kind: 'multipart', multipart: { grow: 3_000_000 }, trickle: 16_384 }), { body: big });
      const source = new HttpSource(server.url(), fast);
      try {
        await assert.rejects(
          readAll(source, asked),
          isCode(ErrorCodes.HTTP_RESPONSE, (e) =>
            assert.match(e.message, /part for bytes 10-2999999 lies outside the bytes asked for \(10-19\)/),
          ),
        );
      } finally {
        await source.close();
      }
      assert.ok(source.stats.bytes < 200_000, `received ${source.stats.bytes} B of a 3 MB part`);
    });
  });

  it('re-requests only the part missing from a multipart answer', async () => {
    const server = await serve((r) => (r.index === 0 ? { kind: 'multipart', multipart: { dropPart: 2 } } : {}));
    const { bytes } = await fetchRanges(server.url(), ranges);
    assert.deepEqual(bytes, expected(ranges));
    assert.deepEqual(
      server.gets.map((r) => r.range),
      ['bytes=0-99,1000-1099,2000-2099,3000-3099,4000-4099,4100-4199', 'bytes=2000-2099'],
    );
  });

  it('remembers the single-range fallback for later reads', async () => {
    const server = await serve((r) => (r.index === 0 ? { kind: 'status', status: 416 } : {}));
    const source = new HttpSource(server.url(), fast);
    try {
      assert.deepEqual(await readAll(source, ranges.slice(0, 2)), expected(ranges.slice(0, 2)));
      const before = server.gets.length;
      assert.deepEqual(await readAll(source, ranges.slice(2)), expected(ranges.slice(2)));
      assert.equal(server.gets.length - before, ranges.length - 2);
      assert.ok(server.gets.every((r, i) => i === 0 || rangeCount(r.range) === 1));
    } finally {
      await source.close();
    }
  });
});

describe('HttpSource: servers that ignore Range', () => {
  const big = testBytes(2_000_000, 5);

  it('picks the needed bytes from a 200 and stops reading there', async () => {
    const server = await serve(() => ({ kind: 'full', trickle: 16_384 }), { body: big });
    const ranges = spaced(6, 1000, 10_000, 500);
    const { bytes, source } = await fetchRanges(server.url(), ranges, { connections: 1, maxRangesPerRequest: 1 });
    assert.deepEqual(bytes, expected(ranges, big));
    assert.equal(server.gets.length, 1, 'one GET serves every range');
    assert.ok(source.stats.bytes < 500_000, `read ${source.stats.bytes} bytes of 2 MB`);
    await until(() => server.gets[0]!.aborted);
    assert.equal(server.gets[0]!.aborted, true, 'the rest of the body is not downloaded');
  });

  it('switches to whole-body mode: a later read uses one GET for all its ranges', async () => {
    const server = await serve(() => ({ kind: 'full' }), { body: big });
    const source = new HttpSource(server.url(), { ...fast, connections: 4, maxRangesPerRequest: 1 });
    try {
      const first = spaced(3, 100, 1000);
      assert.deepEqual(await readAll(source, first), expected(first, big));
      const afterFirst = server.gets.length;
      assert.ok(afterFirst <= 4, `${afterFirst} requests`);
      const second = spaced(50, 100, 30_000, 50_000);
      assert.deepEqual(await readAll(source, second), expected(second, big));
      assert.equal(server.gets.length, afterFirst + 1);
    } finally {
      await source.close();
    }
  });

  it('lets one whole-body download serve every range: no second request before the host answered a range', async () => {
    // Until a 206 shows that the host honours Range, one request is in flight: a host that
    // ignores it would send each of them the whole body (python -m http.server).
    const server = await serve((r) => (r.index === 0 ? { kind: 'full', trickle: 16_384 } : { kind: 'full', delayMs: 20 }), { body: big });
    const ranges = spaced(8, 1000, 240_000, 100_000);
    const { bytes, source } = await fetchRanges(server.url(), ranges, { connections: 4, maxRangesPerRequest: 1 });
    assert.deepEqual(bytes, expected(ranges, big));
    assert.equal(server.gets.length, 1);
    // Each of 4 requests reading up to its own range would be ~3.5 MB in all.
    assert.ok(source.stats.bytes < big.length * 1.1, `read ${source.stats.bytes} bytes`);
  });

  it('asks a host that answered ranges before again when it ignores Range once, without leaving range mode', async () => {
    const server = await serve((r) => (r.index === 1 ? { kind: 'full' } : {}), { body: big });
    const source = new HttpSource(server.url(), { ...fast, connections: 2, maxRangesPerRequest: 1 });
    try {
      assert.deepEqual(await readAll(source, [{ start: 0, end: 10 }]), expected([{ start: 0, end: 10 }], big));
      const ranges = spaced(4, 1000, 500_000, 100_000);
      assert.deepEqual(await readAll(source, ranges), expected(ranges, big));
    } finally {
      await source.close();
    }
    assert.equal(server.gets.length, 6, 'one more request for the range answered whole');
    assert.ok(server.gets.every((r) => rangeCount(r.range) === 1));
  });

  it('stays within maxBytesInFlight in whole-body mode with a slow consumer', async () => {
    const server = await serve(() => ({ kind: 'full' }), { body: big });
    const source = new HttpSource(server.url(), { ...fast, connections: 1, maxRangesPerRequest: 1, maxBytesInFlight: 64 * 1024 });
    const ranges = spaced(100, 10_000, 15_000);
    const out: Buffer[] = [];
    try {
      for await (const chunk of source.read(ranges)) {
        out.push(Buffer.from(chunk));
        // The source may run ahead of this consumer by the budget plus a chunk or two.
        const consumed = out.reduce((n, c) => n + c.length, 0);
        const positionInBody = Math.floor(consumed / 10_000) * 15_000 + (consumed % 10_000);
        assert.ok(source.stats.bytes - positionInBody < 64 * 1024 * 2 + 200_000, `read ${source.stats.bytes} at ${positionInBody}`);
        if (out.length % 20 === 0) await delay(1);
      }
    } finally {
      await source.close();
    }
    assert.deepEqual(Buffer.concat(out), expected(ranges, big));
    assert.equal(server.gets.length, 1);
  });
});

describe('HttpSource: failures', () => {
  for (const status of [404, 403, 410, 401]) {
    it(`fails at once with HTTP_STATUS on ${status}`, async () => {
      const server = await serve(() => ({ kind: 'status', status }));
      const source = new HttpSource(server.url(), fast);
      await assert.rejects(
        fetchRanges(server.url(), [{ start: 0, end: 10 }], {}, source),
        isCode(ErrorCodes.HTTP_STATUS, (e) => {
          assert.equal(e.status, status);
          assert.match(e.message, new RegExp(`^Cannot fetch ${server.url().replace(/\./g, '\\.')}: the server answered ${status} `));
        }),
      );
      assert.equal(server.gets.length, 1);
      assert.equal(source.stats.requests, 1);
    });
  }

  it('retries 500 and 503 and then succeeds', async () => {
    const server = await serve((r) => (r.index < 2 ? { kind: 'status', status: r.index === 0 ? 500 : 503 } : {}));
    const ranges = [{ start: 0, end: 1000 }];
    const { bytes, source } = await fetchRanges(server.url(), ranges);
    assert.deepEqual(bytes, expected(ranges));
    assert.equal(server.gets.length, 3);
    assert.equal(source.stats.requests, 3);
  });

  it('waits for Retry-After on 429', async () => {
    const server = await serve((r) => (r.index === 0 ? { kind: 'status', status: 429, headers: { 'retry-after': '1' } } : {}));
    const started = performance.now();
    const { bytes } = await fetchRanges(server.url(), [{ start: 5, end: 10 }]);
    assert.deepEqual(bytes, data.subarray(5, 10));
    assert.ok(performance.now() - started >= 950, `retried after ${performance.now() - started} ms`);
    assert.equal(server.gets.length, 2);
  });

  it('gives up with NETWORK after the retries', async () => {
    const server = await serve(() => ({ kind: 'status', status: 503 }));
    await assert.rejects(
      fetchRanges(server.url(), [{ start: 0, end: 10 }], { retries: 2 }),
      isCode(ErrorCodes.NETWORK, (e) => {
        assert.equal(e.status, 503);
        assert.match(e.message, /503 Service Unavailable.*3 attempts/);
      }),
    );
    assert.equal(server.gets.length, 3);
  });

  it('resumes only the missing remainder after the connection drops mid-body', async () => {
    const server = await serve((r) => (r.index === 0 ? { cutAfter: 10_000 } : {}));
    const ranges = [{ start: 1000, end: 51_000 }];
    const { bytes } = await fetchRanges(server.url(), ranges);
    assert.deepEqual(bytes, expected(ranges));
    assert.deepEqual(
      server.gets.map((r) => r.range),
      ['bytes=1000-50999', 'bytes=11000-50999'],
    );
  });

  it('keeps the complete parts of a multipart answer cut mid-body', async () => {
    const ranges = spaced(5, 5000, 10_000);
    const server = await serve((r) => (r.index === 0 ? { cutAfter: 12_000 } : {}));
    const { bytes } = await fetchRanges(server.url(), ranges);
    assert.deepEqual(bytes, expected(ranges));
    assert.equal(server.gets.length, 2);
    assert.ok(rangeCount(server.gets[1]!.range) < 5 && rangeCount(server.gets[1]!.range) >= 3, server.gets[1]!.range);
  });

  it('times out a server that never answers, with NETWORK after the retries', async () => {
    const server = await serve(() => ({ kind: 'stall' }));
    await assert.rejects(fetchRanges(server.url(), [{ start: 0, end: 10 }], { timeoutMs: 100, retries: 1 }), isCode(ErrorCodes.NETWORK));
    assert.equal(server.gets.length, 2);
  });

  it('resumes after a body that stalls past the idle timeout', async () => {
    const server = await serve((r) => (r.index === 0 ? { stallAfter: 3000 } : {}));
    const ranges = [{ start: 0, end: 20_000 }];
    const { bytes } = await fetchRanges(server.url(), ranges, { timeoutMs: 150 });
    assert.deepEqual(bytes, expected(ranges));
    assert.equal(server.gets[1]!.range, 'bytes=3000-19999');
  });

  it('retries a wrong Content-Range once as a single range', async () => {
    const server = await serve((r) => (r.index === 0 ? { kind: 'content-range', contentRange: 'bytes 1-10/300000' } : {}));
    const ranges = [{ start: 0, end: 10 }];
    const { bytes } = await fetchRanges(server.url(), ranges);
    assert.deepEqual(bytes, expected(ranges));
    assert.equal(server.gets.length, 2);
  });

  it('fails with HTTP_RESPONSE when the Content-Range stays wrong', async () => {
    const server = await serve(() => ({ kind: 'content-range', contentRange: 'bytes 0-8/300000' }));
    await assert.rejects(fetchRanges(server.url(), [{ start: 0, end: 10 }]), isCode(ErrorCodes.HTTP_RESPONSE));
    assert.equal(server.gets.length, 2);
  });

  it('fails with HTTP_RESPONSE on a compressed body (byte offsets would be wrong)', async () => {
    const server = await serve(() => ({ headers: { 'content-encoding': 'gzip' } }));
    await assert.rejects(
      fetchRanges(server.url(), [{ start: 0, end: 10 }]),
      isCode(ErrorCodes.HTTP_RESPONSE, (e) => assert.match(e.message, /gzip/)),
    );
  });

  it('passes wrong bytes through unchanged (hash checks are the patcher\u2019s job)', async () => {
    const server = await serve(() => ({ corrupt: true }));
    const { bytes } = await fetchRanges(server.url(), [{ start: 0, end: 100 }]);
    assert.deepEqual(bytes, Buffer.from(data.subarray(0, 100).map((b) => b ^ 0xff)));
  });
});

describe('HttpSource: changed reference', () => {
  const v2 = testBytes(data.length, 99);

  it('sends the first strong ETag as If-Range and fails with SOURCE_CHANGED on a 200 for a new version', async () => {
    const server = await serve(undefined, (r) => (r.index === 0 ? { body: data } : { body: v2, etag: '"v2"' }));
    await assert.rejects(
      fetchRanges(server.url(), spaced(3, 10, 100), { connections: 1, maxRangesPerRequest: 1 }),
      isCode(ErrorCodes.SOURCE_CHANGED),
    );
    assert.equal(server.gets[1]!.ifRange, '"v1"');
  });

  it('fails with SOURCE_CHANGED when a server ignoring If-Range sends another ETag', async () => {
    const server = await serve(
      () => ({ kind: 'coalesce' }),
      (r) => (r.index === 0 ? { body: data } : { body: v2, etag: '"v2"' }),
    );
    await assert.rejects(
      fetchRanges(server.url(), spaced(3, 10, 100), { connections: 1, maxRangesPerRequest: 1 }),
      isCode(ErrorCodes.SOURCE_CHANGED),
    );
  });

  it('uses Last-Modified for If-Range when the ETag is weak', async () => {
    const server = await serve(undefined, { body: data, etag: 'W/"weak"', lastModified: 'Wed, 03 Jan 2024 00:00:00 GMT' });
    const ranges = spaced(2, 10, 100);
    const { bytes } = await fetchRanges(server.url(), ranges, { connections: 1, maxRangesPerRequest: 1 });
    assert.deepEqual(bytes, expected(ranges));
    assert.equal(server.gets[1]!.ifRange, 'Wed, 03 Jan 2024 00:00:00 GMT');
  });

  it('fails with SOURCE_CHANGED when the length differs from expectedSize', async () => {
    const server = await serve();
    await assert.rejects(
      fetchRanges(server.url(), [{ start: 0, end: 10 }], { expectedSize: data.length - 1 }),
      isCode(ErrorCodes.SOURCE_CHANGED),
    );
    const whole = await serve(() => ({ kind: 'full' }));
    await assert.rejects(
      fetchRanges(whole.url(), [{ start: 0, end: 10 }], { expectedSize: data.length + 1 }),
      isCode(ErrorCodes.SOURCE_CHANGED),
    );
  });

  it('fails with SOURCE_CHANGED when a later answer reports another length', async () => {
    const server = await serve(undefined, (r) =>
      r.index === 0 ? { body: data, etag: null } : { body: data.subarray(0, 250_000), etag: null },
    );
    await assert.rejects(
      fetchRanges(server.url(), spaced(2, 10, 100), { connections: 1, maxRangesPerRequest: 1 }),
      isCode(ErrorCodes.SOURCE_CHANGED),
    );
  });
});

describe('HttpSource: redirects', () => {
  for (const status of [301, 302, 307, 308]) {
    it(`follows a ${status} and sends later requests to the final URL`, async () => {
      const server = await serve((r) => (r.path === '/old' ? { kind: 'redirect', status, location: 'file' } : {}));
      const source = new HttpSource(server.url('/old'), fast);
      try {
        assert.deepEqual(await readAll(source, [{ start: 0, end: 10 }]), data.subarray(0, 10));
        assert.equal(source.url, server.url('/file'));
        assert.deepEqual(await readAll(source, [{ start: 20, end: 30 }]), data.subarray(20, 30));
      } finally {
        await source.close();
      }
      assert.deepEqual(
        server.gets.map((r) => r.path),
        ['/old', '/file', '/file'],
      );
      assert.equal(server.gets[1]!.range, 'bytes=0-9');
    });
  }

  it('fails with REDIRECT on a loop', async () => {
    const server = await serve((r) => ({ kind: 'redirect', location: r.path === '/a' ? '/b' : '/a' }));
    await assert.rejects(
      fetchRanges(server.url('/a'), [{ start: 0, end: 10 }]),
      isCode(ErrorCodes.REDIRECT, (e) => assert.match(e.message, /loop/)),
    );
  });

  it('fails with REDIRECT after maxRedirects hops', async () => {
    const server = await serve((r) => ({ kind: 'redirect', location: `/hop${Number(r.path.slice(4) || 0) + 1}` }));
    await assert.rejects(fetchRanges(server.url('/hop0'), [{ start: 0, end: 10 }], { maxRedirects: 3 }), isCode(ErrorCodes.REDIRECT));
    assert.equal(server.gets.length, 4);
  });

  it('fails with REDIRECT on a redirect to another scheme', async () => {
    const server = await serve(() => ({ kind: 'redirect', location: 'ftp://example.com/file' }));
    await assert.rejects(
      fetchRanges(server.url(), [{ start: 0, end: 10 }]),
      isCode(ErrorCodes.REDIRECT, (e) => assert.match(e.message, /ftp:/)),
    );
  });

  it('drops Authorization when a redirect leaves the origin', async () => {
    const target = await serve();
    const origin = await serve(() => ({ kind: 'redirect', location: target.url() }));
    await fetchRanges(origin.url(), [{ start: 0, end: 10 }], { headers: { authorization: 'Bearer secret' } });
    assert.equal(origin.gets[0]!.headers.authorization, 'Bearer secret');
    assert.equal(target.gets[0]!.headers.authorization, undefined);
  });
});

describe('HttpSource: cancellation and throttling', () => {
  it('rejects promptly with ABORTED and cancels the requests in flight', async () => {
    const controller = new AbortController();
    // Aborted 30 ms after the first GET came in (the multi-range probe goes first).
    const server = await serve(() => {
      setTimeout(() => controller.abort(), 30);
      return { kind: 'stall' };
    });
    const source = new HttpSource(server.url(), fast);
    const started = performance.now();
    try {
      await assert.rejects(readAll(source, spaced(4, 10, 100_000), controller.signal), isCode(ErrorCodes.ABORTED));
    } finally {
      await source.close();
    }
    assert.ok(performance.now() - started < 1000);
    await until(() => server.gets.every((r) => r.aborted));
    assert.ok(server.gets.length > 0 && server.gets.every((r) => r.aborted));
  });

  it('cancels in-flight requests cleanly when the consumer stops early', async () => {
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown): void => void rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    const server = await serve((r) => (r.index === 0 ? {} : { trickle: 1000 }));
    const source = new HttpSource(server.url(), { ...fast, connections: 4, maxRangesPerRequest: 1 });
    try {
      // A first answer shows the host honours Range: the next read runs 4 requests at once.
      await readAll(source, [{ start: 0, end: 10 }]);
      for await (const chunk of source.read(spaced(8, 20_000, 30_000, 100))) {
        assert.ok(chunk.length > 0);
        break;
      }
      await source.close();
      await until(() => server.gets.some((r) => r.aborted));
      await delay(30); // room for a late unhandled rejection to show
    } finally {
      process.off('unhandledRejection', onRejection);
    }
    assert.deepEqual(rejections, []);
    assert.ok(server.gets.length >= 3 && server.gets.length <= 5, `${server.gets.length} GETs`);
    assert.ok(server.gets.some((r) => r.aborted));
  });

  it('throttles to bytesPerSecond (200 KB at 1 MB/s takes at least ~150 ms)', async () => {
    const server = await serve();
    const started = performance.now();
    const ranges = [{ start: 0, end: 200_000 }];
    const { bytes } = await fetchRanges(server.url(), ranges, { bytesPerSecond: 1_000_000 });
    const elapsed = performance.now() - started;
    assert.deepEqual(bytes, expected(ranges));
    assert.ok(elapsed >= 150, `took ${elapsed} ms`);
  });
});
