/**
 * Tests of the path checks on their own: splitting and decoding request targets, refusing
 * traversal, staying inside the real root through symlinks, and the root folder itself.
 */

import * as assert from 'node:assert/strict';
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ErrorCodes, SyncError } from '../../src/core/errors.js';
import { isInsideRoot, realRootDirectory, requestPathSegments, resolveInsideRoot, statusOfFsError } from '../../src/serve/request-path.js';

describe('requestPathSegments', () => {
  test('splits, drops empty and . segments, and decodes each segment on its own', () => {
    assert.deepEqual(requestPathSegments('/'), { ok: true, segments: [] });
    assert.deepEqual(requestPathSegments('/a/b'), { ok: true, segments: ['a', 'b'] });
    assert.deepEqual(requestPathSegments('//etc/passwd'), { ok: true, segments: ['etc', 'passwd'] });
    assert.deepEqual(requestPathSegments('/./a/./b/'), { ok: true, segments: ['a', 'b'] });
    assert.deepEqual(requestPathSegments('/a%20b%25.bin'), { ok: true, segments: ['a b%.bin'] });
    assert.deepEqual(requestPathSegments('/%2e'), { ok: true, segments: [] });
    assert.deepEqual(requestPathSegments('/...', { dotfiles: true }), { ok: true, segments: ['...'] });
    assert.deepEqual(requestPathSegments('/...'), { ok: false, status: 404 }, 'a dot-file unless asked for');
  });

  test('query and fragment are cut before decoding, so they cannot add segments', () => {
    assert.deepEqual(requestPathSegments('/a?x=/../../etc'), { ok: true, segments: ['a'] });
    assert.deepEqual(requestPathSegments('/a#/../b'), { ok: true, segments: ['a'] });
    assert.deepEqual(requestPathSegments('/a%3Fb'), { ok: true, segments: ['a?b'] });
  });

  test('absolute-form targets use their path', () => {
    assert.deepEqual(requestPathSegments('http://example.com/a/b?q'), { ok: true, segments: ['a', 'b'] });
    assert.deepEqual(requestPathSegments('HTTP://example.com'), { ok: true, segments: [] });
    assert.deepEqual(requestPathSegments('http://example.com?q'), { ok: false, status: 400 });
  });

  test('traversal, separators and NUL inside a segment are refused with 403', () => {
    for (const target of ['/..', '/a/../b', '/%2e%2e/x', '/%2E%2E', '/a/%2F..', '/a%2fb', '/a%5Cb', '/a%00', '/a/..%2f']) {
      assert.deepEqual(requestPathSegments(target), { ok: false, status: 403 }, target);
    }
  });

  test('malformed percent-encoding and targets that are not a path are 400', () => {
    for (const target of ['/%zz', '/a%', '/%E0%A4%A', 'a/b', '*', '']) {
      assert.deepEqual(requestPathSegments(target), { ok: false, status: 400 }, target);
    }
  });
});

describe('dot-files', () => {
  test('a segment starting with "." is 404 unless dot-files are served', () => {
    for (const target of ['/.env', '/.git/config', '/sub/.hidden', '/.app.bin.gosync-tmp']) {
      assert.deepEqual(requestPathSegments(target), { ok: false, status: 404 }, target);
    }
    assert.deepEqual(requestPathSegments('/.git/config', { dotfiles: true }), { ok: true, segments: ['.git', 'config'] });
    assert.deepEqual(requestPathSegments('/a.b/c.txt'), { ok: true, segments: ['a.b', 'c.txt'] });
  });
});

describe('isInsideRoot', () => {
  test('the root and paths under it are inside; a sibling sharing its prefix is not', () => {
    assert.ok(isInsideRoot('/srv/root', '/srv/root'));
    assert.ok(isInsideRoot('/srv/root', '/srv/root/a/b'));
    assert.ok(!isInsideRoot('/srv/root', '/srv/rootx/a'));
    assert.ok(!isInsideRoot('/srv/root', '/srv'));
    assert.ok(isInsideRoot('/', '/etc/passwd'));
  });
});

