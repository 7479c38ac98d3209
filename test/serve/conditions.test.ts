/**
 * Tests of validators and conditional requests on their own: the ETag's make-up, entity-tag
 * lists, weak and strong comparison, the order of preconditions, and If-Range.
 */

import * as assert from 'node:assert/strict';
import type { BigIntStats } from 'node:fs';
import { describe, test } from 'node:test';

import { evaluatePreconditions, ifRangeAllows, parseEtagList, strongMatch, validatorsOf, weakMatch } from '../../src/serve/conditions.js';

const v = { etag: '"e"', mtimeSeconds: 1_000_000 };
const at = (seconds: number) => new Date(seconds * 1000).toUTCString();

describe('validatorsOf', () => {
  test('a strong ETag of size and mtime in nanoseconds (hex), no inode; mtime floored to seconds', () => {
    const st = { size: 16n, mtimeNs: 4096n, ino: 255n, mtimeMs: 1999n } as unknown as BigIntStats;
    assert.deepEqual(validatorsOf(st), { etag: '"10-1000"', mtimeSeconds: 1 });
  });
});

describe('entity-tags', () => {
  test('lists split on commas with whitespace, keep W/ and *, and stop at the first malformed element', () => {
    assert.deepEqual(parseEtagList('"a", W/"b" ,*'), ['"a"', 'W/"b"', '*']);
    assert.deepEqual(parseEtagList('"a",junk,"b"'), ['"a"']);
    assert.deepEqual(parseEtagList('"a" junk'), []);
    assert.deepEqual(parseEtagList('a'), []);
    assert.deepEqual(parseEtagList(''), []);
  });

  test('weak comparison ignores W/, strong comparison needs both strong and equal', () => {
    assert.ok(weakMatch('W/"x"', '"x"'));
    assert.ok(weakMatch('W/"x"', 'W/"x"'));
    assert.ok(!weakMatch('"x"', '"y"'));
    assert.ok(strongMatch('"x"', '"x"'));
    assert.ok(!strongMatch('W/"x"', '"x"'));
    assert.ok(!strongMatch('W/"x"', 'W/"x"'));
  });
});

describe('evaluatePreconditions', () => {
  test('no conditional header proceeds', () => {
    assert.equal(evaluatePreconditions({}, v), 'proceed');
  });

  test('If-Match needs a strong match or *', () => {
    assert.equal(evaluatePreconditions({ 'if-match': '"e"' }, v), 'proceed');
    assert.equal(evaluatePreconditions({ 'if-match': '"x", "e"' }, v), 'proceed');
    assert.equal(evaluatePreconditions({ 'if-match': '*' }, v), 'proceed');
    assert.equal(evaluatePreconditions({ 'if-match': 'W/"e"' }, v), 'failed');
    assert.equal(evaluatePreconditions({ 'if-match': '"x"' }, v), 'failed');
  });

  test('If-Unmodified-Since fails a file modified after it, and gives way to If-Match', () => {
    assert.equal(evaluatePreconditions({ 'if-unmodified-since': at(v.mtimeSeconds - 1) }, v), 'failed');
    assert.equal(evaluatePreconditions({ 'if-unmodified-since': at(v.mtimeSeconds) }, v), 'proceed');
    assert.equal(evaluatePreconditions({ 'if-unmodified-since': 'not a date' }, v), 'proceed');
    assert.equal(evaluatePreconditions({ 'if-match': '"e"', 'if-unmodified-since': at(v.mtimeSeconds - 1) }, v), 'proceed');
  });

  test('If-None-Match answers 304 on a weak match or *', () => {
    assert.equal(evaluatePreconditions({ 'if-none-match': '"e"' }, v), 'not-modified');
    assert.equal(evaluatePreconditions({ 'if-none-match': 'W/"e"' }, v), 'not-modified');
    assert.equal(evaluatePreconditions({ 'if-none-match': '*' }, v), 'not-modified');
    assert.equal(evaluatePreconditions({ 'if-none-match': '"x"' }, v), 'proceed');
  });

  test('If-Modified-Since answers 304 when not modified since, and gives way to If-None-Match', () => {
    assert.equal(evaluatePreconditions({ 'if-modified-since': at(v.mtimeSeconds) }, v), 'not-modified');
    assert.equal(evaluatePreconditions({ 'if-modified-since': at(v.mtimeSeconds + 60) }, v), 'not-modified');
    assert.equal(evaluatePreconditions({ 'if-modified-since': at(v.mtimeSeconds - 1) }, v), 'proceed');
    assert.equal(evaluatePreconditions({ 'if-modified-since': '' }, v), 'proceed');
    assert.equal(evaluatePreconditions({ 'if-none-match': '"x"', 'if-modified-since': at(v.mtimeSeconds) }, v), 'proceed');
  });

  test('a failed If-Match wins over a matching If-None-Match', () => {
    assert.equal(evaluatePreconditions({ 'if-match': '"x"', 'if-none-match': '"e"' }, v), 'failed');
  });
});

describe('ifRangeAllows', () => {
  test('absent, a strongly matching tag, or the exact Last-Modified lets the Range apply', () => {
    assert.ok(ifRangeAllows(undefined, v));
    assert.ok(ifRangeAllows('"e"', v));
    assert.ok(ifRangeAllows('  "e" ', v));
    assert.ok(ifRangeAllows(at(v.mtimeSeconds), v));
  });

  test('a weak or other tag, another date, or garbage does not', () => {
    assert.ok(!ifRangeAllows('W/"e"', v));
    assert.ok(!ifRangeAllows('"x"', v));
    assert.ok(!ifRangeAllows(at(v.mtimeSeconds + 1), v));
    assert.ok(!ifRangeAllows(at(v.mtimeSeconds - 1), v));
    assert.ok(!ifRangeAllows('yesterday', v));
    assert.ok(!ifRangeAllows('', v));
  });
});
