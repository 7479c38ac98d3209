/**
 * Tests of the embedded static server: exact bytes and headers for full, HEAD, single,
 * suffix, open, clipped, unsatisfiable and multi-range answers, conditional requests,
 * traversal refusal, keep-alive, client aborts and the byte counters.
 */

import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readlink, realpath, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import {
  accessLogLine,
  MAX_RANGES,
  parseRange,
  reachableHost,
  requestedRanges,
  startStaticServer,
  type StaticServer,
} from '../../src/serve/static-server.js';

/** One part of a multipart/byteranges body. */
interface Part {
  headers: Record<string, string>;
  start: number;
  end: number;
  size: number;
  data: Buffer;
}

/**
 * A strict multipart/byteranges parser: takes each part's length from its Content-Range,
 * so the part data must be exactly that long and be followed by a delimiter.
 * Allows a preamble (nginx sends a leading CRLF) and nothing after the close delimiter but CRLF.
 */
function parseMultipart(body: Buffer, contentType: string): Part[] {
  const m = /^multipart\/byteranges;\s*boundary=("?)([^";]+)\1$/i.exec(contentType);
  assert.ok(m, `not a multipart/byteranges content type: ${contentType}`);
  const delimiter = `--${m[2]}`;
  const text = body.toString('latin1');
  let pos = text.indexOf(delimiter);
  assert.ok(pos >= 0, 'no first delimiter');
  assert.match(text.slice(0, pos), /^(\r\n)?$/, 'unexpected preamble');
  const parts: Part[] = [];
  for (;;) {
    pos += delimiter.length;
    if (text.startsWith('--', pos)) {
      assert.match(text.slice(pos + 2), /^(\r\n)?$/, 'bytes after the close delimiter');
      return parts;
    }
    assert.equal(text.slice(pos, pos + 2), '\r\n', 'delimiter not followed by CRLF');
    pos += 2;
    const headEnd = text.indexOf('\r\n\r\n', pos);
    assert.ok(headEnd >= 0, 'part headers not terminated');
    const headers: Record<string, string> = {};
    for (const line of text.slice(pos, headEnd).split('\r\n')) {
      const colon = line.indexOf(':');
      assert.ok(colon > 0, `bad part header line: ${line}`);
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const cr = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(headers['content-range'] ?? '');
    assert.ok(cr, `bad part Content-Range: ${headers['content-range']}`);
    const start = Number(cr[1]);
    const end = Number(cr[2]);
    const dataStart = headEnd + 4;
    const dataEnd = dataStart + (end - start + 1);
    parts.push({ headers, start, end, size: Number(cr[3]), data: body.subarray(dataStart, dataEnd) });
    assert.equal(text.slice(dataEnd, dataEnd + 2 + delimiter.length), `\r\n${delimiter}`, 'part data not followed by a delimiter');
    pos = dataEnd + 2;
  }
}

/** A raw HTTP/1.1 request (fetch would normalise `..` and percent-escapes away). */
function raw(
  url: string,
  path: string,
  init: { method?: string; headers?: Record<string, string>; agent?: Agent } = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer; reusedSocket: boolean }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, path, method: init.method ?? 'GET', headers: init.headers ?? {}, agent: init.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), reusedSocket: req.reusedSocket }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** GET with fetch; returns status, headers and the whole body. */
async function get(server: StaticServer, path: string, headers: Record<string, string> = {}, method = 'GET') {
  const res = await fetch(new URL(path, server.url), { method, headers });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body };
}

