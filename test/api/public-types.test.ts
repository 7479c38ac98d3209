/**
 * Every type a public signature uses is importable: for each entry point (`gosync` and
 * each subpath of package.json's `exports`), the compiler walks the exported functions,
 * classes, constants and types — parameters, return types, public members, properties,
 * type arguments — and every named type declared in src/ that it meets must be exported
 * too: from `gosync` itself for the root (a user of the root API needs no subpath), from
 * any entry point for a subpath. And the type-only exports of each entry point match a
 * committed snapshot (test/api/exports.test.ts checks the values), updated on purpose with
 *
 *     UPDATE_EXPORTS_SNAPSHOT=1 node --test dist/test/api/public-types.test.js
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { assertSnapshot } from './snapshot.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const SRC = join(ROOT, 'src');
const SNAPSHOT = join(ROOT, 'test', 'api', 'type-exports.snapshot.json');

interface PackageJson {
  exports: Record<string, { types: string; default: string }>;
}

/** Entry point (`.`, `./core`, …) → its source file, from package.json's `exports`. */
function entryPoints(): Map<string, string> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;
  const entries = new Map<string, string>();
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    // The manifest itself is exported for tools that read it; it is data, not an entry point.
    if (subpath === './package.json') continue;
    const m = /^\.\/dist\/(src\/(?:.+\/)?mod)\.js$/.exec(target.default);
    assert.ok(m, `exports["${subpath}"].default is ${target.default}, not a mod.js under dist/src/`);
    assert.equal(target.types, `./dist/${m[1]}.d.ts`, `exports["${subpath}"].types`);
    entries.set(subpath, join(ROOT, `${m[1]}.ts`));
  }
  return entries;
}

function program(files: readonly string[]): ts.Program {
  const config = ts.readConfigFile(join(ROOT, 'tsconfig.json'), (p) => ts.sys.readFile(p));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  return ts.createProgram(files, { ...parsed.options, noEmit: true });
}

const NAMED = ts.SymbolFlags.Interface | ts.SymbolFlags.Class | ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Enum;

/** Exported symbols of a module, aliases resolved. */
function exportsOf(checker: ts.TypeChecker, file: ts.SourceFile): Map<ts.Symbol, string> {
  const moduleSymbol = checker.getSymbolAtLocation(file);
  assert.ok(moduleSymbol, `${file.fileName} is not a module`);
  const out = new Map<ts.Symbol, string>();
  for (const s of checker.getExportsOfModule(moduleSymbol)) {
    out.set(s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s, s.name);
  }
  return out;
}

/** Names a module exports as types only (`export type`, interfaces, type aliases). */
function typeOnlyNames(checker: ts.TypeChecker, file: ts.SourceFile): string[] {
  const names: string[] = [];
  for (const s of checker.getExportsOfModule(checker.getSymbolAtLocation(file)!)) {
    const decl = s.declarations?.[0];
    const typeOnlyExport = decl !== undefined && ts.isExportSpecifier(decl) && (decl.isTypeOnly || decl.parent.parent.isTypeOnly);
    const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
    if (typeOnlyExport || !(target.flags & ts.SymbolFlags.Value)) names.push(s.name);
  }
  return names.sort();
}

function inSrc(symbol: ts.Symbol): string | undefined {
  const decl = symbol.declarations?.[0];
  const file = decl?.getSourceFile().fileName;
  return file?.startsWith(SRC) ? file.slice(ROOT.length) : undefined;
}

function isPublicMember(symbol: ts.Symbol): boolean {
  if (symbol.name.startsWith('__#') || symbol.name === 'prototype') return false;
  const decl = symbol.valueDeclaration ?? symbol.declarations?.[0];
  if (decl === undefined) return true;
  if (
    decl.kind !== ts.SyntaxKind.SourceFile &&
    ts.getCombinedModifierFlags(decl as ts.Declaration) & ts.ModifierFlags.NonPublicAccessibilityModifier
  )
    return false;
  return !(ts.isPropertyDeclaration(decl) || ts.isMethodDeclaration(decl)) || !ts.isPrivateIdentifier(decl.name);
}

/**
 * The named src/ types reachable from `roots` that `exported` lacks, each with the path
 * it was reached by.
 */
