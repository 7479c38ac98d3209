/**
 * Assembles the hand-written WebAssembly of src/core (`src/core/scan/rollsum-scan.wat`,
 * `src/core/scan/weak-sums.wat`) with wabt (a devDependency) and writes the bytes of each,
 * base64, to a `<name>-wasm.ts` beside it, which is committed: gosync itself needs no
 * assembler. Run `npm run build:wasm` after editing a .wat (Node 24 runs this TypeScript
 * file as it is); the tests of each module check the committed bytes are the .wat's.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const modules = [
  { name: 'rollsum-scan', constant: 'ROLLSUM_SCAN_WASM_BASE64', what: 'The rolling-scan module, base64.' },
  { name: 'weak-sums', constant: 'WEAK_SUMS_WASM_BASE64', what: 'The block weak-sums module, base64.' },
];

const wabt = await wabtInit();
for (const m of modules) {
  const wat = join(root, `src/core/scan/${m.name}.wat`);
  const out = join(root, `src/core/scan/${m.name}-wasm.ts`);
  const mod = wabt.parseWat(`${m.name}.wat`, readFileSync(wat, 'utf8'), { simd: true });
  mod.validate();
  const base64 = Buffer.from(mod.toBinary({}).buffer).toString('base64');
  mod.destroy();
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += 120) lines.push(`  '${base64.slice(i, i + 120)}'`);
  writeFileSync(
    out,
    `/**
 * The bytes of \`${m.name}.wat\`, assembled by \`npm run build:wasm\` (scripts/build-wasm.ts,
 * with wabt). Generated: edit the .wat, not this file.
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
