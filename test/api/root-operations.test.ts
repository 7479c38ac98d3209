/**
 * The root entry's push, pull, serveSession and startStaticServer load their
 * implementation on first call: called through `gosync`, they do what the
 * implementations do (options passed through, results and rejections returned as is).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { ErrorCodes, pull, push, serveSession, startStaticServer, SyncError, type Transport } from 'gosync';

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'gosync-api-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

test('push and pull from the root entry copy a folder both ways, with their options and reports', async () => {
  await withTemp(async (dir) => {
    const a = join(dir, 'a');
    await mkdir(join(a, 'sub'), { recursive: true });
    await writeFile(join(a, 'sub', 'x.txt'), 'hello\n');
    await writeFile(join(a, 'big.bin'), Buffer.alloc(100_000, 7));
    const dry = await push(a, join(dir, 'b'), { dryRun: true });
    assert.equal(dry.dryRun, true);
    assert.equal(dry.changed, 2);
    await assert.rejects(readFile(join(dir, 'b', 'big.bin')), { code: 'ENOENT' });
    const pushed = await push(a, join(dir, 'b'));
    assert.equal(pushed.files, 2);
    assert.deepEqual([...pushed.changedPaths].sort(), ['big.bin', 'sub/x.txt']);
    assert.equal(await readFile(join(dir, 'b', 'sub', 'x.txt'), 'utf8'), 'hello\n');
    const pulled = await pull(join(dir, 'b'), join(dir, 'c'));
    assert.equal(pulled.changed, 2);
    assert.deepEqual(await readFile(join(dir, 'c', 'big.bin')), Buffer.alloc(100_000, 7));
    await assert.rejects(push('host:x', join(dir, 'd')), TypeError);
  });
});

test('serveSession from the root entry runs the server end: it greets, and a peer that is not gosync is a PROTOCOL error', async () => {
  const output = new PassThrough();
  const written: Buffer[] = [];
  output.on('data', (c: Buffer) => written.push(c));
  const transport: Transport = {
    input: (async function* () {
      yield new TextEncoder().encode('SSH-2.0-OpenSSH_9.6 definitely not a gosync greeting\r\n');
    })(),
    output,
    async close() {},
  };
  await assert.rejects(serveSession(transport, { readOnly: true }), (e: unknown) => SyncError.is(e) && e.code === ErrorCodes.PROTOCOL);
  // The server's greeting (docs/protocol.md): the 8-byte magic "\x89GOSYNC\n" first.
  assert.deepEqual([...Buffer.concat(written).subarray(0, 8)], [0x89, 0x47, 0x4f, 0x53, 0x59, 0x4e, 0x43, 0x0a]);
});

test('startStaticServer from the root entry serves a folder until closed', async () => {
  await withTemp(async (dir) => {
    await writeFile(join(dir, 'f.txt'), 'served\n');
    const server = await startStaticServer({ root: dir });
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      assert.deepEqual(await get(`${server.url}f.txt`), { status: 200, body: 'served\n' });
      assert.equal((await get(`${server.url}missing`)).status, 404);
      assert.equal(server.stats.requests, 2);
    } finally {
      await server.close();
    }
    await assert.rejects(startStaticServer({ root: '' }), TypeError);
  });
});
