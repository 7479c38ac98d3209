/**
 * Connection reuse of HttpSource: requests must ride on keep-alive connections, so each read
 * pays no extra TCP (and TLS) handshakes. The tests count the TCP connections that reach the
 * server through a small counting proxy.
 */

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Agent } from 'undici';
import type { ByteRange } from '../../../src/core/block-source.js';
import { HttpSource, type HttpSourceOptions } from '../../../src/sources/http/http-source.js';
import { startStaticServer, type StaticServer } from '../../../src/serve/static-server.js';
import { multipartBody, startFaultServer, testBytes, type FaultServer, type Reply } from '../../helpers/fault-server.js';

/** A TCP proxy on 127.0.0.1 that counts the connections it accepts. */
interface CountingProxy {
  /** `http://127.0.0.1:port/` + path. */
  url(path: string): string;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections open right now. */
  readonly open: number;
  close(): Promise<void>;
}

async function countingProxy(targetPort: number): Promise<CountingProxy> {
  let connections = 0;
  let open = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    connections++;
    open++;
    client.once('close', () => open--);
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', () => {
      sockets.delete(client);
      drop();
    });
    upstream.on('error', drop).on('close', () => {
      sockets.delete(upstream);
      drop();
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}/${path.replace(/^\//, '')}`,
    get connections() {
      return connections;
    },
    get open() {
      return open;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `count` ranges of `size` bytes, `stride` apart, from `first`. */
function spaced(count: number, size: number, stride: number, first = 0): ByteRange[] {
  return Array.from({ length: count }, (_, i) => ({ start: first + i * stride, end: first + i * stride + size }));
}

function expected(body: Uint8Array, ranges: readonly ByteRange[]): Buffer {
  return Buffer.concat(ranges.map((r) => body.subarray(r.start, r.end)));
}

async function readAll(source: HttpSource, ranges: readonly ByteRange[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of source.read(ranges)) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const fast: HttpSourceOptions = { retryDelayMs: 1, maxRetryDelayMs: 5 };

/** Waits, up to 5 s, until the server has noticed what the client did (a connection it closed). */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await delay(10);
}

describe('HttpSource keeps connections alive (our static server)', () => {
  const data = testBytes(2_000_000, 21);
  let dir: string;
  let server: StaticServer;
  let proxy: CountingProxy;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gosync-keepalive-'));
    await writeFile(join(dir, 'file'), data);
    server = await startStaticServer({ root: dir });
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs `reads` through one source behind a fresh counting proxy; returns the connection count. */
  async function connectionsFor(
    reads: readonly (readonly ByteRange[])[],
    options: HttpSourceOptions,
  ): Promise<{ connections: number; requests: number }> {
    proxy = await countingProxy(server.port);
    const source = new HttpSource(proxy.url('file'), { ...fast, expectedSize: data.length, ...options });
    try {
      for (const ranges of reads) assert.deepEqual(await readAll(source, ranges), expected(data, ranges));
      return { connections: proxy.connections, requests: source.stats.requests };
    } finally {
      await source.close();
      await proxy.close();
    }
  }

  it('multi-range: 40 ranges, 4 per request, over 1 connection use exactly 1 TCP connection', async () => {
    const { connections, requests } = await connectionsFor([spaced(40, 2048, 40_000)], { connections: 1, maxRangesPerRequest: 4 });
    assert.equal(requests, 11, 'the HEAD probe and 10 GETs');
    assert.equal(connections, 1);
  });

  it('multi-range: several reads in a row on one source still use 1 connection', async () => {
    const reads = [spaced(12, 1000, 30_000), spaced(12, 1000, 30_000, 500_000), spaced(12, 1000, 30_000, 1_000_000)];
    const { connections, requests } = await connectionsFor(reads, { connections: 1, maxRangesPerRequest: 4 });
    assert.equal(requests, 10);
    assert.equal(connections, 1);
  });

  it('multi-range over 4 connections uses at most 4', async () => {
    const reads = [spaced(200, 1000, 9_000), spaced(100, 500, 15_000, 100)];
    const { connections, requests } = await connectionsFor(reads, { connections: 4, maxRangesPerRequest: 4 });
    assert.ok(requests >= 76, `${requests} requests`);
    assert.ok(connections >= 1 && connections <= 4, `${connections} connections`);
  });

  it('single-range mode (maxRangesPerRequest 1) reuses its connection', async () => {
    const reads = [spaced(20, 3000, 50_000), spaced(10, 100_000, 150_000, 7)];
    const { connections, requests } = await connectionsFor(reads, { connections: 1, maxRangesPerRequest: 1 });
    assert.equal(requests, 30);
    assert.equal(connections, 1);
  });

  it('single-range mode over 3 connections uses at most 3', async () => {
    const { connections, requests } = await connectionsFor([spaced(60, 5000, 30_000)], { connections: 3, maxRangesPerRequest: 1 });
    assert.equal(requests, 60);
    assert.ok(connections <= 3, `${connections} connections`);
  });

  it('a big range split into maxRequestBytes requests reuses the connections', async () => {
    const { connections, requests } = await connectionsFor([[{ start: 0, end: data.length }]], {
      connections: 2,
      maxRequestBytes: 100_000,
    });
    assert.equal(requests, 20);
    assert.ok(connections <= 2, `${connections} connections`);
  });

  it('a caller-supplied undici Agent keeps its single connection too', async () => {
    proxy = await countingProxy(server.port);
    const agent = new Agent({ connections: 1 });
    const source = new HttpSource(proxy.url('file'), { ...fast, connections: 1, maxRangesPerRequest: 4, dispatcher: agent });
    try {
      for (const ranges of [spaced(40, 2048, 40_000), spaced(8, 100, 1000, 1_500_000)]) {
        assert.deepEqual(await readAll(source, ranges), expected(data, ranges));
      }
      assert.equal(source.stats.requests, 13);
      assert.equal(proxy.connections, 1);
    } finally {
      await source.close();
      await agent.close();
      await proxy.close();
    }
  });

  it('closes its private connections on close()', async () => {
    proxy = await countingProxy(server.port);
    const source = new HttpSource(proxy.url('file'), { ...fast, connections: 2, maxRangesPerRequest: 4 });
    try {
      await readAll(source, spaced(40, 100, 10_000));
      assert.ok(proxy.connections <= 2);
      await source.close();
      for (let i = 0; i < 50 && proxy.open > 0; i++) await delay(10);
      assert.equal(proxy.open, 0);
    } finally {
      await source.close();
      await proxy.close();
    }
  });
});

describe('HttpSource keeps connections alive (answers in pieces, odd shapes)', () => {
  const data = testBytes(300_000, 22);
  const servers: FaultServer[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  /** Reads `reads` with one source through a counting proxy in front of a fault server answering with `reply`. */
  async function run(
    reply: (index: number, method: string) => Reply,
    reads: readonly (readonly ByteRange[])[],
    options: HttpSourceOptions,
    body: Uint8Array = data,
  ): Promise<{ connections: number; server: FaultServer; source: HttpSource }> {
    const server = await startFaultServer({ resource: { body }, reply: (r) => reply(r.index, r.method) });
    servers.push(server);
    const proxy = await countingProxy(Number(new URL(server.origin).port));
    const source = new HttpSource(proxy.url('file'), { ...fast, ...options });
    try {
      for (const ranges of reads) assert.deepEqual(await readAll(source, ranges), expected(body, ranges));
      return { connections: proxy.connections, server, source };
    } finally {
      await source.close();
      await proxy.close();
    }
  }

  it('reads a multipart answer to its closing boundary even when that arrives after the last part', async () => {
    // Bodies written in 50-byte pieces 2 ms apart: the closing boundary comes well after the last part's bytes.
    const reads = [spaced(8, 100, 5000), spaced(8, 100, 5000, 100_000), spaced(8, 100, 5000, 200_000)];
    const { connections, server } = await run(() => ({ trickle: 50 }), reads, { connections: 1, maxRangesPerRequest: 4 });
    assert.equal(server.gets.length, 6);
    assert.ok(server.requests.every((r) => !r.aborted));
    assert.equal(connections, 1);
  });

  it('reads a single-range answer sent in pieces to its end', async () => {
    const reads = [spaced(5, 2000, 10_000), spaced(5, 2000, 10_000, 150_000)];
    const { connections, server } = await run(() => ({ trickle: 500 }), reads, { connections: 1, maxRangesPerRequest: 1 });
    assert.equal(server.gets.length, 10);
    assert.ok(server.requests.every((r) => !r.aborted));
    assert.equal(connections, 1);
  });

  it('reads the small rest of a coalesced answer instead of dropping the connection', async () => {
    const small = testBytes(40_000, 23);
    // Every range is answered with one 206 of the whole (small) file: a few KB follow the last asked byte.
    const reads = [spaced(4, 100, 1000), spaced(4, 100, 1000, 20_000)];
    const { connections, server } = await run(
      (_, method) => (method === 'GET' ? { kind: 'whole-206', trickle: 4096 } : {}),
      reads,
      { connections: 1, maxRangesPerRequest: 2 },
      small,
    );
    assert.equal(server.gets.length, 4);
    assert.ok(server.gets.every((r) => !r.aborted));
    assert.equal(connections, 1);
  });

  it('does not hold up a read for a closing boundary that never comes', async () => {
    const ranges = spaced(4, 100, 5000);
    // Everything up to the final "--\r\n" is sent, then the server goes quiet.
    const stallAfter = multipartBody(data, ranges).length - 4;
    const server = await startFaultServer({ resource: { body: data }, reply: () => ({ stallAfter }) });
    servers.push(server);
    const source = new HttpSource(server.url(), { ...fast, connections: 1, timeoutMs: 1500 });
    try {
      const started = performance.now();
      assert.deepEqual(await readAll(source, ranges), expected(data, ranges));
      assert.ok(performance.now() - started < 1000, `read took ${performance.now() - started} ms`);
    } finally {
      const closing = performance.now();
      await source.close();
      assert.ok(performance.now() - closing < 4000, 'close() waits for the rest at most about timeoutMs');
    }
  });

  it('still drops a big unwanted rest (a 200 with the whole body), and goes on with a new connection', async () => {
    const big = testBytes(3_000_000, 24);
    const reads = [spaced(3, 100, 1000), spaced(3, 100, 1000, 10_000)];
    const { connections, server } = await run(
      (index) => (index === 0 ? { kind: 'full', trickle: 65_536 } : {}),
      reads,
      { connections: 1, maxRangesPerRequest: 1 },
      big,
    );
    await until(() => server.gets[0]?.aborted === true);
    assert.equal(server.gets.length, 2);
    assert.equal(server.gets[0]!.aborted, true, 'the rest of the 3 MB body is not downloaded');
    assert.equal(connections, 2);
  });
});

describe('HttpSource after a server closes a connection', () => {
  const data = testBytes(200_000, 25);

  /** A server answering single ranges that closes each connection after `perConnection` requests (nginx `keepalive_requests`). */
  async function limitedServer(
    perConnection: number,
  ): Promise<{ url: string; connections: () => number; requests: () => number; close: () => Promise<void> }> {
    let connections = 0;
    let requests = 0;
    const server = http.createServer((req, res) => {
      requests++;
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      if (m === null) {
        res.writeHead(200, { 'content-length': data.length, etag: '"x"' });
        res.end(data);
        return;
      }
      const start = Number(m[1]);
      const end = Math.min(Number(m[2]) + 1, data.length);
      res.writeHead(206, { 'content-range': `bytes ${start}-${end - 1}/${data.length}`, 'content-length': end - start, etag: '"x"' });
      res.end(data.subarray(start, end));
    });
    server.maxRequestsPerSocket = perConnection;
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    return {
      url: `http://127.0.0.1:${port}/file`,
      connections: () => connections,
      requests: () => requests,
      close: async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }

  it('goes on reusing its new connections (one per 10 requests for 40 requests)', async () => {
    const server = await limitedServer(10);
    const source = new HttpSource(server.url, { ...fast, connections: 1, maxRangesPerRequest: 1 });
    try {
      const ranges = spaced(40, 1000, 4000);
      assert.deepEqual(await readAll(source, ranges), expected(data, ranges));
    } finally {
      await source.close();
      await server.close();
    }
    assert.equal(server.requests(), 40);
    assert.equal(server.connections(), 4);
  });

  it('with 2 connections, opens about one per 10 requests', async () => {
    const server = await limitedServer(10);
    const source = new HttpSource(server.url, { ...fast, connections: 2, maxRangesPerRequest: 1 });
    try {
      const ranges = spaced(40, 1000, 4000);
      assert.deepEqual(await readAll(source, ranges), expected(data, ranges));
    } finally {
      await source.close();
      await server.close();
    }
    assert.equal(server.requests(), 40);
    assert.ok(server.connections() <= 6, `${server.connections()} connections`);
  });
});
