/** parseRemote with Windows paths: drive letters and backslashes are local, on Windows and elsewhere. */
import assert from 'node:assert/strict';
import { win32 } from 'node:path';
import { test } from 'node:test';
import { parseRemote } from '../../src/remote/remote-path.js';

test('a drive path C:\\x is local on every platform', () => {
  for (const windows of [true, false]) {
    assert.equal(parseRemote('C:\\x', { windows }), undefined);
    assert.equal(parseRemote('d:\\data\\photos', { windows }), undefined);
    // What path.win32 makes of a drive path stays local.
    assert.equal(parseRemote(win32.join('C:\\', 'Users', 'me', 'site'), { windows }), undefined);
    assert.equal(parseRemote(win32.resolve('E:\\backups', 'x'), { windows }), undefined);
  }
});

test('on Windows C:/x, C:x and a backslash before the colon are local; hosts still parse', () => {
  assert.equal(parseRemote('C:/x', { windows: true }), undefined);
  assert.equal(parseRemote('C:x', { windows: true }), undefined);
  assert.equal(parseRemote('dir\\file:with:colons', { windows: true }), undefined);
  assert.equal(parseRemote(win32.join('sub', 'a:b'), { windows: true }), undefined);
  assert.deepEqual(parseRemote('web1:C:\\srv', { windows: true }), { host: 'web1', path: 'C:\\srv' });
  assert.deepEqual(parseRemote('deploy@web1:app', { windows: true }), { host: 'deploy@web1', path: 'app' });
  assert.deepEqual(parseRemote('[::1]:x', { windows: true }), { host: '::1', path: 'x' });
});

test('elsewhere a one-letter host with a / path stays remote, as rsync reads it', () => {
  assert.deepEqual(parseRemote('h:/srv', { windows: false }), { host: 'h', path: '/srv' });
  assert.deepEqual(parseRemote('h:x', { windows: false }), { host: 'h', path: 'x' });
  assert.deepEqual(parseRemote('dir\\file:x', { windows: false }), { host: 'dir\\file', path: 'x' });
});
