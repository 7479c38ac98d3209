/**
 * The one-way dependencies of docs/architecture.md, checked on every file of src/: which
 * folders a folder may import (static imports, re-exports and `import()`, type-only ones
 * included), which of Node's modules and npm packages `core/` may use, that only `cli/`
 * touches `process`, and that test/ mirrors src/.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { posix } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The folders each folder of src/ may import, besides itself (cli and the barrels are handled apart). */
const FILE_DEPS = ['core', 'util', 'localfs', 'formats', 'sources', 'forms', 'workers', 'archive'];
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  core: [],
  util: ['core'],
  localfs: ['core', 'util'],
  formats: ['core', 'localfs', 'util'],
  sources: ['core', 'util'],
  forms: ['core', 'formats', 'sources', 'localfs', 'util'],
  workers: ['core', 'util'],
  archive: ['core', 'formats', 'forms', 'localfs', 'util'],
  file: FILE_DEPS,
  tree: [...FILE_DEPS, 'file'],
  publish: [...FILE_DEPS, 'file', 'tree'],
  remote: ['core', 'util', 'localfs', 'formats'],
  serve: ['core', 'util'],
};

/** What `core/` may use outside itself. */
const CORE_BUILTINS = new Set(['crypto', 'zlib', 'buffer']);
const CORE_PACKAGES = new Set(['hash-wasm']);

/**
 * Node's built-ins whose ESM namespace costs more than the module (building it runs every lazy
 * getter of the module's exports): src/ loads them with `builtin()` of src/util/builtin.ts instead (docs/architecture.md,
 * "Node's built-ins"); type-only imports are erased and free.
 */
const VIA_REQUIRE = new Set([
  'fs',
  'path',
  'os',
  'util',
  'stream',
  'events',
  'http',
  'child_process',
  'diagnostics_channel',
  'timers/promises',
  'fs/promises',
]);

