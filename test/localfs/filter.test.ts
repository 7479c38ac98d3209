/** The exclude/include engine: first matching rule decides, gitignore patterns, folders excluding what they hold. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FILTER_LIMITS, createFilter, folderFilter, readRulesFile, type FilterRule } from '../../src/localfs/filter.js';

const ex = (pattern: string): FilterRule => ({ kind: 'exclude', pattern });
const inc = (pattern: string): FilterRule => ({ kind: 'include', pattern });
const file = (...lines: string[]): FilterRule => ({ kind: 'file', lines });

test('no rules: no filter', () => {
  assert.equal(createFilter([]), undefined);
});

test('gitignore patterns: basename anywhere, anchored, folder-only, **', () => {
  const f = createFilter([ex('*.log'), ex('/top.txt'), ex('cache/'), ex('a/**/z')])!;
  assert.equal(f.excludes('x.log', false), true);
  assert.equal(f.excludes('deep/er/x.log', false), true);
  assert.equal(f.excludes('x.logs', false), false);
  assert.equal(f.excludes('top.txt', false), true);
  assert.equal(f.excludes('sub/top.txt', false), false, 'a leading / anchors at the root');
  assert.equal(f.excludes('cache', true), true);
  assert.equal(f.excludes('cache', false), false, 'a trailing / matches folders only');
  assert.equal(f.excludes('sub/cache', true), true);
  assert.equal(f.excludes('a/b/c/z', false), true);
  assert.equal(f.excludes('a/z', false), true);
  assert.equal(f.excludes('keep.txt', false), false);
});

test('an excluded folder excludes everything below it, whatever later rules say', () => {
  const f = createFilter([ex('build/'), inc('build/keep.txt')])!;
  assert.equal(f.excludes('build/keep.txt', false), true);
  assert.equal(f.excludes('build/x/y', false), true);
});

test('first match decides: an include before an exclude re-includes, after it does not', () => {
  const before = createFilter([inc('important.log'), ex('*.log')])!;
  assert.equal(before.excludes('important.log', false), false);
  assert.equal(before.excludes('other.log', false), true);
  const after = createFilter([ex('*.log'), inc('important.log')])!;
  assert.equal(after.excludes('important.log', false), true);
  // A negated --exclude pattern includes, as in a gitignore file.
  const negated = createFilter([ex('!keep.tmp'), ex('*.tmp')])!;
  assert.equal(negated.excludes('keep.tmp', false), false);
  assert.equal(negated.excludes('drop.tmp', false), true);
});

test("a file of rules reads with git's last-match rule inside, and decides only when a line matches", () => {
  const f = createFilter([file('# comment', '*.tmp', '!keep.tmp', ''), ex('keep.tmp'), ex('other')])!;
  assert.equal(f.excludes('a.tmp', false), true);
  assert.equal(f.excludes('keep.tmp', false), false, "the file's ! line decides before the later exclude");
  assert.equal(f.excludes('other', false), true, 'no line of the file matches: the next rule decides');
  assert.equal(f.excludes('plain', false), false);
});

test('--exclude-from and .gosyncignore files are read; .gosyncignore comes after the rules given', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gosync-filter-'));
  try {
    await writeFile(join(dir, 'rules'), '*.bak\r\n!good.bak\n');
    const r = await readRulesFile(join(dir, 'rules'));
    assert.deepEqual(r.kind === 'file' && r.lines.slice(0, 2), ['*.bak', '!good.bak']);
    assert.equal(await folderFilter(dir), undefined, 'no .gosyncignore, no rules: no filter');
    await writeFile(join(dir, '.gosyncignore'), 'secret/\n*.key\n');
    const f = (await folderFilter(dir, [inc('public.key')]))!;
    assert.equal(f.excludes('secret', true), true);
    assert.equal(f.excludes('a.key', false), true);
    assert.equal(f.excludes('public.key', false), false, 'a rule given re-includes what .gosyncignore excludes');
    assert.equal(await folderFilter(dir, [], { ignoreFile: false }), undefined);
    await assert.rejects(readRulesFile(join(dir, 'missing')), { code: 'GOSYNC_ERR_IO' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('malformed or oversized rules are refused with a TypeError', () => {
  assert.throws(() => createFilter([{ kind: 'nope' } as unknown as FilterRule]), TypeError);
  assert.throws(() => createFilter([ex('x'.repeat(FILTER_LIMITS.chars + 1))]), TypeError);
  assert.throws(() => createFilter([ex('a\0b')]), TypeError);
  assert.throws(() => createFilter(Array.from({ length: FILTER_LIMITS.rules + 1 }, () => ex('a'))), TypeError);
});
