/**
 * Tests of the nginx helper against a real nginx: full, single-range and multi-range answers
 * with exact bytes, the access-log byte count, and a clean shutdown. Also pins down the nginx
 * behaviours gosync's HTTP client has to live with (see the last tests).
 *
 * Skipped when nginx is not installed, except under CI=true.
 */

import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { nginxPath, requireNginx, startNginx, type NginxServer } from './nginx.js';

/** One part of a multipart/byteranges body. */
interface Part {
  contentType: string;
  start: number;
  end: number;
  size: number;
  data: Buffer;
}

/**
 * A strict multipart/byteranges parser: each part's length comes from its Content-Range, and
 * the data must be followed by a delimiter. Allows nginx's leading CRLF preamble.
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
    assert.equal(text.slice(pos, pos + 2), '\r\n');
    pos += 2;
    const headEnd = text.indexOf('\r\n\r\n', pos);
    assert.ok(headEnd >= 0, 'part headers not terminated');
    const headers = new Map<string, string>();
    for (const line of text.slice(pos, headEnd).split('\r\n')) {
      const colon = line.indexOf(':');
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const cr = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(headers.get('content-range') ?? '');
    assert.ok(cr, `bad part Content-Range: ${headers.get('content-range')}`);
    const start = Number(cr[1]);
    const end = Number(cr[2]);
    const dataStart = headEnd + 4;
    const dataEnd = dataStart + (end - start + 1);
    parts.push({
      contentType: headers.get('content-type') ?? '',
      start,
      end,
      size: Number(cr[3]),
      data: body.subarray(dataStart, dataEnd),
    });
    assert.equal(text.slice(dataEnd, dataEnd + 2 + delimiter.length), `\r\n${delimiter}`, 'part data not followed by a delimiter');
    pos = dataEnd + 2;
  }
}

/** True when a TCP connection to 127.0.0.1:port is accepted. */
function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('startNginx', () => {
  let folder: string;
  const data = randomBytes(1_000_000);
  let nginx: NginxServer | undefined;
  /** Requests made so far, to wait for their access-log lines. */
  let requests = 0;
  /** Body bytes received so far. */
  let received = 0;

  async function get(path: string, headers: Record<string, string> = {}) {
    assert.ok(nginx);
    const res = await fetch(new URL(path, nginx.url), { headers });
    const body = Buffer.from(await res.arrayBuffer());
    requests++;
    received += body.length;
    return { status: res.status, headers: res.headers, body };
  }

  before(async () => {
    folder = await mkdtemp(join(tmpdir(), 'gosync-nginx-root-'));
    await writeFile(join(folder, 'data.bin'), data);
  });

  after(async () => {
    await nginx?.close();
    await rm(folder, { recursive: true, force: true });
  });

  test('starts on 127.0.0.1 and serves the whole file', async (t) => {
    nginx = await requireNginx(t, folder);
    if (nginx === undefined) return;
    assert.match(nginx.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.equal(nginx.url, `http://127.0.0.1:${nginx.port}/`);
    assert.ok((await stat(nginx.accessLog)).isFile());
    const res = await get('data.bin');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('server') ?? '', /^nginx/);
    assert.equal(res.headers.get('accept-ranges'), 'bytes');
    assert.equal(res.headers.get('content-length'), String(data.length));
    assert.ok(res.body.equals(data));
  });

  test('answers a single range with 206 and the exact bytes', async (t) => {
    if (nginx === undefined) return t.skip('nginx not started');
    const res = await get('data.bin', { Range: 'bytes=1000-70999' });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), `bytes 1000-70999/${data.length}`);
    assert.equal(res.headers.get('content-length'), '70000');
    assert.ok(res.body.equals(data.subarray(1000, 71000)));

    const suffix = await get('data.bin', { Range: 'bytes=-10' });
    assert.equal(suffix.status, 206);
    assert.ok(suffix.body.equals(data.subarray(data.length - 10)));
  });

  test('answers several ranges with multipart/byteranges and the exact bytes', async (t) => {
    if (nginx === undefined) return t.skip('nginx not started');
    const res = await get('data.bin', { Range: 'bytes=0-99,500000-600000,999990-' });
    assert.equal(res.status, 206);
    const type = res.headers.get('content-type') ?? '';
    assert.match(type, /^multipart\/byteranges; boundary=/);
    assert.equal(res.headers.get('content-length'), String(res.body.length));
    const parts = parseMultipart(res.body, type);
    assert.deepEqual(
      parts.map((p) => [p.start, p.end, p.size]),
      [
        [0, 99, data.length],
        [500000, 600000, data.length],
        [999990, 999999, data.length],
      ],
    );
    for (const p of parts) {
      assert.equal(p.contentType, 'application/octet-stream');
      assert.ok(p.data.equals(data.subarray(p.start, p.end + 1)));
    }
  });

  test('bytesSent() equals the body bytes received, framing included', async (t) => {
    if (nginx === undefined) return t.skip('nginx not started');
    assert.equal(await nginx.bytesSent({ requests }), received);
    const entries = await nginx.accessEntries({ requests });
    assert.equal(entries.length, requests, 'the readiness probe is not logged');
    assert.deepEqual(
      entries.map((e) => [e.status, e.range]),
      [
        [200, ''],
        [206, 'bytes=1000-70999'],
        [206, 'bytes=-10'],
        [206, 'bytes=0-99,500000-600000,999990-'],
      ],
    );
    assert.ok(entries.every((e) => e.requestLength > 0));
  });

  // What nginx 1.x does that a client must cope with (and that gosync's own server does differently).
  test('nginx quirks: no coalescing, request order kept, CRLF preamble', async (t) => {
    if (nginx === undefined) return t.skip('nginx not started');
    const res = await get('data.bin', { Range: 'bytes=20-29,0-9,10-19' });
    assert.equal(res.status, 206);
    assert.ok(res.body.subarray(0, 2).equals(Buffer.from('\r\n')), 'nginx starts the body with CRLF');
    const parts = parseMultipart(res.body, res.headers.get('content-type') ?? '');
    assert.deepEqual(
      parts.map((p) => [p.start, p.end]),
      [
        [20, 29],
        [0, 9],
        [10, 19],
      ],
    );
    for (const p of parts) assert.ok(p.data.equals(data.subarray(p.start, p.end + 1)));
  });

  test('nginx quirks: ranges adding up to more than the file answer 200; malformed ranges 416', async (t) => {
    if (nginx === undefined) return t.skip('nginx not started');
    const over = await get('data.bin', { Range: 'bytes=0-600000,500000-' });
    assert.equal(over.status, 200);
    assert.ok(over.body.equals(data));
    const malformed = await get('data.bin', { Range: 'bytes=9-1' });
    assert.equal(malformed.status, 416, 'nginx answers 416 where RFC 9110 says to ignore the header');
    assert.equal(malformed.headers.get('content-range'), `bytes */${data.length}`);
    const many = await get('data.bin', { Range: `bytes=${Array.from({ length: 300 }, (_, i) => `${i * 100}-${i * 100 + 9}`).join(',')}` });
    assert.equal(many.status, 206, 'no max_ranges limit by default');
    assert.equal(parseMultipart(many.body, many.headers.get('content-type') ?? '').length, 300);
    assert.equal(await nginx.bytesSent({ requests }), received);
  });

  test('close() stops nginx and frees the port', async (t) => {
    if (nginx === undefined) return t.skip('nginx not started');
    const { port } = nginx;
    assert.equal(await portOpen(port), true);
    await nginx.close();
    await nginx.close(); // idempotent
    assert.equal(await portOpen(port), false);
    await assert.rejects(stat(nginx.accessLog), { code: 'ENOENT' }, 'the temp dir is removed');
    nginx = undefined;
  });

  test('several servers run side by side, with their own directives', async (t) => {
    if (nginxPath() === undefined) return t.skip('nginx not installed');
    const a = await startNginx(folder, { serverDirectives: 'max_ranges 1;' });
    const b = await startNginx(folder);
    assert.ok(a && b);
    try {
      assert.notEqual(a.port, b.port);
      const limited = await fetch(new URL('data.bin', a.url), { headers: { Range: 'bytes=0-0,2-2' } });
      await limited.arrayBuffer();
      assert.equal(limited.status, 200, 'max_ranges 1 turns a two-range request into 200');
      const normal = await fetch(new URL('data.bin', b.url), { headers: { Range: 'bytes=0-0,2-2' } });
      await normal.arrayBuffer();
      assert.equal(normal.status, 206);
    } finally {
      await Promise.all([a?.close(), b?.close()]);
    }
  });
});

describe('nginxPath', () => {
  test('finds an executable or reports none', () => {
    const path = nginxPath();
    assert.ok(path === undefined || path.endsWith('/nginx'));
  });

  test('startNginx without nginx: undefined outside CI, an error under CI', async () => {
    const savedCi = process.env.CI;
    const missing = { nginx: join(tmpdir(), 'no-such-dir', 'nginx') };
    try {
      delete process.env.CI;
      assert.equal(await startNginx(tmpdir(), missing), undefined);
      process.env.CI = 'false';
      assert.equal(await startNginx(tmpdir(), missing), undefined);
      process.env.CI = 'true';
      await assert.rejects(startNginx(tmpdir(), missing), /required under CI=true/);
    } finally {
      if (savedCi === undefined) delete process.env.CI;
      else process.env.CI = savedCi;
    }
  });
});
