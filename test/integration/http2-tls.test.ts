/**
 * HTTPS with nginx and a self-signed certificate trusted through the client's CA option
 * (`--cacert`, createHttpDispatcher's `ca`): a patch over HTTP/2 when nginx offers it (the
 * protocol read from nginx's access log), over HTTP/1.1 when it does not or when the client
 * does not offer it, and through a proxy's CONNECT tunnel. The output is the exact file.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadIndex, resolveReference } from '../../src/file/load-index.js';
import { patchFile } from '../../src/file/patch-file.js';
import { HTTP2_DEFAULT, createHttpDispatcher } from '../../src/sources/http/dispatcher.js';
import { HttpSource } from '../../src/sources/http/http-source.js';
import { type CliResult, runCli } from '../helpers/cli.js';
import { concat, randomBytes } from '../helpers/data.js';
import { type TlsNginx, startTlsNginx } from './http2-nginx.js';
import { type ForwardProxy, startForwardProxy } from './proxy-forward.js';

const oldData = randomBytes(3_000_000, 400);
const newData = concat(
  oldData.subarray(0, 700_000),
  randomBytes(20_000, 401),
  oldData.subarray(700_000, 2_000_000),
  randomBytes(4000, 402),
  oldData.subarray(2_100_000),
);

let dir: string;
let root: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gosync-h2-'));
  root = join(dir, 'www');
  await mkdir(root);
  await writeFile(join(root, 'app.bin'), newData);
  const built = await runCli(['build', '--json', join(root, 'app.bin')]);
  assert.equal(built.code, 0, built.stderr);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `gosync ...args` with `env` as the only proxy variables. */
function runWithEnv(args: string[], env: Record<string, string>): Promise<CliResult> {
  return runCli(args, { proxyEnv: env });
}

async function freshLocal(name: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, oldData);
  return path;
}

async function assertPatched(local: string): Promise<void> {
  assert.deepEqual(await readFile(local), Buffer.from(newData));
  assert.deepEqual(
    (await readdir(dir)).filter((f) => f.includes('gosync-tmp')),
    [],
  );
}

/** The protocols of the requests nginx logged since `from` (waiting for the lines of a finished patch). */
async function protocolsSince(nginx: TlsNginx, from: number): Promise<string[]> {
  let entries = await nginx.entries();
  for (let i = 0; i < 100 && entries.length <= from; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    entries = await nginx.entries();
  }
  return entries.slice(from).map((e) => e.protocol);
}

/** A patch through the library, as `gosync patch` does it, with the given dispatcher options. */
async function libraryPatch(nginx: TlsNginx, local: string, http2: boolean): Promise<void> {
  const dispatcher = createHttpDispatcher({ ca: nginx.cert, http2 });
  try {
    const loaded = await loadIndex(`${nginx.url}app.bin.gosync`, { dispatcher });
    const source = new HttpSource(resolveReference(loaded), { dispatcher, expectedSize: loaded.index.fileSize });
    try {
      const report = await patchFile({ local, index: loaded.index, source, seeds: [] });
      assert.ok(report.fetchedBytes > 0 && report.fetchedBytes < 200_000, `fetched ${report.fetchedBytes}`);
    } finally {
      await source.close();
    }
  } finally {
    await dispatcher.close();
  }
}

