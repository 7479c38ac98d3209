/**
 * Builds gosync's WebAssembly: assembles the hand-written scans of src/core
 * (`src/core/scan/rollsum-scan.wat`, `src/core/scan/weak-sums.wat`) with wabt and compiles
 * the lz-delta codec (`src/forms/lz-delta/asm/lz-delta.ts`), the bsdiff matcher (suffix array
 * and scan) and its diff-stream model (`src/forms/bsdiff/asm/`), all AssemblyScript, with asc (both
 * devDependencies), and writes the bytes of each, base64, to a `-wasm.ts` module, which is
 * committed: gosync itself needs neither tool. Run `npm run build:wasm` after editing a
 * source (Node 24 runs this TypeScript file as it is); the tests of each module check the
 * committed bytes are their source's (test/helpers/wat.ts, with the same asc options).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';
import wabtInit from 'wabt';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const modules = [
  { source: 'src/core/scan/rollsum-scan.wat', out: 'src/core/scan/rollsum-scan-wasm.ts', constant: 'ROLLSUM_SCAN_WASM_BASE64', what: 'The rolling-scan module, base64.' },
  { source: 'src/core/scan/weak-sums.wat', out: 'src/core/scan/weak-sums-wasm.ts', constant: 'WEAK_SUMS_WASM_BASE64', what: 'The block weak-sums module, base64.' },
  { source: 'src/forms/lz-delta/asm/lz-delta.ts', out: 'src/forms/lz-delta/lz-delta-wasm.ts', constant: 'LZ_DELTA_WASM_BASE64', what: 'The lz-delta codec module, base64.' },
  { source: 'src/forms/bsdiff/asm/matcher.ts', out: 'src/forms/bsdiff/matcher-wasm.ts', constant: 'MATCHER_WASM_BASE64', what: 'The bsdiff matcher module (suffix array and scan), base64.' },
  { source: 'src/forms/bsdiff/asm/diff-model.ts', out: 'src/forms/bsdiff/diff-model-wasm.ts', constant: 'DIFF_MODEL_WASM_BASE64', what: 'The diff-model coder module, base64.' },
];
/** asc's options for the codec; test/helpers/wat.ts compiles with the same. */
const ASC_OPTIONS = ['-O3', '--runtime', 'stub', '--noAssert', '--uncheckedBehavior', 'always', '--enable', 'simd'];

const wabt = await wabtInit();

async function compile(source: string): Promise<Uint8Array> {
  if (source.endsWith('.wat')) {
    const mod = wabt.parseWat(source, readFileSync(join(root, source), 'utf8'), { simd: true });
    try {
      mod.validate();
      return mod.toBinary({}).buffer;
    } finally {
      mod.destroy();
    }
  }
  let binary: Uint8Array | undefined;
  const { error, stderr } = await asc.main([join(root, source), ...ASC_OPTIONS, '-o', 'out.wasm'], {
    writeFile: (_name, contents) => {
      binary = contents as Uint8Array;
    },
  });
  if (error || !binary) throw new Error(`asc failed on ${source}: ${error?.message}\n${stderr.toString()}`);
  return binary;
}

for (const m of modules) {
  const out = join(root, m.out);
  const base64 = Buffer.from(await compile(m.source)).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += 120) lines.push(`  '${base64.slice(i, i + 120)}'`);
  writeFileSync(
    out,
    `/**
 * The bytes of \`${m.source}\`, built by \`npm run build:wasm\` (scripts/build-wasm.ts).
 * Generated: edit the source, not this file.
 *
 * @module
 */

/** ${m.what} */
export const ${m.constant} =
${lines.join(' +\n')};
`,
  );
  console.log(`${out}: ${base64.length} base64 characters`);
}
