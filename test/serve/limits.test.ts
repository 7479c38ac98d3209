/**
 * Clients that hold connections: a client that asks for a big file and never reads is
 * dropped once nothing has moved for `idleTimeout` (its file released), and connections
 * are bounded per client address and in all (the next one is answered 503 and closed).
 * The review held 20 connections and their files for 330 s. No timing is asserted: the
 * test waits (generously) for what must happen.
 */
import * as assert from 'node:assert/strict';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startStaticServer } from '../../src/serve/static-server.js';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'gosync-serve-limits-'));
  // Far more than the socket buffers of a connection that is not read.
  await writeFile(join(root, 'big.bin'), '');
  await truncate(join(root, 'big.bin'), 256 * 1024 * 1024);
  await writeFile(join(root, 'small.txt'), 'hello\n');
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A raw connection that sends `request` (if any) and reads nothing unless asked. */
function open(port: number, localAddress: string, request?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, localAddress }, () => {
      if (request !== undefined) s.write(request);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Everything the server sends on `s` until it closes (reading it). */
function readAll(s: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    s.setEncoding('latin1');
    s.on('data', (c: string) => {
      text += c;
    });
    s.on('error', () => resolve(text));
    s.on('close', () => resolve(text));
  });
}

/** Polls `check` every 50 ms until it holds, for at most `ms`. */
async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

const GET = (path: string): string => `GET /${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
const GET_CLOSE = (path: string): string => `GET /${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;

test('a client that asks for a big file and never reads is dropped after idleTimeout, its file released', async () => {
  const lines: string[] = [];
  const server = await startStaticServer({ root, idleTimeout: 300, log: (l) => lines.push(l) });
  const sockets: Socket[] = [];
  try {
    for (let i = 0; i < 5; i++) {
      const s = await open(server.port, '127.0.0.1', GET('big.bin'));
      s.pause();
      s.on('error', () => {});
      sockets.push(s);
    }
    // Each response ends (aborted) once the server dropped its connection: its file is closed then.
    const dropped = await waitFor(() => lines.filter((l) => l.includes('/big.bin') && l.endsWith(' aborted')).length === 5, 20_000);
    assert.ok(dropped, `the stalled responses were not dropped: ${JSON.stringify(lines)}`);
    assert.ok(server.stats.bodyBytes < 5 * 256 * 1024 * 1024);
  } finally {
    for (const s of sockets) s.destroy();
    await server.close();
  }
});

test('connections past maxConnectionsPerClient are answered 503 and closed; another client is still served', async () => {
  const server = await startStaticServer({ root, maxConnectionsPerClient: 2 });
  const held: Socket[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const s = await open(server.port, '127.0.0.1', GET('big.bin'));
      s.pause();
      s.on('error', () => {});
      held.push(s);
    }
    const third = await open(server.port, '127.0.0.1');
    const answer = await readAll(third);
    assert.match(answer, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    assert.match(answer, /\r\nConnection: close\r\n/);
    const other = await open(server.port, '127.0.0.2', GET_CLOSE('small.txt'));
    const ok = await readAll(other);
    assert.match(ok, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nhello\n$/);
    // Once one held connection closes, the client may open another.
    held.shift()!.destroy();
    let served = false;
    for (let i = 0; i < 50 && !served; i++) {
      const again = await open(server.port, '127.0.0.1', GET_CLOSE('small.txt'));
      served = /^HTTP\/1\.1 200 OK/.test(await readAll(again));
    }
    assert.ok(served, 'a connection freed is counted no more');
  } finally {
    for (const s of held) s.destroy();
    await server.close();
  }
});

test('connections past maxConnections in all are answered 503', async () => {
  const server = await startStaticServer({ root, maxConnections: 3, maxConnectionsPerClient: 2 });
  const held: Socket[] = [];
  try {
    for (const addr of ['127.0.0.1', '127.0.0.1', '127.0.0.2']) {
      const s = await open(server.port, addr, GET('big.bin'));
      s.pause();
      s.on('error', () => {});
      held.push(s);
    }
    const fourth = await open(server.port, '127.0.0.3');
    assert.match(await readAll(fourth), /^HTTP\/1\.1 503 /);
  } finally {
    for (const s of held) s.destroy();
    await server.close();
  }
});

test('limits must be positive integers', async () => {
  await assert.rejects(startStaticServer({ root, idleTimeout: 0 }), RangeError);
  await assert.rejects(startStaticServer({ root, maxConnections: 1.5 }), RangeError);
  await assert.rejects(startStaticServer({ root, maxConnectionsPerClient: -1 }), RangeError);
});
