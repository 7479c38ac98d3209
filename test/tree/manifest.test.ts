/**
 * The tree manifest is untrusted input: decodeManifest must refuse every path that could
 * leave the target folder or go through a link (UNSAFE_PATH), every malformed document
 * (MANIFEST_CORRUPT) and other versions (INDEX_UNSUPPORTED); what it accepts must survive
 * an encode → decode round trip.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes } from '../../src/core/errors.js';
import { MANIFEST_VERSION, decodeManifest, encodeManifest, objectNames, objectPath, type Manifest } from '../../src/tree/manifest.js';
import { hasCode, sha256 } from './tree-fixtures.js';

const SHA = sha256(Buffer.from('hello'));
const SHA2 = sha256(Buffer.from('world'));

const file = (path: string, extra: Record<string, unknown> = {}) => ({
  type: 'file',
  path,
  size: 5,
  mode: 0o644,
  mtime: 1_700_000_000_000,
  sha256: SHA,
  ...extra,
});
const dir = (path: string, extra: Record<string, unknown> = {}) => ({ type: 'dir', path, mode: 0o755, mtime: 1_700_000_000_000, ...extra });
const link = (path: string, target: string) => ({ type: 'symlink', path, target });

function doc(entries: unknown[], top: Record<string, unknown> = {}): Uint8Array {
  return Buffer.from(JSON.stringify({ gosync: 'tree', version: 1, entries, ...top }));
}

function refuses(entries: unknown[], code: (typeof ErrorCodes)[keyof typeof ErrorCodes], why: string): void {
  assert.throws(() => decodeManifest(doc(entries)), hasCode(code), why);
}

test('a well-formed manifest decodes, sorted, with folders before what they hold', () => {
  const m = decodeManifest(doc([file('a/b/c.txt'), dir('a/b'), link('a/l', '../x'), dir('a'), file('z')]));
  assert.equal(m.version, MANIFEST_VERSION);
  assert.deepEqual(
    m.entries.map((e) => `${e.type}:${e.path}`),
    ['dir:a', 'dir:a/b', 'file:a/b/c.txt', 'symlink:a/l', 'file:z'],
  );
});

test('absolute paths are refused as UNSAFE_PATH', () => {
  refuses([file('/etc/passwd')], ErrorCodes.UNSAFE_PATH, 'absolute');
  refuses([dir('/tmp')], ErrorCodes.UNSAFE_PATH, 'absolute folder');
  refuses([link('/l', 'x')], ErrorCodes.UNSAFE_PATH, 'absolute link');
});

test('".." components are refused as UNSAFE_PATH', () => {
  refuses([dir('a'), file('a/../../x')], ErrorCodes.UNSAFE_PATH, 'a/../../x');
  refuses([dir('..')], ErrorCodes.UNSAFE_PATH, '..');
  refuses([file('..')], ErrorCodes.UNSAFE_PATH, '.. as a file');
  refuses([file('../x')], ErrorCodes.UNSAFE_PATH, '../x');
  refuses([dir('a'), file('a/..')], ErrorCodes.UNSAFE_PATH, 'a/..');
});

test('backslashes, drive letters, empty and "." components, NUL and empty paths are refused as UNSAFE_PATH', () => {
  for (const p of ['a\\b', '..\\x', 'C:x', 'c:/windows', 'Z:', 'a//b', '/', '.', './a', 'a/.', 'a/./b', 'a/', '', 'a\0b']) {
    // Listing the parent folder "a" makes sure only the path itself can be the reason.
    refuses([dir('a'), file(p)], ErrorCodes.UNSAFE_PATH, JSON.stringify(p));
  }
  refuses([{ ...file('x'), path: 42 }], ErrorCodes.UNSAFE_PATH, 'a path that is not a string');
  refuses([{ type: 'file', size: 5, mode: 0o644, mtime: 0, sha256: SHA }], ErrorCodes.UNSAFE_PATH, 'no path');
  refuses([file('x'.repeat(4097))], ErrorCodes.UNSAFE_PATH, 'a path over 4096 characters');
});

test('an entry under a link of the same manifest is refused as UNSAFE_PATH', () => {
  refuses([link('l', '/etc'), file('l/x')], ErrorCodes.UNSAFE_PATH, 'file under a link');
  refuses([link('l', '.'), dir('l/d')], ErrorCodes.UNSAFE_PATH, 'folder under a link');
  refuses([dir('a'), link('a/l', '../..'), dir('a/l/b'), file('a/l/b/x')], ErrorCodes.UNSAFE_PATH, 'nested under a link');
});

test('an entry under a file of the same manifest is refused as UNSAFE_PATH', () => {
  refuses([file('f'), file('f/x')], ErrorCodes.UNSAFE_PATH, 'file under a file');
  refuses([file('f'), dir('f/d')], ErrorCodes.UNSAFE_PATH, 'folder under a file');
});

test('an entry whose parent folder is not listed is MANIFEST_CORRUPT', () => {
  refuses([file('a/x')], ErrorCodes.MANIFEST_CORRUPT, 'missing a');
  refuses([dir('a'), file('a/b/x')], ErrorCodes.MANIFEST_CORRUPT, 'missing a/b');
  refuses([link('a/l', 'x')], ErrorCodes.MANIFEST_CORRUPT, 'link with a missing parent');
});

test('malformed entries are MANIFEST_CORRUPT', () => {
  refuses([file('x'), file('x')], ErrorCodes.MANIFEST_CORRUPT, 'duplicate path');
  refuses([dir('x'), file('x')], ErrorCodes.MANIFEST_CORRUPT, 'duplicate path, other types');
  refuses([link('x', 'y'), dir('x')], ErrorCodes.MANIFEST_CORRUPT, 'duplicate path, link and folder');
  refuses([file('x', { owner: 'root' })], ErrorCodes.MANIFEST_CORRUPT, 'unknown field');
  refuses([dir('x', { size: 1 })], ErrorCodes.MANIFEST_CORRUPT, 'a field of another type');
  refuses([{ ...link('x', 'y'), mode: 0o777 }], ErrorCodes.MANIFEST_CORRUPT, 'mode on a link');
  for (const bad of [SHA.toUpperCase(), SHA.slice(1), `${SHA}0`, 'g'.repeat(64), 42, undefined]) {
    refuses([file('x', { sha256: bad })], ErrorCodes.MANIFEST_CORRUPT, `bad sha256 ${String(bad)}`);
  }
  for (const bad of [-1, 1.5, '5', null, Number.MAX_SAFE_INTEGER + 2]) {
    refuses([file('x', { size: bad })], ErrorCodes.MANIFEST_CORRUPT, `bad size ${String(bad)}`);
  }
  refuses([file('x', { mode: -1 })], ErrorCodes.MANIFEST_CORRUPT, 'negative mode');
  refuses([file('x', { mode: 0o10000 })], ErrorCodes.MANIFEST_CORRUPT, 'mode over 0o7777');
  refuses([file('x', { mtime: 'yesterday' })], ErrorCodes.MANIFEST_CORRUPT, 'bad mtime');
  refuses([file('x', { mtime: 1e16 })], ErrorCodes.MANIFEST_CORRUPT, 'mtime out of range');
  refuses([file('x', { index: 'fancy' })], ErrorCodes.MANIFEST_CORRUPT, 'bad index kind');
  refuses([file('x', { br: 0 })], ErrorCodes.MANIFEST_CORRUPT, 'bad br size');
  refuses([file('x', { bases: [{ sha256: 'nope', size: 1, delta: 1 }] })], ErrorCodes.MANIFEST_CORRUPT, 'bad base');
  refuses([file('x', { bases: {} })], ErrorCodes.MANIFEST_CORRUPT, 'bases not a list');
  refuses([link('x', '')], ErrorCodes.MANIFEST_CORRUPT, 'empty link target');
  refuses([link('x', 'a\0b')], ErrorCodes.MANIFEST_CORRUPT, 'NUL in a link target');
  refuses([{ type: 'fifo', path: 'x' }], ErrorCodes.MANIFEST_CORRUPT, 'unknown type');
  refuses(['x'], ErrorCodes.MANIFEST_CORRUPT, 'an entry that is not an object');
  refuses([null], ErrorCodes.MANIFEST_CORRUPT, 'a null entry');
  refuses([[file('x')]], ErrorCodes.MANIFEST_CORRUPT, 'an entry that is a list');
});

test('malformed documents are MANIFEST_CORRUPT, another version INDEX_UNSUPPORTED', () => {
  const corrupt = hasCode(ErrorCodes.MANIFEST_CORRUPT);
  assert.throws(() => decodeManifest(Buffer.from('{"gosync":"tree",')), corrupt, 'not JSON');
  assert.throws(() => decodeManifest(Buffer.from('')), corrupt, 'empty');
  assert.throws(() => decodeManifest(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), corrupt, 'not UTF-8');
  assert.throws(() => decodeManifest(Buffer.from('null')), corrupt, 'null');
  assert.throws(() => decodeManifest(Buffer.from('[]')), corrupt, 'a list');
  assert.throws(() => decodeManifest(doc([], { gosync: 'index' })), corrupt, 'wrong tag');
  assert.throws(() => decodeManifest(Buffer.from(JSON.stringify({ version: 1, entries: [] }))), corrupt, 'no tag');
  assert.throws(() => decodeManifest(doc([], { entries: {} })), corrupt, 'entries not a list');
  assert.throws(() => decodeManifest(doc([file('x')]), { maxBytes: 20 }), corrupt, 'over the size limit');
  const unsupported = hasCode(ErrorCodes.INDEX_UNSUPPORTED);
  assert.throws(() => decodeManifest(doc([file('x')], { version: 2 })), unsupported, 'version 2');
  assert.throws(() => decodeManifest(doc([], { version: 0 })), unsupported, 'version 0');
});

test("names ending in gosync's own temporary suffixes are refused as UNSAFE_PATH", () => {
  refuses([file('x.gosync-part')], ErrorCodes.UNSAFE_PATH, 'x.gosync-part');
  refuses([file('.x.0123456789abcdef.gosync-part')], ErrorCodes.UNSAFE_PATH, 'a part name');
  refuses([dir('a'), file('a/x.gosync-tmp')], ErrorCodes.UNSAFE_PATH, 'a/x.gosync-tmp');
  refuses([dir('d.gosync-part')], ErrorCodes.UNSAFE_PATH, 'a folder');
  refuses([link('l.gosync-tmp', 'x')], ErrorCodes.UNSAFE_PATH, 'a link');
});

test('set-id bits are dropped from modes, the sticky bit kept (rsync --perms keeps it)', () => {
  const m = decodeManifest(doc([dir('d', { mode: 0o1777 }), file('d/x', { mode: 0o6755 }), dir('e', { mode: 0o7777 })]));
  assert.equal(m.entries[0]!.type === 'dir' && m.entries[0]!.mode, 0o1777);
  assert.equal(m.entries[1]!.type === 'file' && m.entries[1]!.mode, 0o755);
  assert.equal(m.entries[2]!.type === 'dir' && m.entries[2]!.mode, 0o1777);
  // And it survives a round trip.
  const again = decodeManifest(encodeManifest(m));
  assert.deepEqual(again, m);
});

test('manifests written before the sticky bit was kept read as they did', () => {
  const old = decodeManifest(doc([dir('d', { mode: 0o777 }), file('d/x', { mode: 0o644 }), dir('p', { mode: 0o700 })]));
  assert.deepEqual(
    old.entries.map((e) => e.type !== 'symlink' && e.mode),
    [0o777, 0o644, 0o700],
  );
});

test('encode → decode round trip keeps every field', () => {
  const m: Manifest = {
    version: MANIFEST_VERSION,
    entries: [
      { type: 'dir', path: 'a', mode: 0o755, mtime: 1_700_000_000_123 },
      {
        type: 'file',
        path: 'a/big.bin',
        size: 1 << 20,
        mode: 0o600,
        mtime: 1_700_000_000_000,
        sha256: SHA,
        index: 'compressed',
        br: 1000,
        bases: [{ sha256: SHA2, size: 999, delta: 77 }],
      },
      { type: 'file', path: 'a/empty', size: 0, mode: 0o644, mtime: -5, sha256: sha256(new Uint8Array()) },
      { type: 'symlink', path: 'a/link', target: '../elsewhere/ü x', mtime: 1_600_000_000_000 },
      { type: 'symlink', path: 'b-link', target: '/absolute/target' },
      { type: 'dir', path: 'c d', mode: 0o700, mtime: 0 },
      { type: 'file', path: 'c d/ünïcödé name.txt', size: 5, mode: 0o755, mtime: 1, sha256: SHA2, index: 'plain' },
    ],
  };
  const encoded = encodeManifest(m);
  assert.deepEqual(decodeManifest(encoded), m);
  // Entries given in any order come back sorted.
  assert.deepEqual(decodeManifest(encodeManifest({ ...m, entries: [...m.entries].reverse() })), m);
  // One entry per line.
  assert.equal(new TextDecoder().decode(encoded).trim().split('\n').length, m.entries.length + 2);
});

test('object names are derived from the content hash', () => {
  assert.equal(objectPath(SHA), `objects/${SHA.slice(0, 2)}/${SHA}`);
  assert.equal(objectNames.content(SHA), `objects/${SHA.slice(0, 2)}/${SHA}`);
  assert.equal(objectNames.brotli(SHA), `objects/${SHA.slice(0, 2)}/${SHA}.br`);
  assert.equal(objectNames.index(SHA, 'plain'), `objects/${SHA.slice(0, 2)}/${SHA}.gosync`);
  assert.equal(objectNames.index(SHA, 'compressed'), `objects/${SHA.slice(0, 2)}/${SHA}.z.gosync`);
  assert.equal(objectNames.delta(SHA, SHA2), `objects/${SHA.slice(0, 2)}/${SHA}.d-${SHA2.slice(0, 16)}`);
  assert.ok(objectNames.delta(SHA, SHA2).startsWith(objectNames.deltaPrefix(SHA)));
});