function missingTypes(checker: ts.TypeChecker, roots: Map<ts.Symbol, string>, exported: ReadonlySet<ts.Symbol>): string[] {
  const missing = new Map<string, string>();
  const seen = new Set<ts.Type>();
  const seenSymbols = new Set<ts.Symbol>();

  // An optional property's union (`X | undefined`) no longer carries the alias `X`: the
  // written annotation still names it.
  const visitTypeNode = (node: ts.Node | undefined, path: string): void => {
    if (node === undefined) return;
    if (ts.isTypeReferenceNode(node)) {
      let s = checker.getSymbolAtLocation(node.typeName);
      if (s && s.flags & ts.SymbolFlags.Alias) s = checker.getAliasedSymbol(s);
      if (s && s.flags & NAMED && visitNamed(s, path)) visitType(checker.getDeclaredTypeOfSymbol(s), path);
    }
    ts.forEachChild(node, (child) => visitTypeNode(child, path));
  };
  const visitSymbol = (symbol: ts.Symbol, path: string): void => {
    const decl = symbol.valueDeclaration as (ts.Declaration & { type?: ts.TypeNode }) | undefined;
    visitTypeNode(decl?.type, path);
    visitType(checker.getTypeOfSymbol(symbol), path);
  };
  const visitSignature = (sig: ts.Signature, path: string): void => {
    for (const p of sig.getParameters()) visitSymbol(p, `${path}(${p.name})`);
    visitTypeNode(sig.getDeclaration()?.type, `${path}()`);
    visitType(sig.getReturnType(), `${path}()`);
  };
  const visitMembers = (type: ts.Type, path: string): void => {
    for (const p of checker.getPropertiesOfType(type)) if (isPublicMember(p)) visitSymbol(p, `${path}.${p.name}`);
    for (const sig of type.getCallSignatures()) visitSignature(sig, path);
    for (const sig of type.getConstructSignatures()) visitSignature(sig, `new ${path}`);
    for (const info of checker.getIndexInfosOfType(type)) visitType(info.type, `${path}[]`);
  };
  const visitNamed = (symbol: ts.Symbol, path: string): boolean => {
    const where = inSrc(symbol);
    if (where === undefined) return false;
    if (!exported.has(symbol) && !missing.has(symbol.name)) missing.set(symbol.name, `${symbol.name} (${where}), reached by ${path}`);
    return true;
  };
  function visitType(type: ts.Type, path: string): void {
    if (seen.has(type)) return;
    seen.add(type);
    for (const arg of type.aliasTypeArguments ?? []) visitType(arg, `${path}<>`);
    if (type.aliasSymbol && type.aliasSymbol.flags & NAMED) {
      if (!visitNamed(type.aliasSymbol, path)) return;
    }
    if (type.isUnionOrIntersection()) {
      for (const t of type.types) visitType(t, path);
      return;
    }
    if (type.flags & ts.TypeFlags.Object && (type as ts.ObjectType).objectFlags & ts.ObjectFlags.Reference) {
      for (const arg of checker.getTypeArguments(type as ts.TypeReference)) visitType(arg, `${path}<>`);
    }
    const symbol = type.getSymbol();
    if (symbol && symbol.flags & NAMED && !(type.aliasSymbol && type.aliasSymbol !== symbol)) {
      if (!visitNamed(symbol, path)) return;
    } else if (symbol && symbol.flags & NAMED && inSrc(symbol) === undefined) return;
    if (type.flags & ts.TypeFlags.Object) visitMembers(type, symbol && symbol.flags & NAMED ? symbol.name : path);
  }

  for (const [symbol, name] of roots) {
    if (seenSymbols.has(symbol)) continue;
    seenSymbols.add(symbol);
    if (symbol.flags & (ts.SymbolFlags.Class | ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Enum)) {
      visitMembers(checker.getDeclaredTypeOfSymbol(symbol), name);
    }
    if (symbol.flags & ts.SymbolFlags.Value) {
      const type = checker.getTypeOfSymbol(symbol);
      if (symbol.flags & ts.SymbolFlags.Class) {
        for (const sig of type.getConstructSignatures()) visitSignature(sig, `new ${name}`);
        for (const p of checker.getPropertiesOfType(type)) if (isPublicMember(p)) visitSymbol(p, `${name}.${p.name}`);
      } else visitSymbol(symbol, name);
    }
  }
  return [...missing.values()].sort();
}

test('the type exports match the snapshot, and every type a public signature uses is exported: from the root for the root, from any entry point for a subpath', () => {
  const entries = entryPoints();
  assert.ok(entries.has('.'), 'package.json exports "."');
  const p = program([...entries.values()]);
  const checker = p.getTypeChecker();
  const exportsByEntry = new Map<string, Map<ts.Symbol, string>>();
  for (const [subpath, file] of entries) {
    const source = p.getSourceFile(file);
    assert.ok(source, `${file} is in the program`);
    exportsByEntry.set(subpath, exportsOf(checker, source));
  }
  const everywhere = new Set([...exportsByEntry.values()].flatMap((m) => [...m.keys()]));
  const typeOnly: Record<string, string[]> = {};
  for (const [subpath, file] of entries) typeOnly[`gosync${subpath.slice(1)}`] = typeOnlyNames(checker, p.getSourceFile(file)!);
  assertSnapshot(SNAPSHOT, typeOnly, 'UPDATE_EXPORTS_SNAPSHOT=1 node --test dist/test/api/public-types.test.js');
  assert.ok(typeOnly.gosync?.includes('PatchOptions') && !typeOnly.gosync.includes('patchFile'));
  const problems: string[] = [];
  for (const [subpath, exported] of exportsByEntry) {
    const allowed = subpath === '.' ? new Set(exported.keys()) : everywhere;
    for (const m of missingTypes(checker, exported, allowed)) problems.push(`gosync${subpath.slice(1)}: ${m}`);
  }
  assert.deepEqual(problems, [], `types used by public signatures but not exported:\n${problems.join('\n')}`);
});

test('the walk finds a type a public signature uses but the entry does not export', () => {
  const file = join(SRC, 'core', 'planner.ts');
  const p = program([file]);
  const checker = p.getTypeChecker();
  const source = p.getSourceFile(file)!;
  const all = exportsOf(checker, source);
  const only = new Map([...all].filter(([, name]) => name === 'planRanges'));
  const missing = missingTypes(checker, only, new Set(only.keys()));
  assert.ok(
    missing.some((m) => m.startsWith('PlanOptions (src/core/planner.ts), reached by planRanges(options)')),
    missing.join('\n'),
  );
  assert.ok(
    missing.some((m) => m.startsWith('MissingSpan (src/core/matcher.ts), reached by planRanges(missing)')),
    missing.join('\n'),
  );
  assert.ok(
    missing.some((m) => m.startsWith('PlannedRange ')),
    missing.join('\n'),
  );
  assert.deepEqual(
    missingTypes(checker, all, new Set([...all.keys()])).filter((m) => m.startsWith('PlanOptions')),
    [],
  );
});
