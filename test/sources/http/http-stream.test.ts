/**
 * httpGetStream: the body as it arrives, retries before it starts, the size cap by
 * Content-Length and by count, and failures while the body is read.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { ErrorCodes, SyncError } from '../../../src/core/errors.js';
import { httpGetStream } from '../../../src/sources/http/http-stream.js';

let base: string;
let server: ReturnType<typeof createServer>;
let hits = new Map<string, number>();
const payload = Buffer.alloc(300_000, 7);

before(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    const count = (hits.get(path) ?? 0) + 1;
    hits.set(path, count);
    if (path === '/file') {
      res.writeHead(200, { 'content-length': payload.length });
      res.end(payload);
    } else if (path === '/flaky' && count === 1) {
      res.writeHead(503, { 'retry-after': '0' });
      res.end();
    } else if (path === '/flaky') {
      res.end('ok');
    } else if (path === '/chunked') {
      res.writeHead(200);
      res.write(payload.subarray(0, 100_000));
      setTimeout(() => res.end(payload.subarray(100_000)), 20);
    } else if (path === '/cut') {
      res.writeHead(200, { 'content-length': payload.length });
      res.write(payload.subarray(0, 1000), () => setTimeout(() => res.socket?.destroy(), 20));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function readAll(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of body) parts.push(chunk);
  return Buffer.concat(parts);
}

const hasCode = (code: string) => (err: unknown) => SyncError.is(err) && err.code === code;

test('the body comes as it arrives, with its size', async () => {
  const got = await httpGetStream(`${base}/file`);
  assert.equal(got.size, payload.length);
  assert.ok((await readAll(got.body)).equals(payload));
  const chunked = await httpGetStream(`${base}/chunked`);
  assert.equal(chunked.size, undefined);
  assert.ok((await readAll(chunked.body)).equals(payload));
});

test('a failure before the body is retried; a missing resource is HTTP_STATUS', async () => {
  hits = new Map();
  const got = await httpGetStream(`${base}/flaky`, { retryDelayMs: 1 });
  assert.equal((await readAll(got.body)).toString(), 'ok');
  assert.equal(hits.get('/flaky'), 2);
  await assert.rejects(httpGetStream(`${base}/missing`), hasCode(ErrorCodes.HTTP_STATUS));
});

test('a body over the limit is refused by its Content-Length, or as the count passes it', async () => {
  await assert.rejects(httpGetStream(`${base}/file`, { maxBytes: 1000 }), hasCode(ErrorCodes.HTTP_RESPONSE));
  const chunked = await httpGetStream(`${base}/chunked`, { maxBytes: 150_000 });
  await assert.rejects(readAll(chunked.body), hasCode(ErrorCodes.HTTP_RESPONSE));
});

test('a connection lost in the middle of the body rejects the reading with NETWORK', async () => {
  const got = await httpGetStream(`${base}/cut`);
  await assert.rejects(readAll(got.body), hasCode(ErrorCodes.NETWORK));
});