describe('startStaticServer', () => {
  let base: string;
  let root: string;
  let server: StaticServer;
  const data = randomBytes(300_000); // several 64 KiB read chunks
  const big = randomBytes(8 * 1024 * 1024);
  const secret = Buffer.from('top secret outside the root\n');

  before(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'gosync-static-')));
    root = join(base, 'root');
    await mkdir(join(root, 'sub'), { recursive: true });
    await writeFile(join(base, 'secret.txt'), secret);
    await writeFile(join(root, 'data.bin'), data);
    await writeFile(join(root, 'big.bin'), big);
    await writeFile(join(root, 'empty.bin'), '');
    await writeFile(join(root, 'sub', 'inner.txt'), 'inner\n');
    await writeFile(join(root, 'a b%.bin'), 'spaced\n');
    await writeFile(join(root, 'sub', 'back\\slash'), 'x');
    await symlink(join(base, 'secret.txt'), join(root, 'escape'));
    await symlink(base, join(root, 'escape-dir'));
    await symlink('data.bin', join(root, 'inside'));
    server = await startStaticServer({ root });
  });

  after(async () => {
    await server.close();
    await rm(base, { recursive: true, force: true });
  });

  test('listens on 127.0.0.1 on the port it reports', () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.equal(server.url, `http://127.0.0.1:${server.port}/`);
    assert.ok(server.port > 0);
  });

  test('GET sends the whole file with validators, and counts the body bytes', async () => {
    const before = server.stats.bodyBytes;
    const requests = server.stats.requests;
    const res = await get(server, 'data.bin');
    assert.equal(res.status, 200);
    assert.ok(res.body.equals(data));
    assert.equal(res.headers.get('content-length'), String(data.length));
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.equal(res.headers.get('accept-ranges'), 'bytes');
    assert.match(res.headers.get('etag') ?? '', /^"[0-9a-f]+-[0-9a-f]+"$/);
    const st = await stat(join(root, 'data.bin'));
    assert.equal(res.headers.get('last-modified'), new Date(Math.floor(st.mtimeMs / 1000) * 1000).toUTCString());
    assert.equal(server.stats.bodyBytes - before, data.length);
    assert.equal(server.stats.requests - requests, 1);
  });

  test('HEAD sends the GET headers and no body', async () => {
    const before = server.stats.bodyBytes;
    const full = await get(server, 'data.bin');
    const head = await raw(server.url, '/data.bin', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    for (const name of ['content-length', 'content-type', 'etag', 'last-modified', 'accept-ranges']) {
      assert.equal(head.headers[name], full.headers.get(name), name);
    }
    assert.equal(server.stats.bodyBytes - before, data.length, 'HEAD adds no body bytes');
  });

  test('HEAD with Range answers what a GET would, without the body (as nginx does)', async () => {
    const head = await raw(server.url, '/data.bin', { method: 'HEAD', headers: { Range: 'bytes=0-9' } });
    assert.equal(head.status, 206);
    assert.equal(head.headers['content-length'], '10');
    assert.equal(head.headers['content-range'], `bytes 0-9/${data.length}`);
    assert.equal(head.body.length, 0);
    const multi = await raw(server.url, '/data.bin', { method: 'HEAD', headers: { Range: 'bytes=0-9,20-29' } });
    assert.equal(multi.status, 206);
    assert.match(String(multi.headers['content-type']), /^multipart\/byteranges; boundary=/);
    assert.equal(multi.body.length, 0);
  });

  test('a single range answers 206 with the exact bytes', async () => {
    const before = server.stats.bodyBytes;
    const res = await get(server, 'data.bin', { Range: 'bytes=100-199' });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), `bytes 100-199/${data.length}`);
    assert.equal(res.headers.get('content-length'), '100');
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.ok(res.body.equals(data.subarray(100, 200)));
    assert.equal(server.stats.bodyBytes - before, 100);
  });

  test('a range across read-chunk boundaries is exact', async () => {
    const res = await get(server, 'data.bin', { Range: 'bytes=65000-200000' });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-length'), String(200001 - 65000));
    assert.ok(res.body.equals(data.subarray(65000, 200001)));
  });

  test('suffix, open and past-the-end ranges', async () => {
    const size = data.length;
    const cases: Array<[string, number, number]> = [
      ['bytes=-500', size - 500, size - 1],
      ['bytes=1000-', 1000, size - 1],
      [`bytes=${size - 10}-${size + 1000}`, size - 10, size - 1],
      [`bytes=-${size * 3}`, 0, size - 1],
      [`bytes=${size - 1}-${size - 1}`, size - 1, size - 1],
      ['bytes=0-99999999999999999999999', 0, size - 1],
      ['BYTES = 5-6', 5, 6],
    ];
    for (const [range, start, end] of cases) {
      const res = await get(server, 'data.bin', { Range: range });
      assert.equal(res.status, 206, range);
      assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/${size}`, range);
      assert.equal(res.headers.get('content-length'), String(end - start + 1), range);
      assert.ok(res.body.equals(data.subarray(start, end + 1)), range);
    }
  });

  test('unsatisfiable ranges answer 416 with Content-Range: bytes */size', async () => {
    for (const range of [`bytes=${data.length}-`, `bytes=${data.length + 5}-${data.length + 10}`, 'bytes=-0', `bytes=${data.length}-,-0`]) {
      const res = await get(server, 'data.bin', { Range: range });
      assert.equal(res.status, 416, range);
      assert.equal(res.headers.get('content-range'), `bytes */${data.length}`, range);
    }
    const empty = await get(server, 'empty.bin', { Range: 'bytes=0-' });
    assert.equal(empty.status, 416);
    assert.equal(empty.headers.get('content-range'), 'bytes */0');
  });

  test('a suffix range on an empty file answers 200 with no body', async () => {
    const res = await get(server, 'empty.bin', { Range: 'bytes=-10' });
    assert.equal(res.status, 200);
    assert.equal(res.body.length, 0);
    assert.equal(res.headers.get('content-length'), '0');
  });

  test('a malformed or foreign Range header is ignored: 200 with the whole file', async () => {
    for (const range of [
      'bytes=5-1',
      'bytes=abc',
      'bytes=',
      'bytes=-',
      'items=0-1',
      'bytes 0-1',
      'bytes=0-1;2-3',
      'bytes=+1-2',
      'bytes=0x1-2',
    ]) {
      const res = await get(server, 'data.bin', { Range: range });
      assert.equal(res.status, 200, range);
      assert.equal(res.headers.get('content-range'), null, range);
      assert.ok(res.body.equals(data), range);
    }
  });

  test('several ranges answer multipart/byteranges with exact parts and length', async () => {
    const before = server.stats.bodyBytes;
    const size = data.length;
    const res = await get(server, 'data.bin', { Range: `bytes=0-9, 70000-140000,${size - 5}-` });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), null);
    const type = res.headers.get('content-type') ?? '';
    assert.match(type, /^multipart\/byteranges; boundary=gosync-[0-9a-f]{32}$/);
    assert.equal(res.headers.get('content-length'), String(res.body.length));
    const parts = parseMultipart(res.body, type);
    assert.deepEqual(
      parts.map((p) => [p.start, p.end, p.size]),
      [
        [0, 9, size],
        [70000, 140000, size],
        [size - 5, size - 1, size],
      ],
    );
    for (const p of parts) {
      assert.equal(p.headers['content-type'], 'application/octet-stream');
      assert.ok(p.data.equals(data.subarray(p.start, p.end + 1)));
    }
    assert.ok(res.body.toString('latin1').startsWith('--gosync-'), 'no preamble');
    assert.equal(server.stats.bodyBytes - before, res.body.length, 'multipart framing is counted');
  });

  test('each multipart answer has its own random boundary', async () => {
    const a = await get(server, 'data.bin', { Range: 'bytes=0-0,2-2' });
    const b = await get(server, 'data.bin', { Range: 'bytes=0-0,2-2' });
    assert.notEqual(a.headers.get('content-type'), b.headers.get('content-type'));
  });

  test('ascending disjoint ranges are sent as asked, adjacent ones not merged', async () => {
    const res = await get(server, 'data.bin', { Range: 'bytes=0-9,10-19,20-29' });
    assert.equal(res.status, 206);
    const parts = parseMultipart(res.body, res.headers.get('content-type') ?? '');
    assert.deepEqual(
      parts.map((p) => [p.start, p.end]),
      [
        [0, 9],
        [10, 19],
        [20, 29],
      ],
    );
    for (const p of parts) assert.ok(p.data.equals(data.subarray(p.start, p.end + 1)));
  });

  test('overlapping or unordered ranges are sorted and coalesced', async () => {
    const merged = await get(server, 'data.bin', { Range: 'bytes=0-99,50-149' });
    assert.equal(merged.status, 206);
    assert.equal(merged.headers.get('content-range'), `bytes 0-149/${data.length}`);
    assert.ok(merged.body.equals(data.subarray(0, 150)));

    const sorted = await get(server, 'data.bin', { Range: 'bytes=200-209,0-9,5-12,13-13' });
    assert.equal(sorted.status, 206);
    const parts = parseMultipart(sorted.body, sorted.headers.get('content-type') ?? '');
    assert.deepEqual(
      parts.map((p) => [p.start, p.end]),
      [
        [0, 13],
        [200, 209],
      ],
    );
    for (const p of parts) assert.ok(p.data.equals(data.subarray(p.start, p.end + 1)));

    // The same bytes asked many times cost no more than once.
    const repeated = await get(server, 'data.bin', {
      Range: Array.from({ length: 50 }, () => '0-')
        .join(',')
        .replace(/^/, 'bytes='),
    });
    assert.equal(repeated.status, 206);
    assert.equal(repeated.body.length, data.length);
  });

  test('unsatisfiable ranges in a list are dropped; one left answers a plain 206', async () => {
    const res = await get(server, 'data.bin', { Range: `bytes=${data.length}-,3-5` });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.equal(res.headers.get('content-range'), `bytes 3-5/${data.length}`);
    assert.ok(res.body.equals(data.subarray(3, 6)));
  });

  test(`up to ${MAX_RANGES} ranges are served; more are ignored (200)`, async () => {
    const specs = (n: number): string => `bytes=${Array.from({ length: n }, (_, i) => `${i * 10}-${i * 10 + 2}`).join(',')}`;
    const at = await get(server, 'data.bin', { Range: specs(MAX_RANGES) });
    assert.equal(at.status, 206);
    const parts = parseMultipart(at.body, at.headers.get('content-type') ?? '');
    assert.equal(parts.length, MAX_RANGES);
    for (const p of parts) assert.ok(p.data.equals(data.subarray(p.start, p.end + 1)));
    const over = await get(server, 'data.bin', { Range: specs(MAX_RANGES + 1) });
    assert.equal(over.status, 200);
    assert.ok(over.body.equals(data));
  });

  test('If-Range: a matching ETag or date applies the range, anything else sends 200 full', async () => {
    const head = await raw(server.url, '/data.bin', { method: 'HEAD' });
    const etag = String(head.headers.etag);
    const lastModified = String(head.headers['last-modified']);
    const cases: Array<[string, number]> = [
      [etag, 206],
      [lastModified, 206],
      [`W/${etag}`, 200],
      ['"something-else"', 200],
      [new Date(Date.parse(lastModified) - 1000).toUTCString(), 200],
      ['not a date', 200],
    ];
    for (const [ifRange, status] of cases) {
      const res = await get(server, 'data.bin', { Range: 'bytes=10-19', 'If-Range': ifRange });
      assert.equal(res.status, status, ifRange);
      assert.ok(res.body.equals(status === 206 ? data.subarray(10, 20) : data), ifRange);
    }
  });

  test('If-None-Match and If-Modified-Since answer 304 without a body', async () => {
    const head = await raw(server.url, '/data.bin', { method: 'HEAD' });
    const etag = String(head.headers.etag);
    const lastModified = String(head.headers['last-modified']);
    const cases: Array<[Record<string, string>, number]> = [
      [{ 'If-None-Match': etag }, 304],
      [{ 'If-None-Match': `"x", W/${etag}` }, 304],
      [{ 'If-None-Match': '*' }, 304],
      [{ 'If-None-Match': '"x"' }, 200],
      [{ 'If-Modified-Since': lastModified }, 304],
      [{ 'If-Modified-Since': new Date(Date.parse(lastModified) + 60_000).toUTCString() }, 304],
      [{ 'If-Modified-Since': new Date(Date.parse(lastModified) - 1000).toUTCString() }, 200],
      [{ 'If-Modified-Since': 'garbage' }, 200],
      // If-None-Match wins over If-Modified-Since.
      [{ 'If-None-Match': '"x"', 'If-Modified-Since': lastModified }, 200],
    ];
    for (const [headers, status] of cases) {
      const res = await raw(server.url, '/data.bin', { headers });
      assert.equal(res.status, status, JSON.stringify(headers));
      if (status === 304) {
        assert.equal(res.body.length, 0);
        assert.equal(res.headers.etag, etag);
      } else {
        assert.ok(res.body.equals(data));
      }
    }
  });

  test('If-Match / If-Unmodified-Since failures answer 412', async () => {
    const head = await raw(server.url, '/data.bin', { method: 'HEAD' });
    const etag = String(head.headers.etag);
    const lastModified = String(head.headers['last-modified']);
    assert.equal((await raw(server.url, '/data.bin', { headers: { 'If-Match': '"other"' } })).status, 412);
    assert.equal((await raw(server.url, '/data.bin', { headers: { 'If-Match': `W/${etag}` } })).status, 412);
    assert.equal((await raw(server.url, '/data.bin', { headers: { 'If-Match': etag } })).status, 200);
    const old = new Date(Date.parse(lastModified) - 1000).toUTCString();
    assert.equal((await raw(server.url, '/data.bin', { headers: { 'If-Unmodified-Since': old } })).status, 412);
    assert.equal((await raw(server.url, '/data.bin', { headers: { 'If-Unmodified-Since': lastModified } })).status, 200);
  });

  test('the ETag is stable, and changes when the file does', async () => {
    const a = await raw(server.url, '/data.bin', { method: 'HEAD' });
    const b = await raw(server.url, '/data.bin', { method: 'HEAD' });
    assert.equal(a.headers.etag, b.headers.etag);
    assert.equal(a.headers['last-modified'], b.headers['last-modified']);
    const other = await raw(server.url, '/big.bin', { method: 'HEAD' });
    assert.notEqual(other.headers.etag, a.headers.etag);

    const path = join(root, 'changing.bin');
    await writeFile(path, 'version one');
    const t0 = new Date('2024-01-01T00:00:00Z');
    await utimes(path, t0, t0);
    const v1 = await raw(server.url, '/changing.bin', { method: 'HEAD' });
    assert.equal(v1.headers['last-modified'], t0.toUTCString());
    await writeFile(path, 'version two'); // same size
    await utimes(path, t0, new Date('2024-01-01T00:00:01Z'));
    const v2 = await raw(server.url, '/changing.bin', { method: 'HEAD' });
    assert.notEqual(v2.headers.etag, v1.headers.etag);
    // A Range guarded by the old ETag now gets the new whole file.
    const guarded = await get(server, 'changing.bin', { Range: 'bytes=0-2', 'If-Range': String(v1.headers.etag) });
    assert.equal(guarded.status, 200);
    assert.equal(guarded.body.toString(), 'version two');
  });

  test('traversal attempts are refused and never leak the outside file', async () => {
    const cases: Array<[string, number]> = [
      ['/../secret.txt', 403],
      ['/sub/../../secret.txt', 403],
      ['/%2e%2e/secret.txt', 403],
      ['/%2E%2E/secret.txt', 403],
      ['/sub/%2e%2e/%2e%2e/secret.txt', 403],
      ['/..%2fsecret.txt', 403],
      ['/%2e%2e%2fsecret.txt', 403],
      ['/sub%2f..%2f..%2fsecret.txt', 403],
      ['/..%5csecret.txt', 403],
      ['/data.bin%00', 403],
      ['/data.bin%00.txt', 403],
      ['/escape', 404],
      ['/escape-dir/secret.txt', 404],
      [`/${join(base, 'secret.txt')}`, 404], // an absolute path maps under the root
      [`//${join(base, 'secret.txt')}`, 404],
      ['/%zz', 400],
      ['/sub', 404],
      ['/sub/', 404],
      ['/', 404],
      ['/missing.bin', 404],
      ['/data.bin/x', 404],
    ];
    for (const [path, status] of cases) {
      const res = await raw(server.url, path);
      assert.equal(res.status, status, path);
      assert.ok(!res.body.includes(secret), path);
    }
    // Absolute-form request targets go through the same checks.
    assert.equal((await raw(server.url, `${server.url}../secret.txt`)).status, 403);
    assert.equal((await raw(server.url, `${server.url}sub/inner.txt`)).status, 200);
  });

  test('percent-encoding is decoded; symlinks inside the root are followed; queries ignored', async () => {
    const spaced = await raw(server.url, '/a%20b%25.bin');
    assert.equal(spaced.status, 200);
    assert.equal(spaced.body.toString(), 'spaced\n');
    const inner = await raw(server.url, '/sub/./inner.txt?x=1#frag');
    assert.equal(inner.status, 200);
    assert.equal(inner.body.toString(), 'inner\n');
    const encoded = await raw(server.url, '/%64ata.bin');
    assert.equal(encoded.status, 200);
    assert.ok(encoded.body.equals(data));
    const linked = await get(server, 'inside', { Range: 'bytes=0-3' });
    assert.equal(linked.status, 206);
    assert.ok(linked.body.equals(data.subarray(0, 4)));
  });

  test('methods other than GET and HEAD answer 405', async () => {
    const res = await raw(server.url, '/data.bin', { method: 'POST' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, 'GET, HEAD');
  });

  test('keep-alive: one connection carries many requests', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const reused: boolean[] = [];
      for (const range of ['bytes=0-9', 'bytes=0-9,20-29', 'bytes=-1', `bytes=${data.length}-`]) {
        const res = await raw(server.url, '/data.bin', { headers: { Range: range }, agent });
        reused.push(res.reusedSocket);
      }
      await raw(server.url, '/missing', { agent });
      reused.push(true);
      assert.deepEqual(reused, [false, true, true, true, true]);
    } finally {
      agent.destroy();
    }
  });

  test('keep-alive: HEAD answers, with or without Range and errors included, keep the connection', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const connections = new Set<unknown>();
    const onConnection = (socket: unknown): void => void connections.add(socket);
    // Count the server's connections through the sockets the agent hands out.
    agent.on('free', onConnection);
    try {
      const answers: [number, boolean][] = [];
      const asks: [string, Record<string, string>][] = [
        ['/data.bin', {}],
        ['/data.bin', { Range: 'bytes=0-9' }],
        ['/data.bin', { Range: 'bytes=0-9,20-29,100-199' }],
        ['/data.bin', { Range: 'bytes=0-9,5-29' }],
        ['/data.bin', { Range: `bytes=${data.length}-` }],
        ['/data.bin', { 'If-None-Match': '*' }],
        ['/data.bin', { 'If-Match': '"other"' }],
        ['/empty.bin', { Range: 'bytes=-5' }],
        ['/missing', {}],
        ['/%2e%2e/secret.txt', {}],
        ['/sub', {}],
      ];
      for (const [path, headers] of asks) {
        const res = await raw(server.url, path, { method: 'HEAD', headers, agent });
        assert.notEqual(res.headers.connection, 'close', path);
        assert.equal(res.body.length, 0);
        answers.push([res.status, res.reusedSocket]);
      }
      // A GET after the HEADs still rides on the same connection.
      const get = await raw(server.url, '/data.bin', { headers: { Range: 'bytes=0-9,20-29' }, agent });
      answers.push([get.status, get.reusedSocket]);
      assert.deepEqual(answers, [
        [200, false],
        [206, true],
        [206, true],
        [206, true],
        [416, true],
        [304, true],
        [412, true],
        [200, true],
        [404, true],
        [403, true],
        [404, true],
        [206, true],
      ]);
      assert.equal(connections.size, 1);
    } finally {
      agent.off('free', onConnection);
      agent.destroy();
    }
  });

  test('an aborted download neither crashes the server nor leaks the descriptor', async () => {
    const received = await new Promise<number>((resolve, reject) => {
      const u = new URL(server.url);
      const req = request({ host: u.hostname, port: u.port, path: '/big.bin', agent: false }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => {
          n += c.length;
          if (n > 100_000) {
            req.destroy();
            resolve(n);
          }
        });
      });
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
      req.end();
    });
    assert.ok(received < big.length);
    // The server keeps serving.
    const res = await get(server, 'data.bin', { Range: 'bytes=0-0' });
    assert.equal(res.status, 206);
    // Within a moment no descriptor of this process points at big.bin any more.
    const bigPath = join(root, 'big.bin');
    let open = await openDescriptorsOf(bigPath);
    for (let i = 0; i < 100 && open > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      open = await openDescriptorsOf(bigPath);
    }
    if (open !== -1) assert.equal(open, 0, 'file descriptor of big.bin still open');
  });

  test('dot-files answer 404 unless asked for; every refusal that depends on the disk answers the same', async () => {
    await writeFile(join(root, '.env'), 'TOKEN=secret\n');
    await mkdir(join(root, '.git'), { recursive: true });
    await writeFile(join(root, '.git', 'config'), '[core]\n');
    await symlink(join(base, 'no-such-file'), join(root, 'escape-missing'));
    try {
      const missing = await raw(server.url, '/missing.bin');
      for (const path of ['/.env', '/.git/config', '/escape', '/escape-missing']) {
        const res = await raw(server.url, path);
        assert.equal(res.status, 404, path);
        assert.deepEqual(res.body, missing.body, `${path}: the same answer as a missing file`);
      }
      const own = await startStaticServer({ root, dotfiles: true });
      try {
        assert.equal((await get(own, '.env')).body.toString(), 'TOKEN=secret\n');
        assert.equal((await get(own, '.git/config')).status, 200);
        assert.equal((await raw(own.url, '/escape')).status, 404, 'dot-files on, escapes still refused');
      } finally {
        await own.close();
      }
    } finally {
      await rm(join(root, '.env'));
      await rm(join(root, '.git'), { recursive: true });
      await rm(join(root, 'escape-missing'));
    }
  });

  test('the ETag is made of the size and the mtime only (no inode number)', async () => {
    const st = await stat(join(root, 'data.bin'), { bigint: true });
    const res = await raw(server.url, '/data.bin', { method: 'HEAD' });
    assert.equal(res.headers.etag, `"${st.size.toString(16)}-${st.mtimeNs.toString(16)}"`);
  });

  test('closing the server waits for in-flight responses and frees the port', async () => {
    const lines: string[] = [];
    const own = await startStaticServer({ root, log: (l) => lines.push(l) });
    const res = await get(own, 'sub/inner.txt', { Range: 'bytes=0-1' });
    assert.equal(res.body.toString(), 'in');
    await own.close();
    await own.close(); // idempotent
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^127\.0\.0\.1 "GET \/sub\/inner\.txt" 206 2 "bytes=0-1"$/);
    await assert.rejects(fetch(own.url));
  });

  test('an AbortSignal closes the server', async () => {
    const controller = new AbortController();
    const own = await startStaticServer({ root, signal: controller.signal });
    assert.equal((await get(own, 'sub/inner.txt')).status, 200);
    controller.abort();
    await own.close();
    await assert.rejects(fetch(own.url));
  });

  test('a busy port is an IO SyncError', async () => {
    await assert.rejects(
      startStaticServer({ root, port: server.port }),
      (err: unknown) =>
        SyncError.is(err) &&
        err.code === ErrorCodes.IO &&
        err.message === `Cannot listen on 127.0.0.1:${server.port}: the address is in use`,
    );
  });

  test('IPv6 loopback gets a bracketed URL', async (t) => {
    let own: StaticServer;
    try {
      own = await startStaticServer({ root, host: '::1' });
    } catch {
      return t.skip('no IPv6 loopback');
    }
    try {
      assert.equal(own.url, `http://[::1]:${own.port}/`);
      const res = await get(own, 'sub/inner.txt');
      assert.equal(res.body.toString(), 'inner\n');
    } finally {
      await own.close();
    }
  });

  test('rejects bad options before listening', async () => {
    await assert.rejects(startStaticServer({ root: '' }), TypeError);
    await assert.rejects(startStaticServer({ root, port: 70000 }), RangeError);
    await assert.rejects(startStaticServer({ root: join(base, 'nope') }), {
      code: ErrorCodes.IO,
      message: `Cannot serve ${join(base, 'nope')}: no such directory`,
    });
    await assert.rejects(
      startStaticServer({ root: join(root, 'data.bin') }),
      (err: unknown) => SyncError.is(err) && err.code === ErrorCodes.IO && /not a directory$/.test(err.message),
    );
  });
});

