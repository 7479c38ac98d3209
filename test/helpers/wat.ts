/**
 * gosync's WebAssembly built here from its sources, as `npm run build:wasm` does
 * (scripts/build-wasm.ts): the hand-written scans of src/core with wabt, the lz-delta codec
 * and the bsdiff matcher's suffix arrays and diff model with AssemblyScript's compiler.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';
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

/** The bytes of the AssemblyScript module at `source` (from the project's root), compiled with scripts/build-wasm.ts's options, base64. */
export async function compiledAssemblyScript(source: string): Promise<string> {
  let binary: Uint8Array | undefined;
  const { error, stderr } = await asc.main(
    [join(root, source), '-O3', '--runtime', 'stub', '--noAssert', '--uncheckedBehavior', 'always', '--enable', 'simd', '-o', 'out.wasm'],
    {
      writeFile: (_name: string, contents: Uint8Array | string) => {
        if (typeof contents !== 'string') binary = contents;
      },
    },
  );
  if (error || !binary) throw new Error(`asc failed on ${source}: ${error?.message}\n${stderr.toString()}`);
  return Buffer.from(binary).toString('base64');
}