describe('statusOfFsError', () => {
  test('every failure is 404, permission errors included (a 403 would tell that the file exists)', () => {
    const err = (code?: string) => Object.assign(new Error('x'), code === undefined ? {} : { code });
    assert.equal(statusOfFsError(err('EACCES')), 404);
    assert.equal(statusOfFsError(err('EPERM')), 404);
    assert.equal(statusOfFsError(err('ENOENT')), 404);
    assert.equal(statusOfFsError(err('ENOTDIR')), 404);
    assert.equal(statusOfFsError(err('ELOOP')), 404);
    assert.equal(statusOfFsError(err()), 404);
  });
});

describe('resolveInsideRoot and realRootDirectory', () => {
  let base: string;
  let root: string;

  before(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'gosync-request-path-')));
    root = join(base, 'root');
    await mkdir(join(root, 'sub'), { recursive: true });
    await writeFile(join(root, 'sub', 'file.txt'), 'inside\n');
    await writeFile(join(base, 'outside.txt'), 'outside\n');
    await symlink('sub/file.txt', join(root, 'inner-link'));
    await symlink(join(base, 'outside.txt'), join(root, 'outer-link'));
    await symlink(base, join(root, 'outer-dir'));
    await symlink('missing', join(root, 'dangling'));
    await symlink(root, join(base, 'root-link'));
  });

  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  test('a file inside the root resolves to its real path, through symlinks that stay inside', async () => {
    const file = join(root, 'sub', 'file.txt');
    assert.deepEqual(await resolveInsideRoot(root, ['sub', 'file.txt']), { ok: true, real: file });
    assert.deepEqual(await resolveInsideRoot(root, ['inner-link']), { ok: true, real: file });
    assert.deepEqual(await resolveInsideRoot(root, []), { ok: true, real: root });
    assert.deepEqual(await resolveInsideRoot(root, ['sub']), { ok: true, real: join(root, 'sub') });
  });

  test('a symlink out of the root, a missing path and a dangling link are all 404', async () => {
    assert.deepEqual(await resolveInsideRoot(root, ['outer-link']), { ok: false, status: 404 });
    assert.deepEqual(await resolveInsideRoot(root, ['outer-dir', 'outside.txt']), { ok: false, status: 404 });
    assert.deepEqual(await resolveInsideRoot(root, ['outer-dir', 'root', 'sub', 'file.txt']), {
      ok: true,
      real: join(root, 'sub', 'file.txt'),
    });
    assert.deepEqual(await resolveInsideRoot(root, ['nope.txt']), { ok: false, status: 404 });
    assert.deepEqual(await resolveInsideRoot(root, ['dangling']), { ok: false, status: 404 });
    assert.deepEqual(await resolveInsideRoot(root, ['sub', 'file.txt', 'below']), { ok: false, status: 404 });
  });

  test('the root is resolved to its real path', async () => {
    assert.equal(await realRootDirectory(join(base, 'root-link')), root);
    assert.equal(await realRootDirectory(`${root}/sub/..`), root);
  });

  test('a missing root or a file as root is an IO SyncError naming the root, with the system condition as cause', async () => {
    const missing = join(base, 'nope');
    await assert.rejects(realRootDirectory(missing), (err: unknown) => {
      assert.ok(SyncError.is(err));
      assert.equal(err.code, ErrorCodes.IO);
      assert.equal(err.message, `Cannot serve ${missing}: no such directory`);
      assert.equal(err.path, missing);
      const cause = err.cause as NodeJS.ErrnoException;
      assert.equal(cause.code, 'ENOENT');
      assert.equal((cause.cause as NodeJS.ErrnoException).syscall, 'realpath');
      return true;
    });
    const file = join(root, 'sub', 'file.txt');
    await assert.rejects(realRootDirectory(file), (err: unknown) => {
      assert.ok(SyncError.is(err));
      assert.equal(err.code, ErrorCodes.IO);
      assert.equal(err.message, `Cannot serve ${file}: not a directory`);
      assert.equal(err.path, file);
      assert.equal((err.cause as NodeJS.ErrnoException).code, 'ENOTDIR');
      return true;
    });
  });
});
