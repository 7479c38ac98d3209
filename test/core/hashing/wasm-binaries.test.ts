import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createBLAKE2b, createMD4 } from 'hash-wasm';
import { Blake2b256, blake2b256Digest, blake2b256Into } from '../../../src/core/hashing/blake2b.js';
import { Md4, md4Digest, md4Into } from '../../../src/core/hashing/md4.js';
import { BLAKE2B_WASM_BASE64, HASH_WASM_VERSION, MD4_WASM_BASE64 } from '../../../src/core/hashing/wasm-binaries.js';
import { chunked, randomBytes } from '../../helpers/data.js';

const require = createRequire(import.meta.url);

/** The base64 `data` of one of hash-wasm's modules, as its ES build holds it. */
function hashWasmData(name: string): string {
  const source = readFileSync(require.resolve('hash-wasm/dist/index.esm.js'), 'utf8');
  const m = new RegExp(`var name(\\$\\w+) = "${name}";\\nvar data\\1 = "([^"]+)";`).exec(source);
  assert.ok(m, `hash-wasm's dist/index.esm.js has no "${name}" module`);
  return m[2]!;
}

test('the WebAssembly modules are the installed hash-wasm release, byte for byte', () => {
  const pkg = JSON.parse(readFileSync(require.resolve('hash-wasm/package.json'), 'utf8')) as { version: string };
  assert.equal(
    pkg.version,
    HASH_WASM_VERSION,
    'hash-wasm was upgraded: copy its md4 and blake2b data into src/core/hashing/wasm-binaries.ts',
  );
  const here = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../../../../package.json'), 'utf8')) as {
    devDependencies: Record<string, string>;
  };
  assert.equal(here.devDependencies['hash-wasm'], HASH_WASM_VERSION, 'package.json pins the hash-wasm the binaries come from');
  assert.equal(MD4_WASM_BASE64, hashWasmData('md4'));
  assert.equal(BLAKE2B_WASM_BASE64, hashWasmData('blake2b'));
});

test('one-shot and incremental digests equal hash-wasm’s own, below, at and above the 16 KiB input buffer', async () => {
  const theirMd4 = await createMD4();
  const theirBlake = await createBLAKE2b(256);
  const data = randomBytes(70_000, 21);
  for (const len of [0, 1, 63, 64, 65, 127, 128, 129, 16_383, 16_384, 16_385, 32_768, 40_000, 69_990]) {
    const piece = data.subarray(7, 7 + len);
    const md4Want = theirMd4.init().update(piece).digest('binary');
    const blakeWant = theirBlake.init().update(piece).digest('binary');
    assert.deepEqual(md4Digest(piece), md4Want, `md4 of ${len}`);
    assert.deepEqual(blake2b256Digest(piece), blakeWant, `blake2b of ${len}`);
    const out = new Uint8Array(48);
    md4Into(data, 7, len, out, 1, 16);
    assert.deepEqual(out.subarray(1, 17), md4Want, `md4Into of ${len}`);
    blake2b256Into(data, 7, len, out, 9, 32);
    assert.deepEqual(out.subarray(9, 41), blakeWant, `blake2b256Into of ${len}`);
    for (const sizes of [[16_385], [5000, 20_000], [1]]) {
      if (sizes[0] === 1 && len > 200) continue;
      const m = new Md4();
      const b = new Blake2b256();
      for (const c of chunked(piece, sizes)) {
        m.update(c);
        md4Digest(data.subarray(0, 100)); // the shared instance used in between
        b.update(c);
        blake2b256Digest(data.subarray(0, 100));
      }
      assert.deepEqual(m.digest(), md4Want, `incremental md4 of ${len} in ${sizes.join(',')}`);
      assert.deepEqual(b.digest(), blakeWant, `incremental blake2b of ${len} in ${sizes.join(',')}`);
    }
  }
});

test('loading the hash modules compiles no WebAssembly; the first hash compiles its module once', () => {
  const dist = join(dirname(fileURLToPath(import.meta.url)), '../../../src/core/hashing/');
  const script = `
    const counts = { Module: 0, Instance: 0, compile: 0, instantiate: 0 };
    for (const k of Object.keys(counts)) {
      const real = WebAssembly[k];
      WebAssembly[k] = typeof real === 'function' && /^[A-Z]/.test(k)
        ? new Proxy(real, { construct(t, a) { counts[k]++; return Reflect.construct(t, a); } })
        : function (...a) { counts[k]++; return real.apply(this, a); };
    }
    const md4 = await import(${JSON.stringify(`${dist}md4.js`)});
    const blake = await import(${JSON.stringify(`${dist}blake2b.js`)});
    const seen = [{ ...counts }];
    md4.md4Digest(new Uint8Array(3));
    md4.md4Digest(new Uint8Array(3));
    new md4.Md4().update(new Uint8Array(5));
    seen.push({ ...counts });
    blake.blake2b256Digest(new Uint8Array(3));
    seen.push({ ...counts });
    console.log(JSON.stringify(seen));
  `;
  const seen = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as unknown;
  assert.deepEqual(seen, [
    { Module: 0, Instance: 0, compile: 0, instantiate: 0 },
    { Module: 1, Instance: 1, compile: 0, instantiate: 0 },
    { Module: 2, Instance: 2, compile: 0, instantiate: 0 },
  ]);
});
