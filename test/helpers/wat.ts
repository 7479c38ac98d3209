/** The hand-written WebAssembly of src/core/scan assembled here, as `npm run build:wasm` does (scripts/build-wasm.ts). */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The bytes of `src/core/scan/<name>.wat`, validated and assembled with wabt, base64. */
export async function assembledWat(name: string): Promise<string> {
  const wabt = await wabtInit();
  const mod = wabt.parseWat(`${name}.wat`, readFileSync(join(root, `src/core/scan/${name}.wat`), 'utf8'), { simd: true });
  try {
    mod.validate();
    return Buffer.from(mod.toBinary({}).buffer).toString('base64');
  } finally {
    mod.destroy();
  }
}
