/**
 * Assembles the hand-written WebAssembly of src/core (`src/core/scan/rollsum-scan.wat`)
 * with wabt (a devDependency) and writes its bytes, base64, to
 * `src/core/scan/rollsum-scan-wasm.ts`, which is committed: gosync itself needs no
 * assembler. Run `npm run build:wasm` after editing the .wat (Node 24 runs this TypeScript
 * file as it is); test/core/scan/rollsum-scan.test.ts checks the committed bytes are the
 * .wat's.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const wat = join(root, 'src/core/scan/rollsum-scan.wat');
const out = join(root, 'src/core/scan/rollsum-scan-wasm.ts');

const wabt = await wabtInit();
const mod = wabt.parseWat('rollsum-scan.wat', readFileSync(wat, 'utf8'), { simd: true });
mod.validate();
const base64 = Buffer.from(mod.toBinary({}).buffer).toString('base64');
mod.destroy();
const lines: string[] = [];
for (let i = 0; i < base64.length; i += 120) lines.push(`  '${base64.slice(i, i + 120)}'`);
writeFileSync(
  out,
  `/**
 * The bytes of \`rollsum-scan.wat\`, assembled by \`npm run build:wasm\` (scripts/build-wasm.ts,
 * with wabt). Generated: edit the .wat, not this file.
 *
 * @module
 */

/** The rolling-scan module, base64. */
export const ROLLSUM_SCAN_WASM_BASE64 =
${lines.join(' +\n')};
`,
);
console.log(`${out}: ${base64.length} base64 characters`);