describe('parseRange', () => {
  test('follows RFC 9110 for the edge cases', () => {
    assert.deepEqual(parseRange('bytes=0-0', 1), { kind: 'ranges', ranges: [{ start: 0, end: 0 }] });
    assert.deepEqual(parseRange('bytes=-1', 1), { kind: 'ranges', ranges: [{ start: 0, end: 0 }] });
    assert.deepEqual(parseRange('bytes=0-', 0), { kind: 'unsatisfiable' });
    assert.deepEqual(parseRange('bytes=-5', 0), { kind: 'ignore' });
    assert.deepEqual(parseRange('bytes=1-0', 10), { kind: 'ignore' });
    assert.deepEqual(parseRange('bytes=0-1,,  ,3-4', 10), {
      kind: 'ranges',
      ranges: [
        { start: 0, end: 1 },
        { start: 3, end: 4 },
      ],
    });
    assert.deepEqual(parseRange('bytes=0-1,2-3', 10, 1), { kind: 'ignore' });
    assert.deepEqual(parseRange('bytes=4-5,0-1,1-2', 10), {
      kind: 'ranges',
      ranges: [
        { start: 0, end: 2 },
        { start: 4, end: 5 },
      ],
    });
  });
});

describe('requestedRanges', () => {
  const v = { etag: '"e"', mtimeSeconds: 1_000_000 };

  test('no Range header sends the whole file, whatever If-Range says', () => {
    assert.deepEqual(requestedRanges({}, v, 10), { kind: 'ignore' });
    assert.deepEqual(requestedRanges({ 'if-range': '"e"' }, v, 10), { kind: 'ignore' });
  });

  test('the Range applies when If-Range is absent or matches, and is dropped when it does not', () => {
    const two = { kind: 'ranges', ranges: [{ start: 2, end: 3 }] };
    assert.deepEqual(requestedRanges({ range: 'bytes=2-3' }, v, 10), two);
    assert.deepEqual(requestedRanges({ range: 'bytes=2-3', 'if-range': '"e"' }, v, 10), two);
    assert.deepEqual(requestedRanges({ range: 'bytes=2-3', 'if-range': new Date(v.mtimeSeconds * 1000).toUTCString() }, v, 10), two);
    assert.deepEqual(requestedRanges({ range: 'bytes=2-3', 'if-range': '"old"' }, v, 10), { kind: 'ignore' });
    assert.deepEqual(requestedRanges({ range: 'bytes=20-', 'if-range': '"old"' }, v, 10), { kind: 'ignore' });
    assert.deepEqual(requestedRanges({ range: 'bytes=20-' }, v, 10), { kind: 'unsatisfiable' });
  });
});