/** Value imports (static, re-exports and `import()`) of a {@link VIA_REQUIRE} built-in. */
function builtinProblems(file: string, text: string): string[] {
  const problems: string[] = [];
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const check = (node: ts.Node, specifier: ts.Expression | undefined, typeOnly: boolean) => {
    if (typeOnly || specifier === undefined || !ts.isStringLiteral(specifier)) return;
    const name = specifier.text.replace(/^node:/, '');
    if (!VIA_REQUIRE.has(name) || !isBuiltin(specifier.text)) return;
    problems.push(
      name === 'fs/promises'
        ? `${file}:${lineOf(text, node.getStart(source))}: imports '${specifier.text}': import src/util/fs-promises.ts instead (it loads the module only to open a FileHandle)`
        : `${file}:${lineOf(text, node.getStart(source))}: imports '${specifier.text}': load it with builtin() of src/util/builtin.ts (its ESM namespace costs more than the module)`,
    );
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const named = clause?.namedBindings;
      const allTypes =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined && named !== undefined && ts.isNamedImports(named) && named.elements.every((e) => e.isTypeOnly)));
      check(node, node.moduleSpecifier, allTypes);
    } else if (ts.isExportDeclaration(node)) {
      check(node, node.moduleSpecifier, node.isTypeOnly);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      check(node, node.arguments[0], false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return problems;
}

/** Folders of test/ that are not a folder of src/. */
// fuzz/: the fuzzing of every decoder of remote data, across the folders of src/.
const TEST_ONLY = new Set(['helpers', 'integration', 'api', 'fuzz']);

/** `src/core/index/format.ts` → `core`; `src/mod.ts` → ``. */
function partOf(file: string): string {
  const segments = file.split('/');
  return segments.length > 2 ? segments[1]! : '';
}

/** `src/mod.ts` and `src/<folder>/mod.ts`: the package's entry points. */
function isBarrel(file: string): boolean {
  return /^src\/(?:[^/]+\/)?mod\.ts$/.test(file);
}

function lineOf(text: string, pos: number): number {
  return text.slice(0, pos).split('\n').length;
}

/** The rule an import of `specifier` from `file` (a path under src/) breaks, if any. */
function importProblem(file: string, specifier: string): string | undefined {
  const part = partOf(file);
  if (specifier.startsWith('.')) {
    const target = posix.normalize(posix.join(posix.dirname(file), specifier));
    if (!target.startsWith('src/')) return 'src/ imports nothing outside src/';
    const to = partOf(target);
    if (to === part) return undefined;
    if (to === 'cli') return part === 'cli' ? undefined : 'nothing outside src/cli/ imports from cli/';
    if (part === 'cli' || isBarrel(file)) return undefined;
    if (to === '') return `${part}/ may not import the package entry src/mod.ts`;
    const allowed = ALLOWED[part];
    if (allowed === undefined) return `${part}/ is not a folder of the architecture (docs/architecture.md)`;
    return allowed.includes(to) ? undefined : `${part}/ may import only ${allowed.length > 0 ? allowed.join(', ') : 'core/ itself'}`;
  }
  const builtin = specifier.startsWith('node:') || isBuiltin(specifier);
  const name = builtin ? specifier.replace(/^node:/, '') : specifier.split('/')[0]!;
  if (builtin && name === 'process' && part !== 'cli') return 'only src/cli/ uses process';
  if (part !== 'core') return undefined;
  if (builtin) return CORE_BUILTINS.has(name) ? undefined : 'core/ uses only node:crypto, node:zlib and node:buffer of Node';
  return CORE_PACKAGES.has(name) ? undefined : 'core/ uses no npm package but hash-wasm';
}

/** True when `node` (an identifier `process`) names the global rather than a property or a declaration. */
function isGlobalProcess(node: ts.Identifier): boolean {
  const p = node.parent;
  if (ts.isPropertyAccessExpression(p)) return p.expression === node;
  if (ts.isQualifiedName(p)) return p.left === node;
  const named = p as ts.Node & { name?: ts.Node };
  return named.name !== node || ts.isShorthandPropertyAssignment(p);
}

/** Uses of the `process` global in code (comments and strings are not code). */
function processProblems(file: string, text: string): string[] {
  if (partOf(file) === 'cli') return [];
  const problems: string[] = [];
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const visit = (node: ts.Node): void => {
    const isProcess = ts.isIdentifier(node) && node.text === 'process' && isGlobalProcess(node);
    const viaGlobalThis =
      ts.isPropertyAccessExpression(node) &&
      node.name.text === 'process' &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'globalThis';
    if (isProcess || viaGlobalThis) {
      const p = node.parent;
      const exits = ts.isPropertyAccessExpression(p) && p.expression === node && p.name.text === 'exit';
      const rule = exits ? 'only src/cli/ calls process.exit' : 'only src/cli/ uses the process global';
      problems.push(`${file}:${lineOf(text, node.getStart(source))}: ${exits ? 'process.exit' : 'process'}: ${rule}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return problems;
}

/** Every broken rule in `files` (path under the repository → text), one message each naming the file, the import and the rule. */
function problemsOf(files: ReadonlyMap<string, string>): string[] {
  const problems: string[] = [];
  for (const [file, text] of files) {
    for (const ref of ts.preProcessFile(text, true, true).importedFiles) {
      const rule = importProblem(file, ref.fileName);
      if (rule !== undefined) problems.push(`${file}:${lineOf(text, ref.pos)}: imports '${ref.fileName}': ${rule}`);
    }
    problems.push(...processProblems(file, text));
    problems.push(...builtinProblems(file, text));
  }
  return problems;
}

function walk(dir: string, visit: (rel: string, isDir: boolean) => void): void {
  for (const name of readdirSync(posix.join(ROOT, dir)).sort()) {
    const rel = posix.join(dir, name);
    const isDir = statSync(posix.join(ROOT, rel)).isDirectory();
    visit(rel, isDir);
    if (isDir) walk(rel, visit);
  }
}

function sourceFiles(): Map<string, string> {
  const files = new Map<string, string>();
  walk('src', (rel, isDir) => {
    if (!isDir && rel.endsWith('.ts')) files.set(rel, readFileSync(posix.join(ROOT, rel), 'utf8'));
  });
  return files;
}

test('every import in src/ keeps to the folder rules of docs/architecture.md, and only cli/ touches process', () => {
  const files = sourceFiles();
  assert.ok(files.size > 50 && files.has('src/core/matcher.ts') && files.has('src/mod.ts'), `found ${files.size} files`);
  const problems = problemsOf(files);
  assert.deepEqual(problems, [], `\n${problems.join('\n')}`);
});

test('test/ mirrors src/: every folder of test/ but helpers, integration, api and fuzz is a folder of src/', () => {
  const strays: string[] = [];
  walk('test', (rel, isDir) => {
    if (!isDir || TEST_ONLY.has(rel.split('/')[1]!)) return;
    const twin = `src/${rel.slice('test/'.length)}`;
    let exists = false;
    try {
      exists = statSync(posix.join(ROOT, twin)).isDirectory();
    } catch {}
    if (!exists) strays.push(`${rel}/: no ${twin}/ (tests mirror src/; end-to-end tests go to test/integration/)`);
  });
  assert.deepEqual(strays, [], `\n${strays.join('\n')}`);
});

test('the checker reports each kind of violation with the file, the import and the rule', () => {
  const files = new Map([
    ['src/core/a.ts', "import { x } from '../formats/zsync-control.js';\nimport { readFile } from 'node:fs/promises';\n"],
    ['src/core/b.ts', "import type { Dispatcher } from 'undici';\nconst zlib = await import('node:zlib');\nimport 'node:buffer';\n"],
    [
      'src/formats/c.ts',
      "// process.exit(1) in a comment is not code\nexport const s = 'process';\nconst t = await import('../sources/file-source.js');\n",
    ],
    [
      'src/serve/d.ts',
      "export { y } from '../cli/main.js';\nif (process.env.X) process.exit(2);\nconst o = { process: 1 };\nglobalThis.process;\n",
    ],
    [
      'src/remote/wire/e.ts',
      "import { f } from '../../localfs/walk.js';\nimport { g } from '../sender.js';\nimport { h } from '../../mod.js';\n",
    ],
    ['src/mod.ts', "export * from './remote/push-pull.js';\nexport * from './cli/main.js';\n"],
    ['src/tree/mod.ts', "export * from '../serve/static-server.js';\n"],
    ['src/cli/main.ts', "import { z } from '../remote/push-pull.js';\nprocess.exit(0);\n"],
    ['src/util/f.ts', "import { q } from '../../test/helpers/data.js';\nimport p from 'node:process';\n"],
    [
      'src/localfs/g.ts',
      "import { join } from 'node:path';\nimport type { Stats } from 'node:fs';\nimport { type Readable } from 'node:stream';\nconst u = await import('util');\nimport { open } from 'node:fs/promises';\n",
    ],
  ]);
  assert.deepEqual(problemsOf(files), [
    "src/core/a.ts:1: imports '../formats/zsync-control.js': core/ may import only core/ itself",
    "src/core/a.ts:2: imports 'node:fs/promises': core/ uses only node:crypto, node:zlib and node:buffer of Node",
    "src/core/a.ts:2: imports 'node:fs/promises': import src/util/fs-promises.ts instead (it loads the module only to open a FileHandle)",
    "src/core/b.ts:1: imports 'undici': core/ uses no npm package but hash-wasm",
    "src/formats/c.ts:3: imports '../sources/file-source.js': formats/ may import only core, localfs, util",
    "src/serve/d.ts:1: imports '../cli/main.js': nothing outside src/cli/ imports from cli/",
    'src/serve/d.ts:2: process: only src/cli/ uses the process global',
    'src/serve/d.ts:2: process.exit: only src/cli/ calls process.exit',
    'src/serve/d.ts:4: process: only src/cli/ uses the process global',
    "src/remote/wire/e.ts:3: imports '../../mod.js': remote/ may not import the package entry src/mod.ts",
    "src/mod.ts:2: imports './cli/main.js': nothing outside src/cli/ imports from cli/",
    "src/util/f.ts:1: imports '../../test/helpers/data.js': src/ imports nothing outside src/",
    "src/util/f.ts:2: imports 'node:process': only src/cli/ uses process",
    "src/localfs/g.ts:1: imports 'node:path': load it with builtin() of src/util/builtin.ts (its ESM namespace costs more than the module)",
    "src/localfs/g.ts:4: imports 'util': load it with builtin() of src/util/builtin.ts (its ESM namespace costs more than the module)",
    "src/localfs/g.ts:5: imports 'node:fs/promises': import src/util/fs-promises.ts instead (it loads the module only to open a FileHandle)",
  ]);
});
