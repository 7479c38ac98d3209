import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Agent } from 'undici';
import { ErrorCodes, SyncError, type ErrorCode } from '../../../src/core/errors.js';
import { httpGet } from '../../../src/sources/http/http-source.js';
import { startFaultServer, testBytes, type FaultServer, type FaultServerOptions } from '../../helpers/fault-server.js';

const data = testBytes(50_000, 21);
const dispatcher = new Agent();
const servers: FaultServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await dispatcher.close();
});

async function serve(reply?: FaultServerOptions['reply'], body: Uint8Array = data): Promise<FaultServer> {
  const server = await startFaultServer({ resource: { body, etag: '"idx1"' }, ...(reply === undefined ? {} : { reply }) });
  servers.push(server);
  return server;
}

function isCode(code: ErrorCode): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(SyncError.is(error), String(error));
    assert.equal(error.code, code, error.message);
    return true;
  };
}

const fast = { dispatcher, retryDelayMs: 1, maxRetryDelayMs: 5 };

/** Waits, up to 5 s, until the server has noticed what the client did (a connection it closed). */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await delay(10);
}

describe('httpGet', () => {
  it('returns the body, the final URL after redirects and the validators', async () => {
    const server = await serve((r) => (r.path === '/index' ? { kind: 'redirect', status: 301, location: '/files/index.gosync' } : {}));
    const result = await httpGet(server.url('/index'), fast);
    assert.deepEqual(Buffer.from(result.body), data);
    assert.equal(result.url, server.url('/files/index.gosync'));
    assert.equal(result.etag, '"idx1"');
    assert.equal(result.lastModified, 'Tue, 02 Jan 2024 03:04:05 GMT');
    assert.equal(server.requests[1]!.headers['accept-encoding'], 'identity');
    assert.equal(server.requests[1]!.range, undefined);
  });

  it('rejects a body whose Content-Length is over maxBytes without reading it', async () => {
    const big = testBytes(4_000_000, 2);
    const server = await serve(() => ({ trickle: 65_536 }), big);
    await assert.rejects(httpGet(server.url(), { ...fast, maxBytes: 1000 }), isCode(ErrorCodes.HTTP_RESPONSE));
    await until(() => server.requests[0]!.aborted);
    assert.ok(server.requests[0]!.aborted);
    assert.ok(server.bytesSent < big.length);
  });

  it('rejects a chunked body once it passes maxBytes', async () => {
    const server = await serve(() => ({ chunked: true }));
    await assert.rejects(httpGet(server.url(), { ...fast, maxBytes: data.length - 1 }), isCode(ErrorCodes.HTTP_RESPONSE));
    const ok = await httpGet(server.url(), { ...fast, maxBytes: data.length });
    assert.equal(ok.body.length, data.length);
  });

  it('fails at once with HTTP_STATUS on 404', async () => {
    const server = await serve(() => ({ kind: 'status', status: 404 }));
    await assert.rejects(httpGet(server.url(), fast), (error: unknown) => {
      assert.ok(SyncError.is(error) && error.code === ErrorCodes.HTTP_STATUS);
      assert.equal(error.message, `Cannot fetch ${server.url()}: the server answered 404 Not Found`);
      return true;
    });
    assert.equal(server.requests.length, 1);
  });

  it('retries transient failures (503, a connection cut mid-body) and succeeds', async () => {
    const server = await serve((r) => (r.index === 0 ? { kind: 'status', status: 503 } : r.index === 1 ? { cutAfter: 1000 } : {}));
    const result = await httpGet(server.url(), fast);
    assert.deepEqual(Buffer.from(result.body), data);
    assert.equal(server.requests.length, 3);
  });

  it('gives up with NETWORK after the retries', async () => {
    const server = await serve(() => ({ kind: 'status', status: 500 }));
    await assert.rejects(httpGet(server.url(), { ...fast, retries: 1 }), isCode(ErrorCodes.NETWORK));
    assert.equal(server.requests.length, 2);
  });

  it('fails with REDIRECT on too many redirects', async () => {
    const server = await serve((r) => ({ kind: 'redirect', location: `/r${r.index + 1}` }));
    await assert.rejects(httpGet(server.url('/r0'), { ...fast, maxRedirects: 2 }), isCode(ErrorCodes.REDIRECT));
    assert.equal(server.requests.length, 3);
  });

  it('rejects with ABORTED when the signal fires', async () => {
    const server = await serve(() => ({ kind: 'stall' }));
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(httpGet(server.url(), { ...fast, signal: controller.signal }), isCode(ErrorCodes.ABORTED));
  });
});