describe('reachableHost and accessLogLine', () => {
  test('a wildcard address is reached through loopback, IPv6 in brackets', () => {
    assert.equal(reachableHost('0.0.0.0'), '127.0.0.1');
    assert.equal(reachableHost('::'), '[::1]');
    assert.equal(reachableHost('::1'), '[::1]');
    assert.equal(reachableHost('fe80::1'), '[fe80::1]');
    assert.equal(reachableHost('192.0.2.7'), '192.0.2.7');
  });

  test('a log line names the client, request, status, body bytes and Range, and marks a cut response', () => {
    assert.equal(accessLogLine('::1', 'GET', '/a', 206, 2, 'bytes=0-1', true), '::1 "GET /a" 206 2 "bytes=0-1"');
    assert.equal(accessLogLine('127.0.0.1', 'HEAD', '/b', 200, 0, '', false), '127.0.0.1 "HEAD /b" 200 0 ""' + ' aborted');
  });
});

/** How many descriptors of this process point at `path` (-1 when /proc is unavailable). */
async function openDescriptorsOf(path: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir('/proc/self/fd');
  } catch {
    return -1;
  }
  let n = 0;
  for (const name of names) {
    try {
      if ((await readlink(`/proc/self/fd/${name}`)) === path) n++;
    } catch {
      /* closed meanwhile */
    }
  }
  return n;
}