describe('nginx over TLS with HTTP/2 on', () => {
  let nginx: TlsNginx | undefined;
  before(async () => {
    nginx = await startTlsNginx(root, { http2: true });
  });
  after(async () => nginx?.close());

  test('createHttpDispatcher({ ca, http2: true }): the patch goes over HTTP/2 and gives the exact file', async (t) => {
    if (!nginx) return t.skip('nginx or openssl not installed');
    const from = (await nginx.entries()).length;
    const local = await freshLocal('h2-library');
    await libraryPatch(nginx, local, true);
    await assertPatched(local);
    const protocols = await protocolsSince(nginx, from);
    assert.ok(protocols.length >= 2, `${protocols.length} requests`);
    assert.deepEqual(new Set(protocols), new Set(['HTTP/2.0']));
  });

  test('createHttpDispatcher({ ca, http2: false }): the same server is spoken to in HTTP/1.1', async (t) => {
    if (!nginx) return t.skip('nginx or openssl not installed');
    const from = (await nginx.entries()).length;
    const local = await freshLocal('h1-library');
    await libraryPatch(nginx, local, false);
    await assertPatched(local);
    assert.deepEqual(new Set(await protocolsSince(nginx, from)), new Set(['HTTP/1.1']));
  });

  test(`gosync patch --cacert: exact file, over ${HTTP2_DEFAULT ? 'HTTP/2 (the default for https)' : 'HTTP/1.1 (the default)'}`, async (t) => {
    if (!nginx) return t.skip('nginx or openssl not installed');
    const from = (await nginx.entries()).length;
    const local = await freshLocal('h2-cli');
    const r = await runWithEnv(['patch', '--json', '--cacert', nginx.certPath, local, `${nginx.url}app.bin.gosync`], {});
    assert.equal(r.code, 0, r.stderr);
    await assertPatched(local);
    assert.deepEqual(new Set(await protocolsSince(nginx, from)), new Set([HTTP2_DEFAULT ? 'HTTP/2.0' : 'HTTP/1.1']));
  });

  test('gosync patch with the certificate in NODE_EXTRA_CA_CERTS: the ranges of the reference use the default protocol', async (t) => {
    if (!nginx) return t.skip('nginx or openssl not installed');
    const from = (await nginx.entries()).length;
    const local = await freshLocal('h2-extra-ca');
    const r = await runWithEnv(['patch', '-q', local, `${nginx.url}app.bin.gosync`], { NODE_EXTRA_CA_CERTS: nginx.certPath });
    assert.equal(r.code, 0, r.stderr);
    await assertPatched(local);
    await protocolsSince(nginx, from);
    // The index (and its summary) come through undici's global dispatcher, HTTP/1.1.
    const ranges = (await nginx.entries()).slice(from).filter((e) => e.path === '/app.bin' && e.status === 206);
    assert.ok(ranges.length >= 1);
    assert.deepEqual(new Set(ranges.map((e) => e.protocol)), new Set([HTTP2_DEFAULT ? 'HTTP/2.0' : 'HTTP/1.1']));
  });

  test('without the certificate trusted, the patch fails cleanly and leaves the file as it was', async (t) => {
    if (!nginx) return t.skip('nginx or openssl not installed');
    const local = await freshLocal('untrusted');
    const r = await runWithEnv(['patch', '-q', local, `${nginx.url}app.bin.gosync`], {});
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /certificate/i);
    assert.deepEqual(await readFile(local), Buffer.from(oldData));
  });

  test('through HTTPS_PROXY: a CONNECT tunnel to nginx, TLS and the protocol negotiated inside it', async (t) => {
    if (!nginx) return t.skip('nginx or openssl not installed');
    const proxy: ForwardProxy = await startForwardProxy();
    try {
      const from = (await nginx.entries()).length;
      const local = await freshLocal('h2-proxy');
      const r = await runWithEnv(['patch', '-q', '--cacert', nginx.certPath, local, `${nginx.url}app.bin.gosync`], {
        HTTPS_PROXY: proxy.url,
      });
      assert.equal(r.code, 0, r.stderr);
      await assertPatched(local);
      assert.ok(proxy.tunnels.length >= 1 && proxy.tunnels.every((target) => target === `127.0.0.1:${nginx!.port}`), String(proxy.tunnels));
      assert.deepEqual(proxy.forwarded, []);
      assert.deepEqual(new Set(await protocolsSince(nginx, from)), new Set([HTTP2_DEFAULT ? 'HTTP/2.0' : 'HTTP/1.1']));
    } finally {
      await proxy.close();
    }
  });
});

/**
 * A TCP relay to `port` that counts the connections made through it (TLS passes as bytes);
 * with `cut`, the first `cut.connections` connections are reset once `cut.bytes` bytes came down.
 */
