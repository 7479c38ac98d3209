/**
 * lazy-http2.ts: undici's client is loaded without `node:http2` (nor `node:tls`), and the
 * constants it reads at load time are exactly `node:http2`'s. HTTP/2 connections through the
 * shim are exercised end to end by test/integration/http2-tls.test.ts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import * as lazy from '../../../src/sources/http/lazy-http2.js';

const require = createRequire(import.meta.url);

describe('lazy-http2', () => {
  it('gives every constant undici reads when it loads, with node:http2 values', async () => {
    const source = await readFile(require.resolve('undici/lib/dispatcher/client-h2.js'), 'utf8');
    const block = /const \{\s*constants: \{([^}]*)\}\s*\} = http2/.exec(source);
    assert.ok(block, 'the destructuring of http2.constants in undici/lib/dispatcher/client-h2.js');
    const names = block[1]!
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    assert.ok(names.length >= 8, names.join());
    const real = (await import('node:http2')).constants as unknown as Record<string, unknown>;
    for (const name of names) {
      assert.notEqual(real[name], undefined, name);
      assert.equal((lazy.constants as unknown as Record<string, unknown>)[name], real[name], name);
    }
  });

  it('agrees with node:http2 on every header name and error code it works out itself', async () => {
    const real = (await import('node:http2')).constants as unknown as Record<string, unknown>;
    const mine = lazy.constants as unknown as Record<string, unknown>;
    let checked = 0;
    for (const [name, value] of Object.entries(real)) {
      if (!name.startsWith('HTTP2_HEADER_') && !/^NGHTTP2_[A-Z_0-9]+$/.test(name)) continue;
      assert.equal(mine[name], value, name);
      checked++;
    }
    assert.ok(checked > 100, `${checked} constants`);
  });

  it("loads undici's client without node:http2 or node:tls; a connect loads http2", async () => {
    const script = `
      const { Client } = await import(${JSON.stringify(new URL('../../../src/sources/http/undici.js', import.meta.url).href)});
      await import(${JSON.stringify(new URL('../../../src/sources/http/dispatcher.js', import.meta.url).href)});
      const loaded = (m) => process.moduleLoadList.includes('NativeModule ' + m);
      const before = { http2: loaded('http2'), tls: loaded('tls'), client: typeof Client };
      const lazy = await import(${JSON.stringify(new URL('../../../src/sources/http/lazy-http2.js', import.meta.url).href)});
      try { lazy.connect('http://127.0.0.1:1').on('error', () => {}).destroy(); } catch {}
      console.log(JSON.stringify({ ...before, after: loaded('http2') }));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
    assert.deepEqual(JSON.parse(stdout), { http2: false, tls: false, client: 'function', after: true });
  });
});
