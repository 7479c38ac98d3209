/**
 * createHttpDispatcher's proxies: the proxy given or named by the environment carries the
 * requests (absolute-URI form for http), NO_PROXY and `proxy: false` bypass it, requests made
 * without a dispatcher follow the environment too, and connections to the proxy are kept alive.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { getGlobalDispatcher, setGlobalDispatcher } from 'undici';
import { createHttpDispatcher, defaultHttpDispatcher } from '../../../src/sources/http/dispatcher.js';
import { HttpSource, httpGet } from '../../../src/sources/http/http-source.js';
import { startFaultServer, testBytes, type FaultServer } from '../../helpers/fault-server.js';
import { type ForwardProxy, startForwardProxy } from '../../integration/proxy-forward.js';

const data = testBytes(200_000, 41);
let server: FaultServer;
let proxy: ForwardProxy;
before(async () => {
  server = await startFaultServer({ resource: { body: data, etag: '"d1"' } });
  proxy = await startForwardProxy();
});
after(async () => {
  await proxy.close();
  await server.close();
});

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return Buffer.concat(parts);
}

/** Runs `work` with the given proxy variables set (and the others unset), then restores them. */
async function withEnv<T>(env: Record<string, string>, work: () => Promise<T>): Promise<T> {
  const names = ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY'];
  const saved = names.map((name) => [name, process.env[name]] as const);
  for (const name of names) delete process.env[name];
  Object.assign(process.env, env);
  try {
    return await work();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

describe('createHttpDispatcher and proxies', () => {
  it('sends http requests through the given proxy, in absolute-URI form, over kept-alive connections', async () => {
    const dispatcher = createHttpDispatcher({ proxy: { httpProxy: proxy.url, noProxy: '' } });
    const source = new HttpSource(server.url(), { dispatcher, maxRangesPerRequest: 1 });
    try {
      proxy.forwarded.length = 0;
      const connections = proxy.connections;
      for (let i = 0; i < 20; i++) {
        const got = await collect(source.read([{ start: i * 5000, end: i * 5000 + 3000 }]));
        assert.deepEqual(got, Buffer.from(data.subarray(i * 5000, i * 5000 + 3000)));
      }
      assert.ok(proxy.forwarded.length >= 20, `forwarded ${proxy.forwarded.length}`);
      assert.ok(proxy.forwarded.every((target) => target === server.url()));
      // One request at a time: one connection to the proxy carries them all.
      assert.ok(proxy.connections - connections <= 2, `${proxy.connections - connections} connections`);
    } finally {
      await source.close();
      await dispatcher.close();
    }
  });

  it('reaches hosts NO_PROXY names directly, by name or name:port', async () => {
    for (const noProxy of ['127.0.0.1', `localhost,127.0.0.1:${new URL(server.origin).port}`, '*']) {
      const dispatcher = createHttpDispatcher({ proxy: { httpProxy: proxy.url, noProxy } });
      proxy.forwarded.length = 0;
      try {
        const got = await httpGet(server.url(), { dispatcher });
        assert.deepEqual(Buffer.from(got.body), Buffer.from(data));
        assert.equal(proxy.forwarded.length, 0, noProxy);
      } finally {
        await dispatcher.close();
      }
    }
  });

  it('reads the environment: HTTP_PROXY, and NO_PROXY at each request; proxy: false ignores it', async () => {
    await withEnv({ HTTP_PROXY: proxy.url }, async () => {
      const dispatcher = createHttpDispatcher();
      const direct = createHttpDispatcher({ proxy: false });
      try {
        proxy.forwarded.length = 0;
        await httpGet(server.url(), { dispatcher });
        assert.equal(proxy.forwarded.length, 1);
        process.env.NO_PROXY = '127.0.0.1';
        await httpGet(server.url(), { dispatcher });
        assert.equal(proxy.forwarded.length, 1);
        delete process.env.NO_PROXY;
        await httpGet(server.url(), { dispatcher: direct });
        assert.equal(proxy.forwarded.length, 1);
      } finally {
        await dispatcher.close();
        await direct.close();
      }
    });
  });

  it("requests made without a dispatcher use undici's global one (the command line sets it to the environment's proxy)", async () => {
    const before = getGlobalDispatcher();
    assert.equal(defaultHttpDispatcher(), before);
    const viaProxy = createHttpDispatcher({ proxy: { httpProxy: proxy.url } });
    setGlobalDispatcher(viaProxy);
    try {
      proxy.forwarded.length = 0;
      const got = await httpGet(server.url());
      assert.deepEqual(Buffer.from(got.body), Buffer.from(data));
      assert.equal(proxy.forwarded.length, 1);
    } finally {
      setGlobalDispatcher(before);
      await viaProxy.close();
    }
    // The library itself reads no environment: a proxy variable alone changes nothing here.
    await withEnv({ http_proxy: proxy.url }, async () => {
      proxy.forwarded.length = 0;
      await httpGet(server.url());
      assert.equal(proxy.forwarded.length, 0);
    });
  });
});