async function countingRelay(
  port: number,
  cut?: { connections: number; bytes: number },
): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    connections++;
    const upstream = connect({ host: '127.0.0.1', port });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
    if (cut !== undefined && connections <= cut.connections) {
      let down = 0;
      upstream.on('data', (chunk: Buffer) => {
        down += chunk.length;
        if (down > cut.bytes) client.resetAndDestroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    connections: () => connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('HTTP/2 multiplexing', () => {
  let nginx: TlsNginx | undefined;
  before(async () => {
    nginx = await startTlsNginx(root, { http2: true });
  });
  after(async () => nginx?.close());

  test('64 single-range requests in flight share one HTTP/2 connection', async (t) => {
    if (!nginx) return t.skip('nginx or openssl not installed');
    const relay = await countingRelay(nginx.port);
    const dispatcher = createHttpDispatcher({ ca: nginx.cert, http2: true, connections: 64 });
    const source = new HttpSource(`https://127.0.0.1:${relay.port}/app.bin`, { dispatcher, maxRangesPerRequest: 1, connections: 64 });
    try {
      const collect = async (ranges: { start: number; end: number }[]): Promise<Buffer> => {
        const parts: Uint8Array[] = [];
        for await (const chunk of source.read(ranges)) parts.push(chunk);
        return Buffer.concat(parts);
      };
      // One request first: the connection and its protocol are known before the burst.
      assert.deepEqual(await collect([{ start: 0, end: 1000 }]), Buffer.from(newData.subarray(0, 1000)));
      const ranges = Array.from({ length: 64 }, (_, i) => ({ start: i * 40_000, end: i * 40_000 + 5000 }));
      const expected = Buffer.concat(ranges.map((r) => newData.subarray(r.start, r.end)));
      assert.deepEqual(await collect(ranges), expected);
      assert.equal(relay.connections(), 1);
    } finally {
      await source.close();
      await dispatcher.close();
      await relay.close();
    }
  });
});

describe('HTTP/2 connection cut', () => {
  let nginx: TlsNginx | undefined;
  before(async () => {
    nginx = await startTlsNginx(root, { http2: true });
  });
  after(async () => nginx?.close());

  test('the streams of a connection reset mid-transfer are fetched again on a new one', async (t) => {
    if (!nginx) return t.skip('nginx or openssl not installed');
    // The first two connections are reset after 100 kB, each with many streams in flight.
    const relay = await countingRelay(nginx.port, { connections: 2, bytes: 100_000 });
    const dispatcher = createHttpDispatcher({ ca: nginx.cert, http2: true, timeoutMs: 2000 });
    const source = new HttpSource(`https://127.0.0.1:${relay.port}/app.bin`, {
      dispatcher,
      timeoutMs: 2000,
      maxRangesPerRequest: 1,
      connections: 32,
      retryDelayMs: 1,
      maxRetryDelayMs: 10,
    });
    try {
      const ranges = Array.from({ length: 64 }, (_, i) => ({ start: i * 45_000, end: i * 45_000 + 8000 }));
      const parts: Uint8Array[] = [];
      for await (const chunk of source.read(ranges)) parts.push(chunk);
      assert.deepEqual(Buffer.concat(parts), Buffer.concat(ranges.map((r) => newData.subarray(r.start, r.end))));
      assert.ok(relay.connections() >= 3, `${relay.connections()} connections`);
    } finally {
      await source.close();
      await dispatcher.close();
      await relay.close();
    }
  });
});

describe('nginx over TLS without HTTP/2', () => {
  let nginx: TlsNginx | undefined;
  before(async () => {
    nginx = await startTlsNginx(root, { http2: false });
  });
  after(async () => nginx?.close());

  test('a client offering HTTP/2 gets HTTP/1.1, and the exact file', async (t) => {
    if (!nginx) return t.skip('nginx or openssl not installed');
    const from = (await nginx.entries()).length;
    const local = await freshLocal('h1-server');
    await libraryPatch(nginx, local, true);
    await assertPatched(local);
    const protocols = await protocolsSince(nginx, from);
    assert.ok(protocols.length >= 2);
    assert.deepEqual(new Set(protocols), new Set(['HTTP/1.1']));
    const cli = await freshLocal('h1-server-cli');
    const r = await runWithEnv(['patch', '-q', '--cacert', nginx.certPath, cli, `${nginx.url}app.bin.gosync`], {});
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readFile(cli), Buffer.from(newData));
  });
});
