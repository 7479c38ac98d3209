/**
 * Tests of one response on its own (Exchange over a bare node:http server): pieces are
 * streamed in order and counted, text answers, HEAD, and a file that shrinks under a
 * response cuts the connection instead of sending a short body.
 */

import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, truncate, writeFile } from 'node:fs/promises';
import { createServer, request, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Exchange, READ_CHUNK } from '../../src/serve/exchange.js';

interface Received {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** False when the connection was cut before the whole body arrived. */
  complete: boolean;
}

/** Runs `respond` for one request on a fresh server; returns what the client got and the server's counter. */
async function exchange(respond: (ex: Exchange) => Promise<void>, method = 'GET') {
  const counter = { bodyBytes: 0 };
  let ex: Exchange | undefined;
  let finished: Promise<void> = Promise.resolve();
  const server: Server = createServer((_req, res: ServerResponse) => {
    ex = new Exchange(res, counter);
    const closed = new Promise<void>((resolve) => res.once('close', resolve));
    finished = respond(ex).then(() => closed);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const received = await new Promise<Received>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/', method, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', () => {
          /* the 'close' below reports the cut */
        });
        res.on('close', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete }),
        );
      });
      req.on('error', reject);
      req.end();
    });
    await finished;
    assert.ok(ex);
    return { received, counter, bytes: ex.bytes };
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('Exchange', () => {
  let dir: string;
  let path: string;
  const data = randomBytes(3 * READ_CHUNK + 17);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gosync-exchange-'));
    path = join(dir, 'data.bin');
    await writeFile(path, data);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('sendBody streams literal bytes and file ranges in order, and counts what reached the connection', async () => {
    const file = await open(path, 'r');
    try {
      const a = { start: 10, end: READ_CHUNK + 20 };
      const b = { start: data.length - 5, end: data.length - 1 };
      const expected = Buffer.concat([
        Buffer.from('head'),
        data.subarray(a.start, a.end + 1),
        Buffer.from('mid'),
        data.subarray(b.start, b.end + 1),
      ]);
      const { received, counter, bytes } = await exchange(async (ex) => {
        ex.writeHead(200, { 'Content-Length': expected.length });
        await ex.sendBody(file, [{ bytes: Buffer.from('head') }, { range: a }, { bytes: Buffer.from('mid') }, { range: b }]);
      });
      assert.equal(received.status, 200);
      assert.ok(received.complete);
      assert.deepEqual(received.body, expected);
      assert.equal(bytes, expected.length);
      assert.equal(counter.bodyBytes, expected.length);
    } finally {
      await file.close();
    }
  });

  test('a file that shrank under the response cuts the connection rather than send a short body', async () => {
    const shrinking = join(dir, 'shrinking.bin');
    await writeFile(shrinking, data);
    const file = await open(shrinking, 'r');
    try {
      await truncate(shrinking, READ_CHUNK + 1);
      const { received, bytes } = await exchange(async (ex) => {
        ex.writeHead(200, { 'Content-Length': data.length });
        await ex.sendBody(file, [{ range: { start: 0, end: data.length - 1 } }]);
        assert.ok(ex.gone);
      });
      assert.equal(received.status, 200);
      assert.ok(!received.complete);
      assert.ok(received.body.length <= READ_CHUNK + 1);
      assert.deepEqual(received.body, data.subarray(0, received.body.length));
      assert.ok(bytes <= READ_CHUNK + 1);
    } finally {
      await file.close();
    }
  });

  test('sendText sends a text body ending in a newline, with extra headers; HEAD gets the headers only', async () => {
    const get = await exchange(async (ex) => ex.sendText(412, 'Precondition Failed', { ETag: '"x"' }));
    assert.equal(get.received.status, 412);
    assert.equal(get.received.body.toString(), 'Precondition Failed\n');
    assert.equal(get.received.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(get.received.headers['content-length'], '20');
    assert.equal(get.received.headers.etag, '"x"');
    assert.equal(get.bytes, 20);
    assert.equal(get.counter.bodyBytes, 20);

    const head = await exchange(async (ex) => ex.sendText(404, 'Not Found\n', {}, true), 'HEAD');
    assert.equal(head.received.status, 404);
    assert.equal(head.received.headers['content-length'], '10');
    assert.equal(head.received.body.length, 0);
    assert.equal(head.bytes, 0);
    assert.equal(head.counter.bodyBytes, 0);
  });
});
