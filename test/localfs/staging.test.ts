import assert from 'node:assert/strict';
import { basename, dirname, join } from 'node:path';
import { test } from 'node:test';
import { PART_SUFFIX, TEMP_SUFFIX, isStagingName, isStagingNameOf, partName, shortName, tempPath } from '../../src/localfs/staging.js';

const TAG = '0123456789abcdef';

test('a temporary path is a hidden, random name next to the target', () => {
  const target = join('some', 'folder', 'app.bin');
  const a = tempPath(target);
  const b = tempPath(target);
  assert.notEqual(a, b);
  for (const t of [a, b]) {
    assert.equal(dirname(t), dirname(target));
    assert.match(basename(t), /^\.app\.bin\.[0-9a-f]{12}\.gosync-tmp$/);
    assert.ok(t.endsWith(TEMP_SUFFIX));
  }
});

test('a part name is hidden, next to its tree path, named by the tag', () => {
  assert.equal(partName('app.bin', TAG), `.app.bin.${TAG}${PART_SUFFIX}`);
  assert.equal(partName('a/b/c.txt', TAG), `a/b/.c.txt.${TAG}.gosync-part`);
});

test('isStagingName tells staging files by their suffix only', () => {
  assert.equal(isStagingName(partName('x', TAG)), true);
  assert.equal(isStagingName(basename(tempPath('x'))), true);
  assert.equal(isStagingName('x.gosync-part.txt'), false);
  assert.equal(isStagingName('x'), false);
});

test("isStagingNameOf matches a file's own parts and temporary files", () => {
  assert.equal(isStagingNameOf(partName('a', TAG), 'a'), true);
  assert.equal(isStagingNameOf(basename(tempPath('a')), 'a'), true);
  // The temporary file a part is written through (AtomicFile on the part's path).
  assert.equal(isStagingNameOf(basename(tempPath(partName('a', TAG))), 'a'), true);
});

test('isStagingNameOf never matches a sibling whose name begins the same (a.b next to a), nor other names', () => {
  for (const sibling of ['a.b', 'a.0123', 'ab', 'a.gosync-part']) {
    assert.equal(isStagingNameOf(partName(sibling, TAG), 'a'), false, `part of ${sibling}`);
    assert.equal(isStagingNameOf(basename(tempPath(sibling)), 'a'), false, `temporary file of ${sibling}`);
    assert.equal(isStagingNameOf(basename(tempPath(partName(sibling, TAG))), 'a'), false, `temporary file of a part of ${sibling}`);
  }
  // ...and the other way round: a's files are not a.b's.
  assert.equal(isStagingNameOf(partName('a', TAG), 'a.b'), false);
  assert.equal(isStagingNameOf(basename(tempPath('a')), 'a.b'), false);
  for (const other of ['a', '.a', `.a.${TAG}`, '.a.NOTHEX.gosync-part', `.a.NOTHEX${TEMP_SUFFIX}`, '.a..gosync-part', '.a.gosync-tmp']) {
    assert.equal(isStagingNameOf(other, 'a'), false, other);
  }
});

test('a long name is cut, keeps a hash of the whole, and its staging names stay well under 255 bytes', () => {
  const long = `${'x'.repeat(150)}.bin`;
  const twin = `${'x'.repeat(150)}.iso`;
  const s = shortName(long);
  assert.ok(s.startsWith('x'.repeat(80)));
  assert.match(s, /~[0-9a-f]{8}$/);
  assert.notEqual(s, shortName(twin), 'two long names with the same beginning stay apart');
  assert.equal(shortName(long), s, 'the same name always gives the same short name');
  assert.equal(shortName('short.txt'), 'short.txt');
  assert.equal(shortName('y'.repeat(100)), 'y'.repeat(100), '100 bytes are kept as they are');
  assert.notEqual(shortName('y'.repeat(101)), 'y'.repeat(101));
  for (const n of [partName(long, TAG), basename(tempPath(long))]) {
    assert.ok(Buffer.byteLength(n) <= 130, `${Buffer.byteLength(n)} bytes: ${n}`);
    assert.equal(isStagingNameOf(n, long), true, n);
    assert.equal(isStagingNameOf(n, twin), false, n);
  }
});

test('a long name of multi-byte characters is cut on a character boundary', () => {
  const long = 'é'.repeat(120); // 240 bytes
  const s = shortName(long);
  assert.equal(s.slice(0, s.lastIndexOf('~')), 'é'.repeat(40));
  // Four-byte characters (surrogate pairs in JavaScript), cut between the two halves of one
  // if the name were cut by UTF-16 units.
  const emoji = `a${'😀'.repeat(60)}`;
  const cut = shortName(emoji);
  assert.equal(cut.slice(0, cut.lastIndexOf('~')), `a${'😀'.repeat(19)}`);
  // A name goes to disk as UTF-8 and comes back from readdir the same only if it is whole.
  const onDisk = (name: string) => Buffer.from(name, 'utf8').toString('utf8');
  for (const name of [partName(emoji, TAG), basename(tempPath(emoji))]) {
    assert.equal(onDisk(name), name);
    assert.equal(isStagingNameOf(onDisk(name), emoji), true, name);
  }
});
