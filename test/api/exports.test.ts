/**
 * The export list of every entry point (`gosync` and each subpath of package.json's
 * `exports`), imported by the package's own name, against a committed snapshot: a
 * change to what the package exports fails here until the snapshot is updated on
 * purpose, with
 *
 *     UPDATE_EXPORTS_SNAPSHOT=1 node --test dist/test/api/exports.test.js
 *
 * (test/api/public-types.test.ts does the same for the type-only exports).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { assertSnapshot } from './snapshot.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const SNAPSHOT = join(ROOT, 'test', 'api', 'exports.snapshot.json');

/** Names no entry point exports: staging, tree commit and wire plumbing, magic numbers. */
const PLUMBING = [
  'commitTree',
  'prepareFolders',
  'findTreeChanges',
  'partName',
  'tempPath',
  'isStagingNameOf',
  'memoryPipe',
  'resolveServedPath',
  'encodeFrame',
  'FrameParser',
  'FrameType',
  'Channel',
  'runSender',
  'runReceiver',
  'PROTOCOL_VERSION',
  'ioError',
  'openLocalReaders',
];

/** `.` → `gosync`, `./core` → `gosync/core`. */
function specifier(subpath: string): string {
  return subpath === '.' ? 'gosync' : `gosync/${subpath.slice(2)}`;
}

async function exportLists(): Promise<Record<string, string[]>> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
  const lists: Record<string, string[]> = {};
  for (const subpath of Object.keys(pkg.exports)) {
    // The manifest itself is exported for tools that read it; it is data, not an entry point.
    if (subpath === './package.json') continue;
    const mod = (await import(specifier(subpath))) as Record<string, unknown>;
    lists[specifier(subpath)] = Object.keys(mod).sort();
  }
  return lists;
}

test('every entry point exports exactly the names of the snapshot', async () => {
  const lists = await exportLists();
  assert.ok((lists.gosync ?? []).includes('patchFile'), 'gosync exports patchFile');
  assertSnapshot(SNAPSHOT, lists, 'UPDATE_EXPORTS_SNAPSHOT=1 node --test dist/test/api/exports.test.js');
});

test('no entry point exports plumbing or magic numbers', async () => {
  const found: string[] = [];
  for (const [entry, names] of Object.entries(await exportLists())) {
    for (const name of names) if (PLUMBING.includes(name) || /MAGIC/.test(name)) found.push(`${entry}: ${name}`);
  }
  assert.deepEqual(found, []);
});

test('the documented library calls are reachable: the root operations, the parts from their subpaths', async () => {
  const lists = await exportLists();
  const where = (name: string) => Object.keys(lists).filter((entry) => lists[entry]!.includes(name));
  // The README's "Library" section and examples.
  const documented: Record<string, string> = {
    buildIndexFile: 'gosync',
    loadIndex: 'gosync',
    resolveReference: 'gosync',
    patchFile: 'gosync',
    diffFile: 'gosync',
    buildZsyncFile: 'gosync',
    buildTree: 'gosync',
    patchTree: 'gosync',
    diffTree: 'gosync',
    push: 'gosync',
    pull: 'gosync',
    rdiffSignature: 'gosync',
    rdiffDelta: 'gosync',
    rdiffPatch: 'gosync',
    HttpSource: 'gosync',
    FileSource: 'gosync',
    MemorySource: 'gosync',
    SyncError: 'gosync',
    ErrorCodes: 'gosync',
    startStaticServer: 'gosync',
    RollingChecksum: 'gosync/core',
    weakChecksum: 'gosync/core',
    IndexBuilder: 'gosync/core',
    buildIndex: 'gosync/core',
    encodeIndex: 'gosync/core',
    decodeIndex: 'gosync/core',
    BlockMatcher: 'gosync/core',
    planRanges: 'gosync/core',
    assemble: 'gosync/core',
    BlockVerifier: 'gosync/core',
    FileVerifier: 'gosync/core',
    md4: 'gosync/core',
    blake2b256: 'gosync/core',
    concatIndexes: 'gosync/core',
    decodeZsync: 'gosync/formats',
    ZsyncBuilder: 'gosync/formats',
    buildZsync: 'gosync/formats',
    zsyncHashLengths: 'gosync/formats',
    decodeGoSyncV0Index: 'gosync/formats',
    encodeGoSyncV0Index: 'gosync/formats',
    goSyncV0ToBlockIndex: 'gosync/formats',
    detectIndexFormat: 'gosync/formats',
    decodeAnyIndex: 'gosync/formats',
    encodeLibrsyncSignature: 'gosync/formats',
    LibrsyncSignatureBuilder: 'gosync/formats',
    decodeLibrsyncSignature: 'gosync/formats',
    librsyncToBlockIndex: 'gosync/formats',
    LibrsyncDeltaGenerator: 'gosync/formats',
    encodeLibrsyncDelta: 'gosync/formats',
    LibrsyncDeltaParser: 'gosync/formats',
    applyLibrsyncDelta: 'gosync/formats',
    decodeManifest: 'gosync/tree',
    TreeRoot: 'gosync/tree',
    walkTree: 'gosync/tree',
  };
  const wrong = Object.entries(documented)
    .filter(([name, entry]) => !where(name).includes(entry))
    .map(([name, entry]) => `${name}: expected in ${entry}, found in ${where(name).join(', ') || 'none'}`);
  assert.deepEqual(wrong, []);
});
